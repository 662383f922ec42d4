"""MXNet's Reshape special codes, shared by ``NDArray.reshape`` and the ``Reshape`` operator.

0 copies an input dimension, -1 infers one, -2 copies the rest, -3 merges two input
dimensions, -4 splits one into the next two values (either may be -1). ``reverse`` matches
codes from the right.
"""

from __future__ import annotations

from math import prod

from ..base import MXNetValueError

__all__ = ["resolve_reshape"]


def resolve_reshape(src: tuple[int, ...], target: tuple[int, ...], reverse: bool = False
                    ) -> tuple[int, ...]:
    """The output shape of reshaping ``src`` to ``target`` with MXNet's codes."""
    if reverse:
        return tuple(reversed(_resolve(tuple(reversed(src)), _reverse_codes(target), target)))
    return _resolve(src, target, target)


def _reverse_codes(target: tuple[int, ...]) -> tuple[int, ...]:
    """Reverse a code list, keeping each -4 in front of its two split values."""
    groups: list[tuple[int, ...]] = []
    i = 0
    while i < len(target):
        step = 3 if target[i] == -4 else 1
        groups.append(tuple(target[i:i + step]))
        i += step
    out: list[int] = []
    for group in reversed(groups):
        out += [group[0], group[2], group[1]] if len(group) == 3 else list(group)
    return tuple(out)


def _resolve(src: tuple[int, ...], codes: tuple[int, ...], shown: tuple[int, ...]
             ) -> tuple[int, ...]:
    def fail(why: str) -> MXNetValueError:
        return MXNetValueError(f"cannot reshape array of shape {src} to {shown}: {why}")

    out: list[int] = []
    infer_at = -1
    pos = 0
    i = 0
    while i < len(codes):
        code = codes[i]
        if code in (0, -3) and pos + (2 if code == -3 else 1) > len(src):
            raise fail(f"code {code} at position {i} has no input dimension left")
        if code == 0:
            out.append(src[pos])
            pos += 1
        elif code == -1:
            if infer_at >= 0:
                raise fail("more than one -1")
            infer_at = len(out)
            out.append(1)
            pos += 1
        elif code == -2:
            out.extend(src[pos:])
            pos = len(src)
        elif code == -3:
            out.append(src[pos] * src[pos + 1])
            pos += 2
        elif code == -4:
            if i + 2 >= len(codes) or pos >= len(src):
                raise fail("-4 needs two following values and an input dimension to split")
            d0, d1, whole = codes[i + 1], codes[i + 2], src[pos]
            if d0 == -1:
                d0 = whole // d1 if d1 > 0 else 0
            if d1 == -1:
                d1 = whole // d0 if d0 > 0 else 0
            if d0 * d1 != whole:
                raise fail(f"-4 cannot split dimension {whole} into ({codes[i + 1]}, {codes[i + 2]})")
            out += [d0, d1]
            pos += 1
            i += 2
        elif code > 0:
            out.append(code)
            pos += 1
        else:
            raise fail(f"unknown code {code}; valid codes are 0, -1, -2, -3, -4 and positive sizes")
        i += 1
    total = prod(src)
    if infer_at >= 0:
        rest = prod(out)
        if rest == 0 or total % rest:
            raise fail(f"cannot infer the -1 dimension ({total} elements)")
        out[infer_at] = total // rest
    if prod(out) != total:
        raise fail(f"{total} elements cannot become {prod(out)}")
    return tuple(out)

"""Shape rules shared by several operators."""

from __future__ import annotations

from typing import Any

from mxlite.inference import ShapeError, merge_shape


def unify(shapes: list[Any], names: list[str], hint: str = "") -> Any:
    """Merge shapes that must be equal; raise ShapeError listing them all when they differ."""
    merged = None
    for shape in shapes:
        try:
            merged = merge_shape(merged, shape)
        except ValueError:
            listed = ", ".join(f"{n}={tuple(s) if s is not None else 'unknown'}"
                               for n, s in zip(names, shapes))
            raise ShapeError(f"shapes must be equal, got {listed}{hint}") from None
    return merged


def same_shape(p: Any, ins: list, outs: list, aux: list) -> tuple[list, list, list]:
    """Every input and output has one shape (element-wise ops; no broadcasting)."""
    names = [f"input {i}" for i in range(len(ins))] + [f"output {i}" for i in range(len(outs))]
    shape = unify(ins + outs, names, "; element-wise operators on symbols do not broadcast "
                  "(use broadcast_* operators)")
    return [shape] * len(ins), [shape] * len(outs), aux

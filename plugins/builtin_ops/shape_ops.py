"""Operators that move data without arithmetic: Flatten, Reshape, Concat, SliceChannel, stack,
transpose, expand_dims, squeeze, SwapAxis, reverse (flip), tile, repeat, Pad, broadcast_to and
broadcast_like.

Shape rules infer in both directions where the relation is invertible (a known output fixes an
unknown input dimension). Kernels write into the preallocated outputs through views; gradients
are the adjoint copies (sums where the forward duplicated data: tile, repeat, broadcast, Pad).
mxlite has no zero-size arrays (0 marks an unknown dimension), so an operator that would make
an empty array raises at inference instead.
"""

from __future__ import annotations

from functools import lru_cache
from math import prod
from typing import Any

import numpy as np
from mxlite.base import MXNetValueError
from mxlite.inference import ShapeError
from mxlite.ndarray.shape_codes import resolve_reshape
from mxlite.registry import Kernel, OpDef, Param, Params

from ._rules import unify


# -- helpers shared with indexing.py ---------------------------------------------------------
def positive(value: int) -> str | None:
    return None if value > 0 else "must be positive"


def is_known(shape: Any) -> bool:
    """A shape with every dimension known (no 0)."""
    return shape is not None and all(d > 0 for d in shape)


def norm_axis(axis: int, ndim: int, what: str = "axis", extra: int = 0) -> int:
    """``axis`` made non-negative; valid axes are ``[-(ndim+extra), ndim+extra)``."""
    n = ndim + extra
    if not -n <= axis < n:
        raise ShapeError(f"{what}={axis} is out of range for a {ndim}-D input "
                         f"(valid: {-n}..{n - 1})")
    return axis % n


def merge_dim(a: int, b: int, what: str) -> int:
    """Two partial dimensions (0 = unknown) that must agree."""
    if a and b and a != b:
        raise ShapeError(f"{what}: {a} vs {b}")
    return a or b


def fill_unknown(shape: tuple, total: int, what: str) -> tuple:
    """Fill the one unknown dimension of ``shape`` so it holds ``total`` elements."""
    if shape.count(0) != 1:
        return shape
    rest = prod(d for d in shape if d)
    if total % rest:
        raise ShapeError(f"{what}: {total} elements cannot fill shape {shape}")
    return tuple(d or total // rest for d in shape)


def same_storage(src: np.ndarray, dst: np.ndarray) -> bool:
    """Whether ``dst`` holds exactly ``src``'s bytes: the planner made it a view of src's
    storage (both typed views of one block's start). The base test is cheap and rules out
    every other case; only arrays of one base pay for the address comparison."""
    return (dst.base is not None and dst.base is src.base
            and dst.ctypes.data == src.ctypes.data and dst.nbytes == src.nbytes
            and dst.flags.c_contiguous and src.flags.c_contiguous)


def copy_reshaped(src: np.ndarray, dst: np.ndarray) -> None:
    """Copy ``src`` into ``dst`` of the same size but maybe another shape (a view, no
    temporary); nothing to do when the planner made ``dst`` a view of ``src``'s storage."""
    if not same_storage(src, dst):
        dst[...] = src.reshape(dst.shape)


def _forward_copy(p: Params, ins: list, outs: list, aux: list, is_train: bool) -> None:
    copy_reshaped(ins[0], outs[0])


def _backward_copy(p: Params, out_grads: list, ins: list, outs: list, in_grads: list,
                   aux: list) -> None:
    if in_grads[0] is not None:
        copy_reshaped(out_grads[0], in_grads[0])


#: the kernel of every operator whose output is its input with another shape
RESHAPE_KERNEL = Kernel(_forward_copy, _backward_copy)


def sum_to(src: np.ndarray, dst: np.ndarray) -> None:
    """Sum ``src`` into ``dst`` (same ndim) over the axes where ``dst`` has size 1."""
    axes = tuple(i for i, (d, s) in enumerate(zip(dst.shape, src.shape)) if d == 1 and s != 1)
    if axes:
        np.sum(src, axis=axes, keepdims=True, out=dst)
    else:
        np.copyto(dst, src)


# -- Flatten ---------------------------------------------------------------------------------
def _flatten_shape(p: Params, ins: list, outs: list, aux: list):
    data, out = ins[0], outs[0]
    if data is None:  # the rank of data is unknown: nothing to say
        return ins, outs, aux
    if len(data) == 0:
        raise ShapeError("Flatten needs data with at least one dimension, got ()")
    head, rest = data[0], tuple(data[1:])
    if out is not None:
        head = head or out[0]
        if out[1]:
            rest = fill_unknown(rest, out[1], "Flatten")
    return [(head, *rest)], [(head, prod(rest) if all(rest) else 0)], aux


FLATTEN = OpDef(
    name="Flatten",
    aliases=["flatten"],
    doc="Collapse every axis but the first: (d0, d1, ..., dk) -> (d0, d1*...*dk); 1-D data "
        "(n,) becomes (n, 1).",
    infer_shape=_flatten_shape,
    kernels={"numpy": RESHAPE_KERNEL},
    inplace=[(0, 0)],
    views=[(0, 0)],
)


# -- Reshape ---------------------------------------------------------------------------------
def _reshape_codes(p: Params) -> tuple[tuple[int, ...], bool]:
    """The special-code target and direction, from ``shape`` or the legacy ``target_shape``."""
    if p.shape:
        return tuple(p.shape), p.reverse
    if p.target_shape:  # legacy: 0 means "infer", keep_highest keeps the first dimension
        codes = tuple(-1 if d == 0 else d for d in p.target_shape)
        if p.keep_highest:
            codes = (0, *codes[1:])
        return codes, False
    raise ShapeError("Reshape needs a target: give shape=(...) (or the legacy target_shape)")


def _partial_reshape(src: tuple, codes: tuple) -> tuple | None:
    """Best-effort output when some input dimensions are unknown (0 where undetermined)."""
    out: list[int] = []
    pos = i = 0
    while i < len(codes):
        code = codes[i]
        if code == -2:
            out.extend(src[pos:])
            pos = len(src)
        elif code == -3:
            out.append(src[pos] * src[pos + 1])
            pos += 2
        elif code == -4:
            d0, d1, whole = codes[i + 1], codes[i + 2], src[pos]
            d0 = (whole // d1 if whole and d1 > 0 else 0) if d0 == -1 else d0
            d1 = (whole // d0 if whole and d0 > 0 else 0) if d1 == -1 else d1
            out += [d0, d1]
            pos += 1
            i += 2
        else:
            out.append(src[pos] if code == 0 else max(code, 0))
            pos += 1
        i += 1
    return tuple(out)


def _reshape_shape(p: Params, ins: list, outs: list, aux: list):
    data, out = ins[0], outs[0]
    codes, reverse = _reshape_codes(p)
    if is_known(data):
        try:
            out = resolve_reshape(tuple(data), codes, reverse)
        except MXNetValueError as err:
            raise ShapeError(str(err)) from None
    elif data is not None:
        if is_known(out):
            data = fill_unknown(tuple(data), prod(out), "Reshape")
        elif not reverse:
            try:
                out = _partial_reshape(tuple(data), codes)
            except IndexError:
                out = None
    return [data], [out], aux


RESHAPE = OpDef(
    name="Reshape",
    aliases=["reshape"],
    doc="Reshape without copying semantics. ``shape`` may use MXNet's codes: 0 copies an input "
        "dimension, -1 infers one, -2 copies the rest, -3 merges two, -4 splits one into the "
        "next two values; ``reverse`` matches codes from the right. The element count must "
        "match (checked at inference; MXNet 1.9.1 does not check).",
    params=[
        Param("shape", "shape", (), doc="Target shape, with special codes 0, -1, -2, -3, -4."),
        Param("reverse", "bool", False, doc="Match the special codes from the right."),
        Param("target_shape", "shape", (), doc="Deprecated target shape (0 means infer)."),
        Param("keep_highest", "bool", False,
              doc="Deprecated: with target_shape, keep the first input dimension."),
    ],
    infer_shape=_reshape_shape,
    kernels={"numpy": RESHAPE_KERNEL},
    inplace=[(0, 0)],
    views=[(0, 0)],
)


# -- Concat ----------------------------------------------------------------------------------
def _var_inputs(p: Params) -> list[str]:
    return [f"arg{i}" for i in range(p.num_args)]


def _common_ndim(shapes: list, what: str) -> int | None:
    ranks = {len(s) for s in shapes if s is not None}
    if len(ranks) > 1:
        listed = ", ".join(str(tuple(s)) for s in shapes if s is not None)
        raise ShapeError(f"{what} needs inputs of one rank, got {listed}")
    return ranks.pop() if ranks else None


def _concat_shape(p: Params, ins: list, outs: list, aux: list):
    ndim = _common_ndim(ins + outs, "Concat")
    if ndim is None:
        return ins, outs, aux
    axis = norm_axis(p.dim, ndim, "dim")
    common = [0] * ndim
    for s in [*ins, *outs]:
        for j in range(ndim):
            if s is not None and j != axis:
                common[j] = merge_dim(common[j], s[j], _concat_mismatch(ins, axis))
    sizes = [s[axis] if s is not None else 0 for s in ins]
    total = outs[0][axis] if outs[0] is not None else 0
    if all(sizes):
        total = merge_dim(total, sum(sizes), f"Concat output along dim {axis}")
    elif total and sizes.count(0) == 1:
        rest = total - sum(sizes)
        if rest <= 0:
            raise ShapeError(f"Concat output has {total} along dim {axis}, but the known inputs "
                             f"already have {sum(sizes)}")
        sizes = [d or rest for d in sizes]
    at = lambda d: tuple(d if j == axis else c for j, c in enumerate(common))
    return [at(d) for d in sizes], [at(total)], aux


def _concat_mismatch(ins: list, axis: int) -> str:
    listed = ", ".join(f"arg{i}={tuple(s) if s is not None else 'unknown'}"
                       for i, s in enumerate(ins))
    return f"Concat inputs must agree on every axis but {axis}: {listed}"


def _concat_forward(p: Params, ins: list, outs: list, aux: list, is_train: bool) -> None:
    np.concatenate(ins, axis=p.dim % outs[0].ndim, out=outs[0])


def _concat_backward(p: Params, out_grads: list, ins: list, outs: list, in_grads: list,
                     aux: list) -> None:
    og = out_grads[0]
    axis = p.dim % og.ndim
    start = 0
    for x, grad in zip(ins, in_grads):
        stop = start + x.shape[axis]
        if grad is not None:
            np.copyto(grad, og[(slice(None),) * axis + (slice(start, stop),)])
        start = stop


CONCAT = OpDef(
    name="Concat",
    aliases=["concat"],
    doc="Join the inputs along axis ``dim``; the other axes must agree.",
    params=[
        Param("num_args", "int", doc="Number of inputs.", check=positive),
        Param("dim", "int", 1, doc="The axis to concatenate along (negative counts from the end)."),
    ],
    inputs=_var_inputs,
    key_var_num_args="num_args",
    infer_shape=_concat_shape,
    kernels={"numpy": Kernel(_concat_forward, _concat_backward)},
)


# -- stack -----------------------------------------------------------------------------------
def _stack_shape(p: Params, ins: list, outs: list, aux: list):
    out = outs[0]
    ndim = _common_ndim(ins, "stack")
    if ndim is None and out is not None:
        ndim = len(out) - 1
    if ndim is None:
        return ins, outs, aux
    axis = norm_axis(p.axis, ndim, "axis", extra=1)
    names = [f"arg{i}" for i in range(len(ins))]
    from_out = None
    if out is not None:
        if len(out) != ndim + 1:
            raise ShapeError(f"stack output {tuple(out)} must have {ndim + 1} dimensions")
        from_out = out[:axis] + out[axis + 1:]
        names.append("output without the stacked axis")
    shape = unify([*ins, from_out] if from_out is not None else list(ins), names)
    new_out = (*shape[:axis], p.num_args, *shape[axis:])
    return [shape] * len(ins), [new_out], aux


@lru_cache(maxsize=256)
def _stack_slots(axis: int, count: int) -> tuple[tuple, ...]:
    """The index of each input's slot in the output: ``[:, ..., i]`` at ``axis``."""
    return tuple((slice(None),) * axis + (i,) for i in range(count))


def _stack_forward(p: Params, ins: list, outs: list, aux: list, is_train: bool) -> None:
    out = outs[0]
    for slot, x in zip(_stack_slots(p.axis % out.ndim, len(ins)), ins):
        out[slot] = x  # one assignment per input: cheaper than np.stack(..., out=)


def _stack_backward(p: Params, out_grads: list, ins: list, outs: list, in_grads: list,
                    aux: list) -> None:
    og = out_grads[0]
    axis = p.axis % og.ndim
    for i, grad in enumerate(in_grads):
        if grad is not None:
            np.copyto(grad, og[(slice(None),) * axis + (i,)])


STACK = OpDef(
    name="stack",
    doc="Join inputs of one shape along a new axis ``axis``.",
    params=[
        Param("axis", "int", 0, doc="Where the new axis goes (negative counts from the end)."),
        Param("num_args", "int", doc="Number of inputs.", check=positive),
    ],
    inputs=_var_inputs,
    key_var_num_args="num_args",
    infer_shape=_stack_shape,
    kernels={"numpy": Kernel(_stack_forward, _stack_backward)},
)


# -- SliceChannel (split) ----------------------------------------------------------------------
def _split_outputs(p: Params) -> list[str]:
    return [f"output{i}" for i in range(p.num_outputs)]


def _split_shape(p: Params, ins: list, outs: list, aux: list):
    data = ins[0]
    n = p.num_outputs
    for out in outs:  # any known output gives the data shape
        if out is None:
            continue
        ndim = len(out) + (1 if p.squeeze_axis else 0)
        axis = norm_axis(p.axis, ndim)
        whole = (*out[:axis], n, *out[axis:]) if p.squeeze_axis else \
            (*out[:axis], out[axis] * n, *out[axis + 1:])
        data = unify([data, whole], ["data", "data from an output"])
    if data is None:
        return ins, outs, aux
    axis = norm_axis(p.axis, len(data))
    size = data[axis]
    if size and size % n:
        raise ShapeError(f"cannot split axis {axis} of {tuple(data)} ({size}) into "
                         f"num_outputs={n} equal parts")
    if p.squeeze_axis and size and size != n:
        raise ShapeError(f"squeeze_axis needs axis {axis} of {tuple(data)} to be num_outputs={n}")
    if p.squeeze_axis:
        part = (*data[:axis], *data[axis + 1:])
    else:
        part = (*data[:axis], size // n, *data[axis + 1:])
    return [data], [part] * n, aux


@lru_cache(maxsize=1024)
def _split_index(axis: int, parts: int, squeeze: bool, shape: tuple) -> tuple:
    """Per part, the index of data giving it: a slice of the split axis, or with
    ``squeeze`` the integer position (which drops the axis)."""
    axis %= len(shape)
    step = shape[axis] // parts
    lead = (slice(None),) * axis
    if squeeze:
        return tuple(lead + (i,) for i in range(parts))
    return tuple(lead + (slice(i * step, (i + 1) * step),) for i in range(parts))


def _split_forward(p: Params, ins: list, outs: list, aux: list, is_train: bool) -> None:
    x = ins[0]
    for out, where in zip(outs, _split_index(p.axis, p.num_outputs, p.squeeze_axis, x.shape)):
        out[...] = x[where]


def _split_backward(p: Params, out_grads: list, ins: list, outs: list, in_grads: list,
                    aux: list) -> None:
    dx = in_grads[0]
    if dx is None:
        return
    for og, where in zip(out_grads, _split_index(p.axis, p.num_outputs, False, dx.shape)):
        part = dx[where]
        np.copyto(part, og.reshape(part.shape))


SLICE_CHANNEL = OpDef(
    name="SliceChannel",
    aliases=["split"],
    doc="Split the data into ``num_outputs`` equal parts along ``axis``; ``squeeze_axis`` drops "
        "that axis (its size must then equal num_outputs).",
    params=[
        Param("num_outputs", "int", doc="Number of parts.", check=positive),
        Param("axis", "int", 1, doc="The axis to split."),
        Param("squeeze_axis", "bool", False, doc="Remove the split axis from the outputs."),
    ],
    outputs=_split_outputs,
    infer_shape=_split_shape,
    kernels={"numpy": Kernel(_split_forward, _split_backward)},
)


# -- transpose ---------------------------------------------------------------------------------
def _perm(p: Params, ndim: int) -> tuple[int, ...]:
    if not p.axes:
        return tuple(range(ndim - 1, -1, -1))
    axes = tuple(a % ndim if -ndim <= a < ndim else a for a in p.axes)
    if sorted(axes) != list(range(ndim)):
        raise ShapeError(f"axes={tuple(p.axes)} is not a permutation of the {ndim} axes")
    return axes


def _transpose_shape(p: Params, ins: list, outs: list, aux: list):
    data, out = ins[0], outs[0]
    ref = data if data is not None else out
    if ref is None:
        return ins, outs, aux
    perm = _perm(p, len(ref))
    if out is not None:
        inverse = [0] * len(out)
        for i, a in enumerate(perm):
            inverse[a] = out[i]
        data = unify([data, tuple(inverse)], ["data", "data from the output"])
    return [data], [tuple(data[a] for a in perm)], aux


@lru_cache(maxsize=1024)
def _cached_perm(axes: tuple, ndim: int) -> tuple[int, ...]:
    return _perm(Params({"axes": axes}), ndim)


def _transpose_forward(p: Params, ins: list, outs: list, aux: list, is_train: bool) -> None:
    x = ins[0]
    outs[0][...] = x.transpose(_cached_perm(p.axes, x.ndim))


def _transpose_backward(p: Params, out_grads: list, ins: list, outs: list, in_grads: list,
                        aux: list) -> None:
    if in_grads[0] is not None:
        inverse = np.argsort(_perm(p, ins[0].ndim))
        np.copyto(in_grads[0], np.transpose(out_grads[0], inverse))


TRANSPOSE = OpDef(
    name="transpose",
    doc="Permute the axes: output axis i is input axis ``axes[i]``; empty ``axes`` reverses "
        "them. (Negative entries are accepted, which MXNet 1.9.1 rejects.)",
    params=[Param("axes", "shape", (), doc="The permutation; empty reverses the axes.")],
    infer_shape=_transpose_shape,
    kernels={"numpy": Kernel(_transpose_forward, _transpose_backward)},
)


# -- expand_dims / squeeze -----------------------------------------------------------------------
def _expand_dims_shape(p: Params, ins: list, outs: list, aux: list):
    data, out = ins[0], outs[0]
    if data is None and out is not None:
        axis = norm_axis(p.axis, len(out) - 1, extra=1)
        data = (*out[:axis], *out[axis + 1:])
    if data is None:
        return ins, outs, aux
    axis = norm_axis(p.axis, len(data), extra=1)
    if out is not None and len(out) == len(data) + 1:
        data = unify([data, (*out[:axis], *out[axis + 1:])], ["data", "data from the output"])
    return [data], [(*data[:axis], 1, *data[axis:])], aux


@lru_cache(maxsize=256)
def _new_axis_index(axis: int, ndim: int) -> tuple:
    """The index of the output (``ndim`` axes) that drops the inserted axis."""
    return (slice(None),) * (axis % ndim) + (0,)


def _expand_dims_forward(p: Params, ins: list, outs: list, aux: list, is_train: bool) -> None:
    """The input written through an index dropping the new axis (no reshape needed)."""
    src, dst = ins[0], outs[0]
    if not same_storage(src, dst):
        dst[_new_axis_index(p.axis, dst.ndim)] = src


EXPAND_DIMS = OpDef(
    name="expand_dims",
    doc="Insert an axis of size 1 at ``axis`` (in [-ndim-1, ndim]).",
    params=[Param("axis", "int", doc="Position of the new axis.")],
    infer_shape=_expand_dims_shape,
    kernels={"numpy": Kernel(_expand_dims_forward, RESHAPE_KERNEL.backward)},
    inplace=[(0, 0)],
    views=[(0, 0)],
)


def _squeeze_shape(p: Params, ins: list, outs: list, aux: list):
    data = ins[0]
    if data is None:
        return ins, outs, aux
    if p.axis is None:
        if not is_known(data):
            return ins, outs, aux
        drop = {i for i, d in enumerate(data) if d == 1}
    else:
        drop = {norm_axis(a, len(data)) for a in p.axis}
        if len(drop) != len(p.axis):
            raise ShapeError(f"axis={tuple(p.axis)} names an axis twice")
        for a in drop:
            if data[a] not in (0, 1):
                raise ShapeError(f"cannot squeeze axis {a} of {tuple(data)}: its size is "
                                 f"{data[a]}, not 1")
        data = tuple(1 if i in drop else d for i, d in enumerate(data))
    out = tuple(d for i, d in enumerate(data) if i not in drop) or (1,)
    return [data], [out], aux


SQUEEZE = OpDef(
    name="squeeze",
    doc="Remove axes of size 1 (those in ``axis``, or all); squeezing everything leaves (1,).",
    params=[Param("axis", "shape", None, optional=True,
                  doc="Axes to remove (each of size 1); None removes every size-1 axis.")],
    infer_shape=_squeeze_shape,
    kernels={"numpy": RESHAPE_KERNEL},
    inplace=[(0, 0)],
    views=[(0, 0)],
)


# -- SwapAxis ----------------------------------------------------------------------------------
def _swapped(p: Params, shape: tuple) -> tuple:
    a, b = norm_axis(p.dim1, len(shape), "dim1"), norm_axis(p.dim2, len(shape), "dim2")
    out = list(shape)
    out[a], out[b] = out[b], out[a]
    return tuple(out)


def _swapaxes_shape(p: Params, ins: list, outs: list, aux: list):
    data, out = ins[0], outs[0]
    if out is not None:
        data = unify([data, _swapped(p, tuple(out))], ["data", "data from the output"])
    if data is None:
        return ins, outs, aux
    return [data], [_swapped(p, tuple(data))], aux


def _swapaxes_forward(p: Params, ins: list, outs: list, aux: list, is_train: bool) -> None:
    np.copyto(outs[0], np.swapaxes(ins[0], p.dim1, p.dim2))


def _swapaxes_backward(p: Params, out_grads: list, ins: list, outs: list, in_grads: list,
                       aux: list) -> None:
    if in_grads[0] is not None:
        np.copyto(in_grads[0], np.swapaxes(out_grads[0], p.dim1, p.dim2))


SWAP_AXIS = OpDef(
    name="SwapAxis",
    aliases=["swapaxes"],
    doc="Exchange axes ``dim1`` and ``dim2``.",
    params=[Param("dim1", "int", 0, doc="The first axis."),
            Param("dim2", "int", 0, doc="The second axis.")],
    infer_shape=_swapaxes_shape,
    kernels={"numpy": Kernel(_swapaxes_forward, _swapaxes_backward)},
)


# -- reverse (flip) ----------------------------------------------------------------------------
def _flip_index(p: Params, ndim: int) -> tuple:
    """Reversing slices; an axis listed twice is flipped twice (back), as in MXNet."""
    flips = [0] * ndim
    for a in p.axis:
        flips[norm_axis(a, ndim)] ^= 1
    return tuple(slice(None, None, -1) if f else slice(None) for f in flips)


def _flip_shape(p: Params, ins: list, outs: list, aux: list):
    shape = unify([ins[0], outs[0]], ["data", "output"])
    if shape is not None:
        _flip_index(p, len(shape))
    return [shape], [shape], aux


@lru_cache(maxsize=1024)
def _cached_flip(axis: tuple, ndim: int) -> tuple:
    return _flip_index(Params({"axis": axis}), ndim)


def _flip_forward(p: Params, ins: list, outs: list, aux: list, is_train: bool) -> None:
    x = ins[0]
    outs[0][...] = x[_cached_flip(p.axis, x.ndim)]


def _flip_backward(p: Params, out_grads: list, ins: list, outs: list, in_grads: list,
                   aux: list) -> None:
    if in_grads[0] is not None:
        np.copyto(in_grads[0], out_grads[0][_flip_index(p, ins[0].ndim)])


REVERSE = OpDef(
    name="reverse",
    aliases=["flip"],
    doc="Reverse the order of elements along the given axes. (Negative axes are accepted, "
        "which MXNet 1.9.1 rejects.)",
    params=[Param("axis", "shape", doc="The axes to reverse.")],
    infer_shape=_flip_shape,
    kernels={"numpy": Kernel(_flip_forward, _flip_backward)},
)


# -- tile --------------------------------------------------------------------------------------
def _tile_layout(shape: tuple, reps: tuple) -> tuple[tuple, tuple, tuple]:
    """Padded input shape, padded reps, and the interleaved (rep, dim, rep, dim...) shape."""
    n = max(len(shape), len(reps))
    dims = (1,) * (n - len(shape)) + tuple(shape)
    r = (1,) * (n - len(reps)) + tuple(reps)
    return dims, r, tuple(v for pair in zip(r, dims) for v in pair)


def _check_reps(value: tuple) -> str | None:
    return None if all(r > 0 for r in value) else "every repetition must be positive"


def _tile_shape(p: Params, ins: list, outs: list, aux: list):
    data, out = ins[0], outs[0]
    if data is None:
        return ins, outs, aux
    dims, reps, _ = _tile_layout(tuple(data), tuple(p.reps))
    if out is not None and len(out) == len(dims):
        offset = len(dims) - len(data)
        data = tuple(d or (out[i + offset] // reps[i + offset]) for i, d in enumerate(data))
        dims, reps, _ = _tile_layout(tuple(data), tuple(p.reps))
    return [data], [tuple(d * r for d, r in zip(dims, reps))], aux


def _tile_forward(p: Params, ins: list, outs: list, aux: list, is_train: bool) -> None:
    dims, _, inter = _tile_layout(ins[0].shape, tuple(p.reps))
    ones = tuple(v for d in dims for v in (1, d))
    np.copyto(outs[0].reshape(inter), ins[0].reshape(ones))


def _tile_backward(p: Params, out_grads: list, ins: list, outs: list, in_grads: list,
                   aux: list) -> None:
    dx = in_grads[0]
    if dx is None:
        return
    dims, _, inter = _tile_layout(ins[0].shape, tuple(p.reps))
    np.sum(out_grads[0].reshape(inter), axis=tuple(range(0, len(inter), 2)),
           out=dx.reshape(dims))


TILE = OpDef(
    name="tile",
    doc="Repeat the whole array ``reps`` times along each axis (numpy.tile): the shorter of "
        "data.shape and reps is padded with leading 1s.",
    params=[Param("reps", "shape", doc="Repetitions per axis.", check=_check_reps)],
    infer_shape=_tile_shape,
    kernels={"numpy": Kernel(_tile_forward, _tile_backward)},
)


# -- repeat ------------------------------------------------------------------------------------
def _repeat_layout(p: Params, shape: tuple) -> tuple[tuple, tuple, tuple, int]:
    """(input view, output view, output shape, axis of the repetitions in the output view)."""
    if p.axis is None:
        shape = (prod(shape),)
        axis = 0
    else:
        axis = norm_axis(p.axis, len(shape))
    head, tail = shape[:axis + 1], shape[axis + 1:]
    out = (*shape[:axis], shape[axis] * p.repeats, *tail)
    return (*head, 1, *tail), (*head, p.repeats, *tail), out, axis + 1


def _repeat_shape(p: Params, ins: list, outs: list, aux: list):
    data = ins[0]
    if data is None:
        return ins, outs, aux
    if p.axis is None and not is_known(data):
        return ins, [(0,)], aux
    return [data], [_repeat_layout(p, tuple(data))[2]], aux


def _repeat_forward(p: Params, ins: list, outs: list, aux: list, is_train: bool) -> None:
    src, dst, _, axis = _repeat_layout(p, ins[0].shape)
    out, x = outs[0].reshape(dst), ins[0].reshape(src)
    if p.repeats > 8:
        np.copyto(out, x)
        return
    lead = (slice(None),) * axis
    for r in range(p.repeats):  # a few strided copies beat one copy with a tiny inner loop
        np.copyto(out[lead + (slice(r, r + 1),)], x)


def _repeat_backward(p: Params, out_grads: list, ins: list, outs: list, in_grads: list,
                     aux: list) -> None:
    dx = in_grads[0]
    if dx is not None:
        src, dst, _, axis = _repeat_layout(p, ins[0].shape)
        np.sum(out_grads[0].reshape(dst), axis=axis, keepdims=True, out=dx.reshape(src))


REPEAT = OpDef(
    name="repeat",
    doc="Repeat each element ``repeats`` times along ``axis`` (numpy.repeat); with no axis "
        "the flattened data is repeated. (repeats=0, an empty result in MXNet, is rejected: "
        "mxlite has no zero-size arrays.)",
    params=[Param("repeats", "int", doc="Repetitions of each element.", check=positive),
            Param("axis", "int", None, optional=True, doc="The axis; None flattens first.")],
    infer_shape=_repeat_shape,
    kernels={"numpy": Kernel(_repeat_forward, _repeat_backward)},
)


# -- Pad ---------------------------------------------------------------------------------------
def _pad_pairs(p: Params, shape: tuple) -> list[tuple[int, int]]:
    """(before, after) per axis, checked against MXNet's restrictions."""
    width = tuple(p.pad_width)
    ndim = len(shape)
    if ndim not in (4, 5):
        raise ShapeError(f"Pad supports 4-D and 5-D data only, got {tuple(shape)}")
    if len(width) != 2 * ndim:
        raise ShapeError(f"pad_width={width} needs 2 values per axis ({2 * ndim}) for "
                         f"data {tuple(shape)}")
    if any(width[:4]) or min(width) < 0:
        raise ShapeError(f"pad_width={width}: the first two axes cannot be padded and widths "
                         "must be non-negative")
    pairs = [(width[2 * i], width[2 * i + 1]) for i in range(ndim)]
    if p.mode == "reflect":
        for d, (before, after) in zip(shape, pairs):
            if d and max(before, after) >= d:
                raise ShapeError(f"reflect padding {(before, after)} must be smaller than the "
                                 f"axis size {d} (data {tuple(shape)})")
    return pairs


def _pad_shape(p: Params, ins: list, outs: list, aux: list):
    data, out = ins[0], outs[0]
    ref = data if data is not None else out
    if ref is None:
        return ins, outs, aux
    pairs = _pad_pairs(p, tuple(ref) if data is not None else (0,) * len(ref))
    if out is not None:
        back = tuple(o - b - a if o else 0 for o, (b, a) in zip(out, pairs))
        data = unify([data, back], ["data", "data from the output"])
    return [data], [tuple(d + b + a if d else 0 for d, (b, a) in zip(data, pairs))], aux


def _inner(pairs: list, shape: tuple) -> tuple:
    return tuple(slice(b, b + d) for (b, _), d in zip(pairs, shape))


def _along(axis: int, index: Any, inner: tuple) -> tuple:
    """``index`` on ``axis``: everything on earlier axes, the unpadded part on later ones."""
    return (slice(None),) * axis + (index,) + inner[axis + 1:]


def _border_maps(mode: str, before: int, after: int, n: int) -> list[tuple[slice, slice]]:
    """(destination, source) slices of the borders along one padded axis of the output."""
    end = before + n
    if mode == "edge":
        maps = [(slice(0, before), slice(before, before + 1)),
                (slice(end, end + after), slice(end - 1, end))]
    else:  # reflect: output index before-j mirrors before+j, end-1+j mirrors end-1-j
        maps = [(slice(0, before), _reversed(before + 1, 2 * before + 1)),
                (slice(end, end + after), _reversed(end - 1 - after, end - 1))]
    return [(dst, src) for dst, src in maps if dst.stop > dst.start]


def _reversed(start: int, stop: int) -> slice:
    """Indices stop-1 down to start, as a slice."""
    return slice(stop - 1, start - 1 if start > 0 else None, -1)


def _pad_forward(p: Params, ins: list, outs: list, aux: list, is_train: bool) -> None:
    x, y = ins[0], outs[0]
    pairs = _pad_pairs(p, x.shape)
    inner = _inner(pairs, x.shape)
    if p.mode == "constant":
        y.fill(p.constant_value)
    y[inner] = x
    if p.mode == "constant":
        return
    for axis in range(2, x.ndim):  # later axes then copy the already padded earlier ones
        for dst, src in _border_maps(p.mode, *pairs[axis], x.shape[axis]):
            y[_along(axis, dst, inner)] = y[_along(axis, src, inner)]


def _pad_backward(p: Params, out_grads: list, ins: list, outs: list, in_grads: list,
                  aux: list) -> None:
    dx = in_grads[0]
    if dx is None:
        return
    pairs = _pad_pairs(p, dx.shape)
    inner = _inner(pairs, dx.shape)
    if p.mode == "constant":
        np.copyto(dx, out_grads[0][inner])
        return
    acc = out_grads[0].copy()  # the border folds add into it; the head gradient stays intact
    for axis in range(dx.ndim - 1, 1, -1):  # the adjoint runs the forward's steps backwards
        for dst, src in _border_maps(p.mode, *pairs[axis], dx.shape[axis]):
            border = acc[_along(axis, dst, inner)]
            if p.mode == "edge":
                border = border.sum(axis=axis, keepdims=True)
            acc[_along(axis, src, inner)] += border
    np.copyto(dx, acc[inner])


PAD = OpDef(
    name="Pad",
    aliases=["pad"],
    doc="Pad 4-D or 5-D data on its spatial axes (the first two axes are not padded). "
        "``pad_width`` lists (before, after) per axis; ``mode`` is constant (constant_value), "
        "edge (repeat the border) or reflect (mirror without repeating the border; widths "
        "below the axis size).",
    params=[
        Param("mode", "str", choices=("constant", "edge", "reflect"), doc="Padding mode."),
        Param("pad_width", "shape", doc="Widths (before, after) for every axis, flattened."),
        Param("constant_value", "float", 0.0, doc="The value of constant padding."),
    ],
    infer_shape=_pad_shape,
    kernels={"numpy": Kernel(_pad_forward, _pad_backward)},
)


# -- broadcast_to / broadcast_like ---------------------------------------------------------------
def _check_broadcast(src: tuple, dst: tuple) -> None:
    if len(src) != len(dst) or any(s and d and s != 1 and s != d for s, d in zip(src, dst)):
        raise ShapeError(f"cannot broadcast {tuple(src)} to {tuple(dst)} (same rank needed; "
                         "each dimension equal or 1)")


def _broadcast_to_shape(p: Params, ins: list, outs: list, aux: list):
    data, out = ins[0], outs[0]
    target = tuple(p.shape)
    if data is None:
        if out is not None:  # a dimension the target keeps (0) is the data's
            data = tuple(o if t == 0 else 0 for o, t in zip(out, target))
        return [data], [target if is_known(target) else out], aux
    if len(target) != len(data):
        _check_broadcast(tuple(data), target)
    new_out = tuple(t or d for t, d in zip(target, data))
    _check_broadcast(tuple(data), new_out)
    if out is not None:
        data = tuple(d or (o if t == 0 else 0) for d, o, t in zip(data, out, target))
    return [data], [new_out], aux


def _broadcast_forward(p: Params, ins: list, outs: list, aux: list, is_train: bool) -> None:
    np.copyto(outs[0], ins[0])


def _broadcast_backward(p: Params, out_grads: list, ins: list, outs: list, in_grads: list,
                        aux: list) -> None:
    if in_grads[0] is not None:
        sum_to(out_grads[0], in_grads[0])
    for grad in in_grads[1:]:
        if grad is not None:
            grad.fill(0)


BROADCAST_TO = OpDef(
    name="broadcast_to",
    doc="Broadcast to ``shape`` (same rank; a 0 in shape keeps the input's dimension). The "
        "gradient sums over the broadcast axes.",
    params=[Param("shape", "shape", (), doc="Target shape; 0 keeps the input dimension.")],
    infer_shape=_broadcast_to_shape,
    kernels={"numpy": Kernel(_broadcast_forward, _broadcast_backward)},
)


def _like_target(p: Params, lhs: tuple, rhs: tuple) -> tuple:
    """The output shape: lhs with its dimensions replaced by rhs's on the chosen axes."""
    if p.lhs_axes is None and p.rhs_axes is None:
        if len(lhs) != len(rhs):
            raise ShapeError(f"broadcast_like needs lhs {tuple(lhs)} and rhs {tuple(rhs)} of one "
                             "rank when no axes are given")
        return tuple(rhs)
    la, ra = tuple(p.lhs_axes or ()), tuple(p.rhs_axes or ())
    if len(la) != len(ra) or not la:
        raise ShapeError(f"lhs_axes={la} and rhs_axes={ra} must be non-empty and of one length")
    out = list(lhs)
    for a, b in zip(la, ra):
        out[norm_axis(a, len(lhs), "lhs_axes")] = rhs[norm_axis(b, len(rhs), "rhs_axes")]
    return tuple(out)


def _broadcast_like_shape(p: Params, ins: list, outs: list, aux: list):
    lhs, rhs = ins
    if lhs is None or rhs is None:
        return ins, outs, aux
    target = _like_target(p, tuple(lhs), tuple(rhs))
    _check_broadcast(tuple(lhs), target)
    out = tuple(t if l in (0, 1) or t else l for l, t in zip(lhs, target))  # noqa: E741
    return ins, [out], aux


def _like_type(p: Params, in_types: list, out_types: list, aux_types: list):
    """The output has lhs's dtype; rhs only gives a shape."""
    known = in_types[0] if in_types[0] is not None else out_types[0]
    return [known, in_types[1]], [known], aux_types


BROADCAST_LIKE = OpDef(
    name="broadcast_like",
    doc="Broadcast ``lhs`` to the shape of ``rhs`` (or only its ``lhs_axes`` to the sizes of "
        "rhs's ``rhs_axes``). rhs's gradient is 0.",
    params=[Param("lhs_axes", "shape", None, optional=True, doc="Axes of lhs to broadcast."),
            Param("rhs_axes", "shape", None, optional=True, doc="Axes of rhs giving the sizes.")],
    inputs=["lhs", "rhs"],
    infer_shape=_broadcast_like_shape,
    infer_type=_like_type,
    kernels={"numpy": Kernel(_broadcast_forward, _broadcast_backward)},
)


OPS = [FLATTEN, RESHAPE, CONCAT, STACK, SLICE_CHANNEL, TRANSPOSE, EXPAND_DIMS, SQUEEZE, SWAP_AXIS,
       REVERSE, TILE, REPEAT, PAD, BROADCAST_TO, BROADCAST_LIKE]

__all__ = ["OPS", "RESHAPE_KERNEL", "copy_reshaped", "fill_unknown", "is_known", "merge_dim",
           "norm_axis", "positive", "sum_to"]

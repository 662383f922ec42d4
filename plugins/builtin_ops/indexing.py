"""Indexing, selection and ordering: slice (crop), slice_axis, take, pick, one_hot, where,
SequenceMask, topk, sort, argsort, argmax and argmin.

Index inputs may be any dtype; float indices are truncated toward zero, as MXNet does. Their
gradient is 0. Ordering is stable: ties keep their input order, ascending or descending.
Where MXNet would make a scalar, the result has shape (1,).
"""

from __future__ import annotations

import ast
import math
from functools import lru_cache
from math import prod
from typing import Any

import numpy as np
from mxlite.base import MXNetValueError
from mxlite.inference import ShapeError
from mxlite.registry import Kernel, OpDef, Param, Params

from ._rules import unify
from .shape_ops import is_known, merge_dim, norm_axis, positive

OUT_DTYPES = ("float16", "float32", "float64", "int32", "int64", "uint8")


def _zero(grad: "np.ndarray | None") -> None:
    if grad is not None:
        grad.fill(0)


def _scalar_as_1d(shape: tuple) -> tuple:
    return shape or (1,)


def _free_input_type(free: tuple[int, ...]):  # type: ignore[no-untyped-def]
    """A type rule: the inputs at ``free`` (indices, conditions) have any dtype; the rest and
    every output share one."""
    def rule(p: Params, in_types: list, out_types: list, aux_types: list):
        tied = [t for i, t in enumerate(in_types) if i not in free] + list(out_types)
        known = next((t for t in tied if t is not None), None)
        ins = [t if i in free else known for i, t in enumerate(in_types)]
        return ins, [known] * len(out_types), aux_types
    return rule


# -- slice / slice_axis ------------------------------------------------------------------------
@lru_cache(maxsize=512)
def _parse_index_text(text: str) -> tuple:
    value = ast.literal_eval(text.strip()) if text.strip() else ()
    return _index_tuple(value)


def _index_tuple(value: Any) -> tuple:
    """A tuple of ints and Nones from MXNet's ``(None, 1)``-style value or attribute text."""
    if isinstance(value, str):
        return _parse_index_text(value)
    if value is None:
        return ()
    if isinstance(value, (int, np.integer)):
        return (int(value),)
    return tuple(None if v is None else int(v) for v in value)


def _check_index_tuple(value: Any) -> str | None:
    try:
        _index_tuple(value)
    except (ValueError, TypeError, SyntaxError):
        return "expects a tuple of integers or None"
    return None


def _slices(p: Params, shape: tuple) -> tuple:
    """Python slices per sliced axis, checked against MXNet's rules."""
    begin, end, step = _index_tuple(p.begin), _index_tuple(p.end), _index_tuple(p.step)
    if len(begin) != len(end) or (step and len(step) != len(begin)):
        raise ShapeError(f"begin={begin}, end={end} and step={step} must have one length")
    if len(begin) > len(shape):
        raise ShapeError(f"begin={begin} slices {len(begin)} axes of {len(shape)}-D data "
                         f"{tuple(shape)}")
    step = step or (None,) * len(begin)
    if 0 in step:
        raise ShapeError(f"step={step} cannot contain 0")
    return tuple(slice(b, e, s) for b, e, s in zip(begin, end, step))


def _slice_shape(p: Params, ins: list, outs: list, aux: list):
    data = ins[0]
    if data is None:
        return ins, outs, aux
    out = list(data)
    for axis, s in enumerate(_slices(p, tuple(data))):
        if data[axis]:
            out[axis] = len(range(*s.indices(data[axis])))
            if out[axis] == 0:
                raise ShapeError(f"slice {s.start}:{s.stop}:{s.step} of axis {axis} of "
                                 f"{tuple(data)} is empty (mxlite has no zero-size arrays)")
    return ins, [tuple(out)], aux


@lru_cache(maxsize=1024)
def _cached_slices(begin: Any, end: Any, step: Any, shape: tuple) -> tuple:
    return _slices(Params({"begin": begin, "end": end, "step": step}), shape)


def _slice_forward(p: Params, ins: list, outs: list, aux: list, is_train: bool) -> None:
    x = ins[0]
    try:
        index = _cached_slices(p.begin, p.end, p.step, x.shape)
    except TypeError:  # unhashable values (lists) as given
        index = _slices(p, x.shape)
    outs[0][...] = x[index]


def _slice_backward(p: Params, out_grads: list, ins: list, outs: list, in_grads: list,
                    aux: list) -> None:
    dx = in_grads[0]
    if dx is not None:
        dx.fill(0)
        dx[_slices(p, dx.shape)] = out_grads[0]


SLICE = OpDef(
    name="slice",
    aliases=["crop"],
    doc="Slice the leading axes: ``data[begin[0]:end[0]:step[0], ...]`` with Python's rules "
        "(None entries take the default, negatives count from the end, out-of-range clips). "
        "The gradient is scattered back; the rest of it is 0.",
    params=[
        Param("begin", "any", doc="Start per axis (int or None).", check=_check_index_tuple),
        Param("end", "any", doc="Stop per axis (int or None).", check=_check_index_tuple),
        Param("step", "any", (), doc="Step per axis (int or None; not 0).",
              check=_check_index_tuple),
    ],
    infer_shape=_slice_shape,
    kernels={"numpy": Kernel(_slice_forward, _slice_backward)},
)


def _axis_range(p: Params, shape: tuple) -> tuple[int, int, int]:
    axis = norm_axis(p.axis, len(shape))
    size = shape[axis]
    begin = p.begin + size if p.begin < 0 else p.begin
    end = size if p.end is None else (p.end + size if p.end < 0 else p.end)
    if size and not 0 <= begin < end <= size:
        raise ShapeError(f"slice_axis begin={p.begin}, end={p.end} is not a non-empty range of "
                         f"axis {axis} (size {size}) of {tuple(shape)}")
    return axis, begin, end


def _slice_axis_index(p: Params, shape: tuple) -> tuple:
    axis, begin, end = _axis_range(p, shape)
    return (slice(None),) * axis + (slice(begin, end),)


def _slice_axis_shape(p: Params, ins: list, outs: list, aux: list):
    data = ins[0]
    if data is None:
        return ins, outs, aux
    axis, begin, end = _axis_range(p, tuple(data))
    out = list(data)
    out[axis] = end - begin if data[axis] else 0
    return ins, [tuple(out)], aux


@lru_cache(maxsize=1024)
def _cached_axis_index(axis: int, begin: int, end: "int | None", shape: tuple) -> tuple:
    return _slice_axis_index(Params({"axis": axis, "begin": begin, "end": end}), shape)


def _slice_axis_forward(p: Params, ins: list, outs: list, aux: list, is_train: bool) -> None:
    x = ins[0]
    outs[0][...] = x[_cached_axis_index(p.axis, p.begin, p.end, x.shape)]


def _slice_axis_backward(p: Params, out_grads: list, ins: list, outs: list, in_grads: list,
                         aux: list) -> None:
    dx = in_grads[0]
    if dx is not None:
        dx.fill(0)
        dx[_slice_axis_index(p, dx.shape)] = out_grads[0]


SLICE_AXIS = OpDef(
    name="slice_axis",
    doc="Slice ``begin:end`` of one axis (negatives count from the end; end None is the "
        "axis size). Unlike ``slice``, the range must lie inside the axis.",
    params=[
        Param("axis", "int", doc="The axis to slice."),
        Param("begin", "int", doc="Start index."),
        Param("end", "int", optional=True, doc="Stop index (exclusive), or None for the end."),
    ],
    infer_shape=_slice_axis_shape,
    kernels={"numpy": Kernel(_slice_axis_forward, _slice_axis_backward)},
)


# -- take --------------------------------------------------------------------------------------
def _clip_or_wrap(index: np.ndarray, size: int, mode: str) -> np.ndarray:
    """Integer indices (truncated toward zero) brought into [0, size)."""
    idx = index.astype(np.intp)
    if mode == "wrap":
        np.mod(idx, size, out=idx)
    else:
        np.clip(idx, 0, size - 1, out=idx)
    return idx


def _take_indices(p: Params, index: np.ndarray, size: int) -> np.ndarray:
    if p.mode == "raise":
        bad = (index < 0) | (index > size - 1)
        if bad.any():
            raise MXNetValueError(f"take: index {index[bad].flat[0]!r} is out of range for an "
                                  f"axis of size {size} (mode='raise')")
    return _clip_or_wrap(index, size, p.mode)


def _take_shape(p: Params, ins: list, outs: list, aux: list):
    a, indices = ins
    if a is None:
        return ins, outs, aux
    axis = norm_axis(p.axis, len(a))
    if indices is None:
        return ins, outs, aux
    return ins, [(*a[:axis], *indices, *a[axis + 1:])], aux


def _take_forward(p: Params, ins: list, outs: list, aux: list, is_train: bool) -> None:
    a = ins[0]
    axis = p.axis % a.ndim
    idx = _take_indices(p, ins[1], a.shape[axis])
    np.take(a, idx, axis=axis, out=outs[0], mode="clip")  # in range already; clip is unbuffered


def _take_backward(p: Params, out_grads: list, ins: list, outs: list, in_grads: list,
                   aux: list) -> None:
    _zero(in_grads[1])
    da = in_grads[0]
    if da is None:
        return
    a = ins[0]
    axis = p.axis % a.ndim
    idx = _take_indices(p, ins[1], a.shape[axis])
    og = out_grads[0].reshape((*a.shape[:axis], idx.size, *a.shape[axis + 1:]))
    da.fill(0)
    np.add.at(np.moveaxis(da, axis, 0), idx.reshape(-1), np.moveaxis(og, axis, 0))


TAKE = OpDef(
    name="take",
    doc="Gather slices of ``a`` along ``axis`` at ``indices``: the output shape is "
        "a.shape[:axis] + indices.shape + a.shape[axis+1:]. ``mode`` handles out-of-range "
        "indices: clip, wrap, or raise. Repeated indices accumulate gradient; indices get 0.",
    params=[
        Param("axis", "int", 0, doc="The axis to gather along."),
        Param("mode", "str", "clip", choices=("clip", "raise", "wrap"),
              doc="Out-of-range indices: clip to the ends, wrap around, or raise an error."),
    ],
    inputs=["a", "indices"],
    infer_shape=_take_shape,
    infer_type=_free_input_type((1,)),
    kernels={"numpy": Kernel(_take_forward, _take_backward)},
)


# -- pick --------------------------------------------------------------------------------------
def _pick_axis(p: Params, ndim: int) -> int:
    if p.axis is None:
        raise ShapeError("pick needs an axis (axis=None is not supported, as in MXNet)")
    return norm_axis(p.axis, ndim)


def _pick_shape(p: Params, ins: list, outs: list, aux: list):
    data, index = ins
    if data is None:
        return ins, outs, aux
    axis = _pick_axis(p, len(data))
    dropped = _scalar_as_1d((*data[:axis], *data[axis + 1:]))
    kept = (*data[:axis], 1, *data[axis + 1:])
    if index is None or len(index) != len(kept):
        index = unify([index, dropped], ["index", f"data {tuple(data)} without axis {axis}"])
    else:
        index = unify([index, kept], ["index", f"data {tuple(data)} with axis {axis} as 1"])
    return [data, index], [kept if p.keepdims else dropped], aux


def _picked(p: Params, x: np.ndarray, index: np.ndarray) -> tuple[int, np.ndarray]:
    axis = p.axis % x.ndim
    kept = (*x.shape[:axis], 1, *x.shape[axis + 1:])
    return axis, _clip_or_wrap(index, x.shape[axis], p.mode).reshape(kept)


def _pick_forward(p: Params, ins: list, outs: list, aux: list, is_train: bool) -> None:
    axis, idx = _picked(p, ins[0], ins[1])
    np.copyto(outs[0], np.take_along_axis(ins[0], idx, axis).reshape(outs[0].shape))


def _pick_backward(p: Params, out_grads: list, ins: list, outs: list, in_grads: list,
                   aux: list) -> None:
    _zero(in_grads[1])
    dx = in_grads[0]
    if dx is None:
        return
    axis, idx = _picked(p, ins[0], ins[1])
    dx.fill(0)
    # one element per row along the axis: no two gradients land on one place
    np.put_along_axis(dx, idx, out_grads[0].reshape(idx.shape), axis)


PICK = OpDef(
    name="pick",
    doc="Pick one element per row along ``axis``: out[i, j] = data[i, index[i, j], j]. The "
        "index has the data's shape without that axis (or with size 1 there).",
    params=[
        Param("axis", "int", -1, optional=True, doc="The axis to pick along."),
        Param("keepdims", "bool", False, doc="Keep the picked axis with size 1."),
        Param("mode", "str", "clip", choices=("clip", "wrap"),
              doc="Out-of-range indices: clip to the ends or wrap around."),
    ],
    inputs=["data", "index"],
    infer_shape=_pick_shape,
    infer_type=_free_input_type((1,)),
    kernels={"numpy": Kernel(_pick_forward, _pick_backward)},
)


# -- one_hot -----------------------------------------------------------------------------------
def _one_hot_shape(p: Params, ins: list, outs: list, aux: list):
    indices, out = ins[0], outs[0]
    if indices is None and out is not None:
        indices = tuple(out[:-1])
    if indices is None:
        return ins, outs, aux
    return [indices], [(*indices, p.depth)], aux


def _one_hot_type(p: Params, in_types: list, out_types: list, aux_types: list):
    return in_types, [np.dtype(p.dtype)], aux_types


def _one_hot_forward(p: Params, ins: list, outs: list, aux: list, is_train: bool) -> None:
    flat = outs[0].reshape(-1, p.depth)
    flat.fill(p.off_value)
    idx = ins[0].reshape(-1).astype(np.intp)
    rows = np.flatnonzero((idx >= 0) & (idx < p.depth))
    flat[rows, idx[rows]] = p.on_value


ONE_HOT = OpDef(
    name="one_hot",
    doc="One-hot encode: output shape indices.shape + (depth,), ``on_value`` at each index and "
        "``off_value`` elsewhere; out-of-range indices give a row of off_value.",
    params=[
        Param("depth", "int", doc="Size of the one-hot axis.", check=positive),
        Param("on_value", "float", 1.0, doc="Value at the index."),
        Param("off_value", "float", 0.0, doc="Value elsewhere."),
        Param("dtype", "str", "float32",
              choices=("float16", "float32", "float64", "int32", "int64", "int8", "uint8"),
              doc="Output dtype."),
    ],
    inputs=["indices"],
    infer_shape=_one_hot_shape,
    infer_type=_one_hot_type,
    kernels={"numpy": Kernel(_one_hot_forward)},
    no_gradient="the output does not depend smoothly on the indices",
)


# -- where -------------------------------------------------------------------------------------
def _where_shape(p: Params, ins: list, outs: list, aux: list):
    cond, x, y = ins
    shape = unify([x, y, outs[0]], ["x", "y", "output"])
    if shape is None:
        return [cond, x, y], outs, aux
    if cond is None or len(cond) == len(shape):
        cond = unify([cond, shape], ["condition", "x"])
    elif len(cond) == 1:
        merge_dim(cond[0], shape[0], f"a 1-D condition {tuple(cond)} selects rows of x "
                                     f"{tuple(shape)}: its length must be x's first dimension")
    else:
        raise ShapeError(f"condition {tuple(cond)} must have x's shape {tuple(shape)} or be 1-D "
                         "with x's first dimension")
    return [cond, shape, shape], [shape], aux


def _where_mask(cond: np.ndarray, ndim: int) -> np.ndarray:
    mask = cond != 0
    return mask.reshape(mask.shape + (1,) * (ndim - mask.ndim))


def _where_forward(p: Params, ins: list, outs: list, aux: list, is_train: bool) -> None:
    out = outs[0]
    np.copyto(out, ins[2])
    np.copyto(out, ins[1], where=_where_mask(ins[0], out.ndim))


def _where_backward(p: Params, out_grads: list, ins: list, outs: list, in_grads: list,
                    aux: list) -> None:
    _zero(in_grads[0])
    og = out_grads[0]
    mask = _where_mask(ins[0], og.ndim)
    dx, dy = in_grads[1], in_grads[2]
    if dx is not None:
        dx.fill(0)
        np.copyto(dx, og, where=mask)
    if dy is not None:
        np.copyto(dy, og)
        np.copyto(dy, 0, where=mask)


WHERE = OpDef(
    name="where",
    doc="Element-wise ``x if condition else y``; a 1-D condition picks whole rows (its length "
        "is x's first dimension). The gradient goes to the chosen side; condition gets 0.",
    inputs=["condition", "x", "y"],
    infer_shape=_where_shape,
    infer_type=_free_input_type((0,)),
    kernels={"numpy": Kernel(_where_forward, _where_backward)},
)


# -- SequenceMask ------------------------------------------------------------------------------
def _seq_inputs(p: Params) -> list[str]:
    return ["data", "sequence_length"] if p.use_sequence_length else ["data"]


def _seq_axis(value: int) -> str | None:
    return None if value in (0, 1) else "must be 0 (time-major) or 1 (batch-major)"


def _seq_mask_shape(p: Params, ins: list, outs: list, aux: list):
    data = unify([ins[0], outs[0]], ["data", "output"])
    if data is None:
        return [data, *ins[1:]], outs, aux
    if len(data) < 2:
        raise ShapeError(f"SequenceMask needs data of rank 2 or more, got {tuple(data)}")
    if not p.use_sequence_length:
        return [data], [data], aux
    batch = 1 - p.axis
    lengths = unify([ins[1], (data[batch],)],
                    ["sequence_length", f"axis {batch} (batch) of data {tuple(data)}"])
    data = tuple(lengths[0] if i == batch else d for i, d in enumerate(data))
    return [data, lengths], [data], aux


def _seq_mask(p: Params, shape: tuple, lengths: np.ndarray) -> np.ndarray:
    """True at the steps past each sequence's length, shaped to broadcast against the data."""
    steps = np.arange(shape[p.axis])
    lens = lengths.astype(np.intp)
    mask = steps[:, None] >= lens[None, :] if p.axis == 0 else steps[None, :] >= lens[:, None]
    return mask.reshape(mask.shape + (1,) * (len(shape) - 2))


def _seq_forward(p: Params, ins: list, outs: list, aux: list, is_train: bool) -> None:
    out = outs[0]
    np.copyto(out, ins[0])
    if p.use_sequence_length:
        np.copyto(out, p.value, casting="unsafe", where=_seq_mask(p, out.shape, ins[1]))


def _seq_backward(p: Params, out_grads: list, ins: list, outs: list, in_grads: list,
                  aux: list) -> None:
    if p.use_sequence_length:
        _zero(in_grads[1])
    dx = in_grads[0]
    if dx is None:
        return
    np.copyto(dx, out_grads[0])
    if p.use_sequence_length:
        np.copyto(dx, 0, where=_seq_mask(p, dx.shape, ins[1]))


SEQUENCE_MASK = OpDef(
    name="SequenceMask",
    doc="Set the steps past each sequence's length to ``value``. Data is (time, batch, ...) for "
        "axis=0 or (batch, time, ...) for axis=1; sequence_length has shape (batch,). Without "
        "use_sequence_length it is the identity.",
    params=[
        Param("use_sequence_length", "bool", False, doc="Take the sequence_length input."),
        Param("value", "float", 0.0, doc="The value of the masked steps."),
        Param("axis", "int", 0, doc="The time axis: 0 or 1.", check=_seq_axis),
    ],
    inputs=_seq_inputs,
    infer_shape=_seq_mask_shape,
    infer_type=_free_input_type((1,)),
    kernels={"numpy": Kernel(_seq_forward, _seq_backward)},
    inplace=[(0, 0)],
)


# -- ordering: topk, sort, argsort -----------------------------------------------------------------
def _order(x: np.ndarray, axis: int, ascending: bool) -> np.ndarray:
    """Stable argsort along ``axis``: ties keep their input order, ascending or descending (as
    MXNet's). Data that fits 32-bit keys sorts as unique 64-bit (key, position) pairs, much
    faster than numpy's stable argsort; other data uses that."""
    key = _key32(x)
    if key is None:
        sign = x if x.dtype.kind in "fi" else x.astype(np.int64)
        return np.argsort(sign if ascending else -sign, axis=axis, kind="stable")
    if not ascending:
        np.invert(key, out=key)
    pairs = key.astype(np.uint64)
    pairs <<= np.uint64(32)
    where = [1] * x.ndim
    where[axis] = x.shape[axis]
    pairs |= np.arange(x.shape[axis], dtype=np.uint64).reshape(where)
    pairs.sort(axis=axis)
    pairs &= np.uint64(0xFFFFFFFF)
    return pairs.astype(np.intp)


def _key32(x: np.ndarray) -> "np.ndarray | None":
    """A new uint32 array ordered like ``x``, or None when x's values need more bits."""
    if x.dtype == np.int32:
        return x.view(np.uint32) ^ np.uint32(0x80000000)
    if x.dtype == np.uint32:
        return x.astype(np.uint32)
    if x.dtype != np.float32 and (x.dtype.itemsize > 2 or x.dtype.kind not in "fiub"):
        return None
    bits = np.add(x, 0, dtype=np.float32).view(np.uint32)  # a copy; -0.0 becomes 0.0
    flip = (bits >> np.uint32(31)).astype(np.uint32)
    np.negative(flip, out=flip)  # all ones where negative (flip every bit), else 0
    flip |= np.uint32(0x80000000)  # positive: set the sign bit
    bits ^= flip
    return bits


def _ordered_view(p: Params, x: np.ndarray) -> tuple[np.ndarray, int]:
    """The data (flattened when axis is None) and the axis to order along."""
    if p.axis is None:
        return x.reshape(-1), 0
    return x, p.axis % x.ndim


def _k_of(p: Params, size: int) -> int:
    """k, where k <= 0 means the whole axis."""
    if p.k > size and size:
        raise ShapeError(f"k={p.k} is larger than the axis size {size}")
    return p.k if p.k > 0 else size


def _ordered_shape(p: Params, data: tuple, k: "int | None") -> tuple:
    """Shape of the ordered (or top-k when k is given) result."""
    if p.axis is None:
        size = prod(data) if is_known(data) else 0
        return (_k_of(p, size) if k is not None else size,)
    axis = norm_axis(p.axis, len(data))
    out = list(data)
    if k is not None:
        out[axis] = _k_of(p, data[axis]) if data[axis] else (p.k if p.k > 0 else 0)
    return tuple(out)


def _topk_outputs(p: Params) -> list[str]:
    return ["output0", "output1"] if p.ret_typ in ("value", "both") else ["output"]


def _topk_shape(p: Params, ins: list, outs: list, aux: list):
    data = ins[0]
    if data is None and p.ret_typ == "mask":
        data = outs[0]
    if data is None:
        return ins, outs, aux
    if p.ret_typ == "mask":
        _ordered_shape(p, tuple(data), p.k)  # validates axis and k
        return [data], [data], aux
    top = _ordered_shape(p, tuple(data), p.k)
    return [data], [top] * len(outs), aux


def _topk_type(p: Params, in_types: list, out_types: list, aux_types: list):
    data = in_types[0]
    if data is None and p.ret_typ in ("value", "both", "mask"):
        data = out_types[0]
    index = np.dtype(p.dtype)
    outs = {"value": [data, np.dtype(np.intp)], "both": [data, index], "indices": [index],
            "mask": [data]}[p.ret_typ]
    return [data], outs, aux_types


def _top_positions(x: np.ndarray, axis: int, k: int, ascending: bool) -> np.ndarray:
    """The first ``k`` positions of the stable order along ``axis`` (ties in input order)."""
    n = x.shape[axis]
    if axis == x.ndim - 1 and x.dtype.kind == "f" and k < n:
        found = _top_by_threshold(x.reshape(-1, n), k, ascending)
        if found is not None:
            return found.reshape((*x.shape[:-1], k))
    return _order(x, axis, ascending)[(slice(None),) * axis + (slice(0, k),)]


def _top_by_threshold(rows: np.ndarray, k: int, ascending: bool) -> "np.ndarray | None":
    """Top-k positions per row from a plain sort of the values: the elements beyond the k-th
    value, put in order (stable on their input positions). None when some row has a tie at
    the k-th value or NaN (the caller then orders everything)."""
    s = _sorted_without_nan(rows)
    if s is None:
        return None
    n = rows.shape[1]
    kth = s[:, k - 1:k] if ascending else s[:, n - k:n - k + 1]
    chosen = rows <= kth if ascending else rows >= kth
    flat = chosen.ravel().nonzero()[0]  # row by row, in input order
    if flat.size != k * rows.shape[0]:  # each row has >= k: exactly k everywhere, else ties
        return None
    values = rows.ravel()[flat].reshape(-1, k)
    order = (values if ascending else -values).argsort(axis=1, kind="stable")
    return flat.reshape(-1, k)[np.arange(len(order))[:, None], order] % n


def _sorted_without_nan(x: np.ndarray) -> "np.ndarray | None":
    """``x`` sorted along its last axis, or None when it holds NaN: np.sort puts every NaN
    last, where the stable order places NaN by its sign bit."""
    s = np.sort(x, axis=-1)
    if x.dtype.kind == "f" and math.isnan(s[..., -1].sum()):
        return None
    return s


def _topk_values(p: Params, x: np.ndarray, axis: int, k: int, out: np.ndarray) -> bool:
    """The top-k values alone (inference, ret_typ value: no positions are kept for a
    gradient) from a plain sort along the last axis; False when that does not apply."""
    if axis != x.ndim - 1 or x.dtype.kind not in "fiub":
        return False
    s = _sorted_without_nan(x)
    if s is None:
        return False
    out[...] = s[..., :k] if p.is_ascend else s[..., ::-1][..., :k]
    return True


def _topk_forward(p: Params, ins: list, outs: list, aux: list, is_train: bool) -> None:
    x, axis = _ordered_view(p, ins[0])
    k = _k_of(p, x.shape[axis])
    if p.ret_typ == "value" and not is_train and _topk_values(p, x, axis, k, outs[0]):
        return  # the hidden positions (output1) are for the gradient only, as sort's order
    idx = _top_positions(x, axis, k, p.is_ascend)
    if p.ret_typ == "mask":
        mask = outs[0].reshape(x.shape)
        mask.fill(0)
        np.put_along_axis(mask, idx, 1, axis)
    elif p.ret_typ == "indices":
        np.copyto(outs[0], idx, casting="unsafe")
    else:
        np.copyto(outs[0], np.take_along_axis(x, idx, axis))
        np.copyto(outs[1], idx, casting="unsafe")


def _scatter_back(p: Params, og: np.ndarray, index: np.ndarray, dx: np.ndarray,
                  fill: bool) -> None:
    """Send each selected element's gradient back to where it came from (no collisions)."""
    view, axis = _ordered_view(p, dx)
    if fill:
        dx.fill(0)
    np.put_along_axis(view, np.asarray(index, dtype=np.intp), og, axis)


def _topk_backward(p: Params, out_grads: list, ins: list, outs: list, in_grads: list,
                   aux: list) -> None:
    dx = in_grads[0]
    if dx is None:
        return
    if p.ret_typ in ("indices", "mask"):
        dx.fill(0)
        return
    _scatter_back(p, out_grads[0], outs[1], dx, fill=True)


TOPK = OpDef(
    name="topk",
    doc="The k largest (or smallest with is_ascend) elements along ``axis`` (None: the "
        "flattened data); k <= 0 takes all. ``ret_typ``: indices (float, as ``dtype``), value, "
        "both (values, indices) or mask (1 at the chosen places). Ties keep input order. "
        "Gradient: values send theirs back to their places; indices and mask give 0.",
    params=[
        Param("axis", "int", -1, optional=True, doc="The axis; None flattens the data."),
        Param("k", "int", 1, doc="How many elements; k <= 0 means all."),
        Param("ret_typ", "str", "indices", choices=("both", "indices", "mask", "value"),
              doc="What to return."),
        Param("is_ascend", "bool", False, doc="Take the smallest instead of the largest."),
        Param("dtype", "str", "float32", choices=OUT_DTYPES, doc="dtype of the indices."),
    ],
    outputs=_topk_outputs,
    visible_outputs=lambda p: 2 if p.ret_typ == "both" else 1,
    infer_shape=_topk_shape,
    infer_type=_topk_type,
    kernels={"numpy": Kernel(_topk_forward, _topk_backward)},
)


def _sort_shape(p: Params, ins: list, outs: list, aux: list):
    data = ins[0]
    if data is None:
        return ins, outs, aux
    out = _ordered_shape(p, tuple(data), None)
    return ins, [out] * len(outs), aux


def _sort_type(p: Params, in_types: list, out_types: list, aux_types: list):
    data = in_types[0] if in_types[0] is not None else out_types[0]
    return [data], [data, np.dtype(np.intp)], aux_types


def _sort_forward(p: Params, ins: list, outs: list, aux: list, is_train: bool) -> None:
    x, axis = _ordered_view(p, ins[0])
    out = outs[0].reshape(x.shape)
    if is_train:  # the order is kept (hidden output) for the gradient
        order = _order(x, axis, p.is_ascend)
        np.copyto(outs[1].reshape(x.shape), order)
        np.copyto(out, np.take_along_axis(x, order, axis))
        return
    np.copyto(out, x)
    out.sort(axis=axis)
    if not p.is_ascend:
        np.copyto(out, np.flip(out, axis))


def _sort_backward(p: Params, out_grads: list, ins: list, outs: list, in_grads: list,
                   aux: list) -> None:
    if in_grads[0] is not None:  # the order is a permutation: every place gets one value
        _scatter_back(p, out_grads[0], outs[1], in_grads[0], fill=False)


SORT = OpDef(
    name="sort",
    doc="Sort along ``axis`` (None: the flattened data), ascending unless is_ascend=False. "
        "Stable; the gradient is unsorted back.",
    params=[
        Param("axis", "int", -1, optional=True, doc="The axis; None flattens the data."),
        Param("is_ascend", "bool", True, doc="Ascending order."),
    ],
    outputs=["output0", "output1"],
    visible_outputs=1,
    infer_shape=_sort_shape,
    infer_type=_sort_type,
    kernels={"numpy": Kernel(_sort_forward, _sort_backward)},
)


def _argsort_type(p: Params, in_types: list, out_types: list, aux_types: list):
    return in_types, [np.dtype(p.dtype)], aux_types


def _argsort_forward(p: Params, ins: list, outs: list, aux: list, is_train: bool) -> None:
    x, axis = _ordered_view(p, ins[0])
    np.copyto(outs[0], _order(x, axis, p.is_ascend), casting="unsafe")


ARGSORT = OpDef(
    name="argsort",
    doc="Indices that sort the data along ``axis`` (None: flattened), as ``dtype`` (float32 "
        "by default, like MXNet). Stable.",
    params=[
        Param("axis", "int", -1, optional=True, doc="The axis; None flattens the data."),
        Param("is_ascend", "bool", True, doc="Ascending order."),
        Param("dtype", "str", "float32", choices=OUT_DTYPES, doc="dtype of the indices."),
    ],
    infer_shape=_sort_shape,
    infer_type=_argsort_type,
    kernels={"numpy": Kernel(_argsort_forward)},
    no_gradient="indices are piecewise constant in the data",
)


# -- argmax / argmin ---------------------------------------------------------------------------
def _arg_shape(p: Params, ins: list, outs: list, aux: list):
    data = ins[0]
    if data is None:
        return ins, outs, aux
    if p.axis is None:
        return ins, [(1,) * len(data) if p.keepdims else (1,)], aux
    axis = norm_axis(p.axis, len(data))
    if p.keepdims:
        return ins, [(*data[:axis], 1, *data[axis + 1:])], aux
    return ins, [_scalar_as_1d((*data[:axis], *data[axis + 1:]))], aux


def _arg_op(name: str, reducer: Any, which: str) -> OpDef:
    def forward(p: Params, ins: list, outs: list, aux: list, is_train: bool) -> None:
        """The array method (no Python wrapper); assignment casts the indices to the
        output's dtype."""
        if p.keepdims:
            outs[0][...] = reducer(ins[0], p.axis, keepdims=True)
        else:
            outs[0][...] = reducer(ins[0], p.axis)

    return OpDef(
        name=name,
        doc=f"Index of the {which} along ``axis`` (None: of the flattened data, shape (1,)), "
            "as the data's dtype (MXNet returns indices as floats). The first wins ties.",
        params=[Param("axis", "int", None, optional=True, doc="The axis; None flattens."),
                Param("keepdims", "bool", False, doc="Keep the reduced axis with size 1.")],
        infer_shape=_arg_shape,
        kernels={"numpy": Kernel(forward)},
        no_gradient="indices are piecewise constant in the data",
    )


OPS = [SLICE, SLICE_AXIS, TAKE, PICK, ONE_HOT, WHERE, SEQUENCE_MASK, TOPK, SORT, ARGSORT,
       _arg_op("argmax", np.ndarray.argmax, "maximum"),
       _arg_op("argmin", np.ndarray.argmin, "minimum")]

"""Reductions: ``sum``, ``mean``, ``max``, ``min``, ``prod``, ``nansum``, ``nanprod``, ``norm``.

MXNet 1.x conventions: ``axis`` is an int, a tuple, or None/() for every axis; negative axes
count from the end; ``exclude=True`` reduces every axis *not* listed; ``keepdims`` keeps reduced
axes as 1; a reduction to nothing gives shape ``(1,)`` (MXNet 1.x has no 0-d arrays).

Kernels compute with ``keepdims=True`` into a reshaped view of the output, so the gradient can
broadcast the head gradient back over the reduced axes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache
from math import prod

import numpy as np
from mxlite.inference import ShapeError
from mxlite.registry import Kernel, OpDef, Param, Params

Reducer = Callable[[np.ndarray, tuple, np.ndarray], None]
Deriv = Callable[[np.ndarray, np.ndarray, tuple, np.ndarray], None]


# -- axes and shapes ------------------------------------------------------------------------
def reduced_axes(p: Params, ndim: int) -> tuple[int, ...]:
    """The sorted, non-negative axes reduced for data of ``ndim`` dimensions."""
    axis = getattr(p, "axis", None)
    if not axis:  # None or (): every axis
        return tuple(range(ndim))
    axes = []
    for a in axis:
        if not -ndim <= a < ndim:
            raise ShapeError(f"reduction axis {a} is out of range for data with {ndim} "
                             f"dimensions (axis={tuple(axis)})")
        axes.append(a % ndim)
    if len(set(axes)) != len(axes):
        raise ShapeError(f"reduction axes have duplicates: axis={tuple(axis)} for data with "
                         f"{ndim} dimensions")
    if getattr(p, "exclude", False):
        return tuple(i for i in range(ndim) if i not in axes)
    return tuple(sorted(axes))


def kept_shape(shape: tuple, axes: tuple) -> tuple:
    """``shape`` with the reduced axes set to 1 (numpy's keepdims shape)."""
    return tuple(1 if i in axes else d for i, d in enumerate(shape))


def out_shape(p: Params, shape: tuple, axes: tuple) -> tuple:
    if p.keepdims:
        return kept_shape(shape, axes)
    return tuple(d for i, d in enumerate(shape) if i not in axes) or (1,)


def reduce_shape(p: Params, ins: list, outs: list, aux: list):
    """Output from data; unknown data dimensions that survive the reduction from the output."""
    data, out = ins[0], outs[0]
    if data is None:
        return ins, outs, aux
    axes = reduced_axes(p, len(data))
    kept = [i for i in range(len(data)) if i not in axes]
    if out is not None and kept:
        out_dims = [out[i] for i in kept] if p.keepdims else list(out)
        if len(out_dims) == len(kept):
            data = tuple(data)
            data = tuple(out_dims[kept.index(i)] if i in kept and d == 0 else d
                         for i, d in enumerate(data))
    return [data], [out_shape(p, data, axes)], aux


# -- kernels ------------------------------------------------------------------------------
@lru_cache(maxsize=1024)
def _plan(axis: "tuple | None", exclude: bool, shape: tuple) -> tuple[tuple, tuple]:
    """The reduced axes and the keepdims shape for data of ``shape`` (computed once)."""
    axes = reduced_axes(Params({"axis": axis, "exclude": exclude}), len(shape))
    return axes, kept_shape(shape, axes)


def _view(p: Params, x: np.ndarray, out: np.ndarray) -> tuple[tuple, np.ndarray]:
    axes, kept = _plan(p.axis, getattr(p, "exclude", False), x.shape)
    return axes, out.reshape(kept)


def _forward_of(reducer: "Reducer | np.ufunc") -> Callable[..., None]:
    """The forward: a ufunc's ``reduce`` called directly into the keepdims view of the output
    (what ``np.sum``/``np.max``... call after their Python layer), else ``reducer``."""
    if isinstance(reducer, np.ufunc):
        reduce = reducer.reduce

        def forward(p: Params, ins: list, outs: list, aux: list, is_train: bool) -> None:
            x = ins[0]
            axes, kept = _plan(p.axis, p.exclude, x.shape)
            reduce(x, axes, None, outs[0].reshape(kept), True)
        return forward

    def forward(p: Params, ins: list, outs: list, aux: list, is_train: bool) -> None:
        x = ins[0]
        axes, kept = _plan(p.axis, p.exclude, x.shape)
        reducer(x, axes, outs[0].reshape(kept))
    return forward


def _reduce_op(name: str, aliases: list[str], reducer: "Reducer | np.ufunc", deriv: Deriv,
               uses: tuple, doc: str) -> OpDef:
    """A reduction OpDef. ``deriv(x, y_kept, axes, dst)`` writes d(y)/d(x) (before the head
    gradient) into ``dst``, with ``y_kept`` the output in keepdims form."""
    forward = _forward_of(reducer)

    def backward(p: Params, out_grads: list, ins: list, outs: list, in_grads: list,
                 aux: list) -> None:
        dx = in_grads[0]
        if dx is None:
            return
        axes, y = _view(p, ins[0], outs[0])
        deriv(ins[0], y, axes, dx)
        dx *= out_grads[0].reshape(y.shape)

    params = [
        Param("axis", "shape", None, optional=True,
              doc="Axis or axes to reduce; None or () reduces every axis."),
        Param("keepdims", "bool", False, doc="Keep reduced axes with size 1."),
        Param("exclude", "bool", False, doc="Reduce every axis except those in `axis`."),
    ]
    return OpDef(name=name, aliases=aliases, doc=doc, params=params, inputs=["data"],
                 infer_shape=reduce_shape, kernels={"numpy": Kernel(forward, backward)},
                 grad_uses=uses)


_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def _mean(x, axes, y) -> None:  # type: ignore[no-untyped-def]
    """``np.mean`` without its Python layer for float data: the sum, then the division by
    the count as a numpy integer (as np.mean does, so bit for bit the same)."""
    if x.dtype in _FLOATS and y.dtype == x.dtype:
        np.add.reduce(x, axes, None, y, True)
        np.true_divide(y, np.intp(x.size // y.size), out=y, casting="unsafe")
    else:
        np.mean(x, axis=axes, keepdims=True, out=y)


def _nansum(x, axes, y) -> None:  # type: ignore[no-untyped-def]
    np.nansum(x, axis=axes, keepdims=True, out=y)


def _nanprod(x, axes, y) -> None:  # type: ignore[no-untyped-def]
    np.nanprod(x, axis=axes, keepdims=True, out=y)


def _d_ones(x, y, axes, dst) -> None:  # type: ignore[no-untyped-def]
    dst.fill(1)


def _d_mean(x, y, axes, dst) -> None:  # type: ignore[no-untyped-def]
    dst.fill(1.0 / max(1, prod(x.shape[a] for a in axes)))


def _d_extreme(x, y, axes, dst) -> None:  # type: ignore[no-untyped-def]
    """1 at every element equal to the extreme (ties all get the gradient, as MXNet)."""
    np.equal(x, y, out=dst, casting="unsafe")


def _d_not_nan(x, y, axes, dst) -> None:  # type: ignore[no-untyped-def]
    np.isnan(x, out=dst, casting="unsafe")
    np.subtract(1, dst, out=dst)


def _others_product(x: np.ndarray, axes: tuple, dst: np.ndarray) -> None:
    """Product of the other elements of each reduced group, exact also where x has zeros.

    MXNet 1.9.1 computes ``out / x`` and gives NaN at zeros; this gives the true derivative.
    """
    kept = [i for i in range(x.ndim) if i not in axes]
    order = kept + list(axes)
    moved = np.transpose(x, order).reshape(-1, prod(x.shape[a] for a in axes))
    before = np.ones_like(moved)
    after = np.ones_like(moved)
    np.cumprod(moved[:, :-1], axis=1, out=before[:, 1:])
    np.cumprod(moved[:, :0:-1], axis=1, out=after[:, -2::-1])
    before *= after
    shaped = before.reshape([x.shape[i] for i in order])
    np.copyto(dst, np.transpose(shaped, np.argsort(order)))


def _d_prod(x, y, axes, dst) -> None:  # type: ignore[no-untyped-def]
    if np.all(x != 0):
        np.divide(y, x, out=dst, casting="unsafe")
    else:
        _others_product(x, axes, dst)


def _d_nanprod(x, y, axes, dst) -> None:  # type: ignore[no-untyped-def]
    nan = np.isnan(x)
    _d_prod(np.where(nan, 1, x), y, axes, dst)
    dst[nan] = 0


# -- norm -----------------------------------------------------------------------------------
_OUT_DTYPES = ("float16", "float32", "float64", "int32", "int64", "int8")


#: a float sum of squares at least this large lost nothing to underflow (each square that
#: underflowed is below 1.2e-38)
_SAFE_SQUARES = 1e-20


def _norm_forward(p: Params, ins: list, outs: list, aux: list, is_train: bool) -> None:
    x = ins[0]
    axes, kept = _plan(p.axis, False, x.shape)
    y = outs[0].reshape(kept)
    fast = x.dtype in _FLOATS and y.dtype == x.dtype
    if p.ord == 1:
        if fast:  # |x| into a scratch, summed straight into the output
            np.add.reduce(np.abs(x), axes, None, y, True)
        else:
            np.copyto(y, np.sum(np.abs(x), axis=axes, keepdims=True), casting="unsafe")
    elif fast and len(axes) == x.ndim and _dot_norm(x, y):
        return
    else:
        value = np.sqrt(np.sum(np.square(x, dtype=np.float64), axis=axes, keepdims=True))
        np.copyto(y, value, casting="unsafe")


def _dot_norm(x: np.ndarray, y: np.ndarray) -> bool:
    """The L2 norm of all of ``x`` as the square root of a BLAS dot product (in x's dtype);
    False, writing nothing, when the sum of squares overflowed or may have underflowed (the
    caller then sums in float64)."""
    flat = x.reshape(-1)
    total = float(np.dot(flat, flat))
    if not _SAFE_SQUARES <= total < math.inf:
        return False
    y.fill(math.sqrt(total))
    return True


def _norm_backward(p: Params, out_grads: list, ins: list, outs: list, in_grads: list,
                   aux: list) -> None:
    """ord=1: sign(x); ord=2: x / norm, taken as 0 where the norm is 0 (MXNet 1.9.1: NaN)."""
    dx = in_grads[0]
    if dx is None:
        return
    x = ins[0]
    axes, y = _view(p, x, outs[0])
    og = out_grads[0].reshape(y.shape)
    if p.ord == 1:
        np.sign(x, out=dx, casting="unsafe")
    else:
        safe = np.where(y == 0, 1, y)
        np.divide(x, safe, out=dx, casting="unsafe")
    dx *= og


def _norm_type(p: Params, in_types: list, out_types: list, aux_types: list):
    data = in_types[0]
    if data is None and p.out_dtype is None:
        data = out_types[0]
    out = np.dtype(p.out_dtype) if p.out_dtype is not None else data
    return [data], [out], aux_types


def _check_ord(value: int) -> str | None:
    return None if value in (1, 2) else "norm supports only ord=1 and ord=2"


NORM = OpDef(
    name="norm",
    doc="L2 (ord=2, default) or L1 (ord=1) norm over `axis` (every axis when None), computed "
        "entry-wise also over several axes.",
    params=[
        Param("ord", "int", 2, doc="Order of the norm: 1 or 2.", check=_check_ord),
        Param("axis", "shape", None, optional=True,
              doc="Axis or axes to reduce; None reduces every axis."),
        Param("out_dtype", "str", None, optional=True, choices=_OUT_DTYPES,
              doc="dtype of the output; the input's when None."),
        Param("keepdims", "bool", False, doc="Keep reduced axes with size 1."),
    ],
    inputs=["data"],
    infer_shape=reduce_shape,
    infer_type=_norm_type,
    kernels={"numpy": Kernel(_norm_forward, _norm_backward)},
    grad_uses=lambda p: ("inputs",) if p.ord == 1 else ("inputs", "outputs"),
)

NONE, IN, BOTH = (), ("inputs",), ("inputs", "outputs")  # what a gradient reads

REDUCE = [
    ("sum", ["sum_axis"], np.add, _d_ones, NONE, "Sum over the given axes."),
    ("mean", [], _mean, _d_mean, NONE, "Mean over the given axes."),
    ("max", ["max_axis"], np.maximum, _d_extreme, BOTH,
     "Maximum over the given axes; every element equal to the maximum gets the gradient."),
    ("min", ["min_axis"], np.minimum, _d_extreme, BOTH,
     "Minimum over the given axes; every element equal to the minimum gets the gradient."),
    ("prod", [], np.multiply, _d_prod, BOTH, "Product over the given axes."),
    ("nansum", [], _nansum, _d_not_nan, IN, "Sum over the given axes, NaN counted as 0."),
    ("nanprod", [], _nanprod, _d_nanprod, BOTH, "Product over the given axes, NaN counted as 1."),
]

OPS = [_reduce_op(*row) for row in REDUCE] + [NORM]

"""Element-wise binary operators with and without broadcasting (add, sub, mul, div, maximum,
minimum), and reductions over axes (sum, mean, max, min), in C.

Operands are walked with broadcast strides (0 along a broadcast axis) after merging the axes
every operand walks contiguously. A broadcast input's gradient is the element-wise gradient
summed back over its broadcast axes by the reduction kernel, one pass per block of reduced
axes."""

from __future__ import annotations

from math import prod
from typing import Any

import numpy as np
from mxlite.registry import Kernel, Params

from ._lib import (
    ADD,
    COPY,
    DIV,
    DIVR_GRAD,
    EQ_MUL,
    FLOATS,
    GE_MUL,
    GT_MUL,
    LE_MUL,
    LT_MUL,
    MAX,
    MIN,
    MUL,
    NEG,
    SCALE,
    SUB,
    contiguous_backward,
    contiguous_forward,
    ewise,
    prepared,
    reduce_into,
    scratch,
    threads,
)

# a side's gradient: (op, operands) with operands picked from og, lhs, rhs, out
_OG, _LHS, _RHS, _OUT = range(4)
GRADS: dict[int, tuple[tuple, tuple]] = {
    ADD: ((COPY, (_OG,)), (COPY, (_OG,))),
    SUB: ((COPY, (_OG,)), (NEG, (_OG,))),
    MUL: ((MUL, (_OG, _RHS)), (MUL, (_OG, _LHS))),
    DIV: ((DIV, (_OG, _RHS)), (DIVR_GRAD, (_OG, _RHS, _OUT))),
    MAX: ((GE_MUL, (_OG, _LHS, _RHS)), (LT_MUL, (_OG, _LHS, _RHS))),
    MIN: ((LE_MUL, (_OG, _LHS, _RHS)), (GT_MUL, (_OG, _LHS, _RHS))),
}


def _broadcast_axes(shape: tuple, out: tuple) -> tuple[int, ...]:
    """Axes of ``out`` along which an input of ``shape`` was broadcast."""
    padded = (1,) * (len(out) - len(shape)) + tuple(shape)
    return tuple(i for i, (a, b) in enumerate(zip(padded, out)) if a == 1 and b != 1)


def _side(op: int, operands: tuple, arrays: list, dst: np.ndarray, out_shape: tuple,
          nt: int) -> None:
    """One input's gradient: straight into ``dst``, or summed into it from scratch."""
    picked = [arrays[i] for i in operands]
    if dst.shape == out_shape:
        ewise(op, dst, *picked)
        return
    full = scratch("ck_bcast_grad", out_shape, dst.dtype)
    ewise(op, full, *picked)
    reduce_into(full, _broadcast_axes(dst.shape, out_shape), dst, 0, nt)


def binary(op: int) -> Any:
    """The C kernel factory of a binary operator (broadcasting or not)."""

    def make(ref: Kernel) -> Kernel:
        @contiguous_forward
        def forward(p: Params, ins: list, outs: list, aux: list, is_train: bool) -> None:
            ewise(op, outs[0], ins[0], ins[1])

        @contiguous_backward
        def backward(p: Params, out_grads: list, ins: list, outs: list, in_grads: list,
                     aux: list) -> None:
            og = out_grads[0]
            nt = prepared(p, "threads", threads)
            arrays = [og, ins[0], ins[1], outs[0]]
            for (side_op, operands), dst in zip(GRADS[op], in_grads):
                if dst is not None:
                    _side(side_op, operands, arrays, dst, og.shape, nt)

        return Kernel(forward, backward, FLOATS)

    return make


# -- reductions ------------------------------------------------------------------------------------
REDUCERS = {"sum": 0, "mean": 0, "max": 1, "min": 2}


def _axes(p: Params, ndim: int) -> tuple[int, ...]:
    """The reduced axes (the shape rule has validated ``axis``)."""
    if not p.axis:
        return tuple(range(ndim))
    axes = sorted(a % ndim for a in p.axis)
    return tuple(i for i in range(ndim) if i not in axes) if p.exclude else tuple(axes)


def _kept(shape: tuple, axes: tuple) -> tuple:
    return tuple(1 if i in axes else d for i, d in enumerate(shape))


def _plan(p: Params, shape: tuple) -> tuple:
    axes = _axes(p, len(shape))
    return axes, _kept(shape, axes), prod(shape[a] for a in axes), threads()


def reduction(name: str) -> Any:
    """The C kernel factory of ``sum``, ``mean``, ``max`` or ``min``."""
    op = REDUCERS[name]

    def make(ref: Kernel) -> Kernel:
        @contiguous_forward
        def forward(p: Params, ins: list, outs: list, aux: list, is_train: bool) -> None:
            x, y = ins[0], outs[0]
            if x.size == 0 or y.dtype != x.dtype:
                ref.forward(p, ins, outs, aux, is_train)
                return
            axes, _, count, nt = prepared(p, (x.shape, x.dtype), lambda: _plan(p, x.shape))
            reduce_into(x, axes, y, op, nt)
            if name == "mean":
                np.divide(y, count, out=y)

        @contiguous_backward
        def backward(p: Params, out_grads: list, ins: list, outs: list, in_grads: list,
                     aux: list) -> None:
            dx = in_grads[0]
            if dx is None:
                return
            if dx.size == 0:
                ref.backward(p, out_grads, ins, outs, in_grads, aux)
                return
            _, kept, count, _ = prepared(p, (dx.shape, dx.dtype), lambda: _plan(p, dx.shape))
            og = out_grads[0].reshape(kept)
            if name == "sum":
                ewise(COPY, dx, og)
            elif name == "mean":
                ewise(SCALE, dx, og, scalar=1.0 / max(1, count))
            else:  # every element equal to the extreme gets the gradient
                ewise(EQ_MUL, dx, og, ins[0], outs[0].reshape(kept))

        return Kernel(forward, backward, FLOATS)

    return make


BINARY = {
    "elemwise_add": ADD, "elemwise_sub": SUB, "elemwise_mul": MUL, "elemwise_div": DIV,
    "_maximum": MAX, "_minimum": MIN,
    "broadcast_add": ADD, "broadcast_sub": SUB, "broadcast_mul": MUL, "broadcast_div": DIV,
    "broadcast_maximum": MAX, "broadcast_minimum": MIN,
}

KERNELS: dict[str, Any] = {
    **{name: binary(op) for name, op in BINARY.items()},
    **{name: reduction(name) for name in REDUCERS},
}

"""softmax, log_softmax, softmin, SoftmaxActivation and SoftmaxOutput in C: one row (a
position along every axis but the class axis) per task; the head gradient of SoftmaxOutput
(one-hot, label smoothing, ignore_label, normalisation) in one pass.

``softmax`` with ``use_length``, a ``dtype`` other than the data's, and SoftmaxOutput with a
probability target (label shaped like the data) use the numpy kernels."""

from __future__ import annotations

from math import prod
from typing import Any

import numpy as np
from mxlite.base import MXNetValueError
from mxlite.registry import Kernel, Params

from ._lib import FLOATS, NULL, contiguous_backward, contiguous_forward, func, prepared, ptr, threads


def _layout(shape: tuple, axis: int) -> tuple[int, int, int]:
    """(outer, n, inner) of ``shape`` around ``axis``."""
    axis %= len(shape)
    return prod(shape[:axis]), shape[axis], prod(shape[axis + 1:])


def _plan(shape: tuple, axis: int, dtype: Any) -> tuple:
    return (*_layout(shape, axis), func("ck_softmax_fwd", dtype), func("ck_softmax_bwd", dtype),
            threads())


def _family(ref: Kernel, sign: float, log_out: int, axis_of: Any) -> Kernel:
    """softmax (sign 1), softmin (sign -1) or log_softmax (log_out 1) over ``axis_of(p, x)``."""

    def scale(p: Params) -> float:
        temperature = getattr(p, "temperature", None)
        return sign / (temperature if temperature is not None else 1.0)

    def usable(p: Params, x: np.ndarray, y: np.ndarray) -> bool:
        return x.dtype == y.dtype and not getattr(p, "use_length", False)

    @contiguous_forward
    def forward(p: Params, ins: list, outs: list, aux: list, is_train: bool) -> None:
        x, y = ins[0], outs[0]
        if not usable(p, x, y):
            ref.forward(p, ins, outs, aux, is_train)
            return
        outer, n, inner, fwd, _, nt = prepared(p, (x.shape, x.dtype),
                                               lambda: _plan(x.shape, axis_of(p, x), x.dtype))
        fwd(ptr(x), ptr(y), outer, n, inner, scale(p), log_out, nt)

    @contiguous_backward
    def backward(p: Params, out_grads: list, ins: list, outs: list, in_grads: list,
                 aux: list) -> None:
        y, og, dx = outs[0], out_grads[0], in_grads[0]
        if len(in_grads) > 1 or dx is None or og.dtype != y.dtype or dx.dtype != y.dtype:
            ref.backward(p, out_grads, ins, outs, in_grads, aux)
            return
        outer, n, inner, _, bwd, nt = prepared(p, (y.shape, y.dtype),
                                               lambda: _plan(y.shape, axis_of(p, y), y.dtype))
        bwd(ptr(y), ptr(og), ptr(dx), outer, n, inner, scale(p), log_out, nt)

    return Kernel(forward, backward, FLOATS)


def _param_axis(p: Params, x: np.ndarray) -> int:
    return p.axis


def _activation_axis(p: Params, x: np.ndarray) -> int:
    return 1 if p.mode == "channel" else x.ndim - 1


# -- SoftmaxOutput -----------------------------------------------------------------------------
def _class_layout(p: Params, shape: tuple) -> tuple[int, int, int]:
    """(outer, classes, inner): classes on axis 1 (multi_output), the last axis
    (preserve_shape), or everything after the batch axis."""
    if p.multi_output:
        return _layout(shape, 1)
    if p.preserve_shape:
        return _layout(shape, -1)
    return shape[0], prod(shape[1:]), 1


def _output_plan(p: Params, shape: tuple, dtype: Any) -> tuple:
    return (*_class_layout(p, shape), func("ck_softmax_fwd", dtype),
            func("ck_softmax_output_bwd", dtype), threads())


def _normaliser(p: Params, label: np.ndarray, batch: int) -> float:
    if p.normalization == "batch":
        return float(batch)
    if p.normalization == "valid":
        return float(max(1, int(np.count_nonzero(label != p.ignore_label))))
    return 1.0


def softmax_output(ref: Kernel) -> Kernel:
    @contiguous_forward
    def forward(p: Params, ins: list, outs: list, aux: list, is_train: bool) -> None:
        x, y = ins[0], outs[0]
        outer, k, inner, fwd, _, nt = prepared(p, (x.shape, x.dtype),
                                               lambda: _output_plan(p, x.shape, x.dtype))
        fwd(ptr(x), ptr(y), outer, k, inner, 1.0, 0, nt)

    @contiguous_backward
    def backward(p: Params, out_grads: list, ins: list, outs: list, in_grads: list,
                 aux: list) -> None:
        prob, label, dx = outs[0], ins[1], in_grads[0]
        if label.shape == prob.shape:  # a probability target
            ref.backward(p, out_grads, ins, outs, in_grads, aux)
            return
        if in_grads[1] is not None:
            in_grads[1].fill(0)
        if dx is None:
            return
        outer, k, inner, _, bwd, nt = prepared(p, (prob.shape, prob.dtype),
                                               lambda: _output_plan(p, prob.shape, prob.dtype))
        if label.dtype != prob.dtype:
            label = np.ascontiguousarray(label, prob.dtype)
        factor = p.grad_scale / _normaliser(p, label, prob.shape[0])
        og = ptr(out_grads[0]) if p.out_grad else NULL
        bad = bwd(ptr(prob), ptr(label), og, ptr(dx), outer, k, inner, int(p.use_ignore),
                  p.ignore_label, p.smooth_alpha, factor, nt)
        if bad >= 0:
            raise MXNetValueError(f"SoftmaxOutput: label {int(label.reshape(-1)[bad])} is out of "
                                  f"range for {k} classes")

    return Kernel(forward, backward, FLOATS)


KERNELS: dict[str, Any] = {
    "softmax": lambda ref: _family(ref, 1.0, 0, _param_axis),
    "softmin": lambda ref: _family(ref, -1.0, 0, _param_axis),
    "log_softmax": lambda ref: _family(ref, 1.0, 1, _param_axis),
    "SoftmaxActivation": lambda ref: _family(ref, 1.0, 0, _activation_axis),
    "SoftmaxOutput": softmax_output,
}

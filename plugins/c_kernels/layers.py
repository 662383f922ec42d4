"""FullyConnected (BLAS GEMM, see ``_blas``, with a C bias epilogue and bias gradient), Activation,
LeakyReLU."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
from mxlite.registry import Kernel, Params

from ._blas import bound_matmul
from ._lib import (
    FLOATS,
    contiguous_backward,
    contiguous_forward,
    func,
    kernel_from_bound,
    prepared,
    ptr,
    sequence,
    threads,
)

ACT_KINDS = {"relu": 0, "sigmoid": 1, "tanh": 2, "softrelu": 3, "softsign": 4}
LEAKY_KINDS = {"leaky": 5, "elu": 6, "selu": 7}


# -- FullyConnected ----------------------------------------------------------------------------
def _fc_prep(dtype: np.dtype) -> tuple:
    return func("ck_add_bias_rows", dtype), func("ck_col_sum", dtype), threads()


def fc_rows(p: Params, x: np.ndarray) -> int:
    """Rows of FullyConnected's GEMM: the batch, or every position but the last axis."""
    return x.shape[0] if p.flatten else x.size // max(1, x.shape[-1])


def fc_gemm(p: Params, x: np.ndarray, w: np.ndarray, y: np.ndarray, nt: int
            ) -> tuple[np.ndarray, Callable[[], Any]]:
    """The (rows, num_hidden) view of ``y`` and the call writing ``x @ w.T`` into it."""
    rows = fc_rows(p, x)
    y2 = y.reshape(rows, p.num_hidden)
    return y2, bound_matmul(x.reshape(rows, w.shape[1]), w.T, y2, nt)


def fc_gemm_grads(og: np.ndarray, x: np.ndarray, w: np.ndarray, in_grads: list, nt: int
                  ) -> list[Callable[[], Any]]:
    """The calls writing the data and weight gradients from the (rows, num_hidden) head
    gradient ``og`` (those not wanted: none)."""
    rows, calls = og.shape[0], []
    if in_grads[0] is not None:
        calls.append(bound_matmul(og, w, in_grads[0].reshape(rows, w.shape[1]), nt))
    if in_grads[1] is not None:
        calls.append(bound_matmul(og.T, x.reshape(rows, w.shape[1]), in_grads[1], nt))
    return calls


def _fc_forward(p: Params, ins: list, outs: list, aux: list) -> Callable:
    y = outs[0]
    add_bias, _, nt = _fc_prep(y.dtype)
    y2, gemm = fc_gemm(p, ins[0], ins[1], y, nt)
    if p.no_bias or not y.size:
        return sequence([gemm])
    return sequence([gemm, partial(add_bias, ptr(y2), ptr(ins[2]), *y2.shape, nt)])


def _fc_backward(p: Params, out_grads: list, ins: list, outs: list, in_grads: list,
                 aux: list) -> Callable:
    x, w = ins[0], ins[1]
    _, col_sum, nt = _fc_prep(w.dtype)
    og = out_grads[0].reshape(fc_rows(p, x), p.num_hidden)
    calls = fc_gemm_grads(og, x, w, in_grads, nt)
    if not p.no_bias and in_grads[2] is not None:
        calls.append(partial(col_sum, ptr(og), ptr(in_grads[2]), *og.shape, nt))
    return sequence(calls)


# -- Activation and LeakyReLU ------------------------------------------------------------------
def _act_prep(dtype: np.dtype) -> tuple:
    return func("ck_act_fwd", dtype), func("ck_act_bwd", dtype), threads()


def _act_forward(kind: int, slope: float, p: Params, x: np.ndarray, y: np.ndarray) -> None:
    fwd, _, nt = prepared(p, x.dtype, lambda: _act_prep(x.dtype))
    fwd(ptr(x), ptr(y), x.size, kind, slope, nt)


def _act_backward(kind: int, slope: float, p: Params, og: np.ndarray, x: np.ndarray | None,
                  y: np.ndarray | None, dx: np.ndarray) -> None:
    _, bwd, nt = prepared(p, og.dtype, lambda: _act_prep(og.dtype))
    bwd(ptr(og), ptr(x), ptr(y), ptr(dx), og.size, kind, slope, nt)


def _activation_forward(p: Params, ins: list, outs: list, aux: list) -> Callable:
    x, y = ins[0], outs[0]
    fwd, _, nt = _act_prep(x.dtype)
    return sequence([partial(fwd, ptr(x), ptr(y), x.size, ACT_KINDS[p.act_type], 0.0, nt)])


def _activation_backward(p: Params, out_grads: list, ins: list, outs: list, in_grads: list,
                         aux: list) -> Callable:
    og, dx = out_grads[0], in_grads[0]
    if dx is None:
        return sequence([])
    _, bwd, nt = _act_prep(og.dtype)
    # read only what the operator keeps for backward: the input for softsign, else the output
    x, y = (ins[0], None) if p.act_type == "softsign" else (None, outs[0])
    return sequence([partial(bwd, ptr(og), ptr(x), ptr(y), ptr(dx), og.size,
                             ACT_KINDS[p.act_type], 0.0, nt)])


def _prelu_prep(p: Params, x: np.ndarray, gamma: np.ndarray) -> tuple:
    channels = x.shape[1]
    rest = x.size // max(1, x.shape[0] * channels)
    return (x.shape[0], channels, rest, 1 if gamma.size > 1 else 0,
            func("ck_prelu_fwd", x.dtype), func("ck_prelu_bwd", x.dtype), threads())


def leaky_relu(ref: Kernel) -> Kernel:
    """LeakyReLU's leaky, elu, selu and prelu in C; gelu and rrelu use the numpy kernel."""

    @contiguous_forward
    def forward(p: Params, ins: list, outs: list, aux: list, is_train: bool) -> None:
        kind = p.act_type
        if kind in LEAKY_KINDS:
            _act_forward(LEAKY_KINDS[kind], p.slope, p, ins[0], outs[0])
        elif kind == "prelu" and ins[0].ndim >= 2:
            x, gamma = ins[0], ins[1]
            b, c, s, gs, fwd, _, nt = prepared(p, (x.shape, x.dtype), lambda: _prelu_prep(p, x, gamma))
            fwd(ptr(x), ptr(gamma), ptr(outs[0]), b, c, s, gs, nt)
        else:
            ref.forward(p, ins, outs, aux, is_train)

    @contiguous_backward
    def backward(p: Params, out_grads: list, ins: list, outs: list, in_grads: list,
                 aux: list) -> None:
        kind, x = p.act_type, ins[0]
        if kind in LEAKY_KINDS:
            if in_grads[0] is not None:
                _act_backward(LEAKY_KINDS[kind], p.slope, p, out_grads[0], x, None, in_grads[0])
        elif kind == "prelu" and x.ndim >= 2:
            gamma = ins[1]
            b, c, s, gs, _, bwd, nt = prepared(p, (x.shape, x.dtype), lambda: _prelu_prep(p, x, gamma))
            bwd(ptr(out_grads[0]), ptr(x), ptr(gamma), ptr(in_grads[0]), ptr(in_grads[1]), b, c, s,
                gs, nt)
        else:
            ref.backward(p, out_grads, ins, outs, in_grads, aux)

    return Kernel(forward, backward, FLOATS)


def fully_connected(ref: Kernel) -> Kernel:
    return kernel_from_bound(_fc_forward, _fc_backward)


def activation(ref: Kernel) -> Kernel:
    return kernel_from_bound(_activation_forward, _activation_backward)


KERNELS: dict[str, Any] = {
    "FullyConnected": fully_connected,
    "Activation": activation,
    "LeakyReLU": leaky_relu,
}

"""Pooling: max, avg and sum over 1-D/2-D/3-D windows (and global pooling) in C, one
(sample, channel) plane per task; lp pooling uses the numpy kernel.

Window starts are ``o * stride - pad``; the output size (hence the pooling convention) comes
from the output's shape, fixed at bind. Numerics match the numpy kernel: max gives each
window's gradient to its first cell equal to the maximum, avg divides by the cells counted
as ``count_include_pad`` says.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from mxlite.registry import Kernel, Params

from ._lib import FLOATS, contiguous_backward, contiguous_forward, func, iptr, prepared, ptr, threads

KINDS = {"max": 0, "avg": 1, "sum": 2}


def _three(values: tuple[int, ...], fill: int) -> list[int]:
    return [fill] * (3 - len(values)) + list(values)


def _plan(p: Params, x_shape: tuple, y_shape: tuple, dtype: Any) -> tuple:
    in_sp, out_sp = tuple(x_shape[2:]), tuple(y_shape[2:])
    nd = len(in_sp)
    if p.global_pool:
        kernel, stride, pad = in_sp, (1,) * nd, (0,) * nd
    else:
        kernel = tuple(p.kernel)
        stride = tuple(p.stride) or (1,) * nd
        pad = tuple(p.pad) or (0,) * nd
    geom = np.array(_three(in_sp, 1) + _three(out_sp, 1) + _three(kernel, 1) + _three(stride, 1)
                    + _three(pad, 0), np.int64)
    planes = x_shape[0] * x_shape[1]
    return (geom, iptr(geom), planes, KINDS[p.pool_type], int(p.count_include_pad is not False),
            func("ck_pool_fwd", dtype), func("ck_pool_bwd", dtype), threads())


def pooling(ref: Kernel) -> Kernel:
    @contiguous_forward
    def forward(p: Params, ins: list, outs: list, aux: list, is_train: bool) -> None:
        x, y = ins[0], outs[0]
        if p.pool_type not in KINDS or x.ndim not in (3, 4, 5):
            ref.forward(p, ins, outs, aux, is_train)
            return
        _, gp, planes, kind, include, fwd, _, nt = prepared(
            p, (x.shape, x.dtype), lambda: _plan(p, x.shape, y.shape, x.dtype))
        fwd(ptr(x), ptr(y), planes, gp, kind, include, nt)

    @contiguous_backward
    def backward(p: Params, out_grads: list, ins: list, outs: list, in_grads: list,
                 aux: list) -> None:
        dx, dy = in_grads[0], out_grads[0]
        if dx is None:
            return
        if p.pool_type not in KINDS or dx.ndim not in (3, 4, 5):
            ref.backward(p, out_grads, ins, outs, in_grads, aux)
            return
        _, gp, planes, kind, include, _, bwd, nt = prepared(
            p, (dx.shape, dx.dtype), lambda: _plan(p, dx.shape, dy.shape, dx.dtype))
        # max reads the data and the output; avg and sum read neither (their buffers may
        # already hold other tensors)
        x, y = (ins[0], outs[0]) if kind == 0 else (None, None)
        bwd(ptr(x), ptr(y), ptr(dy), ptr(dx), planes, gp, kind, include, nt)

    return Kernel(forward, backward, FLOATS)


KERNELS: dict[str, Any] = {"Pooling": pooling}

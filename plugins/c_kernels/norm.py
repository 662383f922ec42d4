"""BatchNorm in C: statistics, normalisation and moving-average update in one pass per channel
(channels in parallel), and the gradients in one more. Training, inference and
``use_global_stats`` as the numpy kernel computes them; ``var`` holds the inverse standard
deviation, as in MXNet."""

from __future__ import annotations

from math import prod
from typing import Any

from mxlite.registry import Kernel, Params

from ._lib import FLOATS, contiguous_backward, contiguous_forward, func, prepared, ptr, threads


def _plan(p: Params, shape: tuple, dtype: Any) -> tuple:
    axis = p.axis % len(shape)
    return (prod(shape[:axis]), shape[axis], prod(shape[axis + 1:]),
            func("ck_bn_fwd_train", dtype), func("ck_bn_fwd_infer", dtype),
            func("ck_bn_bwd", dtype), threads())


def _same_dtype(arrays: list) -> bool:
    return all(a is None or a.dtype == arrays[0].dtype for a in arrays)


def batch_norm(ref: Kernel) -> Kernel:
    @contiguous_forward
    def run_forward(p: Params, ins: list, outs: list, aux: list, is_train: bool) -> None:
        x, gamma, beta = ins
        y, mean, invstd = outs
        b, c, s, train, infer, _, nt = prepared(p, (x.shape, x.dtype),
                                                lambda: _plan(p, x.shape, x.dtype))
        if is_train and not p.use_global_stats:
            train(ptr(x), ptr(y), ptr(gamma), ptr(beta), ptr(mean), ptr(invstd), ptr(aux[0]),
                  ptr(aux[1]), b, c, s, p.eps, p.momentum, nt)
        else:
            infer(ptr(x), ptr(y), ptr(gamma), ptr(beta), ptr(mean), ptr(invstd), ptr(aux[0]),
                  ptr(aux[1]), b, c, s, p.eps, nt)

    def forward(p: Params, ins: list, outs: list, aux: list, is_train: bool) -> None:
        if not _same_dtype([*ins, *outs, *aux]):  # float16 data keeps float32 statistics
            ref.forward(p, ins, outs, aux, is_train)
            return
        if p.fix_gamma:
            ins[1].fill(1)  # as the numpy kernel (and MXNet) do: gamma is reset to 1
        run_forward(p, ins, outs, aux, is_train)

    @contiguous_backward
    def backward(p: Params, out_grads: list, ins: list, outs: list, in_grads: list,
                 aux: list) -> None:
        x, gamma = ins[0], ins[1]
        if not _same_dtype([x, gamma, outs[1], *in_grads]):
            ref.backward(p, out_grads, ins, outs, in_grads, aux)
            return
        b, c, s, _, _, bwd, nt = prepared(p, (x.shape, x.dtype), lambda: _plan(p, x.shape, x.dtype))
        bwd(ptr(out_grads[0]), ptr(x), ptr(gamma), ptr(outs[1]), ptr(outs[2]), ptr(in_grads[0]),
            ptr(in_grads[1]), ptr(in_grads[2]), b, c, s, int(p.fix_gamma),
            int(p.use_global_stats), nt)

    return Kernel(forward, backward, FLOATS)


KERNELS: dict[str, Any] = {"BatchNorm": batch_norm}


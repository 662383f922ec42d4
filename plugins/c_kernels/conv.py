"""Convolution and Deconvolution (1-D/2-D/3-D, grouped, strided, dilated, padded).

Convolution, where the pack calls numpy's BLAS itself (``_blas``), runs whole in C: the batch is
cut into chunks whose columns fit in a core's cache, and each thread takes whole chunks as it
finishes the last, from im2col through single-threaded GEMMs to the output (backward: to col2im,
and weight-gradient partials, one per run of chunks, summed in order at the end). Otherwise, and
for Deconvolution, the code below orchestrates: im2col and col2im run in C, in parallel over
(channel, sample) pairs; the GEMMs are BLAS calls (``_blas.matmul``). Small images (fewer than
``MERGE_BELOW_CELLS`` window positions per sample) lay the columns out (channels x kernel, batch
x cells), so that one GEMM per group covers the whole batch, and transpose the result (the
forward's bias add is fused into that transpose); larger ones lay them out batch-major and run
one GEMM per sample, straight into the output. The batch is split into chunks whose columns fit
in ``workspace`` megabytes, as in the numpy kernels, and in ``CACHE_CHUNK_BYTES`` (the columns
then stay in cache between im2col and the GEMM). Bias gradients are C loops too.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod
from typing import Any

import numpy as np
from mxlite.registry import Kernel, Params

from . import _blas
from ._blas import matmul
from ._lib import (
    ADD,
    FLOATS,
    NULL,
    contiguous_backward,
    contiguous_forward,
    ewise,
    func,
    iptr,
    lib,
    prepared,
    ptr,
    scratch,
    threads,
)

#: below this many window positions per sample, one GEMM covers the whole batch
MERGE_BELOW_CELLS = 256
#: in the batch-chunked path (numpy's BLAS found, see _blas), each thread's chunk of the batch
#: holds at most this many bytes of columns: half a core's L2 cache here, leaving room for the
#: chunk's image and GEMM output (LeNet, medians of 4 runs: 4.7k/8.8k samples/s on 1/2 threads
#: against 4.6k/6.4k with 1 MB and 4.1k/6.3k with 2 MB)
THREAD_CHUNK_BYTES = 1 << 19
#: chunks of the batch hold at most this many bytes of columns (about a core's L2 cache),
#: so that im2col writes, and the GEMMs then read, cached memory rather than main memory
#: (LeNet's training step: about 15% faster on one thread, 5-10% on two)
CACHE_CHUNK_BYTES = 2 << 20


def _spatial(value: tuple, nd: int, default: int) -> tuple[int, ...]:
    return tuple(value) if value else (default,) * nd


def _three(values: tuple[int, ...], fill: int) -> list[int]:
    return [fill] * (3 - len(values)) + list(values)


@dataclass
class _Plan:
    """One node's geometry at one input shape, and its C functions."""

    groups: int
    in_ch: int      # channels of the image the columns come from / fold onto
    kg: int         # rows of the columns per group: in_ch / groups * prod(kernel)
    cells: int      # columns per sample: window positions
    batch_major: bool
    chunks: list
    geom: np.ndarray
    gptr: Any
    fns: dict
    nt: int

    def columns(self, n: int, dtype: Any) -> np.ndarray:
        """Scratch for ``n`` samples' columns: (n, groups, kg, cells) when batch-major, else
        (groups, kg, n * cells)."""
        shape = (n, self.groups, self.kg, self.cells) if self.batch_major else \
            (self.groups, self.kg, n * self.cells)
        return scratch("ck_cols", shape, dtype)

    def unfold(self, image: np.ndarray, n: int) -> np.ndarray:
        """im2col of ``n`` samples into scratch."""
        cols = self.columns(n, image.dtype)
        self.fns["im2col"](ptr(image), ptr(cols), n, self.in_ch, self.gptr,
                           int(self.batch_major), self.nt)
        return cols

    def fold(self, cols: np.ndarray, image: np.ndarray, n: int) -> None:
        """col2im: ``image`` (``n`` samples) = the columns added back at their windows."""
        self.fns["col2im"](ptr(cols), ptr(image), n, self.in_ch, self.gptr,
                           int(self.batch_major), self.nt)

    def swap(self, src: np.ndarray, dst: np.ndarray, a: int, b: int, bias: Any = NULL) -> None:
        """``dst (b, a, cells) = src (a, b, cells)`` (+ bias[a])."""
        self.fns["swap01"](ptr(src), ptr(dst), bias, a, b, self.cells, self.nt)


def _plan(p: Params, image_sp: tuple, cells_sp: tuple, in_ch: int, batch: int, dtype: Any,
          pad: tuple[int, ...]) -> _Plan:
    nd = len(p.kernel)
    kernel = tuple(p.kernel)
    geom = np.array(_three(image_sp, 1) + _three(cells_sp, 1) + _three(kernel, 1)
                    + _three(_spatial(p.stride, nd, 1), 1) + _three(_spatial(p.dilate, nd, 1), 1)
                    + _three(pad, 0), np.int64)
    cells = prod(cells_sp)
    per_sample = max(1, in_ch * prod(kernel) * cells * np.dtype(dtype).itemsize)
    step = max(1, min(batch, min(p.workspace << 20, CACHE_CHUNK_BYTES) // per_sample))
    chunks = [(lo, min(lo + step, batch)) for lo in range(0, batch, step)]
    fns = {name: func(f"ck_{name}", dtype)
           for name in ("im2col", "col2im", "swap01", "channel_sum", "conv_fwd", "conv_bwd")}
    return _Plan(p.num_group, in_ch, in_ch // p.num_group * prod(kernel), cells,
                 cells >= MERGE_BELOW_CELLS, chunks, geom, iptr(geom), fns, threads())


def _bias_grad(plan: _Plan, dy: np.ndarray, db: np.ndarray | None) -> None:
    if db is not None:
        plan.fns["channel_sum"](ptr(dy), ptr(db), dy.shape[0], dy.shape[1],
                                dy.size // max(1, dy.shape[0] * dy.shape[1]), plan.nt)


def _add_bias(y: np.ndarray, bias: np.ndarray) -> None:
    ewise(ADD, y, y, bias.reshape(-1, *([1] * (y.ndim - 2))))


def _weight_grad(dw: np.ndarray, first: bool, a: np.ndarray, b: np.ndarray, nt: int) -> None:
    """``dw (=|+=) sum over samples of a @ b`` per group; a and b are (groups, x, y) for
    merged columns, or (n, groups, x, y) batch-major."""
    if a.ndim == 4:
        part = matmul(a, b, scratch("ck_wgrad_n", (a.shape[0], *dw.shape), dw.dtype), nt=nt)
        if first:
            np.sum(part, axis=0, out=dw)
        else:
            dw += part.sum(axis=0)
    elif dw.shape[-1] > dw.shape[-2]:
        # OpenBLAS runs (wide @ long) products with few output rows markedly slower than the
        # transposed product (b.T @ a.T, many rows): LeNet's conv2 takes 1.8 ms vs 1.3 ms
        part = matmul(b.swapaxes(-1, -2), a.swapaxes(-1, -2),
                      scratch("ck_wgrad", dw.shape[:-2] + dw.shape[:-3:-1], dw.dtype), nt=nt)
        if first:
            np.copyto(dw, part.swapaxes(-1, -2))
        else:
            dw += part.swapaxes(-1, -2)
    else:
        matmul(a, b, dw, accumulate=not first, nt=nt)


# -- Convolution -----------------------------------------------------------------------------
def _conv_plan(p: Params, x: np.ndarray, y: np.ndarray) -> _Plan:
    nd = len(p.kernel)
    return _plan(p, x.shape[2:], y.shape[2:], x.shape[1], x.shape[0], x.dtype,
                 _spatial(p.pad, nd, 0))


@dataclass
class _Chunks:
    """How ck_conv_fwd/ck_conv_bwd cut the batch: samples per chunk, runs of chunks with a
    weight-gradient partial each (backward), and per thread the elements of columns and of
    GEMM output in the workspace."""

    chunk: int
    runs: int
    cols_len: int
    tmp_len: int
    threads: int


#: weight-gradient partials per thread in the backward: the runs of chunks threads take in
#: turn, more than one each so that a thread slowed by other work takes fewer
RUNS_PER_THREAD = 4


def _chunks(p: Params, plan: _Plan, batch: int, filters: int, dtype: Any) -> _Chunks:
    """Chunks whose columns fit in ``THREAD_CHUNK_BYTES`` (and ``workspace``), as many as a
    multiple of the thread count, so that the threads get equal shares."""
    threads = plan.nt or lib.ck_max_threads()
    per_sample = plan.groups * plan.kg * plan.cells
    budget = max(1, min(p.workspace << 20, THREAD_CHUNK_BYTES))
    wanted = max(1, -(-batch * per_sample * np.dtype(dtype).itemsize // budget))
    count = min(batch, -(-wanted // threads) * threads)
    chunk = -(-batch // count)
    runs = 1 if threads == 1 else min(-(-batch // chunk), RUNS_PER_THREAD * threads)
    return _Chunks(chunk, runs, per_sample * chunk, filters * plan.cells * chunk, threads)


def _workspace(ch: _Chunks, dtype: Any) -> np.ndarray:
    return scratch("ck_conv_work", (ch.threads * (ch.cols_len + ch.tmp_len),), dtype)


@contiguous_forward
def _conv_forward(p: Params, ins: list, outs: list, aux: list, is_train: bool) -> None:
    x, w, y = ins[0], ins[1], outs[0]
    plan = prepared(p, ("conv", x.shape, x.dtype), lambda: _conv_plan(p, x, y))
    if _blas.AVAILABLE:  # the batch in chunks, a chunk per thread, all in C
        ch = prepared(p, ("chunks", x.shape, x.dtype),
                      lambda: _chunks(p, plan, x.shape[0], y.shape[1], x.dtype))
        plan.fns["conv_fwd"](ptr(x), ptr(w), NULL if p.no_bias else ptr(ins[2]), ptr(y),
                             ptr(_workspace(ch, x.dtype)), x.shape[0], x.shape[1], y.shape[1],
                             plan.groups, plan.gptr, int(plan.batch_major), ch.chunk, ch.cols_len,
                             ch.tmp_len, plan.nt)
        return
    g, filters = plan.groups, y.shape[1]
    wmat = w.reshape(g, filters // g, plan.kg)
    bias = NULL if p.no_bias or plan.batch_major else ptr(ins[2])
    for lo, hi in plan.chunks:
        n = hi - lo
        cols = plan.unfold(x[lo:hi], n)
        if plan.batch_major:
            matmul(wmat, cols, y[lo:hi].reshape(n, g, filters // g, plan.cells), nt=plan.nt)
            continue
        out = matmul(wmat, cols, scratch("ck_gemm", (g, filters // g, n * plan.cells), x.dtype),
                     nt=plan.nt)
        plan.swap(out, y[lo:hi], filters, n, bias)
    if plan.batch_major and not p.no_bias:
        _add_bias(y, ins[2])


@contiguous_backward
def _conv_backward(p: Params, out_grads: list, ins: list, outs: list, in_grads: list,
                   aux: list) -> None:
    x, w, dy = ins[0], ins[1], out_grads[0]
    dx, dw = in_grads[0], in_grads[1]
    plan = prepared(p, ("conv", x.shape, x.dtype), lambda: _conv_plan(p, x, dy))
    _bias_grad(plan, dy, None if p.no_bias else in_grads[2])
    if dx is None and dw is None:
        return
    if _blas.AVAILABLE:
        ch = prepared(p, ("chunks", x.shape, x.dtype),
                      lambda: _chunks(p, plan, x.shape[0], dy.shape[1], x.dtype))
        partials = None if dw is None else scratch("ck_conv_dwt", (ch.runs * w.size,), w.dtype)
        plan.fns["conv_bwd"](ptr(x), ptr(w), ptr(dy), ptr(dx), ptr(dw), ptr(partials),
                             ptr(_workspace(ch, x.dtype)), x.shape[0], x.shape[1], dy.shape[1],
                             plan.groups, plan.gptr, int(plan.batch_major), ch.chunk, ch.runs,
                             ch.cols_len, ch.tmp_len, plan.nt)
        return
    g, filters = plan.groups, dy.shape[1]
    wmat = w.reshape(g, filters // g, plan.kg)
    for i, (lo, hi) in enumerate(plan.chunks):
        n = hi - lo
        if plan.batch_major:
            dyv = dy[lo:hi].reshape(n, g, filters // g, plan.cells)
        else:
            dyv = scratch("ck_gemm", (g, filters // g, n * plan.cells), x.dtype)
            plan.swap(dy[lo:hi], dyv, n, filters)
        if dw is not None:
            cols = plan.unfold(x[lo:hi], n)
            _weight_grad(dw.reshape(wmat.shape), i == 0, dyv, cols.swapaxes(-1, -2), plan.nt)
        if dx is not None:
            cols = matmul(wmat.swapaxes(-1, -2), dyv, plan.columns(n, x.dtype), nt=plan.nt)
            plan.fold(cols, dx[lo:hi], n)


# -- Deconvolution ---------------------------------------------------------------------------
def _deconv_pad(p: Params, in_sp: tuple[int, ...]) -> tuple[int, ...]:
    """Padding per axis: ``pad``, or what ``target_shape`` implies where it is set."""
    nd = len(p.kernel)
    pad = list(_spatial(p.pad, nd, 0))
    target = _spatial(p.target_shape, nd, 0)
    stride, dilate = _spatial(p.stride, nd, 1), _spatial(p.dilate, nd, 1)
    for i in range(nd):
        if target[i] > 0:
            full = stride[i] * (in_sp[i] - 1) + dilate[i] * (p.kernel[i] - 1) + 1
            pad[i] = (full - target[i] + 1) // 2
    return tuple(pad)


def _deconv_plan(p: Params, x: np.ndarray, y: np.ndarray) -> _Plan:
    """The transposed convolution's columns come from (fold onto) the output ``y``."""
    return _plan(p, y.shape[2:], x.shape[2:], y.shape[1], x.shape[0], x.dtype,
                 _deconv_pad(p, x.shape[2:]))


def _per_group(plan: _Plan, x: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Samples lo:hi of ``x`` (n, channels, cells) as the GEMM operand (groups, channels/groups,
    cells) per sample (batch-major) or (groups, channels/groups, n * cells) (transposed)."""
    n, g, channels = hi - lo, plan.groups, x.shape[1]
    if plan.batch_major:
        return x[lo:hi].reshape(n, g, channels // g, plan.cells)
    xt = scratch("ck_xt", (g, channels // g, n * plan.cells), x.dtype)
    plan.swap(x[lo:hi], xt, n, channels)
    return xt


@contiguous_forward
def _deconv_forward(p: Params, ins: list, outs: list, aux: list, is_train: bool) -> None:
    x, w, y = ins[0], ins[1], outs[0]
    plan = prepared(p, ("deconv", x.shape, x.dtype), lambda: _deconv_plan(p, x, y))
    g, channels = plan.groups, x.shape[1]
    wmat = w.reshape(g, channels // g, plan.kg)
    for lo, hi in plan.chunks:
        n = hi - lo
        cols = matmul(wmat.swapaxes(-1, -2), _per_group(plan, x, lo, hi),
                      plan.columns(n, x.dtype), nt=plan.nt)
        plan.fold(cols, y[lo:hi], n)
    if not p.no_bias:
        _add_bias(y, ins[2])


@contiguous_backward
def _deconv_backward(p: Params, out_grads: list, ins: list, outs: list, in_grads: list,
                     aux: list) -> None:
    x, w, dy = ins[0], ins[1], out_grads[0]
    dx, dw = in_grads[0], in_grads[1]
    plan = prepared(p, ("deconv", x.shape, x.dtype), lambda: _deconv_plan(p, x, dy))
    _bias_grad(plan, dy, None if p.no_bias else in_grads[2])
    if dx is None and dw is None:
        return
    g, channels = plan.groups, x.shape[1]
    wmat = w.reshape(g, channels // g, plan.kg)
    for i, (lo, hi) in enumerate(plan.chunks):
        n = hi - lo
        cols = plan.unfold(dy[lo:hi], n)
        if dx is not None:
            if plan.batch_major:
                matmul(wmat, cols, dx[lo:hi].reshape(n, g, channels // g, plan.cells),
                       nt=plan.nt)
            else:
                out = matmul(wmat, cols, scratch("ck_gemm", (g, channels // g, n * plan.cells),
                                                 x.dtype), nt=plan.nt)
                plan.swap(out, dx[lo:hi], channels, n)
        if dw is not None:
            _weight_grad(dw.reshape(wmat.shape), i == 0, _per_group(plan, x, lo, hi),
                         cols.swapaxes(-1, -2), plan.nt)


def convolution(ref: Kernel) -> Kernel:
    return Kernel(_conv_forward, _conv_backward, FLOATS)


def deconvolution(ref: Kernel) -> Kernel:
    return Kernel(_deconv_forward, _deconv_backward, FLOATS)


KERNELS: dict[str, Any] = {"Convolution": convolution, "Deconvolution": deconvolution}

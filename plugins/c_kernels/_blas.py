"""GEMMs through numpy's own BLAS, called from C under the pack's OpenMP threads.

numpy runs its BLAS (OpenBLAS in the PyPI wheels) on a pool of threads of its own, which spin
for a while after each call. Between the pack's parallel loops and numpy's GEMMs, the two pools
then fight over the cores: on a 2-core machine LeNet's training step gained only 1.36x from a
second thread. ``matmul`` instead splits a GEMM (or a stack of them) over the pack's OpenMP
threads, each running a single-threaded piece through the same BLAS routine numpy uses, so one
pool does all the work, and its threads may wait for the next loop by spinning briefly (see
``_lib``).

The routines (``cblas_sgemm``/``cblas_dgemm`` and OpenBLAS's ``openblas_get/set_num_threads``)
are found by ``_openblas``. OpenBLAS built with pthreads, as numpy's wheels are, runs a call on
one thread only while its global thread count is 1: the C side sets it to 1 for the duration of
each of its GEMMs and puts it back. Where the routines are not found (another BLAS, another
platform, or ``MXLITE_C_BLAS=0``), ``AVAILABLE`` is False, ``UNAVAILABLE_REASON`` says why, and
``matmul`` is ``numpy.matmul``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from math import prod
from typing import Any

import numpy as np

from . import _openblas
from ._lib import ffi, func, lib, ptr, threads

__all__ = ["AVAILABLE", "UNAVAILABLE_REASON", "matmul", "bound_matmul"]


def _connect() -> str | None:
    """Hand the BLAS routines to the C side; None when done, else why not."""
    if _openblas.FOUND is None:
        return _openblas.REASON
    sgemm, dgemm, get_threads, set_threads, ilp64 = _openblas.FOUND
    lib.ck_set_blas(*(ffi.cast("void*", a) for a in (sgemm, dgemm, get_threads, set_threads)),
                    int(ilp64))
    return None


UNAVAILABLE_REASON: str | None = _connect()
AVAILABLE = UNAVAILABLE_REASON is None

#: GEMMs of fewer multiply-adds than this run on one thread (OpenBLAS's own threshold, and the
#: C side's CK_GEMM_PAR_MIN), and go to numpy.matmul
SERIAL_BELOW = lib.ck_gemm_parallel_min()
_CTYPE = {np.dtype(np.float32): "float *", np.dtype(np.float64): "double *"}
_GEMM = {dtype: func("ck_gemm", dtype) for dtype in _CTYPE}


def _pointer(a: np.ndarray) -> Any:
    if a.flags.c_contiguous:
        return ptr(a)
    if a.flags.f_contiguous:
        return ptr(a.T)  # the same first element
    return ffi.cast(_CTYPE[a.dtype], a.ctypes.data)


def _matrix(a: np.ndarray) -> tuple[int, int] | None:
    """(transposed, leading dimension) of the last two axes as a BLAS operand, or None."""
    size = a.itemsize
    rows, cols = a.shape[-2], a.shape[-1]
    rs, cs = a.strides[-2], a.strides[-1]
    if cs == size or cols == 1:  # row-major
        ld = rs // size if rows > 1 else cols
        if rs % size == 0 and ld >= max(1, cols):
            return 0, ld
    if rs == size or rows == 1:  # column-major: the transpose of a row-major matrix
        ld = cs // size if cols > 1 else rows
        if cs % size == 0 and ld >= max(1, rows):
            return 1, ld
    return None


def _batch_stride(a: np.ndarray, batch: tuple[int, ...]) -> int | None:
    """One element stride over the batch axes ``batch`` (0: the operand repeats), or None."""
    lead = a.shape[:-2]
    strides = [0] * (len(batch) - len(lead)) + [s // a.itemsize for s in a.strides[:-2]]
    dims = [1] * (len(batch) - len(lead)) + list(lead)
    pairs = [(0 if d == 1 else s, n) for s, d, n in zip(strides, dims, batch) if n != 1]
    if not pairs:
        return 0
    stride = pairs[-1][0]
    expect = stride
    for s, n in reversed(pairs):
        if s != expect:
            return None
        expect = s * n
    return stride


_LAYOUTS: dict[tuple, tuple | None] = {}


def _layout(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> tuple | None:
    key = (a.shape, a.strides, b.shape, b.strides, out.shape, out.strides, a.dtype)
    try:
        return _LAYOUTS[key]
    except KeyError:
        pass
    layout = None
    ma, mb, mo = _matrix(a), _matrix(b), _matrix(out)
    if out.dtype == a.dtype == b.dtype and a.dtype in _CTYPE and None not in (ma, mb, mo) \
            and mo[0] == 0 and a.ndim >= 2 and b.ndim >= 2 and out.ndim >= 2:
        batch = out.shape[:-2]
        strides = [_batch_stride(x, batch) for x in (a, b, out)]
        if None not in strides:
            m, k = a.shape[-2:]
            count, n = prod(batch), b.shape[-1]
            # the last field: small enough for numpy's own call, which OpenBLAS runs on the
            # calling thread below the same size, with less Python around it than ours
            layout = (ma[0], mb[0], count, m, n, k, ma[1], strides[0], mb[1], strides[1],
                      mo[1], strides[2], count * m * n * k < SERIAL_BELOW)
    if len(_LAYOUTS) > 4096:
        _LAYOUTS.clear()
    _LAYOUTS[key] = layout
    return layout


def _gemm_args(a: np.ndarray, b: np.ndarray, out: np.ndarray, accumulate: bool, nt: int | None
               ) -> tuple | None:
    """The C GEMM's arguments for ``out (+)= a @ b``; None when numpy is to do it (a layout
    BLAS cannot take, a small product, an output overlapping an operand, an empty one)."""
    layout = _layout(a, b, out) if AVAILABLE else None
    if layout is None or layout[-1] or 0 in out.shape or a.shape[-1] == 0 \
            or np.may_share_memory(out, a) or np.may_share_memory(out, b):  # BLAS needs apart
        return None
    ta, tb, count, m, n, k, lda, sa, ldb, sb, ldc, sc, _ = layout
    return (ta, tb, count, m, n, k, _pointer(a), lda, sa, _pointer(b), ldb, sb,
            1.0 if accumulate else 0.0, _pointer(out), ldc, sc, threads() if nt is None else nt)


def _numpy_matmul(a: np.ndarray, b: np.ndarray, out: np.ndarray, accumulate: bool) -> None:
    if accumulate:
        out += np.matmul(a, b)
    else:
        np.matmul(a, b, out=out)


def matmul(a: np.ndarray, b: np.ndarray, out: np.ndarray, accumulate: bool = False,
           nt: int | None = None) -> np.ndarray:
    """``out = a @ b`` (``out += a @ b`` with ``accumulate``), with numpy's broadcasting of
    the leading axes; through the threaded BLAS path when the layouts allow and ``out`` shares
    no memory with ``a`` or ``b``, else numpy.
    ``nt``: threads (0 follows OMP_NUM_THREADS); hot paths pass the count they prepared,
    None reads the ``c_kernels.num_threads`` setting (a few microseconds)."""
    args = _gemm_args(a, b, out, accumulate, nt)
    if args is None:
        _numpy_matmul(a, b, out, accumulate)
    else:
        _GEMM[a.dtype](*args)
    return out


def bound_matmul(a: np.ndarray, b: np.ndarray, out: np.ndarray, nt: int,
                 accumulate: bool = False) -> Callable[[], Any]:
    """``matmul(a, b, out, accumulate, nt)`` for arrays fixed from now on (a bound executor's):
    the choice of path, the layout and the pointers are worked out here, once; the returned
    call does the product."""
    args = _gemm_args(a, b, out, accumulate, nt)
    if args is None:
        return partial(_numpy_matmul, a, b, out, accumulate)
    return partial(_GEMM[a.dtype], *args)

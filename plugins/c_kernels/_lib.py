"""The compiled module and what every kernel wrapper shares: pointers, thread count, per-node
prepared calls, scratch buffers, and the copy-in/copy-out of non-contiguous arrays.

Importing this module raises ImportError when the pack was not built.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Callable, Sequence
from functools import partial, wraps
from math import prod
from typing import Any

import numpy as np
from mxlite import config
from mxlite.base import MXNetValueError
from mxlite.registry import Kernel


def _import_compiled():  # type: ignore[no-untyped-def]
    """The compiled module, its OpenMP threads told how to wait between loops.

    When the pack runs its GEMMs itself (numpy's OpenBLAS found, see ``_blas``), its OpenMP
    threads are the only busy ones: they keep GNU OpenMP's default, spinning a little while
    (GOMP_SPINCOUNT's 300k rounds, well under a millisecond) before they sleep, so the next
    loop starts at once. Otherwise numpy's BLAS threads run between our loops, and threads
    spinning beside them take the cores those need: ``OMP_WAIT_POLICY=PASSIVE`` is set while
    the OpenMP runtime loads (it reads the environment then) and removed again. A wait policy
    the user chose is kept either way.
    """
    from ._openblas import FOUND
    if FOUND is not None or "OMP_WAIT_POLICY" in os.environ or "GOMP_SPINCOUNT" in os.environ:
        from . import _ckernels
        return _ckernels
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    try:
        from . import _ckernels
    finally:
        del os.environ["OMP_WAIT_POLICY"]
    return _ckernels


_compiled = _import_compiled()
ffi, lib = _compiled.ffi, _compiled.lib

__all__ = ["FLOATS", "NULL", "ffi", "lib", "func", "ptr", "iptr", "threads", "prepared",
           "scratch", "contiguous_forward", "contiguous_backward", "sequence", "kernel_from_bound",
           "ewise", "reduce_into"]

FLOATS = frozenset({np.dtype(np.float32), np.dtype(np.float64)})
NULL = ffi.NULL
_SUFFIX = {np.dtype(np.float32): "f32", np.dtype(np.float64): "f64"}
_CTYPE = {np.dtype(np.float32): "float[]", np.dtype(np.float64): "double[]"}
THREADS_KEY = "c_kernels.num_threads"


def func(name: str, dtype: Any) -> Callable[..., Any]:
    """The C kernel ``name`` for ``dtype`` (float32 or float64)."""
    return getattr(lib, f"{name}_{_SUFFIX[np.dtype(dtype)]}")


def ptr(a: np.ndarray | None) -> Any:
    """A pointer to a C-contiguous float array's data (NULL for None)."""
    return NULL if a is None else ffi.from_buffer(_CTYPE[a.dtype], a)


def iptr(a: np.ndarray) -> Any:
    return ffi.from_buffer("int64_t[]", a)


def threads() -> int:
    """``c_kernels.num_threads``: threads per parallel loop, 0 = follow OMP_NUM_THREADS."""
    value = config.get(THREADS_KEY)
    try:
        count = int(value)
    except (TypeError, ValueError):
        count = -1
    if count < 0 or isinstance(value, bool):
        raise MXNetValueError(f"{THREADS_KEY} must be a non-negative integer (0 = follow "
                              f"OMP_NUM_THREADS), got {value!r}")
    return count


# -- per-node prepared calls -------------------------------------------------------------------
_PREPARED: dict[int, dict] = {}


def prepared(p: Any, key: Any, build: Callable[[], Any]) -> Any:
    """What ``build()`` returns for node parameters ``p`` and ``key`` (shapes, dtype), built
    on the node's first call at that key (after bind) and kept while ``p`` lives.

    Geometry, C function pointers and the thread count are read here, not per call.
    """
    slot = _PREPARED.get(id(p))
    if slot is None:
        try:
            weakref.finalize(p, _PREPARED.pop, id(p), None)
        except TypeError:  # parameters that cannot be weakly referenced: nothing is kept
            return build()
        slot = _PREPARED[id(p)] = {}
    try:
        return slot[key]
    except KeyError:
        value = slot[key] = build()
        return value


def reset_prepared() -> None:
    """Forget every prepared call (a new ``c_kernels.num_threads`` then applies at once)."""
    for slot in _PREPARED.values():
        slot.clear()
    _EWISE.clear()


# -- scratch -----------------------------------------------------------------------------------
class _Scratch(threading.local):
    def __init__(self) -> None:
        self.buffers: dict[str, np.ndarray] = {}


_SCRATCH = _Scratch()


def scratch(slot: str, shape: Sequence[int], dtype: Any) -> np.ndarray:
    """A C-contiguous work array with undefined contents, reused by this thread's next request
    for ``slot``: a kernel must not keep it past its own call."""
    dtype = np.dtype(dtype)
    nbytes = prod(shape) * dtype.itemsize
    buf = _SCRATCH.buffers.get(slot)
    if buf is None or buf.size < nbytes:
        buf = _SCRATCH.buffers[slot] = np.empty(max(nbytes, 64), np.uint8)
    return buf[:nbytes].view(dtype).reshape(shape)


# -- non-contiguous arrays ---------------------------------------------------------------------
def _all_c(arrays: Sequence[Any]) -> bool:
    return all(a is None or a.flags.c_contiguous for a in arrays)


def _copy_of(a: Any) -> Any:
    return a if a is None or a.flags.c_contiguous else np.ascontiguousarray(a)


def _buffer_for(a: Any) -> Any:
    return a if a is None or a.flags.c_contiguous else np.empty(a.shape, a.dtype)


def _write_back(targets: Sequence[Any], buffers: Sequence[Any]) -> None:
    for target, buf in zip(targets, buffers):
        if buf is not target:
            np.copyto(target, buf)


def contiguous_forward(fn: Callable[..., None]) -> Callable[..., None]:
    """Run a forward kernel on C-contiguous arrays: copies in, and out again when needed."""
    @wraps(fn)
    def forward(p: Any, ins: list, outs: list, aux: list, is_train: bool) -> None:
        if _all_c(ins) and _all_c(outs) and _all_c(aux):
            fn(p, ins, outs, aux, is_train)
            return
        c_outs, c_aux = [_buffer_for(a) for a in outs], [_copy_of(a) for a in aux]
        fn(p, [_copy_of(a) for a in ins], c_outs, c_aux, is_train)
        _write_back(outs, c_outs)
        _write_back(aux, c_aux)
    return forward


def contiguous_backward(fn: Callable[..., None]) -> Callable[..., None]:
    """Run a backward kernel on C-contiguous arrays (gradients written back when copied)."""
    @wraps(fn)
    def backward(p: Any, out_grads: list, ins: list, outs: list, in_grads: list,
                 aux: list) -> None:
        groups = (out_grads, ins, outs, in_grads, aux)
        if all(_all_c(g) for g in groups):
            fn(p, out_grads, ins, outs, in_grads, aux)
            return
        c_grads = [_buffer_for(a) for a in in_grads]
        c_aux = [_copy_of(a) for a in aux]
        fn(p, [_copy_of(a) for a in out_grads], [_copy_of(a) for a in ins],
           [_copy_of(a) for a in outs], c_grads, c_aux)
        _write_back([g for g in in_grads if g is not None], [g for g in c_grads if g is not None])
        _write_back(aux, c_aux)
    return backward


# -- kernels bound at bind -------------------------------------------------------------------------
def sequence(calls: Sequence[Callable[[], Any]]) -> Callable[..., None]:
    """One call making each of ``calls`` in turn (arguments, such as ``is_train``, ignored)."""
    calls = tuple(calls)

    def run(*_: Any) -> None:
        for call in calls:
            call()
    return run


def kernel_from_bound(bound_forward: Callable[..., Callable], bound_backward: Callable[..., Callable],
                      dtypes: frozenset = FLOATS) -> Kernel:
    """A ``Kernel`` whose every path runs the same code: ``bound_forward(p, ins, outs, aux)``
    and ``bound_backward(p, out_grads, ins, outs, in_grads, aux)`` take C-contiguous arrays and
    return the call doing the work. An executor binds them once (pointers and views made at
    bind); imperative calls, and arrays that are not C-contiguous, bind per call."""
    @contiguous_forward
    def forward(p: Any, ins: list, outs: list, aux: list, is_train: bool) -> None:
        bound_forward(p, ins, outs, aux)(is_train)

    @contiguous_backward
    def backward(p: Any, out_grads: list, ins: list, outs: list, in_grads: list,
                 aux: list) -> None:
        bound_backward(p, out_grads, ins, outs, in_grads, aux)()

    def bind_forward(p: Any, ins: list, outs: list, aux: list) -> Callable:
        if _all_c(ins) and _all_c(outs) and _all_c(aux):
            return bound_forward(p, ins, outs, aux)
        return partial(forward, p, ins, outs, aux)

    def bind_backward(p: Any, out_grads: list, ins: list, outs: list, in_grads: list,
                      aux: list) -> Callable:
        if all(_all_c(g) for g in (out_grads, ins, outs, in_grads, aux)):
            return bound_backward(p, out_grads, ins, outs, in_grads, aux)
        return partial(backward, p, out_grads, ins, outs, in_grads, aux)

    return Kernel(forward, backward, dtypes, bind_forward, bind_backward)


# -- broadcast element-wise calls ------------------------------------------------------------------
#: ck_ewise operation codes
ADD, SUB, MUL, DIV, MAX, MIN, NEG, COPY, DIVR_GRAD, GE_MUL, LT_MUL, LE_MUL, GT_MUL, EQ_MUL, \
    SCALE = range(15)

_EWISE: dict[tuple, tuple] = {}
_EWISE_LIMIT = 1024


def _strides(shape: tuple[int, ...], out: tuple[int, ...]) -> list[int]:
    """Element strides of a C-contiguous ``shape`` read at every index of ``out`` (0 where it
    is broadcast); ``shape`` is aligned to ``out`` from the right."""
    padded = (1,) * (len(out) - len(shape)) + tuple(shape)
    strides, step = [0] * len(out), 1
    for axis in range(len(out) - 1, -1, -1):
        if padded[axis] != 1:
            strides[axis] = step
        step *= padded[axis]
    return strides


def _collapse(out: tuple[int, ...], strides: list[list[int]]) -> tuple[list[int], list[list[int]]]:
    """Drop size-1 axes and merge neighbours every operand walks contiguously."""
    keep = [i for i, n in enumerate(out) if n != 1]
    shape = [out[i] for i in keep]
    cols = [[s[i] for i in keep] for s in strides]
    i = len(shape) - 2
    while i >= 0:
        if all(s[i] == s[i + 1] * shape[i + 1] for s in cols):
            shape[i] *= shape[i + 1]
            del shape[i + 1]
            for s in cols:
                s[i] = s.pop(i + 1)
        i -= 1
    return shape or [1], [s or [1] for s in cols]


def _ewise_plan(key: tuple) -> tuple:
    out_shape, shapes = key[1], key[2]
    shape, strides = _collapse(out_shape, [_strides(s, out_shape) for s in shapes if s is not None])
    arrays = [np.array(shape, np.int64)] + [np.array(s, np.int64) for s in strides]
    arrays += [arrays[1]] * (4 - len(arrays))  # unused operands: any valid pointer
    return (len(shape), arrays, [iptr(a) for a in arrays], func("ck_ewise", key[3]), threads())


def ewise(op: int, out: np.ndarray, a: np.ndarray, b: np.ndarray | None = None,
          c: np.ndarray | None = None, scalar: float = 0.0) -> None:
    """``out = op(a, b, c)`` with numpy broadcasting of the C-contiguous operands."""
    key = (op, out.shape, (a.shape, None if b is None else b.shape, None if c is None else c.shape),
           out.dtype)
    plan = _EWISE.get(key)
    if plan is None:
        if len(_EWISE) >= _EWISE_LIMIT:
            _EWISE.clear()
        plan = _EWISE[key] = _ewise_plan(key)
    ndim, _, p, fn, nt = plan
    if out.size:
        fn(op, ptr(a), ptr(b), ptr(c), ptr(out), ndim, p[0], p[1], p[2], p[3], scalar, nt)


# -- reductions --------------------------------------------------------------------------------------
def reduce_blocks(shape: tuple[int, ...], axes: Sequence[int]) -> list[tuple[int, bool]]:
    """``shape`` as alternating (size, reduced) blocks: size-1 axes dropped, neighbours of
    the same kind merged."""
    blocks: list[tuple[int, bool]] = []
    for axis, size in enumerate(shape):
        if size == 1:
            continue
        flag = axis in axes
        if blocks and blocks[-1][1] == flag:
            blocks[-1] = (blocks[-1][0] * size, flag)
        else:
            blocks.append((size, flag))
    return blocks


def reduce_into(x: np.ndarray, axes: Sequence[int], y: np.ndarray, op: int, nt: int) -> None:
    """``y`` (x's size without ``axes``) = sum (op 0), max (1) or min (2) of C-contiguous
    ``x`` over ``axes``: one C pass per block of reduced axes, the last block first."""
    blocks = reduce_blocks(x.shape, axes)
    fn = func("ck_reduce", x.dtype)
    if not any(flag for _, flag in blocks):
        np.copyto(y.reshape(-1), x.reshape(-1))
        return
    src, turn = x, 0
    while True:
        last = max(i for i, (_, flag) in enumerate(blocks) if flag)
        before = prod(n for n, _ in blocks[:last])
        after = prod(n for n, _ in blocks[last + 1:])
        blocks = blocks[:last] + blocks[last + 1:]
        done = not any(flag for _, flag in blocks)
        dst = y if done else scratch(f"reduce{turn}", (before * after,), x.dtype)
        fn(ptr(src), ptr(dst), before, src.size // max(1, before * after), after, op, nt)
        if done:
            return
        src, turn = dst, 1 - turn
        blocks = _merge(blocks)


def _merge(blocks: list[tuple[int, bool]]) -> list[tuple[int, bool]]:
    merged: list[tuple[int, bool]] = []
    for size, flag in blocks:
        if merged and merged[-1][1] == flag:
            merged[-1] = (merged[-1][0] * size, flag)
        else:
            merged.append((size, flag))
    return merged

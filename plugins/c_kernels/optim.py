"""Fused optimizer updates for ``mx.optimizer`` when the "c" backend is active.

``sgd_update`` and ``adam_update`` compute exactly what ``mxlite.optimizer.SGD.update`` and
``Adam.update`` compute (same float32 rounding of the hyper-parameters, same order of
operations in the weight's dtype, no fused multiply-add), in one parallel pass over the weight
instead of several numpy calls and temporaries. Each returns False, having done nothing, when
it cannot run (a dtype other than float32/float64, non-contiguous or mismatched arrays); the
optimizer then runs its numpy code.

The plugin registers the factories ``sgd`` and ``adam`` with
``registry.add_update_kernel("sgd"/"adam", "c", ...)``; ``Optimizer.fused_update`` calls one
when it first updates with "c" before numpy in ``backends.order``, which reads the thread count
then, once, not per update.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np

from ._lib import FLOATS, NULL, func, ptr, threads

__all__ = ["sgd_update", "adam_update", "sgd", "adam"]


_SGD = {dtype: func("ck_sgd_update", dtype) for dtype in FLOATS}
_ADAM = {dtype: func("ck_adam_update", dtype) for dtype in FLOATS}


def _usable(first: np.ndarray, *others: np.ndarray | None) -> bool:
    """float32/float64 C-contiguous writeable arrays of one dtype and shape."""
    if type(first) is not np.ndarray or first.dtype not in FLOATS:
        return False
    flags = first.flags
    if not (flags.c_contiguous and flags.writeable):
        return False
    dtype, shape = first.dtype, first.shape
    return all(a is None or (type(a) is np.ndarray and a.dtype == dtype and a.shape == shape
                             and a.flags.c_contiguous) for a in others)


# The C kernels take the hyper-parameters as C floats: cffi rounds each Python float to float32
# exactly as ``np.float32(value)`` does (the rounding the optimizer's numpy code applies), and
# the float64 kernels widen them again.
def sgd_update(weight: np.ndarray, grad: np.ndarray, mom: np.ndarray | None, lr: float,
               wd: float, rescale_grad: float, clip_gradient: float | None,
               momentum: float, nt: int | None = None) -> bool:
    """``weight`` (and ``mom``) updated in place as ``SGD.update`` does; ``clip_gradient``
    None (or <= 0) means no clipping, ``mom`` None means no momentum; ``nt`` threads (None:
    the ``c_kernels.num_threads`` setting)."""
    if not _usable(weight, grad, mom):
        return False
    clip = clip_gradient if clip_gradient is not None and clip_gradient > 0 else -1.0
    _SGD[weight.dtype](ptr(weight), ptr(grad), NULL if mom is None else ptr(mom), weight.size,
                       lr, wd, rescale_grad, clip, momentum, threads() if nt is None else nt)
    return True


def adam_update(weight: np.ndarray, grad: np.ndarray, mean: np.ndarray, var: np.ndarray,
                lr: float, wd: float, rescale_grad: float, clip_gradient: float | None,
                beta1: float, beta2: float, epsilon: float, nt: int | None = None) -> bool:
    """``weight``, ``mean`` and ``var`` updated in place as ``Adam.update`` does, with ``lr``
    already bias-corrected (``lr * sqrt(1 - beta2**t) / (1 - beta1**t)``)."""
    if not _usable(weight, grad, mean, var):
        return False
    clip = clip_gradient if clip_gradient is not None and clip_gradient > 0 else -1.0
    _ADAM[weight.dtype](ptr(weight), ptr(grad), ptr(mean), ptr(var), weight.size, lr, wd,
                        rescale_grad, clip, beta1, beta2, epsilon,
                        threads() if nt is None else nt)
    return True


def sgd() -> Callable[..., bool]:
    """``sgd_update`` with the thread setting in force now."""
    return partial(sgd_update, nt=threads())


def adam() -> Callable[..., bool]:
    """``adam_update`` with the thread setting in force now."""
    return partial(adam_update, nt=threads())

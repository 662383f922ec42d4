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


def _usable(*arrays: np.ndarray | None) -> bool:
    first = arrays[0]
    if first is None or first.dtype not in FLOATS:
        return False
    return all(a is None or (isinstance(a, np.ndarray) and a.dtype == first.dtype
                             and a.shape == first.shape and a.flags.c_contiguous)
               for a in arrays)


def _f32(value: float) -> float:
    """A hyper-parameter as the optimizer's kernels see it: rounded to float32."""
    return float(np.float32(value))


def sgd_update(weight: np.ndarray, grad: np.ndarray, mom: np.ndarray | None, lr: float,
               wd: float, rescale_grad: float, clip_gradient: float | None,
               momentum: float, nt: int | None = None) -> bool:
    """``weight`` (and ``mom``) updated in place as ``SGD.update`` does; ``clip_gradient``
    None (or <= 0) means no clipping, ``mom`` None means no momentum; ``nt`` threads (None:
    the ``c_kernels.num_threads`` setting)."""
    if not _usable(weight, grad, mom) or not weight.flags.writeable:
        return False
    clip = _f32(clip_gradient) if clip_gradient is not None and clip_gradient > 0 else -1.0
    func("ck_sgd_update", weight.dtype)(
        ptr(weight), ptr(grad), NULL if mom is None else ptr(mom), weight.size, _f32(lr),
        _f32(wd), _f32(rescale_grad), clip, _f32(momentum), threads() if nt is None else nt)
    return True


def adam_update(weight: np.ndarray, grad: np.ndarray, mean: np.ndarray, var: np.ndarray,
                lr: float, wd: float, rescale_grad: float, clip_gradient: float | None,
                beta1: float, beta2: float, epsilon: float, nt: int | None = None) -> bool:
    """``weight``, ``mean`` and ``var`` updated in place as ``Adam.update`` does, with ``lr``
    already bias-corrected (``lr * sqrt(1 - beta2**t) / (1 - beta1**t)``)."""
    if not _usable(weight, grad, mean, var) or not weight.flags.writeable:
        return False
    clip = _f32(clip_gradient) if clip_gradient is not None and clip_gradient > 0 else -1.0
    func("ck_adam_update", weight.dtype)(
        ptr(weight), ptr(grad), ptr(mean), ptr(var), weight.size, _f32(lr), _f32(wd),
        _f32(rescale_grad), clip, _f32(beta1), _f32(beta2), _f32(epsilon),
        threads() if nt is None else nt)
    return True


def sgd() -> Callable[..., bool]:
    """``sgd_update`` with the thread setting in force now."""
    return partial(sgd_update, nt=threads())


def adam() -> Callable[..., bool]:
    """``adam_update`` with the thread setting in force now."""
    return partial(adam_update, nt=threads())

"""``mx.optimizer``: MXNet 1.x's optimizers, updating weight NDArrays in place.

Every update follows MXNet 1.9.1's formula and float32 operation order, so a step gives the
same numbers, bit for bit, as MXNet's ``sgd_update``/``adam_update``/... kernels. As in MXNet,
the fused-kernel optimizers (SGD, NAG, Adam, RMSProp, Signum, FTML) see hyper-parameters as
float32 values cast to the weight's dtype; the others (AdaGrad, AdaDelta, Adamax, Nadam) use
NDArray-scalar arithmetic, casting each Python float to the weight's dtype.

Where gradient clipping sits: SGD, NAG, Signum and AdaGrad clip ``rescale_grad * grad`` and
add weight decay afterwards; Adam, RMSProp, FTML, Adamax and Nadam clip
``rescale_grad * grad + wd * weight``. As in MXNet, ``clip_gradient=0`` (or negative) turns
clipping off for the fused-kernel optimizers, while the others clip whenever it is not None.

One deliberate difference: MXNet 1.9.1 creates AdaGrad's, RMSProp's and AdaDelta's states as
float32 whatever the weight's dtype (float64 weights then fail in RMSProp); here every state
has the weight's dtype. Sparse (``row_sparse``) updates do not exist in mxlite.
"""

from __future__ import annotations

import inspect
import logging
import math
import os
import pickle
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .base import MXNetError, MXNetTypeError, MXNetValueError, suggest
from .ndarray.ndarray import NDArray

__all__ = ["Optimizer", "SGD", "NAG", "Adam", "AdaGrad", "RMSProp", "Signum", "FTML", "AdaDelta",
           "Adamax", "Nadam", "Test", "ccSGD", "Updater", "create", "register", "get_updater"]


class LRSchedulerDefinedError(MXNetError, UserWarning):
    """``set_learning_rate`` on an optimizer driven by a scheduler (MXNet raises UserWarning)."""


class Optimizer:
    """The base class: learning-rate and weight-decay bookkeeping shared by every optimizer.

    ``param_idx2name`` maps parameter indices to names; when known, parameters whose names do
    not end in ``_weight`` or ``_gamma`` get no weight decay (``wd_mult`` 0), as in MXNet.
    ``sym`` supplies ``lr_mult``/``wd_mult`` from its Variables' ``__lr_mult__``/``__wd_mult__``.
    """

    opt_registry: dict[str, type["Optimizer"]] = {}

    def __init__(self, rescale_grad: float = 1.0, param_idx2name: dict | None = None,
                 wd: float = 0.0, clip_gradient: float | None = None,
                 learning_rate: float | None = None, lr_scheduler: Any = None, sym: Any = None,
                 begin_num_update: int = 0, multi_precision: bool = False,
                 param_dict: dict | None = None) -> None:
        self.rescale_grad = rescale_grad
        self.lr_scheduler = lr_scheduler
        if lr_scheduler is not None and learning_rate is not None \
                and lr_scheduler.base_lr != learning_rate:
            logging.warning("learning rate from ``lr_scheduler`` has been overwritten by "
                            "``learning_rate`` in optimizer.")
            lr_scheduler.base_lr = learning_rate
        self.lr = 0.01 if learning_rate is None else learning_rate
        self.wd = wd
        self.lr_mult: dict = {}
        self.wd_mult: dict = {}
        self.begin_num_update = begin_num_update
        self.num_update = begin_num_update
        self._all_index_update_counts: dict = {0: {}}
        self._index_update_count: dict = self._all_index_update_counts[0]
        self.clip_gradient = clip_gradient
        self.multi_precision = multi_precision
        self.aggregate_num = 0
        param_idx2name = {} if param_idx2name is None else param_idx2name
        if not isinstance(param_idx2name, dict):
            raise MXNetTypeError(f"param_idx2name should be a dict of param indexes to names, "
                                 f"got {type(param_idx2name).__name__}")
        self.idx2name = param_idx2name.copy()
        self.sym_info = (sym.attr_dict(), sym.list_arguments()) if sym is not None else ()
        self.param_dict = param_dict if param_dict else {}
        self.allow_np_array = False
        self.set_lr_mult({})
        self.set_wd_mult({})

    # -- registry ----------------------------------------------------------------------
    @staticmethod
    def register(klass: type) -> type:
        """Class decorator: make ``klass`` available to ``create`` under its lower-cased name."""
        if not isinstance(klass, type):
            raise MXNetTypeError(f"Optimizer.register expects a class, got {klass!r}")
        name = klass.__name__.lower()
        old = Optimizer.opt_registry.get(name)
        if old is not None and old is not klass:
            warnings.warn(f"WARNING: New optimizer {klass.__module__}.{klass.__name__} is "
                          f"overriding existing optimizer {old.__module__}.{old.__name__}",
                          stacklevel=2)
        Optimizer.opt_registry[name] = klass
        return klass

    @staticmethod
    def create_optimizer(name: str, **kwargs: Any) -> "Optimizer":
        """An instance of the optimizer registered as ``name`` (case-insensitive)."""
        if not isinstance(name, str):
            raise MXNetTypeError(f"optimizer name must be a string, got {type(name).__name__}")
        klass = Optimizer.opt_registry.get(name.lower())
        if klass is None:
            valid = sorted(Optimizer.opt_registry)
            raise MXNetValueError(f"Cannot find optimizer {name!r}; valid names are {valid}."
                                  f"{suggest(name.lower(), valid)}")
        if klass.__module__ == __name__:  # a user class may read **kwargs itself
            _check_kwargs(klass, kwargs)
        return klass(**kwargs)

    # -- state -------------------------------------------------------------------------
    def create_state(self, index: Any, weight: NDArray) -> Any:
        """The auxiliary state (momentum, moments...) kept for one weight; None when stateless."""
        return None

    def create_state_multi_precision(self, index: Any, weight: NDArray) -> Any:
        """``create_state``, plus a float32 master copy of a float16 weight with multi_precision."""
        if self._uses_master_copy(weight):
            master = weight.astype(np.float32)
            return (master, self.create_state(index, master))
        if weight.dtype == np.float16 and not self.multi_precision:
            warnings.warn("Accumulating with float16 in optimizer can lead to poor accuracy or "
                          "slow convergence. Consider using multi_precision=True option of the "
                          f"{type(self).__name__} optimizer", stacklevel=2)
        return self.create_state(index, weight)

    def update(self, index: Any, weight: NDArray, grad: NDArray, state: Any) -> None:
        raise NotImplementedError(f"{type(self).__name__}.update is not implemented")

    def update_multi_precision(self, index: Any, weight: NDArray, grad: NDArray,
                               state: Any) -> None:
        """``update``, through the float32 master copy for float16 weights with multi_precision."""
        if self._uses_master_copy(weight):
            master, inner = state
            self.update(index, master, grad.astype(np.float32), inner)
            np.copyto(weight._data, master._data, casting="unsafe")
        else:
            self.update(index, weight, grad, state)

    def _uses_master_copy(self, weight: NDArray) -> bool:
        return bool(self.multi_precision) and weight.dtype == np.float16

    # -- learning rate and weight decay --------------------------------------------------
    @property
    def learning_rate(self) -> float:
        if self.lr_scheduler is not None:
            return self.lr_scheduler(self.num_update)
        return self.lr

    def set_learning_rate(self, lr: float) -> None:
        """Set the base learning rate; not allowed when an ``lr_scheduler`` drives it."""
        if self.lr_scheduler is not None:
            raise LRSchedulerDefinedError(
                "LRScheduler of the optimizer has already been defined. Note that "
                "set_learning_rate can mutate the value of the learning rate of the optimizer "
                "only when the LRScheduler of the optimizer is undefined.")
        self.lr = lr

    def set_lr_scale(self, args_lrscale: dict) -> None:
        raise DeprecationWarning("set_lr_scale is deprecated; use set_lr_mult instead")

    def set_lr_mult(self, args_lr_mult: dict) -> None:
        """Per-parameter learning-rate multipliers (by name or index), over the symbol's."""
        self.lr_mult = self._sym_mults("__lr_mult__")
        self.lr_mult.update(args_lr_mult)

    def set_wd_mult(self, args_wd_mult: dict) -> None:
        """Per-parameter weight-decay multipliers. Names not ending in ``_weight``/``_gamma``
        get 0 first; the symbol's ``__wd_mult__`` and ``args_wd_mult`` then override."""
        self.wd_mult = {name: 0.0 for name in self.idx2name.values()
                        if not (name.endswith("_weight") or name.endswith("_gamma"))}
        self.wd_mult.update(self._sym_mults("__wd_mult__"))
        self.wd_mult.update(args_wd_mult)

    def _sym_mults(self, key: str) -> dict:
        if not self.sym_info:
            return {}
        attrs, arg_names = self.sym_info
        return {name: float(attrs[name][key]) for name in arg_names
                if name in attrs and key in attrs[name]}

    def _set_current_context(self, device_id: int) -> None:
        self._index_update_count = self._all_index_update_counts.setdefault(device_id, {})

    def _update_count(self, index: Any) -> None:
        """Count one more update of ``index`` (or of each index in a list)."""
        for idx in index if isinstance(index, (list, tuple)) else [index]:
            count = self._index_update_count.get(idx, self.begin_num_update) + 1
            self._index_update_count[idx] = count
            self.num_update = max(count, self.num_update)

    def _get_lrs(self, indices: Sequence) -> list[float]:
        base = self.lr_scheduler(self.num_update) if self.lr_scheduler is not None else self.lr
        return [base * self._mult(index, self.lr_mult, "lr_mult") for index in indices]

    def _get_wds(self, indices: Sequence) -> list[float]:
        return [self.wd * self._mult(index, self.wd_mult, "wd_mult") for index in indices]

    def _get_lr(self, index: Any) -> float:
        return self._get_lrs([index])[0]

    def _get_wd(self, index: Any) -> float:
        return self._get_wds([index])[0]

    def _mult(self, index: Any, table: dict, attr: str) -> float:
        if index in self.param_dict:
            return getattr(self.param_dict[index], attr)
        if index in table:
            return table[index]
        if index in self.idx2name:
            return table.get(self.idx2name[index], 1.0)
        return 1.0

    def _step(self, index: Any, weight: NDArray, grad: NDArray) -> tuple[float, float]:
        """Check the arrays, count the update and return ``(lr, wd)`` for ``index``."""
        _check_pair(weight, grad)
        self._update_count(index)
        return self._get_lr(index), self._get_wd(index)

    def fused_update(self, kind: str) -> Callable[..., bool] | None:
        """The fused update a backend plugin registered for ``kind`` (``"sgd"``, ``"adam"``),
        looked up once per optimizer, at its first update, along ``backends.order``; None
        when no backend in the order has one. It updates the numpy arrays in place and
        returns True, or returns False having done nothing (a dtype or layout it does not
        take): the numpy code then runs. Arguments: see ``SGD.update`` and ``Adam.update``."""
        cache = self.__dict__.setdefault("_fused", {})
        if kind not in cache:
            from . import config
            from .registry import get_registry
            cache[kind] = get_registry().update_kernel(kind, config.backend_order())
        return cache[kind]

    def _kernel_clip(self) -> float | None:
        """The clip bound MXNet's fused kernels apply: None when off (None, 0 or negative)."""
        clip = self.clip_gradient
        return float(clip) if clip and clip > 0 else None

    # -- pickling ------------------------------------------------------------------------
    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state.pop("param_dict", None)
        state.pop("_fused", None)  # looked up again where the optimizer is unpickled
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__ = state
        self.param_dict = {}


def _check_kwargs(klass: type, kwargs: dict) -> None:
    """Reject unknown keyword arguments with the list of the accepted ones."""
    accepted: set[str] = set()
    for cls in klass.__mro__:
        init = cls.__dict__.get("__init__")
        if init is None:
            continue
        params = list(inspect.signature(init).parameters.values())
        accepted.update(p.name for p in params
                        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY))
        if cls is Optimizer or not any(p.kind is p.VAR_KEYWORD for p in params):
            break
    accepted.discard("self")
    for key in kwargs:
        if key not in accepted:
            raise MXNetTypeError(f"optimizer {klass.__name__}: unknown argument {key!r}; "
                                 f"valid: {sorted(accepted)}.{suggest(key, accepted)}")


register = Optimizer.register
create = Optimizer.create_optimizer


def _check_pair(weight: Any, grad: Any) -> None:
    for what, arr in (("weight", weight), ("grad", grad)):
        if not isinstance(arr, NDArray):
            raise MXNetTypeError(f"optimizer update: {what} must be an NDArray, got "
                                 f"{type(arr).__name__}")
    if weight.shape != grad.shape:
        raise MXNetValueError(f"optimizer update: weight shape {weight.shape} and grad shape "
                              f"{grad.shape} differ")


def _zeros_like(weight: NDArray) -> NDArray:
    return NDArray(np.zeros(weight.shape, weight._data.dtype), weight._ctx)


def _scalars(dtype: np.dtype, *values: float) -> list[Any]:
    """Hyper-parameters as MXNet's fused kernels see them: parsed as float32, then cast to the
    weight's dtype (so a float64 weight uses ``float64(float32(lr))``)."""
    return [dtype.type(np.float32(v)) for v in values]


def _py_scalars(dtype: np.dtype, *values: float) -> list[Any]:
    """Hyper-parameters as MXNet's NDArray-scalar arithmetic sees them: cast to the dtype."""
    return [dtype.type(v) for v in values]


def _rescaled(grad: np.ndarray, rescale: Any, clip: float | None) -> np.ndarray:
    """A new array ``clip(rescale * grad)``; ``clip`` None means no clipping."""
    out = np.multiply(grad, rescale)
    if clip is not None:
        bound = grad.dtype.type(np.float32(clip))
        np.clip(out, -bound, bound, out=out)
    return out


def _lr_step(grad: np.ndarray, lr: Any, rescale: Any, clip: float | None,
             out: np.ndarray | None = None) -> np.ndarray:
    """``lr * clip(rescale * grad)``, or ``(lr * rescale) * grad`` without clipping: the
    operation order of MXNet's SGD/NAG kernels."""
    if clip is None:
        return np.multiply(grad, lr * rescale, out=out)
    step = np.multiply(grad, rescale, out=out)
    bound = grad.dtype.type(np.float32(clip))
    np.clip(step, -bound, bound, out=step)
    step *= lr
    return step


def _decayed(grad: np.ndarray, weight: np.ndarray, rescale: Any, wd: Any,
             clip: float | None) -> np.ndarray:
    """A new array ``clip(grad * rescale + weight * wd)`` (Adam/RMSProp/FTML order)."""
    out = np.multiply(grad, rescale)
    out += np.multiply(weight, wd)
    if clip is not None:
        bound = grad.dtype.type(np.float32(clip))
        np.clip(out, -bound, bound, out=out)
    return out


@register
class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum.

    Without momentum: ``w = (1 - lr*wd) * w - lr * clip(rescale_grad * g)``.
    With momentum: ``m = momentum*m - lr*wd*w - lr*clip(rescale_grad*g)``; ``w += m``.
    ``lazy_update`` only matters for sparse gradients, which mxlite does not have.
    """

    def __init__(self, momentum: float = 0.0, lazy_update: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.momentum = momentum
        self.lazy_update = lazy_update
        self.aggregate_num = int(os.getenv("MXNET_OPTIMIZER_AGGREGATION_SIZE", "4"))

    def create_state(self, index: Any, weight: NDArray) -> NDArray | None:
        return _zeros_like(weight) if self.momentum != 0.0 else None

    def create_state_multi_precision(self, index: Any, weight: NDArray) -> Any:
        if self._uses_master_copy(weight):  # MXNet's SGD keeps (momentum, master copy)
            master = weight.astype(np.float32)
            return (self.create_state(index, master), master)
        return super().create_state_multi_precision(index, weight)

    def update_multi_precision(self, index: Any, weight: NDArray, grad: NDArray,
                               state: Any) -> None:
        if self._uses_master_copy(weight):
            mom, master = state
            self.update(index, master, grad.astype(np.float32), mom)
            np.copyto(weight._data, master._data, casting="unsafe")
        else:
            self.update(index, weight, grad, state)

    def update(self, index: Any, weight: NDArray, grad: NDArray, state: NDArray | None) -> None:
        if isinstance(index, (list, tuple)):
            for i, w, g, s in zip(index, weight, grad, state):
                self.update(i, w, g, s)
            return
        lr, wd = self._step(index, weight, grad)
        w, g = weight._data, grad._data
        fused = self.fused_update("sgd")
        if fused is not None and fused(w, g, None if state is None else state._data, lr, wd,
                                       self.rescale_grad, self._kernel_clip(), self.momentum):
            return
        lr, wd, rescale, momentum = _scalars(w.dtype, lr, wd, self.rescale_grad, self.momentum)
        decay = np.multiply(w, lr * wd)
        if state is None:  # w -= lr*wd*w + lr*g'
            decay += _lr_step(g, lr, rescale, self._kernel_clip())
            w -= decay
            return
        mom = state._data  # mom = momentum*mom - lr*wd*w - lr*g'; w += mom
        mom *= momentum
        mom -= decay
        mom -= _lr_step(g, lr, rescale, self._kernel_clip(), out=decay)
        w += mom


@register
class ccSGD(SGD):
    """Deprecated alias of SGD, kept because MXNet 1.x still registers it."""


@register
class NAG(Optimizer):
    """Nesterov accelerated gradient, as MXNet 1.9.1's ``nag_mom_update`` computes it.

    With ``g' = clip(rescale_grad*g)`` and ``m' = momentum*m``:
    ``w_new = w - m' + (1+momentum) * (m' - lr*(g' + wd*w))`` and
    ``m = m' - lr*(g' + wd*w_new)``. (MXNet's kernel writes the weight in place before it
    finishes the momentum, so the momentum's weight decay sees the new weight; kept for
    identical numbers.) Without momentum: ``w = (1 - lr*wd)*w - lr*g'``.
    """

    def __init__(self, momentum: float = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.momentum = momentum

    def create_state(self, index: Any, weight: NDArray) -> NDArray | None:
        return _zeros_like(weight) if self.momentum != 0.0 else None

    def update(self, index: Any, weight: NDArray, grad: NDArray, state: NDArray | None) -> None:
        lr, wd = self._step(index, weight, grad)
        w, g = weight._data, grad._data
        lr, wd, rescale, momentum, one = _scalars(w.dtype, lr, wd, self.rescale_grad,
                                                  self.momentum, 1.0)
        clip = self._kernel_clip()
        if state is None:
            step = _lr_step(g, lr, rescale, clip)
            w *= one - lr * wd
            w -= step
            return
        clipped = _rescaled(g, rescale, clip)
        mom = state._data
        mom *= momentum
        step = np.multiply(w, wd)
        step += clipped
        step *= lr
        np.subtract(mom, step, out=step)
        step *= momentum + one
        w -= mom
        w += step
        np.multiply(w, wd, out=step)
        step += clipped
        step *= lr
        mom -= step


@register
class Adam(Optimizer):
    """Adam, with MXNet's bias correction folded into the learning rate:
    ``lr_t = lr * sqrt(1 - beta2**t) / (1 - beta1**t)``;
    ``g' = clip(rescale_grad*g + wd*w)``, ``m = beta1*m + (1-beta1)*g'``,
    ``v = beta2*v + (1-beta2)*g'*g'``, ``w -= lr_t * m / (sqrt(v) + epsilon)``."""

    def __init__(self, learning_rate: float = 0.001, beta1: float = 0.9, beta2: float = 0.999,
                 epsilon: float = 1e-8, lazy_update: bool = True, **kwargs: Any) -> None:
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.lazy_update = lazy_update

    def create_state(self, index: Any, weight: NDArray) -> tuple[NDArray, NDArray]:
        return (_zeros_like(weight), _zeros_like(weight))

    def update(self, index: Any, weight: NDArray, grad: NDArray, state: Any) -> None:
        lr, wd = self._step(index, weight, grad)
        t = self._index_update_count[index]
        lr *= math.sqrt(1.0 - self.beta2 ** t) / (1.0 - self.beta1 ** t)
        w, g = weight._data, grad._data
        mean, var = state[0]._data, state[1]._data
        fused = self.fused_update("adam")
        if fused is not None and fused(w, g, mean, var, lr, wd, self.rescale_grad,
                                       self._kernel_clip(), self.beta1, self.beta2, self.epsilon):
            return
        lr, wd, rescale, b1, b2, eps, one = _scalars(
            w.dtype, lr, wd, self.rescale_grad, self.beta1, self.beta2, self.epsilon, 1.0)
        step = _decayed(g, w, rescale, wd, self._kernel_clip())
        mean *= b1
        mean += np.multiply(step, one - b1)
        var *= b2
        var += np.multiply(step, one - b2) * step
        np.sqrt(var, out=step)
        step += eps
        np.divide(np.multiply(mean, lr), step, out=step)
        w -= step


@register
class AdaGrad(Optimizer):
    """AdaGrad: ``g' = clip(rescale_grad*g)``, ``h += g'**2``,
    ``w += (g' / sqrt(h + eps) + w*wd) * -lr``. MXNet calls its epsilon ``eps`` here."""

    def __init__(self, eps: float = 1e-7, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.float_stable_eps = eps

    def create_state(self, index: Any, weight: NDArray) -> NDArray:
        return _zeros_like(weight)

    def update(self, index: Any, weight: NDArray, grad: NDArray, state: NDArray) -> None:
        lr, wd = self._step(index, weight, grad)
        w, g, hist = weight._data, grad._data, state._data
        neg_lr, wd, rescale, eps = _py_scalars(w.dtype, -lr, wd, self.rescale_grad,
                                            self.float_stable_eps)
        step = _python_clip(np.multiply(g, rescale), self.clip_gradient)
        hist += np.square(step)
        denom = np.add(hist, eps)
        np.sqrt(denom, out=denom)
        step /= denom
        step += np.multiply(w, wd, out=denom)
        step *= neg_lr
        w += step


def _python_clip(grad: np.ndarray, clip: float | None) -> np.ndarray:
    """MXNet's ``nd.clip(grad, -clip, clip)`` in place, used when ``clip is not None``."""
    if clip is not None:
        low, high = grad.dtype.type(-clip), grad.dtype.type(clip)
        upper = grad > high
        np.copyto(grad, low, where=grad < low)
        np.copyto(grad, high, where=upper)
    return grad


@register
class RMSProp(Optimizer):
    """RMSProp (Tieleman & Hinton), or with ``centered=True`` Graves' variant.

    ``g' = clip(rescale_grad*g + wd*w)``; ``n = (1-gamma1)*g'*g' + gamma1*n``.
    Plain: ``w -= lr * g' / sqrt(n + epsilon)``. Centered: ``m = (1-gamma1)*g' + gamma1*m``,
    ``delta = gamma2*delta - lr * g' / sqrt(n - m*m + epsilon)``, ``w += delta``.
    ``clip_weights`` then clips the weight to ``[-clip_weights, clip_weights]``.
    """

    def __init__(self, learning_rate: float = 0.001, gamma1: float = 0.9, gamma2: float = 0.9,
                 epsilon: float = 1e-8, centered: bool = False, clip_weights: float | None = None,
                 **kwargs: Any) -> None:
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.gamma1 = gamma1
        self.gamma2 = gamma2
        self.centered = centered
        self.epsilon = epsilon
        self.clip_weights = clip_weights

    def create_state(self, index: Any, weight: NDArray) -> tuple:
        if self.centered:
            return (_zeros_like(weight), _zeros_like(weight), _zeros_like(weight))
        return (_zeros_like(weight),)

    def update(self, index: Any, weight: NDArray, grad: NDArray, state: Any) -> None:
        lr, wd = self._step(index, weight, grad)
        w, g = weight._data, grad._data
        lr, wd, rescale, g1, g2, eps, one = _scalars(
            w.dtype, lr, wd, self.rescale_grad, self.gamma1, self.gamma2, self.epsilon, 1.0)
        step = _decayed(g, w, rescale, wd, self._kernel_clip())
        n = state[0]._data
        n *= g1
        if self.centered:
            n += np.multiply(step, one - g1) * step
            self._centered(w, step, state, lr, g1, g2, eps, one)
        else:
            n += np.square(step) * (one - g1)
            denom = np.add(n, eps)
            np.sqrt(denom, out=denom)
            step /= denom
            step *= lr
            w -= step
        clip = self.clip_weights
        if clip and clip > 0:
            bound = w.dtype.type(np.float32(clip))
            np.clip(w, -bound, bound, out=w)

    @staticmethod
    def _centered(w: np.ndarray, step: np.ndarray, state: Any, lr: Any, g1: Any, g2: Any,
                  eps: Any, one: Any) -> None:
        n, mean, delta = state[0]._data, state[1]._data, state[2]._data
        mean *= g1
        mean += np.multiply(step, one - g1)
        denom = np.square(mean)
        np.subtract(n, denom, out=denom)
        denom += eps
        np.sqrt(denom, out=denom)
        step *= lr
        step /= denom
        delta *= g2
        delta -= step
        w += delta


@register
class Signum(Optimizer):
    """Signum (sign of momentum); with ``momentum=0`` signSGD.

    signSGD: ``w = (1 - lr*wd) * w - lr * sign(clip(rescale_grad*g))``. Signum:
    ``m = momentum*m - (1-momentum)*wd*w - (1-momentum)*clip(rescale_grad*g)``,
    ``w = (1 - lr*wd_lh) * w + lr * sign(m)``.
    """

    def __init__(self, learning_rate: float = 0.01, momentum: float = 0.9, wd_lh: float = 0.0,
                 **kwargs: Any) -> None:
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.momentum = momentum
        self.wd_lh = wd_lh

    def create_state(self, index: Any, weight: NDArray) -> NDArray | None:
        return _zeros_like(weight) if self.momentum != 0.0 else None

    def update(self, index: Any, weight: NDArray, grad: NDArray, state: NDArray | None) -> None:
        lr, wd = self._step(index, weight, grad)
        w, g = weight._data, grad._data
        lr, wd, rescale, momentum, wd_lh, one = _scalars(
            w.dtype, lr, wd, self.rescale_grad, self.momentum, self.wd_lh, 1.0)
        clip = self._kernel_clip()
        if state is None:
            step = np.sign(_rescaled(g, rescale, clip))
            step *= lr
            w *= one - lr * wd
            w -= step
            return
        mom = state._data
        rest = one - momentum
        mom *= momentum
        mom -= np.multiply(w, rest * wd)
        if clip is None:
            step = np.multiply(g, rest * rescale)
        else:
            step = _rescaled(g, rescale, clip)
            step *= rest
        mom -= step
        np.sign(mom, out=step)
        step *= lr
        w *= one - lr * wd_lh
        w += step


@register
class FTML(Optimizer):
    """Follow the Moving Leader. With ``g' = clip(rescale_grad*g + wd*w)`` and step ``t``:
    ``v = beta2*v + (1-beta2)*g'**2``,
    ``d_t = (1 - beta1**t) / lr * (sqrt(v / (1 - beta2**t)) + epsilon)``,
    ``z = beta1*z + (1-beta1)*g' - (d_t - beta1*d)*w``, ``d = d_t``, ``w = -z / d_t``."""

    def __init__(self, beta1: float = 0.6, beta2: float = 0.999, epsilon: float = 1e-8,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon

    def create_state(self, index: Any, weight: NDArray) -> tuple[NDArray, NDArray, NDArray]:
        return (_zeros_like(weight), _zeros_like(weight), _zeros_like(weight))

    def update(self, index: Any, weight: NDArray, grad: NDArray, state: Any) -> None:
        lr, wd = self._step(index, weight, grad)
        t = self._index_update_count[index]
        w, g = weight._data, grad._data
        d, v, z = (s._data for s in state)
        lr, wd, rescale, b1, b2, eps, one = _scalars(
            w.dtype, lr, wd, self.rescale_grad, self.beta1, self.beta2, self.epsilon, 1.0)
        b1_t, b2_t = (w.dtype.type(float(b) ** t) for b in (b1, b2))  # pow in double
        step = _decayed(g, w, rescale, wd, self._kernel_clip())
        v *= b2
        v += np.square(step) * (one - b2)
        d_t = np.divide(v, one - b2_t)
        np.sqrt(d_t, out=d_t)
        d_t += eps
        d_t *= (one - b1_t) / lr
        z *= b1
        z += np.multiply(step, one - b1, out=step)
        d *= b1
        np.subtract(d_t, d, out=d)
        d *= w
        z -= d
        np.copyto(d, d_t)
        np.divide(z, d_t, out=w)
        np.negative(w, out=w)


@register
class AdaDelta(Optimizer):
    """AdaDelta (no learning rate): ``g' = clip(rescale_grad*g)``,
    ``acc_g = rho*acc_g + (1-rho)*g'*g'``,
    ``delta = sqrt(acc_delta + eps) / sqrt(acc_g + eps) * g'``,
    ``acc_delta = rho*acc_delta + (1-rho)*delta*delta``, ``w -= delta + wd*w``."""

    def __init__(self, rho: float = 0.90, epsilon: float = 1e-5, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.rho = rho
        self.epsilon = epsilon

    def create_state(self, index: Any, weight: NDArray) -> tuple[NDArray, NDArray]:
        return (_zeros_like(weight), _zeros_like(weight))

    def update(self, index: Any, weight: NDArray, grad: NDArray, state: Any) -> None:
        _, wd = self._step(index, weight, grad)
        w, g = weight._data, grad._data
        acc_g, acc_delta = state[0]._data, state[1]._data
        wd, rescale, rho, rest, eps = _py_scalars(w.dtype, wd, self.rescale_grad, self.rho,
                                               1.0 - self.rho, self.epsilon)
        step = _python_clip(np.multiply(g, rescale), self.clip_gradient)
        acc_g *= rho
        acc_g += np.multiply(step, rest) * step
        delta = np.add(acc_delta, eps)
        np.sqrt(delta, out=delta)
        delta /= np.sqrt(acc_g + eps)
        delta *= step
        acc_delta *= rho
        acc_delta += np.multiply(delta, rest, out=step) * delta
        delta += np.multiply(w, wd, out=step)
        w -= delta


@register
class Adamax(Optimizer):
    """AdaMax (Adam with the infinity norm): ``lr_t = lr / (1 - beta1**t)``,
    ``g' = clip(rescale_grad*g + wd*w)``, ``m = beta1*m + (1-beta1)*g'``,
    ``u = max(beta2*u, |g'|)``, ``w -= lr_t * m / u``."""

    def __init__(self, learning_rate: float = 0.002, beta1: float = 0.9, beta2: float = 0.999,
                 **kwargs: Any) -> None:
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta1 = beta1
        self.beta2 = beta2

    def create_state(self, index: Any, weight: NDArray) -> tuple[NDArray, NDArray]:
        return (_zeros_like(weight), _zeros_like(weight))

    def update(self, index: Any, weight: NDArray, grad: NDArray, state: Any) -> None:
        lr, wd = self._step(index, weight, grad)
        lr /= 1.0 - self.beta1 ** self._index_update_count[index]
        w, g = weight._data, grad._data
        m, u = state[0]._data, state[1]._data
        lr, wd, rescale, b1, rest, b2 = _py_scalars(w.dtype, lr, wd, self.rescale_grad,
                                                 self.beta1, 1.0 - self.beta1, self.beta2)
        step = np.multiply(g, rescale)
        step += np.multiply(w, wd)
        _python_clip(step, self.clip_gradient)
        m *= b1
        m += np.multiply(step, rest)
        u *= b2
        np.maximum(u, np.abs(step, out=step), out=u)
        np.multiply(m, lr, out=step)
        step /= u
        w -= step


@register
class Nadam(Optimizer):
    """Nesterov Adam with the warming momentum schedule of Dozat (2016), as MXNet computes it
    (the schedule product ``m_schedule`` is kept on the optimizer, shared by all indices)."""

    def __init__(self, learning_rate: float = 0.001, beta1: float = 0.9, beta2: float = 0.999,
                 epsilon: float = 1e-8, schedule_decay: float = 0.004, **kwargs: Any) -> None:
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.schedule_decay = schedule_decay
        self.m_schedule = 1.0

    def create_state(self, index: Any, weight: NDArray) -> tuple[NDArray, NDArray]:
        return (_zeros_like(weight), _zeros_like(weight))

    def update(self, index: Any, weight: NDArray, grad: NDArray, state: Any) -> None:
        lr, wd = self._step(index, weight, grad)
        t = self._index_update_count[index]
        mom_t = self.beta1 * (1.0 - 0.5 * 0.96 ** (t * self.schedule_decay))
        mom_next = self.beta1 * (1.0 - 0.5 * 0.96 ** ((t + 1) * self.schedule_decay))
        self.m_schedule = self.m_schedule * mom_t
        schedule_next = self.m_schedule * mom_next
        w, g = weight._data, grad._data
        m, v = state[0]._data, state[1]._data
        f = w.dtype.type
        step = np.multiply(g, f(self.rescale_grad))
        step += np.multiply(w, f(wd))
        _python_clip(step, self.clip_gradient)
        m *= f(self.beta1)
        m += np.multiply(step, f(1.0 - self.beta1))
        v *= f(self.beta2)
        v += np.multiply(step, f(1.0 - self.beta2)) * step
        step /= f(1.0 - self.m_schedule)
        step *= f(1.0 - mom_t)
        step += np.divide(m, f(1.0 - schedule_next)) * f(mom_next)
        denom = np.divide(v, f(1.0 - self.beta2 ** t))
        np.sqrt(denom, out=denom)
        denom += f(self.epsilon)
        np.multiply(step, f(lr), out=step)
        step /= denom
        w -= step


@register
class Test(Optimizer):
    """MXNet's test optimizer: ``w += rescale_grad * g``; the state keeps a copy of ``w``."""

    def create_state(self, index: Any, weight: NDArray) -> NDArray:
        return _zeros_like(weight)

    def update(self, index: Any, weight: NDArray, grad: NDArray, state: NDArray) -> None:
        _check_pair(weight, grad)
        weight._data += np.multiply(grad._data, weight._data.dtype.type(self.rescale_grad))
        np.copyto(state._data, weight._data)


class Updater:
    """The callable ``updater(index, grad, weight)`` that Module and KVStore use: creates each
    index's optimizer state on first use and applies ``optimizer.update`` in place."""

    def __init__(self, optimizer: Optimizer) -> None:
        if not isinstance(optimizer, Optimizer):
            raise MXNetTypeError(f"Updater expects an Optimizer, got {type(optimizer).__name__}")
        self.optimizer = optimizer
        self.states: dict = {}
        self.states_synced: dict = {}
        self.aggregate_updates = optimizer.aggregate_num > 0

    def __call__(self, index: Any, grad: Any, weight: Any) -> None:
        if isinstance(index, (list, tuple)):
            for idx, g, w in zip(index, grad, weight):
                self(idx, g, w)
            return
        if isinstance(index, bytes):
            index = index.decode()
        if index not in self.states:
            self.states[index] = self.optimizer.create_state_multi_precision(index, weight)
        self.states_synced[index] = True
        self.optimizer.update_multi_precision(index, weight, grad, self.states[index])

    def sync_state_context(self, state: Any, context: Any) -> Any:
        """States live with their weights on the CPU: nothing to move."""
        return state

    def set_states(self, states: bytes) -> None:
        """Restore states from ``get_states`` bytes (with the optimizer if it was dumped)."""
        try:
            loaded = pickle.loads(states)
        except Exception as err:
            raise MXNetValueError(f"Updater.set_states: cannot unpickle the states: {err}") from err
        if isinstance(loaded, tuple) and len(loaded) == 2:
            self.states, self.optimizer = loaded
        elif isinstance(loaded, dict):
            self.states = loaded
        else:
            raise MXNetValueError(f"Updater.set_states: expected a dict of states or a "
                                  f"(states, optimizer) pair, got {type(loaded).__name__}")
        self.states_synced = dict.fromkeys(self.states, False)

    def get_states(self, dump_optimizer: bool = False) -> bytes:
        """The states pickled; with ``dump_optimizer`` the optimizer too."""
        return pickle.dumps((self.states, self.optimizer) if dump_optimizer else self.states)


def get_updater(optimizer: Optimizer) -> Updater:
    return Updater(optimizer)

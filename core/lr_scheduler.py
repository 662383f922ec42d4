"""``mx.lr_scheduler``: learning rate as a function of the optimizer's update count.

A scheduler is called with ``num_update`` (the largest per-parameter update count, starting at
1 for the first step) and returns the learning rate. As in MXNet 1.x, the first
``warmup_steps`` updates ramp from ``warmup_begin_lr`` to ``base_lr`` (``'linear'``) or stay at
``warmup_begin_lr`` (``'constant'``); warm-up updates count towards the decay steps.
Factor schedulers keep their decayed rate between calls, so they only move forward.
"""

from __future__ import annotations

import logging
from math import cos, pi
from typing import Any

from .base import MXNetTypeError, MXNetValueError

__all__ = ["LRScheduler", "FactorScheduler", "MultiFactorScheduler", "PolyScheduler",
           "CosineScheduler"]

_WARMUP_MODES = ("linear", "constant")


def _check_int(name: str, value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise MXNetTypeError(f"{name} must be an int, got {value!r}")


def _check_factor(factor: float) -> None:
    if factor > 1.0:
        raise MXNetValueError(f"Factor must be no more than 1 to make lr reduce, got {factor}")


class LRScheduler:
    """The base class: warm-up handling; subclasses define ``__call__(num_update)``."""

    def __init__(self, base_lr: float = 0.01, warmup_steps: int = 0, warmup_begin_lr: float = 0,
                 warmup_mode: str = "linear") -> None:
        _check_int("warmup_steps", warmup_steps)
        if warmup_begin_lr > base_lr:
            raise MXNetValueError(f"Base lr has to be higher than warmup_begin_lr: base_lr "
                                  f"{base_lr} < warmup_begin_lr {warmup_begin_lr}")
        if warmup_steps < 0:
            raise MXNetValueError(f"Warmup steps has to be positive or 0, got {warmup_steps}")
        if warmup_mode not in _WARMUP_MODES:
            raise MXNetValueError(f"Supports only linear and constant modes of warmup, got "
                                  f"warmup_mode={warmup_mode!r}; valid: {list(_WARMUP_MODES)}")
        self.base_lr = base_lr
        self.warmup_steps = warmup_steps
        self.warmup_final_lr = base_lr
        self.warmup_begin_lr = warmup_begin_lr
        self.warmup_mode = warmup_mode

    def get_warmup_lr(self, num_update: int) -> float:
        """The warm-up rate for an update before ``warmup_steps``."""
        if num_update >= self.warmup_steps:
            raise MXNetValueError(f"get_warmup_lr: update {num_update} is past the "
                                  f"{self.warmup_steps} warm-up steps")
        if self.warmup_mode == "constant":
            return self.warmup_begin_lr
        increase = (self.warmup_final_lr - self.warmup_begin_lr) \
            * float(num_update) / float(self.warmup_steps)
        return self.warmup_begin_lr + increase

    def __call__(self, num_update: int) -> float:
        raise NotImplementedError("must override this")


class FactorScheduler(LRScheduler):
    """Multiply the rate by ``factor`` after every ``step`` updates, never below
    ``stop_factor_lr``: ``lr = base_lr * factor ** ((num_update - 1) // step)``."""

    def __init__(self, step: int, factor: float = 1, stop_factor_lr: float = 1e-8,
                 base_lr: float = 0.01, warmup_steps: int = 0, warmup_begin_lr: float = 0,
                 warmup_mode: str = "linear") -> None:
        super().__init__(base_lr, warmup_steps, warmup_begin_lr, warmup_mode)
        if step < 1:
            raise MXNetValueError(f"Schedule step must be greater or equal than 1 round, got {step}")
        _check_factor(factor)
        self.step = step
        self.factor = factor
        self.stop_factor_lr = stop_factor_lr
        self.count = 0

    def __call__(self, num_update: int) -> float:
        if num_update < self.warmup_steps:
            return self.get_warmup_lr(num_update)
        while num_update > self.count + self.step:  # a loop: training may resume far ahead
            self.count += self.step
            self.base_lr *= self.factor
            if self.base_lr < self.stop_factor_lr:
                self.base_lr = self.stop_factor_lr
                logging.info("Update[%d]: now learning rate arrived at %0.5e, will not "
                             "change in the future", num_update, self.base_lr)
            else:
                logging.info("Update[%d]: Change learning rate to %0.5e", num_update,
                             self.base_lr)
        return self.base_lr


class MultiFactorScheduler(LRScheduler):
    """Multiply the rate by ``factor`` once past each update count in the increasing ``step``
    list: with ``step=[2, 5]`` updates 1-2 use ``base_lr``, 3-5 ``base_lr*factor``..."""

    def __init__(self, step: list[int], factor: float = 1, base_lr: float = 0.01,
                 warmup_steps: int = 0, warmup_begin_lr: float = 0,
                 warmup_mode: str = "linear") -> None:
        super().__init__(base_lr, warmup_steps, warmup_begin_lr, warmup_mode)
        if not isinstance(step, list) or not step:
            raise MXNetTypeError(f"MultiFactorScheduler: step must be a non-empty list of "
                                 f"update counts, got {step!r}")
        for i, value in enumerate(step):
            if i and value <= step[i - 1]:
                raise MXNetValueError(f"Schedule step must be an increasing integer list, "
                                      f"got {step}")
            if value < 1:
                raise MXNetValueError(f"Schedule step must be greater or equal than 1 round, "
                                      f"got {step}")
        _check_factor(factor)
        self.step = step
        self.cur_step_ind = 0
        self.factor = factor
        self.count = 0

    def __call__(self, num_update: int) -> float:
        if num_update < self.warmup_steps:
            return self.get_warmup_lr(num_update)
        while self.cur_step_ind < len(self.step) and num_update > self.step[self.cur_step_ind]:
            self.count = self.step[self.cur_step_ind]
            self.cur_step_ind += 1
            self.base_lr *= self.factor
            logging.info("Update[%d]: Change learning rate to %0.5e", num_update, self.base_lr)
        return self.base_lr


class PolyScheduler(LRScheduler):
    """Polynomial decay to ``final_lr`` at ``max_update``:
    ``lr = final_lr + (base_lr - final_lr) * (1 - (n - warmup_steps) / (max_update -
    warmup_steps)) ** pwr``; past ``max_update`` the last computed rate is kept."""

    def __init__(self, max_update: int, base_lr: float = 0.01, pwr: float = 2,
                 final_lr: float = 0, warmup_steps: int = 0, warmup_begin_lr: float = 0,
                 warmup_mode: str = "linear") -> None:
        super().__init__(base_lr, warmup_steps, warmup_begin_lr, warmup_mode)
        _check_int("max_update", max_update)
        if max_update < 1:
            raise MXNetValueError(f"maximum number of updates must be strictly positive, got "
                                  f"{max_update}")
        self.power = pwr
        self.base_lr_orig = self.base_lr
        self.max_update = max_update
        self.final_lr = final_lr
        self.max_steps = self.max_update - self.warmup_steps

    def __call__(self, num_update: int) -> float:
        if num_update < self.warmup_steps:
            return self.get_warmup_lr(num_update)
        if num_update <= self.max_update:
            done = float(num_update - self.warmup_steps) / float(self.max_steps)
            self.base_lr = self.final_lr + (self.base_lr_orig - self.final_lr) \
                * pow(1 - done, self.power)
        return self.base_lr


class CosineScheduler(LRScheduler):
    """Half-cosine decay to ``final_lr`` at ``max_update``:
    ``lr = final_lr + (base_lr - final_lr) * (1 + cos(pi * (n - warmup_steps) /
    (max_update - warmup_steps))) / 2``; past ``max_update`` the last computed rate is kept."""

    def __init__(self, max_update: int, base_lr: float = 0.01, final_lr: float = 0,
                 warmup_steps: int = 0, warmup_begin_lr: float = 0,
                 warmup_mode: str = "linear") -> None:
        super().__init__(base_lr, warmup_steps, warmup_begin_lr, warmup_mode)
        _check_int("max_update", max_update)
        if max_update < 1:
            raise MXNetValueError(f"maximum number of updates must be strictly positive, got "
                                  f"{max_update}")
        self.base_lr_orig = base_lr
        self.max_update = max_update
        self.final_lr = final_lr
        self.max_steps = self.max_update - self.warmup_steps

    def __call__(self, num_update: int) -> float:
        if num_update < self.warmup_steps:
            return self.get_warmup_lr(num_update)
        if num_update <= self.max_update:
            angle = pi * (num_update - self.warmup_steps) / self.max_steps
            self.base_lr = self.final_lr + (self.base_lr_orig - self.final_lr) \
                * (1 + cos(angle)) / 2
        return self.base_lr

"""Training callbacks (``mx.callback``): checkpoints, speed and metric logging, progress bars.

Batch-end callbacks receive a ``BatchEndParam(epoch, nbatch, eval_metric, locals)``;
epoch-end callbacks receive ``(epoch, symbol, arg_params, aux_params)``. Messages go to the
root logger with MXNet's wording, so ``logging.basicConfig(level=logging.INFO)`` shows them.
"""

from __future__ import annotations

import logging
import math
import shutil
import sys
import time
from collections import namedtuple
from collections.abc import Callable
from typing import Any, TextIO

from .base import MXNetValueError

__all__ = ["BatchEndParam", "module_checkpoint", "do_checkpoint", "log_train_metric",
           "Speedometer", "ProgressBar", "LogValidationMetricsCallback", "TerminalProgressBar"]

#: What a batch-end callback receives (``mx.model.BatchEndParam`` in MXNet).
BatchEndParam = namedtuple("BatchEndParams", ["epoch", "nbatch", "eval_metric", "locals"])

EpochEndCallback = Callable[[int, Any, dict, dict], None]


def _log() -> logging.Logger:
    return logging.getLogger()


def _period(period: Any) -> int:
    return int(max(1, period))


def module_checkpoint(mod: Any, prefix: str, period: int = 1,
                      save_optimizer_states: bool = False) -> EpochEndCallback:
    """An epoch-end callback calling ``mod.save_checkpoint(prefix, epoch + 1)`` every
    ``period`` epochs."""
    period = _period(period)

    def _callback(iter_no: int, sym: Any = None, arg: Any = None, aux: Any = None) -> None:
        if (iter_no + 1) % period == 0:
            mod.save_checkpoint(prefix, iter_no + 1, save_optimizer_states)
    return _callback


def do_checkpoint(prefix: str, period: int = 1) -> EpochEndCallback:
    """An epoch-end callback writing ``prefix-symbol.json`` and ``prefix-%04d.params`` (numbered
    ``epoch + 1``) every ``period`` epochs."""
    period = _period(period)

    def _callback(iter_no: int, sym: Any, arg: dict, aux: dict) -> None:
        if (iter_no + 1) % period == 0:
            from .model import save_checkpoint
            save_checkpoint(prefix, iter_no + 1, sym, arg, aux)
    return _callback


def log_train_metric(period: int, auto_reset: bool = False) -> Callable[[Any], None]:
    """A batch-end callback logging ``Iter[epoch] Batch[n] Train-name=value`` every ``period``
    batches (then resetting the metric's local statistics if ``auto_reset``)."""
    def _callback(param: Any) -> None:
        if param.nbatch % period == 0 and param.eval_metric is not None:
            for name, value in param.eval_metric.get_name_value():
                _log().info("Iter[%d] Batch[%d] Train-%s=%f", param.epoch, param.nbatch, name,
                            value)
            if auto_reset:
                param.eval_metric.reset_local()
    return _callback


class Speedometer:
    """Log the training speed and the metric every ``frequent`` batches.

    With ``auto_reset`` the metric's local statistics are reset after each log, so each line
    covers the last ``frequent`` batches (``Batch [50-100]``); otherwise the epoch so far.
    """

    def __init__(self, batch_size: int, frequent: int = 50, auto_reset: bool = True) -> None:
        if frequent <= 0:
            raise MXNetValueError(f"Speedometer: frequent must be positive, got {frequent}")
        self.batch_size = batch_size
        self.frequent = frequent
        self.auto_reset = auto_reset
        self.init = False
        self.tic = 0.0
        self.last_count = 0

    def __call__(self, param: Any) -> None:
        count = param.nbatch
        if count < self.last_count:   # a new epoch began
            self.init = False
        self.last_count = count
        if not self.init:
            self.init = True
            self.tic = time.time()
            return
        if count % self.frequent != 0:
            return
        elapsed = time.time() - self.tic
        speed = self.frequent * self.batch_size / elapsed if elapsed else float("inf")
        self._report(param, count, speed)
        self.tic = time.time()

    def _report(self, param: Any, count: int, speed: float) -> None:
        if param.eval_metric is None:
            _log().info("Iter[%d] Batch [%d]\tSpeed: %.2f samples/sec", param.epoch, count, speed)
            return
        name_value = param.eval_metric.get_name_value()
        values = [item for pair in name_value for item in pair]
        metrics = "\t%s=%f" * len(name_value)
        if self.auto_reset:
            param.eval_metric.reset_local()
            _log().info("Epoch[%d] Batch [%d-%d]\tSpeed: %.2f samples/sec" + metrics,
                        param.epoch, count - self.frequent, count, speed, *values)
        else:
            _log().info("Epoch[%d] Batch [0-%d]\tSpeed: %.2f samples/sec" + metrics,
                        param.epoch, count, speed, *values)


class ProgressBar:
    """Log a text bar ``[====----] 50%`` of ``nbatch`` out of ``total`` at every batch."""

    def __init__(self, total: int, length: int = 80) -> None:
        if total <= 0:
            raise MXNetValueError(f"ProgressBar: total must be positive, got {total}")
        self.bar_len = length
        self.total = total

    def __call__(self, param: Any) -> None:
        count = param.nbatch
        filled = int(round(self.bar_len * count / float(self.total)))
        percent = math.ceil(100.0 * count / float(self.total))
        bar = "=" * filled + "-" * (self.bar_len - filled)
        _log().info("[%s] %s%s\r", bar, percent, "%")


class LogValidationMetricsCallback:
    """An eval-end callback logging ``Epoch[n] Validation-name=value`` for each metric."""

    def __call__(self, param: Any) -> None:
        if not param.eval_metric:
            return
        for name, value in param.eval_metric.get_name_value():
            _log().info("Epoch[%d] Validation-%s=%f", param.epoch, name, value)


class TerminalProgressBar:
    """A batch-end callback redrawing one line on a terminal; silent when not on a TTY.

    Shows the epoch, a bar (when ``total`` batches per epoch is known), the batch count, the
    speed (samples/s with ``batch_size``, else batches/s) and the metric. The line is redrawn
    at most every ``min_interval`` seconds and ends with a newline after the last batch, when a
    new epoch begins, or on ``close()``. ``enabled=None`` means "if ``stream`` is a TTY";
    ``stream`` defaults to the current ``sys.stdout``.
    """

    def __init__(self, total: int | None = None, batch_size: int | None = None,
                 length: int = 30, stream: TextIO | None = None, enabled: bool | None = None,
                 min_interval: float = 0.1) -> None:
        self.total = total
        self.batch_size = batch_size
        self.length = length
        self.min_interval = min_interval
        self._stream = stream
        self._enabled = enabled
        self._epoch: int | None = None
        self._last_batch = -1
        self._first_batch = 0
        self._start = 0.0
        self._drawn = 0.0
        self._open = False

    @property
    def stream(self) -> TextIO:
        return self._stream if self._stream is not None else sys.stdout

    @property
    def enabled(self) -> bool:
        if self._enabled is not None:
            return self._enabled
        isatty = getattr(self.stream, "isatty", None)
        return bool(isatty()) if callable(isatty) else False

    def __call__(self, param: Any) -> None:
        if not self.enabled:
            return
        now = time.time()
        if param.epoch != self._epoch or param.nbatch <= self._last_batch:
            self.close()
            self._epoch, self._start, self._drawn = param.epoch, now, 0.0
            self._first_batch = param.nbatch
        self._last_batch = param.nbatch
        done = param.nbatch + 1
        last = self.total is not None and done >= self.total
        if not last and now - self._drawn < self.min_interval:
            return
        self._drawn = now
        self._write("\r" + self._line(param, done, now - self._start))
        if last:
            self.close()

    def _line(self, param: Any, done: int, elapsed: float) -> str:
        parts = [f"Epoch[{param.epoch}]"]
        if self.total:
            filled = min(self.length, int(self.length * done / self.total))
            parts.append(f"[{'=' * filled}{'.' * (self.length - filled)}] {done}/{self.total}")
        else:
            parts.append(f"batch {done}")
        if elapsed > 0:   # timed from the end of the epoch's first batch
            rate = (param.nbatch - self._first_batch) * (self.batch_size or 1) / elapsed
            parts.append(f"{rate:.1f} {'samples' if self.batch_size else 'batches'}/s")
        if param.eval_metric is not None:
            parts.extend(f"{name}={value:f}" for name, value in
                         param.eval_metric.get_name_value())
        width = shutil.get_terminal_size((80, 24)).columns - 1
        return "  ".join(parts)[:width].ljust(width)

    def _write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()
        self._open = True

    def close(self) -> None:
        """End the current line (if one is drawn)."""
        if self._open:
            self.stream.write("\n")
            self.stream.flush()
            self._open = False

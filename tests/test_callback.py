"""mx.callback: MXNet 1.9.1's log lines, checkpoint callbacks and the terminal progress bar."""

from __future__ import annotations

import io
import logging
import sys
import types

import mxlite as mx
import pytest
from mxlite import callback
from mxlite.base import MXNetError

nd = mx.nd.array


class Clock:
    """A stand-in for the ``time`` module: ``time()`` returns ``now``."""

    def __init__(self, now: float = 100.0) -> None:
        self.now = now

    def time(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch):
    fake = Clock()
    monkeypatch.setattr(callback, "time", fake)
    return fake


def param(epoch, nbatch, metric):
    return mx.callback.BatchEndParam(epoch=epoch, nbatch=nbatch, eval_metric=metric, locals=None)


def scored_metric():
    m = mx.metric.create(["acc", "mse"])
    m.update([nd([0, 1])], [nd([[.9, .1], [.2, .8]])])
    return m


def messages(caplog):
    return [r.getMessage() for r in caplog.records]


def test_batch_end_param_is_mxnets_namedtuple():
    p = param(1, 2, None)
    assert type(p).__name__ == "BatchEndParams"
    assert p._fields == ("epoch", "nbatch", "eval_metric", "locals")
    assert repr(mx.callback.BatchEndParam(1, 2, 3, 4)) == \
        "BatchEndParams(epoch=1, nbatch=2, eval_metric=3, locals=4)"


def test_speedometer_logs_every_frequent_batches_and_resets_locally(caplog, clock):
    caplog.set_level(logging.INFO)
    metric = scored_metric()
    speed = mx.callback.Speedometer(4, frequent=2)
    for nbatch in range(5):
        metric.update([nd([0, 1])], [nd([[.9, .1], [.2, .8]])])
        speed(param(1, nbatch, metric))
        clock.now += 0.5
    assert messages(caplog) == [
        "Epoch[1] Batch [0-2]\tSpeed: 8.00 samples/sec\taccuracy=1.000000\tmse=0.375000",
        "Epoch[1] Batch [2-4]\tSpeed: 8.00 samples/sec\taccuracy=1.000000\tmse=0.375000"]
    assert [r.name for r in caplog.records] == ["root", "root"]
    assert metric.get_global()[1] == [1.0, 0.375] and metric.metrics[0].global_num_inst == 12
    assert metric.metrics[0].num_inst == 0   # reset_local after the last log


def test_speedometer_without_auto_reset_or_metric(caplog, clock):
    caplog.set_level(logging.INFO)
    metric = scored_metric()
    speed = mx.callback.Speedometer(4, frequent=2, auto_reset=False)
    for nbatch in range(3):
        speed(param(2, nbatch, metric))
        clock.now += 1.0
    bare = mx.callback.Speedometer(4, frequent=2)
    for nbatch in range(3):
        bare(param(3, nbatch, None))   # the clock stands still: infinite speed
    assert messages(caplog) == [
        "Epoch[2] Batch [0-2]\tSpeed: 4.00 samples/sec\taccuracy=1.000000\tmse=0.375000",
        "Iter[3] Batch [2]\tSpeed: inf samples/sec"]
    assert metric.metrics[0].num_inst == 2


def test_speedometer_restarts_timing_at_a_new_epoch(caplog, clock):
    caplog.set_level(logging.INFO)
    speed = mx.callback.Speedometer(10, frequent=2)
    for epoch in range(2):
        for nbatch in range(3):
            speed(param(epoch, nbatch, None))
            clock.now += 1.0
        clock.now += 50.0   # the time between epochs is not counted
    assert messages(caplog) == ["Iter[0] Batch [2]\tSpeed: 10.00 samples/sec",
                                "Iter[1] Batch [2]\tSpeed: 10.00 samples/sec"]
    with pytest.raises(MXNetError, match="frequent must be positive, got 0"):
        mx.callback.Speedometer(10, frequent=0)


def test_log_train_metric(caplog):
    caplog.set_level(logging.INFO)
    metric = scored_metric()
    log = mx.callback.log_train_metric(2)
    log(param(3, 3, metric))
    log(param(3, 4, metric))
    assert messages(caplog) == ["Iter[3] Batch[4] Train-accuracy=1.000000",
                                "Iter[3] Batch[4] Train-mse=0.375000"]
    mx.callback.log_train_metric(2, auto_reset=True)(param(3, 4, metric))
    assert metric.metrics[0].num_inst == 0 and metric.metrics[0].global_num_inst == 2


def test_log_validation_metrics(caplog):
    caplog.set_level(logging.INFO)
    mx.callback.LogValidationMetricsCallback()(param(3, 4, scored_metric()))
    mx.callback.LogValidationMetricsCallback()(param(3, 4, None))
    assert messages(caplog) == ["Epoch[3] Validation-accuracy=1.000000",
                                "Epoch[3] Validation-mse=0.375000"]


def test_progress_bar(caplog):
    caplog.set_level(logging.INFO)
    bar = mx.callback.ProgressBar(7, length=10)
    for nbatch in (0, 3, 6):
        bar(param(0, nbatch, None))
    assert messages(caplog) == ["[----------] 0%\r", "[====------] 43%\r", "[=========-] 86%\r"]
    with pytest.raises(MXNetError, match="total must be positive"):
        mx.callback.ProgressBar(0)


@pytest.fixture
def fake_model(monkeypatch):
    calls = []
    module = types.SimpleNamespace(save_checkpoint=lambda *args: calls.append(args))
    monkeypatch.setitem(sys.modules, "mxlite.model", module)
    return calls


def test_do_checkpoint_saves_every_period_numbered_from_one(fake_model):
    save = mx.callback.do_checkpoint("run/net", period=2)
    for epoch in range(5):
        save(epoch, "sym", {"w": 1}, {"a": 2})
    assert fake_model == [("run/net", 2, "sym", {"w": 1}, {"a": 2}),
                          ("run/net", 4, "sym", {"w": 1}, {"a": 2})]
    every = mx.callback.do_checkpoint("p", period=0)   # a period below 1 means every epoch
    every(0, None, {}, {})
    assert fake_model[-1][:2] == ("p", 1)


def test_do_checkpoint_writes_mxnet_files(tmp_path):
    prefix = str(tmp_path / "net")
    mx.callback.do_checkpoint(prefix)(0, mx.sym.Variable("x"), {"w": mx.nd.ones((2,))}, {})
    assert (tmp_path / "net-symbol.json").exists() and (tmp_path / "net-0001.params").exists()
    _, arg, aux = mx.model.load_checkpoint(prefix, 1)
    assert arg["w"].asnumpy().tolist() == [1.0, 1.0] and aux == {}


def test_module_checkpoint():
    saved = []
    mod = types.SimpleNamespace(save_checkpoint=lambda *args: saved.append(args))
    save = mx.callback.module_checkpoint(mod, "m", period=3, save_optimizer_states=True)
    for epoch in range(6):
        save(epoch)
    assert saved == [("m", 3, True), ("m", 6, True)]


# -- the terminal progress bar ----------------------------------------------------------------
class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def terminal(monkeypatch):
    monkeypatch.setenv("COLUMNS", "61")
    return Terminal()


def test_terminal_progress_bar_draws_one_line_per_epoch(terminal, clock):
    bar = mx.callback.TerminalProgressBar(total=4, batch_size=10, length=8, stream=terminal,
                                          min_interval=0)
    for epoch in range(2):
        for nbatch in range(4):
            clock.now += 0.5
            bar(param(epoch, nbatch, None))
    lines = terminal.getvalue().split("\n")
    assert len(lines) == 3 and lines[-1] == ""   # one finished line per epoch
    frames = lines[0].split("\r")[1:]
    assert [f.rstrip() for f in frames] == [
        "Epoch[0]  [==......] 1/4",
        "Epoch[0]  [====....] 2/4  20.0 samples/s",
        "Epoch[0]  [======..] 3/4  20.0 samples/s",
        "Epoch[0]  [========] 4/4  20.0 samples/s"]
    assert all(len(f) == 60 for f in frames)   # padded to wipe a longer previous frame
    assert lines[1].split("\r")[-1].startswith("Epoch[1]  [========] 4/4")


def test_terminal_progress_bar_without_total_shows_metric_and_throttles(terminal, clock,
                                                                        monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    bar = mx.callback.TerminalProgressBar(stream=terminal, min_interval=1.0)
    metric = scored_metric()
    for nbatch in range(4):
        clock.now += 0.4
        bar(param(0, nbatch, metric))
    frames = [f.rstrip() for f in terminal.getvalue().split("\r")[1:]]
    assert frames == ["Epoch[0]  batch 1  accuracy=1.000000  mse=0.375000",
                      "Epoch[0]  batch 4  2.5 batches/s  accuracy=1.000000  mse=0.375000"]
    monkeypatch.setenv("COLUMNS", "30")
    clock.now += 1.2
    bar(param(0, 4, metric))
    assert terminal.getvalue().split("\r")[-1] == "Epoch[0]  batch 5  1.7 batche"   # cut to fit
    bar.close()
    bar.close()
    assert terminal.getvalue().endswith("\n") and not terminal.getvalue().endswith("\n\n")


def test_terminal_progress_bar_is_off_unless_on_a_tty(capsys):
    plain = io.StringIO()
    mx.callback.TerminalProgressBar(total=2, stream=plain)(param(0, 1, None))
    assert plain.getvalue() == ""
    mx.callback.TerminalProgressBar(total=2)(param(0, 1, None))   # pytest's stdout: no TTY
    assert capsys.readouterr().out == ""
    forced = io.StringIO()
    mx.callback.TerminalProgressBar(total=2, stream=forced, enabled=True)(param(0, 1, None))
    assert forced.getvalue().startswith("\rEpoch[0]") and forced.getvalue().endswith("\n")

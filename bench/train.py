"""Samples per second of one training epoch (Module.fit: forward, backward, SGD update,
metric) of the example MLP and LeNet on the bundled digits, median of a few epochs.

    python bench/train.py [--epochs 3]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import mxlite as mx
from _common import table
from _digits import digits_iters
from train_lenet import lenet
from train_mlp import mlp


class _EpochTimer:
    """An epoch-end callback recording the wall time of each epoch."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.tic = time.perf_counter()

    def __call__(self, *args: object) -> None:
        now = time.perf_counter()
        self.times.append(now - self.tic)
        self.tic = now


def samples_per_second(symbol: mx.sym.Symbol, image: bool, batch: int, epochs: int) -> float:
    train_iter, _ = digits_iters(batch, seed=0, image=image)
    timer = _EpochTimer()  # the first epoch also includes bind and init: the median skips it
    module = mx.mod.Module(symbol)
    module.fit(train_iter, num_epoch=epochs, optimizer="sgd", initializer=mx.init.Xavier(),
               optimizer_params={"learning_rate": 0.05, "momentum": 0.9},
               epoch_end_callback=timer)
    samples = train_iter.num_data // batch * batch
    return samples / statistics.median(timer.times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    logging.disable(logging.INFO)
    rows = []
    for name, sym, image, batch in (("MLP (seed net)", mlp(), False, 32),
                                    ("MLP (seed net)", mlp(), False, 128),
                                    ("LeNet", lenet(), True, 64)):
        speed = samples_per_second(sym, image, batch, args.epochs)
        rows.append([name, batch, f"{speed:,.0f}"])
    print(table(rows, ["network (8x8 digits)", "batch", "samples/s"]))


if __name__ == "__main__":
    main()

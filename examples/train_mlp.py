"""Train the seed's multilayer perceptron on scikit-learn's bundled 8x8 digits (offline).

The network is the seed's ``fc1(128) -> relu -> fc2(64)`` with a 10-way ``fc3`` and
``SoftmaxOutput``, trained with ``mx.mod.Module.fit`` as MXNet 1.x users write it; the script
then saves a checkpoint, loads it back and predicts.
Run: ``python examples/train_mlp.py [--epochs N]``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import mxlite as mx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _digits import digits_iters


def mlp() -> mx.sym.Symbol:
    net = mx.symbol.Variable("data")
    net = mx.symbol.FullyConnected(data=net, name="fc1", num_hidden=128)
    net = mx.symbol.Activation(data=net, name="relu1", act_type="relu")
    net = mx.symbol.FullyConnected(data=net, name="fc2", num_hidden=64)
    net = mx.symbol.Activation(data=net, name="relu2", act_type="relu")
    net = mx.symbol.FullyConnected(data=net, name="fc3", num_hidden=10)
    return mx.symbol.SoftmaxOutput(data=net, name="softmax")


def train(symbol: mx.sym.Symbol, train_iter: mx.io.DataIter, test_iter: mx.io.DataIter,
          epochs: int, lr: float, prefix: str | None) -> float:
    """Fit, checkpoint, reload and score; returns the reloaded model's test accuracy."""
    module = mx.mod.Module(symbol, context=mx.cpu())
    batches_per_epoch = train_iter.num_data // train_iter.batch_size
    schedule = mx.lr_scheduler.FactorScheduler(step=8 * batches_per_epoch, factor=0.5)
    module.fit(train_iter, eval_data=test_iter, optimizer="sgd",
               optimizer_params={"learning_rate": lr, "momentum": 0.9, "wd": 1e-4,
                                 "lr_scheduler": schedule},
               initializer=mx.init.Xavier(magnitude=2.0), num_epoch=epochs,
               batch_end_callback=mx.callback.Speedometer(train_iter.batch_size, 20))
    if prefix is None:
        return dict(module.score(test_iter, "acc"))["accuracy"]
    module.save_checkpoint(prefix, epochs)
    loaded = mx.mod.Module.load(prefix, epochs)
    loaded.bind(test_iter.provide_data, test_iter.provide_label, for_training=False)
    probabilities = loaded.predict(test_iter).asnumpy()
    test_iter.reset()
    labels = np.concatenate([b.label[0].asnumpy()[:b.label[0].shape[0] - b.pad]
                             for b in test_iter])
    accuracy = float((probabilities.argmax(axis=1) == labels).mean())
    logging.info("reloaded %s-%04d.params: test accuracy %.4f", prefix, epochs, accuracy)
    return accuracy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--prefix", default="mlp-digits", help="checkpoint file prefix")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    mx.random.seed(args.seed)
    train_iter, test_iter = digits_iters(args.batch_size, args.seed)
    accuracy = train(mlp(), train_iter, test_iter, args.epochs, args.lr, args.prefix)
    print(f"test-accuracy={accuracy:.4f}")


if __name__ == "__main__":
    main()

"""Train LeNet on scikit-learn's bundled 8x8 digits (offline), with the Module API.

Two convolution + tanh + max-pooling stages (3x3 kernels, padded, for 8x8 images), then
FullyConnected(500) + tanh and a 10-way SoftmaxOutput. Saves a checkpoint, reloads it and
predicts, like ``train_mlp.py``. Run: ``python examples/train_lenet.py [--epochs N]``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import mxlite as mx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _digits import digits_iters
from train_mlp import train


def lenet() -> mx.sym.Symbol:
    data = mx.sym.Variable("data")
    net = mx.sym.Convolution(data, kernel=(3, 3), pad=(1, 1), num_filter=20, name="conv1")
    net = mx.sym.Activation(net, act_type="tanh", name="tanh1")
    net = mx.sym.Pooling(net, pool_type="max", kernel=(2, 2), stride=(2, 2), name="pool1")
    net = mx.sym.Convolution(net, kernel=(3, 3), pad=(1, 1), num_filter=50, name="conv2")
    net = mx.sym.Activation(net, act_type="tanh", name="tanh2")
    net = mx.sym.Pooling(net, pool_type="max", kernel=(2, 2), stride=(2, 2), name="pool2")
    net = mx.sym.Flatten(net, name="flatten")
    net = mx.sym.FullyConnected(net, num_hidden=500, name="fc1")
    net = mx.sym.Activation(net, act_type="tanh", name="tanh3")
    net = mx.sym.FullyConnected(net, num_hidden=10, name="fc2")
    return mx.sym.SoftmaxOutput(net, name="softmax")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--prefix", default="lenet-digits", help="checkpoint file prefix")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    mx.random.seed(args.seed)
    train_iter, test_iter = digits_iters(args.batch_size, args.seed, image=True)
    accuracy = train(lenet(), train_iter, test_iter, args.epochs, args.lr, args.prefix)
    print(f"test-accuracy={accuracy:.4f}")


if __name__ == "__main__":
    main()

"""Train the seed's multilayer perceptron on scikit-learn's bundled 8x8 digits (offline).

The network is the seed's ``fc1(128) -> relu -> fc2(64)`` with a 10-way ``fc3`` and
``SoftmaxOutput``; training is plain minibatch SGD with momentum on one bound executor.
Run: ``python examples/train_mlp.py [--epochs N]``.
"""

from __future__ import annotations

import argparse
import time

import mxlite as mx
import numpy as np


def mlp() -> mx.sym.Symbol:
    net = mx.symbol.Variable("data")
    net = mx.symbol.FullyConnected(data=net, name="fc1", num_hidden=128)
    net = mx.symbol.Activation(data=net, name="relu1", act_type="relu")
    net = mx.symbol.FullyConnected(data=net, name="fc2", num_hidden=64)
    net = mx.symbol.Activation(data=net, name="relu2", act_type="relu")
    net = mx.symbol.FullyConnected(data=net, name="fc3", num_hidden=10)
    return mx.symbol.SoftmaxOutput(data=net, name="softmax")


def load_digits(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits as sklearn_digits
    digits = sklearn_digits()
    x = (digits.data / 16.0).astype(np.float32)
    y = digits.target.astype(np.float32)
    order = np.random.default_rng(seed).permutation(len(x))
    split = int(0.8 * len(x))
    return x[order[:split]], y[order[:split]], x[order[split:]], y[order[split:]]


def init_params(executor: mx.executor.Executor, rng: np.random.Generator) -> None:
    """Xavier-uniform weights, zero biases."""
    for name, array in executor.arg_dict.items():
        if name.endswith("_weight"):
            bound = np.sqrt(6.0 / (array.shape[0] + array.shape[1]))
            array[:] = rng.uniform(-bound, bound, array.shape)
        elif name.endswith("_bias"):
            array[:] = 0


def accuracy(executor: mx.executor.Executor, x: np.ndarray, y: np.ndarray, batch: int) -> float:
    correct = 0
    for start in range(0, len(x) - batch + 1, batch):
        out = executor.forward(is_train=False, data=x[start:start + batch])[0].asnumpy()
        correct += int((out.argmax(axis=1) == y[start:start + batch]).sum())
    return correct / (len(x) // batch * batch)


def train(epochs: int, batch: int, lr: float, momentum: float, seed: int) -> float:
    mx.random.seed(seed)
    x_train, y_train, x_test, y_test = load_digits(seed)
    executor = mlp().simple_bind(mx.cpu(), data=(batch, x_train.shape[1]))
    rng = np.random.default_rng(seed)
    init_params(executor, rng)
    params = [n for n in executor.arg_dict if n not in ("data", "softmax_label")]
    velocity = {n: np.zeros(executor.arg_dict[n].shape, np.float32) for n in params}
    for epoch in range(epochs):
        tic = time.perf_counter()
        order = rng.permutation(len(x_train))
        for start in range(0, len(order) - batch + 1, batch):
            idx = order[start:start + batch]
            executor.forward(is_train=True, data=x_train[idx], softmax_label=y_train[idx])
            executor.backward()
            for name in params:
                v = velocity[name]
                v *= momentum
                v -= (lr / batch) * executor.grad_dict[name].asnumpy()
                weight = executor.arg_dict[name]
                weight += v  # in place: the executor sees the new weights
        speed = len(order) / (time.perf_counter() - tic)
        print(f"Epoch[{epoch}] train-accuracy={accuracy(executor, x_train, y_train, batch):.4f} "
              f"({speed:.0f} samples/sec)")
    test_acc = accuracy(executor, x_test, y_test, batch)
    print(f"test-accuracy={test_acc:.4f}")
    return test_acc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--momentum", type=float, default=0.9)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    train(args.epochs, args.batch_size, args.lr, args.momentum, args.seed)


if __name__ == "__main__":
    main()

"""Regression loss outputs: ``LinearRegressionOutput``, ``LogisticRegressionOutput``,
``MAERegressionOutput``.

Forward gives the prediction (identity, or the sigmoid for the logistic one). Backward ignores
the head gradient (these are losses) and gives ``d = (out - label) * grad_scale / m`` (the sign
of ``out - label`` for MAE), where ``m = label.size / label.shape[0]`` is the number of outputs
per sample. The label's gradient is 0.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from mxlite.inference import ShapeError
from mxlite.registry import Kernel, OpDef, Param, Params


def _label_fits(data: tuple, label: tuple) -> bool:
    """The label is shaped like the data, or (N,) for data (N, 1); unknown (0) dims match."""
    def same(a: tuple, b: tuple) -> bool:
        return len(a) == len(b) and all(x == y or not x or not y for x, y in zip(a, b))
    return same(data, label) or (len(data) == 2 and data[1] == 1 and same(data[:1], label))


def _regression_shape(p: Params, ins: list, outs: list, aux: list):
    data, label = ins
    data = data if data is not None else outs[0]
    if data is None:
        return ins, outs, aux
    data = tuple(data)
    if label is None:
        label = data[:1] if len(data) == 2 and data[1] == 1 else data
    elif not _label_fits(data, tuple(label)):
        raise ShapeError(f"label shape {tuple(label)} does not fit data {data}: the label must "
                         "have the data's shape (or (N,) for data (N, 1))")
    elif len(label) == len(data):
        data = tuple(a or b for a, b in zip(data, label))
        label = data
    return [data, label], [data], aux


def _identity(p: Params, ins: list, outs: list, aux: list, is_train: bool) -> None:
    outs[0][...] = ins[0]  # a no-op when planned in place (numpy sees one buffer)


def _sigmoid(p: Params, ins: list, outs: list, aux: list, is_train: bool) -> None:
    y = outs[0]
    np.negative(ins[0], out=y)
    np.exp(y, out=y)
    y += 1
    np.reciprocal(y, out=y)


def _regression_op(name: str, forward: Callable, use_sign: bool, doc: str) -> OpDef:
    def backward(p: Params, out_grads: list, ins: list, outs: list, in_grads: list,
                 aux: list) -> None:
        label = ins[1]
        if in_grads[1] is not None:
            in_grads[1].fill(0)
        dx = in_grads[0]
        if dx is None:
            return
        out = outs[0]
        np.subtract(out, label.reshape(out.shape), out=dx)
        if use_sign:
            np.sign(dx, out=dx)
        per_sample = label.size / label.shape[0] if label.ndim and label.shape[0] else 1.0
        dx *= p.grad_scale / per_sample

    return OpDef(
        name=name, doc=doc,
        params=[Param("grad_scale", "float", 1.0, doc="Scale of the gradient.")],
        inputs=["data", "label"], infer_shape=_regression_shape,
        kernels={"numpy": Kernel(forward, backward)},
        is_loss=True,
        inplace=[(0, 0)],
        grad_uses=("label", "outputs"),
    )


OPS = [
    _regression_op("LinearRegressionOutput", _identity, False,
                   "Least-squares regression output: identity forward, gradient "
                   "(out - label) * grad_scale / outputs-per-sample."),
    _regression_op("LogisticRegressionOutput", _sigmoid, False,
                   "Logistic regression output: sigmoid forward, gradient "
                   "(sigmoid(x) - label) * grad_scale / outputs-per-sample."),
    _regression_op("MAERegressionOutput", _identity, True,
                   "Mean-absolute-error regression output: identity forward, gradient "
                   "sign(out - label) * grad_scale / outputs-per-sample."),
]

"""SoftmaxOutput: forward softmax, and its cross-entropy gradient in every mode."""

from __future__ import annotations

import mxlite as mx
import numpy as np
import pytest
from mxlite.test_utils import assert_almost_equal, check_symbolic_backward, check_symbolic_forward

#: every test here runs once per available backend (numpy, and "c" where built)
pytestmark = pytest.mark.usefixtures("each_backend")

RNG = np.random.default_rng(7)


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def onehot(label: np.ndarray, classes: int) -> np.ndarray:
    return np.eye(classes)[label.astype(int)]


def _sym(**params):  # type: ignore[no-untyped-def]
    return mx.sym.SoftmaxOutput(mx.sym.Variable("data"), mx.sym.Variable("label"), **params)


def test_forward_is_softmax_over_classes() -> None:
    x = RNG.normal(size=(4, 5))
    check_symbolic_forward(_sym(), {"data": x, "label": np.zeros(4)}, [softmax(x)], dtype=np.float64)


@pytest.mark.parametrize("normalization,norm", [("null", 1.0), ("batch", 4.0)])
def test_gradient_is_softmax_minus_onehot(normalization: str, norm: float) -> None:
    x, label = RNG.normal(size=(4, 5)), np.array([0, 3, 4, 1.0])
    expected = (softmax(x) - onehot(label, 5)) * 2.0 / norm
    check_symbolic_backward(_sym(grad_scale=2.0, normalization=normalization),
                            {"data": x, "label": label}, None,
                            {"data": expected, "label": np.zeros(4)}, dtype=np.float64)


def test_ignore_label_and_valid_normalization() -> None:
    x, label = RNG.normal(size=(4, 3)), np.array([0, -1, 2, -1.0])
    expected = softmax(x) - onehot(np.maximum(label, 0), 3)
    expected[label == -1] = 0
    check_symbolic_backward(_sym(use_ignore=True, normalization="valid"),
                            {"data": x, "label": label}, None, {"data": expected / 2.0},
                            dtype=np.float64)


def test_multi_output_softmaxes_axis_one() -> None:
    x, label = RNG.normal(size=(2, 3, 4)), RNG.integers(0, 3, size=(2, 4)).astype(float)
    prob = softmax(x, axis=1)
    expected = prob - np.moveaxis(onehot(label, 3), -1, 1)
    sym = _sym(multi_output=True)
    assert sym.infer_shape(data=(2, 3, 4))[0][1] == (2, 4)
    check_symbolic_forward(sym, {"data": x, "label": label}, [prob], dtype=np.float64)
    check_symbolic_backward(sym, {"data": x, "label": label}, None, {"data": expected},
                            dtype=np.float64)


def test_preserve_shape_uses_last_axis() -> None:
    x, label = RNG.normal(size=(2, 3, 4)), RNG.integers(0, 4, size=(2, 3)).astype(float)
    expected = softmax(x) - onehot(label, 4)
    check_symbolic_backward(_sym(preserve_shape=True), {"data": x, "label": label}, None,
                            {"data": expected}, dtype=np.float64)


def test_probability_target() -> None:
    x, target = RNG.normal(size=(3, 4)), softmax(RNG.normal(size=(3, 4)))
    check_symbolic_backward(_sym(), {"data": x, "label": target}, None,
                            {"data": softmax(x) - target}, dtype=np.float64)


def test_label_smoothing() -> None:
    x, label = RNG.normal(size=(2, 4)), np.array([1, 3.0])
    smoothed = onehot(label, 4) * 0.9 + (1 - onehot(label, 4)) * 0.1 / 3
    check_symbolic_backward(_sym(smooth_alpha=0.1), {"data": x, "label": label}, None,
                            {"data": softmax(x) - smoothed}, dtype=np.float64)


def test_is_a_loss_and_ignores_head_gradient() -> None:
    x, label = RNG.normal(size=(2, 3)), np.array([2, 0.0])
    executor = _sym().bind(mx.cpu(), {"data": mx.nd.array(x), "label": mx.nd.array(label)},
                           args_grad={"data": mx.nd.zeros((2, 3))})
    executor.forward(is_train=True)
    executor.backward()
    first = executor.grad_dict["data"].asnumpy()
    executor.backward(mx.nd.ones((2, 3)) * 5)
    assert_almost_equal(executor.grad_dict["data"], first)


def test_default_label_name_and_shape() -> None:
    sym = mx.sym.SoftmaxOutput(mx.sym.Variable("data"), name="softmax")
    assert sym.list_arguments() == ["data", "softmax_label"]
    assert sym.infer_shape(data=(8, 10))[0] == [(8, 10), (8,)]


def test_bad_label_shape_and_value() -> None:
    with pytest.raises(mx.base.MXNetError, match="label shape"):
        _sym().infer_shape(data=(4, 5), label=(2, 2, 2))
    executor = _sym().simple_bind(mx.cpu(), data=(2, 3))
    executor.arg_dict["label"][:] = 7
    executor.forward(is_train=True)
    with pytest.raises(mx.base.MXNetError, match="label 7 is out of range for 3 classes"):
        executor.backward()

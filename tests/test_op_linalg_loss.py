"""dot, batch_dot, regression outputs, the softmax family and softmax_cross_entropy."""

from __future__ import annotations

import mxlite as mx
import numpy as np
import pytest
from mxlite.test_utils import (
    assert_almost_equal,
    check_numeric_gradient,
    check_symbolic_backward,
    check_symbolic_forward,
)

#: every test here runs once per available backend (numpy, and "c" where built)
pytestmark = pytest.mark.usefixtures("each_backend")

A, B = mx.sym.Variable("a"), mx.sym.Variable("b")
DATA, LABEL = mx.sym.Variable("data"), mx.sym.Variable("label")


def _rand(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed + sum(shape)).uniform(-1, 1, shape)


# -- dot ------------------------------------------------------------------------------------
def _dot_reference(a: np.ndarray, b: np.ndarray, ta: bool, tb: bool) -> np.ndarray:
    """Explicit sums: contract lhs's last axis (first with ta) with rhs's first (last with tb)."""
    if ta and a.ndim > 1:
        a = np.moveaxis(a, 0, -1)
    if tb and b.ndim > 1:
        b = np.moveaxis(b, -1, 0)
    k = a.shape[-1]
    out = np.zeros(a.shape[:-1] + b.shape[1:])
    for i in range(k):
        out = out + np.multiply.outer(a[..., i], b[i])
    return out if out.ndim else out.reshape(1)


DOT_CASES = [
    ((2, 3), (3, 4), False, False),
    ((3, 2), (3, 4), True, False),
    ((2, 3), (4, 3), False, True),
    ((3, 2), (4, 3), True, True),
    ((3,), (3,), False, False),
    ((3,), (3, 4), False, False),
    ((2, 3), (3,), False, False),
    ((3,), (4, 3), False, True),
    ((2, 3, 4), (4, 2, 3), False, False),
    ((2, 3, 4), (2, 3, 2), True, False),
    ((2, 3, 4), (2, 3, 4), False, True),
    ((4, 2, 3), (2, 4), True, True),
]


@pytest.mark.parametrize("lshape,rshape,ta,tb", DOT_CASES, ids=str)
def test_dot_forward_shape_and_gradient(lshape: tuple, rshape: tuple, ta: bool, tb: bool) -> None:
    a, b = _rand(*lshape), _rand(*rshape, seed=1)
    sym = mx.sym.dot(A, B, transpose_a=ta, transpose_b=tb)
    expected = _dot_reference(a, b, ta, tb)
    assert sym.infer_shape(a=lshape, b=rshape)[1] == [expected.shape]
    check_symbolic_forward(sym, [a, b], [expected], rtol=1e-10, atol=1e-12, dtype=np.float64)
    check_numeric_gradient(sym, [a, b], dtype=np.float64)


def test_dot_shapes_match_mxnet() -> None:
    """Output shapes observed on MXNet 1.9.1."""
    cases = [((2, 3, 4), (4, 5, 6), False, False, (2, 3, 5, 6)),
             ((2, 3, 4), (2, 3, 5), True, False, (3, 4, 3, 5)),
             ((2, 3, 4), (5, 6, 4), False, True, (2, 3, 5, 6)),
             ((4, 2, 3), (5, 4), True, True, (2, 3, 5)),
             ((3,), (3,), False, False, (1,)),
             ((3,), (3, 4), True, False, (4,))]
    for lshape, rshape, ta, tb, out in cases:
        sym = mx.sym.dot(A, B, transpose_a=ta, transpose_b=tb)
        assert sym.infer_shape(a=lshape, b=rshape)[1] == [out]
    assert mx.nd.dot(mx.nd.array([1, 2.0]), mx.nd.array([3, 4.0])).asnumpy().tolist() == [11]


def test_dot_errors() -> None:
    with pytest.raises(mx.base.MXNetError, match=r"dot shape error.*\(2, 3\).*\(4, 5\)"):
        mx.sym.dot(A, B).infer_shape(a=(2, 3), b=(4, 5))
    with pytest.raises(mx.base.MXNetError, match="cannot transpose vectors"):
        mx.sym.dot(A, B, transpose_a=True).infer_shape(a=(3,), b=(3,))
    with pytest.raises(mx.base.MXNetError, match="dot shape error"):
        mx.nd.dot(mx.nd.ones((2, 3)), mx.nd.ones((2, 3)))


def test_dot_partial_inference_and_legacy_param() -> None:
    assert mx.sym.dot(A, B).infer_shape_partial(a=(2, 3)) == ([(2, 3), ()], [()], [])
    assert mx.sym.dot(A, B).infer_shape_partial(a=(0, 3), b=(3, 4))[1] == [(0, 4)]
    sym = mx.sym.dot(A, B, forward_stype="default")
    assert sym.infer_shape(a=(2, 3), b=(3, 1))[1] == [(2, 1)]


# -- batch_dot ------------------------------------------------------------------------------
@pytest.mark.parametrize("ta,tb", [(False, False), (True, False), (False, True), (True, True)])
def test_batch_dot(ta: bool, tb: bool) -> None:
    lshape = (2, 4, 3) if ta else (2, 3, 4)
    rshape = (2, 5, 4) if tb else (2, 4, 5)
    a, b = _rand(*lshape), _rand(*rshape, seed=2)
    left = np.swapaxes(a, 1, 2) if ta else a
    right = np.swapaxes(b, 1, 2) if tb else b
    expected = np.stack([left[i] @ right[i] for i in range(2)])
    sym = mx.sym.batch_dot(A, B, transpose_a=ta, transpose_b=tb)
    assert sym.infer_shape(a=lshape, b=rshape)[1] == [(2, 3, 5)]
    check_symbolic_forward(sym, [a, b], [expected], rtol=1e-10, dtype=np.float64)
    check_numeric_gradient(sym, [a[:, :, :], b], dtype=np.float64)


def test_batch_dot_four_dims_and_errors() -> None:
    a, b = _rand(2, 2, 3, 2), _rand(2, 2, 2, 3, seed=3)
    sym = mx.sym.batch_dot(A, B)
    assert sym.infer_shape(a=a.shape, b=b.shape)[1] == [(2, 2, 3, 3)]
    check_symbolic_forward(sym, [a, b], [np.einsum("xyij,xyjk->xyik", a, b)], dtype=np.float64)
    check_numeric_gradient(sym, [a, b], dtype=np.float64)
    with pytest.raises(mx.base.MXNetError, match="leading .batch. dimensions must match"):
        sym.infer_shape(a=(2, 3, 4), b=(3, 4, 5))
    with pytest.raises(mx.base.MXNetError, match=">= 3"):
        sym.infer_shape(a=(2, 3), b=(3, 2))
    with pytest.raises(mx.base.MXNetError, match="do not multiply"):
        sym.infer_shape(a=(2, 3, 4), b=(2, 3, 4))
    assert sym.infer_shape_partial(a=(2, 3, 4)) == ([(2, 3, 4), ()], [()], [])


# -- regression outputs -----------------------------------------------------------------------
REG_DATA = np.array([[1.0, 2.0, 3.0], [0.5, -1.0, 2.0]])
REG_LABEL = np.array([[0.0, 1.0, 1.0], [1.0, 0.0, 1.0]])


@pytest.mark.parametrize("name,output,grad", [
    ("LinearRegressionOutput", REG_DATA,
     [[0.6666667, 0.6666667, 1.3333334], [-0.33333334, -0.6666667, 0.6666667]]),
    ("LogisticRegressionOutput",
     [[0.7310586, 0.880797, 0.95257413], [0.62245935, 0.26894143, 0.880797]],
     [[0.4873724, -0.07946865, -0.03161725], [-0.2516938, 0.17929429, -0.07946865]]),
    ("MAERegressionOutput", REG_DATA,
     [[0.6666667, 0.6666667, 0.6666667], [-0.6666667, -0.6666667, 0.6666667]]),
])
def test_regression_outputs_match_mxnet(name: str, output, grad) -> None:  # type: ignore[no-untyped-def]
    """MXNet 1.9.1 with grad_scale=2: gradient scaled by 2 / (label.size / batch) = 2/3."""
    sym = getattr(mx.sym, name)(DATA, LABEL, grad_scale=2.0)
    loc = {"data": REG_DATA, "label": REG_LABEL}
    check_symbolic_forward(sym, loc, [np.array(output)], rtol=1e-6)
    check_symbolic_backward(sym, loc, None, {"data": np.array(grad), "label": np.zeros((2, 3))},
                            rtol=1e-5)


def test_regression_normalises_by_outputs_per_sample() -> None:
    sym = mx.sym.LinearRegressionOutput(DATA, LABEL)
    check_symbolic_backward(sym, {"data": np.ones((2, 2, 2)), "label": np.zeros((2, 2, 2))},
                            None, {"data": np.full((2, 2, 2), 0.25)})
    data = np.array([[1.0], [2.0], [3.0]])
    check_symbolic_backward(sym, {"data": data, "label": np.zeros(3)}, None, {"data": data})
    x, y = _rand(4, 5), _rand(4, 5, seed=1)
    check_symbolic_backward(mx.sym.LogisticRegressionOutput(DATA, LABEL, grad_scale=0.5),
                            {"data": x, "label": y}, None,
                            {"data": (1 / (1 + np.exp(-x)) - y) * 0.5 / 5})


def test_regression_label_shape_inference() -> None:
    """MXNet 1.9.1: label like data, or (N,) for data (N, 1); auto-named <name>_label."""
    sym = mx.sym.LinearRegressionOutput(DATA, name="lro")
    assert sym.list_arguments() == ["data", "lro_label"]
    assert sym.infer_shape(data=(4, 1)) == ([(4, 1), (4,)], [(4, 1)], [])
    assert sym.infer_shape(data=(4, 3)) == ([(4, 3), (4, 3)], [(4, 3)], [])
    assert sym.infer_shape(data=(4,)) == ([(4,), (4,)], [(4,)], [])
    assert sym.infer_shape(data=(4, 1), lro_label=(4, 1))[0] == [(4, 1), (4, 1)]
    assert sym.infer_shape_partial(data=(0, 3), lro_label=(5, 3))[0] == [(5, 3), (5, 3)]


@pytest.mark.parametrize("label", [(4,), (12,), (4, 2)])
def test_regression_bad_label_shape_raises(label: tuple) -> None:
    sym = mx.sym.MAERegressionOutput(DATA, LABEL)
    with pytest.raises(mx.base.MXNetError, match="label shape .* does not fit data"):
        sym.infer_shape(data=(4, 3), label=label)


def test_regression_is_a_loss_head() -> None:
    sym = mx.sym.LinearRegressionOutput(DATA, LABEL)
    exe = sym.simple_bind(mx.cpu(), data=(2, 3), label=(2, 3))
    exe.arg_dict["data"][:] = 1.0
    exe.forward(is_train=True)
    exe.backward()  # no head gradient needed
    assert_almost_equal(exe.grad_dict["data"], np.full((2, 3), 1 / 3, np.float32))


# -- softmax / log_softmax / softmin ----------------------------------------------------------
SM_X = np.array([[1.0, 2.0, 3.0], [1.0, 1.0, 5.0]])


def _softmax_ref(x: np.ndarray, axis: int) -> np.ndarray:
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def test_softmax_family_matches_mxnet_numbers() -> None:
    x = mx.nd.array(SM_X)
    assert_almost_equal(mx.nd.softmax(x, temperature=2.0),
                        np.array([[0.18632373, 0.3071959, 0.5064804],
                                  [0.10650698, 0.10650698, 0.78698605]], np.float32))
    assert_almost_equal(mx.nd.log_softmax(x, axis=0),
                        np.array([[-0.6931472, -0.31326166, -2.126928],
                                  [-0.6931472, -1.3132616, -0.12692805]], np.float32))
    assert_almost_equal(mx.nd.softmin(x),
                        np.array([[0.66524094, 0.24472848, 0.09003057],
                                  [0.49546266, 0.49546266, 0.00907472]], np.float32))
    assert_almost_equal(mx.nd.softmax(mx.nd.array([[1, 2, 3.0]]), temperature=0.5),
                        np.array([[0.01587624, 0.11731043, 0.86681336]], np.float32))


@pytest.mark.parametrize("name", ["softmax", "log_softmax", "softmin"])
@pytest.mark.parametrize("axis,temperature", [(-1, None), (0, None), (1, 2.5), (2, 0.7)],
                         ids=str)
def test_softmax_family_forward_and_gradient(name: str, axis: int, temperature) -> None:  # type: ignore[no-untyped-def]
    x = _rand(2, 3, 4) * 3
    z = x / (temperature or 1.0)
    expected = {"softmax": _softmax_ref(z, axis),
                "log_softmax": np.log(_softmax_ref(z, axis)),
                "softmin": _softmax_ref(-z, axis)}[name]
    sym = getattr(mx.sym, name)(DATA, axis=axis, temperature=temperature)
    check_symbolic_forward(sym, [x], [expected], rtol=1e-10, atol=1e-12, dtype=np.float64)
    check_numeric_gradient(sym, [x], dtype=np.float64)
    assert sym.infer_shape(data=(2, 3, 4)) == ([(2, 3, 4)], [(2, 3, 4)], [])


def test_softmax_is_stable_for_large_inputs() -> None:
    out = mx.nd.log_softmax(mx.nd.array([[-1000, 0, 1000.0]]), dtype="float64")
    assert_almost_equal(out, np.array([[-2000.0, -1000.0, 0.0]]))
    assert np.isfinite(mx.nd.softmax(mx.nd.array([[1e4, -1e4]])).asnumpy()).all()


def test_softmax_dtype_parameter() -> None:
    sym = mx.sym.softmax(DATA, dtype="float64")
    assert sym.infer_type(data="float32") == ([np.float32], [np.float64], [])
    assert mx.nd.softmax(mx.nd.array(SM_X), dtype="float64").dtype == np.float64
    out = mx.nd.log_softmax(mx.nd.array([1, 2], dtype="float16"), dtype="float32")
    assert out.dtype == np.float32
    x = _rand(3, 4)
    check_numeric_gradient(mx.sym.log_softmax(DATA, dtype="float64"), [x.astype(np.float32)],
                           rtol=1e-2, atol=1e-3)


def test_softmax_use_length_matches_mxnet() -> None:
    """MXNet 1.9.1: entries past `length` are 0 and get no gradient; length's gradient is 0."""
    length = mx.sym.Variable("length")
    sym = mx.sym.softmax(DATA, length, use_length=True, temperature=2.0)
    assert sym.list_arguments() == ["data", "length"]
    assert mx.sym.softmax(DATA, use_length=True, name="sm").list_arguments() == ["data",
                                                                                  "sm_length"]
    loc = {"data": SM_X, "length": np.array([2.0, 1.0])}
    check_symbolic_forward(sym, loc, [np.array([[0.37754068, 0.62245935, 0],
                                                [1.0, 0, 0]])], rtol=1e-6)
    check_symbolic_backward(sym, loc, [np.array([[1.0, 2, 3], [4, 5, 6]])],
                            {"data": np.array([[-0.11750188, 0.11750183, 0], [0, 0, 0]]),
                             "length": np.zeros(2)}, rtol=1e-5, atol=1e-7)
    out = mx.nd.softmax(mx.nd.array(np.arange(6).reshape(2, 3)), mx.nd.array([1, 2, 0]),
                        axis=0, use_length=True)
    assert_almost_equal(out, np.array([[1, 0.04742587, 0], [0, 0.95257413, 0]], np.float32))


def test_softmax_length_shape_and_type() -> None:
    sym = mx.sym.softmax(DATA, mx.sym.Variable("l"), use_length=True, axis=0)
    assert sym.infer_shape(data=(2, 3)) == ([(2, 3), (3,)], [(2, 3)], [])
    assert sym.infer_type(data="float32", l="int32")[0] == [np.float32, np.int32]
    with pytest.raises(mx.base.MXNetError, match="length"):
        sym.infer_shape(data=(2, 3), l=(2,))
    with pytest.raises(mx.base.MXNetError, match="only softmax"):
        mx.sym.log_softmax(DATA, use_length=True).infer_shape(data=(2, 3))


def test_softmax_bad_axis_and_params() -> None:
    with pytest.raises(mx.base.MXNetError, match="axis 2 is out of range"):
        mx.sym.softmax(DATA, axis=2).infer_shape(data=(2, 3))
    with pytest.raises(mx.base.MXNetError, match="invalid value 'int32'"):
        mx.sym.softmax(DATA, dtype="int32")


# -- SoftmaxActivation ----------------------------------------------------------------------
def test_softmax_activation_modes_match_mxnet() -> None:
    """MXNet 1.9.1: 'instance' runs over the last axis, 'channel' over axis 1."""
    x = mx.nd.array(np.arange(12).reshape(2, 3, 2))
    channel = mx.nd.SoftmaxActivation(x, mode="channel").asnumpy()
    assert_almost_equal(channel[0], np.array([[0.01587624] * 2, [0.11731043] * 2,
                                              [0.86681336] * 2], np.float32))
    instance = mx.nd.SoftmaxActivation(x).asnumpy()
    assert_almost_equal(instance[1], np.array([[0.26894143, 0.7310586]] * 3, np.float32))
    assert_almost_equal(mx.nd.SoftmaxActivation(mx.nd.array([1, 2, 3.0])),
                        np.array([0.09003057, 0.24472848, 0.66524094], np.float32))


@pytest.mark.parametrize("mode,axis", [("instance", -1), ("channel", 1)])
def test_softmax_activation_gradient(mode: str, axis: int) -> None:
    x = _rand(2, 3, 2, 2)
    sym = mx.sym.SoftmaxActivation(DATA, mode=mode)
    check_symbolic_forward(sym, [x], [_softmax_ref(x, axis)], dtype=np.float64)
    check_numeric_gradient(sym, [x], dtype=np.float64)


def test_softmax_activation_channel_needs_three_dims() -> None:
    with pytest.raises(mx.base.MXNetError, match="at least 3 dimensions"):
        mx.sym.SoftmaxActivation(DATA, mode="channel").infer_shape(data=(2, 6))
    with pytest.raises(mx.base.MXNetError, match="invalid value 'batch'"):
        mx.sym.SoftmaxActivation(DATA, mode="batch")


# -- softmax_cross_entropy --------------------------------------------------------------------
def test_softmax_cross_entropy_matches_mxnet() -> None:
    """MXNet 1.9.1: summed over the batch, shape (1,); gradient (softmax - onehot) * head."""
    sym = mx.sym.softmax_cross_entropy(DATA, LABEL)
    assert sym.list_arguments() == ["data", "label"]
    assert sym.infer_shape(data=(2, 3), label=(2,)) == ([(2, 3), (2,)], [(1,)], [])
    loc = {"data": np.array([[1.0, 2, 3], [11, 7, 5]]), "label": np.array([2.0, 0])}
    check_symbolic_forward(sym, loc, [np.array([0.4281871])], rtol=1e-6)
    check_symbolic_backward(sym, loc, [np.array([2.0])],
                            {"data": np.array([[0.18006115, 0.48945695, -0.6695181],
                                               [-0.04074156, 0.03588507, 0.00485652]]),
                             "label": np.zeros(2)}, rtol=1e-5, atol=1e-7)


def test_softmax_cross_entropy_reference_and_gradient() -> None:
    x = _rand(5, 4) * 3
    label = np.array([0.0, 3, 1, 2, 3])
    expected = -sum(np.log(_softmax_ref(x, 1)[i, int(c)]) for i, c in enumerate(label))
    sym = mx.sym.softmax_cross_entropy(DATA, LABEL)
    check_symbolic_forward(sym, {"data": x, "label": label}, [np.array([expected])],
                           dtype=np.float64)
    check_numeric_gradient(sym, {"data": x, "label": label}, grad_nodes=["data"],
                           dtype=np.float64)
    out = mx.nd.softmax_cross_entropy(mx.nd.array(x), mx.nd.array(label, dtype="int32"))
    assert out.shape == (1,) and out.dtype == np.float32


def test_softmax_cross_entropy_shape_rules() -> None:
    sym = mx.sym.softmax_cross_entropy(DATA, LABEL)
    assert sym.infer_shape(data=(4, 3)) == ([(4, 3), (4,)], [(1,)], [])
    with pytest.raises(mx.base.MXNetError, match="2-D data"):
        sym.infer_shape(data=(2, 3, 4), label=(2,))
    with pytest.raises(mx.base.MXNetError, match="1-D label"):
        sym.infer_shape(data=(2, 3), label=(2, 3))
    with pytest.raises(mx.base.MXNetError, match="different batch sizes"):
        sym.infer_shape(data=(2, 3), label=(3,))

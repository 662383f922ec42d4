"""Element-wise unary math operators and clip: forward, gradients, shapes, MXNet's rounding."""

from __future__ import annotations

import math

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


def _sigmoid(v: float) -> float:
    return 1.0 / (1.0 + math.exp(-v))


# name -> (scalar reference, low, high): inputs are drawn from [low, high]
SMOOTH = {
    "abs": (abs, 0.2, 2.0),
    "exp": (math.exp, -2.0, 2.0),
    "log": (math.log, 0.2, 3.0),
    "log1p": (math.log1p, -0.5, 2.0),
    "expm1": (math.expm1, -2.0, 2.0),
    "log2": (math.log2, 0.2, 3.0),
    "log10": (math.log10, 0.2, 3.0),
    "sqrt": (math.sqrt, 0.2, 3.0),
    "rsqrt": (lambda v: 1.0 / math.sqrt(v), 0.2, 3.0),
    "cbrt": (lambda v: math.copysign(abs(v) ** (1.0 / 3.0), v), 0.2, 3.0),
    "rcbrt": (lambda v: 1.0 / math.copysign(abs(v) ** (1.0 / 3.0), v), 0.2, 3.0),
    "square": (lambda v: v * v, -2.0, 2.0),
    "negative": (lambda v: -v, -2.0, 2.0),
    "reciprocal": (lambda v: 1.0 / v, 0.3, 3.0),
    "relu": (lambda v: max(v, 0.0), -2.0, 2.0),
    "sigmoid": (_sigmoid, -3.0, 3.0),
    "softsign": (lambda v: v / (1.0 + abs(v)), -2.0, 2.0),
    "tanh": (math.tanh, -2.0, 2.0),
    "sin": (math.sin, -3.0, 3.0),
    "cos": (math.cos, -3.0, 3.0),
    "tan": (math.tan, -1.2, 1.2),
    "arcsin": (math.asin, -0.9, 0.9),
    "arccos": (math.acos, -0.9, 0.9),
    "arctan": (math.atan, -3.0, 3.0),
    "sinh": (math.sinh, -2.0, 2.0),
    "cosh": (math.cosh, -2.0, 2.0),
    "arcsinh": (math.asinh, -3.0, 3.0),
    "arccosh": (math.acosh, 1.2, 3.0),
    "arctanh": (math.atanh, -0.9, 0.9),
    "degrees": (math.degrees, -3.0, 3.0),
    "radians": (math.radians, -90.0, 90.0),
    "erf": (math.erf, -2.0, 2.0),
}
ROUNDING = ["sign", "floor", "ceil", "round", "rint", "fix", "trunc"]


def _inputs(low: float, high: float, shape: tuple = (3, 4), seed: int = 0) -> np.ndarray:
    values = np.random.default_rng(seed).uniform(low, high, shape)
    values[np.abs(values) < 0.05] = 0.3  # keep away from kinks at 0 (abs, relu)
    return values


def _reference(name: str, x: np.ndarray) -> np.ndarray:
    fn = SMOOTH[name][0]
    return np.array([fn(float(v)) for v in x.ravel()]).reshape(x.shape)


@pytest.mark.parametrize("name", sorted(SMOOTH))
def test_forward_matches_scalar_reference(name: str) -> None:
    x = _inputs(*SMOOTH[name][1:])
    sym = getattr(mx.sym, name)(mx.sym.Variable("data"))
    check_symbolic_forward(sym, [x], [_reference(name, x)], rtol=1e-10, atol=1e-12,
                           dtype=np.float64)
    out = getattr(mx.nd, name)(mx.nd.array(x)).asnumpy()
    assert out.dtype == np.float32
    assert_almost_equal(out, _reference(name, x).astype(np.float32), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", sorted(SMOOTH))
def test_numeric_gradient(name: str) -> None:
    x = _inputs(*SMOOTH[name][1:], shape=(2, 3), seed=1)
    sym = getattr(mx.sym, name)(mx.sym.Variable("data"))
    check_numeric_gradient(sym, [x], dtype=np.float64)


@pytest.mark.parametrize("name", ROUNDING)
def test_rounding_ops_have_zero_gradient(name: str) -> None:
    x = np.array([[-1.7, -0.2, 0.4, 2.6]])
    sym = getattr(mx.sym, name)(mx.sym.Variable("data"))
    check_symbolic_backward(sym, [x], [np.ones_like(x)], [np.zeros_like(x)])


def test_rounding_matches_mxnet_values() -> None:
    """Numbers from MXNet 1.9.1: round takes halves away from zero, rint takes them down."""
    x = mx.nd.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 0.49999997, -1.9, 2.1])
    expected = {
        "round": [-3, -2, -1, 1, 2, 3, 0, -2, 2],
        "rint": [-3, -2, -1, 0, 1, 2, 0, -2, 2],
        "fix": [-2, -1, 0, 0, 1, 2, 0, -1, 2],
        "trunc": [-2, -1, 0, 0, 1, 2, 0, -1, 2],
        "floor": [-3, -2, -1, 0, 1, 2, 0, -2, 2],
        "ceil": [-2, -1, 0, 1, 2, 3, 1, -1, 3],
        "sign": [-1, -1, -1, 1, 1, 1, 1, -1, 1],
    }
    for name, values in expected.items():
        assert getattr(mx.nd, name)(x).asnumpy().tolist() == values, name


def test_gradients_at_kinks_match_mxnet() -> None:
    """MXNet 1.9.1: relu'(0) = 0, abs'(0) = 0, sqrt'(0) = inf."""
    x = np.array([-1.0, 0.0, 1.0])
    og = np.ones(3)
    for name, grad in [("relu", [0, 0, 1]), ("abs", [-1, 0, 1])]:
        check_symbolic_backward(getattr(mx.sym, name)(mx.sym.Variable("data")), [x], [og],
                                [np.array(grad, float)])
    sym = mx.sym.sqrt(mx.sym.Variable("data"))
    with np.errstate(divide="ignore"):
        grads = check_symbolic_backward(sym, [np.array([0.0, 4.0])], [np.ones(2)],
                                        [np.array([np.inf, 0.25])])
    assert np.isinf(grads["data"][0])


def test_erf_and_softsign_match_mxnet_numbers() -> None:
    x = mx.nd.array([0.0, 0.5])
    assert_almost_equal(mx.nd.erf(x), np.array([0.0, 0.5204999], np.float32))
    check_symbolic_backward(mx.sym.erf(mx.sym.Variable("data")), [np.array([0.0, 0.5])],
                            [np.ones(2)], [np.array([1.1283791, 0.8787826])], rtol=1e-6)
    check_symbolic_backward(mx.sym.softsign(mx.sym.Variable("data")),
                            [np.array([-2.0, 0.0, 1.0])], [np.ones(3)],
                            [np.array([1 / 9, 1.0, 0.25])])


def test_unary_shape_inference_both_ways() -> None:
    sym = mx.sym.exp(mx.sym.Variable("x"))
    assert sym.infer_shape(x=(2, 3)) == ([(2, 3)], [(2, 3)], [])
    partial = mx.sym.sqrt(mx.sym.exp(mx.sym.Variable("x")))
    assert partial.infer_shape_partial(x=(0, 3)) == ([(0, 3)], [(0, 3)], [])
    # an output fixed by a later op flows back to the input
    y = mx.sym.Variable("y")
    net = mx.sym.elemwise_add(mx.sym.tanh(mx.sym.Variable("x")), y)
    assert net.infer_shape(y=(4, 5))[0] == [(4, 5), (4, 5)]


def test_unary_shape_conflict_is_reported() -> None:
    net = mx.sym.elemwise_add(mx.sym.exp(mx.sym.Variable("x")), mx.sym.Variable("y"))
    with pytest.raises(mx.base.MXNetError, match="exp|elemwise_add"):
        net.infer_shape(x=(2, 3), y=(3, 2))


def test_unary_op_rejects_unknown_parameter() -> None:
    with pytest.raises(mx.base.MXNetError, match="unknown parameter 'axis'"):
        mx.sym.exp(mx.sym.Variable("x"), axis=1)


def test_unary_ops_keep_dtype() -> None:
    sym = mx.sym.sigmoid(mx.sym.Variable("x"))
    assert sym.infer_type(x="float64") == ([np.float64], [np.float64], [])
    out = mx.nd.square(mx.nd.array([1, 2, 3], dtype="float16"))
    assert out.dtype == np.float16 and out.asnumpy().tolist() == [1, 4, 9]


def test_chained_ops_with_in_place_buffers_keep_exact_gradients() -> None:
    """A chain whose intermediate buffers the planner may share (in-place hints)."""
    x = mx.sym.Variable("x")
    net = mx.sym.sum(mx.sym.sigmoid(mx.sym.negative(mx.sym.exp(mx.sym.sin(x)))) *
                     mx.sym.sqrt(mx.sym.square(x) + 1.0), axis=1)
    check_numeric_gradient(net, [np.random.default_rng(3).uniform(-1, 1, (3, 4))],
                           dtype=np.float64)


# -- clip ---------------------------------------------------------------------------------
def test_clip_forward_and_gradient_match_mxnet() -> None:
    """MXNet 1.9.1: the gradient passes at the bounds too."""
    x = np.array([-2.0, -1.0, 0.0, 1.0, 2.0])
    sym = mx.sym.clip(mx.sym.Variable("data"), a_min=-1, a_max=1)
    check_symbolic_forward(sym, [x], [np.clip(x, -1, 1)])
    check_symbolic_backward(sym, [x], [np.full(5, 3.0)], [np.array([0, 3, 3, 3, 0.0])])


def test_clip_numeric_gradient_and_shape() -> None:
    x = np.random.default_rng(2).uniform(-2, 2, (3, 4))
    x[np.abs(np.abs(x) - 0.5) < 0.05] = 0.0
    sym = mx.sym.clip(mx.sym.Variable("data"), a_min=-0.5, a_max=0.5)
    check_numeric_gradient(sym, [x], dtype=np.float64)
    assert sym.infer_shape(data=(3, 4))[1] == [(3, 4)]


def test_clip_with_a_min_above_a_max_follows_mxnet() -> None:
    """MXNet 1.9.1: clip([-2, 0, 2], a_min=1, a_max=-1) = [1, -1, -1]."""
    out = mx.nd.clip(mx.nd.array([-2, 0, 2]), a_min=1, a_max=-1)
    assert out.asnumpy().tolist() == [1, -1, -1]


def test_clip_requires_its_bounds() -> None:
    with pytest.raises(mx.base.MXNetError, match="required parameter 'a_max'"):
        mx.sym.clip(mx.sym.Variable("x"), a_min=0)


@pytest.mark.parametrize("name, ufunc", [("degrees", np.degrees), ("radians", np.radians),
                                         ("reciprocal", np.reciprocal)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fast_forms_are_bit_identical_to_the_numpy_ufunc(name: str, ufunc: np.ufunc,
                                                         dtype: type) -> None:
    """degrees, radians and reciprocal run as one multiply or divide: same bits as numpy's."""
    x = np.random.default_rng(3).uniform(-50, 50, (7, 33)).astype(dtype)
    x[0, :3] = [0.0, np.inf, np.nan]
    with np.errstate(divide="ignore"):
        got = getattr(mx.nd, name)(mx.nd.array(x, dtype=dtype)).asnumpy()
        np.testing.assert_array_equal(got, ufunc(x))
    assert got.dtype == dtype


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_round_edge_values(dtype: type) -> None:
    """Halves away from zero; just below a half down; inf, NaN and huge values unchanged."""
    below_half = np.nextafter(dtype(0.5), dtype(0))
    x = np.array([0.5, -0.5, 1.5, -2.5, 2.5, below_half, -below_half, np.inf, -np.inf,
                  np.nan, 3e38, -3e38, 8388607.5, 0.0], dtype)
    expected = np.array([1, -1, 2, -3, 3, 0, 0, np.inf, -np.inf, np.nan, 3e38, -3e38,
                         8388608, 0], dtype)
    with np.errstate(invalid="ignore"):
        got = mx.nd.round(mx.nd.array(x, dtype=dtype)).asnumpy()
    np.testing.assert_array_equal(got, expected)

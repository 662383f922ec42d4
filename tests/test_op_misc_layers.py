"""Dropout, LeakyReLU (leaky, prelu, elu, selu, gelu, rrelu) and Embedding.

Values marked "MXNet 1.9.1" were computed by hand with MXNet 1.9.1 (CPU) on the same inputs.
"""

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

RNG = np.random.default_rng(5)
V = np.float32([-2.0, -0.5, 0.0, 0.3, 1.5])


def data() -> mx.sym.Symbol:
    return mx.sym.Variable("data")


def away_from_zero(shape: tuple) -> np.ndarray:
    """Random values with |x| >= 0.1, so kinks at 0 do not upset numeric gradients."""
    x = RNG.uniform(0.1, 2.0, shape)
    return x * RNG.choice([-1.0, 1.0], shape)


def _forward(sym: mx.sym.Symbol, x: np.ndarray, is_train: bool, grad: bool = True):  # type: ignore[no-untyped-def]
    grads = {"data": mx.nd.zeros(x.shape)} if grad else None
    ex = sym.bind(mx.cpu(), args={"data": mx.nd.array(x)}, args_grad=grads,
                  grad_req="write" if grad else "null")
    return ex, ex.forward(is_train=is_train)[0].asnumpy()


# -- Dropout ---------------------------------------------------------------------------------
def test_dropout_names_and_shapes() -> None:
    sym = mx.sym.Dropout(data(), name="do")
    assert sym.list_outputs() == ["do_output"]  # the mask is hidden
    assert sym.infer_shape(data=(4, 5)) == ([(4, 5)], [(4, 5)], [])
    with pytest.raises(mx.base.MXNetError, match="out of range"):
        mx.sym.Dropout(data(), axes=(3,)).infer_shape(data=(4, 3))
    with pytest.raises(mx.base.MXNetError, match=r"must be in \[0, 1\]"):
        mx.sym.Dropout(data(), p=1.5)


def test_dropout_training_scales_kept_values_and_gradient_uses_the_mask() -> None:
    x = RNG.uniform(0.5, 1.5, (100, 100)).astype(np.float32)
    ex, out = _forward(mx.sym.Dropout(data(), p=0.3), x, is_train=True)
    kept = out != 0
    assert 0.27 < 1 - kept.mean() < 0.33
    assert_almost_equal(out[kept], x[kept] / 0.7)
    og = RNG.normal(size=x.shape).astype(np.float32)
    ex.backward([mx.nd.array(og)])
    assert_almost_equal(ex.grad_dict["data"], og * kept / 0.7)


def test_dropout_inference_is_identity_unless_always() -> None:
    x = RNG.uniform(0.5, 1.5, (20, 30)).astype(np.float32)
    assert_almost_equal(_forward(mx.sym.Dropout(data()), x, is_train=False)[1], x)
    assert_almost_equal(mx.nd.Dropout(mx.nd.array(x)), x)
    out = _forward(mx.sym.Dropout(data(), mode="always"), x, is_train=False)[1]
    assert 0.3 < (out == 0).mean() < 0.7
    assert_almost_equal(_forward(mx.sym.Dropout(data(), p=0.0), x, is_train=True)[1], x)
    assert not _forward(mx.sym.Dropout(data(), p=1.0), x, is_train=True)[1].any()


def test_dropout_mask_is_reproducible_under_seed() -> None:
    x = np.ones((10, 10), np.float32)
    sym = mx.sym.Dropout(data())
    mx.random.seed(42)
    first = _forward(sym, x, is_train=True)[1]
    mx.random.seed(42)
    again = _forward(sym, x, is_train=True)[1]
    mx.random.seed(43)
    other = _forward(sym, x, is_train=True)[1]
    assert np.array_equal(first, again) and not np.array_equal(first, other)


def test_dropout_axes_share_one_draw() -> None:
    x = np.ones((8, 6, 3, 4), np.float32)
    out = _forward(mx.sym.Dropout(data(), axes=(2, 3)), x, is_train=True)[1]
    assert np.all(out == out[:, :, :1, :1])
    assert set(np.unique(out)) <= {0.0, 2.0}


def test_dropout_gradient_at_inference_is_identity() -> None:
    check_numeric_gradient(mx.sym.Dropout(data()), {"data": RNG.normal(size=(3, 4))},
                           use_forward_train=False, dtype=np.float64)


# -- LeakyReLU -------------------------------------------------------------------------------
def gelu(x: np.ndarray) -> np.ndarray:
    return np.array([0.5 * v * (1 + math.erf(v / math.sqrt(2))) for v in x.ravel()]).reshape(
        x.shape)


ALPHA, LAMBDA = 1.6732632423543772, 1.0507009873554805
REFERENCE = {
    "leaky": lambda x: np.where(x > 0, x, 0.25 * x),
    "elu": lambda x: np.where(x > 0, x, 0.25 * (np.exp(x) - 1)),
    "selu": lambda x: LAMBDA * np.where(x > 0, x, ALPHA * (np.exp(x) - 1)),
    "gelu": gelu,
}


@pytest.mark.parametrize("act_type", sorted(REFERENCE))
def test_leaky_relu_family_forward_and_gradient(act_type: str) -> None:
    x = away_from_zero((3, 4))
    sym = mx.sym.LeakyReLU(data(), act_type=act_type)
    assert sym.list_arguments() == ["data"]
    check_symbolic_forward(sym, {"data": x}, [REFERENCE[act_type](x)], dtype=np.float64)
    check_numeric_gradient(sym, {"data": x}, dtype=np.float64)


MXNET_VALUES = {  # MXNet 1.9.1 on V = [-2, -0.5, 0, 0.3, 1.5]: (forward, gradient)
    "gelu": ([-0.04550010, -0.15426877, 0.0, 0.18537343, 1.39978898],
             [-0.08523187, 0.13250491, 0.5, 0.73232776, 1.12746918]),
    # MXNet 1.9.1's selu gradient below 0 is lambda * (y + alpha), a bug; this is the derivative
    "selu": ([-1.52016652, -0.69175822, 0.0, 0.31521031, 1.57605147],
             [0.23793287, 1.06634115, 1.75809932, 1.05070102, 1.05070102]),
    "elu": ([-0.21616618, -0.09836735, 0.0, 0.3, 1.5], [0.03383382, 0.15163265, 0.25, 1, 1]),
    "leaky": ([-0.5, -0.125, 0.0, 0.3, 1.5], [0.25, 0.25, 0.25, 1, 1]),
}


@pytest.mark.parametrize("act_type", sorted(MXNET_VALUES))
def test_leaky_relu_family_matches_mxnet(act_type: str) -> None:
    forward, gradient = MXNET_VALUES[act_type]
    sym = mx.sym.LeakyReLU(data(), act_type=act_type)
    check_symbolic_forward(sym, {"data": V}, [np.float32(forward)])
    check_symbolic_backward(sym, {"data": V}, [np.ones(5, np.float32)],
                            {"data": np.float32(gradient)})


def test_prelu_gamma_is_created_per_channel() -> None:
    sym = mx.sym.LeakyReLU(data(), act_type="prelu", name="lr")
    assert sym.list_arguments() == ["data", "lr_gamma"]
    assert sym.infer_shape(data=(2, 3, 4))[0] == [(2, 3, 4), (3,)]
    assert sym.infer_shape(data=(2, 3, 4), lr_gamma=(1,))[0] == [(2, 3, 4), (1,)]
    with pytest.raises(mx.base.MXNetError, match=r"gamma must have shape \(3,\)"):
        sym.infer_shape(data=(2, 3, 4), lr_gamma=(4,))
    with pytest.raises(mx.base.MXNetError, match="at least 2 dimensions"):
        sym.infer_shape(data=(4,))


@pytest.mark.parametrize("gamma_shape", [(3,), (1,)])
def test_prelu_forward_and_gradient(gamma_shape: tuple) -> None:
    x, gamma = away_from_zero((2, 3, 2)), RNG.uniform(0.1, 0.5, gamma_shape)
    sym = mx.sym.LeakyReLU(data(), act_type="prelu", name="lr")
    slope = gamma.reshape(1, -1, 1)
    check_symbolic_forward(sym, {"data": x, "lr_gamma": gamma}, [np.where(x > 0, x, slope * x)],
                           dtype=np.float64)
    check_numeric_gradient(sym, {"data": x, "lr_gamma": gamma}, dtype=np.float64)


def test_rrelu_uses_mean_slope_at_inference_and_random_slopes_in_training() -> None:
    sym = mx.sym.LeakyReLU(data(), act_type="rrelu", name="rr")
    assert sym.list_outputs() == ["rr_output"]
    assert_almost_equal(_forward(sym, V, is_train=False)[1],  # MXNet 1.9.1
                        np.float32([-0.459, -0.11475, 0.0, 0.3, 1.5]))
    x = -np.ones((50, 40), np.float32)
    mx.random.seed(3)
    ex, out = _forward(sym, x, is_train=True)
    slopes = -out
    assert 0.125 <= slopes.min() and slopes.max() <= 0.334 and np.unique(slopes).size > 100
    og = RNG.normal(size=x.shape).astype(np.float32)
    ex.backward([mx.nd.array(og)])
    assert_almost_equal(ex.grad_dict["data"], og * slopes)
    mx.random.seed(3)
    assert np.array_equal(_forward(sym, x, is_train=True)[1], out)


@pytest.mark.parametrize("act_type", ["leaky", "elu", "selu", "gelu", "rrelu"])
def test_leaky_relu_after_an_op_when_buffers_may_be_shared(act_type: str) -> None:
    x = away_from_zero((4, 5)).astype(np.float32)
    sym = mx.sym.LeakyReLU(data() * 2, act_type=act_type)
    expected = {"rrelu": lambda v: np.where(v > 0, v, 0.2295 * v)}.get(act_type) or \
        REFERENCE[act_type]
    assert_almost_equal(_forward(sym, x, is_train=False, grad=False)[1], expected(2.0 * x))


def test_leaky_relu_bad_act_type() -> None:
    with pytest.raises(mx.base.MXNetError, match="valid choices"):
        mx.sym.LeakyReLU(data(), act_type="swish")


# -- Embedding -------------------------------------------------------------------------------
WEIGHT = np.arange(12, dtype=np.float32).reshape(4, 3)


def test_embedding_names_shapes_and_types() -> None:
    sym = mx.sym.Embedding(data(), name="emb", input_dim=10, output_dim=5)
    assert sym.list_arguments() == ["data", "emb_weight"]
    assert sym.infer_shape(data=(2, 3)) == ([(2, 3), (10, 5)], [(2, 3, 5)], [])
    assert sym.infer_shape_partial(emb_weight=(10, 5))[0] == [(), (10, 5)]
    args, outs, _ = sym.infer_type(data="int32")
    assert args == [np.int32, np.float32] and outs == [np.float32]
    half = mx.sym.Embedding(data(), name="emb", input_dim=10, output_dim=5, dtype="float16")
    assert half.infer_type(data="float32")[0] == [np.float32, np.float16]


def test_embedding_bad_inputs() -> None:
    sym = mx.sym.Embedding(data(), name="emb", input_dim=4, output_dim=3)
    with pytest.raises(mx.base.MXNetError, match="emb_weight"):
        sym.infer_shape(data=(2,), emb_weight=(5, 3))
    with pytest.raises(mx.base.MXNetError, match="at least 1"):
        mx.sym.Embedding(data(), input_dim=0, output_dim=3)
    with pytest.raises(mx.base.MXNetError, match="output_dim"):
        mx.sym.Embedding(data(), input_dim=4)


def test_embedding_truncates_and_clips_indices() -> None:
    out = mx.nd.Embedding(mx.nd.array([[-1, 5], [1.7, 2.2]]), mx.nd.array(WEIGHT),
                          input_dim=4, output_dim=3)
    assert_almost_equal(out, WEIGHT[[[0, 3], [1, 2]]])  # as MXNet 1.9.1
    ints = mx.nd.array([3, 0, 2], dtype="int32")
    assert_almost_equal(mx.nd.Embedding(ints, mx.nd.array(WEIGHT), input_dim=4, output_dim=3),
                        WEIGHT[[3, 0, 2]])


def test_embedding_weight_gradient_adds_repeated_rows() -> None:
    sym = mx.sym.Embedding(data(), name="emb", input_dim=4, output_dim=3)
    indices = np.float32([0, 1, 1, 3, 7])  # 7 is clipped to row 3
    og = RNG.normal(size=(5, 3)).astype(np.float32)
    expected = np.zeros((4, 3), np.float32)
    for i, row in enumerate([0, 1, 1, 3, 3]):
        expected[row] += og[i]
    check_symbolic_backward(sym, {"data": indices, "emb_weight": WEIGHT}, [og],
                            {"data": np.zeros(5), "emb_weight": expected})


def test_embedding_numeric_gradient() -> None:
    sym = mx.sym.Embedding(data(), name="emb", input_dim=6, output_dim=4, dtype="float64")
    location = {"data": RNG.integers(0, 6, (3, 5)).astype(np.float64),
                "emb_weight": RNG.normal(size=(6, 4))}
    check_numeric_gradient(sym, location, grad_nodes=["emb_weight"], dtype=np.float64)

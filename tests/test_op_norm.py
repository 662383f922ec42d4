"""Normalisation layers: BatchNorm, LayerNorm, InstanceNorm, L2Normalization, LRN.

Values marked "MXNet 1.9.1" were computed by hand with MXNet 1.9.1 (CPU) on the same inputs.
"""

from __future__ import annotations

import mxlite as mx
import numpy as np
import pytest
from mxlite.test_utils import assert_almost_equal, check_numeric_gradient, check_symbolic_forward

#: every test here runs once per available backend (numpy, and "c" where built)
pytestmark = pytest.mark.usefixtures("each_backend")

RNG = np.random.default_rng(11)
# a fixed input shared with the MXNet hand checks
X = (np.arange(24, dtype=np.float32).reshape(2, 3, 2, 2) % 7) * 0.3 - 0.9
OG = np.linspace(-1, 1, 24).reshape(2, 3, 2, 2).astype(np.float32)
GAMMA, BETA = np.array([1.0, 2.0, -0.5], np.float32), np.array([0.1, 0.2, 0.3], np.float32)
MOVING_MEAN, MOVING_VAR = np.array([0.5, 0.0, -0.5], np.float32), np.array([1, 2, 0.5], np.float32)


def data() -> mx.sym.Symbol:
    return mx.sym.Variable("data")


def _nd(a: np.ndarray) -> mx.nd.NDArray:
    return mx.nd.array(a, dtype=a.dtype)


# -- BatchNorm -------------------------------------------------------------------------------
def bn_reference(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, mean: np.ndarray,
                 var: np.ndarray, eps: float = 1e-3) -> np.ndarray:
    """Per-channel (axis 1) normalisation, written element by element over channels."""
    out = np.empty_like(x)
    for c in range(x.shape[1]):
        out[:, c] = (x[:, c] - mean[c]) / np.sqrt(var[c] + eps) * gamma[c] + beta[c]
    return out


def _bind_bn(sym: mx.sym.Symbol, x: np.ndarray = X):  # type: ignore[no-untyped-def]
    args = {"data": _nd(x), "bn_gamma": _nd(GAMMA.copy()), "bn_beta": _nd(BETA)}
    grads = {k: mx.nd.zeros(v.shape) for k, v in args.items()}
    aux = {"bn_moving_mean": _nd(MOVING_MEAN.copy()), "bn_moving_var": _nd(MOVING_VAR.copy())}
    return sym.bind(mx.cpu(), args=args, args_grad=grads, aux_states=aux)


def test_batchnorm_names_and_shapes() -> None:
    bn = mx.sym.BatchNorm(data(), name="bn")
    assert bn.list_arguments() == ["data", "bn_gamma", "bn_beta"]
    assert bn.list_auxiliary_states() == ["bn_moving_mean", "bn_moving_var"]
    assert bn.list_outputs() == ["bn_output"]
    assert mx.sym.BatchNorm(data(), name="bn", output_mean_var=True).list_outputs() == [
        "bn_output", "bn_mean", "bn_var"]
    assert bn.infer_shape(data=(4, 3, 5, 5)) == (
        [(4, 3, 5, 5), (3,), (3,)], [(4, 3, 5, 5)], [(3,), (3,)])
    last = mx.sym.BatchNorm(data(), name="bn", axis=-1)
    assert last.infer_shape(data=(4, 3, 7))[2] == [(7,), (7,)]
    args, _, aux = bn.infer_shape_partial(bn_gamma=(3,))
    assert args == [(), (3,), (3,)] and aux == [(3,), (3,)]


def test_batchnorm_bad_shapes() -> None:
    with pytest.raises(mx.base.MXNetError, match="axis 3 is out of range"):
        mx.sym.BatchNorm(data(), axis=3).infer_shape(data=(4, 3))
    with pytest.raises(mx.base.MXNetError, match="gamma"):
        mx.sym.BatchNorm(data(), name="bn").infer_shape(data=(4, 3), bn_gamma=(5,))


def test_batchnorm_float16_keeps_float32_statistics() -> None:
    args, outs, aux = mx.sym.BatchNorm(data(), name="bn").infer_type(data="float16")
    assert args == [np.float16, np.float32, np.float32] and aux == [np.float32, np.float32]
    assert outs == [np.float16]


def test_batchnorm_training_matches_mxnet() -> None:
    ex = _bind_bn(mx.sym.BatchNorm(data(), name="bn", fix_gamma=False, output_mean_var=True))
    out, mean, invstd = [o.asnumpy() for o in ex.forward(is_train=True)]
    # MXNet 1.9.1: out[:, :, 0, 0], the batch mean and, in ``var``, 1/sqrt(var + eps)
    assert_almost_equal(out[:, :, 0, 0], np.array([[-0.96676874, 0.61631435, 0.68162149],
                                                   [1.40382850, -1.60402870, -0.70609301]]))
    assert_almost_equal(mean, np.array([-0.225, 0.1875, -0.1875]))
    assert_almost_equal(invstd, np.array([1.5803982, 1.8502859, 1.8502859]))
    batch_var = X.var(axis=(0, 2, 3))
    assert_almost_equal(invstd, 1 / np.sqrt(batch_var + 1e-3))
    assert_almost_equal(out, bn_reference(X, GAMMA, BETA, X.mean(axis=(0, 2, 3)), batch_var))
    ex.backward([mx.nd.array(OG), mx.nd.ones(3), mx.nd.ones(3)])  # mean/var grads are ignored
    assert_almost_equal(ex.grad_dict["data"].asnumpy()[0, :, 0],  # MXNet 1.9.1
                        np.array([[-0.75266761, -0.73880917], [-2.38320684, -1.98085880],
                                  [0.63104630, 0.53045928]]))
    assert_almost_equal(ex.grad_dict["bn_gamma"], np.array([1.31928897, -0.31374416, -0.31374416]))
    assert_almost_equal(ex.grad_dict["bn_beta"], OG.sum(axis=(0, 2, 3)))


def test_batchnorm_moving_statistics_move_once_per_step_and_serve_inference() -> None:
    ex = _bind_bn(mx.sym.BatchNorm(data(), name="bn", fix_gamma=False))
    ex.forward(is_train=True)
    ex.backward([mx.nd.array(OG)])
    mean, var = X.mean(axis=(0, 2, 3)), X.var(axis=(0, 2, 3))  # biased variance
    moving_mean = MOVING_MEAN * 0.9 + mean * 0.1
    moving_var = MOVING_VAR * 0.9 + var * 0.1
    assert_almost_equal(ex.aux_dict["bn_moving_mean"], moving_mean)
    assert_almost_equal(ex.aux_dict["bn_moving_var"], moving_var)
    assert_almost_equal(moving_var, np.array([0.93993747, 1.82910931, 0.47910938]))  # MXNet 1.9.1
    out = ex.forward(is_train=False)[0].asnumpy()
    assert_almost_equal(out, bn_reference(X, GAMMA, BETA, moving_mean, moving_var))
    assert_almost_equal(out[:, :, 0, 0], np.array([[-1.26852953, 0.61579961, 0.39471072],
                                                   [0.27783158, -0.27123940, -0.68769783]]))
    assert_almost_equal(ex.aux_dict["bn_moving_mean"], moving_mean)  # inference: unchanged


def test_batchnorm_fix_gamma_writes_ones_and_has_no_gamma_gradient() -> None:
    ex = _bind_bn(mx.sym.BatchNorm(data(), name="bn"))
    out = ex.forward(is_train=True)[0].asnumpy()
    assert_almost_equal(ex.arg_dict["bn_gamma"], np.ones(3))
    assert_almost_equal(out, bn_reference(X, np.ones(3), BETA, X.mean(axis=(0, 2, 3)),
                                          X.var(axis=(0, 2, 3))))
    ex.backward([mx.nd.array(OG)])
    assert_almost_equal(ex.grad_dict["bn_gamma"], np.zeros(3))


def test_batchnorm_use_global_stats_matches_mxnet() -> None:
    ex = _bind_bn(mx.sym.BatchNorm(data(), name="bn", fix_gamma=False, use_global_stats=True))
    out = ex.forward(is_train=True)[0].asnumpy()
    ex.backward([mx.nd.array(OG)])
    assert_almost_equal(out, bn_reference(X, GAMMA, BETA, MOVING_MEAN, MOVING_VAR))
    assert_almost_equal(ex.grad_dict["data"].asnumpy()[0, :, 0, 0],  # MXNet 1.9.1
                        np.array([-0.99950039, -0.92208278, 0.21499152]))
    assert_almost_equal(ex.grad_dict["bn_gamma"], np.array([2.85074902, -0.11987074, 0.98896128]))
    assert_almost_equal(ex.aux_dict["bn_moving_mean"], MOVING_MEAN)


@pytest.mark.parametrize("params", [dict(fix_gamma=False), dict(fix_gamma=False, axis=-1),
                                    dict(fix_gamma=True)])
def test_batchnorm_numeric_gradient(params: dict) -> None:
    x = RNG.normal(size=(3, 2, 2, 3))
    c = x.shape[params.get("axis", 1)]
    sym = mx.sym.BatchNorm(data(), name="bn", **params)
    check_numeric_gradient(sym, {"data": x, "bn_gamma": RNG.uniform(0.5, 2, c),
                                 "bn_beta": RNG.normal(size=c)}, dtype=np.float64)


def test_batchnorm_global_stats_numeric_gradient() -> None:
    sym = mx.sym.BatchNorm(data(), name="bn", fix_gamma=False, use_global_stats=True)
    check_numeric_gradient(sym, {"data": RNG.normal(size=(2, 3, 4)),
                                 "bn_gamma": RNG.uniform(0.5, 2, 3), "bn_beta": RNG.normal(size=3)},
                           aux_states=[RNG.normal(size=3), RNG.uniform(0.5, 2, 3)],
                           dtype=np.float64)


def test_batchnorm_ndarray_call_uses_moving_stats() -> None:
    out = mx.nd.BatchNorm(mx.nd.array(X), mx.nd.array(GAMMA), mx.nd.array(BETA),
                          mx.nd.array(MOVING_MEAN), mx.nd.array(MOVING_VAR), fix_gamma=False)
    assert_almost_equal(out, bn_reference(X, GAMMA, BETA, MOVING_MEAN, MOVING_VAR))


# -- LayerNorm -------------------------------------------------------------------------------
def ln_reference(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, axis: int = -1,
                 eps: float = 1e-5) -> np.ndarray:
    moved = np.moveaxis(x.astype(np.float64), axis, -1)
    flat = moved.reshape(-1, moved.shape[-1])
    rows = [(r - r.mean()) / np.sqrt(r.var() + eps) * gamma + beta for r in flat]
    return np.moveaxis(np.array(rows).reshape(moved.shape), -1, axis)


def test_layernorm_forward_matches_mxnet() -> None:
    sym = mx.sym.LayerNorm(data(), name="ln", output_mean_var=True)
    assert sym.list_outputs() == ["ln_output", "ln_mean", "ln_std"]
    assert sym.infer_shape(data=(2, 3, 2, 2))[1] == [(2, 3, 2, 2), (2, 3, 2, 1), (2, 3, 2, 1)]
    gamma, beta = np.float32([1.0, 2.0]), np.float32([0.1, 0.2])
    out, mean, std = check_symbolic_forward(
        sym, {"data": X, "ln_gamma": gamma, "ln_beta": beta},
        [ln_reference(X, gamma, beta), X.mean(-1, keepdims=True),
         np.sqrt(X.var(-1, keepdims=True) + 1e-5)])
    assert_almost_equal(out[0, 0].ravel(), np.array([-0.89977759, 2.19955611, -0.89977777,
                                                     2.19955564]))  # MXNet 1.9.1
    assert_almost_equal(std[0, 1].ravel(), np.array([0.15003331, 0.90000558]))  # MXNet 1.9.1


def test_layernorm_other_axis_and_shapes() -> None:
    sym = mx.sym.LayerNorm(data(), name="ln", axis=1)
    assert sym.infer_shape(data=(2, 3, 4))[0] == [(2, 3, 4), (3,), (3,)]
    assert sym.infer_shape_partial(ln_gamma=(3,))[0] == [(), (3,), (3,)]
    gamma, beta = np.float32([1.0, 2.0, 3.0]), np.float32([0.1, 0.2, 0.3])
    out = check_symbolic_forward(sym, {"data": X, "ln_gamma": gamma, "ln_beta": beta},
                                 [ln_reference(X, gamma, beta, axis=1)])[0]
    assert_almost_equal(out[0, :, 0, 0], np.array([-0.88056177, 2.94557333, -0.87667423]))
    with pytest.raises(mx.base.MXNetError, match="axis 2 is out of range"):
        mx.sym.LayerNorm(data(), axis=2).infer_shape(data=(4, 3))


@pytest.mark.parametrize("axis", [-1, 1])
def test_layernorm_numeric_gradient(axis: int) -> None:
    x = RNG.normal(size=(2, 3, 4))
    c = x.shape[axis]
    check_numeric_gradient(mx.sym.LayerNorm(data(), name="ln", axis=axis),
                           {"data": x, "ln_gamma": RNG.uniform(0.5, 2, c),
                            "ln_beta": RNG.normal(size=c)}, dtype=np.float64)


# -- InstanceNorm ----------------------------------------------------------------------------
def in_reference(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray,
                 eps: float = 1e-3) -> np.ndarray:
    out = np.empty(x.shape)
    for n in range(x.shape[0]):
        for c in range(x.shape[1]):
            s = x[n, c].astype(np.float64)
            out[n, c] = (s - s.mean()) / np.sqrt(s.var() + eps) * gamma[c] + beta[c]
    return out


def test_instancenorm_forward_matches_mxnet() -> None:
    sym = mx.sym.InstanceNorm(data(), name="in")
    assert sym.list_arguments() == ["data", "in_gamma", "in_beta"]
    assert sym.list_outputs() == ["in_output"]
    assert sym.infer_shape(data=(2, 3, 4, 5))[0] == [(2, 3, 4, 5), (3,), (3,)]
    gamma, beta = np.float32([1.0, 2.0, 3.0]), np.float32([0.1, 0.2, 0.3])
    out = check_symbolic_forward(sym, {"data": X, "in_gamma": gamma, "in_beta": beta},
                                 [in_reference(X, gamma, beta)])[0]
    assert_almost_equal(out[0, 2], np.array([[-3.70715213, -1.03571725],  # MXNet 1.9.1
                                             [1.63571739, 4.30715227]]))
    with pytest.raises(mx.base.MXNetError, match="at least 2 dimensions"):
        sym.infer_shape(data=(4,))


def test_instancenorm_numeric_gradient() -> None:
    check_numeric_gradient(mx.sym.InstanceNorm(data(), name="in"),
                           {"data": RNG.normal(size=(2, 3, 5)), "in_gamma": RNG.uniform(0.5, 2, 3),
                            "in_beta": RNG.normal(size=3)}, dtype=np.float64)


# -- L2Normalization -------------------------------------------------------------------------
L2_AXES = {"instance": (1, 2, 3), "channel": (1,), "spatial": (2, 3)}


@pytest.mark.parametrize("mode", sorted(L2_AXES))
def test_l2normalization_forward_and_gradient(mode: str) -> None:
    x = RNG.normal(size=(2, 3, 2, 2))
    sym = mx.sym.L2Normalization(data(), name="l2", mode=mode, eps=0.1)
    assert sym.list_outputs() == ["l2_output"]
    expected = x / np.sqrt((x ** 2).sum(axis=L2_AXES[mode], keepdims=True) + 0.1)
    check_symbolic_forward(sym, {"data": x}, [expected], dtype=np.float64)
    check_numeric_gradient(sym, {"data": x}, dtype=np.float64)


def test_l2normalization_instance_on_2d_and_errors() -> None:
    out = mx.nd.L2Normalization(mx.nd.array([[3.0, 4.0], [0.0, 0.0]]))
    assert_almost_equal(out, np.array([[0.6, 0.8], [0.0, 0.0]]))
    with pytest.raises(mx.base.MXNetError, match="at least 3 dimensions"):
        mx.sym.L2Normalization(data(), mode="spatial").infer_shape(data=(4, 3))
    with pytest.raises(mx.base.MXNetError, match="valid choices"):
        mx.sym.L2Normalization(data(), mode="pixel")


# -- LRN -------------------------------------------------------------------------------------
def lrn_reference(x: np.ndarray, nsize: int, alpha: float = 1e-4, beta: float = 0.75,
                  knorm: float = 2.0) -> np.ndarray:
    half = (nsize - 1) // 2
    out = np.empty(x.shape)
    channels = x.shape[1]
    for c in range(channels):
        lo, hi = max(0, c - half), min(channels, c + half + 1)
        total = (x[:, lo:hi].astype(np.float64) ** 2).sum(axis=1)
        out[:, c] = x[:, c] / (knorm + alpha / nsize * total) ** beta
    return out


def test_lrn_forward_matches_mxnet() -> None:
    sym = mx.sym.LRN(data(), nsize=3, alpha=0.5, beta=0.75, knorm=2)
    out = check_symbolic_forward(sym, {"data": X}, [lrn_reference(X, 3, 0.5)])[0]
    assert_almost_equal(out[0, :, 0, 0], np.array([-0.50688988, 0.16551112, -0.34704646]))
    assert_almost_equal(out[1, :, 1, 1], np.array([-0.34150681, 0.33970571, -0.17352322]))
    default = mx.nd.LRN(mx.nd.array(X), nsize=5).asnumpy()
    assert_almost_equal(default[0, :, 0, 0], np.array([-0.53513813, 0.17837942, -0.35675874]))


@pytest.mark.parametrize("nsize", [1, 3, 4])
def test_lrn_numeric_gradient(nsize: int) -> None:
    x = RNG.normal(size=(2, 5, 2, 2))
    sym = mx.sym.LRN(data(), nsize=nsize, alpha=0.3, beta=0.6, knorm=1.5)
    check_symbolic_forward(sym, {"data": x}, [lrn_reference(x, nsize, 0.3, 0.6, 1.5)],
                           dtype=np.float64)
    check_numeric_gradient(sym, {"data": x}, dtype=np.float64)


def test_lrn_errors() -> None:
    with pytest.raises(mx.base.MXNetError, match="nsize"):
        mx.sym.LRN(data())
    with pytest.raises(mx.base.MXNetError, match="at least 1"):
        mx.sym.LRN(data(), nsize=0)
    with pytest.raises(mx.base.MXNetError, match="at least 2"):
        mx.sym.LRN(data(), nsize=3).infer_shape(data=(5,))

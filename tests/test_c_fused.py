"""The C pack's fused FullyConnected + Activation: the ``_fc_act`` operator (shape rule,
numpy reference against the two separate operators, C kernel against the reference, numeric
gradient, bad input) and the bind-time pass that makes it (when it fuses, when it must not,
and that a fused executor computes what an unfused one does).
"""

from __future__ import annotations

import mxlite as mx
import numpy as np
import pytest
from mxlite.base import MXNetError
from mxlite.registry import get_registry
from mxlite.test_utils import check_numeric_gradient

ck = pytest.importorskip("mxlite_c_kernels")
if not ck.available():
    pytest.skip(f"C kernel pack not built: {ck.UNAVAILABLE_REASON}", allow_module_level=True)

from test_c_kernels import F32, F64, compare  # noqa: E402

FUSED = ["relu", "sigmoid", "tanh", "softrelu"]


@pytest.fixture(autouse=True)
def _c_first():
    with mx.config.override(**{"backends.order": ["c", "numpy"]}):
        yield


def mlp(act: str = "relu", heads_fc: bool = False) -> mx.sym.Symbol:
    net = mx.sym.Variable("data")
    fc1 = mx.sym.FullyConnected(net, num_hidden=9, name="fc1")
    net = mx.sym.Activation(fc1, act_type=act, name="act1")
    net = mx.sym.FullyConnected(net, num_hidden=4, name="fc2", no_bias=True)
    net = mx.sym.Activation(net, act_type=act, name="act2")
    net = mx.sym.SoftmaxOutput(net, name="softmax")
    return mx.sym.Group([net, fc1]) if heads_fc else net


def ops_of(executor) -> list[str]:  # type: ignore[no-untyped-def]
    return [line.split(",")[0].split(":")[1] for line in executor.debug_str().splitlines()
            if line.startswith("Op:")]


def run(sym: mx.sym.Symbol, seed: int = 0, dtype=np.float32):  # type: ignore[no-untyped-def]
    """Outputs and argument gradients of one training step on fixed random data."""
    ex = sym.simple_bind(mx.cpu(), data=(6, 11), type_dict={"data": dtype})
    rng = np.random.default_rng(seed)
    for name, arr in ex.arg_dict.items():
        arr[:] = rng.integers(0, 4, arr.shape) if name == "softmax_label" else \
            rng.uniform(-1, 1, arr.shape)
    ex.forward(is_train=True)
    heads = [np.ones(o.shape, o.dtype) for o in ex.outputs[1:]]
    ex.backward([None, *heads] if heads else None)
    grads = {n: g.asnumpy() for n, g in ex.grad_dict.items() if g is not None}
    return ex, [o.asnumpy() for o in ex.outputs], grads


# -- the operator --------------------------------------------------------------------------------
@pytest.mark.parametrize("act", FUSED)
@pytest.mark.parametrize("dtype", [F32, F64])
def test_c_kernel_matches_numpy_reference(act: str, dtype: np.dtype) -> None:
    compare("_fc_act", {"num_hidden": 13, "act_type": act}, [(7, 3, 5)], dtype)
    compare("_fc_act", {"num_hidden": 6, "act_type": act, "no_bias": True, "flatten": False},
            [(4, 3, 9)], dtype, contiguous=False)
    compare("_fc_act", {"num_hidden": 700, "act_type": act}, [(300, 8)], dtype)  # parallel


@pytest.mark.parametrize("act", FUSED)
def test_numpy_reference_is_the_two_operators(act: str) -> None:
    rng = np.random.default_rng(1)
    x, w, b = rng.normal(size=(5, 7)), rng.normal(size=(3, 7)), rng.normal(size=3)
    pre = x @ w.T + b
    want = {"relu": np.maximum(pre, 0), "sigmoid": 1 / (1 + np.exp(-pre)), "tanh": np.tanh(pre),
            "softrelu": np.log1p(np.exp(pre))}[act]
    got = mx.nd._fc_act(mx.nd.array(x, dtype="float64"), mx.nd.array(w, dtype="float64"),
                        mx.nd.array(b, dtype="float64"), num_hidden=3, act_type=act)
    np.testing.assert_allclose(got.asnumpy(), want, rtol=1e-12)


@pytest.mark.parametrize("act", FUSED)
def test_numeric_gradient(act: str) -> None:
    sym = mx.sym._fc_act(mx.sym.Variable("data"), num_hidden=4, act_type=act, name="fused")
    rng = np.random.default_rng(2)
    location = {"data": rng.uniform(-1, 1, (3, 5)), "fused_weight": rng.uniform(-1, 1, (4, 5)),
                "fused_bias": rng.uniform(-1, 1, 4) + 0.05}
    for order in (["numpy"], ["c", "numpy"]):
        with mx.config.override(**{"backends.order": order}):
            check_numeric_gradient(sym, location, dtype=np.float64, rtol=1e-5, atol=1e-7)


def test_shape_inference_and_bad_act_type() -> None:
    sym = mx.sym._fc_act(mx.sym.Variable("data"), num_hidden=4, act_type="tanh", name="f")
    args, outs, _ = sym.infer_shape(data=(2, 3, 5))
    assert args == [(2, 3, 5), (4, 15), (4,)] and outs == [(2, 4)]
    with pytest.raises(MXNetError, match="'softsign' for parameter 'act_type'; valid choices"):
        mx.sym._fc_act(mx.sym.Variable("data"), num_hidden=4, act_type="softsign")


# -- the pass ------------------------------------------------------------------------------------
@pytest.mark.parametrize("act", FUSED)
def test_pass_fuses_and_computes_what_the_separate_ops_do(act: str) -> None:
    fused, outs, grads = run(mlp(act))
    assert ops_of(fused) == ["_fc_act", "_fc_act", "SoftmaxOutput"]
    with mx.config.override(**{"c_kernels.fuse_fc_act": False}):
        plain, want_outs, want_grads = run(mlp(act))
    assert ops_of(plain) == ["FullyConnected", "Activation"] * 2 + ["SoftmaxOutput"]
    assert fused.arg_dict.keys() == plain.arg_dict.keys()
    assert list(fused.output_dict) == list(plain.output_dict) == ["softmax_output"]
    for got, want in zip(outs, want_outs):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
    for name in want_grads:
        np.testing.assert_allclose(grads[name], want_grads[name], rtol=1e-5, atol=1e-6,
                                   err_msg=name)


def test_pass_leaves_what_it_must_not_fuse() -> None:
    ex, _, _ = run(mlp("relu", heads_fc=True))  # fc1's output is also a head
    assert ops_of(ex) == ["FullyConnected", "Activation", "_fc_act", "SoftmaxOutput"]
    ex, _, _ = run(mlp("softsign"))  # its gradient needs the input
    assert "_fc_act" not in ops_of(ex)
    with mx.config.override(**{"backends.order": ["numpy"]}):
        ex, _, _ = run(mlp("relu"))
    assert "_fc_act" not in ops_of(ex)


def test_pass_never_changes_the_users_symbol() -> None:
    sym = mlp()
    before = sym.tojson()
    run(sym)
    assert sym.tojson() == before
    assert "_fc_act" not in before


def test_fusion_is_listed_with_its_setting() -> None:
    registry = get_registry()
    assert any(p.name == "c_kernels.fuse_fc_act" for p in registry.graph_passes)
    assert mx.config.source("c_kernels.fuse_fc_act") == "default of plugin 'c_kernels'"
    assert registry.get("_fc_act").kernels.keys() >= {"numpy", "c"}

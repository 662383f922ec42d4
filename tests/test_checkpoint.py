"""``mx.model`` checkpoints: files written by MXNet 1.9.1 load and compute the same outputs
here, and checkpoints written here round-trip (fixtures: ``data/make_mxnet_checkpoint.py``)."""

from __future__ import annotations

import json
import logging
import pathlib

import mxlite as mx
import numpy as np
import pytest
from mxlite.base import MXNetError, MXNetTypeError, MXNetValueError

DATA = pathlib.Path(__file__).parent / "data" / "checkpoint"
PREFIX = str(DATA / "convnet")
EXPECTED = np.load(DATA / "expected.npz")
DTYPES = ["float32", "float64", "float16", "int32", "int64", "uint8", "int8", "bool"]


def _bind(symbol: mx.sym.Symbol, arg: dict, aux: dict):  # type: ignore[no-untyped-def]
    exe = symbol.simple_bind(mx.cpu(), data=EXPECTED["data"].shape)
    exe.copy_params_from(arg, aux)
    return exe


#: the largest gradient MXNet recorded: the scale for absolute tolerances on gradients
GRAD_SCALE = max(float(np.abs(EXPECTED[k]).max()) for k in EXPECTED if k.startswith("grad:"))


def _grad_close(got: np.ndarray, want: np.ndarray) -> None:
    """Relative 1e-5, plus 1e-6 of the largest gradient: the bias gradients ahead of a
    BatchNorm are float32 rounding noise around 0 in both libraries."""
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6 * GRAD_SCALE)


def test_load_checkpoint_returns_mxnet_parameters() -> None:
    symbol, arg, aux = mx.model.load_checkpoint(PREFIX, 3)
    assert sorted(arg) == sorted(set(symbol.list_arguments()) - {"data", "softmax_label"})
    assert list(aux) == symbol.list_auxiliary_states()
    assert symbol.attr_dict()["fc1_weight"]["__lr_mult__"] == "2.0"
    assert all(v.dtype == np.float32 for v in [*arg.values(), *aux.values()])


@pytest.mark.parametrize("graph", ["convnet-symbol.json", "legacy_0x-symbol.json"])
def test_forward_reproduces_mxnet(graph: str) -> None:
    _, arg, aux = mx.model.load_checkpoint(PREFIX, 3)
    symbol = mx.sym.load(str(DATA / graph))
    feed = {"data": EXPECTED["data"], "softmax_label": EXPECTED["label"]}
    infer = _bind(symbol, arg, aux).forward(is_train=False, **feed)[0].asnumpy()
    np.testing.assert_allclose(infer, EXPECTED["out_infer"], rtol=1e-5, atol=0)
    exe = _bind(symbol, arg, aux)
    train = exe.forward(is_train=True, **feed)[0].asnumpy()
    np.testing.assert_allclose(train, EXPECTED["out_train"], rtol=1e-5, atol=0)
    exe.backward()
    for name in arg:
        _grad_close(exe.grad_dict[name].asnumpy(), EXPECTED[f"grad:{name}"])


def test_legacy_graph_loads_as_the_same_network() -> None:
    legacy = mx.sym.load(str(DATA / "legacy_0x-symbol.json"))
    current = mx.sym.load(str(DATA / "convnet-symbol.json"))
    assert legacy.tojson() == current.tojson()
    raw = json.loads((DATA / "legacy_0x-symbol.json").read_text())
    assert "node_row_ptr" not in raw and all("param" in n for n in raw["nodes"])


def test_save_checkpoint_writes_what_mxnet_writes(tmp_path: pathlib.Path) -> None:
    symbol, arg, aux = mx.model.load_checkpoint(PREFIX, 3)
    prefix = str(tmp_path / "again")
    mx.model.save_checkpoint(prefix, 3, symbol, arg, aux)
    written = (tmp_path / "again-0003.params").read_bytes()
    assert written == (DATA / "convnet-0003.params").read_bytes()
    assert mx.sym.load(prefix + "-symbol.json").tojson() == symbol.tojson()


@pytest.mark.parametrize("dtype", DTYPES)
def test_checkpoint_round_trip_every_dtype(tmp_path: pathlib.Path, dtype: str,
                                           caplog: pytest.LogCaptureFixture) -> None:
    data = mx.sym.Variable("data")
    net = mx.sym.FullyConnected(data, num_hidden=3, name="fc")
    net = mx.sym.BatchNorm(net, name="bn")
    rng = np.random.RandomState(1)
    arg = {"fc_weight": mx.nd.array(rng.uniform(-9, 9, (3, 4)), dtype=dtype),
           "fc_bias": mx.nd.array(rng.uniform(-9, 9, 3), dtype=dtype)}
    aux = {"bn_moving_mean": mx.nd.array(rng.uniform(0, 9, 3), dtype=dtype)}
    prefix = str(tmp_path / "net")
    with caplog.at_level(logging.INFO):
        mx.model.save_checkpoint(prefix, 12, net, arg, aux)
    assert 'Saved checkpoint to "' + prefix + '-0012.params"' in caplog.text
    assert sorted(mx.nd.load(prefix + "-0012.params")) == ["arg:fc_bias", "arg:fc_weight",
                                                            "aux:bn_moving_mean"]
    symbol, arg2, aux2 = mx.model.load_checkpoint(prefix, 12)
    assert symbol.tojson() == net.tojson()
    for want, got in ((arg, arg2), (aux, aux2)):
        assert list(got) == list(want)
        for name in want:
            assert got[name].dtype == np.dtype(dtype).type
            np.testing.assert_array_equal(got[name].asnumpy(), want[name].asnumpy())


def test_save_checkpoint_without_symbol_and_bad_values(tmp_path: pathlib.Path) -> None:
    prefix = str(tmp_path / "p")
    mx.model.save_checkpoint(prefix, 0, None, {"w": mx.nd.ones(2)}, {})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p-0000.params"]
    assert mx.model.load_params(prefix, 0)[0]["w"].shape == (2,)
    with pytest.raises(MXNetTypeError, match=r"aux_params\['m'\] is a ndarray, expected"):
        mx.model.save_checkpoint(prefix, 1, None, {}, {"m": np.zeros(2)})


def test_load_params_edge_cases(tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture) -> None:
    prefix = str(tmp_path / "q")
    mx.nd.save(prefix + "-0001.params", {})
    with caplog.at_level(logging.WARNING):
        assert mx.model.load_params(prefix, 1) == ({}, {})
    assert "q-0001.params' is empty" in caplog.text
    mx.nd.save(prefix + "-0002.params", {"arg:a": mx.nd.ones(1), "opt:b": mx.nd.ones(1),
                                         "aux:c:d": mx.nd.zeros(1)})
    arg, aux = mx.model.load_params(prefix, 2)
    assert list(arg) == ["a"] and list(aux) == ["c:d"]
    mx.nd.save(prefix + "-0003.params", {"plain": mx.nd.ones(1)})
    with pytest.raises(MXNetValueError, match="'plain' lacks the 'arg:' or 'aux:' prefix"):
        mx.model.load_params(prefix, 3)
    mx.nd.save(prefix + "-0004.params", [mx.nd.ones(1)])
    with pytest.raises(MXNetValueError, match="q-0004.params holds a list of 1 unnamed"):
        mx.model.load_params(prefix, 4)


def test_missing_checkpoint_files(tmp_path: pathlib.Path) -> None:
    with pytest.raises(MXNetError, match="nope-symbol.json"):
        mx.model.load_checkpoint(str(tmp_path / "nope"), 1)
    mx.model.save_checkpoint(str(tmp_path / "half"), 1, mx.sym.Variable("x"), {}, {})
    with pytest.raises(MXNetError, match="half-0002.params"):
        mx.model.load_checkpoint(str(tmp_path / "half"), 2)

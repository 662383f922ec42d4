"""``mx.viz.print_summary`` and ``plot_network`` against what MXNet 1.9.1 printed
(``data/checkpoint/expected.json``, written by ``data/make_mxnet_checkpoint.py``)."""

from __future__ import annotations

import json
import pathlib
import sys

import mxlite as mx
import pytest
from mxlite.base import MXNetTypeError, MXNetValueError
from mxlite.visualization import DotGraph

DATA = pathlib.Path(__file__).parent / "data" / "checkpoint"
EXPECTED = json.loads((DATA / "expected.json").read_text())
CONV_SHAPE = {"data": (4, 2, 6, 6)}


def convnet() -> mx.sym.Symbol:
    return mx.sym.load(str(DATA / "convnet-symbol.json"))


def mlp() -> mx.sym.Symbol:
    net = mx.sym.Variable("data")
    net = mx.sym.FullyConnected(data=net, name="fc1", num_hidden=128)
    net = mx.sym.Activation(data=net, name="relu1", act_type="relu")
    net = mx.sym.FullyConnected(data=net, name="fc2", num_hidden=64)
    return mx.sym.SoftmaxOutput(data=net, name="out")


def summary(capsys: pytest.CaptureFixture, *args: object, **kwargs: object) -> str:
    mx.viz.print_summary(*args, **kwargs)
    return capsys.readouterr().out


@pytest.fixture
def no_graphviz(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``import graphviz`` fail, so plot_network returns its own DotGraph."""
    monkeypatch.setitem(sys.modules, "graphviz", None)


# -- print_summary -------------------------------------------------------------------------
@pytest.mark.parametrize("case, make, kwargs", [
    ("summary_mlp", mlp, {"shape": {"data": (32, 100)}}),
    ("summary_mlp_noshape", mlp, {}),
    ("summary_mlp_narrow", mlp, {"shape": {"data": (32, 100)}, "line_length": 70,
                                 "positions": [.3, .6, .8, 1.]}),
    ("summary_convnet", convnet, {"shape": CONV_SHAPE}),
    ("summary_convnet_noshape", convnet, {}),
])
def test_print_summary_matches_mxnet(capsys: pytest.CaptureFixture, case: str, make, kwargs
                                     ) -> None:
    assert summary(capsys, make(), **kwargs) == EXPECTED[case]


def test_summary_layout_details(capsys: pytest.CaptureFixture) -> None:
    """Absolute column edges; fields are cut at their column's edge, as MXNet does."""
    data = mx.sym.Variable("data")
    net = mx.sym.FullyConnected(data, num_hidden=3, name="a_layer_name_longer_than_its_column")
    net = mx.sym.Activation(net, act_type="relu", name="r")
    lines = summary(capsys, net, {"data": (2, 12)}, 60, [10, 20, 30, 50]).splitlines()
    assert lines[1] == "Layer (typOutput ShaParam #   Previous Layer      "
    assert lines[5] == "a_layer_na3         39        data                "
    assert lines[7] == "r(Activati3         0         a_layer_name_longer_"
    assert lines[-2:] == ["Total params: 39", "_" * 60]


def test_summary_counts_what_mxnet_misses(capsys: pytest.CaptureFixture) -> None:
    """True counts for Deconvolution, PReLU and a FullyConnected on 4-D input; every data
    input is a row; a shared weight counts once."""
    data, tok = mx.sym.Variable("data"), mx.sym.Variable("tok")
    deconv = mx.sym.Deconvolution(data, kernel=(2, 2), num_filter=3, name="deconv")
    prelu = mx.sym.LeakyReLU(deconv, act_type="prelu", name="prelu")
    fc = mx.sym.FullyConnected(prelu, num_hidden=5, name="fc")
    emb = mx.sym.Embedding(tok, input_dim=10, output_dim=4, name="emb")
    shared = mx.sym.Variable("shared_weight")
    twice = mx.sym.Group([mx.sym.FullyConnected(emb, weight=shared, num_hidden=2, name=n,
                                                no_bias=True) for n in ("t1", "t2")])
    out = summary(capsys, mx.sym.Group([fc, twice]), {"data": (2, 2, 4, 4), "tok": (2, 7)})
    rows = {line.split("(")[0]: line.split() for line in out.splitlines() if "(" in line}
    assert rows["deconv"][1:4] == ["3x5x5", "24", "data"]  # 2*3*2*2 weights, no bias
    assert rows["prelu"][2] == "3"
    assert rows["fc"][2] == str(3 * 5 * 5 * 5 + 5)
    assert rows["tok"][:3] == ["tok(null)", "7", "0"] and rows["emb"][3] == "tok"
    assert rows["t1"][2] == str(7 * 4 * 2) and rows["t2"][2] == "0"
    assert f"Total params: {24 + 3 + 380 + 40 + 56}" in out


def test_summary_errors(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(MXNetTypeError, match="symbol must be Symbol, got str"):
        mx.viz.print_summary("net")
    with pytest.raises(MXNetValueError, match="Input shape is incomplete"):
        mx.viz.print_summary(mlp(), shape={})
    with pytest.raises(MXNetValueError, match="'dta' is not an input.*Did you mean 'data'"):
        mx.viz.print_summary(mlp(), shape={"dta": (1, 2)})
    with pytest.raises(MXNetValueError, match="must be a tuple of ints"):
        mx.viz.print_summary(mlp(), shape={"data": "big"})
    with pytest.raises(MXNetValueError, match="4 columns"):
        mx.viz.print_summary(mlp(), positions=[.5, 1.])


# -- plot_network --------------------------------------------------------------------------
@pytest.mark.parametrize("case, make, kwargs", [
    ("plot_mlp", mlp, {"shape": {"data": (32, 100)}}),
    ("plot_convnet", convnet, {"shape": CONV_SHAPE}),
    ("plot_convnet_dtype", convnet, {"title": "net", "dtype": {"data": "float32"},
                                     "node_attrs": {"shape": "rect"}}),
])
def test_plot_network_source_matches_mxnet(no_graphviz: None, case: str, make, kwargs) -> None:
    graph = mx.viz.plot_network(make(), **kwargs)
    assert isinstance(graph, DotGraph)
    assert graph.source == EXPECTED[case]


def test_plot_network_with_graphviz_installed() -> None:
    graphviz = pytest.importorskip("graphviz")
    graph = mx.viz.plot_network(mlp(), title="mlp", save_format="png", shape={"data": (32, 100)})
    assert isinstance(graph, graphviz.Digraph) and graph.format == "png"
    assert graph.source.strip() == EXPECTED["plot_mlp"].replace("digraph plot", "digraph mlp")


def test_plot_network_weights_and_labels(no_graphviz: None, tmp_path: pathlib.Path) -> None:
    data = mx.sym.Variable("data")
    net = mx.sym.Pooling(data, kernel=(2, 2), name="p")  # MXNet 1.9.1 fails without pool_type
    net = mx.sym.Pooling(net, global_pool=True, pool_type="avg", name="g")
    net = mx.sym.FullyConnected(net, num_hidden=2, name="fc")
    net = mx.sym.LeakyReLU(net, name="leaky")
    shown = mx.viz.plot_network(net, hide_weights=False, title="graph")
    assert 'fc_weight [label=fc_weight fillcolor="#8dd3c7"' in shown.source
    assert "fc -> fc_weight" in shown.source and shown.source.startswith('digraph "graph" {')
    source = mx.viz.plot_network(net).source
    assert "fc_weight" not in source
    assert 'p [label="Pooling\nmax, 2x2/1"' in source and '"Pooling\navg, global"' in source
    assert 'leaky [label="LeakyReLU\nLeaky"' in source
    path = shown.save(str(tmp_path / "net.gv"))
    assert pathlib.Path(path).read_text() == shown.source == str(shown)


def test_plot_network_errors() -> None:
    with pytest.raises(MXNetTypeError, match="symbol must be Symbol"):
        mx.viz.plot_network(None)
    with pytest.raises(MXNetValueError, match="'x' is not an input"):
        mx.viz.plot_network(mlp(), shape={"x": (1, 2)})
    with pytest.raises(MXNetValueError, match="unknown dtype"):
        mx.viz.plot_network(mlp(), dtype={"data": "float99"})

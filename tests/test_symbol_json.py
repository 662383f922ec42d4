"""MXNet's JSON graph format: graphs written by MXNet 1.9.1 load here with the same lists,
attributes and inferred shapes, and our JSON has exactly MXNet's structure.

The fixtures in ``tests/data`` were written by MXNet 1.9.1 (``make_mxnet_fixtures.py``, run
by hand); ``legacy_0x-symbol.json`` is a hand-written graph in MXNet 0.x's layout.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import mxlite as mx
import numpy as np
import pytest
from mxlite.base import MXNetError

DATA = Path(__file__).resolve().parent / "data"
EXPECTED = json.loads((DATA / "mxnet_expected.json").read_text())
MXNET_CASES = ["mlp", "var_attrs", "group"]


def fixture_path(case: str) -> Path:
    return DATA / (f"{case}-symbol.json" if case.startswith("legacy") else
                   f"mxnet_{case}-symbol.json")


def describe(s: mx.sym.Symbol, shapes: dict) -> dict:
    arg, out, aux = s.infer_shape(**{k: tuple(v) for k, v in shapes.items()})
    return {
        "list_arguments": s.list_arguments(), "list_outputs": s.list_outputs(),
        "list_auxiliary_states": s.list_auxiliary_states(), "list_inputs": s.list_inputs(),
        "attr_dict": s.attr_dict(), "internals": s.get_internals().list_outputs(),
        "arg_shapes": [list(x) for x in arg], "out_shapes": [list(x) for x in out],
        "aux_shapes": [list(x) for x in aux],
    }


@pytest.mark.parametrize("case", [*MXNET_CASES, "legacy_0x"])
def test_mxnet_graphs_load_with_identical_answers(case: str) -> None:
    expected = EXPECTED[case]
    loaded = mx.sym.load(str(fixture_path(case)))
    got = describe(loaded, expected["input_shapes"])
    for key, value in got.items():
        assert value == expected[key], key


@pytest.mark.parametrize("case", MXNET_CASES)
def test_tojson_reproduces_mxnet_json_exactly(case: str) -> None:
    text = fixture_path(case).read_text()
    assert json.loads(mx.sym.load_json(text).tojson()) == json.loads(text)


def test_legacy_graph_is_upgraded_as_mxnet_does() -> None:
    """0.x ``param``/``attr`` keys, two-element entries; ``lr_mult`` becomes ``__lr_mult__``."""
    loaded = mx.sym.load(str(fixture_path("legacy_0x")))
    assert json.loads(loaded.tojson()) == EXPECTED["legacy_0x"]["tojson_after_load"]
    assert loaded.get_internals()["fc1_weight"].attr("lr_mult") == "2.0"
    assert loaded.get_internals()["fc1_output"].list_attr()["__ctx_group__"] == "stage1"


def test_mxnet_var_attrs_graph_infers_from_declared_shapes() -> None:
    loaded = mx.sym.load(str(fixture_path("var_attrs")))
    arg, out, _ = loaded.infer_shape()
    assert dict(zip(loaded.list_arguments(), arg)) == {
        "data": (4, 10), "w": (8, 10), "fc2_weight": (3, 8), "fc2_bias": (3,),
        "softmax_label": (4,)}
    assert out == [(4, 3)]
    assert loaded.infer_type()[1] == [np.float32]
    w = loaded.get_internals()["w"]
    assert (w.attr("__init__"), w.attr("lr_mult"), w.attr("wd_mult")) == ("zeros", "2.0", "0.0")


def test_mxnet_mlp_runs_after_loading() -> None:
    loaded = mx.sym.load(str(fixture_path("mlp")))
    executor = loaded.simple_bind(mx.cpu(), data=(4, 100))
    executor.arg_dict["data"][:] = 1.0
    out = executor.forward()[0].asnumpy()
    np.testing.assert_allclose(out, np.full((4, 64), 1 / 64), rtol=1e-6)


# -- our JSON ------------------------------------------------------------------------------
def net() -> mx.sym.Symbol:
    data = mx.sym.Variable("data", shape=(2, 5), lr_mult=0.5)
    fc = mx.sym.FullyConnected(data, num_hidden=4, name="fc", no_bias=False)
    act = mx.sym.Activation(fc, act_type="tanh", name="act")
    head = mx.sym.SoftmaxOutput(act, name="sm")
    return mx.sym.Group([head, act * 2 + 1, fc > 0])


def test_json_structure() -> None:
    graph = json.loads(net().tojson())
    assert set(graph) == {"nodes", "arg_nodes", "node_row_ptr", "heads", "attrs"}
    assert graph["attrs"] == {"mxnet_version": ["int", 10901]}
    nodes = graph["nodes"]
    names = [n["name"] for n in nodes]
    assert names[:4] == ["data", "fc_weight", "fc_bias", "fc"]
    assert nodes[0] == {"op": "null", "name": "data",
                        "attrs": {"__lr_mult__": "0.5", "__shape__": "(2, 5)"}, "inputs": []}
    assert nodes[3]["inputs"] == [[0, 0, 0], [1, 0, 0], [2, 0, 0]]
    assert nodes[3]["attrs"] == {"no_bias": "False", "num_hidden": "4"}
    assert "attrs" not in nodes[names.index("sm_label")]
    assert graph["arg_nodes"] == [i for i, n in enumerate(nodes) if n["op"] == "null"]
    assert graph["node_row_ptr"] == list(range(len(nodes) + 1))
    assert [nodes[h[0]]["name"] for h in graph["heads"]] == [
        "sm", names[-2], names[-1]]
    assert all(len(h) == 3 for h in graph["heads"])


def test_roundtrip_keeps_lists_attributes_and_values(tmp_path: Path) -> None:
    original = net()
    fname = tmp_path / "net-symbol.json"
    original.save(str(fname))
    loaded = mx.sym.load(str(fname))
    assert loaded.tojson() == original.tojson()
    for what in ("list_arguments", "list_outputs", "list_auxiliary_states", "attr_dict"):
        assert getattr(loaded, what)() == getattr(original, what)(), what
    assert loaded.infer_shape() == original.infer_shape()
    results = []
    for s in (original, loaded):
        executor = s.simple_bind(mx.cpu())
        for array in executor.arg_arrays:
            array[:] = np.linspace(-1, 1, array.size).reshape(array.shape)
        results.append([o.asnumpy() for o in executor.forward()])
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


def test_load_json_of_a_variable_and_of_internals() -> None:
    var = mx.sym.load_json(mx.sym.Variable("x").tojson())
    assert var.list_outputs() == ["x"] and var.name == "x"
    internals = net().get_internals()
    loaded = mx.sym.load_json(internals.tojson())
    assert loaded.list_outputs() == internals.list_outputs()


def test_pickle_goes_through_json() -> None:
    original = net()
    loaded = pickle.loads(pickle.dumps(original))
    assert loaded.tojson() == original.tojson()


def test_heads_default_to_the_last_node() -> None:
    graph = json.loads(mx.sym.FullyConnected(mx.sym.Variable("d"), num_hidden=2,
                                             name="f").tojson())
    del graph["heads"]
    assert mx.sym.load_json(json.dumps(graph)).list_outputs() == ["f_output"]


# -- errors --------------------------------------------------------------------------------
def graph_with(**changes: object) -> str:
    graph = json.loads(mx.sym.FullyConnected(mx.sym.Variable("d"), num_hidden=2,
                                             name="f").tojson())
    node = graph["nodes"][3]
    for key, value in changes.items():
        node[key] = value
    return json.dumps(graph)


@pytest.mark.parametrize("text,message", [
    ("{not json", "not valid JSON"),
    ("[1, 2]", "no 'nodes' list"),
    ('{"nodes": [{"name": "x"}]}', "lacks 'op' or 'name'"),
    (graph_with(op="FullyConected"), r"node 3 'f'.*Did you mean 'FullyConnected'"),
    (graph_with(attrs={"num_hidden": "2", "bogus": "1"}), r"'f'.*unknown parameter 'bogus'"),
    (graph_with(attrs={"num_hidden": "two"}), r"'f'.*num_hidden"),
    (graph_with(attrs={}), r"'f'.*required parameter 'num_hidden'"),
    (graph_with(inputs=[[0, 0, 0]]), r"'f' \(FullyConnected\) has 1 inputs, expected 3"),
    (graph_with(inputs=[[0, 0, 0], [1, 0, 0], [7, 0, 0]]), "not defined before it"),
    (graph_with(inputs=[[0, 0, 0], [1, 0, 0], [2, 5, 0]]), "has no output 5"),
    (graph_with(inputs=[[0, 0, 0], [1, 0, 0], "x"]), "bad entry"),
    (graph_with(attrs=["num_hidden"]), "'attrs' must be an object"),
])
def test_load_json_errors(text: str, message: str) -> None:
    with pytest.raises(MXNetError, match=message):
        mx.sym.load_json(text)


def test_bad_shape_attribute_names_the_variable() -> None:
    graph = json.loads(mx.sym.Variable("x", shape=(2,)).tojson())
    graph["nodes"][0]["attrs"]["__shape__"] = "(2, oops)"
    with pytest.raises(MXNetError, match="'x'.*__shape__"):
        mx.sym.load_json(json.dumps(graph)).infer_shape()


def test_load_missing_file(tmp_path: Path) -> None:
    with pytest.raises(MXNetError, match="cannot read symbol file"):
        mx.sym.load(str(tmp_path / "missing.json"))
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    with pytest.raises(ValueError, match="bad.json"):
        mx.sym.load(str(bad))

"""Regenerate the MXNet-written fixtures in this folder. Run BY HAND with Apache MXNet 1.9.1:

    /work/mxnet-venv/bin/python tests/data/make_mxnet_fixtures.py

The tests never run this script and never import mxnet; they only read the files it wrote:
``mxnet_<case>-symbol.json`` (graphs saved by MXNet) and ``mxnet_expected.json`` (what MXNet
reports for each graph: list_* results, attr_dict, infer_shape for the given input shapes).
``legacy_0x-symbol.json`` is written by hand (MXNet 0.x layout: ``param``/``attr`` keys, two-element
entries, ``backward_source_id``); this script only records what MXNet makes of it.
"""

from __future__ import annotations

import json
import os

import mxnet as mx

HERE = os.path.dirname(os.path.abspath(__file__))


def mlp() -> mx.sym.Symbol:
    net = mx.sym.Variable("data")
    net = mx.sym.FullyConnected(data=net, name="fc1", num_hidden=128)
    net = mx.sym.Activation(data=net, name="relu1", act_type="relu")
    net = mx.sym.FullyConnected(data=net, name="fc2", num_hidden=64)
    return mx.sym.SoftmaxOutput(data=net, name="out")


def var_attrs() -> mx.sym.Symbol:
    data = mx.sym.Variable("data", shape=(4, 10), dtype="float32")
    weight = mx.sym.Variable("w", shape=(8, 10), lr_mult=2.0, wd_mult=0.0, init="zeros",
                             attr={"__mood__": "happy"})
    with mx.AttrScope(ctx_group="dev1"):
        fc = mx.sym.FullyConnected(data, weight=weight, name="fc", num_hidden=8, no_bias=True)
    act = mx.sym.Activation(fc, act_type="tanh", name="act", attr={"__note__": "x"})
    fc2 = mx.sym.FullyConnected(act, name="fc2", num_hidden=3, flatten=False, lr_mult=0.5)
    return mx.sym.SoftmaxOutput(fc2, name="softmax", grad_scale=2.0, normalization="batch")


def grouped() -> mx.sym.Symbol:
    a = mx.sym.Variable("a")
    b = mx.sym.Variable("b")
    fc = mx.sym.FullyConnected(a, num_hidden=5, name="fc")
    arith = (fc * 2 + 1) / (abs(b) + 3) - fc ** 2
    cmp = (fc > b) + (fc <= 0.5) + (1 - b) % 2 + (2 ** b)
    return mx.sym.Group([mx.sym.SoftmaxOutput(fc, name="sm"), arith, cmp, -b])


CASES = {
    "mlp": (mlp, {"data": (32, 100)}),
    "var_attrs": (var_attrs, {}),
    "group": (grouped, {"a": (4, 6), "b": (4, 5)}),
}
LEGACY = ("legacy_0x", {"data": (2, 7)})


def describe(sym: mx.sym.Symbol, shapes: dict) -> dict:
    arg_shapes, out_shapes, aux_shapes = sym.infer_shape(**shapes)
    return {
        "list_arguments": sym.list_arguments(),
        "list_outputs": sym.list_outputs(),
        "list_auxiliary_states": sym.list_auxiliary_states(),
        "list_inputs": sym.list_inputs(),
        "attr_dict": sym.attr_dict(),
        "internals": sym.get_internals().list_outputs(),
        "input_shapes": {k: list(v) for k, v in shapes.items()},
        "arg_shapes": [list(s) for s in arg_shapes],
        "out_shapes": [list(s) for s in out_shapes],
        "aux_shapes": [list(s) for s in aux_shapes],
    }


def main() -> None:
    expected = {}
    for name, (build, shapes) in CASES.items():
        sym = build()
        sym.save(os.path.join(HERE, f"mxnet_{name}-symbol.json"))
        expected[name] = describe(sym, shapes)
    name, shapes = LEGACY
    sym = mx.sym.load(os.path.join(HERE, f"{name}-symbol.json"))
    expected[name] = describe(sym, shapes)
    expected[name]["tojson_after_load"] = json.loads(sym.tojson())
    with open(os.path.join(HERE, "mxnet_expected.json"), "w") as handle:
        json.dump(expected, handle, indent=1, sort_keys=True)
        handle.write("\n")


if __name__ == "__main__":
    main()

"""Regenerate the MXNet-written checkpoint fixtures in ``checkpoint/``. Run BY HAND with MXNet 1.9.1:

    MXNET_SUBGRAPH_BACKEND=NONE /work/mxnet-venv/bin/python tests/data/make_mxnet_checkpoint.py

The tests never run this script and never import mxnet; they read what it wrote:

* ``convnet-symbol.json`` + ``convnet-0003.params``: a checkpoint saved by
  ``mx.model.save_checkpoint`` (Convolution, BatchNorm, Activation, Pooling, Flatten,
  FullyConnected, SoftmaxOutput), initialised with fixed values;
* ``legacy_0x-symbol.json``: the same graph rewritten in MXNet 0.x's layout (``param``/``attr``
  keys, two-element entries, no version); the script checks MXNet 1.9.1 loads it to the same graph;
* ``dtypes.params`` (a dict with one array per dtype), ``list.params`` (an unnamed list) and
  ``npshape.params`` (saved under ``mx.npx.set_np()``, holding a 0-d array);
* ``expected.npz``: the fixed input, MXNet's outputs (inference and training forward), the
  gradients of a training backward, and the values stored in the ``.params`` files above;
* ``expected.json``: MXNet's ``print_summary`` text and ``plot_network`` DOT source for this
  network and for the seed's MLP.
"""

from __future__ import annotations

import contextlib
import io
import json
import os

import mxnet as mx
import numpy as np

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "checkpoint")
PREFIX = os.path.join(HERE, "convnet")
EPOCH = 3
DATA_SHAPE = (4, 2, 6, 6)
DTYPES = ("float32", "float64", "float16", "int32", "int64", "uint8", "int8", "bool")


def convnet() -> mx.sym.Symbol:
    data = mx.sym.Variable("data")
    net = mx.sym.Convolution(data, kernel=(3, 3), pad=(1, 1), num_filter=3, name="conv1")
    net = mx.sym.BatchNorm(net, fix_gamma=False, name="bn1")
    net = mx.sym.Activation(net, act_type="relu", name="relu1")
    net = mx.sym.Pooling(net, kernel=(2, 2), stride=(2, 2), pool_type="max", name="pool1")
    net = mx.sym.Flatten(net, name="flat")
    weight = mx.sym.Variable("fc1_weight", lr_mult=2.0)
    net = mx.sym.FullyConnected(net, weight=weight, num_hidden=8, name="fc1")
    net = mx.sym.BatchNorm(net, fix_gamma=False, name="bn2")
    net = mx.sym.Activation(net, act_type="tanh", name="tanh1")
    net = mx.sym.FullyConnected(net, num_hidden=3, name="fc2")
    return mx.sym.SoftmaxOutput(net, name="softmax")


def mlp() -> mx.sym.Symbol:
    net = mx.sym.Variable("data")
    net = mx.sym.FullyConnected(data=net, name="fc1", num_hidden=128)
    net = mx.sym.Activation(data=net, name="relu1", act_type="relu")
    net = mx.sym.FullyConnected(data=net, name="fc2", num_hidden=64)
    return mx.sym.SoftmaxOutput(data=net, name="out")


def fixed_params(sym: mx.sym.Symbol) -> tuple[dict, dict]:
    rng = np.random.RandomState(7)
    arg_shapes, _, aux_shapes = sym.infer_shape(data=DATA_SHAPE)
    args = {}
    for name, shape in zip(sym.list_arguments(), arg_shapes):
        if name not in ("data", "softmax_label"):
            args[name] = mx.nd.array(rng.uniform(-0.5, 0.5, shape))
    aux = {}
    for name, shape in zip(sym.list_auxiliary_states(), aux_shapes):
        low = 0.5 if name.endswith("_var") else -0.2
        aux[name] = mx.nd.array(rng.uniform(low, low + 0.6, shape))
    return args, aux


def run(sym: mx.sym.Symbol, args: dict, aux: dict, data: np.ndarray, label: np.ndarray) -> dict:
    """MXNet's outputs for inference and training, and the training gradients."""
    exe = sym.simple_bind(mx.cpu(), data=DATA_SHAPE, grad_req="write")
    exe.copy_params_from(args, aux)
    infer = exe.forward(is_train=False, data=mx.nd.array(data),
                        softmax_label=mx.nd.array(label))[0].asnumpy()
    train = exe.forward(is_train=True)[0].asnumpy()
    exe.backward()
    grads = {f"grad:{k}": v.asnumpy() for k, v in exe.grad_dict.items()
             if k not in ("data", "softmax_label")}
    return {"out_infer": infer, "out_train": train, **grads}


def _legacy_key(key: str) -> str:
    """0.x wrote these hidden attributes without their underscores."""
    bare = key.strip("_")
    return bare if bare in ("ctx_group", "lr_mult", "wd_mult", "force_mirroring") else key


def _without_versions(graph_json: str) -> dict:
    """The graph with entries cut to [node, output] (1.x marks aux inputs with version 1)."""
    graph = json.loads(graph_json)
    for node in graph["nodes"]:
        node["inputs"] = [e[:2] for e in node["inputs"]]
    return graph


def legacy_json(graph_json: str) -> str:
    """MXNet 0.x's layout: ``param`` for operator settings, ``attr`` for user attributes."""
    graph = json.loads(graph_json)
    nodes = []
    for node in graph["nodes"]:
        attrs = node.get("attrs", {})
        user = {_legacy_key(k): v for k, v in attrs.items() if k.startswith("__")}
        item = {"op": node["op"], "param": {k: v for k, v in attrs.items()
                                            if not k.startswith("__")},
                "name": node["name"], "inputs": [e[:2] for e in node["inputs"]],
                "backward_source_id": -1}
        if user:
            item["attr"] = user
        nodes.append(item)
    return json.dumps({"nodes": nodes, "arg_nodes": graph["arg_nodes"],
                       "heads": [h[:2] for h in graph["heads"]]}, indent=2)


def captured(fn, *args, **kwargs) -> str:
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        fn(*args, **kwargs)
    return buf.getvalue()


def params_fixtures(expected: dict) -> None:
    rng = np.random.RandomState(3)
    typed = {}
    for dt in DTYPES:
        values = rng.randint(0, 2, (2, 3)) if dt == "bool" else rng.uniform(-60, 60, (2, 3))
        typed[f"x_{dt}"] = mx.nd.array(values, dtype=dt)
    typed["empty"] = mx.nd.array(np.zeros((2, 0, 3)))
    mx.nd.save(os.path.join(HERE, "dtypes.params"), typed)
    expected.update({f"dtypes:{k}": v.asnumpy() for k, v in typed.items()})
    listed = [mx.nd.array([[1, 2], [3, 4]], dtype="int32"), mx.nd.array([0.5, -1.5, 2.25])]
    mx.nd.save(os.path.join(HERE, "list.params"), listed)
    expected.update({f"list:{i}": v.asnumpy() for i, v in enumerate(listed)})
    with mx.util.np_shape(True):
        scalar = {"scalar": mx.nd.array(np.array(2.5)).reshape(()), "vector": mx.nd.ones((2,))}
        mx.nd.save(os.path.join(HERE, "npshape.params"), scalar)
        expected.update({f"npshape:{k}": v.asnumpy() for k, v in scalar.items()})


def main() -> None:
    os.makedirs(HERE, exist_ok=True)
    sym = convnet()
    args, aux = fixed_params(sym)
    mx.model.save_checkpoint(PREFIX, EPOCH, sym, args, aux)
    rng = np.random.RandomState(11)
    data = rng.uniform(-1, 1, DATA_SHAPE).astype(np.float32)
    label = np.array([0, 2, 1, 2], dtype=np.float32)
    expected = {"data": data, "label": label, **run(sym, args, aux, data, label)}

    legacy = legacy_json(sym.tojson())
    with open(os.path.join(HERE, "legacy_0x-symbol.json"), "w") as handle:
        handle.write(legacy)
    upgraded = mx.sym.load_json(legacy)
    assert _without_versions(upgraded.tojson()) == _without_versions(sym.tojson()), "legacy differs"
    again = run(upgraded, args, aux, data, label)
    assert all(np.array_equal(again[k], expected[k]) for k in again)

    params_fixtures(expected)
    np.savez(os.path.join(HERE, "expected.npz"), **expected)
    texts = {
        "summary_convnet": captured(mx.viz.print_summary, sym, shape={"data": DATA_SHAPE}),
        "summary_convnet_noshape": captured(mx.viz.print_summary, sym),
        "summary_mlp": captured(mx.viz.print_summary, mlp(), shape={"data": (32, 100)}),
        "summary_mlp_noshape": captured(mx.viz.print_summary, mlp()),
        "summary_mlp_narrow": captured(mx.viz.print_summary, mlp(), shape={"data": (32, 100)},
                                       line_length=70, positions=[.3, .6, .8, 1.]),
        "plot_convnet": mx.viz.plot_network(sym, shape={"data": DATA_SHAPE}).source,
        "plot_convnet_dtype": mx.viz.plot_network(sym, title="net", dtype={"data": "float32"},
                                                  node_attrs={"shape": "rect"}).source,
        "plot_mlp": mx.viz.plot_network(mlp(), shape={"data": (32, 100)}).source,
    }
    with open(os.path.join(HERE, "expected.json"), "w") as handle:
        json.dump(texts, handle, indent=1, sort_keys=True)
    total = sum(os.path.getsize(os.path.join(HERE, f)) for f in os.listdir(HERE))
    print(f"wrote {sorted(os.listdir(HERE))} ({total} bytes)")


if __name__ == "__main__":
    main()

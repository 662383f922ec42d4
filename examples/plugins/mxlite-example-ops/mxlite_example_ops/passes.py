"""A bind-time graph pass: ``Activation(relu)`` reading a ``FullyConnected`` becomes one
``_example_fc_relu`` node, when ``mx.config.get("example.fuse_fc_relu")`` is true."""

from __future__ import annotations

from collections import Counter

import mxlite as mx
from mxlite.registry import get_registry
from mxlite.symbol.graph import topo_order


def fuse_fc_relu(symbol, info):  # type: ignore[no-untyped-def]
    """Change the (private) graph in place; the FullyConnected node is left unreachable."""
    if not mx.config.get("example.fuse_fc_relu"):
        return None
    fused = get_registry().get("_example_fc_relu")
    nodes = topo_order(symbol._outputs)
    readers = Counter(id(src) for node in nodes for src, _ in node.inputs)
    readers.update(id(node) for node, _ in symbol._outputs)
    for node in nodes:
        if node.op is None or node.op.name != "Activation" or node.params.act_type != "relu":
            continue
        fc = node.inputs[0][0]
        if fc.op is not None and fc.op.name == "FullyConnected" and readers[id(fc)] == 1:
            node.op, node.params, node.attrs = fused, fc.params, dict(fc.attrs)
            node.inputs = list(fc.inputs)
    return symbol

"""MXNet's JSON graph format: write it, and read it (1.x ``attrs`` and 0.x ``param``/``attr``)."""

from __future__ import annotations

import json
from typing import Any

from ..base import MXNetError, MXNetValueError
from ..registry import get_registry
from ..registry.opdef import HIDDEN_KEYS
from .graph import Entry, Node, topo_order
from .symbol import Symbol

__all__ = ["to_json", "load_json", "load", "MXNET_VERSION"]

#: the MXNet version whose graph format we write (1.9.1)
MXNET_VERSION = 10901


def to_json(symbol: Symbol) -> str:
    nodes = topo_order(symbol._outputs)
    index = {id(n): i for i, n in enumerate(nodes)}
    rows: list[int] = [0]
    out: list[dict[str, Any]] = []
    for node in nodes:
        item: dict[str, Any] = {"op": node.op.name if node.op else "null", "name": node.name}
        if node.attrs:
            item["attrs"] = dict(sorted(node.attrs.items()))
        item["inputs"] = [[index[id(src)], k, 0] for src, k in node.inputs]
        out.append(item)
        rows.append(rows[-1] + node.num_outputs())
    graph = {
        "nodes": out,
        "arg_nodes": [i for i, n in enumerate(nodes) if n.op is None],
        "node_row_ptr": rows,
        "heads": [[index[id(n)], k, 0] for n, k in symbol._outputs],
        "attrs": {"mxnet_version": ["int", MXNET_VERSION]},
    }
    return json.dumps(graph, indent=2)


def load_json(json_str: str) -> Symbol:
    """Rebuild a Symbol from MXNet's JSON; errors name the node and what is wrong."""
    try:
        graph = json.loads(json_str)
    except (TypeError, ValueError) as err:
        raise MXNetValueError(f"load_json: not valid JSON: {err}") from None
    if not isinstance(graph, dict) or not isinstance(graph.get("nodes"), list):
        raise MXNetValueError("load_json: not an MXNet symbol graph (no 'nodes' list)")
    registry = get_registry()
    nodes: list[Node] = []
    for i, item in enumerate(graph["nodes"]):
        nodes.append(_load_node(i, item, nodes, registry))
    heads = graph.get("heads") or [[len(nodes) - 1, 0, 0]]
    return Symbol([_entry(h, nodes, "heads") for h in heads])


def _load_node(i: int, item: Any, nodes: list[Node], registry: Any) -> Node:
    if not isinstance(item, dict) or "op" not in item or "name" not in item:
        raise MXNetValueError(f"load_json: node {i} lacks 'op' or 'name': {item!r}")
    attrs: dict[str, str] = {}
    for key in ("param", "attr", "attrs"):  # 0.x wrote op params in 'param', user ones in 'attr'
        section = item.get(key) or {}
        if not isinstance(section, dict):
            raise MXNetValueError(f"load_json: node {item['name']!r}: {key!r} must be an object")
        attrs.update({_hidden(str(k)): str(v) for k, v in section.items()})
    name = str(item["name"])
    if item["op"] == "null":
        return Node(None, name, attrs)
    try:
        op = registry.get(item["op"])
        params = op.parse_params(attrs, name)
    except MXNetError as err:
        raise type(err)(f"load_json: node {i} {name!r}: {err}") from None
    node = Node(op, name, attrs, params)
    inputs = item.get("inputs", [])
    node.inputs = [_entry(e, nodes, f"node {name!r} inputs") for e in inputs]
    expected = len(node.slot_names())
    if len(node.inputs) != expected:
        raise MXNetValueError(f"load_json: node {name!r} ({op.name}) has {len(node.inputs)} inputs, "
                              f"expected {expected}: {node.slot_names()}")
    return node


def _hidden(key: str) -> str:
    """0.x graphs wrote ``lr_mult``/``ctx_group``...; MXNet 1.x keeps them as ``__lr_mult__``."""
    return f"__{key}__" if key in HIDDEN_KEYS else key


def _entry(ref: Any, nodes: list[Node], where: str) -> Entry:
    if not isinstance(ref, list) or len(ref) < 2 or not all(isinstance(v, int) for v in ref):
        raise MXNetValueError(f"load_json: {where}: bad entry {ref!r}, expected [node, index, ...]")
    nid, k = ref[0], ref[1]
    if not 0 <= nid < len(nodes):
        raise MXNetValueError(f"load_json: {where}: entry refers to node {nid}, which is not "
                              "defined before it")
    if not 0 <= k < nodes[nid].num_outputs():
        raise MXNetValueError(f"load_json: {where}: node {nodes[nid].name!r} has no output {k}")
    return (nodes[nid], k)


def load(fname: str) -> Symbol:
    try:
        with open(fname, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as err:
        raise MXNetValueError(f"cannot read symbol file {fname!r}: {err}") from None
    try:
        return load_json(text)
    except MXNetError as err:
        raise type(err)(f"{fname}: {err}") from None

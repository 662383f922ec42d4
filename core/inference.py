"""Shape and type inference over a graph, in both directions, to a fixed point.

Shapes are tuples of ints where 0 marks an unknown dimension, or None when nothing is
known. dtypes are ``numpy.dtype`` or None. Each operator's rule proposes values for its
inputs, outputs and aux states from whatever is known; proposals are merged in, and a
contradiction is reported naming the node, the slot and both values.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .base import MXNetValueError
from .symbol.graph import IndexedGraph, Node

__all__ = ["ShapeError", "infer_graph_shapes", "infer_graph_types", "merge_shape",
           "shape_is_known", "infer_node"]

MAX_PASSES = 100


class ShapeError(MXNetValueError):
    """Raised by shape rules and inference; the message names the node and the shapes."""


def shape_is_known(shape: "tuple[int, ...] | None") -> bool:
    return shape is not None and all(d > 0 for d in shape)


def merge_shape(old: Any, new: Any) -> Any:
    """Combine two partial shapes; raise ValueError when they disagree."""
    if new is None:
        return old
    new = tuple(int(d) for d in new)
    if old is None:
        return new
    if len(old) != len(new):
        raise ValueError
    merged = tuple(a if b == 0 else b for a, b in zip(old, new))
    if any(a and b and a != b for a, b in zip(old, new)):
        raise ValueError
    return merged


def merge_dtype(old: Any, new: Any) -> Any:
    if new is None:
        return old
    new = np.dtype(new)
    if old is not None and old != new:
        raise ValueError
    return new


def _fmt(value: Any) -> str:
    if value is None:
        return "unknown"
    if isinstance(value, np.dtype):
        return value.name
    return str(tuple(value))


def _apply_rule(node: Node, rule: Callable, merge: Callable, values: list, entries: list[int],
                outs: list[int], what: str) -> bool:
    """Run one node's rule and merge its proposals; return True when anything changed."""
    n_args = node.num_args()
    ins = [values[e] for e in entries]
    current = (ins[:n_args], [values[e] for e in outs], ins[n_args:])
    try:
        proposed = rule(node.params, *(list(c) for c in current))
    except ShapeError as err:
        raise ShapeError(f"{node.describe()}: {err}") from None
    slots = node.slot_names()
    out_names = node.op.output_names(node.params)
    changed = False
    groups = ((entries[:n_args], slots[:n_args], "input"), (outs, out_names, "output"),
              (entries[n_args:], slots[n_args:], "aux state"))
    for (eids, names, kind), cur, new in zip(groups, current, proposed):
        if len(new) != len(eids):
            raise MXNetValueError(f"{node.describe()}: {what} rule returned {len(new)} {kind} "
                                  f"values for {len(eids)} {kind}s")
        for eid, name, old, value in zip(eids, names, cur, new):
            try:
                merged = merge(old, value)
            except ValueError:
                raise ShapeError(_conflict(node, kind, name, old, value, slots, ins, what)) from None
            if (old is None) != (merged is None) or merged != old:  # dtype == None is True
                values[eid] = merged
                changed = True
    return changed


def _conflict(node: Node, kind: str, slot: str, old: Any, new: Any, slots: Sequence[str],
              ins: list, what: str) -> str:
    src = ""
    idx = list(slots).index(slot) if kind != "output" else len(node.inputs)
    if idx < len(node.inputs):
        src_node, k = node.inputs[idx]
        src = f" ({src_node.output_name(k)!r})"
    known = ", ".join(f"{s}={_fmt(v)}" for s, v in zip(slots, ins))
    return (f"{node.describe()}: {kind} {slot!r}{src} has {what} {_fmt(old)} but the operator "
            f"infers {_fmt(new)} from its other inputs [{known}]")


def _propagate(graph: IndexedGraph, values: list, rule_of: Callable, merge: Callable,
               what: str) -> list:
    op_nodes = [(i, n) for i, n in enumerate(graph.nodes) if n.op is not None]
    for _ in range(MAX_PASSES):
        changed = False
        for order in (op_nodes, op_nodes[::-1]):
            for i, node in order:
                outs = list(range(graph.offsets[i], graph.offsets[i] + node.num_outputs()))
                changed |= _apply_rule(node, rule_of(node), merge, values, graph.in_entries[i],
                                       outs, what)
        if not changed:
            break
    return values


def _seed(graph: IndexedGraph, known: dict[str, Any], attr: str, parse: Callable,
          merge: Callable, what: str) -> list:
    values: list = [None] * graph.num_entries
    by_name = {graph.nodes[i].name: i for i in graph.variables}
    for i in graph.variables:
        text = graph.nodes[i].attrs.get(attr)
        if text is None:
            continue
        try:
            values[graph.offsets[i]] = parse(text)
        except (ValueError, TypeError, SyntaxError) as err:
            raise MXNetValueError(f"variable {graph.nodes[i].name!r}: cannot read its {attr} "
                                  f"attribute {text!r}: {err}") from None
    for name, value in known.items():
        if name not in by_name:
            continue
        eid = graph.offsets[by_name[name]]
        try:
            values[eid] = merge(values[eid], value)
        except ValueError:  # a given value overrides the declared attribute, as in MXNet
            values[eid] = merge(None, value)
    return values


def _parse_shape_attr(text: str) -> "tuple[int, ...] | None":
    import ast
    value = ast.literal_eval(text)
    shape = tuple(int(d) for d in value) if isinstance(value, (tuple, list)) else (int(value),)
    return shape or None


def infer_graph_shapes(graph: IndexedGraph, known: dict[str, Any]) -> list:
    """Shapes of every entry, from the given variable shapes and ``__shape__`` attributes."""
    values = _seed(graph, known, "__shape__", _parse_shape_attr, merge_shape, "shape")
    return _propagate(graph, values, lambda n: n.op.infer_shape, merge_shape, "shape")


def infer_graph_types(graph: IndexedGraph, known: dict[str, Any]) -> list:
    """dtypes of every entry, from the given variable types and ``__dtype__`` attributes."""
    values = _seed(graph, known, "__dtype__", _parse_dtype_attr, merge_dtype, "dtype")
    return _propagate(graph, values, lambda n: n.op.infer_type, merge_dtype, "dtype")


def _parse_dtype_attr(text: str) -> np.dtype:
    from .ndarray.dtypes import dtype_from_attr
    return dtype_from_attr(text)


def infer_node(op: Any, params: Any, in_shapes: list, in_types: list, name: str = "") -> tuple:
    """Infer one operator application (the imperative path): shapes and types of outputs/aux."""
    from .symbol.graph import Node as _Node
    n_args = len(op.input_names(params))
    node = _Node(op, name or op.name, {}, params)
    results = []
    for rule, merge, given, what in ((op.infer_shape, merge_shape, in_shapes, "shape"),
                                     (op.infer_type, merge_dtype, in_types, "dtype")):
        values = list(given) + [None] * len(op.output_names(params))
        entries = list(range(len(given)))
        outs = list(range(len(given), len(values)))
        for _ in range(3):
            if not _apply_rule(node, rule, merge, values, entries, outs, what):
                break
        results.append((values[:n_args], values[len(given):], values[n_args:len(given)]))
    return results[0], results[1]

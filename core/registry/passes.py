"""Bind-time graph preparation: the plugins' graph passes, then per-executor node state.

``Executor`` builds its graph with ``bind_graph`` before inference and planning:

1. each graph pass (``registry.add_graph_pass``), in registration order, gets a private copy
   of the graph as a ``Symbol`` and may change its nodes in place or return a new Symbol.
   It must keep the arguments, aux states and number of outputs; a pass that raises or breaks
   this is skipped with a ``PluginWarning`` and the graph stays as it was.
2. every node whose operator has ``OpDef.prepare`` is replaced by the copy it returns
   (``Custom`` creates the user's operator there, once per node and executor).

The user's symbol is never changed. With no pass and no such operator this costs one walk
over the graph.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..base import MXNetValueError
from ..context import Context
from ..symbol.graph import Entry, IndexedGraph, Node, topo_order
from .loader import get_registry
from .registry import GraphPass, PluginWarning

__all__ = ["BindInfo", "bind_graph"]


@dataclass(frozen=True)
class BindInfo:
    """What a graph pass knows about the bind: the context, and the shapes and dtypes of the
    bound arguments and aux states by name."""

    ctx: Context
    shapes: dict[str, tuple[int, ...]]
    dtypes: dict[str, np.dtype]


def bind_graph(symbol: Any, ctx: Context, arg_arrays: Sequence[Any], aux_arrays: Sequence[Any]
               ) -> list[Entry]:
    """The outputs of the graph an executor of ``symbol`` runs (see the module docstring)."""
    passes = get_registry().graph_passes
    outputs = symbol._outputs
    if not passes and not _has_prepare(topo_order(outputs)):
        return outputs
    graph = IndexedGraph(outputs)
    names = graph.names(graph.arg_nodes) + graph.names(graph.aux_nodes)
    arrays = [*arg_arrays, *aux_arrays]
    info = BindInfo(ctx, {n: tuple(a.shape) for n, a in zip(names, arrays)},
                    {n: np.dtype(a.dtype) for n, a in zip(names, arrays)})
    for graph_pass in passes:
        symbol = _run_pass(graph_pass, symbol, info)
    return _prepare_nodes(symbol._outputs, info)


def _has_prepare(nodes: list[Node]) -> bool:
    return any(n.op is not None and n.op.prepare is not None for n in nodes)


def _run_pass(graph_pass: GraphPass, symbol: Any, info: BindInfo) -> Any:
    work = symbol._deepcopy_graph()  # private: the pass may change its nodes in place
    try:
        result = graph_pass.function(work, info)
        result = work if result is None else result
        _check_contract(symbol, result)
    except Exception as err:  # a broken pass must not break binding
        warnings.warn(f"mxlite: graph pass {graph_pass.name!r} of plugin {graph_pass.plugin!r} "
                      f"was skipped: {type(err).__name__}: {err}", PluginWarning, stacklevel=5)
        return symbol
    return result


def _check_contract(before: Any, after: Any) -> None:
    from ..symbol.symbol import Symbol
    if not isinstance(after, Symbol):
        raise MXNetValueError(f"it returned {type(after).__name__}, not a Symbol or None")
    for what in ("list_arguments", "list_auxiliary_states"):
        old, new = getattr(before, what)(), getattr(after, what)()
        if old != new:
            raise MXNetValueError(f"it changed {what}() from {old} to {new}")
    if len(after._outputs) != len(before._outputs):
        raise MXNetValueError(f"it changed the number of outputs from {len(before._outputs)} "
                              f"to {len(after._outputs)}")


def _prepare_nodes(outputs: list[Entry], info: BindInfo) -> list[Entry]:
    """Copy the op nodes; those whose op has ``prepare`` get their per-executor version."""
    graph = IndexedGraph(outputs)
    if not _has_prepare(graph.nodes):
        return outputs
    from ..inference import infer_graph_shapes, infer_graph_types
    shapes = infer_graph_shapes(graph, info.shapes)
    dtypes = infer_graph_types(graph, info.dtypes)
    copies: dict[int, Node] = {}
    for i, node in enumerate(graph.nodes):
        if node.op is None:
            copies[id(node)] = node
            continue
        inputs = [(copies[id(src)], k) for src, k in node.inputs]
        new = Node(node.op, node.name, node.attrs, node.params, inputs)
        if node.op.prepare is not None:
            entries = graph.in_entries[i]
            new = node.op.prepare(new, [shapes[e] for e in entries],
                                  [dtypes[e] for e in entries], info.ctx) or new
        copies[id(node)] = new
    return [(copies[id(node)], k) for node, k in outputs]

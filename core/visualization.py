"""``mx.viz``: MXNet's layer table (``print_summary``) and Graphviz drawing (``plot_network``).

Both follow MXNet 1.9.1's output. Where MXNet 1.9.1 is plainly wrong, mxlite does the sensible
thing instead:

* Param # counts the sizes of each layer's learnable inputs (``weight``, ``bias``, ``gamma``,
  ``beta``, RNN ``parameters``) from the inferred shapes, so Deconvolution, PReLU, LayerNorm,
  RNN and a FullyConnected fed a 4-D input get their true counts (MXNet shows 0 for the first
  four and multiplies by the input's channels only for the last). A shared weight counts once.
* Every data input (a Variable that is not a weight, an aux state or a loss label) gets a
  row and shows as a previous layer; MXNet does so only for the first node of the graph.
* ``plot_network(hide_weights=False)`` draws the weights as nodes (MXNet draws edges to
  weight nodes it never declares), and a Pooling node without ``pool_type`` uses its default.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from .base import MXNetTypeError, MXNetValueError, suggest
from .inference import infer_graph_shapes, infer_graph_types, shape_is_known
from .ndarray.dtypes import to_dtype
from .symbol import Symbol
from .symbol.graph import IndexedGraph, Node

__all__ = ["print_summary", "plot_network", "DotGraph"]

#: input slots that hold a layer's learnable parameters
PARAM_SLOTS = frozenset({"weight", "bias", "gamma", "beta", "parameters"})
#: names MXNet takes for weights when hiding them in plot_network
WEIGHT_SUFFIXES = ("_weight", "_bias", "_beta", "_gamma", "_moving_var", "_moving_mean",
                   "_running_var", "_running_mean")
PALETTE = ("#8dd3c7", "#fb8072", "#ffffb3", "#bebada", "#80b1d3", "#fdb462", "#b3de69",
           "#fccde5")
_OP_COLOR = {"Convolution": 1, "FullyConnected": 1, "Activation": 2, "LeakyReLU": 2,
             "BatchNorm": 3, "Pooling": 4, "Concat": 5, "Flatten": 5, "Reshape": 5}


# -- graph roles ---------------------------------------------------------------------------
class _Roles:
    """Which Variables are parameters, aux states, labels, or data inputs of a graph."""

    def __init__(self, graph: IndexedGraph) -> None:
        self.params: set[int] = set()
        self.aux: set[int] = set()
        self.hidden: set[int] = set()  # parameters, aux states and loss labels
        for node in graph.nodes:
            if node.op is None:
                continue
            n_args = node.num_args()
            for slot, (name, (src, _)) in enumerate(zip(node.slot_names(), node.inputs)):
                if src.op is not None:
                    continue
                if slot < n_args and name in PARAM_SLOTS:
                    self.params.add(id(src))
                if slot >= n_args:
                    self.aux.add(id(src))
                if slot >= n_args or name in PARAM_SLOTS or name == "label":
                    self.hidden.add(id(src))

    def is_data(self, node: Node) -> bool:
        return node.op is None and id(node) not in self.hidden


def _check_symbol(symbol: Any) -> Symbol:
    if not isinstance(symbol, Symbol):
        raise MXNetTypeError(f"symbol must be Symbol, got {type(symbol).__name__}")
    return symbol


def _known(graph: IndexedGraph, given: Mapping[str, Any], what: str, convert: Any) -> dict:
    inputs = graph.names(graph.variables)
    known = {}
    for key, value in given.items():
        if key not in inputs:
            raise MXNetValueError(f"{what}: {key!r} is not an input of the symbol."
                                  f"{suggest(key, inputs)} Inputs: {inputs}")
        known[key] = convert(value, key)
    return known


def _as_shape(value: Any, name: str) -> tuple[int, ...]:
    try:
        return (int(value),) if isinstance(value, int) else tuple(int(d) for d in value)
    except (TypeError, ValueError):
        raise MXNetValueError(f"shape of {name!r} must be a tuple of ints, got {value!r}") \
            from None


def _entry_shapes(graph: IndexedGraph, shape: Mapping[str, Any] | None, what: str) -> list:
    known = _known(graph, shape or {}, what, _as_shape)
    return infer_graph_shapes(graph, known)


def _tail(shape: Any) -> str:
    """A shape without its batch axis, as MXNet prints it: ``3x8x8``."""
    return "x".join(str(d) for d in shape[1:]) if shape else ""


# -- print_summary -------------------------------------------------------------------------
def _columns(line_length: int, positions: Sequence[float]) -> list[int]:
    if len(positions) != 4:
        raise MXNetValueError(f"positions must give the right edge of the 4 columns, got "
                              f"{list(positions)}")
    if positions[-1] <= 1:
        return [int(line_length * p) for p in positions]
    return [int(p) for p in positions]


def _row(fields: Sequence[str], columns: Sequence[int]) -> str:
    """Each field cut to its column and padded to the column's right edge, as MXNet does."""
    line = ""
    for field, end in zip(fields, columns):
        line = (line + field)[:end]
        line += " " * (end - len(line))
    return line


def _param_count(node: Node, shapes: list, graph: IndexedGraph, roles: _Roles,
                 counted: set[int]) -> int:
    total = 0
    for src, _ in node.inputs[:node.num_args()]:
        if id(src) in roles.params and id(src) not in counted:
            shape = shapes[graph.entry(src, 0)]
            if shape_is_known(shape):
                counted.add(id(src))
                total += math.prod(shape)
    return total


def _summary_rows(graph: IndexedGraph, shapes: list, show_shape: bool
                  ) -> Iterator[list[list[str]]]:
    """For each shown node, its lines of fields (more than one when it has several inputs)."""
    roles = _Roles(graph)
    counted: set[int] = set()
    for node in graph.nodes:
        if node.op is None and not roles.is_data(node):
            continue
        out_shape = ""
        if show_shape and node.num_visible() == 1:
            out_shape = _tail(shapes[graph.entry(node, 0)])
        params = _param_count(node, shapes, graph, roles, counted)
        previous = [src.name for src, _ in node.inputs if src.op is not None or roles.is_data(src)]
        kind = node.op.name if node.op else "null"
        first = [f"{node.name}({kind})", out_shape, str(params), previous[0] if previous else ""]
        yield [first] + [["", "", "", name] for name in previous[1:]]


def print_summary(symbol: Symbol, shape: Mapping[str, Any] | None = None,
                  line_length: int = 120,
                  positions: Sequence[float] = (.44, .64, .74, 1.)) -> None:
    """Print MXNet's layer table: Layer (type), Output Shape, Param #, Previous Layer.

    ``shape`` maps input names to shapes; without it the Output Shape column stays empty and
    only parameters whose shapes follow from the operators' settings are counted.
    ``positions`` are the right edges of the columns, as fractions of ``line_length`` (or
    absolute when the last is above 1).
    """
    graph = _check_symbol(symbol)._graph()
    columns = _columns(line_length, positions)
    shapes = _entry_shapes(graph, shape, "print_summary")
    if shape is not None:
        unknown = [graph.entry_name(e) for e, s in enumerate(shapes) if not shape_is_known(s)]
        if unknown:
            raise MXNetValueError(f"Input shape is incomplete: cannot infer the shapes of "
                                  f"{unknown[:8]}; give the shapes of the inputs "
                                  f"{graph.names(graph.variables)}")
    rows = list(_summary_rows(graph, shapes, shape is not None))
    total = 0
    print("_" * line_length)
    print(_row(["Layer (type)", "Output Shape", "Param #", "Previous Layer"], columns))
    print("=" * line_length)
    for i, lines in enumerate(rows):
        total += int(lines[0][2])
        for fields in lines:
            print(_row(fields, columns))
        print(("=" if i == len(rows) - 1 else "_") * line_length)
    print(f"Total params: {total}")
    print("_" * line_length)


# -- plot_network --------------------------------------------------------------------------
_ID = re.compile(r"^[a-zA-Z_\x80-\xff][a-zA-Z0-9_\x80-\xff]*$|^-?(\.[0-9]+|[0-9]+(\.[0-9]*)?)$")
_KEYWORDS = {"node", "edge", "graph", "digraph", "subgraph", "strict"}


def _quote(text: str) -> str:
    """A DOT identifier: bare when it is a plain name or number, else double-quoted."""
    if _ID.match(text) and text.lower() not in _KEYWORDS:
        return text
    return '"' + text.replace('"', '\\"') + '"'


def _attr_list(label: str, attrs: Mapping[str, str]) -> str:
    items = [f"label={_quote(label)}"] + [f"{k}={_quote(str(v))}" for k, v in sorted(attrs.items())]
    return "[" + " ".join(items) + "]"


class DotGraph:
    """The Graphviz DOT source of a network, returned when the ``graphviz`` package is absent.

    ``source`` is the DOT text; ``save()`` writes it. Install ``graphviz`` to get a
    ``graphviz.Digraph`` (which can render to ``format``) from ``plot_network`` instead.
    """

    def __init__(self, name: str, format: str) -> None:
        self.name = name
        self.format = format
        self._body: list[str] = []

    def node(self, name: str, label: str, **attrs: str) -> None:
        self._body.append(f"\t{_quote(name)} {_attr_list(label, attrs)}")

    def edge(self, tail_name: str, head_name: str, label: str, **attrs: str) -> None:
        self._body.append(f"\t{_quote(tail_name)} -> {_quote(head_name)} "
                          f"{_attr_list(label, attrs)}")

    @property
    def source(self) -> str:
        return "\n".join([f"digraph {_quote(self.name)} {{", *self._body, "}"])

    def save(self, filename: str | None = None) -> str:
        """Write the DOT source to ``filename`` (default ``<name>.gv``); return the path."""
        path = filename or f"{self.name}.gv"
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(self.source)
        return path

    def __str__(self) -> str:
        return self.source


def _new_graph(title: str, save_format: str) -> Any:
    try:
        from graphviz import Digraph
    except ImportError:
        return DotGraph(title, save_format)
    return Digraph(name=title, format=save_format)


def _dims(node: Node, key: str, default: str) -> str:
    text = node.attrs.get(key)
    if text is None:
        return default
    return "x".join(re.findall(r"-?\d+", text)) or default


def _op_label(node: Node) -> str:
    op = node.op.name
    p = node.params
    if op == "Convolution":
        return f"Convolution\n{_dims(node, 'kernel', '')}/{_dims(node, 'stride', '1')}, " \
               f"{p.num_filter}"
    if op == "FullyConnected":
        return f"FullyConnected\n{p.num_hidden}"
    if op == "Pooling":
        where = "global" if p.global_pool and "kernel" not in node.attrs else \
            f"{_dims(node, 'kernel', '')}/{_dims(node, 'stride', '1')}"
        return f"Pooling\n{p.pool_type}, {where}"
    if op in ("Activation", "LeakyReLU"):
        return f"{op}\n{node.attrs.get('act_type', 'Leaky')}"
    return node.name


def _is_weight(node: Node, roles: _Roles) -> bool:
    """A parameter or aux state by use, or by name as MXNet judges it."""
    return id(node) in roles.params or id(node) in roles.aux or node.name.endswith(WEIGHT_SUFFIXES)


def _edge_label(eid: int, shapes: list | None, types: list | None) -> str:
    label = _tail(shapes[eid]) if shapes is not None else ""
    if types is not None:
        label += f"({types[eid].name if types[eid] is not None else 'unknown'})"
    return label


def plot_network(symbol: Symbol, title: str = "plot", save_format: str = "pdf",
                 shape: Mapping[str, Any] | None = None, dtype: Mapping[str, Any] | None = None,
                 node_attrs: Mapping[str, str] | None = None, hide_weights: bool = True) -> Any:
    """Draw the network as MXNet does: a ``graphviz.Digraph`` when the ``graphviz`` package is
    installed, else a :class:`DotGraph`; both have ``.source``. Edges are labelled with the
    input's shape (without the batch axis) when ``shape`` is given, and its dtype when
    ``dtype`` is given."""
    graph = _check_symbol(symbol)._graph()
    shapes = _entry_shapes(graph, shape, "plot_network") if shape is not None else None
    types = None
    if dtype is not None:
        types = infer_graph_types(graph, _known(graph, dtype, "plot_network",
                                                lambda v, _: to_dtype(v)))
    roles = _Roles(graph)
    attrs = {"shape": "box", "fixedsize": "true", "width": "1.3", "height": "0.8034",
             "style": "filled", **(node_attrs or {})}
    dot = _new_graph(title, save_format)
    hidden = {id(n) for n in graph.nodes if n.op is None and hide_weights and _is_weight(n, roles)}
    for node in graph.nodes:
        if id(node) in hidden:
            continue
        if node.op is None:
            dot.node(node.name, label=node.name, **{**attrs, "shape": "oval",
                                                   "fillcolor": PALETTE[0]})
            continue
        color = PALETTE[_OP_COLOR.get(node.op.name, 7)]
        dot.node(node.name, label=_op_label(node), **{**attrs, "fillcolor": color})
    for node in graph.nodes:
        for src, k in node.inputs:
            if id(src) in hidden:
                continue
            label = _edge_label(graph.entry(src, k), shapes, types)
            dot.edge(node.name, src.name, label=label, dir="back", arrowtail="open")
    return dot

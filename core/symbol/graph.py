"""Graph nodes and the indexed (topologically ordered) view used by inference and bind."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from ..base import MXNetValueError

if TYPE_CHECKING:
    from ..registry import OpDef, Params

__all__ = ["Node", "Entry", "IndexedGraph", "topo_order"]


class Node:
    """One graph node: a Variable (``op is None``) or an operator application.

    ``attrs`` holds every string attribute (operator parameters as given, and user
    attributes ``__key__``); ``params`` is the operator's parsed view of them.
    ``inputs`` lists ``(node, output_index)`` pairs: the op's arguments, then its aux states.
    """

    __slots__ = ("op", "name", "attrs", "params", "inputs")

    def __init__(self, op: "OpDef | None", name: str, attrs: dict[str, str],
                 params: "Params | None" = None, inputs: "list[Entry] | None" = None) -> None:
        self.op = op
        self.name = name
        self.attrs = attrs
        self.params = params
        self.inputs: list[Entry] = inputs or []

    @property
    def is_variable(self) -> bool:
        return self.op is None

    def num_args(self) -> int:
        return len(self.op.input_names(self.params)) if self.op else 0

    def num_outputs(self) -> int:
        return len(self.op.output_names(self.params)) if self.op else 1

    def num_visible(self) -> int:
        return self.op.num_visible(self.params) if self.op else 1

    def output_name(self, index: int) -> str:
        if self.op is None:
            return self.name
        names = self.op.output_names(self.params)
        return f"{self.name}_{names[index]}"

    def slot_names(self) -> list[str]:
        """Names of the input slots: the op's arguments then its aux states."""
        if self.op is None:
            return []
        return self.op.input_names(self.params) + self.op.aux_names(self.params)

    def describe(self) -> str:
        return f"{self.name!r} ({self.op.name if self.op else 'Variable'})"

    def __repr__(self) -> str:
        return f"Node({self.describe()})"


Entry = tuple[Node, int]


def topo_order(heads: Iterable[Entry]) -> list[Node]:
    """Nodes reachable from ``heads`` in depth-first post-order (inputs before users)."""
    order: list[Node] = []
    seen: set[int] = set()
    for head, _ in heads:
        if id(head) in seen:
            continue
        stack: list[tuple[Node, int]] = [(head, 0)]
        seen.add(id(head))
        while stack:
            node, i = stack[-1]
            if i < len(node.inputs):
                stack[-1] = (node, i + 1)
                child = node.inputs[i][0]
                if id(child) not in seen:
                    seen.add(id(child))
                    stack.append((child, 0))
            else:
                stack.pop()
                order.append(node)
    return order


class IndexedGraph:
    """A frozen, numbered view of a graph: nodes in topological order, flat entry ids.

    Entry ``entry_id(i, k)`` is output ``k`` of node ``i``. ``arg_nodes``/``aux_nodes`` are
    indices of Variable nodes, in MXNet's ``list_arguments``/``list_auxiliary_states`` order.
    """

    def __init__(self, heads: list[Entry]) -> None:
        self.nodes = topo_order(heads)
        self.index = {id(n): i for i, n in enumerate(self.nodes)}
        self.offsets: list[int] = []
        total = 0
        for node in self.nodes:
            self.offsets.append(total)
            total += node.num_outputs()
        self.num_entries = total
        self.entry_node = [i for i, n in enumerate(self.nodes) for _ in range(n.num_outputs())]
        self.in_entries = [[self.entry(n, k) for n, k in node.inputs] for node in self.nodes]
        self.heads = [self.entry(n, k) for n, k in heads]
        self._classify_variables()

    def entry(self, node: Node, k: int) -> int:
        return self.offsets[self.index[id(node)]] + k

    def _classify_variables(self) -> None:
        aux_ids: set[int] = set()
        arg_ids: set[int] = set()
        for node in self.nodes:
            if node.op is None:
                continue
            n_args = node.num_args()
            for slot, (src, _) in enumerate(node.inputs):
                if src.op is None:
                    (aux_ids if slot >= n_args else arg_ids).add(id(src))
        both = aux_ids & arg_ids
        if both:
            names = sorted(self.nodes[self.index[i]].name for i in both)
            raise MXNetValueError(f"variables {names} are used both as arguments and as aux states")
        self.variables = [i for i, n in enumerate(self.nodes) if n.op is None]
        self.aux_nodes = [i for i in self.variables if id(self.nodes[i]) in aux_ids]
        self.arg_nodes = [i for i in self.variables if id(self.nodes[i]) not in aux_ids]

    def names(self, indices: list[int]) -> list[str]:
        return [self.nodes[i].name for i in indices]

    def entry_name(self, eid: int) -> str:
        """The output name of an entry (``fc1_output``, or a variable's name)."""
        i = self.entry_node[eid]
        return self.nodes[i].output_name(eid - self.offsets[i])

    def consumers(self) -> list[list[tuple[int, int]]]:
        """For each entry, the (node index, slot) pairs that read it."""
        users: list[list[tuple[int, int]]] = [[] for _ in range(self.num_entries)]
        for i, entries in enumerate(self.in_entries):
            for slot, eid in enumerate(entries):
                users[eid].append((i, slot))
        return users

"""Bind-time planning: storage for every tensor and the flat list of kernel calls.

Everything here runs once, at bind. The steps are fixed: forward runs the op nodes in
topological order, backward runs them in reverse. Over that timeline each internal tensor
(op outputs, gradients of intermediate entries, accumulation scratch) has a lifetime from
the step that writes it to the last step that reads it, given what each op's backward
declares it reads (``OpDef.grad_uses``). ``memory.allocate`` then packs tensors whose
lifetimes do not overlap into shared blocks, and lets an op write its output over an input
that dies at that step when the op allows it (``OpDef.inplace``). The result, a ``Plan``,
holds prebound ``forward_steps`` and ``backward_steps``: no graph walk, no registry lookup
and no allocation per call.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np

from . import config
from .base import MXNetValueError
from .memory import Storage, TensorSpec, allocate
from .registry.opdef import Kernel, OpDef
from .symbol.graph import IndexedGraph, Node

__all__ = ["Plan", "build_plan", "resolve_kernel"]

FOREVER = 1 << 30


def resolve_kernel(op: OpDef, dtype: np.dtype, node: Node, order: list[str], strict: bool,
                   need: str = "forward") -> tuple[str, Kernel]:
    """The first backend in ``order`` with a kernel for ``op`` at ``dtype``."""
    for backend in order:
        kernel = op.kernels.get(backend)
        if kernel is not None and kernel.supports(dtype) and getattr(kernel, need) is not None:
            return backend, kernel
        if strict and backend == order[0]:
            raise MXNetValueError(f"{node.describe()}: backend {backend!r} has no {need} kernel "
                                  f"for dtype {np.dtype(dtype).name} and backends.strict is set")
    raise MXNetValueError(
        f"{node.describe()}: no {need} kernel for dtype {np.dtype(dtype).name} in backends "
        f"{order}; this operator has kernels for {sorted(op.kernels)}")


@dataclass
class Plan:
    graph: IndexedGraph
    shapes: list
    dtypes: list
    buffers: list  # numpy array per forward entry
    backends: list  # backend name per node (None for variables)
    storage: Storage | None = None
    forward_steps: list[Callable[[bool], None]] = field(default_factory=list)
    backward_steps: list[Callable[[], None]] = field(default_factory=list)
    head_grads: list = field(default_factory=list)  # buffer per head, or None (loss head)

    def debug_lines(self) -> list[str]:
        """One line per node: op, output shapes, backend and storage blocks; then totals."""
        graph, storage = self.graph, self.storage
        lines = []
        for i, node in enumerate(graph.nodes):
            if node.op is None:
                lines.append(f"Variable:{node.name}")
                continue
            outs = []
            for k in range(node.num_outputs()):
                eid = graph.offsets[i] + k
                block = storage.block_of.get(("out", eid)) if storage else None
                outs.append(f"{graph.entry_name(eid)}{tuple(self.shapes[eid])} -> "
                            f"{'block ' + str(block) if block is not None else 'bound'}")
            lines.append(f"Op:{node.op.name}, Name={node.name}, backend={self.backends[i]}")
            lines += [f"\t{text}" for text in outs]
        if storage is not None:
            lines.append(f"Planned {storage.planned_bytes} bytes in {len(storage.blocks)} blocks "
                         f"versus naive {storage.naive_bytes} bytes "
                         f"({storage.planned_bytes / max(storage.naive_bytes, 1):.1%})")
            lines.append(f"Total {storage.planned_bytes / 2**20:.4f} MB allocated")
        return lines


@dataclass
class _Schedule:
    """The timeline: forward step of each op node, backward step of those that run backward."""

    fwd: dict[int, int]
    bwd: dict[int, int]
    needs: list[bool]
    backward_start: int


def build_plan(graph: IndexedGraph, shapes: list, dtypes: list, var_arrays: dict[int, np.ndarray],
               grad_targets: dict[int, tuple[np.ndarray, str]]) -> Plan:
    """Plan a bound graph.

    ``var_arrays`` maps variable node index to its bound array; ``grad_targets`` maps
    variable node index to ``(gradient array, 'write' | 'add')`` for those with gradients.
    """
    order = config.backend_order()
    strict = bool(config.get("backends.strict"))
    plan = Plan(graph, shapes, dtypes, [None] * graph.num_entries, [None] * len(graph.nodes))
    schedule = _schedule(graph, grad_targets)
    grads = _GradientPlan(plan, schedule, grad_targets)
    specs = _forward_tensors(plan, schedule) + grads.tensors()
    plan.storage = allocate(specs, planned=bool(config.get("planning.enabled")))
    for i in graph.variables:
        plan.buffers[graph.offsets[i]] = var_arrays[i]
    for eid in range(graph.num_entries):
        if plan.buffers[eid] is None:
            plan.buffers[eid] = plan.storage.arrays[("out", eid)]
    _plan_forward(plan, order, strict)
    if grad_targets:
        grads.build_steps(order, strict)
    return plan


def _schedule(graph: IndexedGraph, grad_targets: dict[int, Any]) -> _Schedule:
    op_nodes = [i for i, n in enumerate(graph.nodes) if n.op is not None]
    fwd = {i: t for t, i in enumerate(op_nodes)}
    needs = [False] * graph.num_entries
    for i, node in enumerate(graph.nodes):
        if node.op is None:
            needs[graph.offsets[i]] = i in grad_targets
        elif node.op.has_gradient and any(needs[e] for e in graph.in_entries[i][:node.num_args()]):
            for k in range(node.num_visible()):
                needs[graph.offsets[i] + k] = True
    start = len(op_nodes)
    running = [i for i in reversed(op_nodes) if needs[graph.offsets[i]]]
    bwd = {i: start + 1 + t for t, i in enumerate(running)}
    return _Schedule(fwd, bwd, needs, start)


def _forward_tensors(plan: Plan, schedule: _Schedule) -> list[TensorSpec]:
    """Op outputs with the last step that reads each (forward consumers, backward readers)."""
    graph = plan.graph
    last = {}
    for i, node in enumerate(graph.nodes):
        if node.op is None:
            continue
        reads = node.op.backward_reads(node.params) if i in schedule.bwd else ()
        for k in range(node.num_outputs()):
            eid = graph.offsets[i] + k
            hidden = k >= node.num_visible()
            last[eid] = schedule.bwd[i] if i in schedule.bwd and (hidden or "outputs" in reads) \
                else schedule.fwd[i]
        for slot, eid in zip(node.slot_names(), graph.in_entries[i]):
            if graph.nodes[graph.entry_node[eid]].op is not None:
                read_later = "inputs" in reads or slot in reads
                use = schedule.bwd[i] if read_later else schedule.fwd[i]
                last[eid] = max(last.get(eid, 0), use)
    for eid in graph.heads:
        last[eid] = FOREVER  # outputs stay readable after forward and backward
    specs = []
    for i, node in enumerate(graph.nodes):
        if node.op is None:
            continue
        inplace = _inplace_candidates(graph, i, node, node.op.inplace_pairs(node.params))
        views = _inplace_candidates(graph, i, node, node.op.view_pairs(node.params))
        for k in range(node.num_outputs()):
            eid = graph.offsets[i] + k
            specs.append(TensorSpec(("out", eid), plan.shapes[eid], plan.dtypes[eid],
                                    schedule.fwd[i], last[eid], node=i,
                                    reuse=[("out", e) for e in inplace.get(k, [])],
                                    alias=[("out", e) for e in views.get(k, [])]))
    return specs


def _inplace_candidates(graph: IndexedGraph, i: int, node: Node,
                        pairs: list[tuple[int, int]]) -> dict[int, list[int]]:
    """For each output, the input entries (op outputs only) whose storage it may take."""
    found: dict[int, list[int]] = {}
    entries = graph.in_entries[i]
    for in_idx, out_idx in pairs:
        eid = entries[in_idx]
        if graph.nodes[graph.entry_node[eid]].op is not None:  # never a bound user array
            found.setdefault(out_idx, []).append(eid)
    return found


class _GradientPlan:
    """Where each gradient accumulates, and the scratch buffers that accumulation needs.

    The first contribution to an entry's gradient writes its buffer directly (when the
    request is ``write``); later ones write a scratch buffer that is then added in.
    """

    def __init__(self, plan: Plan, schedule: _Schedule,
                 grad_targets: dict[int, tuple[np.ndarray, str]]) -> None:
        self.plan = plan
        self.schedule = schedule
        graph = plan.graph
        self.targets = {graph.offsets[i]: target for i, target in grad_targets.items()}
        #: (entry, step, reader) -> "direct" | "scratch"; the reader is an input slot, or
        #: ("head", k): one op may read an entry twice (x * x), a Group list it twice
        self.contributions: dict[tuple, str] = {}
        self.first_write: dict[int, int] = {}
        written: set[int] = set()
        for k, eid in enumerate(graph.heads):
            if self._head_wants_grad(eid):
                self._contribute((eid, schedule.backward_start, ("head", k)), written)
        for i, step in sorted(schedule.bwd.items(), key=lambda item: item[1]):
            node = graph.nodes[i]
            for slot, eid in enumerate(graph.in_entries[i][:node.num_args()]):
                if schedule.needs[eid]:
                    self._contribute((eid, step, slot), written)

    def _head_wants_grad(self, eid: int) -> bool:
        node = self.plan.graph.nodes[self.plan.graph.entry_node[eid]]
        return self.schedule.needs[eid] and not (node.op is not None and node.op.is_loss)

    def _contribute(self, key: tuple, written: set[int]) -> None:
        eid, step, _ = key
        mode = self.targets[eid][1] if eid in self.targets else "write"
        direct = mode == "write" and eid not in written
        self.contributions[key] = "direct" if direct else "scratch"
        self.first_write.setdefault(eid, step)
        written.add(eid)

    def tensors(self) -> list[TensorSpec]:
        plan, schedule, graph = self.plan, self.schedule, self.plan.graph
        specs = []
        for eid in range(graph.num_entries):
            if not schedule.needs[eid] or eid in self.targets:
                continue
            producer = graph.entry_node[eid]
            if eid in self.first_write:
                specs.append(TensorSpec(("grad", eid), plan.shapes[eid], plan.dtypes[eid],
                                        self.first_write[eid], schedule.bwd[producer],
                                        reuse=self._grad_inplace(eid)))
            else:  # read by the producer's backward but never written: stays zero
                specs.append(TensorSpec(("grad", eid), plan.shapes[eid], plan.dtypes[eid],
                                        0, FOREVER, zero=True))
        for key, how in self.contributions.items():
            eid, step, _ = key
            if how == "scratch":
                specs.append(TensorSpec(("scratch", *key), plan.shapes[eid], plan.dtypes[eid],
                                        step, step))
        return specs

    def _grad_inplace(self, eid: int) -> list:
        """Output gradients whose storage this entry's gradient may take: the first (direct)
        contribution comes from an op that allows it, at the step that output gradient dies."""
        graph, step = self.plan.graph, self.first_write[eid]
        for i, at in self.schedule.bwd.items():
            if at != step:
                continue
            node = graph.nodes[i]
            slots = graph.in_entries[i]
            return [("grad", graph.offsets[i] + out) for out, slot in
                    node.op.grad_inplace_pairs(node.params)
                    if slots[slot] == eid and self.contributions.get((eid, step, slot)) == "direct"
                    and slots.count(eid) == 1]
        return []

    def _grad_buffer(self, eid: int) -> np.ndarray:
        if eid in self.targets:
            return self.targets[eid][0]
        return self.plan.storage.arrays[("grad", eid)]

    def _destination(self, key: tuple, pending: list) -> np.ndarray:
        eid = key[0]
        if self.contributions[key] == "direct":
            return self._grad_buffer(eid)
        scratch = self.plan.storage.arrays[("scratch", *key)]
        target = self._grad_buffer(eid)
        pending.append(partial(np.add, target, scratch, out=target))
        return scratch

    def build_steps(self, order: list[str], strict: bool) -> None:
        plan, schedule, graph = self.plan, self.schedule, self.plan.graph
        steps: list[Callable[[], None]] = []
        for k, eid in enumerate(graph.heads):
            wants = self._head_wants_grad(eid)
            key = (eid, schedule.backward_start, ("head", k))
            plan.head_grads.append(self._destination(key, steps) if wants else None)
        for i, step in sorted(schedule.bwd.items(), key=lambda item: item[1]):
            node = graph.nodes[i]
            _, kernel = resolve_kernel(node.op, _node_dtype(plan, i), node, order, strict,
                                       "backward")
            start, n_visible = graph.offsets[i], node.num_visible()
            out_grads = [self._grad_buffer(start + k) if k < n_visible else None
                         for k in range(node.num_outputs())]
            pending: list = []
            in_grads = [self._destination((eid, step, slot), pending) if schedule.needs[eid]
                        else None for slot, eid in enumerate(graph.in_entries[i][:node.num_args()])]
            ins, aux = _split_inputs(plan, i)
            steps.append(kernel.backward_step(node.params, out_grads, ins, _outputs(plan, i),
                                              in_grads, aux))
            steps.extend(pending)
        for eid, (target, mode) in self.targets.items():
            if mode == "write" and eid not in self.first_write:
                steps.append(partial(target.fill, 0))  # no path reaches it: its gradient is 0
        plan.backward_steps = steps


def _node_dtype(plan: Plan, i: int) -> np.dtype:
    return plan.dtypes[plan.graph.offsets[i]]


def _split_inputs(plan: Plan, i: int) -> tuple[list, list]:
    node = plan.graph.nodes[i]
    bufs = [plan.buffers[e] for e in plan.graph.in_entries[i]]
    n_args = node.num_args()
    return bufs[:n_args], bufs[n_args:]


def _outputs(plan: Plan, i: int) -> list:
    node = plan.graph.nodes[i]
    start = plan.graph.offsets[i]
    return plan.buffers[start:start + node.num_outputs()]


def _plan_forward(plan: Plan, order: list[str], strict: bool) -> None:
    for i, node in enumerate(plan.graph.nodes):
        if node.op is None:
            continue
        backend, kernel = resolve_kernel(node.op, _node_dtype(plan, i), node, order, strict)
        plan.backends[i] = backend
        ins, aux = _split_inputs(plan, i)
        plan.forward_steps.append(kernel.forward_step(node.params, ins, _outputs(plan, i), aux))

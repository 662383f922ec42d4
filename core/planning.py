"""Bind-time planning: buffers for every tensor and the flat list of kernel calls.

Everything here runs once, at bind. The result, a ``Plan``, holds ``forward_steps`` and
``backward_steps``: prebound callables that the executor runs in order, with no graph walk,
no registry lookup and no allocation per call.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import Any, Callable

import numpy as np

from . import config
from .base import MXNetValueError
from .registry.opdef import Kernel, OpDef
from .symbol.graph import IndexedGraph, Node

__all__ = ["Plan", "build_plan", "resolve_kernel"]


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
    buffers: list  # numpy array per entry
    backends: list  # backend name per node (None for variables)
    forward_steps: list[Callable[[bool], None]] = field(default_factory=list)
    backward_steps: list[Callable[[], None]] = field(default_factory=list)
    head_grads: list = field(default_factory=list)  # buffer per head, or None (loss head)
    allocated: list = field(default_factory=list)  # (node index, bytes) owned by the plan


def build_plan(graph: IndexedGraph, shapes: list, dtypes: list, var_arrays: dict[int, np.ndarray],
               grad_targets: dict[int, tuple[np.ndarray, str]]) -> Plan:
    """Plan a bound graph.

    ``var_arrays`` maps variable node index to its bound array; ``grad_targets`` maps
    variable node index to ``(gradient array, 'write' | 'add')`` for those with gradients.
    """
    order = config.backend_order()
    strict = bool(config.get("backends.strict"))
    plan = Plan(graph, shapes, dtypes, [None] * graph.num_entries, [None] * len(graph.nodes))
    for i, node in enumerate(graph.nodes):
        if node.op is None:
            plan.buffers[graph.offsets[i]] = var_arrays[i]
            continue
        for k in range(node.num_outputs()):
            eid = graph.offsets[i] + k
            plan.buffers[eid] = np.empty(shapes[eid], dtypes[eid])
            plan.allocated.append((i, plan.buffers[eid].nbytes))
    _plan_forward(plan, order, strict)
    if grad_targets:
        _plan_backward(plan, grad_targets, order, strict)
    return plan


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
        plan.forward_steps.append(partial(kernel.forward, node.params, ins, _outputs(plan, i), aux))


def _needs_grad(plan: Plan, grad_targets: dict[int, Any]) -> list[bool]:
    """Which entries carry a gradient: those on a path from a variable that wants one."""
    graph = plan.graph
    needs = [False] * graph.num_entries
    for i, node in enumerate(graph.nodes):
        if node.op is None:
            needs[graph.offsets[i]] = i in grad_targets
        elif node.op.has_gradient and any(needs[e] for e in graph.in_entries[i][:node.num_args()]):
            for k in range(node.num_visible()):
                needs[graph.offsets[i] + k] = True
    return needs


class _GradSlot:
    """Where the gradient of one entry accumulates, and how many writers it has seen."""

    __slots__ = ("target", "mode", "written")

    def __init__(self, target: np.ndarray, mode: str) -> None:
        self.target = target
        self.mode = mode
        self.written = False

    def destination(self, steps: list) -> np.ndarray:
        """Buffer for the next contribution; schedules the add when it cannot write directly."""
        if self.mode == "write" and not self.written:
            self.written = True
            return self.target
        scratch = np.empty_like(self.target)
        steps.append(partial(np.add, self.target, scratch, out=self.target))
        self.written = True
        return scratch


def _plan_backward(plan: Plan, grad_targets: dict[int, tuple[np.ndarray, str]],
                   order: list[str], strict: bool) -> None:
    graph = plan.graph
    needs = _needs_grad(plan, grad_targets)
    slots: dict[int, _GradSlot] = {}
    for i, (target, mode) in grad_targets.items():
        slots[graph.offsets[i]] = _GradSlot(target, mode)
    for eid in range(graph.num_entries):
        if needs[eid] and eid not in slots:
            slots[eid] = _GradSlot(np.zeros(plan.shapes[eid], plan.dtypes[eid]), "write")
    steps = _plan_head_grads(plan, slots, needs)
    for i in reversed(range(len(graph.nodes))):
        node = graph.nodes[i]
        if node.op is None or not any(needs[graph.offsets[i] + k] for k in range(node.num_outputs())):
            continue
        _plan_node_backward(plan, i, slots, needs, steps, order, strict)
    for i, (target, mode) in grad_targets.items():
        if mode == "write" and not slots[graph.offsets[i]].written:
            steps.append(partial(target.fill, 0))  # no path reaches it: its gradient is 0
    plan.backward_steps = steps


def _plan_head_grads(plan: Plan, slots: dict[int, _GradSlot], needs: list[bool]) -> list:
    """Non-loss heads get their gradient from ``backward(out_grads)`` before anything else."""
    graph = plan.graph
    steps: list = []
    for eid in graph.heads:
        node = graph.nodes[graph.entry_node[eid]]
        if (node.op is not None and node.op.is_loss) or not needs[eid]:
            plan.head_grads.append(None)
            continue
        plan.head_grads.append(slots[eid].destination(steps))
    return steps


def _plan_node_backward(plan: Plan, i: int, slots: dict[int, _GradSlot], needs: list[bool],
                        steps: list, order: list[str], strict: bool) -> None:
    graph = plan.graph
    node = graph.nodes[i]
    backend, kernel = resolve_kernel(node.op, _node_dtype(plan, i), node, order, strict, "backward")
    start = graph.offsets[i]
    n_visible = node.num_visible()
    out_grads = [slots[start + k].target if k < n_visible else None
                 for k in range(node.num_outputs())]
    pending: list = []
    in_grads = []
    for eid in graph.in_entries[i][:node.num_args()]:
        in_grads.append(slots[eid].destination(pending) if needs[eid] else None)
    ins, aux = _split_inputs(plan, i)
    steps.append(partial(kernel.backward, node.params, out_grads, ins, _outputs(plan, i),
                         in_grads, aux))
    steps.extend(pending)

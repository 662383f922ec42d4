"""``Executor``: a symbol bound to arrays. ``forward``/``backward`` run the bind-time plan."""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import MXNetTypeError, MXNetValueError, suggest
from .context import Context, current_context
from .inference import infer_graph_shapes, infer_graph_types
from .ndarray.ndarray import NDArray
from .planning import Plan, build_plan
from .registry.passes import bind_graph
from .symbol.graph import IndexedGraph
from .symbol.symbol import Symbol

__all__ = ["Executor"]

_GRAD_REQS = ("write", "add", "null")


class Executor:
    """Run a bound symbol. Arrays are allocated at bind; forward/backward write into them."""

    def __init__(self, symbol: Symbol, ctx: Context, arg_arrays: list[NDArray],
                 grad_arrays: list[NDArray | None], grad_reqs: list[str],
                 aux_arrays: list[NDArray]) -> None:
        self._symbol = symbol
        self._ctx = ctx
        graph = IndexedGraph(bind_graph(symbol, ctx, arg_arrays, aux_arrays))  # passes, op state
        self._graph = graph
        self.arg_arrays = arg_arrays
        self.grad_arrays = grad_arrays
        self.aux_arrays = aux_arrays
        self._grad_reqs = grad_reqs
        arg_names = graph.names(graph.arg_nodes)
        aux_names = graph.names(graph.aux_nodes)
        self.arg_dict = dict(zip(arg_names, arg_arrays))
        self.grad_dict = dict(zip(arg_names, grad_arrays))
        self.aux_dict = dict(zip(aux_names, aux_arrays))
        self._plan = self._make_plan()
        self.outputs = [NDArray(self._plan.buffers[e], ctx) for e in graph.heads]
        self.output_dict = dict(zip(symbol.list_outputs(), self.outputs))
        self._forward_steps = tuple(self._plan.forward_steps)
        self._backward_steps = tuple(self._plan.backward_steps)
        self._head_grads = self._plan.head_grads

    # -- binding -------------------------------------------------------------------
    def _make_plan(self) -> Plan:
        graph = self._graph
        arrays = {i: a._data for i, a in zip(graph.arg_nodes, self.arg_arrays)}
        arrays.update({i: a._data for i, a in zip(graph.aux_nodes, self.aux_arrays)})
        known_shapes = {graph.nodes[i].name: a.shape for i, a in arrays.items()}
        known_types = {graph.nodes[i].name: a.dtype for i, a in arrays.items()}
        shapes = infer_graph_shapes(graph, known_shapes)
        dtypes = infer_graph_types(graph, known_types)
        _check_complete(graph, shapes, dtypes)
        grads = {i: (g._data, req) for i, g, req in
                 zip(graph.arg_nodes, self.grad_arrays, self._grad_reqs)
                 if g is not None and req != "null"}
        return build_plan(graph, shapes, dtypes, arrays, grads)

    @classmethod
    def bind(cls, symbol: Symbol, ctx: Any, args: Any, args_grad: Any = None,
             grad_req: Any = "write", aux_states: Any = None) -> "Executor":
        graph = IndexedGraph(symbol._outputs)
        arg_names = graph.names(graph.arg_nodes)
        aux_names = graph.names(graph.aux_nodes)
        arg_arrays = _arrays_in_order(args, arg_names, "args", required=True)
        aux_arrays = _arrays_in_order(aux_states, aux_names, "aux_states", required=True)
        if args_grad is None:
            grad_arrays: list = [None] * len(arg_names)
        else:
            grad_arrays = _arrays_in_order(args_grad, arg_names, "args_grad", required=False)
        reqs = _grad_reqs(grad_req, arg_names)
        for name, arr, grad in zip(arg_names, arg_arrays, grad_arrays):
            if grad is not None and grad.shape != arr.shape:
                raise MXNetValueError(f"bind: args_grad[{name!r}] has shape {grad.shape} but the "
                                      f"argument has shape {arr.shape}")
        return cls(symbol, _context(ctx), arg_arrays, grad_arrays, reqs, aux_arrays)

    @classmethod
    def simple_bind(cls, symbol: Symbol, ctx: Any, grad_req: Any, type_dict: Any,
                    shapes: dict[str, Any]) -> "Executor":
        graph = IndexedGraph(symbol._outputs)
        arg_names = graph.names(graph.arg_nodes)
        aux_names = graph.names(graph.aux_nodes)
        arg_shapes, _, aux_shapes = symbol.infer_shape_partial(**shapes)
        incomplete = [n for n, s in zip(arg_names + aux_names, arg_shapes + aux_shapes)
                      if not s or 0 in s]
        if incomplete:
            raise MXNetValueError(f"simple_bind: cannot infer the shapes of {incomplete}; give "
                                  f"them as keyword arguments (known: {shapes})")
        arg_types, aux_types = _types_or_float32(symbol, arg_names + aux_names, type_dict or {})
        context = _context(ctx)
        args = [NDArray(np.zeros(s, t), context) for s, t in zip(arg_shapes, arg_types)]
        aux = [NDArray(np.zeros(s, t), context) for s, t in zip(aux_shapes, aux_types)]
        reqs = _grad_reqs(grad_req, arg_names)
        grads = [NDArray(np.zeros(s, t), context) if r != "null" else None
                 for s, t, r in zip(arg_shapes, arg_types, reqs)]
        return cls(symbol, context, args, grads, reqs, aux)

    # -- running -------------------------------------------------------------------
    def forward(self, is_train: bool = False, **kwargs: Any) -> list[NDArray]:
        """Run the forward plan; keyword arrays are first copied into ``arg_dict``."""
        if kwargs:
            self._copy_inputs(kwargs)
        for step in self._forward_steps:
            step(is_train)
        return self.outputs

    def backward(self, out_grads: Any = None, is_train: bool = True) -> None:
        """Run the backward plan; ``out_grads`` are needed for heads that are not losses."""
        self._set_head_grads(out_grads)
        for step in self._backward_steps:
            step()

    def _set_head_grads(self, out_grads: Any) -> None:
        names = self._symbol.list_outputs()
        if out_grads is None:
            out_grads = []
        elif isinstance(out_grads, (NDArray, np.ndarray)):
            out_grads = [out_grads]
        elif isinstance(out_grads, dict):
            unknown = sorted(set(out_grads) - set(names))
            if unknown:
                raise MXNetValueError(f"backward: out_grads names {unknown} are not outputs; "
                                      f"outputs are {names}")
            out_grads = [out_grads.get(n) for n in names]
        for k, buffer in enumerate(self._head_grads):
            if buffer is None:
                continue
            grad = out_grads[k] if k < len(out_grads) else None
            if grad is None:
                raise MXNetValueError(
                    f"backward: output {names[k]!r} is not a loss, so it needs a head gradient: "
                    "pass out_grads (one array per output)")
            data = grad._data if isinstance(grad, NDArray) else np.asarray(grad)
            if data.shape != buffer.shape:
                raise MXNetValueError(f"backward: out_grads[{k}] for {names[k]!r} has shape "
                                      f"{data.shape}, expected {buffer.shape}")
            np.copyto(buffer, data, casting="unsafe")

    def _copy_inputs(self, kwargs: dict[str, Any]) -> None:
        for name, value in kwargs.items():
            target = self.arg_dict.get(name)
            if target is None:
                raise MXNetTypeError(f"forward: unknown input {name!r}; arguments are "
                                     f"{list(self.arg_dict)}.{suggest(name, self.arg_dict)}")
            data = value._data if isinstance(value, NDArray) else np.asarray(value)
            if data.shape != target.shape:
                raise MXNetValueError(f"forward: input {name!r} has shape {data.shape}, but the "
                                      f"executor was bound with shape {target.shape}")
            np.copyto(target._data, data, casting="unsafe")

    # -- parameters ----------------------------------------------------------------
    def copy_params_from(self, arg_params: dict[str, Any], aux_params: dict[str, Any] | None = None,
                         allow_extra_params: bool = False) -> None:
        for params, table, kind in ((arg_params, self.arg_dict, "arg"),
                                    (aux_params or {}, self.aux_dict, "aux")):
            for name, value in params.items():
                if name not in table:
                    if allow_extra_params:
                        continue
                    raise MXNetValueError(f"copy_params_from: {kind} {name!r} is not in the "
                                          f"executor.{suggest(name, table)} Known: {list(table)}")
                data = value._data if isinstance(value, NDArray) else np.asarray(value)
                if data.shape != table[name].shape:
                    raise MXNetValueError(f"copy_params_from: {name!r} has shape {data.shape}, "
                                          f"expected {table[name].shape}")
                np.copyto(table[name]._data, data, casting="unsafe")

    def reshape(self, partial_shaping: bool = False, allow_up_sizing: bool = False,
                **kwargs: Any) -> "Executor":
        """A new executor for new input shapes, with MXNet's rules.

        Shapes are inferred from ``kwargs`` alone. Arrays whose shape is unchanged are shared.
        An array whose shape changes must be named in ``kwargs`` unless ``partial_shaping``;
        if it grows it needs ``allow_up_sizing`` and gets new zeroed memory, if it shrinks it
        becomes a view of its old memory (gradients alike).
        """
        arg_shapes, _, aux_shapes = self._symbol.infer_shape_partial(**kwargs)
        graph = self._graph
        arg_names, aux_names = graph.names(graph.arg_nodes), graph.names(graph.aux_nodes)
        unknown = [n for n, s in zip(arg_names + aux_names, arg_shapes + aux_shapes)
                   if not s or 0 in s]
        if unknown:
            raise MXNetValueError(f"reshape: the shapes {kwargs} do not determine {unknown}")
        resize = _Resizer(self._ctx, kwargs, partial_shaping, allow_up_sizing)
        new_args, new_grads = [], []
        for name, arr, grad, shape in zip(arg_names, self.arg_arrays, self.grad_arrays,
                                          arg_shapes):
            grows = resize.check(name, arr, tuple(shape))
            new_args.append(resize(arr, tuple(shape), grows))
            new_grads.append(None if grad is None else resize(grad, tuple(shape), grows))
        new_aux = [resize(a, tuple(s), resize.check(n, a, tuple(s)))
                   for n, a, s in zip(aux_names, self.aux_arrays, aux_shapes)]
        return Executor(self._symbol, self._ctx, new_args, new_grads, self._grad_reqs, new_aux)

    # -- introspection -------------------------------------------------------------
    def debug_str(self) -> str:
        """Each node with its op, backend, output shapes and storage block; then the bytes
        allocated, planned versus naive (one buffer per tensor)."""
        return "\n".join(self._plan.debug_lines())

    def set_monitor_callback(self, callback: Any, monitor_all: bool = False) -> None:
        raise MXNetValueError("set_monitor_callback is not supported by mxlite yet")


class _Resizer:
    """``Executor.reshape``'s rule for one array: share, view a prefix, or allocate anew."""

    def __init__(self, ctx: Context, given: dict[str, Any], partial: bool, up_sizing: bool
                 ) -> None:
        self.ctx, self.given, self.partial, self.up_sizing = ctx, given, partial, up_sizing

    def check(self, name: str, arr: NDArray, shape: tuple[int, ...]) -> bool:
        """Raise if ``arr`` may not take ``shape``; return whether it grows."""
        if arr.shape == shape:
            return False
        if name not in self.given and not self.partial:
            raise MXNetValueError(
                f"reshape: the shape of {name!r}, which was not given, changes from {arr.shape} "
                f"to {shape}; this can stop it sharing memory with the original executor. "
                "Pass partial_shaping=True if this is intended")
        grows = int(np.prod(shape)) > arr.size
        if grows and not self.up_sizing:
            raise MXNetValueError(
                f"reshape: {name!r} would grow from {arr.shape} to {shape}; pass "
                "allow_up_sizing=True to allocate new arrays (making a large executor and "
                "shrinking it is cheaper)")
        return grows

    def __call__(self, arr: NDArray, shape: tuple[int, ...], grows: bool) -> NDArray:
        if arr.shape == shape:
            return arr
        if grows:
            return NDArray(np.zeros(shape, arr._data.dtype), self.ctx)
        flat = arr._data.reshape(-1)
        return NDArray(flat[:int(np.prod(shape))].reshape(shape), self.ctx)


def _types_or_float32(symbol: Symbol, names: list[str], type_dict: dict[str, Any]
                      ) -> tuple[list, list]:
    """Argument and aux dtypes from ``type_dict``; what stays undecided is float32."""
    arg_types, _, aux_types = symbol.infer_type_partial(**type_dict)
    if any(t is None for t in arg_types + aux_types):
        filled = {n: np.float32 for n, t in zip(names, arg_types + aux_types) if t is None}
        arg_types, _, aux_types = symbol.infer_type_partial(**{**filled, **type_dict})
    return arg_types, aux_types


def _context(ctx: Any) -> Context:
    if ctx is None:
        return current_context()
    if isinstance(ctx, (list, tuple)):
        ctx = ctx[0]
    return Context(ctx) if not isinstance(ctx, Context) else ctx


def _to_ndarray(value: Any, where: str) -> NDArray:
    if isinstance(value, NDArray):
        return value
    if isinstance(value, np.ndarray):
        return NDArray(value)
    raise MXNetTypeError(f"{where}: expected an NDArray, got {type(value).__name__}")


def _arrays_in_order(given: Any, names: list[str], what: str, required: bool) -> list:
    """Arrays for ``names`` from a list (in order) or a dict (by name)."""
    if given is None:
        given = {}
    if isinstance(given, dict):  # names that are not arguments are ignored, as in MXNet
        missing = [n for n in names if given.get(n) is None]
        if missing and required:
            unused = sorted(set(given) - set(names))
            hint = f" (given but unused: {unused})" if unused else ""
            raise MXNetValueError(f"bind: {what} is missing {missing}; the symbol needs "
                                  f"{names}{hint}")
        return [None if given.get(n) is None else _to_ndarray(given[n], f"{what}[{n!r}]")
                for n in names]
    given = list(given)
    if len(given) != len(names) and (required or len(given) > len(names)):
        raise MXNetValueError(f"bind: {what} has {len(given)} arrays but the symbol needs "
                              f"{len(names)}: {names}")
    given += [None] * (len(names) - len(given))
    if required and any(g is None for g in given):
        missing = [n for n, g in zip(names, given) if g is None]
        raise MXNetValueError(f"bind: {what} is missing {missing}")
    return [None if g is None else _to_ndarray(g, f"{what}[{n!r}]") for n, g in zip(names, given)]


def _grad_reqs(grad_req: Any, names: list[str]) -> list[str]:
    if isinstance(grad_req, str):
        reqs = [grad_req] * len(names)
    elif isinstance(grad_req, dict):  # unknown names are ignored, as in MXNet
        reqs = [grad_req.get(n, "null") for n in names]
    else:
        reqs = list(grad_req)
        if len(reqs) != len(names):
            raise MXNetValueError(f"bind: grad_req has {len(reqs)} entries for {len(names)} "
                                  f"arguments {names}")
    for name, req in zip(names, reqs):
        if req not in _GRAD_REQS:
            raise MXNetValueError(f"bind: grad_req {req!r} for {name!r} is not one of {_GRAD_REQS}")
    return reqs


def _check_complete(graph: IndexedGraph, shapes: list, dtypes: list) -> None:
    unknown = [graph.entry_name(e) for e in range(graph.num_entries)
               if shapes[e] is None or 0 in shapes[e]]
    if unknown:
        raise MXNetValueError(f"bind: cannot infer the shapes of {unknown}")
    untyped = [graph.entry_name(e) for e in range(graph.num_entries) if dtypes[e] is None]
    if untyped:
        raise MXNetValueError(f"bind: cannot infer the dtypes of {untyped}")



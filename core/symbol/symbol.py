"""``Symbol``: a handle on one or more outputs of a computation graph."""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from ..base import MXNetTypeError, MXNetValueError, suggest
from ..registry.opdef import HIDDEN_KEYS
from .graph import Entry, IndexedGraph, Node, topo_order

__all__ = ["Symbol", "Variable", "var", "Group"]


class Symbol:
    """The outputs ``[(node, index), ...]`` of a graph; cheap to create, copied on compose."""

    __slots__ = ("_outputs", "__weakref__")
    #: numpy defers to our reflected operators: ``np.float32(2) * sym`` is ``sym * 2``
    __array_ufunc__ = None

    def __init__(self, outputs: list[Entry]) -> None:
        self._outputs = list(outputs)

    # -- identity and display ----------------------------------------------------------
    @property
    def name(self) -> str | None:
        return self._outputs[0][0].name if len(self._outputs) == 1 else None

    def __repr__(self) -> str:
        if len(self._outputs) == 1:
            return f"<Symbol {self.name}>"
        names = ", ".join(n.name for n, _ in self._outputs)
        return f"<Symbol group [{names}]>"

    __str__ = __repr__

    def __bool__(self) -> bool:
        raise MXNetTypeError("bool() is not implemented for Symbol (only for NDArray); "
                             "compare symbols with comparison operators instead")

    def __iadd__(self, other: Any) -> "Symbol":
        raise MXNetTypeError("in-place operator += is not implemented for Symbol (only for NDArray)")

    __isub__ = __imul__ = __itruediv__ = __iadd__

    def __copy__(self) -> "Symbol":
        return self._deepcopy_graph()

    def __deepcopy__(self, memo: dict) -> "Symbol":
        return self._deepcopy_graph()

    def copy(self) -> "Symbol":
        return self._deepcopy_graph()

    def __getstate__(self) -> dict:
        return {"json": self.tojson()}

    def __setstate__(self, state: dict) -> None:
        from .json_io import load_json
        self._outputs = load_json(state["json"])._outputs

    def _deepcopy_graph(self, replace: dict[str, "Symbol"] | None = None) -> "Symbol":
        """Copy every node; Variables named in ``replace`` become that symbol's output."""
        replace = replace or {}
        mapping: dict[int, Entry] = {}
        for node in topo_order(self._outputs):
            if node.op is None and node.name in replace:
                mapping[id(node)] = replace[node.name]._single("compose")
                continue
            new = Node(node.op, node.name, dict(node.attrs), node.params)
            new.inputs = [_remap(mapping, src, k) for src, k in node.inputs]
            mapping[id(node)] = (new, 0)
        return Symbol([_remap(mapping, n, k) for n, k in self._outputs])

    def _single(self, what: str) -> Entry:
        if len(self._outputs) != 1:
            raise MXNetValueError(f"{what}: expected a single-output symbol, got {self!r} with "
                                  f"{len(self._outputs)} outputs")
        return self._outputs[0]

    # -- listing ---------------------------------------------------------------------
    def _graph(self) -> IndexedGraph:
        return IndexedGraph(self._outputs)

    def list_arguments(self) -> list[str]:
        graph = self._graph()
        return graph.names(graph.arg_nodes)

    def list_auxiliary_states(self) -> list[str]:
        graph = self._graph()
        return graph.names(graph.aux_nodes)

    def list_inputs(self) -> list[str]:
        graph = self._graph()
        return graph.names(graph.variables)

    def list_outputs(self) -> list[str]:
        return [node.output_name(k) for node, k in self._outputs]

    def get_internals(self) -> "Symbol":
        entries = [(n, k) for n in topo_order(self._outputs) for k in range(n.num_visible())]
        return Symbol(entries)

    def get_children(self) -> "Symbol | None":
        inputs = [entry for node, _ in self._outputs for entry in node.inputs]
        return Symbol(inputs) if inputs else None

    def __len__(self) -> int:
        return len(self._outputs)

    def __iter__(self) -> Iterator["Symbol"]:
        return (Symbol([entry]) for entry in self._outputs)

    def __getitem__(self, index: "int | str | slice") -> "Symbol":
        if isinstance(index, slice):
            return Symbol(self._outputs[index])
        if isinstance(index, str):
            names = self.list_outputs()
            matches = [i for i, n in enumerate(names) if n == index]
            if not matches:
                raise ValueError(f'Cannot find output that matches name "{index}".'
                                 f"{suggest(index, names)}")
            if len(matches) > 1:
                raise ValueError(f'There are multiple outputs with name "{index}"')
            index = matches[0]
        if not -len(self._outputs) <= index < len(self._outputs):
            raise IndexError(f"output index {index} out of range for {len(self._outputs)} outputs")
        return Symbol([self._outputs[index]])

    # -- attributes ------------------------------------------------------------------
    def attr(self, key: str) -> str | None:
        if len(self._outputs) != 1:
            return None
        attrs = self._outputs[0][0].attrs
        if key in HIDDEN_KEYS:
            return attrs.get(f"__{key}__", attrs.get(key))
        return attrs.get(key)

    def list_attr(self, recursive: bool = False) -> dict[str, str]:
        """This node's attributes; a group has none (``{}``), as in MXNet."""
        if recursive:
            raise MXNetValueError("list_attr(recursive=True) is deprecated; use attr_dict()")
        if len(self._outputs) != 1:
            return {}
        return _shown_attrs(self._outputs[0][0].attrs)

    def attr_dict(self) -> dict[str, dict[str, str]]:
        return {n.name: _shown_attrs(n.attrs) for n in topo_order(self._outputs) if n.attrs}

    def _set_attr(self, **kwargs: str) -> None:
        node = self._single("_set_attr")[0]
        for key, value in kwargs.items():
            if not isinstance(value, str):
                raise MXNetValueError(f"attribute {key!r} must be a string, got {value!r}")
            node.attrs[_attr_key(key)] = value
        if node.op is not None:
            node.params = node.op.parse_params(node.attrs, node.name)

    # -- composition -----------------------------------------------------------------
    def __call__(self, *args: "Symbol", **kwargs: Any) -> "Symbol":
        """Copy this symbol, replacing free variables by name (or, on a fresh op, in order)."""
        name = kwargs.pop("name", None)
        kwargs.pop("attr", None)
        if args and kwargs:
            raise MXNetTypeError("compose accepts input symbols either as positional or keyword "
                                 "arguments, not both")
        for key, value in [*enumerate(args), *kwargs.items()]:
            if not isinstance(value, Symbol):
                raise MXNetTypeError(f"compose: argument {key!r} must be a Symbol, got "
                                     f"{type(value).__name__}")
        if args:
            kwargs = self._positional_targets(args)
        unknown = set(kwargs) - set(self.list_inputs())
        if unknown:
            raise MXNetValueError(f"compose: {sorted(unknown)} are not free variables of {self!r}; "
                                  f"its inputs are {self.list_inputs()}")
        result = self._deepcopy_graph(kwargs)
        head = result._outputs[0][0]
        given = {id(n) for sym in kwargs.values() for n, _ in sym._outputs}
        if name and len(result._outputs) == 1 and head.op is not None and id(head) not in given:
            head.name = name  # only a copied node: never rename a node of an argument symbol
        return result

    def _positional_targets(self, args: Sequence["Symbol"]) -> dict[str, "Symbol"]:
        node = self._single("compose")[0]
        free = [src.name for src, _ in node.inputs if src.op is None]
        if node.op is None or len(free) != len(node.inputs) or len(args) > len(free):
            raise MXNetTypeError("positional composition works only on a single operator whose "
                                 "inputs are all free variables; pass inputs by name instead")
        return dict(zip(free, args))

    # -- inference -------------------------------------------------------------------
    def _known_from_call(self, what: str, args: tuple, kwargs: dict, graph: IndexedGraph
                         ) -> dict[str, Any]:
        arg_names = graph.names(graph.arg_nodes)
        known: dict[str, Any] = {}
        if args:
            if kwargs:
                raise MXNetTypeError(f"{what}: pass either positional or keyword arguments")
            known.update({n: v for n, v in zip(arg_names, args) if v is not None})
        inputs = graph.names(graph.variables)
        for key, value in kwargs.items():
            if key not in inputs:
                raise MXNetValueError(f"{what}: {key!r} is not an input of the symbol."
                                      f"{suggest(key, inputs)} Inputs: {inputs}")
            if value is not None:
                known[key] = value
        return known

    def infer_shape(self, *args: Any, **kwargs: Any) -> tuple:
        """``(arg_shapes, out_shapes, aux_shapes)``; ``(None, None, None)`` when incomplete."""
        result, complete = self._infer_shape(args, kwargs, "infer_shape")
        if not complete:
            graph = self._graph()
            missing = "".join(f"\n\t{graph.nodes[i].name}: {tuple(s) if s else ()}"
                              for i, s in zip(graph.variables, result[3]) if not _full(s))
            warnings.warn(f"Cannot decide shape for the following arguments (0s in shape means "
                          f"unknown dimensions). Consider providing them as input:{missing}",
                          stacklevel=2)
            return None, None, None
        return result[:3]

    def infer_shape_partial(self, *args: Any, **kwargs: Any) -> tuple:
        """Like ``infer_shape``, with ``()`` for what stays unknown."""
        return self._infer_shape(args, kwargs, "infer_shape_partial")[0][:3]

    def _infer_shape(self, args: tuple, kwargs: dict, what: str) -> tuple:
        from ..inference import infer_graph_shapes
        graph = self._graph()
        known = {k: _as_shape(v, k) for k, v in self._known_from_call(what, args, kwargs, graph).items()}
        shapes = infer_graph_shapes(graph, known)
        shown = lambda s: tuple(s) if s is not None else ()
        var_shapes = [shapes[graph.offsets[i]] for i in graph.variables]
        args_out = [shown(shapes[graph.offsets[i]]) for i in graph.arg_nodes]
        aux_out = [shown(shapes[graph.offsets[i]]) for i in graph.aux_nodes]
        outs = [shown(shapes[e]) for e in graph.heads]
        complete = all(_full(s) for s in [*args_out, *aux_out, *outs])
        return (args_out, outs, aux_out, var_shapes), complete

    def infer_type(self, *args: Any, **kwargs: Any) -> tuple:
        """``(arg_types, out_types, aux_types)`` as numpy types; warns and gives
        ``(None, None, None)`` when some stay undecided."""
        arg_t, out_t, aux_t = self._infer_type(args, kwargs, "infer_type")
        if any(t is None for t in [*arg_t, *aux_t, *out_t]):
            names = self.list_arguments() + self.list_auxiliary_states()
            missing = "".join(f"\n\t{n}: None" for n, t in zip(names, arg_t + aux_t) if t is None)
            warnings.warn("Cannot decide type for the following arguments. Consider providing "
                          f"them as input:{missing}", stacklevel=2)
            return None, None, None
        return arg_t, out_t, aux_t

    def infer_type_partial(self, *args: Any, **kwargs: Any) -> tuple:
        """Like ``infer_type``, with None for the types that stay unknown."""
        return self._infer_type(args, kwargs, "infer_type_partial")

    def _infer_type(self, args: tuple, kwargs: dict, what: str) -> tuple:
        from ..inference import infer_graph_types
        from ..ndarray.dtypes import to_dtype
        graph = self._graph()
        known = {k: to_dtype(v) for k, v in self._known_from_call(what, args, kwargs,
                                                                    graph).items()}
        types = infer_graph_types(graph, known)
        as_type = lambda t: t.type if t is not None else None
        arg_t = [as_type(types[graph.offsets[i]]) for i in graph.arg_nodes]
        aux_t = [as_type(types[graph.offsets[i]]) for i in graph.aux_nodes]
        out_t = [as_type(types[e]) for e in graph.heads]
        return arg_t, out_t, aux_t

    # -- serialisation ---------------------------------------------------------------
    def tojson(self) -> str:
        from .json_io import to_json
        return to_json(self)

    def save(self, fname: str, remove_amp_cast: bool = True) -> None:
        with open(fname, "w", encoding="utf-8") as handle:
            handle.write(self.tojson())

    def debug_str(self) -> str:
        """The graph as MXNet prints it: outputs, then each Variable and operator in order."""
        lines = ["Symbol Outputs:"]
        lines += [f"\toutput[{i}]={n.name}({k})" for i, (n, k) in enumerate(self._outputs)]
        for node in topo_order(self._outputs):
            if node.op is None:
                lines.append(f"Variable:{node.name}")
                continue
            lines.append("-" * 20)
            lines.append(f"Op:{node.op.name}, Name={node.name}")
            lines.append("Inputs:")
            for i, (src, k) in enumerate(node.inputs):
                version = " version=0" if src.op is None else ""
                lines.append(f"\targ[{i}]={src.name}({k}){version}")
            if node.attrs:
                lines.append("Attrs:")
                lines += [f"\t{k}={v}" for k, v in sorted(node.attrs.items())]
        return "\n".join(lines) + "\n"

    # -- execution -------------------------------------------------------------------
    def bind(self, ctx: Any, args: Any, args_grad: Any = None, grad_req: Any = "write",
             aux_states: Any = None, group2ctx: Any = None, shared_exec: Any = None) -> Any:
        from ..executor import Executor
        return Executor.bind(self, ctx, args, args_grad, grad_req, aux_states)

    def simple_bind(self, ctx: Any = None, grad_req: Any = "write", type_dict: Any = None,
                    stype_dict: Any = None, group2ctx: Any = None, shared_arg_names: Any = None,
                    shared_exec: Any = None, shared_buffer: Any = None, **kwargs: Any) -> Any:
        from ..executor import Executor
        return Executor.simple_bind(self, ctx, grad_req, type_dict, kwargs)

    # -- arithmetic (element-wise, no broadcasting) -------------------------------------
    def _op(self, alias: str, *inputs: "Symbol", **params: Any) -> "Symbol":
        from .ops import create
        return create(alias, inputs, params)

    def _arith(self, other: Any, sym_alias: str, scalar_alias: str) -> "Symbol":
        if isinstance(other, Symbol):
            return self._op(sym_alias, self, other)
        if isinstance(other, (int, float, np.number)) and not isinstance(other, bool):
            scalar = other.item() if isinstance(other, np.number) else other
            return self._op(scalar_alias, self, scalar=scalar)
        return NotImplemented

    def __add__(self, o: Any) -> "Symbol":
        return self._arith(o, "_Plus", "_PlusScalar")

    def __radd__(self, o: Any) -> "Symbol":
        return self._arith(o, "_Plus", "_PlusScalar")

    def __sub__(self, o: Any) -> "Symbol":
        return self._arith(o, "_Minus", "_MinusScalar")

    def __rsub__(self, o: Any) -> "Symbol":
        return self._arith(o, "_Minus", "_RMinusScalar")

    def __mul__(self, o: Any) -> "Symbol":
        return self._arith(o, "_Mul", "_MulScalar")

    def __rmul__(self, o: Any) -> "Symbol":
        return self._arith(o, "_Mul", "_MulScalar")

    def __truediv__(self, o: Any) -> "Symbol":
        return self._arith(o, "_Div", "_DivScalar")

    def __rtruediv__(self, o: Any) -> "Symbol":
        return self._arith(o, "_Div", "_RDivScalar")

    def __mod__(self, o: Any) -> "Symbol":
        return self._arith(o, "_Mod", "_ModScalar")

    def __rmod__(self, o: Any) -> "Symbol":
        return self._arith(o, "_Mod", "_RModScalar")

    def __pow__(self, o: Any) -> "Symbol":
        return self._arith(o, "_Power", "_PowerScalar")

    def __rpow__(self, o: Any) -> "Symbol":
        return self._arith(o, "_Power", "_rpower_scalar")

    def __neg__(self) -> "Symbol":
        return self._op("_MulScalar", self, scalar=-1.0)

    def __abs__(self) -> "Symbol":
        return self._op("abs", self)

    def __eq__(self, o: Any) -> "Symbol":  # type: ignore[override]
        return self._arith(o, "_equal", "_equal_scalar")

    def __ne__(self, o: Any) -> "Symbol":  # type: ignore[override]
        return self._arith(o, "_not_equal", "_not_equal_scalar")

    def __gt__(self, o: Any) -> "Symbol":
        return self._arith(o, "_greater", "_greater_scalar")

    def __ge__(self, o: Any) -> "Symbol":
        return self._arith(o, "_greater_equal", "_greater_equal_scalar")

    def __lt__(self, o: Any) -> "Symbol":
        return self._arith(o, "_lesser", "_lesser_scalar")

    def __le__(self, o: Any) -> "Symbol":
        return self._arith(o, "_lesser_equal", "_lesser_equal_scalar")

    __hash__ = object.__hash__
    __div__ = __truediv__

    def __getattr__(self, name: str) -> Any:
        """Operator methods: ``sym.reshape(...)`` is ``mx.sym.reshape(sym, ...)``."""
        if name.startswith("_"):
            raise AttributeError(name)
        from ..registry import get_registry
        registry = get_registry()
        if name not in registry:
            raise AttributeError(f"'Symbol' object has no attribute {name!r}")
        from .ops import create
        return lambda *args, **kwargs: create(name, (self, *args), kwargs)


def _remap(mapping: dict[int, Entry], node: Node, k: int) -> Entry:
    new, base = mapping[id(node)]
    return (new, base + k)


def _attr_key(key: str) -> str:
    return f"__{key}__" if key in HIDDEN_KEYS else key


def _shown_attrs(attrs: dict[str, str]) -> dict[str, str]:
    """Attributes as MXNet shows them: hidden ``__lr_mult__`` also as ``lr_mult``."""
    shown = dict(attrs)
    for key in HIDDEN_KEYS:
        if f"__{key}__" in attrs:
            shown[key] = attrs[f"__{key}__"]
    return shown


def _full(shape: Any) -> bool:
    return bool(shape) and all(d > 0 for d in shape)


def _as_shape(value: Any, name: str) -> tuple[int, ...]:
    if isinstance(value, (int, np.integer)):
        return (int(value),)
    try:
        if isinstance(value, str):
            raise TypeError
        return tuple(int(d) for d in value)
    except (TypeError, ValueError):
        raise MXNetValueError(f"shape of {name!r} must be a tuple of ints, got {value!r}") from None


def Variable(name: str, attr: dict[str, str] | None = None, shape: Any = None,
             lr_mult: float | None = None, wd_mult: float | None = None, dtype: Any = None,
             init: Any = None, stype: str | None = None, **kwargs: Any) -> Symbol:
    """A free variable (an input or a parameter) named ``name``."""
    from .. import attribute
    from ..ndarray.dtypes import FLAG_OF, to_dtype
    if not isinstance(name, str):
        raise MXNetTypeError(f"Variable name must be a string, got {type(name).__name__}")
    for key, value in (attr or {}).items():
        if not isinstance(value, str):
            raise MXNetValueError(f"Variable {name!r}: attribute {key!r} must be a string, "
                                  f"got {value!r}")
    attrs = attribute.current().get(attr)
    if shape is not None:
        attrs["__shape__"] = str(_as_shape(shape, name))
    if lr_mult is not None:
        attrs["__lr_mult__"] = str(lr_mult)
    if wd_mult is not None:
        attrs["__wd_mult__"] = str(wd_mult)
    if dtype is not None:
        attrs["__dtype__"] = str(FLAG_OF.get(to_dtype(dtype), to_dtype(dtype).name))
    if init is not None:
        attrs["__init__"] = init if isinstance(init, str) else init.dumps()
    if stype is not None:
        attrs["__storage_type__"] = str(stype)
    for key, value in kwargs.items():
        if not (key.startswith("__") and key.endswith("__")):
            raise MXNetValueError(f"Attribute name={key} is not supported. Additional attributes "
                                  "must start and end with double underscores, e.g, __yourattr__")
        attrs[key] = str(value)
    return Symbol([(Node(None, name, {_attr_key(k): v for k, v in attrs.items()}), 0)])


var = Variable


def Group(symbols: Sequence[Symbol]) -> Symbol:
    """One symbol whose outputs are the outputs of ``symbols``, nested groups flattened."""
    if not symbols or any(not isinstance(s, Symbol) for s in symbols):
        raise MXNetTypeError("Group expects a non-empty list of Symbols")
    return Symbol([entry for s in symbols for entry in s._outputs])



"""Operator constructors (``mx.sym.FullyConnected``...), generated from the registry on demand."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from .. import attribute
from .. import name as _name
from ..base import MXNetTypeError, MXNetValueError, suggest
from ..registry import get_registry
from ..registry.opdef import HIDDEN_KEYS
from ..registry.params import to_attr_string
from .graph import Entry, Node
from .symbol import Symbol

__all__ = ["create", "constructor"]

_cache: dict[str, Callable[..., Symbol]] = {}


def constructor(op_name: str) -> Callable[..., Symbol]:
    """The ``mx.sym.<op_name>`` function; raises AttributeError for unknown names."""
    func = _cache.get(op_name)
    if func is None:
        registry = get_registry()
        if op_name not in registry:
            raise AttributeError(f"mxlite.symbol has no operator {op_name!r}."
                                 f"{suggest(op_name, registry.names())}")
        opdef = registry.get(op_name)

        def func(*args: Any, **kwargs: Any) -> Symbol:
            return create(op_name, args, kwargs)

        func.__name__ = func.__qualname__ = op_name
        func.__doc__ = opdef.describe()
        func.__module__ = "mxlite.symbol"
        _cache[op_name] = func
    return func


def create(called_name: str, args: Sequence[Any], kwargs: dict[str, Any]) -> Symbol:
    """Apply operator ``called_name`` to input symbols; missing inputs become Variables."""
    op = get_registry().get(called_name)
    # an input given as None is auto-created, as in MXNet (``weight=None``)
    kwargs = {k: v for k, v in kwargs.items() if v is not None or k in op.param_names}
    name = kwargs.pop("name", None)
    attr = kwargs.pop("attr", None)
    for key, value in (attr or {}).items():
        if not isinstance(value, str):
            raise MXNetValueError(f"{called_name}: attribute {key!r} must be a string, "
                                  f"got {value!r}")
    for i, arg in enumerate(args):
        if not isinstance(arg, Symbol):
            raise MXNetTypeError(f"{called_name}: positional argument {i} must be a Symbol, got "
                                 f"{type(arg).__name__}; pass parameters by keyword")
    inputs = {k: v for k, v in kwargs.items() if isinstance(v, Symbol)}
    raw_params = {k: v for k, v in kwargs.items() if not isinstance(v, Symbol)}
    if op.key_var_num_args and op.key_var_num_args not in raw_params:
        raw_params[op.key_var_num_args] = len(args)
    attrs = {_hidden(k): v for k, v in attribute.current().get(attr).items()}
    attrs.update({_hidden(k): to_attr_string(v) for k, v in raw_params.items()})
    params = op.parse_params(attrs, name or called_name)
    node_name = _name.current().get(name, called_name.lower())
    node = Node(op, node_name, attrs, params)
    node.inputs = _bind_inputs(node, list(args), inputs)
    return Symbol([(node, k) for k in range(node.num_visible())])


def _hidden(key: str) -> str:
    return f"__{key}__" if key in HIDDEN_KEYS else key


def _bind_inputs(node: Node, args: list[Symbol], named: dict[str, Symbol]) -> list[Entry]:
    slots = node.slot_names()
    where = node.describe()
    if len(args) > len(slots):
        raise MXNetTypeError(f"{where}: takes {len(slots)} inputs {slots}, got {len(args)} "
                             "positional symbols")
    given: dict[str, Symbol] = dict(zip(slots, args))
    for key, sym in named.items():
        if key not in slots:
            raise MXNetTypeError(f"{where}: unknown input {key!r}; inputs are {slots}."
                                 f"{suggest(key, slots)}")
        if key in given:
            raise MXNetTypeError(f"{where}: got multiple values for argument {key!r}")
        given[key] = sym
    entries: list[Entry] = []
    for slot in slots:
        sym = given.get(slot)
        if sym is None:
            var_attrs = {**node.attrs, **node.op.input_attrs.get(slot, {})}
            entries.append((Node(None, f"{node.name}_{slot}", var_attrs), 0))
        elif len(sym._outputs) != 1:
            raise MXNetValueError(f"{where}: input {slot!r} must have one output, got {sym!r} "
                                  f"with outputs {sym.list_outputs()}")
        else:
            entries.append(sym._outputs[0])
    return entries

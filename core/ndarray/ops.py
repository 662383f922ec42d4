"""Imperative operators (``mx.nd.FullyConnected``...): one op, run at once on NDArrays."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .. import config
from ..base import MXNetTypeError, MXNetValueError, suggest
from ..inference import infer_node
from ..planning import resolve_kernel
from ..registry import get_registry
from ..symbol.graph import Node
from .ndarray import NDArray

__all__ = ["invoke", "function"]

_cache: dict[str, Callable[..., Any]] = {}


def function(op_name: str) -> Callable[..., Any]:
    """The ``mx.nd.<op_name>`` function; raises AttributeError for unknown names."""
    func = _cache.get(op_name)
    if func is None:
        registry = get_registry()
        if op_name not in registry:
            raise AttributeError(f"mxlite.ndarray has no operator {op_name!r}."
                                 f"{suggest(op_name, registry.names())}")

        def func(*args: Any, **kwargs: Any) -> Any:
            return invoke(op_name, args, kwargs)

        func.__name__ = func.__qualname__ = op_name
        func.__doc__ = registry.get(op_name).describe()
        func.__module__ = "mxlite.ndarray"
        _cache[op_name] = func
    return func


def invoke(op_name: str, args: tuple, kwargs: dict[str, Any]) -> Any:
    """Run one operator on NDArrays; returns an NDArray, or a list for several outputs."""
    op = get_registry().get(op_name)
    kwargs = dict(kwargs)
    out = kwargs.pop("out", None)
    kwargs.pop("name", None)
    kwargs.pop("ctx", None)
    is_train = bool(kwargs.pop("is_train", False))
    arrays = {k: v for k, v in kwargs.items() if isinstance(v, (NDArray, np.ndarray))}
    raw = {k: v for k, v in kwargs.items() if k not in arrays}
    if op.key_var_num_args and op.key_var_num_args not in raw:
        raw[op.key_var_num_args] = len(args)
    params = op.parse_params(raw, op_name)
    node = Node(op, op_name, {}, params)
    inputs = _order_inputs(node, list(args), arrays)
    n_args = node.num_args()
    (in_s, out_s, aux_s), (in_t, out_t, aux_t) = infer_node(
        op, params, [a.shape for a in inputs], [a.dtype for a in inputs], op_name)
    _check_inferred(node, out_s, out_t)
    outs = [np.empty(s, t) for s, t in zip(out_s, out_t)]
    _, kernel = resolve_kernel(op, outs[0].dtype if outs else inputs[0].dtype, node,
                               config.backend_order(), bool(config.get("backends.strict")))
    data = [a._data for a in inputs]
    kernel.forward(params, data[:n_args], outs, data[n_args:], is_train)
    results = [NDArray(o) for o in outs[:node.num_visible()]]
    if out is not None:
        targets = out if isinstance(out, (list, tuple)) else [out]
        for target, result in zip(targets, results):
            result.copyto(target)
        return out
    return results[0] if len(results) == 1 else results


def _order_inputs(node: Node, args: list, named: dict[str, Any]) -> list[NDArray]:
    slots = node.slot_names()
    where = node.describe()
    for i, value in enumerate(args):
        if not isinstance(value, (NDArray, np.ndarray)):
            raise MXNetTypeError(f"{where}: positional argument {i} must be an NDArray, got "
                                 f"{type(value).__name__}; pass parameters by keyword")
    if len(args) > len(slots):
        raise MXNetTypeError(f"{where}: takes {len(slots)} inputs {slots}, got {len(args)}")
    given = dict(zip(slots, args))
    for key, value in named.items():
        if key not in slots:
            raise MXNetTypeError(f"{where}: unknown input {key!r}; inputs are {slots}."
                                 f"{suggest(key, slots)}")
        if key in given:
            raise MXNetTypeError(f"{where}: got multiple values for argument {key!r}")
        given[key] = value
    missing = [s for s in slots if s not in given]
    if missing:
        raise MXNetValueError(f"{where}: missing inputs {missing} (imperative calls need every "
                              f"input: {slots})")
    return [v if isinstance(v, NDArray) else NDArray(v) for v in (given[s] for s in slots)]


def _check_inferred(node: Node, shapes: list, dtypes: list) -> None:
    names = node.op.output_names(node.params)
    for name, shape, dtype in zip(names, shapes, dtypes):
        if shape is None or 0 in shape or dtype is None:
            raise MXNetValueError(f"{node.describe()}: cannot infer output {name!r} "
                                  f"(shape {shape}, dtype {dtype})")

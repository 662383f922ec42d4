"""``mx.operator``: operators written in Python.

Two ways, both ending in the operator registry, so the result has ``mx.sym``/``mx.nd``
constructors, shape and type inference, JSON save/load and bind-time planning:

* MXNet's API, unchanged: subclass ``CustomOpProp`` (names, shape and type rules, gradient
  dependencies) and ``CustomOp`` (``forward``/``backward`` on NDArrays, ``self.assign``),
  register the prop with ``@mx.operator.register("name")`` and call
  ``mx.sym.Custom(..., op_type="name")`` or ``mx.nd.Custom``. Keyword arguments reach the
  prop as strings, as in MXNet. All custom op types share the one registered ``Custom``
  operator: each node creates its prop once (when the node is made or loaded), and each
  executor creates the node's ``CustomOp`` once, at bind (``create_operator``).
* ``@mx.operator.define``, shorter, for new code: a class with typed parameters
  (annotations), ``infer_shape``, ``forward`` and ``backward`` on numpy arrays, registered as
  an operator of its own name.

Errors raised by user code surface as ``MXNetError`` naming the operator and the node, with
the user's exception chained (``raise ... from``).
"""

from __future__ import annotations

import inspect
import traceback
import typing
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from .base import MXNetError, MXNetKeyError, MXNetTypeError, MXNetValueError, suggest
from .context import Context, current_context
from .inference import ShapeError, shape_is_known
from .ndarray.dtypes import FLAG_OF
from .ndarray.ndarray import NDArray
from .registry import REQUIRED, Kernel, OpDef, Param, Params, get_registry, same_type_rule
from .registry.hookspecs import hookimpl
from .registry.opdef import unknown_parameter
from .symbol.graph import Node

__all__ = ["CustomOp", "CustomOpProp", "register", "define", "to_opdef",
           "get_all_registered_operators"]

_REQS = ("null", "write", "inplace", "add")


# == MXNet's API ==============================================================================
class CustomOp:
    """Base class of a custom operator's computation; override ``forward`` and ``backward``."""

    def __init__(self) -> None:
        pass

    def forward(self, is_train: bool, req: list[str], in_data: list[NDArray],
                out_data: list[NDArray], aux: list[NDArray]) -> None:
        """Write each ``out_data[i]`` with ``self.assign(out_data[i], req[i], value)``."""

    def backward(self, req: list[str], out_grad: list[NDArray], in_data: list[NDArray],
                 out_data: list[NDArray], in_grad: list[NDArray], aux: list[NDArray]) -> None:
        """Write each ``in_grad[i]`` with ``self.assign(in_grad[i], req[i], value)``."""

    def assign(self, dst: NDArray, req: str, src: Any) -> None:
        """Store ``src`` into ``dst`` as ``req`` says: 'write'/'inplace', 'add' or 'null'."""
        if req == "null":
            return
        if req in ("write", "inplace"):
            dst[:] = src
        elif req == "add":
            dst[:] += src
        else:
            raise MXNetValueError(f"assign: unknown req {req!r}; valid: {', '.join(_REQS)}")


class CustomOpProp:
    """Base class of a custom operator's properties: names, shape and type rules, gradient
    dependencies, and ``create_operator``. ``need_top_grad=False`` makes the op a loss: its
    backward needs no head gradient."""

    def __init__(self, need_top_grad: bool = True) -> None:
        self.need_top_grad_ = need_top_grad

    def infer_shape(self, in_shape: list[list[int]]) -> tuple:
        """``(in_shapes, out_shapes[, aux_shapes])``; by default every output is the first
        input's shape."""
        return in_shape, (in_shape[0],) * len(self.list_outputs()), ()

    def infer_type(self, in_type: list[Any]) -> tuple:
        """``(in_types, out_types, aux_types)`` as numpy types; by default the first input's."""
        first = in_type[0]
        return (in_type, [first] * len(self.list_outputs()),
                [first] * len(self.list_auxiliary_states()))

    def list_arguments(self) -> list[str]:
        return ["data"]

    def list_outputs(self) -> list[str]:
        return ["output"]

    def list_auxiliary_states(self) -> list[str]:
        return []

    def declare_backward_dependency(self, out_grad: list[int], in_data: list[int],
                                    out_data: list[int]) -> list[int]:
        """The ids (of the three lists given) that ``backward`` reads."""
        deps = list(out_grad) if self.need_top_grad_ else []
        return deps + list(in_data) + list(out_data)

    def create_operator(self, ctx: Context, in_shapes: list[list[int]],
                        in_dtypes: list[int]) -> CustomOp:
        return CustomOp()


_PROPS: dict[str, type] = {}


def register(reg_name: str) -> Callable[[type], type]:
    """Class decorator: register a ``CustomOpProp`` subclass as custom op type ``reg_name``.
    Registering a name again replaces the earlier class (as re-running a notebook cell does)."""
    if not isinstance(reg_name, str) or not reg_name:
        raise MXNetTypeError(f"register: the op type must be a non-empty string, got {reg_name!r}")

    def do_register(prop_cls: type) -> type:
        if not (isinstance(prop_cls, type) and issubclass(prop_cls, CustomOpProp)):
            raise MXNetTypeError(f"register({reg_name!r}): expected a subclass of "
                                 f"mx.operator.CustomOpProp, got {prop_cls!r}")
        _PROPS[reg_name] = prop_cls
        return prop_cls

    return do_register


def get_all_registered_operators() -> list[str]:
    """Every operator name in the registry (aliases included), sorted."""
    return sorted(get_registry().names())


# == the Custom operator =====================================================================
def _user_error(what: str, err: BaseException) -> str:
    """``what raised KeyError: 'x' (at file.py:12, in infer_shape)``: where user code failed."""
    frames = traceback.extract_tb(err.__traceback__)
    at = f" (at {frames[-1].filename}:{frames[-1].lineno}, in {frames[-1].name})" if frames else ""
    return f"{what} raised {type(err).__name__}: {err}{at}"


def _attr_string(value: Any) -> str:
    """What MXNet hands a prop for a keyword argument: ``str(value)``."""
    return value if isinstance(value, str) else str(value)


class _CustomNode:
    """One Custom node's prop and what mxlite derives from it once: names and gradient needs."""

    def __init__(self, op_type: str, prop: CustomOpProp, where: str) -> None:
        self.op_type, self.prop, self.where = op_type, prop, where
        self.arguments = self._names("list_arguments")
        self.outputs = self._names("list_outputs")
        self.aux = self._names("list_auxiliary_states")
        self.need_top_grad = bool(getattr(prop, "need_top_grad_", True))
        self.grad_uses = self._grad_uses()

    def fail(self, message: str) -> MXNetError:
        return MXNetError(f"{self.where}: custom operator {self.op_type!r}: {message}")

    def _names(self, method: str) -> list[str]:
        try:
            names = list(getattr(self.prop, method)())
        except Exception as err:
            raise self.fail(_user_error(f"{method}()", err)) from err
        if not all(isinstance(n, str) for n in names):
            raise self.fail(f"{method}() must return a list of strings, got {names!r}")
        return names

    def _grad_uses(self) -> tuple[str, ...]:
        """``declare_backward_dependency`` as ``OpDef.grad_uses``: what backward reads."""
        n_in, n_out = len(self.arguments), len(self.outputs)
        ids = list(range(n_out + n_in + n_out))
        try:
            deps = set(self.prop.declare_backward_dependency(
                ids[:n_out], ids[n_out:n_out + n_in], ids[n_out + n_in:]))
        except Exception as err:
            raise self.fail(_user_error("declare_backward_dependency", err)) from err
        inputs = [name for k, name in enumerate(self.arguments) if n_out + k in deps]
        uses = ("inputs",) if len(inputs) == n_in else tuple(inputs)
        return uses + (("outputs",) if deps & set(ids[n_out + n_in:]) else ())

    def bind(self, ctx: Context, shapes: list, dtypes: list, label: str) -> "_BoundCustom":
        """Create the node's ``CustomOp`` with MXNet's arguments: shapes as lists and dtype
        flags, for the arguments then the aux states."""
        in_shapes = [list(s) if s is not None else [] for s in shapes]
        flags = [FLAG_OF.get(np.dtype(t), -1) if t is not None else -1 for t in dtypes]
        try:
            op = self.prop.create_operator(ctx, in_shapes, flags)
        except Exception as err:
            raise self.fail(_user_error("create_operator", err)) from err
        if not isinstance(op, CustomOp):
            raise self.fail(f"create_operator must return a mx.operator.CustomOp, got {op!r}")
        return _BoundCustom(self, op, label, ctx)


class _Imperative:
    """``mx.nd.Custom``: the operator is created for the call, as MXNet does."""

    def __init__(self, node: _CustomNode) -> None:
        self.node = node

    def forward(self, ins: list, outs: list, aux: list, is_train: bool) -> None:
        arrays = [*ins, *aux]
        bound = self.node.bind(current_context(), [a.shape for a in arrays],
                               [a.dtype for a in arrays], "imperative call")
        bound.forward(ins, outs, aux, is_train)

    def backward(self, *args: Any) -> None:  # the imperative path records no graph
        raise self.node.fail("backward needs a bound executor")


class _BoundCustom:
    """A Custom node's ``CustomOp`` for one executor, with NDArray views of its buffers."""

    def __init__(self, node: _CustomNode, op: CustomOp, label: str, ctx: Context) -> None:
        self.node, self.op, self.label, self.ctx = node, op, label, ctx
        self._views: dict[int, tuple[list, list[NDArray]]] = {}

    def _wrap(self, arrays: list, like: list | None = None) -> list[NDArray]:
        """NDArray views of a kernel argument list, made on its first use (the lists a plan
        passes are the same at every call). A None gradient gets a scratch array."""
        cached = self._views.get(id(arrays))
        if cached is None or cached[0] is not arrays:
            views = [NDArray(a if a is not None else np.zeros_like(like[i]), self.ctx)
                     for i, a in enumerate(arrays)]
            cached = self._views[id(arrays)] = (arrays, views)
        return list(cached[1])

    def _run(self, stage: str, call: Callable[[], None], written: list[NDArray],
             given: list[NDArray]) -> None:
        try:
            call()
        except Exception as err:
            raise MXNetError(f"custom operator {self.node.op_type!r} ({self.label}): "
                             f"{_user_error(stage, err)}") from err
        for k, (after, before) in enumerate(zip(written, given)):
            if after is not before:
                raise MXNetError(
                    f"custom operator {self.node.op_type!r} ({self.label}): {stage} "
                    f"replaced element {k} of its output list instead of writing into it; use "
                    "self.assign(dst, req[k], value)")

    def forward(self, ins: list, outs: list, aux: list, is_train: bool) -> None:
        in_data, out_data, aux_data = self._wrap(ins), self._wrap(outs), self._wrap(aux)
        given = list(out_data)
        req = ["write"] * len(outs)
        self._run("forward", lambda: self.op.forward(
            is_train=is_train, req=req, in_data=in_data, out_data=out_data, aux=aux_data),
            out_data, given)

    def backward(self, out_grads: list, ins: list, outs: list, in_grads: list, aux: list
                 ) -> None:
        req = ["write" if g is not None else "null" for g in in_grads]
        in_grad = self._wrap(in_grads, like=ins)
        given = list(in_grad)
        out_grad, in_data = self._wrap(out_grads, like=outs), self._wrap(ins)
        out_data, aux_data = self._wrap(outs), self._wrap(aux)
        self._run("backward", lambda: self.op.backward(
            req=req, out_grad=out_grad, in_data=in_data, out_data=out_data, in_grad=in_grad,
            aux=aux_data), in_grad, given)


def _finish_custom(p: Params, extra: dict[str, Any], where: str) -> None:
    """Parse time: create the node's prop from its keyword arguments (as strings)."""
    prop_cls = _PROPS.get(p.op_type)
    if prop_cls is None:
        raise MXNetKeyError(
            f"{where}: unknown custom operator type {p.op_type!r}.{suggest(p.op_type, _PROPS)} "
            f"Registered types: {sorted(_PROPS) or '(none)'}; register one with "
            "@mx.operator.register(name) on a CustomOpProp subclass")
    kwargs = {key: _attr_string(value) for key, value in extra.items()}
    try:
        prop = prop_cls(**kwargs)
    except Exception as err:
        raise MXNetError(f"{where}: custom operator {p.op_type!r}: "
                         f"{_user_error(f'{prop_cls.__name__}(**{kwargs})', err)}") from err
    node = _CustomNode(p.op_type, prop, where)
    p.__dict__.update(_custom=node, _run=_Imperative(node))


def _prepare_custom(node: Node, in_shapes: list, in_types: list, ctx: Context) -> Node:
    """Bind time: the node's ``CustomOp`` for this executor; a loss variant of the op when
    the prop has ``need_top_grad=False``."""
    custom: _CustomNode = node.params._custom
    bound = custom.bind(ctx, in_shapes, in_types, f"node {node.name!r}")
    params = Params({**node.params.as_dict(), "_run": bound})
    op = node.op if custom.need_top_grad else _loss_variant(node.op)
    return Node(op, node.name, node.attrs, params, node.inputs)


_LOSS_VARIANTS: dict[int, tuple[OpDef, OpDef]] = {}


def _loss_variant(op: OpDef) -> OpDef:
    """``op`` with ``is_loss=True``, made once per registered definition."""
    known = _LOSS_VARIANTS.get(id(op))
    if known is None or known[0] is not op:
        known = _LOSS_VARIANTS[id(op)] = (op, replace(op, is_loss=True))
    return known[1]


def _shape_or_none(value: Any, what: str) -> "tuple[int, ...] | None":
    if value is None:
        return None
    try:
        shape = tuple(int(d) for d in value)
    except (TypeError, ValueError):
        raise ShapeError(f"{what} must be a shape (a list of ints), got {value!r}") from None
    return shape or None


def _rule_result(custom: _CustomNode, method: str, result: Any) -> list[list]:
    """Check ``(in, out[, aux])`` from a prop's rule against the op's names."""
    where = f"custom operator {custom.op_type!r}: {method}"
    if not isinstance(result, (tuple, list)) or len(result) not in (2, 3):
        raise ShapeError(f"{where} must return 2 or 3 lists (inputs, outputs[, aux]), got "
                         f"{result!r}")
    groups = [list(g) for g in result] + ([[]] if len(result) == 2 else [])
    for group, names, kind in zip(groups, (custom.arguments, custom.outputs, custom.aux),
                                  ("input", "output", "aux")):
        if len(group) != len(names):
            raise ShapeError(f"{where} returned {len(group)} {kind} values, expected "
                             f"{len(names)} for {names}")
    return groups


def _call_rule(custom: _CustomNode, method: str, given: list) -> list[list]:
    try:
        result = getattr(custom.prop, method)(given)
    except Exception as err:
        raise ShapeError(f"custom operator {custom.op_type!r}: "
                         f"{_user_error(method, err)}") from err
    return _rule_result(custom, method, result)


def _settled(ins: list, outs: list, aux: list, known: Callable[[Any], bool]) -> bool:
    """Whether a prop's rule has nothing to do: all known, or no input known to start from."""
    return (bool(ins) and not any(v is not None for v in ins)) or \
        all(known(v) for v in [*ins, *outs, *aux])


def _custom_shape(p: Params, ins: list, outs: list, aux: list) -> tuple[list, list, list]:
    if _settled(ins, outs, aux, shape_is_known):
        return ins, outs, aux
    given = [list(s) if s is not None else [] for s in ins]  # MXNet: [] for an unknown shape
    in_s, out_s, aux_s = ([_shape_or_none(s, f"infer_shape's {kind}") for s in group]
                          for group, kind in zip(_call_rule(p._custom, "infer_shape", given),
                                                 ("input", "output", "aux")))
    return in_s, out_s, aux_s


def _custom_type(p: Params, ins: list, outs: list, aux: list) -> tuple[list, list, list]:
    if _settled(ins, outs, aux, lambda t: t is not None):
        return ins, outs, aux
    given = [np.dtype(t).type if t is not None else None for t in ins]  # np.float32...
    try:
        in_t, out_t, aux_t = ([np.dtype(t) if t is not None else None for t in group]
                              for group in _call_rule(p._custom, "infer_type", given))
    except TypeError as err:
        raise ShapeError(f"custom operator {p._custom.op_type!r}: infer_type returned a value "
                         f"that is not a dtype: {err}") from None
    return in_t, out_t, aux_t


CUSTOM = OpDef(
    name="Custom",
    doc="An operator written in Python: a CustomOpProp registered with "
        "@mx.operator.register(op_type). Other keyword arguments go to the prop as strings.",
    params=[Param("op_type", "str", doc="The name the CustomOpProp was registered under.")],
    inputs=lambda p: p._custom.arguments,
    aux=lambda p: p._custom.aux,
    outputs=lambda p: p._custom.outputs,
    infer_shape=_custom_shape,
    infer_type=_custom_type,
    kernels={"numpy": Kernel(lambda p, ins, outs, aux, is_train:
                             p._run.forward(ins, outs, aux, is_train),
                             lambda p, out_grads, ins, outs, in_grads, aux:
                             p._run.backward(out_grads, ins, outs, in_grads, aux))},
    grad_uses=lambda p: p._custom.grad_uses,
    finish_params=_finish_custom,
    prepare=_prepare_custom,
)


@hookimpl
def mxlite_register_ops(registry) -> None:  # type: ignore[no-untyped-def]
    registry.add_op(CUSTOM)


# == the native path: @mx.operator.define =====================================================
_KINDS: dict[Any, str] = {int: "int", float: "float", bool: "bool", str: "str", tuple: "shape",
                          tuple[int, ...]: "shape", tuple[float, ...]: "float_tuple"}
_RESERVED = {"inputs", "outputs", "aliases", "params"}


def _param_from_hint(cls: type, name: str, hint: Any) -> Param:
    """``scale: float = 1.0`` -> ``Param("scale", "float", 1.0)``; ``X | None`` is optional."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    optional = len(args) < len(typing.get_args(hint)) and len(args) == 1
    kind = _KINDS.get(args[0] if optional else hint)
    if kind is None:
        raise MXNetTypeError(f"define({cls.__name__}): parameter {name!r} has type {hint!r}; "
                             "use int, float, bool, str, tuple[int, ...] (a shape), "
                             "tuple[float, ...], or X | None")
    return Param(name, kind, cls.__dict__.get(name, REQUIRED), optional=optional)


def _class_params(cls: type) -> list[Param]:
    params = list(getattr(cls, "params", ()))
    declared = {p.name for p in params}
    for name, hint in typing.get_type_hints(cls).items():
        if not name.startswith("_") and name not in _RESERVED and name not in declared:
            params.append(_param_from_hint(cls, name, hint))
    return params


class _Native:
    """A node's instance of a ``define``d class, and what its errors say it is."""

    def __init__(self, op_name: str, instance: Any, label: str) -> None:
        self.op_name, self.instance, self.label = op_name, instance, label

    def for_executor(self, node_name: str) -> "_Native":
        """A fresh instance per executor (``self`` may keep state from forward to backward)."""
        instance = object.__new__(type(self.instance))
        instance.__dict__.update(self.instance.__dict__)
        return _Native(self.op_name, instance, f"node {node_name!r}")

    def fail(self, message: str) -> MXNetError:
        return MXNetError(f"operator {self.op_name!r} ({self.label}): {message}")

    def call(self, stage: str, *args: Any, **kwargs: Any) -> Any:
        try:
            return getattr(self.instance, stage)(*args, **kwargs)
        except Exception as err:
            raise self.fail(_user_error(stage, err)) from err


def _store(native: _Native, stage: str, result: Any, targets: list, names: Sequence[str]
           ) -> None:
    """Copy what ``forward``/``backward`` returned into the planned buffers, checking shapes."""
    values = (result,) if len(targets) == 1 else tuple(result)
    if len(values) != len(targets):
        raise native.fail(f"{stage} returned {len(values)} values, expected {len(targets)} "
                          f"for {list(names)}")
    for name, target, value in zip(names, targets, values):
        if target is None:
            continue
        if value is None:
            target.fill(0)
            continue
        value = np.asarray(value)
        if value.shape != target.shape:
            raise native.fail(f"{stage} returned shape {value.shape} for {name!r}, expected "
                              f"{target.shape}")
        np.copyto(target, value, casting="unsafe")


def _native_opdef(cls: type, name: str, aliases: Sequence[str]) -> OpDef:
    inputs = tuple(getattr(cls, "inputs", ("data",)))
    outputs = tuple(getattr(cls, "outputs", ("output",)))
    takes_is_train = "is_train" in inspect.signature(cls.forward).parameters
    holder: list[OpDef] = []

    def finish(p: Params, extra: dict[str, Any], where: str) -> None:
        if extra:
            raise unknown_parameter(holder[0], next(iter(extra)), where)
        instance = object.__new__(cls)
        instance.__dict__.update(p.as_dict())
        p._native = _Native(name, instance, "imperative call")

    def prepare(node: Node, in_shapes: list, in_types: list, ctx: Context) -> Node:
        params = Params({**node.params.as_dict(), "_native": node.params._native.for_executor(
            node.name)})
        return Node(node.op, node.name, node.attrs, params, node.inputs)

    def forward(p: Params, ins: list, outs: list, aux: list, is_train: bool) -> None:
        extra = {"is_train": is_train} if takes_is_train else {}
        _store(p._native, "forward", p._native.call("forward", *ins, **extra), outs, outputs)

    def backward(p: Params, out_grads: list, ins: list, outs: list, in_grads: list, aux: list
                 ) -> None:
        result = p._native.call("backward", *out_grads, *ins, *outs)
        _store(p._native, "backward", result, in_grads, inputs)

    has_backward = callable(getattr(cls, "backward", None))
    opdef = OpDef(
        name=name, aliases=tuple(aliases), doc=inspect.getdoc(cls) or "",
        params=_class_params(cls), inputs=inputs, outputs=outputs,
        infer_shape=_native_shape_rule(cls, outputs),
        infer_type=_native_type_rule(cls, outputs),
        kernels={"numpy": Kernel(forward, backward if has_backward else None)},
        no_gradient=None if has_backward else f"{cls.__name__} defines no backward",
        finish_params=finish, prepare=prepare)
    holder.append(opdef)
    return opdef


def _as_shapes(native: _Native, result: Any, outputs: Sequence[str]) -> list:
    single = len(outputs) == 1 and not (isinstance(result, (list, tuple)) and result
                                        and isinstance(result[0], (list, tuple)))
    shapes = [result] if single else list(result)
    if len(shapes) != len(outputs):
        raise ShapeError(f"operator {native.op_name!r}: infer_shape returned {len(shapes)} "
                         f"shapes, expected {len(outputs)} for {list(outputs)}")
    return [_shape_or_none(s, "infer_shape's result") for s in shapes]


def _native_shape_rule(cls: type, outputs: Sequence[str]) -> Callable:
    if not callable(getattr(cls, "infer_shape", None)):
        return _elementwise_shape

    def rule(p: Params, ins: list, outs: list, aux: list) -> tuple[list, list, list]:
        if not all(shape_is_known(s) for s in ins):
            return ins, outs, aux
        try:
            result = p._native.instance.infer_shape(*ins)
        except Exception as err:
            raise ShapeError(f"operator {p._native.op_name!r}: "
                             f"{_user_error('infer_shape', err)}") from err
        return ins, _as_shapes(p._native, result, outputs), aux

    return rule


def _elementwise_shape(p: Params, ins: list, outs: list, aux: list) -> tuple[list, list, list]:
    """Without ``infer_shape``: every input and output has one shape."""
    known = [s for s in [*ins, *outs] if s is not None]
    if not known:
        return ins, outs, aux
    if any(s != known[0] for s in known):
        raise ShapeError(f"operator {p._native.op_name!r} has no infer_shape, so its inputs "
                         f"and outputs must share one shape; got {known}")
    return [known[0]] * len(ins), [known[0]] * len(outs), aux


def _native_type_rule(cls: type, outputs: Sequence[str]) -> Callable:
    if not callable(getattr(cls, "infer_type", None)):
        return same_type_rule

    def rule(p: Params, ins: list, outs: list, aux: list) -> tuple[list, list, list]:
        if any(t is None for t in ins):
            return ins, outs, aux
        try:
            result = p._native.instance.infer_type(*ins)
            types = [result] if len(outputs) == 1 else list(result)
            return ins, [np.dtype(t) for t in types], aux
        except Exception as err:
            raise ShapeError(f"operator {p._native.op_name!r}: "
                             f"{_user_error('infer_type', err)}") from err

    return rule


def define(cls: type | None = None, *, name: str | None = None, aliases: Sequence[str] = (),
           override: bool = False) -> Any:
    """Class decorator: register the class as an operator (named after the class by default).

    ::

        @mx.operator.define
        class squareplus:
            '''(x + sqrt(x * x + b)) / 2'''
            b: float = 4.0                      # typed parameters, with defaults

            def infer_shape(self, data):        # output shape(s) from the input shapes
                return data

            def forward(self, data):            # numpy arrays in, array(s) out
                return (data + np.sqrt(data * data + self.b)) / 2

            def backward(self, out_grad, data, output):  # out_grads, inputs, outputs
                return out_grad * (1 + data / np.sqrt(data * data + self.b)) / 2

    ``inputs = ("data", ...)`` and ``outputs = (...)`` name the inputs and outputs
    (default one each). Parameters are annotated class attributes (int, float, bool, str,
    ``tuple[int, ...]``, ``tuple[float, ...]``, ``X | None``), or ``params = [Param(...)]``.
    Each node gets an instance holding its parameters as attributes (``__init__`` is not
    called), and each executor its own copy of it. Without ``infer_shape`` inputs and
    outputs share one shape; without ``infer_type`` they share one dtype; ``forward`` may
    take ``is_train``. ``backward`` returns one gradient per input (None for zero); without
    it the op has no gradient.
    """
    def build(target: type) -> type:
        get_registry().add_op(to_opdef(target, name, aliases), override=override)
        return target

    return build if cls is None else build(cls)


def to_opdef(cls: type, name: str | None = None, aliases: Sequence[str] = ()) -> OpDef:
    """The ``OpDef`` that ``define`` registers, for a plugin to add in its
    ``mxlite_register_ops`` hook: ``registry.add_op(to_opdef(MyOp))``."""
    if not isinstance(cls, type) or not callable(getattr(cls, "forward", None)):
        raise MXNetTypeError(f"define: expected a class with a forward method, got {cls!r}")
    return _native_opdef(cls, name or cls.__name__, aliases)

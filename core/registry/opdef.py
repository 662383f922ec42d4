"""``OpDef``: everything about one operator, in one registration unit.

An operator author fills one ``OpDef``: its name and aliases, typed parameters, input, aux and
output names (fixed or computed from the parameters), shape and type rules, in-place hints,
and kernels per backend. A ``Kernel`` holds the forward function and its gradient (backward).

Kernel calling convention (all arrays are numpy arrays allocated by the executor at bind)::

    forward(p, ins, outs, aux, is_train)           # write every output in place
    backward(p, out_grads, ins, outs, in_grads, aux)  # overwrite in_grads[i] unless it is None

``p`` is the node's parsed ``Params``. ``out_grads[i]`` is None for hidden outputs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np

from ..base import MXNetTypeError, MXNetValueError, suggest
from .params import Param, Params

__all__ = ["Kernel", "OpDef", "Shape", "ShapeRule", "TypeRule", "unknown_parameter"]

Shape = "tuple[int, ...] | None"
ShapeRule = Callable[[Params, list, list, list], "tuple[list, list, list]"]
TypeRule = Callable[[Params, list, list, list], "tuple[list, list, list]"]
NameSpec = "Sequence[str] | Callable[[Params], Sequence[str]]"

#: attribute keys MXNet keeps as hidden ``__key__`` attributes when given without underscores
HIDDEN_KEYS = ("ctx_group", "lr_mult", "wd_mult", "force_mirroring", "mirror_stage", "profiler_scope")


@dataclass(frozen=True)
class Kernel:
    """One backend's implementation of an operator: forward and its gradient.

    ``bind_forward(p, ins, outs, aux)`` and ``bind_backward(p, out_grads, ins, outs, in_grads,
    aux)``, when given, are called once at bind with the node's planned arrays and return the
    call the executor's plan then makes (``step(is_train)``, ``step()``), with pointers, views
    and geometry worked out once; they must compute what ``forward``/``backward`` compute on
    those arrays. Without them the plan calls ``forward``/``backward`` on the arrays.
    """

    forward: Callable[..., None]
    backward: Callable[..., None] | None = None
    #: numpy dtypes this kernel handles; None means every dtype
    dtypes: frozenset | None = None
    bind_forward: Callable[..., Callable[[bool], None]] | None = None
    bind_backward: Callable[..., Callable[[], None]] | None = None

    def supports(self, dtype: Any) -> bool:
        return self.dtypes is None or np.dtype(dtype) in self.dtypes

    def forward_step(self, p: Params, ins: list, outs: list, aux: list) -> Callable[[bool], None]:
        """The forward call of one bound node (see the class docstring)."""
        if self.bind_forward is not None:
            return self.bind_forward(p, ins, outs, aux)
        return partial(self.forward, p, ins, outs, aux)

    def backward_step(self, p: Params, out_grads: list, ins: list, outs: list, in_grads: list,
                      aux: list) -> Callable[[], None]:
        """The backward call of one bound node."""
        if self.bind_backward is not None:
            return self.bind_backward(p, out_grads, ins, outs, in_grads, aux)
        assert self.backward is not None
        return partial(self.backward, p, out_grads, ins, outs, in_grads, aux)


def _names(spec: Any, params: Params) -> list[str]:
    return list(spec(params) if callable(spec) else spec)


def same_type_rule(p: Params, in_types: list, out_types: list, aux_types: list):
    """Default type rule: every input, output and aux state shares one dtype."""
    known = next((t for t in [*in_types, *out_types, *aux_types] if t is not None), None)
    if known is None:
        return in_types, out_types, aux_types
    fill = lambda ts: [known] * len(ts)
    return fill(in_types), fill(out_types), fill(aux_types)


@dataclass
class OpDef:
    """The definition of one operator; see the module docstring for the kernel protocol."""

    name: str
    infer_shape: ShapeRule
    params: Sequence[Param] = ()
    inputs: Any = ("data",)
    aux: Any = ()
    outputs: Any = ("output",)
    #: how many leading outputs users see (the rest are hidden state, e.g. Dropout's mask)
    visible_outputs: "int | Callable[[Params], int] | None" = None
    infer_type: TypeRule = same_type_rule
    kernels: dict[str, Kernel] = field(default_factory=dict)
    aliases: Sequence[str] = ()
    #: (input index, output index) pairs whose buffers may be shared: the forward kernel
    #: must then work when the output is the input (a function of the params, or a list)
    inplace: Any = ()
    #: (input index, output index) pairs where the output holds exactly the input's bytes
    #: (Flatten, Reshape): the planner makes the output a view of the input's storage, and
    #: the forward kernel's copy becomes a no-op
    views: Any = ()
    #: (output index, input index) pairs: backward may write the input's gradient over the
    #: output's gradient (the kernel must then work when they are one buffer)
    grad_inplace: Any = ()
    #: what backward reads from forward: "inputs", "outputs", or single input names
    #: ("label"); hidden outputs are always kept. The planner may reuse everything else
    #: once forward is done with it. A function of the params, or a tuple.
    grad_uses: Any = ("inputs", "outputs")
    #: a loss op makes its own head gradient; backward() needs no out_grads for it
    is_loss: bool = False
    #: why the op has no gradient (argmax, comparisons...), or None when it has one
    no_gradient: str | None = None
    #: attributes given to auto-created input Variables, by input name (prelu's gamma gets
    #: ``{"__init__": '["Constant", {"value": 0.25}]'}``, as in MXNet)
    input_attrs: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    #: name of the parameter that counts variadic inputs (Concat's ``num_args``)
    key_var_num_args: str | None = None
    doc: str = ""
    #: ``finish_params(p, extra, where)``, run once per node after its parameters are
    #: parsed: it may store derived values on ``p`` (a per-node object, computed names).
    #: When it is set, keyword parameters that ``params`` does not declare are no error but
    #: are handed to it in ``extra`` (strings, or Python values as given): ``Custom`` passes
    #: them to the user's ``CustomOpProp``. Raise ``unknown_parameter(...)`` to refuse one.
    finish_params: "Callable[[Params, dict[str, Any], str], None] | None" = None
    #: ``prepare(node, in_shapes, in_types, ctx) -> Node | None``, run at bind for each node
    #: of this op, once per executor, after the graph passes, with the node's inferred input
    #: shapes and dtypes (arguments then aux states). It returns a copy of the node (same
    #: name and inputs) whose params carry per-executor state, or None to keep the node.
    #: ``Custom`` creates the user's ``CustomOp`` here.
    prepare: "Callable[..., Any] | None" = None

    def __post_init__(self) -> None:
        self._param_index = {p.name: p for p in self.params}

    # -- parameters -----------------------------------------------------------------
    @property
    def param_names(self) -> list[str]:
        return [p.name for p in self.params]

    def parse_params(self, attrs: Mapping[str, Any], node: str = "") -> Params:
        """Parse a node's attributes (strings or Python values) into typed ``Params``."""
        where = f"{node} ({self.name})" if node else self.name
        values: dict[str, Any] = {}
        extra = {key: value for key, value in attrs.items()
                 if key not in self._param_index and not _is_user_attr(key)}
        if extra and self.finish_params is None:
            raise unknown_parameter(self, next(iter(extra)), where)
        for param in self.params:
            if param.name in attrs:
                values[param.name] = param.parse(attrs[param.name], where)
            elif param.required:
                raise MXNetValueError(
                    f"{where}: required parameter {param.name!r} ({param.type_str()}) is missing")
            else:
                values[param.name] = param.default
        params = Params(values)
        if self.finish_params is not None:
            self.finish_params(params, extra, where)
        return params

    # -- names ----------------------------------------------------------------------
    def input_names(self, p: Params) -> list[str]:
        return _names(self.inputs, p)

    def aux_names(self, p: Params) -> list[str]:
        return _names(self.aux, p)

    def output_names(self, p: Params) -> list[str]:
        return _names(self.outputs, p)

    def inplace_pairs(self, p: Params) -> list[tuple[int, int]]:
        return list(self.inplace(p) if callable(self.inplace) else self.inplace)

    def grad_inplace_pairs(self, p: Params) -> list[tuple[int, int]]:
        return list(self.grad_inplace(p) if callable(self.grad_inplace) else self.grad_inplace)

    def view_pairs(self, p: Params) -> list[tuple[int, int]]:
        return list(self.views(p) if callable(self.views) else self.views)

    def backward_reads(self, p: Params) -> tuple[str, ...]:
        return tuple(self.grad_uses(p) if callable(self.grad_uses) else self.grad_uses)

    def num_visible(self, p: Params) -> int:
        if self.visible_outputs is None:
            return len(self.output_names(p))
        return self.visible_outputs(p) if callable(self.visible_outputs) else self.visible_outputs

    @property
    def has_gradient(self) -> bool:
        return self.no_gradient is None

    def describe(self) -> str:
        """A docstring built from the definition (used by generated constructors)."""
        lines = [self.doc.strip() or self.name, ""]
        if self.aliases:
            lines.append("Aliases: " + ", ".join(self.aliases))
        lines.append("Parameters")
        lines.append("----------")
        for p in self.params:
            lines.append(f"{p.name} : {p.type_str()}")
            if p.doc:
                lines.append(f"    {p.doc}")
        lines.append("name : str, optional")
        lines.append("    Node name; generated from the operator name when omitted.")
        lines.append("attr : dict of str to str, optional")
        if self.no_gradient:
            lines += ["", f"No gradient: {self.no_gradient}"]
        return "\n".join(lines)


def unknown_parameter(op: OpDef, key: str, where: str) -> MXNetTypeError:
    """The error for a keyword parameter that ``op`` does not declare."""
    return MXNetTypeError(
        f"{where}: unknown parameter {key!r}. Valid parameters: "
        f"{', '.join(op.param_names) or '(none)'}.{suggest(key, op.param_names)}")


def _is_user_attr(key: str) -> bool:
    return (key.startswith("__") and key.endswith("__")) or key in HIDDEN_KEYS

"""The operator reference page (``docs/operators.md``), generated from the registry."""

from __future__ import annotations

from typing import Any

from .opdef import OpDef
from .params import REQUIRED, Params
from .registry import Registry

__all__ = ["render_operators"]


def _names(op: OpDef, which: str) -> str:
    spec: Any = getattr(op, which)
    if not callable(spec):
        return ", ".join(f"`{n}`" for n in spec) or "-"
    defaults = Params({p.name: (None if p.default is REQUIRED else p.default) for p in op.params})
    try:
        return ", ".join(f"`{n}`" for n in spec(defaults)) + " (with default parameters)"
    except Exception:  # depends on a required parameter (e.g. num_args)
        return "depends on the parameters"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _render_op(op: OpDef, owner: str) -> list[str]:
    lines = [f"## {op.name}", ""]
    if op.doc:
        lines += [_cell(op.doc), ""]
    facts = [("aliases", ", ".join(f"`{a}`" for a in op.aliases) or "-"),
             ("inputs", _names(op, "inputs")), ("aux states", _names(op, "aux")),
             ("outputs", _names(op, "outputs")),
             ("backends", ", ".join(sorted(op.kernels))),
             ("gradient", "loss (makes its own head gradient)" if op.is_loss else
              "none: " + op.no_gradient if op.no_gradient else "yes"),
             ("plugin", owner)]
    lines += [f"- {key}: {value}" for key, value in facts]
    if op.params:
        lines += ["", "| parameter | type | default | description |", "| --- | --- | --- | --- |"]
        for p in op.params:
            default = "required" if p.required else f"`{p.default!r}`"
            kind = p.kind + (f" in {{{', '.join(p.choices)}}}" if p.choices else "")
            lines.append(f"| `{p.name}` | {kind} | {default} | {_cell(p.doc)} |")
    return lines + [""]


def render_operators(registry: Registry) -> str:
    """Markdown reference of every registered operator, sorted by name."""
    ops = sorted(registry.ops.values(), key=lambda op: op.name.lower())
    lines = ["# Operator reference", "",
             "Generated from the registry by `python -m mxlite docs > docs/operators.md`; "
             "a test checks that it is current.", "",
             f"{len(ops)} operators.", ""]
    for op in ops:
        lines += _render_op(op, registry.owner.get(op.name, "?"))
    return "\n".join(lines)

"""Typed operator parameters: parsing from Python values or MXNet's attribute strings."""

from __future__ import annotations

import ast
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..base import MXNetValueError, suggest

__all__ = ["Param", "Params", "REQUIRED"]


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()

_KINDS = ("int", "float", "bool", "str", "shape", "float_tuple", "any")


@dataclass(frozen=True)
class Param:
    """One operator parameter.

    ``kind`` is one of int, float, bool, str, shape (tuple of ints), float_tuple, any.
    ``choices`` restricts a str parameter; ``optional`` lets it be None (MXNet's "None").
    ``check`` receives the parsed value and returns an error text or None.
    """

    name: str
    kind: str
    default: Any = REQUIRED
    doc: str = ""
    choices: Sequence[str] | None = None
    optional: bool = False
    check: Callable[[Any], "str | None"] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise ValueError(f"Param {self.name!r}: kind must be one of {_KINDS}, got {self.kind!r}")

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    def type_str(self) -> str:
        text = {"shape": "Shape(tuple)", "float_tuple": "tuple of float"}.get(self.kind, self.kind)
        if self.choices:
            text = "{" + ", ".join(repr(c) for c in self.choices) + "}"
        if self.optional:
            text += " or None"
        return text + (", required" if self.required else f", default={self.default!r}")

    def parse(self, value: Any, where: str) -> Any:
        """Turn a Python value or an attribute string into this parameter's type."""
        if value is None or (isinstance(value, str) and value.strip() == "None"):
            if self.optional or self.default is None:
                return None
            raise MXNetValueError(f"{where}: parameter {self.name!r} cannot be None ({self.type_str()})")
        try:
            parsed = _PARSERS[self.kind](value)
        except (ValueError, TypeError, SyntaxError) as err:
            raise MXNetValueError(
                f"{where}: parameter {self.name!r} expects {self.type_str()}, got {value!r} ({err})"
            ) from None
        if self.choices is not None and parsed not in self.choices:
            raise MXNetValueError(
                f"{where}: invalid value {parsed!r} for parameter {self.name!r}; valid choices: "
                f"{', '.join(repr(c) for c in self.choices)}.{suggest(str(parsed), self.choices)}")
        if self.check is not None:
            problem = self.check(parsed)
            if problem:
                raise MXNetValueError(f"{where}: parameter {self.name!r}={parsed!r}: {problem}")
        return parsed


def _literal(value: Any) -> Any:
    return ast.literal_eval(value.strip()) if isinstance(value, str) else value


def _parse_int(value: Any) -> int:
    value = _literal(value)
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError("not an integer")
        return int(value)
    return int(value.__index__())


def _parse_float(value: Any) -> float:
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("inf", "+inf", "-inf", "nan"):
            return float(text)
    return float(_literal(value))


def _parse_bool(value: Any) -> bool:
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("true", "1"):
            return True
        if text in ("false", "0"):
            return False
        raise ValueError("not a boolean")
    if isinstance(value, (bool, int)) or hasattr(value, "__index__"):
        return bool(value)
    raise ValueError("not a boolean")


def _parse_str(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"not a string: {type(value).__name__}")
    return value


def _parse_shape(value: Any) -> tuple[int, ...]:
    value = _literal(value)
    if isinstance(value, (int,)) and not isinstance(value, bool):
        return (int(value),)
    if hasattr(value, "tolist"):
        value = value.tolist()
    return tuple(_parse_int(v) for v in value)


def _parse_float_tuple(value: Any) -> tuple[float, ...]:
    value = _literal(value)
    if isinstance(value, (int, float)):
        return (float(value),)
    return tuple(float(v) for v in value)


_PARSERS: dict[str, Callable[[Any], Any]] = {
    "int": _parse_int,
    "float": _parse_float,
    "bool": _parse_bool,
    "str": _parse_str,
    "shape": _parse_shape,
    "float_tuple": _parse_float_tuple,
    "any": lambda v: v,
}


def to_attr_string(value: Any) -> str:
    """How MXNet writes a parameter value into a graph's string attributes."""
    if isinstance(value, str):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return repr(value)
    if isinstance(value, list):
        value = tuple(value)
    return str(value)


class Params:
    """Parsed parameters of one node, read by kernels as attributes (``p.num_hidden``)."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__.update(values)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self.__dict__.items())
        return f"Params({inner})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Params) and self.__dict__ == other.__dict__

"""``mx.sym``: Symbol, Variable, Group, JSON load/save, and every registered operator."""

from __future__ import annotations

from typing import Any

from .json_io import load, load_json
from .symbol import Group, Symbol, Variable, var

__all__ = ["Group", "Symbol", "Variable", "load", "load_json", "var"]


def __getattr__(name: str) -> Any:
    if name.startswith("__"):
        raise AttributeError(name)
    from .ops import constructor
    return constructor(name)


def __dir__() -> list[str]:
    from ..registry import get_registry
    return sorted(set(globals()) | set(get_registry().names()))

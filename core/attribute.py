"""``AttrScope``: attributes attached to every symbol created inside a ``with`` block."""

from __future__ import annotations

import threading

from .base import MXNetValueError

__all__ = ["AttrScope", "current"]

_state = threading.local()


class AttrScope:
    def __init__(self, **kwargs: str) -> None:
        for key, value in kwargs.items():
            if not isinstance(value, str):
                raise MXNetValueError(f"AttrScope: attribute {key!r} must be a string, got {value!r}")
        self._attr = kwargs
        self._old: "AttrScope | None" = None

    def get(self, attr: "dict[str, str] | None") -> dict[str, str]:
        merged = dict(self._attr)
        if attr:
            merged.update(attr)
        return merged

    def __enter__(self) -> "AttrScope":
        self._old = current()
        merged = AttrScope()
        merged._attr = {**self._old._attr, **self._attr}
        _state.current = merged
        return self

    def __exit__(self, *exc: object) -> None:
        _state.current = self._old


def current() -> AttrScope:
    scope = getattr(_state, "current", None)
    if scope is None:
        scope = _state.current = AttrScope()
    return scope

"""Automatic naming of operator nodes: ``fullyconnected0``, ``_plus1``..."""

from __future__ import annotations

import threading

__all__ = ["NameManager", "Prefix", "current"]

_state = threading.local()


class NameManager:
    """Hands out ``<hint><n>`` names, one counter per hint. A ``with`` block installs it."""

    def __init__(self) -> None:
        self._counter: dict[str, int] = {}
        self._old: "NameManager | None" = None

    def get(self, name: "str | None", hint: str) -> str:
        if name:
            return name
        n = self._counter.get(hint, 0)
        self._counter[hint] = n + 1
        return f"{hint}{n}"

    def __enter__(self) -> "NameManager":
        self._old = current()
        _state.current = self
        return self

    def __exit__(self, *exc: object) -> None:
        _state.current = self._old


class Prefix(NameManager):
    """Prefixes every operator name (given or generated) with ``prefix``; Variables are untouched."""

    def __init__(self, prefix: str) -> None:
        super().__init__()
        self._prefix = prefix

    def get(self, name: "str | None", hint: str) -> str:
        return self._prefix + super().get(name, hint)


def current() -> NameManager:
    manager = getattr(_state, "current", None)
    if manager is None:
        manager = _state.current = NameManager()
    return manager

"""Run-time configuration: defaults, environment variables, and ``mx.config.set``.

Read once at bind time, never on the per-op hot path. ``MXLITE_BACKENDS=c,numpy`` sets the
backend order; ``numpy`` is always tried last.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

from .base import MXNetKeyError, suggest

__all__ = ["get", "set", "override", "backend_order", "DEFAULTS"]

DEFAULTS: dict[str, Any] = {
    "backends.order": ["numpy"],
    "backends.strict": False,
    "planning.enabled": True,
}
_ENV = {"backends.order": "MXLITE_BACKENDS", "planning.enabled": "MXLITE_PLANNING"}
_overrides: dict[str, Any] = {}


def _from_env(key: str) -> Any:
    name = _ENV.get(key)
    text = os.environ.get(name, "") if name else ""
    if not text:
        return None
    if key == "backends.order":
        return [part.strip() for part in text.split(",") if part.strip()]
    if isinstance(DEFAULTS[key], bool):
        return text.strip().lower() not in ("0", "false", "no", "off")
    return text


def get(key: str) -> Any:
    """The value in force: ``mx.config.set`` beats the environment beats the defaults."""
    if key not in DEFAULTS:
        raise MXNetKeyError(f"unknown configuration key {key!r}.{suggest(key, DEFAULTS)} "
                            f"Valid keys: {', '.join(sorted(DEFAULTS))}")
    if key in _overrides:
        return _overrides[key]
    env = _from_env(key)
    return DEFAULTS[key] if env is None else env


def set(key: str, value: Any) -> None:
    get(key)
    _overrides[key] = value


@contextlib.contextmanager
def override(**values: Any) -> Iterator[None]:
    """``with mx.config.override(backends__order=['c']):`` (``__`` stands for ``.``)."""
    old = dict(_overrides)
    try:
        for key, value in values.items():
            set(key.replace("__", "."), value)
        yield
    finally:
        _overrides.clear()
        _overrides.update(old)


def backend_order() -> list[str]:
    order = [b for b in get("backends.order") if b != "numpy"]
    return order + ["numpy"]

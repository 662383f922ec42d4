"""Run-time configuration: defaults, environment variables, and ``mx.config.set``.

Read once at bind time, never on the per-op hot path. ``MXLITE_BACKENDS=c,numpy`` sets the
backend order; ``numpy`` is always tried last. ``MXLITE_PLUGINS=no:name,...`` blocks plugins
(or, with bare names, allow-lists them); it is read when the plugins load. Plugins may add
keys of their own with the ``mxlite_config_defaults`` hook.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

from .base import MXNetKeyError, suggest

__all__ = ["get", "set", "override", "backend_order", "source", "DEFAULTS"]

DEFAULTS: dict[str, Any] = {
    "backends.order": ["numpy"],
    "backends.strict": False,
    "planning.enabled": True,
    #: plugin selection, read when plugins load: ``no:name`` blocks, a bare name allow-lists
    "plugins": [],
    #: threads per loop of the "c" backend's kernels; 0 follows OMP_NUM_THREADS
    "c_kernels.num_threads": 0,
}
_ENV = {"backends.order": "MXLITE_BACKENDS", "planning.enabled": "MXLITE_PLANNING",
        "plugins": "MXLITE_PLUGINS"}
_LISTS = ("backends.order", "plugins")
_overrides: dict[str, Any] = {}
#: keys added by plugins (``mxlite_config_defaults``) -> the plugin's name
_plugin_keys: dict[str, str] = {}


def _from_env(key: str) -> Any:
    name = _ENV.get(key)
    text = os.environ.get(name, "") if name else ""
    if not text:
        return None
    if key in _LISTS:
        return [part.strip() for part in text.split(",") if part.strip()]
    if isinstance(DEFAULTS[key], bool):
        return text.strip().lower() not in ("0", "false", "no", "off")
    return text


def get(key: str) -> Any:
    """The value in force: ``mx.config.set`` beats the environment beats the defaults."""
    if key not in DEFAULTS:
        _load_plugin_defaults()
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


def source(key: str) -> str:
    """Where the value in force comes from: ``mx.config.set``, the environment or a default."""
    get(key)
    if key in _overrides:
        return "mx.config.set"
    if _from_env(key) is not None:
        return f"environment {_ENV[key]}"
    plugin = _plugin_keys.get(key)
    return f"default of plugin {plugin!r}" if plugin else "default"


def add_plugin_defaults(values: dict[str, Any], plugin: str) -> None:
    """Add keys contributed by a plugin; the registry has checked that they are new."""
    DEFAULTS.update(values)
    _plugin_keys.update(dict.fromkeys(values, plugin))


def remove_plugin_defaults() -> None:
    """Forget every plugin's keys (before the plugins are loaded again)."""
    for key in _plugin_keys:
        DEFAULTS.pop(key, None)
    _plugin_keys.clear()


def _load_plugin_defaults() -> None:
    """An unknown key may belong to a plugin that has not been loaded yet."""
    from .registry import get_registry
    get_registry()

"""Plugin discovery: entry points of group ``mxlite``, registered through pluggy once."""

from __future__ import annotations

import sys
import threading
from importlib import metadata
from typing import Any

import pluggy

from . import hookspecs
from .registry import PluginInfo, Registry, warn_skipped

__all__ = ["ENTRY_POINT_GROUP", "get_registry", "register_plugin", "plugin_manager"]

ENTRY_POINT_GROUP = "mxlite"
_OWN_DISTRIBUTION = "mxlite"

_lock = threading.RLock()
_state: dict[str, Any] = {}


def get_registry() -> Registry:
    """The process-wide registry, filled by every installed plugin on first use."""
    registry = _state.get("registry")
    if registry is None:
        with _lock:
            if "registry" not in _state:
                _load()
            registry = _state["registry"]
    return registry


def plugin_manager() -> pluggy.PluginManager:
    get_registry()
    return _state["pm"]


def register_plugin(plugin: object, name: str | None = None) -> PluginInfo:
    """Register a plugin module or object at run time (its hooks run at once)."""
    get_registry()
    info = PluginInfo(name=name or getattr(plugin, "__name__", repr(plugin)))
    _register(plugin, info, raise_errors=True)
    return info


def _load() -> None:
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    registry = Registry()
    _state.update(pm=pm, registry=registry)
    pm.hook.mxlite_register_ops.call_historic(kwargs={"registry": registry})
    pm.hook.mxlite_register_kernels.call_historic(kwargs={"registry": registry})
    for ep in _entry_points():
        info = PluginInfo(name=ep.name, entry_point=f"{ep.name} = {ep.value}")
        if ep.dist is not None:
            info.distribution, info.version = ep.dist.name, ep.dist.version
        try:
            plugin = ep.load()
        except Exception as err:  # a broken plugin must not break mxlite
            registry.plugins[info.name] = info
            warn_skipped(info, f"import failed: {type(err).__name__}: {err}")
            continue
        _register(plugin, info, raise_errors=False)


def _entry_points() -> list[metadata.EntryPoint]:
    """Entry points of our group, mxlite's own first so that overrides are detected."""
    found = metadata.entry_points(group=ENTRY_POINT_GROUP)
    unique = {(ep.name, ep.value): ep for ep in found}
    own = lambda ep: 0 if ep.dist is not None and ep.dist.name == _OWN_DISTRIBUTION else 1
    return sorted(unique.values(), key=lambda ep: (own(ep), ep.name))


def _register(plugin: object, info: PluginInfo, raise_errors: bool) -> None:
    pm: pluggy.PluginManager = _state["pm"]
    registry: Registry = _state["registry"]
    registry.begin(info)
    try:
        pm.register(plugin, name=info.name)
        pm.check_pending()
        registry.commit()
    except Exception as err:
        registry.rollback()
        if pm.is_registered(plugin):
            pm.unregister(plugin)
        if raise_errors:
            raise
        registry.plugins[info.name] = info
        warn_skipped(info, f"{type(err).__name__}: {err}")
    finally:
        registry._current = None


def _reset_for_tests() -> None:
    """Forget the loaded registry (tests use this after faking distributions)."""
    with _lock:
        _state.clear()
    for name in ("mxlite.symbol.ops", "mxlite.ndarray.ops"):
        module = sys.modules.get(name)
        if module is not None and hasattr(module, "_cache"):
            module._cache.clear()

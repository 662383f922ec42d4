"""Plugin discovery: entry points of group ``mxlite``, registered through pluggy once.

Load order: mxlite's own ``Custom`` operator (``mxlite.operator``), then the entry points,
mxlite's own distribution first (``builtin_ops``) and the others by name. The ``plugins``
setting (``MXLITE_PLUGINS=no:name,...``) blocks plugins, or allow-lists them with bare names;
mxlite's own plugins are loaded unless blocked by name.
"""

from __future__ import annotations

import re
import sys
import threading
import warnings
from collections.abc import Iterable
from importlib import metadata
from typing import Any

import pluggy

from .. import config
from . import hookspecs
from .registry import ConfigDefaults, PluginInfo, PluginWarning, Registry, warn_skipped

__all__ = ["ENTRY_POINT_GROUP", "get_registry", "register_plugin", "plugin_manager", "reload"]

ENTRY_POINT_GROUP = "mxlite"
_OWN_DISTRIBUTION = "mxlite"
_CORE_PLUGIN = "mxlite.operator"

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


def reload() -> Registry:
    """Forget every plugin and load the installed ones again (after installing or removing a
    plugin, or changing the ``plugins`` setting). Run-time registrations are lost."""
    _reset_for_tests()
    return get_registry()


def _load() -> None:
    config.remove_plugin_defaults()
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    registry = Registry()
    _state.update(pm=pm, registry=registry)
    pm.hook.mxlite_config_defaults.call_historic(kwargs={"defaults": ConfigDefaults(registry)})
    for hook in (pm.hook.mxlite_register_ops, pm.hook.mxlite_register_kernels,
                 pm.hook.mxlite_register_graph_passes):
        hook.call_historic(kwargs={"registry": registry})
    _register_core(registry)
    entry_points = _entry_points()
    selection = _Selection(config.get("plugins"), config.source("plugins"))
    registry.selection = selection.description
    selection.warn_unknown(entry_points)
    for ep in entry_points:
        info = PluginInfo(name=ep.name, entry_point=f"{ep.name} = {ep.value}")
        if ep.dist is not None:
            info.distribution, info.version = ep.dist.name, ep.dist.version
        info.skipped = selection.refusal(info)
        if info.skipped:
            registry.plugins[info.name] = info
            continue
        try:
            plugin = ep.load()
        except Exception as err:  # a broken plugin must not break mxlite
            registry.plugins[info.name] = info
            warn_skipped(info, f"import failed: {type(err).__name__}: {err}")
            continue
        _register(plugin, info, raise_errors=False)


def _register_core(registry: Registry) -> None:
    """mxlite's ``Custom`` operator, registered through the same hooks as any plugin."""
    from .. import __version__, operator
    info = PluginInfo(name=_CORE_PLUGIN, distribution=_OWN_DISTRIBUTION, version=__version__,
                      entry_point=f"(part of mxlite: {operator.__name__})")
    _register(operator, info, raise_errors=True)


def _entry_points() -> list[metadata.EntryPoint]:
    """Entry points of our group, mxlite's own first so that overrides are detected."""
    found = metadata.entry_points(group=ENTRY_POINT_GROUP)
    unique = {(ep.name, ep.value): ep for ep in found}
    return sorted(unique.values(), key=lambda ep: (0 if _is_own(ep.dist) else 1, ep.name))


def _is_own(dist: Any) -> bool:
    return dist is not None and dist.name == _OWN_DISTRIBUTION


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


class _Selection:
    """The ``plugins`` setting: ``no:name`` blocks a plugin, a bare name allow-lists it.

    A name matches a plugin's entry-point name or its distribution's name. With an
    allow-list, the other third-party plugins are not loaded; mxlite's own are, unless
    blocked by name, so that naming one extra plugin never removes the built-in operators.
    """

    def __init__(self, setting: Iterable[str], source: str) -> None:
        items = [str(item).strip() for item in setting if str(item).strip()]
        self.text = ",".join(items)
        self.description = f"the plugins setting {self.text!r} ({source})"
        self.blocked = {_canonical(i[3:]) for i in items if i.startswith("no:")}
        allowed = {_canonical(i) for i in items if not i.startswith("no:")}
        self.allowed = allowed or None

    def refusal(self, info: PluginInfo) -> str | None:
        names = {_canonical(info.name)} | ({_canonical(info.distribution)}
                                           if info.distribution else set())
        if names & self.blocked:
            return f"disabled by {self.description}"
        own = info.distribution == _OWN_DISTRIBUTION
        if self.allowed is not None and not own and not names & self.allowed:
            return f"disabled: not in the allow-list of {self.description}"
        return None

    def warn_unknown(self, entry_points: list[metadata.EntryPoint]) -> None:
        known = {_canonical(ep.name) for ep in entry_points}
        known |= {_canonical(ep.dist.name) for ep in entry_points if ep.dist is not None}
        unknown = sorted((self.blocked | (self.allowed or set())) - known)
        if unknown:
            installed = sorted({ep.name for ep in entry_points})
            warnings.warn(f"mxlite: {self.description} names {unknown}, which match no "
                          f"installed plugin; installed: {installed}",
                          PluginWarning, stacklevel=4)


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

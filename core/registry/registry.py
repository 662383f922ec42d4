"""The operator registry: plain tables filled once by plugins, then read at bind time."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, MutableMapping
from dataclasses import dataclass, field, replace
from typing import Any

from .. import config
from ..base import MXNetError, MXNetKeyError, suggest
from .opdef import Kernel, OpDef

__all__ = ["Registry", "PluginInfo", "PluginError", "PluginWarning", "GraphPass", "ConfigDefaults"]


class PluginError(MXNetError):
    """A plugin broke a registration rule (malformed op, unsaid override, unknown op)."""


class PluginWarning(UserWarning):
    """A plugin was skipped; the message names it and says why."""


@dataclass
class PluginInfo:
    name: str
    distribution: str = ""
    version: str = ""
    entry_point: str = ""
    ops: list[str] = field(default_factory=list)
    kernels: list[tuple[str, str]] = field(default_factory=list)
    graph_passes: list[str] = field(default_factory=list)
    config: list[str] = field(default_factory=list)
    #: (optimizer, backend) pairs of the fused optimizer updates it added
    update_kernels: list[tuple[str, str]] = field(default_factory=list)
    #: why the plugin was not loaded (an error, or disabled by the ``plugins`` setting)
    skipped: str | None = None


@dataclass(frozen=True)
class GraphPass:
    """A function run on each graph at bind, before planning (see ``passes.bind_graph``)."""

    name: str
    function: Callable[..., Any]
    plugin: str


class ConfigDefaults(MutableMapping):
    """What the ``mxlite_config_defaults`` hook receives: ``defaults["myplugin.key"] = value``.

    Reading gives the defaults in force; setting stages a new key for the plugin being
    registered (applied with its other contributions, or not at all).
    """

    def __init__(self, registry: "Registry") -> None:
        self._registry = registry

    def __getitem__(self, key: str) -> Any:
        staged = dict(self._registry._staged_config)
        return staged[key] if key in staged else config.DEFAULTS[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self._registry.add_config_default(key, value)

    def __delitem__(self, key: str) -> None:
        raise PluginError(f"configuration defaults cannot be removed (key {key!r})")

    def __iter__(self) -> Iterator[str]:
        return iter({**config.DEFAULTS, **dict(self._registry._staged_config)})

    def __len__(self) -> int:
        return len({**config.DEFAULTS, **dict(self._registry._staged_config)})


class Registry:
    """Operators by name (canonical and aliases) and their kernels by backend.

    Plugins register inside a transaction (``begin``/``commit``/``rollback``): a plugin whose
    contributions break a rule is skipped whole, and the tables stay as they were.
    """

    def __init__(self) -> None:
        self.ops: dict[str, OpDef] = {}
        self._by_name: dict[str, OpDef] = {}
        self.owner: dict[str, str] = {}
        self.plugins: dict[str, PluginInfo] = {}
        #: run at bind in this order (plugin load order, then the order each plugin added them)
        self.graph_passes: list[GraphPass] = []
        #: fused optimizer updates: optimizer name (lower case) -> backend -> factory
        self.update_kernels: dict[str, dict[str, Callable[[], Callable[..., bool]]]] = {}
        #: the ``plugins`` setting the plugins were loaded with, and where it came from
        self.selection = "the plugins setting"
        self._staged_ops: list[tuple[OpDef, bool]] = []
        self._staged_kernels: list[tuple[str, str, Kernel]] = []
        self._staged_passes: list[tuple[str, Callable[..., Any]]] = []
        self._staged_config: list[tuple[str, Any]] = []
        self._staged_updates: list[tuple[str, str, Callable[[], Callable[..., bool]]]] = []
        self._current: PluginInfo | None = None

    # -- the API plugins call --------------------------------------------------------
    def add_op(self, opdef: OpDef, override: bool = False) -> None:
        """Register an operator. ``override=True`` is required to replace an existing name."""
        if not isinstance(opdef, OpDef):
            raise PluginError(f"add_op expects an OpDef, got {type(opdef).__name__}")
        self._staged_ops.append((opdef, override))
        if self._current is None:
            self.commit()

    def add_kernel(self, op_name: str, backend: str, kernel: Kernel) -> None:
        """Register ``kernel`` as backend ``backend``'s implementation of ``op_name``."""
        self._staged_kernels.append((op_name, backend, kernel))
        if self._current is None:
            self.commit()

    def add_update_kernel(self, optimizer: str, backend: str,
                          factory: Callable[[], Callable[..., bool]]) -> None:
        """Register backend ``backend``'s fused update for ``mx.optimizer`` class ``optimizer``
        (``"sgd"``, ``"adam"``): ``factory()`` is called once per optimizer, at its first
        update, and returns the update function (see ``Optimizer.fused_update``)."""
        self._staged_updates.append((optimizer, backend, factory))
        if self._current is None:
            self.commit()

    def add_graph_pass(self, name: str, function: Callable[..., Any]) -> None:
        """Run ``function(symbol, info)`` on every graph at bind, before planning."""
        self._staged_passes.append((name, function))
        if self._current is None:
            self.commit()

    def add_config_default(self, key: str, value: Any) -> None:
        """Add configuration key ``key`` (new keys only; prefix them with your plugin's name)."""
        self._staged_config.append((key, value))
        if self._current is None:
            self.commit()

    # -- lookups ---------------------------------------------------------------------
    def get(self, name: str) -> OpDef:
        try:
            return self._by_name[name]
        except KeyError:
            disabled = [p.name for p in self.plugins.values()
                        if p.skipped and p.skipped.startswith("disabled")]
            hint = (f"; plugins disabled by {self.selection}: {', '.join(disabled)}"
                    if disabled else "")
            raise MXNetKeyError(
                f"unknown operator {name!r}.{suggest(name, self._by_name)} "
                f"({len(self.ops)} operators are registered{hint}; `python -m mxlite plugins` "
                "lists the plugins that provide them)") from None

    def __contains__(self, name: str) -> bool:
        return name in self._by_name

    def update_kernel(self, optimizer: str, backends: list[str]) -> Callable[..., bool] | None:
        """A fused update made by the first backend in ``backends`` that has one, else None."""
        table = self.update_kernels.get(optimizer.lower(), {})
        factory = next((table[b] for b in backends if b in table), None)
        return None if factory is None else factory()

    def names(self) -> Iterator[str]:
        return iter(self._by_name)

    # -- transactions ----------------------------------------------------------------
    def begin(self, plugin: PluginInfo) -> None:
        self.rollback()
        self._current = plugin

    def rollback(self) -> None:
        for staged in (self._staged_ops, self._staged_kernels, self._staged_passes,
                       self._staged_config, self._staged_updates):
            staged.clear()
        self._current = None

    def commit(self) -> None:
        """Check the staged contributions, then apply them all, or raise and apply none."""
        plugin = self._current or self.plugins.get("<user>") or PluginInfo(name="<user>")
        try:
            new_names = self._check_ops(plugin)
            kernels = self._check_kernels(new_names)
            defaults = self._check_config()
            passes = self._check_passes(plugin)
            updates = self._check_updates()
        except PluginError:
            self.rollback()
            raise
        for staged, _ in self._staged_ops:
            opdef = new_names[staged.name] = replace(staged, kernels=dict(staged.kernels))
            self.ops[opdef.name] = opdef
            for name in (opdef.name, *opdef.aliases):
                self._by_name[name] = opdef
                self.owner[name] = plugin.name
            plugin.ops.append(opdef.name)
        for op_name, backend, kernel in kernels:
            new_names[op_name].kernels[backend] = kernel
            plugin.kernels.append((op_name, backend))
        config.add_plugin_defaults(defaults, plugin.name)
        plugin.config.extend(defaults)
        self.graph_passes.extend(passes)
        plugin.graph_passes.extend(p.name for p in passes)
        for optimizer, backend, function in updates:
            self.update_kernels.setdefault(optimizer, {})[backend] = function
            plugin.update_kernels.append((optimizer, backend))
        self.plugins.setdefault(plugin.name, plugin)
        self.rollback()

    def _check_ops(self, plugin: PluginInfo) -> dict[str, OpDef]:
        names: dict[str, OpDef] = dict(self._by_name)
        for opdef, override in self._staged_ops:
            _validate_opdef(opdef)
            for name in (opdef.name, *opdef.aliases):
                if name in names and not override and names[name] is not opdef:
                    owner = self.owner.get(name, plugin.name)
                    raise PluginError(
                        f"operator {name!r} is already registered by plugin {owner!r}; "
                        "pass override=True to add_op to replace it")
                names[name] = opdef
        return names

    def _check_kernels(self, names: dict[str, OpDef]) -> list[tuple[str, str, Kernel]]:
        for op_name, backend, kernel in self._staged_kernels:
            if op_name not in names:
                raise PluginError(
                    f"add_kernel: unknown operator {op_name!r} for backend {backend!r}."
                    f"{suggest(op_name, names)}")
            if not isinstance(kernel, Kernel) or not callable(kernel.forward):
                raise PluginError(f"add_kernel({op_name!r}, {backend!r}): expected a Kernel with a "
                                  f"callable forward, got {kernel!r}")
        return [(names[o].name, b, k) for o, b, k in self._staged_kernels]

    def _check_config(self) -> dict[str, Any]:
        new: dict[str, Any] = {}
        for key, value in self._staged_config:
            if not isinstance(key, str) or "." not in key.strip("."):
                raise PluginError(f"configuration key {key!r} must be a string like "
                                  "'myplugin.setting' (prefixed with the plugin's name)")
            if key in config.DEFAULTS or key in new:
                owner = config._plugin_keys.get(key, "mxlite")
                raise PluginError(f"configuration key {key!r} is already defined by {owner!r}; "
                                  "a plugin may only add keys of its own")
            new[key] = value
        return new

    def _check_passes(self, plugin: PluginInfo) -> list[GraphPass]:
        taken = {p.name for p in self.graph_passes}
        passes = []
        for name, function in self._staged_passes:
            if not isinstance(name, str) or not name or not callable(function):
                raise PluginError(f"add_graph_pass expects a name and a function, got {name!r}, "
                                  f"{function!r}")
            if name in taken:
                raise PluginError(f"graph pass {name!r} is already registered")
            taken.add(name)
            passes.append(GraphPass(name, function, plugin.name))
        return passes


    def _check_updates(self) -> list[tuple[str, str, Callable[[], Callable[..., bool]]]]:
        checked = []
        for optimizer, backend, function in self._staged_updates:
            if not (isinstance(optimizer, str) and optimizer and isinstance(backend, str)
                    and backend and callable(function)):
                raise PluginError(f"add_update_kernel expects an optimizer name, a backend name "
                                  f"and a factory, got {optimizer!r}, {backend!r}, {function!r}")
            if backend == "numpy":
                raise PluginError(f"add_update_kernel({optimizer!r}): backend 'numpy' is "
                                  "mx.optimizer's own code; name your plugin's backend")
            checked.append((optimizer.lower(), backend, function))
        return checked


def _validate_opdef(opdef: OpDef) -> None:
    where = f"operator {opdef.name!r}"
    if not opdef.name or not isinstance(opdef.name, str):
        raise PluginError(f"{where}: name must be a non-empty string")
    if not callable(opdef.infer_shape):
        raise PluginError(f"{where}: infer_shape must be callable")
    if not opdef.kernels:
        raise PluginError(f"{where}: defines no kernel; give at least one backend's Kernel")
    for backend, kernel in opdef.kernels.items():
        if not isinstance(kernel, Kernel):
            raise PluginError(f"{where}: kernel for backend {backend!r} is not a Kernel")
    if opdef.has_gradient and all(k.backward is None for k in opdef.kernels.values()):
        raise PluginError(f"{where}: no kernel has a backward; give one or set "
                          "no_gradient='why'")


def warn_skipped(plugin: PluginInfo, reason: str) -> None:
    plugin.skipped = reason
    dist = f" from distribution {plugin.distribution!r}" if plugin.distribution else ""
    ep = f" (entry point {plugin.entry_point!r})" if plugin.entry_point else ""
    warnings.warn(f"mxlite: skipped plugin {plugin.name!r}{dist}{ep}: {reason}",
                  PluginWarning, stacklevel=3)

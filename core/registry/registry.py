"""The operator registry: plain tables filled once by plugins, then read at bind time."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

from ..base import MXNetError, MXNetKeyError, suggest
from .opdef import Kernel, OpDef

__all__ = ["Registry", "PluginInfo", "PluginError", "PluginWarning"]


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
    skipped: str | None = None


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
        self._staged_ops: list[tuple[OpDef, bool]] = []
        self._staged_kernels: list[tuple[str, str, Kernel]] = []
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

    # -- lookups ---------------------------------------------------------------------
    def get(self, name: str) -> OpDef:
        try:
            return self._by_name[name]
        except KeyError:
            raise MXNetKeyError(
                f"unknown operator {name!r}.{suggest(name, self._by_name)} "
                f"({len(self.ops)} operators are registered; `python -m mxlite plugins` lists "
                "the plugins that provide them)") from None

    def __contains__(self, name: str) -> bool:
        return name in self._by_name

    def names(self) -> Iterator[str]:
        return iter(self._by_name)

    # -- transactions ----------------------------------------------------------------
    def begin(self, plugin: PluginInfo) -> None:
        self._current = plugin
        self._staged_ops.clear()
        self._staged_kernels.clear()

    def rollback(self) -> None:
        self._staged_ops.clear()
        self._staged_kernels.clear()
        self._current = None

    def commit(self) -> None:
        """Check the staged contributions, then apply them all, or raise and apply none."""
        plugin = self._current or PluginInfo(name="<user>")
        try:
            new_names = self._check_ops(plugin)
            kernels = self._check_kernels(new_names)
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

"""Operator registry: op definitions, typed parameters, plugin hooks and discovery."""

from .hookspecs import hookimpl
from .loader import ENTRY_POINT_GROUP, get_registry, register_plugin, reload
from .opdef import Kernel, OpDef, same_type_rule
from .params import REQUIRED, Param, Params
from .registry import GraphPass, PluginError, PluginInfo, PluginWarning, Registry

__all__ = [
    "ENTRY_POINT_GROUP", "REQUIRED", "GraphPass", "Kernel", "OpDef", "Param", "Params",
    "PluginError", "PluginInfo", "PluginWarning", "Registry", "get_registry", "hookimpl",
    "register_plugin", "reload", "same_type_rule",
]

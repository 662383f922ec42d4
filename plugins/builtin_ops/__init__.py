"""mxlite's built-in operators with numpy reference kernels, loaded as an ordinary plugin.

Each module lists its operator definitions in ``OPS``; this plugin registers them all.
"""

from __future__ import annotations

from importlib import import_module

from mxlite import hookimpl

#: modules whose ``OPS`` lists this plugin registers, in order
MODULES = ("nn", "loss", "elemwise", "unary")


@hookimpl
def mxlite_register_ops(registry) -> None:  # type: ignore[no-untyped-def]
    for module_name in MODULES:
        module = import_module(f"{__name__}.{module_name}")
        for opdef in module.OPS:
            registry.add_op(opdef)

"""mxlite's built-in operators with numpy reference kernels, loaded as an ordinary plugin.

Every public module of this package lists its operator definitions in ``OPS``; the
plugin registers them all. Adding an operator touches one module.
"""

from __future__ import annotations

import pkgutil
from importlib import import_module

from mxlite import hookimpl


def op_modules() -> list[str]:
    """This package's operator modules (every module not starting with an underscore)."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


@hookimpl
def mxlite_register_ops(registry) -> None:  # type: ignore[no-untyped-def]
    for module_name in op_modules():
        module = import_module(f"{__name__}.{module_name}")
        for opdef in module.OPS:
            registry.add_op(opdef)

"""The hooks a plugin may implement. Both are historic: a plugin registered late still runs.

A plugin module (or object) marks its functions with ``mxlite.hookimpl``::

    @mxlite.hookimpl
    def mxlite_register_ops(registry):
        registry.add_op(MY_OP)
"""

from __future__ import annotations

import pluggy

PROJECT = "mxlite"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec(historic=True)
def mxlite_register_ops(registry) -> None:  # type: ignore[no-untyped-def]
    """Add operator definitions with ``registry.add_op(opdef, override=False)``."""


@hookspec(historic=True)
def mxlite_register_kernels(registry) -> None:  # type: ignore[no-untyped-def]
    """Add kernels for existing operators: ``registry.add_kernel(op_name, backend, kernel)``."""

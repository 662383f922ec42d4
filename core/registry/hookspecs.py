"""The hooks a plugin may implement. All are historic: a plugin registered late still runs.

A plugin module (or object) marks its functions with ``mxlite.hookimpl``::

    @mxlite.hookimpl
    def mxlite_register_ops(registry):
        registry.add_op(MY_OP)

Each plugin's hooks run when it is registered (pluggy calls them in name order). What they
add is staged and applied together when the last one returns, or not at all if anything is
wrong, so their order does not matter: a kernel may target an operator added by the same
plugin.
"""

from __future__ import annotations

import pluggy

PROJECT = "mxlite"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec(historic=True)
def mxlite_config_defaults(defaults) -> None:  # type: ignore[no-untyped-def]
    """Add configuration keys of your own: ``defaults["myplugin.key"] = value``."""


@hookspec(historic=True)
def mxlite_register_ops(registry) -> None:  # type: ignore[no-untyped-def]
    """Add operator definitions with ``registry.add_op(opdef, override=False)``."""


@hookspec(historic=True)
def mxlite_register_kernels(registry) -> None:  # type: ignore[no-untyped-def]
    """Add kernels for existing operators: ``registry.add_kernel(op_name, backend, kernel)``;
    fused optimizer updates: ``registry.add_update_kernel("sgd", backend, function)``."""


@hookspec(historic=True)
def mxlite_register_graph_passes(registry) -> None:  # type: ignore[no-untyped-def]
    """Add bind-time graph passes: ``registry.add_graph_pass(name, function)``."""

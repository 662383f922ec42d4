"""An example mxlite plugin, one hook per kind of contribution.

* ``squareplus``: a new operator with its gradient (``ops.py``);
* a faster forward kernel for the built-in ``Activation`` under the backend name ``example``,
  chosen when ``example`` comes first in ``backends.order`` (``kernels.py``);
* a bind-time graph pass fusing ``FullyConnected`` + ``Activation(relu)``, enabled by the
  configuration key ``example.fuse_fc_relu`` that the plugin adds (``passes.py``).
"""

from __future__ import annotations

import mxlite

from .kernels import BACKEND, fast_activation
from .ops import SQUAREPLUS, fused_fc_relu
from .passes import fuse_fc_relu

__version__ = "0.1.0"


@mxlite.hookimpl
def mxlite_config_defaults(defaults):  # type: ignore[no-untyped-def]
    defaults["example.fuse_fc_relu"] = False


@mxlite.hookimpl
def mxlite_register_ops(registry):  # type: ignore[no-untyped-def]
    registry.add_op(SQUAREPLUS)
    registry.add_op(fused_fc_relu(registry.get("FullyConnected")))


@mxlite.hookimpl
def mxlite_register_kernels(registry):  # type: ignore[no-untyped-def]
    builtin = registry.get("Activation").kernels["numpy"]
    registry.add_kernel("Activation", BACKEND, fast_activation(builtin))


@mxlite.hookimpl
def mxlite_register_graph_passes(registry):  # type: ignore[no-untyped-def]
    registry.add_graph_pass("example.fuse_fc_relu", fuse_fc_relu)

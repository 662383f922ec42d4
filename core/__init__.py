"""mxlite: Apache MXNet's symbolic API on numpy, with operators supplied by plugins.

``import mxlite as mx`` gives ``mx.sym``/``mx.symbol``, ``mx.nd``/``mx.ndarray``, ``mx.cpu()``,
``mx.name``, ``mx.AttrScope`` and ``mx.test_utils``. Operators come from plugins found
through the ``mxlite`` entry-point group, loaded on first use.
"""

from __future__ import annotations

from typing import Any

from . import attribute, base, config, context, name, ndarray, random, symbol
from .attribute import AttrScope
from .base import MXNetError
from .context import Context, cpu, cpu_pinned, current_context, gpu, num_gpus
from .registry import hookimpl

__version__ = "0.1.0"

nd = ndarray
sym = symbol

__all__ = ["AttrScope", "Context", "MXNetError", "attribute", "base", "config", "context", "cpu",
           "cpu_pinned", "current_context", "gpu", "hookimpl", "name", "nd", "ndarray",
           "num_gpus", "random", "registry", "sym", "symbol"]


#: attribute -> module, imported on first use to keep ``import mxlite`` light
_LAZY = {
    "test_utils": "test_utils", "executor": "executor", "inference": "inference",
    "planning": "planning", "memory": "memory", "operator": "operator", "io": "io",
    "optimizer": "optimizer", "lr_scheduler": "lr_scheduler", "init": "initializer",
    "initializer": "initializer", "metric": "metric", "callback": "callback", "model": "model",
    "mod": "module", "module": "module", "viz": "visualization", "visualization": "visualization",
}


def __getattr__(attr: str) -> Any:
    """Load the heavier modules on first use, keeping ``import mxlite`` light."""
    if attr in _LAZY:
        import importlib
        module = importlib.import_module(f".{_LAZY[attr]}", __name__)
        globals()[attr] = module
        return module
    raise AttributeError(f"module 'mxlite' has no attribute {attr!r}")

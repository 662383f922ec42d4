"""``mx.nd``: NDArray, array creation, and every registered operator as a function."""

from __future__ import annotations

from typing import Any

from .dtypes import to_dtype
from .ndarray import (
    NDArray,
    arange,
    array,
    concatenate,
    empty,
    from_numpy,
    full,
    ones,
    waitall,
    zeros,
)
from .serialization import load, load_frombuffer, save

__all__ = ["NDArray", "arange", "array", "concatenate", "empty", "from_numpy", "full", "ones",
           "waitall", "zeros", "to_dtype"]
__all__ += ["load", "load_frombuffer", "save"]


def __getattr__(name: str) -> Any:
    if name.startswith("__"):
        raise AttributeError(name)
    from .ops import function
    return function(name)


def __dir__() -> list[str]:
    from ..registry import get_registry
    return sorted(set(globals()) | set(get_registry().names()))

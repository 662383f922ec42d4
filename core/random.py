"""Random numbers: ``mx.random.seed`` makes initialisation, shuffling and dropout reproducible.

Kernels draw from ``mxlite.random.generator()``, a numpy ``Generator`` reseeded by ``seed``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .ndarray.ndarray import NDArray, _dtype_or_default, _shape_tuple

__all__ = ["seed", "generator", "uniform", "normal", "randint", "shuffle"]

_state: dict[str, Any] = {"rng": None}


def seed(seed_state: int, ctx: Any = "all") -> None:
    """Reseed mxlite's generator (and numpy's global one, which some user code relies on)."""
    _state["rng"] = np.random.default_rng(int(seed_state))
    np.random.seed(int(seed_state) % (2**32))


def generator() -> np.random.Generator:
    rng = _state["rng"]
    if rng is None:  # created on first use: numpy.random is slow to import
        rng = _state["rng"] = np.random.default_rng()
    return rng


def uniform(low: float = 0.0, high: float = 1.0, shape: Any = (1,), dtype: Any = None,
            ctx: Any = None, out: NDArray | None = None) -> NDArray:
    data = generator().uniform(low, high, _shape_tuple(shape)).astype(_dtype_or_default(dtype))
    return _result(data, out)


def normal(loc: float = 0.0, scale: float = 1.0, shape: Any = (1,), dtype: Any = None,
           ctx: Any = None, out: NDArray | None = None) -> NDArray:
    data = generator().normal(loc, scale, _shape_tuple(shape)).astype(_dtype_or_default(dtype))
    return _result(data, out)


def randint(low: int, high: int, shape: Any = (1,), dtype: Any = "int32", ctx: Any = None,
            out: NDArray | None = None) -> NDArray:
    data = generator().integers(low, high, _shape_tuple(shape)).astype(dtype)
    return _result(data, out)


def shuffle(data: NDArray) -> NDArray:
    """A copy of ``data`` shuffled along its first axis."""
    return NDArray(generator().permutation(data._data))


def _result(data: np.ndarray, out: NDArray | None) -> NDArray:
    if out is None:
        return NDArray(data)
    out[:] = data
    return out

"""dtype names as MXNet writes them, and MXNet's integer type flags."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..base import MXNetValueError

__all__ = ["to_dtype", "dtype_name", "dtype_from_attr", "TYPE_FLAGS", "FLAG_OF"]

#: MXNet's ``mshadow`` type flags (used in .params files and ``__dtype__`` attributes)
TYPE_FLAGS: dict[int, np.dtype] = {
    0: np.dtype(np.float32), 1: np.dtype(np.float64), 2: np.dtype(np.float16),
    3: np.dtype(np.uint8), 4: np.dtype(np.int32), 5: np.dtype(np.int8),
    6: np.dtype(np.int64), 7: np.dtype(np.bool_),
}
FLAG_OF: dict[np.dtype, int] = {v: k for k, v in TYPE_FLAGS.items()}


def to_dtype(value: Any) -> np.dtype:
    """A numpy dtype from a name ('float32'), a numpy type or dtype."""
    try:
        dtype = np.dtype(value)
    except TypeError:
        raise MXNetValueError(f"unknown dtype {value!r}; valid: "
                              f"{', '.join(d.name for d in TYPE_FLAGS.values())}") from None
    return dtype


def dtype_name(dtype: Any) -> str:
    return np.dtype(dtype).name


def dtype_from_attr(text: str) -> np.dtype:
    """``__dtype__`` holds MXNet's integer flag ('0'), or a name in graphs written here."""
    text = text.strip()
    if text.lstrip("-").isdigit():
        flag = int(text)
        if flag not in TYPE_FLAGS:
            raise MXNetValueError(f"unknown dtype flag {flag} in __dtype__ attribute")
        return TYPE_FLAGS[flag]
    return to_dtype(text)

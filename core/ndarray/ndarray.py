"""``NDArray``: a numpy array with MXNet's interface. Arithmetic broadcasts, as MXNet's nd does."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..base import MXNetError, MXNetTypeError, MXNetValueError
from ..context import Context, current_context
from .dtypes import to_dtype

__all__ = ["NDArray", "array", "empty", "zeros", "ones", "full", "arange", "waitall",
           "concatenate", "from_numpy"]

_DEFAULT_DTYPE = np.dtype(np.float32)


class NDArray:
    """An n-dimensional array on a context. ``asnumpy()`` copies out; ``[:]`` writes in."""

    __slots__ = ("_data", "_ctx", "__weakref__")
    __array_priority__ = 1000.0

    def __init__(self, data: np.ndarray, ctx: Context | None = None) -> None:
        self._data = data
        self._ctx = ctx

    # -- properties ----------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return self._data.shape

    @property
    def dtype(self) -> type:
        return self._data.dtype.type

    @property
    def size(self) -> int:
        return self._data.size

    @property
    def ndim(self) -> int:
        return self._data.ndim

    @property
    def context(self) -> Context:
        return self._ctx or current_context()

    ctx = context

    @property
    def stype(self) -> str:
        return "default"

    @property
    def T(self) -> "NDArray":
        """A transposed copy (axes reversed, as MXNet 1.9.1 does for any number of axes)."""
        return NDArray(np.ascontiguousarray(self._data.T), self._ctx)

    @property
    def handle(self) -> np.ndarray:
        return self._data

    # -- conversion ----------------------------------------------------------------
    def asnumpy(self) -> np.ndarray:
        return self._data.copy()

    def asscalar(self) -> Any:
        """The single element as a numpy scalar of the array's dtype (``np.float32(3.5)``)."""
        if self.size != 1:
            raise MXNetValueError(f"The current array is not a scalar: asscalar() needs an array "
                                  f"of size 1, got shape {self.shape}")
        return self._data.reshape(-1)[0]

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        """The data for numpy: ``np.asarray`` shares it, ``np.array`` (``copy=True``) copies."""
        data = self._data if dtype is None else self._data.astype(dtype, copy=False)
        return data.copy() if copy and data is self._data else data

    def astype(self, dtype: Any, copy: bool = True) -> "NDArray":
        dtype = to_dtype(dtype)
        if not copy and dtype == self._data.dtype:
            return self
        return NDArray(self._data.astype(dtype), self._ctx)

    def copy(self) -> "NDArray":
        return NDArray(self._data.copy(), self._ctx)

    def copyto(self, other: "NDArray | Context") -> "NDArray":
        if isinstance(other, Context):
            return NDArray(self._data.copy(), other)
        if not isinstance(other, NDArray):
            raise MXNetValueError(f"copyto: expected an NDArray or Context, got {type(other).__name__}")
        if other is self:
            return other
        if other.shape != self.shape:
            raise MXNetValueError(f"copyto: shape mismatch, source {self.shape} vs target {other.shape}")
        np.copyto(other._data, self._data, casting="unsafe")
        return other

    def as_in_context(self, context: Context) -> "NDArray":
        return self if context == self.context else self.copyto(context)

    def wait_to_read(self) -> None:
        """Computation is synchronous in mxlite: nothing to wait for."""

    def wait_to_write(self) -> None:
        """Computation is synchronous in mxlite: nothing to wait for."""

    def reshape(self, *shape: Any, **kwargs: Any) -> "NDArray":
        """Reshape to a view; accepts MXNet's special codes (0, -1, -2, -3, -4) and ``reverse``."""
        from .shape_codes import resolve_reshape
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        shape = kwargs.pop("shape", shape)
        reverse = bool(kwargs.pop("reverse", False))
        if kwargs:
            raise MXNetValueError(f"reshape: unknown arguments {sorted(kwargs)}")
        target = resolve_reshape(self.shape, tuple(shape), reverse)
        return NDArray(self._data.reshape(target), self._ctx)

    def flatten(self) -> "NDArray":
        return NDArray(self._data.reshape(self.shape[0], -1) if self.ndim else self._data, self._ctx)

    def expand_dims(self, axis: int) -> "NDArray":
        return NDArray(np.expand_dims(self._data, axis), self._ctx)

    def tolist(self) -> list:
        return self._data.tolist()

    # -- indexing ------------------------------------------------------------------
    def __getitem__(self, key: Any) -> "NDArray":
        """Basic indexing gives views. As in MXNet 1.x there are no 0-d results: ``x[i]`` on a
        1-D array (or ``x[i, j]`` on 2-D) is a view of shape (1,)."""
        key = _unwrap_key(key)
        result = self._data[key]
        if np.ndim(result) == 0 and self.ndim:
            key = key if isinstance(key, tuple) else (key,)
            result = self._data[..., np.newaxis][(*key, slice(None))]
        return NDArray(np.asarray(result), self._ctx)

    def __setitem__(self, key: Any, value: Any) -> None:
        self._data[_unwrap_key(key)] = _unwrap(value)

    def __len__(self) -> int:
        if not self.ndim:
            raise TypeError("len() of a 0-d NDArray")
        return self.shape[0]

    def __iter__(self):  # type: ignore[no-untyped-def]
        for i in range(len(self)):
            yield self[i]

    def __bool__(self) -> bool:
        if self.size == 1:
            return bool(self._data.reshape(-1)[0])
        if self.size == 0:
            return False
        raise MXNetValueError("The truth value of an NDArray with multiple elements is ambiguous.")

    # -- display -------------------------------------------------------------------
    def __repr__(self) -> str:
        shape = "x".join(str(d) for d in self.shape)
        return f"\n{self._data}\n<NDArray {shape} @{self.context}>"

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (NDArray, (self._data, None))

    # -- arithmetic ----------------------------------------------------------------
    def _operand(self, other: Any) -> Any:
        """The numpy value ``other`` stands for in arithmetic with this array.

        As in MXNet, two NDArrays must share a dtype, and a scalar is first cast to the
        dtype of an integer array (``int32 array * 1.5`` multiplies by 1).
        """
        if isinstance(other, NDArray):
            if other._data.dtype != self._data.dtype:
                raise MXNetTypeError(
                    f"NDArray arithmetic needs equal dtypes, got {self._data.dtype.name} and "
                    f"{other._data.dtype.name}; convert one with astype()")
            return other._data
        if isinstance(other, (int, float, np.number, np.bool_)):
            if self._data.dtype.kind in "iub":
                return np.asarray(other).astype(self._data.dtype)
            return other
        if isinstance(other, np.ndarray):
            return other
        raise MXNetTypeError(f"type {type(other).__name__} is not supported in NDArray arithmetic")

    def _compute(self, other: Any, fn: Callable, reflected: bool) -> np.ndarray:
        lhs, rhs = self._data, self._operand(other)
        if reflected:
            lhs, rhs = rhs, lhs
        try:
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                return np.asarray(fn(lhs, rhs))
        except ValueError as err:
            raise MXNetValueError(f"NDArray arithmetic on shapes {self.shape} and "
                                  f"{np.shape(rhs if not reflected else lhs)}: {err}") from None

    def _binary(self, other: Any, fn: Callable, reflected: bool = False) -> "NDArray":
        result = self._compute(other, fn, reflected)
        if result.dtype != self._data.dtype:
            result = result.astype(self._data.dtype)
        return NDArray(result, self._ctx)

    def _inplace(self, other: Any, fn: Callable) -> "NDArray":
        result = self._compute(other, fn, False)
        if result.shape != self.shape:
            raise MXNetValueError(f"in-place arithmetic cannot change the shape {self.shape} of "
                                  f"the target to {result.shape}")
        np.copyto(self._data, result, casting="unsafe")
        return self

    def __neg__(self) -> "NDArray":
        return NDArray(np.negative(self._data), self._ctx)

    def __pos__(self) -> "NDArray":
        return self

    def __abs__(self) -> "NDArray":
        return NDArray(np.abs(self._data), self._ctx)

    def __hash__(self) -> int:
        return id(self)

    def __getattr__(self, name: str) -> Any:
        """Operator methods: ``x.abs()`` is ``mx.nd.abs(x)``."""
        if name.startswith("_"):
            raise AttributeError(name)
        from ..registry import get_registry
        if name not in get_registry():
            raise AttributeError(f"'NDArray' object has no attribute {name!r}")
        from .ops import invoke
        return lambda *args, **kwargs: invoke(name, (self, *args), kwargs)


def _make_binary(fn: Callable, reflected: bool = False) -> Callable:
    def method(self: NDArray, other: Any) -> NDArray:
        return self._binary(other, fn, reflected)
    return method


def _make_inplace(fn: Callable) -> Callable:
    def method(self: NDArray, other: Any) -> NDArray:
        return self._inplace(other, fn)
    return method


def _compare(fn: Callable) -> Callable:
    return lambda a, b: fn(a, b).astype(np.result_type(a))


_BINARY = {
    "add": np.add, "sub": np.subtract, "mul": np.multiply, "truediv": np.true_divide,
    "div": np.true_divide, "mod": np.mod, "pow": np.power, "floordiv": np.floor_divide,
}
_COMPARE = {
    "eq": np.equal, "ne": np.not_equal, "gt": np.greater, "ge": np.greater_equal,
    "lt": np.less, "le": np.less_equal,
}
for _name, _fn in _BINARY.items():
    setattr(NDArray, f"__{_name}__", _make_binary(_fn))
    setattr(NDArray, f"__r{_name}__", _make_binary(_fn, reflected=True))
    setattr(NDArray, f"__i{_name}__", _make_inplace(_fn))
for _name, _fn in _COMPARE.items():
    setattr(NDArray, f"__{_name}__", _make_binary(_compare(_fn)))


def _unwrap(value: Any) -> Any:
    return value._data if isinstance(value, NDArray) else value


def _index(value: Any) -> Any:
    """An index as numpy takes it; float NDArrays of positions are cast, as MXNet does."""
    if isinstance(value, NDArray):
        data = value._data
        return data.astype(np.int64) if data.dtype.kind == "f" else data
    return value


def _unwrap_key(key: Any) -> Any:
    if isinstance(key, tuple):
        return tuple(_index(k) for k in key)
    return _index(key)


def _shape_tuple(shape: "int | Sequence[int]") -> tuple[int, ...]:
    return (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(int(s) for s in shape)


def _dtype_or_default(dtype: Any) -> np.dtype:
    return _DEFAULT_DTYPE if dtype is None else to_dtype(dtype)


def array(source_array: Any, ctx: Context | None = None, dtype: Any = None) -> NDArray:
    """A new NDArray copied from ``source_array``; float32 unless ``dtype`` says otherwise."""
    if isinstance(source_array, NDArray):
        dtype = source_array.dtype if dtype is None else dtype
        source_array = source_array._data
    data = np.array(source_array, dtype=_dtype_or_default(dtype))
    return NDArray(data, ctx)


def from_numpy(ndarray: np.ndarray, zero_copy: bool = True) -> NDArray:
    """Wrap a numpy array without copying (when ``zero_copy``)."""
    return NDArray(ndarray if zero_copy else ndarray.copy())


def empty(shape: "int | Sequence[int]", ctx: Context | None = None, dtype: Any = None) -> NDArray:
    return NDArray(np.empty(_shape_tuple(shape), _dtype_or_default(dtype)), ctx)


def zeros(shape: "int | Sequence[int]", ctx: Context | None = None, dtype: Any = None,
          **kwargs: Any) -> NDArray:
    return NDArray(np.zeros(_shape_tuple(shape), _dtype_or_default(dtype)), ctx)


def ones(shape: "int | Sequence[int]", ctx: Context | None = None, dtype: Any = None,
         **kwargs: Any) -> NDArray:
    return NDArray(np.ones(_shape_tuple(shape), _dtype_or_default(dtype)), ctx)


def full(shape: "int | Sequence[int]", val: Any, ctx: Context | None = None,
         dtype: Any = None, out: NDArray | None = None) -> NDArray:
    result = NDArray(np.full(_shape_tuple(shape), val, _dtype_or_default(dtype)), ctx)
    return result.copyto(out) if out is not None else result


def arange(start: float, stop: float | None = None, step: float = 1.0, repeat: int = 1,
           infer_range: bool = False, ctx: Context | None = None, dtype: Any = None) -> NDArray:
    data = np.arange(start, stop, step, dtype=np.float64).astype(_dtype_or_default(dtype))
    if repeat != 1:
        data = np.repeat(data, int(repeat))
    return NDArray(data, ctx)


def concatenate(arrays: Sequence[NDArray], axis: int = 0, always_copy: bool = True) -> NDArray:
    if not arrays:
        raise MXNetError("concatenate: no arrays given")
    return NDArray(np.concatenate([_unwrap(a) for a in arrays], axis=axis), arrays[0]._ctx)


def waitall() -> None:
    """Computation is synchronous in mxlite: nothing to wait for."""



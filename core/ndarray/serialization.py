"""MXNet's binary NDArray file format (``.params``): ``save``, ``load`` and ``load_frombuffer``.

Every number is little-endian. A file is::

    u64 0x112 | u64 0 | u64 count | array * count | u64 nkeys | key * nkeys

where ``nkeys`` is 0 for a list and ``count`` for a dict, and a key is ``u64 length | utf-8``.
An array starts with a ``u32`` that tells its layout:

* ``0xF993FAC9`` (MXNet >= 1.0): ``i32 storage type`` (0 dense, 1 row_sparse, 2 csr), shape,
  ``i32 dev_type | i32 dev_id``, ``i32 type flag``, then the raw data in C order.
  A shape is ``i32 ndim | i64 dim * ndim``; ``ndim == 0`` marks an empty ("none") array and
  nothing follows it.
* ``0xF993FACA``: the same, written under numpy shape semantics: ``ndim == 0`` is a scalar,
  ``ndim == -1`` the empty array.
* ``0xF993FAC8`` (0.x): as 0xF993FAC9 without the storage type.
* anything else (the oldest files): that ``u32`` is ``ndim``, followed by ``u32`` dims.

The device recorded in a file is ignored on load, as MXNet does on a CPU machine: arrays load
onto the CPU. Writing uses the 0xF993FAC9 layout, or 0xF993FACA for every array when one of
them is 0-d (MXNet 1.x can then load the file under ``mx.npx.set_np()``).

Stricter than MXNet: bytes left after the last name are an error (MXNet ignores them), and
so are sparse and empty ("none") arrays, which mxlite's dense NDArray cannot hold. Unlike
MXNet, numpy-shape files load without switching modes.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from typing import Any, Union

import numpy as np

from ..base import MXNetTypeError, MXNetValueError
from .dtypes import FLAG_OF, TYPE_FLAGS
from .ndarray import NDArray

__all__ = ["save", "load", "load_frombuffer"]

LIST_MAGIC = 0x112
V1_MAGIC = 0xF993FAC8
V2_MAGIC = 0xF993FAC9
V3_MAGIC = 0xF993FACA
#: an upper bound on ndim read from a file: larger values mean the file is not what it claims
MAX_NDIM = 32
_STORAGE_NAMES = {1: "row_sparse", 2: "csr"}

Loaded = Union[list[NDArray], dict[str, NDArray]]


class _Reader:
    """Reads little-endian fields from a buffer; every shortfall names the source and offset."""

    def __init__(self, buf: bytes, source: str) -> None:
        self.buf = memoryview(buf)
        self.pos = 0
        self.source = source

    def fail(self, message: str, at: int | None = None) -> MXNetValueError:
        where = self.pos if at is None else at
        return MXNetValueError(f"invalid NDArray file {self.source}: at byte {where}: {message}")

    def take(self, size: int, what: str) -> memoryview:
        left = len(self.buf) - self.pos
        if size > left:
            raise self.fail(f"file is truncated: expected {size} bytes of {what}, "
                            f"only {left} left")
        chunk = self.buf[self.pos:self.pos + size]
        self.pos += size
        return chunk

    def unpack(self, fmt: str, what: str) -> int:
        return struct.unpack(fmt, self.take(struct.calcsize(fmt), what))[0]

    def u32(self, what: str) -> int:
        return self.unpack("<I", what)

    def i32(self, what: str) -> int:
        return self.unpack("<i", what)

    def u64(self, what: str) -> int:
        return self.unpack("<Q", what)

    def i64(self, what: str) -> int:
        return self.unpack("<q", what)

    def remaining(self) -> int:
        return len(self.buf) - self.pos


# -- reading -------------------------------------------------------------------------------
def _parse(buf: bytes, source: str) -> Loaded:
    reader = _Reader(buf, source)
    magic = reader.u64("file header")
    if magic != LIST_MAGIC:
        raise reader.fail(f"not an MXNet NDArray file: header is {magic:#x}, expected "
                          f"{LIST_MAGIC:#x}", at=0)
    reader.u64("reserved header field")
    count = _count(reader, "number of arrays", smallest_item=4)
    arrays = [_read_array(reader, i) for i in range(count)]
    nkeys = _count(reader, "number of names", smallest_item=8)
    if nkeys not in (0, count):
        raise reader.fail(f"{nkeys} names for {count} arrays: expected 0 (a list) or {count}")
    keys = [_read_key(reader, i) for i in range(nkeys)]
    if reader.remaining():
        raise reader.fail(f"{reader.remaining()} unexpected bytes after the last "
                          f"{'name' if keys else 'array'}")
    if not keys:
        return arrays
    if len(set(keys)) != len(keys):
        raise reader.fail(f"names are not unique: {sorted(k for k in keys if keys.count(k) > 1)}")
    return dict(zip(keys, arrays))


def _count(reader: _Reader, what: str, smallest_item: int) -> int:
    """A u64 count, refused when the rest of the file could not hold that many items."""
    at = reader.pos
    value = reader.u64(what)
    if value * smallest_item > reader.remaining():
        raise reader.fail(f"{what} is {value}, more than the {reader.remaining()} bytes left "
                          "can hold (file truncated or corrupt)", at=at)
    return value


def _read_key(reader: _Reader, index: int) -> str:
    at = reader.pos
    raw = bytes(reader.take(reader.u64(f"length of name {index}"), f"name {index}"))
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise reader.fail(f"name {index} is not valid UTF-8: {raw[:40]!r}", at=at) from None


def _read_array(reader: _Reader, index: int) -> NDArray:
    at = reader.pos
    magic = reader.u32(f"magic number of array {index}")
    what = f"array {index}"
    if magic in (V2_MAGIC, V3_MAGIC):
        stype = reader.i32(f"storage type of {what}")
        if stype != 0:
            name = _STORAGE_NAMES.get(stype)
            if name is None:
                raise reader.fail(f"{what} has unknown storage type {stype}; expected 0 "
                                  "(default), 1 (row_sparse) or 2 (csr)", at=reader.pos - 4)
            raise reader.fail(f"{what} is a sparse ({name}) NDArray; mxlite loads dense "
                              "arrays only: convert it with tostype('default') in MXNet",
                              at=reader.pos - 4)
        shape = _read_shape(reader, what, np_shape=magic == V3_MAGIC)
    elif magic == V1_MAGIC:
        shape = _read_shape(reader, what, np_shape=False)
    else:
        shape = _read_legacy_shape(reader, what, ndim=magic, at=at)
    if shape is None:
        raise reader.fail(f"{what} is an empty (none) NDArray, which mxlite cannot represent",
                          at=at)
    reader.i32(f"device type of {what}")
    reader.i32(f"device id of {what}")
    return NDArray(_read_data(reader, what, shape))


def _read_shape(reader: _Reader, what: str, np_shape: bool) -> tuple[int, ...] | None:
    """A shape, or None for an empty array (ndim 0, or -1 under numpy shape semantics)."""
    at = reader.pos
    ndim = reader.i32(f"ndim of {what}")
    if (ndim == -1 and np_shape) or (ndim == 0 and not np_shape):
        return None
    if not 0 <= ndim <= MAX_NDIM:
        raise reader.fail(f"{what} has ndim {ndim}; expected 0 to {MAX_NDIM}", at=at)
    dims = struct.unpack(f"<{ndim}q", reader.take(8 * ndim, f"shape of {what}"))
    if any(d < 0 for d in dims):
        raise reader.fail(f"{what} has a negative dimension in its shape {dims}", at=at)
    return dims


def _read_legacy_shape(reader: _Reader, what: str, ndim: int, at: int) -> tuple[int, ...] | None:
    """The oldest layout: the first u32 was ndim, and u32 dims follow."""
    if ndim > MAX_NDIM:
        raise reader.fail(f"{what} starts with {ndim:#x}, which is neither an NDArray magic "
                          f"number ({V1_MAGIC:#x}, {V2_MAGIC:#x}, {V3_MAGIC:#x}) nor an ndim of "
                          f"an old-format array (0 to {MAX_NDIM})", at=at)
    if ndim == 0:
        return None
    return struct.unpack(f"<{ndim}I", reader.take(4 * ndim, f"shape of {what}"))


def _read_data(reader: _Reader, what: str, shape: tuple[int, ...]) -> np.ndarray:
    at = reader.pos
    flag = reader.i32(f"dtype flag of {what}")
    if flag not in TYPE_FLAGS:
        valid = ", ".join(f"{k} ({v.name})" for k, v in TYPE_FLAGS.items())
        raise reader.fail(f"{what} has unsupported dtype flag {flag}; supported: {valid}", at=at)
    dtype = TYPE_FLAGS[flag]
    size = int(np.prod(shape, dtype=object)) if shape else 1
    spanned = int(np.prod([d for d in shape if d], dtype=object)) * dtype.itemsize
    if spanned >= 2**62:  # even a zero-size array cannot have such dimensions
        raise reader.fail(f"{what} has an impossible shape {shape}", at=at)
    raw = reader.take(size * dtype.itemsize, f"{dtype.name} data of {what} with shape {shape}")
    if dtype.kind == "b":  # any non-zero byte is True, as in C++
        return (np.frombuffer(raw, dtype=np.uint8, count=size) != 0).reshape(shape)
    data = np.frombuffer(raw, dtype=dtype.newbyteorder("<"), count=size)
    return data.astype(dtype).reshape(shape)


# -- writing -------------------------------------------------------------------------------
def _encode(arrays: list[NDArray], keys: list[str]) -> Iterator[bytes]:
    np_shape = any(a.ndim == 0 for a in arrays)
    yield struct.pack("<QQQ", LIST_MAGIC, 0, len(arrays))
    for i, array in enumerate(arrays):
        yield from _encode_array(array, f"array {keys[i]!r}" if keys else f"array {i}", np_shape)
    yield struct.pack("<Q", len(keys))
    for key in keys:
        raw = key.encode("utf-8")
        yield struct.pack("<Q", len(raw)) + raw


def _encode_array(array: NDArray, label: str, np_shape: bool) -> Iterator[bytes]:
    data = array._data
    flag = FLAG_OF.get(data.dtype)
    if flag is None:
        valid = ", ".join(d.name for d in TYPE_FLAGS.values())
        raise MXNetTypeError(f"save: {label} has dtype {data.dtype.name}, which MXNet's NDArray "
                             f"file format cannot hold; valid: {valid}")
    ctx = array.context
    yield struct.pack(f"<Iii{data.ndim}q", V3_MAGIC if np_shape else V2_MAGIC, 0, data.ndim,
                      *data.shape)
    yield struct.pack("<iii", ctx.device_typeid, ctx.device_id, flag)
    yield np.ascontiguousarray(data, dtype=data.dtype.newbyteorder("<")).tobytes()


def _normalise(data: Any) -> tuple[list[NDArray], list[str]]:
    """MXNet's accepted forms: one NDArray, a list of NDArrays, a dict str -> NDArray."""
    if isinstance(data, NDArray):
        return [data], []
    if isinstance(data, (dict, list)):
        items = list(data.items()) if isinstance(data, dict) else list(enumerate(data))
        want_key = str if isinstance(data, dict) else int
        for key, value in items:
            if not isinstance(key, want_key) or not isinstance(value, NDArray):
                raise MXNetTypeError(
                    "save only accept dict str->NDArray or list of NDArray; got "
                    f"{type(data).__name__} item {key!r}: {type(value).__name__}")
        return [v for _, v in items], list(data) if isinstance(data, dict) else []
    raise MXNetValueError("data needs to either be a NDArray, dict of str, NDArray pairs or a "
                          f"list of NDarrays; got {type(data).__name__}")


def _filename(fname: Any) -> str:
    if isinstance(fname, os.PathLike):
        fname = os.fspath(fname)
    if not isinstance(fname, str):
        raise MXNetTypeError(f"fname required to be a string (or path), got {type(fname).__name__}")
    return fname


# -- public --------------------------------------------------------------------------------
def save(fname: "str | os.PathLike[str]", data: Any) -> None:
    """Save an NDArray, a list of NDArrays or a dict str -> NDArray in MXNet's binary format.

    The file loads in MXNet 1.x with ``mx.nd.load`` and here with :func:`load`.
    """
    fname = _filename(fname)
    arrays, keys = _normalise(data)
    chunks = _encode(arrays, keys)
    try:
        with open(fname, "wb") as handle:
            for chunk in chunks:
                handle.write(chunk)
    except OSError as err:
        raise MXNetValueError(f"cannot write NDArray file {fname!r}: {err.strerror or err}") \
            from None


def load(fname: "str | os.PathLike[str]") -> Loaded:
    """Load a file written by ``mx.nd.save`` (here or in MXNet): a list, or a dict for named
    arrays. A truncated or corrupt file raises ``MXNetError`` naming the file and byte offset."""
    fname = _filename(fname)
    try:
        with open(fname, "rb") as handle:
            buf = handle.read()
    except OSError as err:
        raise MXNetValueError(f"cannot open NDArray file {fname!r}: {err.strerror or err}") \
            from None
    return _parse(buf, repr(fname))


def load_frombuffer(buf: "bytes | bytearray | memoryview | str") -> Loaded:
    """As :func:`load`, from the bytes of such a file."""
    if isinstance(buf, str):
        buf = buf.encode("utf-8")
    if not isinstance(buf, (bytes, bytearray, memoryview)):
        raise MXNetTypeError(f"buf required to be a string or bytes, got {type(buf).__name__}")
    return _parse(bytes(buf), "(buffer)")

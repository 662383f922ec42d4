"""Data iterators (``mx.io``): ``DataDesc``, ``DataBatch``, ``DataIter`` and ``NDArrayIter``.

``NDArrayIter`` follows MXNet 1.x batch for batch, including the three ways of handling an
incomplete last batch:

* ``'pad'`` fills it with samples from the start of the epoch order; ``batch.pad`` says how
  many samples at its end are filler.
* ``'discard'`` drops it.
* ``'roll_over'`` keeps the leftover samples and puts them at the front of the first batch of
  the next epoch (after ``reset()``); as in MXNet, that batch's ``pad`` is the number of
  carried samples. Calling ``reset()`` twice in a row, or ``hard_reset()``, drops them.

Batches are read-only views of the source arrays where they are a contiguous slice (no
shuffling, no wrap-around), and read-only copies otherwise: ``batch.data[0].copy()`` gives an
array you may write into. (MXNet hands out fresh copies; writing into those never changed the
data set, and writing into a view here would, so it is refused.)
"""

from __future__ import annotations

import threading
from collections import namedtuple
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np

from .base import MXNetKeyError, MXNetTypeError, MXNetValueError
from .ndarray.ndarray import NDArray

__all__ = ["DataDesc", "DataBatch", "DataIter", "NDArrayIter", "ResizeIter", "PrefetchingIter"]

LAST_BATCH_HANDLES = ("pad", "discard", "roll_over")


class DataDesc(namedtuple("DataDesc", ["name", "shape"])):
    """A named input shape; a ``(name, shape)`` tuple that also carries ``dtype`` and ``layout``.

    ``dict(iterator.provide_data)`` and ``for name, shape in provide_data`` work as in MXNet.
    """

    dtype: Any
    layout: str

    def __new__(cls, name: str, shape: Sequence[int], dtype: Any = np.float32,
                layout: str = "NCHW") -> "DataDesc":
        desc = super().__new__(cls, name, tuple(shape) if isinstance(shape, list) else shape)
        desc.dtype = dtype
        desc.layout = layout
        return desc

    def __repr__(self) -> str:
        return f"DataDesc[{self.name},{self.shape},{self.dtype},{self.layout}]"

    def __reduce__(self) -> tuple:
        return (DataDesc, (self.name, self.shape, self.dtype, self.layout))

    @staticmethod
    def get_batch_axis(layout: str | None) -> int:
        """The position of ``'N'`` in ``layout`` (0 when there is no layout, -1 when absent)."""
        return 0 if layout is None else layout.find("N")

    @staticmethod
    def get_list(shapes: Sequence[tuple[str, Any]],
                 types: Sequence[tuple[str, Any]] | None) -> list["DataDesc"]:
        """DataDescs from ``[(name, shape)]`` and optional ``[(name, dtype)]``."""
        if types is None:
            return [DataDesc(name, shape) for name, shape in shapes]
        dtypes = dict(types)
        missing = [name for name, _ in shapes if name not in dtypes]
        if missing:
            raise MXNetKeyError(f"DataDesc.get_list: no dtype given for {missing}; the types "
                                f"name {list(dtypes)}")
        return [DataDesc(name, shape, dtypes[name]) for name, shape in shapes]


class DataBatch:
    """One batch: lists of data and label arrays, and ``pad``, the filler samples at its end."""

    def __init__(self, data: Sequence[NDArray] | None, label: Sequence[NDArray] | None = None,
                 pad: int | None = None, index: Any = None, bucket_key: Any = None,
                 provide_data: list[DataDesc] | None = None,
                 provide_label: list[DataDesc] | None = None) -> None:
        for what, value in (("data", data), ("label", label)):
            if value is not None and not isinstance(value, (list, tuple)):
                raise MXNetTypeError(f"DataBatch: {what} must be a list of NDArrays, got "
                                     f"{type(value).__name__}")
        self.data = data
        self.label = label
        self.pad = pad
        self.index = index
        self.bucket_key = bucket_key
        self.provide_data = provide_data
        self.provide_label = provide_label

    def __str__(self) -> str:
        data_shapes = [d.shape for d in self.data] if self.data is not None else None
        label_shapes = [lb.shape for lb in self.label] if self.label else None
        return f"{type(self).__name__}: data shapes: {data_shapes} label shapes: {label_shapes}"


class DataIter:
    """The iterator protocol of ``Module.fit``: ``reset()`` then ``next()`` until StopIteration.

    A subclass defines ``iter_next`` (advance; False at the end) and ``getdata``; ``getlabel``
    (no labels), ``getindex`` and ``getpad`` (no padding) have defaults.
    """

    def __init__(self, batch_size: int = 0) -> None:
        self.batch_size = batch_size

    def __iter__(self) -> Iterator[DataBatch]:
        return self

    def reset(self) -> None:
        """Go back to the start of the data (nothing to do for a one-pass iterator)."""

    def next(self) -> DataBatch:
        if not self.iter_next():
            raise StopIteration
        return DataBatch(data=self.getdata(), label=self.getlabel(), pad=self.getpad(),
                         index=self.getindex())

    def __next__(self) -> DataBatch:
        return self.next()

    def iter_next(self) -> bool:
        raise NotImplementedError(f"{type(self).__name__} must define iter_next() or next()")

    def getdata(self) -> list[NDArray]:
        raise NotImplementedError(f"{type(self).__name__} must define getdata() or next()")

    def getlabel(self) -> list[NDArray] | None:
        return None

    def getindex(self) -> Any:
        return None

    def getpad(self) -> int:
        return 0


# -- NDArrayIter -----------------------------------------------------------------------------
def _as_source(name: str, value: Any) -> NDArray:
    """An NDArray for one input: NDArrays are kept as given, anything else becomes float32."""
    if isinstance(value, NDArray):
        array = value
    else:
        try:
            array = NDArray(np.asarray(value, dtype=np.float32))
        except (TypeError, ValueError) as err:
            raise MXNetTypeError(f"NDArrayIter: input {name!r} of type {type(value).__name__} "
                                 f"cannot be read as an array ({err}); give NDArrays or numpy "
                                 "arrays") from None
    if array.ndim == 0:
        raise MXNetValueError(f"NDArrayIter: input {name!r} is a scalar; it needs a first "
                              "(sample) axis")
    return array


def _init_sources(data: Any, default_name: str, what: str) -> list[tuple[str, NDArray]]:
    """``[(name, array)]`` sorted by name, from an array, a list or a dict of arrays."""
    if data is None:
        return []
    if isinstance(data, (NDArray, np.ndarray)):
        data = [data]
    if isinstance(data, (list, tuple)):
        if len(data) == 1:
            data = {default_name: data[0]}
        else:
            data = {f"_{i}_{default_name}": item for i, item in enumerate(data)}
    if not isinstance(data, Mapping):
        raise MXNetTypeError(f"NDArrayIter: {what} must be an NDArray, a numpy array, a list of "
                             f"them or a dict of them, got {type(data).__name__}")
    return sorted((str(name), _as_source(str(name), value)) for name, value in data.items())


def _num_samples(sources: list[tuple[str, NDArray]]) -> int:
    sizes = {name: array.shape[0] for name, array in sources}
    if len(set(sizes.values())) > 1:
        raise MXNetValueError(f"NDArrayIter: every input needs the same number of samples "
                              f"(first dimension), got {sizes}")
    return next(iter(sizes.values()))


def _read_only(data: np.ndarray) -> NDArray:
    data.flags.writeable = False
    return NDArray(data)


class NDArrayIter(DataIter):
    """Batches over in-memory arrays (see the module docstring for the last-batch rules).

    ``data``/``label``: an array, a list of arrays (named ``_0_data``, ``_1_data``...) or a dict
    name -> array; inputs are ordered by name. numpy input is read as float32, NDArrays keep
    their dtype. ``shuffle`` draws a new order at construction and at every ``reset()`` from
    ``mxlite.random.generator()``, so ``mx.random.seed`` makes it reproducible.
    """

    def __init__(self, data: Any, label: Any = None, batch_size: int = 1, shuffle: bool = False,
                 last_batch_handle: str = "pad", data_name: str = "data",
                 label_name: str = "softmax_label") -> None:
        super().__init__(_check_batch_size(batch_size))
        if last_batch_handle not in LAST_BATCH_HANDLES:
            raise MXNetValueError(f"NDArrayIter: last_batch_handle must be one of "
                                  f"{list(LAST_BATCH_HANDLES)}, got {last_batch_handle!r}")
        if data is None:
            raise MXNetValueError("NDArrayIter: data is required")
        self.data = _init_sources(data, data_name, "data")
        self.label = _init_sources(label, label_name, "label")
        if not self.data:
            raise MXNetValueError("NDArrayIter: data is an empty list or dict")
        self.num_data = _num_samples(self.data + self.label)
        if self.num_data == 0:
            raise MXNetValueError("NDArrayIter: the data has no samples")
        self.shuffle = bool(shuffle)
        self.last_batch_handle = last_batch_handle
        self.idx = np.arange(self.num_data)
        self.cursor = -self.batch_size
        self._leftover: np.ndarray | None = None   # samples left at the end of an epoch
        self._carry: np.ndarray | None = None      # ... put in front of this epoch's first batch
        self._current: tuple[Any, int] | None = None   # (selection, pad) of the current batch
        self.reset()

    @property
    def provide_data(self) -> list[DataDesc]:
        return self._describe(self.data)

    @property
    def provide_label(self) -> list[DataDesc]:
        return self._describe(self.label)

    @property
    def num_source(self) -> int:
        return len(self.data) + len(self.label)

    def _describe(self, sources: list[tuple[str, NDArray]]) -> list[DataDesc]:
        return [DataDesc(name, (self.batch_size, *array.shape[1:]), array.dtype)
                for name, array in sources]

    def reset(self) -> None:
        """Start a new epoch: reshuffle, and under ``'roll_over'`` carry the last leftovers."""
        if self.shuffle:
            from .random import generator
            self.idx = generator().permutation(self.num_data)
        self._carry = self._leftover if self.last_batch_handle == "roll_over" else None
        self._leftover = None
        self._current = None
        self.cursor = -self.batch_size

    def hard_reset(self) -> None:
        """Start a new epoch without any rolled-over samples."""
        self._leftover = None
        self.reset()

    def iter_next(self) -> bool:
        if self._carry is not None:
            return self._next_with_carry()
        self._current = None
        self.cursor += self.batch_size
        start, end = self.cursor, self.cursor + self.batch_size
        if start >= self.num_data:
            return False
        if end <= self.num_data:
            self._current = (self._select(start, end), 0)
        elif self.last_batch_handle == "pad":
            pad = end - self.num_data
            wrapped = np.concatenate([self.idx[start:], np.resize(self.idx, pad)])
            self._current = (wrapped, pad)
        elif self.last_batch_handle == "roll_over":
            self._leftover = self.idx[start:].copy()
            return False
        else:   # discard
            return False
        return True

    def _next_with_carry(self) -> bool:
        """The first batch after a roll-over: the carried samples, then the epoch's first ones."""
        carry, self._carry = self._carry, None
        head = self.idx[:self.batch_size - len(carry)]
        batch = np.concatenate([carry, head])
        self.cursor = len(head) - self.batch_size
        if len(batch) < self.batch_size:   # still too few: carry them further
            self._leftover, self._current = batch, None
            return False
        self._current = (batch, len(carry))
        return True

    def _select(self, start: int, end: int) -> Any:
        return slice(start, end) if not self.shuffle else self.idx[start:end]

    def _batch(self, sources: list[tuple[str, NDArray]]) -> list[NDArray]:
        if self._current is None:
            raise MXNetValueError("NDArrayIter: no current batch; call iter_next() (or next()) "
                                  "first, and reset() after the end of an epoch")
        selection = self._current[0]
        if isinstance(selection, slice):
            return [_read_only(array._data[selection]) for _, array in sources]
        return [_read_only(np.take(array._data, selection, axis=0)) for _, array in sources]

    def getdata(self) -> list[NDArray]:
        return self._batch(self.data)

    def getlabel(self) -> list[NDArray]:
        return self._batch(self.label)

    def getpad(self) -> int:
        return self._current[1] if self._current is not None else 0

    def next(self) -> DataBatch:
        if not self.iter_next():
            raise StopIteration
        return DataBatch(data=self.getdata(), label=self.getlabel(), pad=self.getpad(),
                         index=None)


def _check_batch_size(batch_size: Any) -> int:
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
            or batch_size <= 0:
        raise MXNetValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    return int(batch_size)


# -- wrappers --------------------------------------------------------------------------------
class ResizeIter(DataIter):
    """``size`` batches per epoch from ``data_iter``, restarting it whenever it runs out.

    ``reset_internal=False`` lets the next epoch continue where the inner iterator stopped.
    """

    def __init__(self, data_iter: DataIter, size: int, reset_internal: bool = True) -> None:
        super().__init__(data_iter.batch_size)
        self.data_iter = data_iter
        self.size = int(size)
        self.reset_internal = reset_internal
        self.cur = 0
        self.current_batch: DataBatch | None = None
        self.provide_data = data_iter.provide_data
        self.provide_label = data_iter.provide_label
        if hasattr(data_iter, "default_bucket_key"):
            self.default_bucket_key = data_iter.default_bucket_key

    def reset(self) -> None:
        self.cur = 0
        if self.reset_internal:
            self.data_iter.reset()

    def iter_next(self) -> bool:
        if self.cur == self.size:
            return False
        try:
            self.current_batch = self.data_iter.next()
        except StopIteration:
            self.data_iter.reset()
            self.current_batch = self.data_iter.next()
        self.cur += 1
        return True

    def _batch(self) -> DataBatch:
        if self.current_batch is None:
            raise MXNetValueError("ResizeIter: call iter_next() (or next()) first")
        return self.current_batch

    def getdata(self) -> list[NDArray]:
        return self._batch().data

    def getlabel(self) -> list[NDArray] | None:
        return self._batch().label

    def getindex(self) -> Any:
        return self._batch().index

    def getpad(self) -> int:
        return self._batch().pad


class PrefetchingIter(DataIter):
    """Reads the next batch of one or more iterators in a background thread.

    The batches of several iterators are joined: their data (and labels) lists are
    concatenated; ``rename_data``/``rename_label`` (one dict per iterator) rename inputs.
    """

    def __init__(self, iters: DataIter | list[DataIter], rename_data: list[dict] | None = None,
                 rename_label: list[dict] | None = None) -> None:
        super().__init__()
        self.iters = list(iters) if isinstance(iters, (list, tuple)) else [iters]
        if not self.iters:
            raise MXNetValueError("PrefetchingIter: needs at least one iterator")
        for what, renames in (("rename_data", rename_data), ("rename_label", rename_label)):
            if renames is not None and len(renames) != len(self.iters):
                raise MXNetValueError(f"PrefetchingIter: {what} needs one dict per iterator "
                                      f"({len(self.iters)}), got {len(renames)}")
        self.rename_data = rename_data
        self.rename_label = rename_label
        self.batch_size = self.provide_data[0].shape[0]
        self.current_batch: DataBatch | None = None
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mxlite-prefetch")
        self._pending: Future | None = self._pool.submit(self._fetch)

    @property
    def provide_data(self) -> list[DataDesc]:
        return self._renamed("provide_data", self.rename_data)

    @property
    def provide_label(self) -> list[DataDesc]:
        return self._renamed("provide_label", self.rename_label)

    def _renamed(self, attr: str, renames: list[dict] | None) -> list[DataDesc]:
        descs = []
        for k, it in enumerate(self.iters):
            table = renames[k] if renames is not None else {}
            for desc in getattr(it, attr) or []:
                desc = desc if isinstance(desc, DataDesc) else DataDesc(*desc)
                descs.append(DataDesc(table.get(desc.name, desc.name), desc.shape, desc.dtype,
                                      desc.layout))
        return descs

    def _fetch(self) -> DataBatch | None:
        batches = []
        for it in self.iters:
            try:
                batches.append(it.next())
            except StopIteration:
                batches.append(None)
        if all(b is None for b in batches):
            return None
        if any(b is None for b in batches):
            raise MXNetValueError("PrefetchingIter: the iterators ran out after different "
                                  "numbers of batches")
        pads = {b.pad for b in batches}
        if len(pads) > 1:
            raise MXNetValueError(f"PrefetchingIter: the iterators' batches have different "
                                  f"pads {sorted(pads)}")
        return DataBatch(sum((list(b.data) for b in batches), []),
                         sum((list(b.label or []) for b in batches), []),
                         batches[0].pad, batches[0].index, provide_data=self.provide_data,
                         provide_label=self.provide_label)

    def reset(self) -> None:
        with self._lock:
            if self._pending is not None:
                self._pending.exception()   # wait; an error is dropped with the epoch
            for it in self.iters:
                it.reset()
            self._pending = self._pool.submit(self._fetch)

    def iter_next(self) -> bool:
        with self._lock:
            if self._pending is None:
                return False
            batch = self._pending.result()
            self._pending = self._pool.submit(self._fetch) if batch is not None else None
        self.current_batch = batch
        return batch is not None

    def next(self) -> DataBatch:
        if not self.iter_next():
            raise StopIteration
        return self.current_batch

    def _batch(self) -> DataBatch:
        if self.current_batch is None:
            raise MXNetValueError("PrefetchingIter: call iter_next() (or next()) first")
        return self.current_batch

    def getdata(self) -> list[NDArray]:
        return self._batch().data

    def getlabel(self) -> list[NDArray] | None:
        return self._batch().label

    def getindex(self) -> Any:
        return self._batch().index

    def getpad(self) -> int:
        return self._batch().pad

    def close(self) -> None:
        """Stop the background thread."""
        self._pool.shutdown(wait=True)

    def __del__(self) -> None:
        pool = getattr(self, "_pool", None)
        if pool is not None:
            pool.shutdown(wait=False)

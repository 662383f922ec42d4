"""mx.io: DataDesc, DataBatch, NDArrayIter (pad / discard / roll_over), ResizeIter, PrefetchingIter.

Expected batches were observed on MXNet 1.9.1.
"""

from __future__ import annotations

import pickle

import mxlite as mx
import numpy as np
import pytest
from mxlite.base import MXNetError


def epochs(it, n_epochs):
    """[(first column of data, label, pad)] per epoch, resetting after each one."""
    out = []
    for _ in range(n_epochs):
        out.append([(b.data[0].asnumpy()[:, 0].astype(int).tolist(),
                     b.label[0].asnumpy().astype(int).tolist(), b.pad) for b in it])
        it.reset()
    return out


def seven():
    return np.arange(14).reshape(7, 2) // 2, np.arange(7)


# -- DataDesc / DataBatch ------------------------------------------------------------------
def test_datadesc_is_a_name_shape_tuple_with_dtype_and_layout():
    d = mx.io.DataDesc("x", (2, 3))
    assert tuple(d) == ("x", (2, 3)) and len(d) == 2 and d == ("x", (2, 3))
    assert (d.name, d.shape, d.dtype, d.layout) == ("x", (2, 3), np.float32, "NCHW")
    assert repr(d) == "DataDesc[x,(2, 3),<class 'numpy.float32'>,NCHW]"
    assert dict([d]) == {"x": (2, 3)}
    again = pickle.loads(pickle.dumps(mx.io.DataDesc("y", (4,), np.int32, "NC")))
    assert (again.name, again.shape, again.dtype, again.layout) == ("y", (4,), np.int32, "NC")


def test_datadesc_batch_axis_and_get_list():
    assert mx.io.DataDesc.get_batch_axis("TNC") == 1
    assert mx.io.DataDesc.get_batch_axis(None) == 0
    assert mx.io.DataDesc.get_batch_axis("CHW") == -1
    descs = mx.io.DataDesc.get_list([("a", (1, 2)), ("b", (3,))], [("a", np.int32), ("b", "float16")])
    assert [repr(d) for d in descs] == ["DataDesc[a,(1, 2),<class 'numpy.int32'>,NCHW]",
                                        "DataDesc[b,(3,),float16,NCHW]"]
    assert mx.io.DataDesc.get_list([("a", (1, 2))], None)[0].dtype is np.float32
    with pytest.raises(MXNetError, match=r"no dtype given for \['b'\]"):
        mx.io.DataDesc.get_list([("a", (1,)), ("b", (2,))], [("a", np.int32)])


def test_databatch_fields_and_str():
    b = mx.io.DataBatch([mx.nd.ones((2, 3))], [mx.nd.ones(2)], pad=1)
    assert str(b) == "DataBatch: data shapes: [(2, 3)] label shapes: [(2,)]"
    assert (b.pad, b.index, b.bucket_key, b.provide_data, b.provide_label) == (1, None, None, None, None)
    assert str(mx.io.DataBatch([mx.nd.ones((2, 3))])) == \
        "DataBatch: data shapes: [(2, 3)] label shapes: None"
    with pytest.raises(MXNetError, match="data must be a list of NDArrays, got NDArray"):
        mx.io.DataBatch(mx.nd.ones(3))


def test_dataiter_base_protocol():
    class Count(mx.io.DataIter):
        def __init__(self):
            super().__init__(batch_size=2)
            self.i = 0

        def reset(self):
            self.i = 0

        def iter_next(self):
            self.i += 1
            return self.i <= 3

        def getdata(self):
            return [mx.nd.full((2,), self.i)]

    it = Count()
    batches = list(it)
    assert [b.data[0].asnumpy().tolist() for b in batches] == [[1, 1], [2, 2], [3, 3]]
    assert (batches[0].label, batches[0].pad, batches[0].index) == (None, 0, None)
    it.reset()
    assert next(it).data[0].asnumpy().tolist() == [1, 1]
    with pytest.raises(NotImplementedError, match="must define iter_next"):
        mx.io.DataIter(3).next()


# -- NDArrayIter: the last batch ---------------------------------------------------------------
MXNET_EPOCHS = {   # (n, handle, batch_size) -> batches of 3 epochs on MXNet 1.9.1
    (7, "pad", 3): [[([0, 1, 2], 0), ([3, 4, 5], 0), ([6, 0, 1], 2)]] * 3,
    (7, "pad", 10): [[([0, 1, 2, 3, 4, 5, 6, 0, 1, 2], 3)]] * 3,
    (7, "pad", 16): [[([0, 1, 2, 3, 4, 5, 6, 0, 1, 2, 3, 4, 5, 6, 0, 1], 9)]] * 3,
    (7, "discard", 3): [[([0, 1, 2], 0), ([3, 4, 5], 0)]] * 3,
    (7, "discard", 10): [[]] * 3,
    (7, "roll_over", 3): [[([0, 1, 2], 0), ([3, 4, 5], 0)],
                          [([6, 0, 1], 1), ([2, 3, 4], 0)],
                          [([5, 6, 0], 2), ([1, 2, 3], 0), ([4, 5, 6], 0)]],
    (7, "roll_over", 10): [[], [([0, 1, 2, 3, 4, 5, 6, 0, 1, 2], 7)],
                           [([3, 4, 5, 6, 0, 1, 2, 3, 4, 5], 4)]],
    (7, "roll_over", 7): [[([0, 1, 2, 3, 4, 5, 6], 0)]] * 3,
    (8, "roll_over", 7): [[([0, 1, 2, 3, 4, 5, 6], 0)], [([7, 0, 1, 2, 3, 4, 5], 1)],
                          [([6, 7, 0, 1, 2, 3, 4], 2)]],
    (3, "roll_over", 4): [[], [([0, 1, 2, 0], 3)], [([1, 2, 0, 1], 2)]],
}


@pytest.mark.parametrize("case", sorted(MXNET_EPOCHS), ids=str)
def test_last_batch_handling_matches_mxnet(case):
    n, handle, batch_size = case
    data = np.arange(2 * n).reshape(n, 2) // 2
    it = mx.io.NDArrayIter(data, np.arange(n), batch_size=batch_size, last_batch_handle=handle)
    expected = [[(rows, rows, pad) for rows, pad in epoch] for epoch in MXNET_EPOCHS[case]]
    assert epochs(it, 3) == expected


def test_roll_over_keeps_carrying_until_a_batch_fills():
    # MXNet 1.9.1 crashes in the fourth epoch here; mxlite keeps the rule going.
    data, label = seven()
    it = mx.io.NDArrayIter(data, label, batch_size=10, last_batch_handle="roll_over")
    fourth, fifth = epochs(it, 5)[3:]
    assert fourth == []   # carried [6] plus the 7 samples: 8 < 10, carried on
    assert fifth == [([6, 0, 1, 2, 3, 4, 5, 6, 0, 1], [6, 0, 1, 2, 3, 4, 5, 6, 0, 1], 8)]


def test_roll_over_carry_is_dropped_by_a_second_reset_or_hard_reset():
    data, label = seven()
    it = mx.io.NDArrayIter(data, label, batch_size=3, last_batch_handle="roll_over")
    list(it)
    it.reset()
    it.reset()
    assert next(it).pad == 0
    list(it)
    it.hard_reset()
    assert next(it).data[0].asnumpy()[:, 0].tolist() == [0, 1, 2]


def test_manual_iteration_and_pad():
    data, label = seven()
    it = mx.io.NDArrayIter(data, label, batch_size=3)
    with pytest.raises(MXNetError, match="call iter_next"):
        it.getdata()
    assert [it.iter_next() for _ in range(3)] == [True, True, True]
    assert it.getdata()[0].asnumpy()[:, 0].tolist() == [6, 0, 1]
    assert it.getlabel()[0].asnumpy().tolist() == [6, 0, 1]
    assert (it.getpad(), it.getindex()) == (2, None)
    assert not it.iter_next()
    with pytest.raises(StopIteration):
        it.next()


def test_discard_iter_next_stops_before_the_incomplete_batch():
    data, label = seven()
    it = mx.io.NDArrayIter(data, label, batch_size=3, last_batch_handle="discard")
    assert [it.iter_next() for _ in range(4)] == [True, True, False, False]


# -- NDArrayIter: inputs ----------------------------------------------------------------------
def test_names_order_dtypes_and_provide():
    x = np.arange(5)
    it = mx.io.NDArrayIter({"b": x, "a": x.astype(np.int32), "c": mx.nd.array(x, dtype="float16")},
                           {"l": x}, batch_size=2)
    assert [repr(d) for d in it.provide_data] == [
        "DataDesc[a,(2,),<class 'numpy.float32'>,NCHW]",
        "DataDesc[b,(2,),<class 'numpy.float32'>,NCHW]",
        "DataDesc[c,(2,),<class 'numpy.float16'>,NCHW]"]
    assert [(d.name, d.shape) for d in it.provide_label] == [("l", (2,))]
    batch = next(it)
    assert [d.dtype for d in batch.data] == [np.float32, np.float32, np.float16]
    assert (batch.index, batch.provide_data) == (None, None)
    many = mx.io.NDArrayIter([x] * 11, batch_size=2)
    assert [d.name for d in many.provide_data][:3] == ["_0_data", "_10_data", "_1_data"]
    single = mx.io.NDArrayIter([x], [x], batch_size=2)
    assert [d.name for d in single.provide_data + single.provide_label] == ["data", "softmax_label"]


def test_no_label_and_custom_names():
    it = mx.io.NDArrayIter(np.arange(7).reshape(7, 1), data_name="x", label_name="y", batch_size=2)
    assert [(d.name, d.shape) for d in it.provide_data] == [("x", (2, 1))]
    assert it.provide_label == []
    assert next(it).label == []


def test_batches_are_read_only_views_of_the_source():
    source = np.arange(14, dtype=np.float32).reshape(7, 2)
    it = mx.io.NDArrayIter(source, batch_size=3)
    batch = next(it)
    assert np.shares_memory(np.asarray(batch.data[0]), source)
    with pytest.raises(ValueError, match="read-only"):
        batch.data[0][:] = 100
    assert source[0, 0] == 0 and source.flags.writeable
    padded = list(it)[-1]
    assert padded.pad == 2 and not np.shares_memory(np.asarray(padded.data[0]), source)
    nd_source = mx.nd.array(source)
    assert np.shares_memory(np.asarray(next(mx.io.NDArrayIter(nd_source, batch_size=2)).data[0]),
                            np.asarray(nd_source))


def test_shuffle_is_reproducible_with_seed_and_keeps_rows_together():
    data = np.arange(20).reshape(10, 2)
    label = np.arange(10)

    def run():
        mx.random.seed(7)
        it = mx.io.NDArrayIter(data, label, batch_size=4, shuffle=True)
        return epochs(it, 2)

    first, second = run()
    assert run() == [first, second]
    assert first != second   # a new order each epoch
    rows = [r for batch, lab, pad in first for r in batch[:len(batch) - pad]]
    assert sorted(rows) == list(range(0, 20, 2))
    for batch, lab, _ in first:
        assert [r // 2 for r in batch] == lab


def test_shuffled_roll_over_carries_the_leftover_samples():
    mx.random.seed(3)
    it = mx.io.NDArrayIter(np.arange(7), np.arange(7), batch_size=3, shuffle=True,
                           last_batch_handle="roll_over")
    seen = [b.label[0].asnumpy().astype(int).tolist() for b in it]
    leftover = sorted(set(range(7)) - {i for batch in seen for i in batch})
    it.reset()
    first = next(it)
    assert first.pad == 1
    assert first.label[0].asnumpy().astype(int).tolist()[:1] == leftover


@pytest.mark.parametrize("kwargs, message", [
    (dict(data=np.arange(7), label=np.arange(6)), "same number of samples"),
    (dict(data=[np.arange(7), np.arange(5)]), r"\{'_0_data': 7, '_1_data': 5\}"),
    (dict(data=np.arange(7), last_batch_handle="foo"), r"one of \['pad', 'discard', 'roll_over'\]"),
    (dict(data=None), "data is required"),
    (dict(data="abc"), "got str"),
    (dict(data={"d": "abc"}), "'d' of type str cannot be read"),
    (dict(data=np.arange(7), batch_size=0), "positive integer, got 0"),
    (dict(data=np.arange(7), batch_size=-1), "positive integer, got -1"),
    (dict(data=np.arange(7), batch_size=2.5), "positive integer, got 2.5"),
    (dict(data=np.array(3.0)), "scalar"),
    (dict(data=np.float32(3)), "got float32"),
    (dict(data=[]), "empty"),
    (dict(data=np.zeros((0, 3))), "no samples"),
])
def test_ndarrayiter_errors(kwargs, message):
    with pytest.raises(MXNetError, match=message):
        mx.io.NDArrayIter(**kwargs)


# -- wrappers ---------------------------------------------------------------------------------
def test_resize_iter_matches_mxnet():
    inner = mx.io.NDArrayIter(np.arange(7).reshape(7, 1), np.arange(7), batch_size=3)
    it = mx.io.ResizeIter(inner, 5)
    assert it.batch_size == 3 and it.provide_data == inner.provide_data
    for _ in range(2):
        got = [(b.data[0].asnumpy().ravel().tolist(), b.pad, b.index) for b in it]
        assert got == [([0, 1, 2], 0, None), ([3, 4, 5], 0, None), ([6, 0, 1], 2, None),
                       ([0, 1, 2], 0, None), ([3, 4, 5], 0, None)]
        it.reset()
    with pytest.raises(MXNetError, match="call iter_next"):
        mx.io.ResizeIter(inner, 2).getdata()


def test_prefetching_iter_joins_and_renames():
    x = np.arange(7).reshape(7, 1)
    a = mx.io.NDArrayIter(x, np.arange(7), batch_size=3)
    b = mx.io.NDArrayIter(x * 10, np.arange(7), batch_size=3, data_name="d2", label_name="l2")
    it = mx.io.PrefetchingIter([a, b], rename_data=[{"data": "x"}, {}])
    try:
        assert [d.name for d in it.provide_data] == ["x", "d2"]
        assert [d.name for d in it.provide_label] == ["softmax_label", "l2"]
        assert it.batch_size == 3
        for _ in range(2):
            got = [([d.asnumpy().ravel().tolist() for d in batch.data], batch.pad) for batch in it]
            assert got == [([[0, 1, 2], [0, 10, 20]], 0), ([[3, 4, 5], [30, 40, 50]], 0),
                           ([[6, 0, 1], [60, 0, 10]], 2)]
            it.reset()
        assert it.iter_next() and it.getpad() == 0 and it.getindex() is None
        assert [d.name for d in it.current_batch.provide_data] == ["x", "d2"]
    finally:
        it.close()


def test_prefetching_iter_errors():
    x = np.arange(7).reshape(7, 1)
    with pytest.raises(MXNetError, match="one dict per iterator"):
        mx.io.PrefetchingIter([mx.io.NDArrayIter(x)], rename_data=[{}, {}])
    uneven = mx.io.PrefetchingIter([mx.io.NDArrayIter(x, batch_size=2),
                                    mx.io.NDArrayIter(x[:4], batch_size=2)])
    try:
        with pytest.raises(MXNetError, match="ran out after different numbers of batches"):
            list(uneven)
    finally:
        uneven.close()
    pads = mx.io.PrefetchingIter([mx.io.NDArrayIter(x, batch_size=2),
                                  mx.io.NDArrayIter(np.arange(8), batch_size=2)])
    try:
        with pytest.raises(MXNetError, match=r"different pads \[0, 1\]"):
            list(pads)
    finally:
        pads.close()

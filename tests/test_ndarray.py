"""NDArray: creation, dtypes, broadcasting arithmetic, in-place ops, indexing, conversion.

Expected values and dtypes were checked by hand against Apache MXNet 1.9.1.
"""

from __future__ import annotations

import pickle

import mxlite as mx
import numpy as np
import pytest
from mxlite.base import MXNetError

nd = mx.nd


def a23() -> mx.nd.NDArray:
    return nd.array([[1, 2, 3], [4, 5, 6]])


def check(arr: mx.nd.NDArray, expected: object, dtype: type = np.float32) -> None:
    assert isinstance(arr, nd.NDArray)
    assert arr.dtype is dtype
    np.testing.assert_array_equal(arr.asnumpy(), np.asarray(expected))
    assert arr.shape == np.asarray(expected).shape


# -- creation ------------------------------------------------------------------------------
@pytest.mark.parametrize("source", [np.arange(3, dtype=np.float64), np.arange(3), [0, 1, 2],
                                    (0.0, 1.0, 2.0)])
def test_array_defaults_to_float32(source: object) -> None:
    check(nd.array(source), [0, 1, 2])


def test_array_dtype_and_ndarray_source() -> None:
    check(nd.array([1, 2, 3], dtype="int32"), [1, 2, 3], np.int32)
    check(nd.array([1, 2], dtype=np.int64), [1, 2], np.int64)
    ints = nd.array([1, 2], dtype="int32")
    copy = nd.array(ints)
    check(copy, [1, 2], np.int32)  # an NDArray source keeps its dtype
    copy[:] = 7
    check(ints, [1, 2], np.int32)  # and is copied
    check(nd.array(5), 5)


def test_creation_functions() -> None:
    check(nd.ones((2, 3)), np.ones((2, 3)))
    check(nd.ones(3, dtype="int64"), [1, 1, 1], np.int64)
    check(nd.zeros((2,)), [0, 0])
    check(nd.zeros([2, 1]), [[0], [0]])
    empty = nd.empty((2, 3))
    assert empty.shape == (2, 3) and empty.dtype is np.float32
    check(nd.full((2, 2), 7), np.full((2, 2), 7))
    check(nd.full((2,), 0.5, dtype="int32"), [0, 0], np.int32)
    out = nd.zeros(2)
    assert nd.full((2,), 3, out=out) is out
    check(out, [3, 3])


def test_arange() -> None:
    check(nd.arange(5), [0, 1, 2, 3, 4])
    check(nd.arange(1, 4, 0.5), [1, 1.5, 2, 2.5, 3, 3.5])
    check(nd.arange(0, 3, repeat=2), [0, 0, 1, 1, 2, 2])
    check(nd.arange(0, 3, dtype="int32"), [0, 1, 2], np.int32)


# -- properties and conversion -------------------------------------------------------------
def test_properties() -> None:
    a = a23()
    assert a.shape == (2, 3) and isinstance(a.shape, tuple)
    assert a.dtype is np.float32
    assert a.size == 6 and a.ndim == 2 and len(a) == 2
    assert a.context == mx.cpu() and str(a.context) == "cpu(0)"
    assert a.ctx == mx.cpu(0)
    assert nd.ones(2, ctx=mx.cpu()).context == mx.cpu()
    assert a.stype == "default"


def test_transpose() -> None:
    check(a23().T, [[1, 4], [2, 5], [3, 6]])
    check(nd.array([1, 2, 3]).T, [1, 2, 3])
    assert nd.zeros((2, 3, 4)).T.shape == (4, 3, 2)  # axes reversed, as MXNet 1.9.1 does


def test_asnumpy_is_a_copy_and_array_protocol() -> None:
    a = a23()
    host = a.asnumpy()
    host[0, 0] = 100
    assert a.asnumpy()[0, 0] == 1
    assert np.array(a).dtype == np.float32
    np.testing.assert_array_equal(np.asarray(a), [[1, 2, 3], [4, 5, 6]])
    assert np.asarray(a, dtype=np.float64).dtype == np.float64
    copied = np.array(a)
    copied[0, 0] = -1
    assert a.asnumpy()[0, 0] == 1  # np.array copies
    shared = np.asarray(a)
    assert a.tolist() == [[1, 2, 3], [4, 5, 6]]
    shared[0, 0] = -1
    assert a.asnumpy()[0, 0] == -1  # np.asarray shares


def test_asscalar() -> None:
    value = nd.array([3.5]).asscalar()
    assert value == 3.5 and type(value) is np.float32
    value = nd.array([3], dtype="int32").asscalar()
    assert value == 3 and type(value) is np.int32
    assert nd.array([[2.0]]).asscalar() == 2.0
    with pytest.raises(ValueError, match="not a scalar"):
        a23().asscalar()
    with pytest.raises(MXNetError):
        a23().asscalar()


def test_astype_copy_copyto() -> None:
    a = a23()
    check(a.astype("int32"), [[1, 2, 3], [4, 5, 6]], np.int32)
    check(a.astype(np.float16), a.asnumpy(), np.float16)
    assert a.astype("float32", copy=False) is a
    assert a.astype("float32") is not a
    c = a.copy()
    c[:] = 0
    check(a, [[1, 2, 3], [4, 5, 6]])
    target = nd.zeros((2, 3))
    assert a.copyto(target) is target
    check(target, a.asnumpy())
    moved = a.copyto(mx.cpu())
    assert moved is not a and moved.context == mx.cpu()
    check(moved, a.asnumpy())
    assert a.as_in_context(mx.cpu()) is a
    with pytest.raises(MXNetError, match=r"shape mismatch.*\(2, 3\).*\(3, 2\)"):
        a.copyto(nd.zeros((3, 2)))
    with pytest.raises(MXNetError, match="NDArray or Context"):
        a.copyto(np.zeros((2, 3)))


def test_copyto_casts_to_the_target_dtype() -> None:
    target = nd.zeros(2, dtype="int32")
    nd.array([1.7, 2.2]).copyto(target)
    check(target, [1, 2], np.int32)


def test_reshape() -> None:
    a = a23()
    check(a.reshape((3, 2)), [[1, 2], [3, 4], [5, 6]])
    check(a.reshape(3, 2), [[1, 2], [3, 4], [5, 6]])
    check(a.reshape(shape=(6,)), [1, 2, 3, 4, 5, 6])
    assert a.reshape(-1).shape == (6,)
    assert a.reshape(0, -1).shape == (2, 3)
    assert nd.zeros((2, 3, 4)).reshape(-3, -2).shape == (6, 4)
    assert nd.zeros((2, 3, 4)).reshape((-1, 2), reverse=True).shape == (12, 2)
    view = a.reshape((6,))
    view[0] = 9
    assert a.asnumpy()[0, 0] == 9  # a reshape shares memory
    with pytest.raises(MXNetError, match=r"\(2, 3\).*\(4, 2\)"):
        a.reshape((4, 2))
    with pytest.raises(MXNetError, match="unknown arguments"):
        a.reshape((6,), order="F")


def test_wait_and_misc() -> None:
    a = a23()
    assert a.wait_to_read() is None
    assert a.wait_to_write() is None
    assert nd.waitall() is None
    assert a.flatten().shape == (2, 3)
    assert nd.zeros((2, 3, 4)).flatten().shape == (2, 12)
    assert a.expand_dims(0).shape == (1, 2, 3)


def test_repr() -> None:
    assert repr(nd.array([1, 2])) == "\n[1. 2.]\n<NDArray 2 @cpu(0)>"
    assert repr(nd.zeros((2, 2), dtype="int32")) == "\n[[0 0]\n [0 0]]\n<NDArray 2x2 @cpu(0)>"
    assert repr(nd.array(5)) == "\n5.0\n<NDArray  @cpu(0)>"


def test_bool() -> None:
    assert bool(nd.array([1])) is True
    assert bool(nd.array([0])) is False
    assert bool(nd.zeros((0,))) is False
    with pytest.raises(ValueError, match="ambiguous"):
        bool(a23())


def test_pickle_roundtrip() -> None:
    back = pickle.loads(pickle.dumps(a23()))
    check(back, [[1, 2, 3], [4, 5, 6]])


# -- arithmetic ----------------------------------------------------------------------------
def test_broadcasting_arithmetic() -> None:
    a = a23()
    check(a + nd.array([10, 20, 30]), [[11, 22, 33], [14, 25, 36]])
    check(a - nd.array([[1], [2]]), [[0, 1, 2], [2, 3, 4]])
    check(a * nd.array([[2]]), a.asnumpy() * 2)
    check(a / nd.array([1, 2, 4]), a.asnumpy() / [1, 2, 4])
    with pytest.raises(MXNetError, match=r"\(2, 3\).*\(2,\)"):
        a + nd.array([1, 2])
    with pytest.raises(ValueError):
        a + nd.array([1, 2])


def test_scalar_and_reflected_arithmetic() -> None:
    a = a23()
    x = a.asnumpy()
    check(a * 2, x * 2)
    check(2 * a, x * 2)
    check(a + 1, x + 1)
    check(1 + a, x + 1)
    check(a - 1, x - 1)
    check(1 - a, 1 - x)
    check(a / 2, x / 2)
    check(6 / a, 6 / x)
    check(a ** 2, x ** 2)
    check(2 ** a, 2 ** x)
    check(a % 4, x % 4)
    check(7 % a, 7 % x)
    check(-a, -x)
    check(abs(-a), x)
    check(+a, x)
    check(a * np.float64(2.5), x * 2.5)  # a numpy scalar keeps the array's dtype
    check(a + True, x + 1)


def test_numpy_array_operands_keep_the_ndarray_dtype() -> None:
    a = a23()
    check(a + np.ones(3), a.asnumpy() + 1)
    check(np.ones(3) + a, a.asnumpy() + 1)


def test_comparisons_return_the_input_dtype() -> None:
    a = a23()
    check(a > 3, [[0, 0, 0], [1, 1, 1]])
    check(a == nd.array([[1, 0, 3], [0, 5, 0]]), [[1, 0, 1], [0, 1, 0]])
    check(a != 2, [[1, 0, 1], [1, 1, 1]])
    check(a < nd.array([2, 2, 7]), [[1, 0, 1], [0, 0, 1]])
    check(a >= 5, [[0, 0, 0], [0, 1, 1]])
    check(a <= 2, [[1, 1, 0], [0, 0, 0]])
    check(nd.array([1, 2], dtype="int32") > 1, [0, 1], np.int32)


def test_integer_arrays_cast_scalars_to_their_dtype() -> None:
    """MXNet applies a scalar to an integer array as ``DType(scalar)``."""
    ints = nd.array([1, 2, 3], dtype="int32")
    check(ints / 2, [0, 1, 1], np.int32)
    check(ints * 1.5, [1, 2, 3], np.int32)
    check(7 / ints, [7, 3, 2], np.int32)
    check(nd.array([1, 2], dtype="int32") == 1.5, [1, 0], np.int32)
    check(nd.array([1, 2], dtype="int32") ** 0.5, [1, 1], np.int32)
    check(2.5 - nd.array([1, 2], dtype="int32"), [1, 0], np.int32)
    check(nd.array([250], dtype="uint8") + 10, [4], np.uint8)
    check(-nd.array([1, 2], dtype="uint8"), [255, 254], np.uint8)


@pytest.mark.parametrize("dtypes", [("int32", "float32"), ("float32", "int32"),
                                    ("float16", "float32"), ("float64", "float32")])
def test_mixed_dtypes_are_refused(dtypes: tuple[str, str]) -> None:
    lhs, rhs = (nd.array([1, 2], dtype=d) for d in dtypes)
    with pytest.raises(MXNetError, match=f"{dtypes[0]} and {dtypes[1]}"):
        lhs + rhs
    with pytest.raises(TypeError):
        lhs * rhs


@pytest.mark.parametrize("other", [None, "x", [1, 2, 3], object()])
def test_unsupported_operands_raise_type_error(other: object) -> None:
    with pytest.raises(TypeError, match="not supported"):
        a23()[0] + other
    with pytest.raises(MXNetError):
        a23() == other  # noqa: B015


def test_division_by_zero_is_silent_inf() -> None:
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check(nd.array([1.0, -1.0]) / 0, [np.inf, -np.inf])


def test_inplace_operators_keep_identity_and_dtype() -> None:
    a = a23()
    alias = a
    a += 1
    a *= 2
    a -= nd.array([1, 1, 1])
    a /= 2
    assert a is alias
    check(a, [[1.5, 2.5, 3.5], [4.5, 5.5, 6.5]])
    a **= 2
    check(a, np.array([[1.5, 2.5, 3.5], [4.5, 5.5, 6.5]]) ** 2)
    ints = nd.array([1, 2, 3], dtype="int32")
    ints += 1.7  # the scalar becomes int32(1)
    check(ints, [2, 3, 4], np.int32)
    b = a23()
    b += np.ones((2, 3))
    check(b, [[2, 3, 4], [5, 6, 7]])


def test_inplace_broadcasts_into_the_target_only() -> None:
    a = a23()
    a += nd.array([1, 2, 3])
    check(a, [[2, 4, 6], [5, 7, 9]])
    with pytest.raises(MXNetError, match=r"\(2, 3\).*\(3, 2, 3\)"):
        a += nd.ones((3, 2, 3))
    with pytest.raises(MXNetError, match="float32 and float64"):
        a += nd.ones((2, 3), dtype="float64")


def test_inplace_on_a_view_writes_through() -> None:
    a = a23()
    row = a[1]
    row += 10
    check(a, [[1, 2, 3], [14, 15, 16]])


# -- indexing ------------------------------------------------------------------------------
def test_getitem() -> None:
    a = a23()
    check(a[1], [4, 5, 6])
    check(a[-1], [4, 5, 6])
    check(a[0:1], [[1, 2, 3]])
    check(a[:, 1], [2, 5])
    check(a[::2], [[1, 2, 3]])
    check(a[np.int64(1)], [4, 5, 6])


def test_integer_index_gives_shape_1_not_0d() -> None:
    """MXNet 1.x has no 0-d arrays: ``x[i]`` of a vector has shape (1,)."""
    b = nd.array([10, 20, 30])
    check(b[1], [20])
    check(b[-1], [30])
    check(a23()[1, 2], [6])
    check(a23()[-1, -1], [6])
    assert [x.shape for x in b] == [(1,), (1,), (1,)]
    assert b[1].asscalar() == 20


def test_getitem_views_share_memory() -> None:
    b = nd.array([1, 2, 3])
    b[1][:] = 9
    check(b, [1, 9, 3])
    a = a23()
    a[1, 1][:] = 0
    a[0:1][:] = 7
    check(a, [[7, 7, 7], [4, 0, 6]])


def test_index_with_ndarrays_and_lists() -> None:
    a = a23()
    check(a[nd.array([1, 0])], [[4, 5, 6], [1, 2, 3]])  # float positions, as MXNet takes them
    check(a[[1, 0]], [[4, 5, 6], [1, 2, 3]])
    check(a[nd.array([1], dtype="int32")], [[4, 5, 6]])


def test_setitem() -> None:
    c = a23()
    c[0] = 9
    c[1, 2] = 7
    c[:, 0] = nd.array([5, 6])
    check(c, [[5, 9, 9], [6, 5, 7]])
    c[:] = 3
    check(c, np.full((2, 3), 3))
    c[:] = np.arange(6).reshape(2, 3)
    check(c, np.arange(6).reshape(2, 3))
    c[:] = nd.array([1, 2, 3])
    check(c, [[1, 2, 3], [1, 2, 3]])
    c[nd.array([1])] = 0
    check(c, [[1, 2, 3], [0, 0, 0]])
    ints = nd.array([1, 2], dtype="int32")
    ints[0] = 2.7
    check(ints, [2, 2], np.int32)
    with pytest.raises(ValueError):
        nd.zeros((2, 2))[:] = nd.ones((3,))


def test_len_and_iteration() -> None:
    a = a23()
    rows = list(a)
    assert len(rows) == 2
    check(rows[1], [4, 5, 6])
    with pytest.raises(TypeError):
        len(nd.array(5))


# -- contexts ------------------------------------------------------------------------------
def test_contexts() -> None:
    assert repr(mx.cpu()) == "cpu(0)" and str(mx.cpu(1)) == "cpu(1)"
    assert mx.cpu() == mx.Context("cpu", 0) == mx.Context("cpu")
    assert mx.cpu(1) != mx.cpu(0)
    assert mx.Context(mx.cpu(2)).device_id == 2
    assert mx.cpu().device_type == "cpu"
    assert mx.current_context() == mx.cpu()
    assert len({mx.cpu(), mx.cpu(0)}) == 1
    with pytest.raises(MXNetError, match="unknown device type"):
        mx.Context("tpu")


def test_gpu_is_a_clear_error() -> None:
    with pytest.raises(MXNetError, match=r"GPU.*mx\.cpu\(\)"):
        mx.gpu()
    with pytest.raises(MXNetError, match="GPU"):
        mx.Context("gpu", 1)
    assert mx.num_gpus() == 0


# -- operators on NDArrays -----------------------------------------------------------------
def test_imperative_operators() -> None:
    x = nd.array([[1, -2, 3], [-4, 5, -6]])
    w, b = nd.ones((2, 3)), nd.array([0.5, -0.5])
    check(nd.FullyConnected(x, w, b, num_hidden=2), [[2.5, 1.5], [-4.5, -5.5]])
    check(nd.FullyConnected(data=x, weight=w, bias=b, num_hidden=2), [[2.5, 1.5], [-4.5, -5.5]])
    check(nd.FullyConnected(x, w, num_hidden=2, no_bias=True), [[2, 2], [-5, -5]])
    check(nd.Activation(x, act_type="relu"), [[1, 0, 3], [0, 5, 0]])
    check(nd.abs(x), np.abs(x.asnumpy()))
    check(x.abs(), np.abs(x.asnumpy()))  # operators are NDArray methods too
    check(nd.elemwise_add(x, x), 2 * x.asnumpy())
    check(nd.abs(nd.array([-1, 2], dtype="int32")), [1, 2], np.int32)


def test_imperative_out_argument() -> None:
    x = nd.array([-1, 2])
    out = nd.zeros(2)
    assert nd.abs(x, out=out) is out
    check(out, [1, 2])


def test_imperative_errors() -> None:
    x = nd.array([[1, 2, 3]])
    with pytest.raises(MXNetError, match=r"missing inputs \['bias'\]"):
        nd.FullyConnected(x, nd.ones((2, 3)), num_hidden=2)
    with pytest.raises(MXNetError, match="shapes must be equal"):
        nd.elemwise_add(x, nd.ones((1, 2)))
    with pytest.raises(AttributeError, match="Did you mean 'FullyConnected'"):
        nd.FullyConnectd  # noqa: B018
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        x.nope  # noqa: B018
    with pytest.raises(MXNetError, match="'relu'"):
        nd.Activation(x, act_type="relux")
    with pytest.raises(TypeError, match="must be an NDArray"):
        nd.abs(mx.sym.Variable("a"))

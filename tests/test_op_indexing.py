"""Indexing and ordering operators (indexing.py): slice, slice_axis, take, pick, one_hot, where,
SequenceMask, topk, sort, argsort, argmax, argmin.

Literal expected values were observed on MXNet 1.9.1; the rest is checked against numpy
expressions and central differences.
"""

from __future__ import annotations

import json

import mxlite as mx
import numpy as np
import pytest
from mxlite.registry import get_registry
from mxlite.test_utils import check_numeric_gradient, check_symbolic_backward, check_symbolic_forward

#: every test here runs once per available backend (numpy, and "c" where built)
pytestmark = pytest.mark.usefixtures("each_backend")

X = mx.sym.Variable("x")
I = mx.sym.Variable("i")  # noqa: E741
RNG = np.random.default_rng(7)
A = np.arange(12.0).reshape(3, 4)
T = np.array([[3.0, 1, 4, 1, 5], [9, 2, 6, 5, 3]])


def _rand(*shape: int) -> np.ndarray:
    return RNG.uniform(-1.0, 1.0, shape)


def _nd(op: str, *arrays: np.ndarray, **kwargs) -> list:  # type: ignore[no-untyped-def]
    out = getattr(mx.nd, op)(*[mx.nd.array(a) for a in arrays], **kwargs)
    return [o.asnumpy() for o in (out if isinstance(out, list) else [out])]


def _forward_and_grad(sym, location: dict, expected, grad_nodes=None) -> None:  # type: ignore[no-untyped-def]
    expected = expected if isinstance(expected, list) else [expected]
    check_symbolic_forward(sym, location, expected, dtype=np.float64)
    check_numeric_gradient(sym, location, dtype=np.float64, grad_nodes=grad_nodes)


# -- slice / slice_axis ------------------------------------------------------------------------
def test_slice_python_rules() -> None:
    x = _rand(2, 3, 4)
    _forward_and_grad(mx.sym.slice(X, begin=(0, 1), end=(2, 3)), {"x": x}, x[0:2, 1:3])
    _forward_and_grad(mx.sym.slice(X, begin=(1, None, 3), end=(None, None, 0),
                                   step=(1, -1, -2)), {"x": x}, x[1:, ::-1, 3:0:-2])
    _forward_and_grad(mx.sym.crop(X, begin=(None, -2), end=(None, None), step=(None, -1)),
                      {"x": x}, x[:, -2::-1])
    check_symbolic_forward(mx.sym.slice(X, begin=(0, -5), end=(2, 9)), {"x": x}, [x])  # clipped
    # MXNet 1.9.1 on arange(24).reshape(2, 3, 4)
    got = _nd("slice", np.arange(24.0).reshape(2, 3, 4), begin=(1, None, 3), end=(None, None, 0),
              step=(1, -1, -2))[0]
    assert got.ravel().tolist() == [23.0, 21.0, 19.0, 17.0, 15.0, 13.0]


def test_slice_attributes_and_errors() -> None:
    sym = mx.sym.slice(X, begin=(None, 1), end=(2, None))
    node = json.loads(sym.tojson())["nodes"][-1]
    assert node["attrs"] == {"begin": "(None, 1)", "end": "(2, None)"}  # as MXNet writes them
    assert mx.sym.load_json(sym.tojson()).infer_shape(x=(3, 4))[1] == [(2, 3)]
    assert mx.sym.slice(X, begin=(0,), end=(2,)).infer_shape_partial(x=(3, 0))[1] == [(2, 0)]
    with pytest.raises(mx.base.MXNetError, match="must have one length"):
        mx.sym.slice(X, begin=(0,), end=(2, 3)).infer_shape(x=(3, 4))
    with pytest.raises(mx.base.MXNetError, match="cannot contain 0"):
        mx.sym.slice(X, begin=(0,), end=(1,), step=(0,)).infer_shape(x=(3, 4))
    with pytest.raises(mx.base.MXNetError, match="slices 3 axes"):
        mx.sym.slice(X, begin=(0, 0, 0), end=(1, 1, 1)).infer_shape(x=(3, 4))
    with pytest.raises(mx.base.MXNetError, match="is empty"):
        mx.sym.slice(X, begin=(0, 2), end=(2, 1)).infer_shape(x=(3, 4))
    with pytest.raises(mx.base.MXNetError, match="tuple of integers"):
        mx.sym.slice(X, begin="(a,)", end=(1,))


def test_slice_axis() -> None:
    x = _rand(2, 3, 4)
    _forward_and_grad(mx.sym.slice_axis(X, axis=1, begin=1, end=None), {"x": x}, x[:, 1:])
    _forward_and_grad(mx.sym.slice_axis(X, axis=-1, begin=-3, end=-1), {"x": x}, x[..., 1:3])
    loaded = mx.sym.load_json(json.dumps({"nodes": [
        {"op": "null", "name": "x", "inputs": []},
        {"op": "slice_axis", "name": "s", "attrs": {"axis": "0", "begin": "0", "end": "None"},
         "inputs": [[0, 0, 0]]}], "arg_nodes": [0], "heads": [[1, 0, 0]]}))
    assert loaded.infer_shape(x=(3, 4))[1] == [(3, 4)]
    for begin, end in ((2, 1), (0, 5), (-5, 2)):
        with pytest.raises(mx.base.MXNetError, match="is not a non-empty range"):
            mx.sym.slice_axis(X, axis=1, begin=begin, end=end).infer_shape(x=(2, 3, 4))
    with pytest.raises(mx.base.MXNetError, match="axis=3 is out of range"):
        mx.sym.slice_axis(X, axis=3, begin=0, end=1).infer_shape(x=(2, 3, 4))


# -- take --------------------------------------------------------------------------------------
def test_take_modes_match_mxnet() -> None:
    idx = np.array([[0, 2.7], [-1, 5]])
    assert _nd("take", A, idx)[0].reshape(4, 4)[:, 0].tolist() == [0, 8, 0, 8]  # clip
    assert _nd("take", A, idx, mode="wrap")[0].reshape(4, 4)[:, 0].tolist() == [0, 8, 8, 8]
    got = _nd("take", A, idx, axis=1, mode="wrap")[0]
    assert got.shape == (3, 2, 2) and got.ravel().tolist() == [0, 2, 3, 1, 4, 6, 7, 5, 8, 10,
                                                                11, 9]
    assert _nd("take", A, np.array([-1.5, -0.5, 1.9]), mode="wrap")[0][:, 0].tolist() == [8, 0, 4]
    with pytest.raises(mx.base.MXNetError, match="out of range"):
        _nd("take", A, idx, mode="raise")
    with pytest.raises(mx.base.MXNetError, match="out of range"):
        _nd("take", A, np.array([2.5]), mode="raise")  # MXNet compares the float index


def test_take_forward_gradient_and_inference() -> None:
    a = mx.sym.Variable("a")
    data, idx = _rand(4, 3), np.array([[0, 3], [3, 3], [1, 0]])
    sym = mx.sym.take(a, I)
    _forward_and_grad(sym, {"a": data, "i": idx}, data[idx], grad_nodes=["a"])
    sym = mx.sym.take(a, I, axis=-1, mode="wrap")
    _forward_and_grad(sym, {"a": data, "i": idx}, np.take(data, idx % 3, axis=1), grad_nodes=["a"])
    # repeated indices accumulate (MXNet 1.9.1: rows 0 x3 and 2 x1, row 1 untouched)
    grads = check_symbolic_backward(
        mx.sym.take(a, I), {"a": A, "i": np.array([[0, 2], [0, 0]])}, [np.ones((2, 2, 4))],
        {"a": np.array([[3.0] * 4, [0.0] * 4, [1.0] * 4])}, grad_req="write")
    assert not grads["i"].any()
    assert sym.infer_shape(a=(4, 3), i=(2, 5))[1] == [(4, 2, 5)]
    assert sym.infer_type(a="float64", i="int32")[0] == [np.float64, np.int32]
    with pytest.raises(mx.base.MXNetError, match="axis=2 is out of range"):
        mx.sym.take(a, I, axis=2).infer_shape(a=(4, 3), i=(2,))


def test_take_with_integer_indices_in_a_bound_graph() -> None:
    a = mx.sym.Variable("a")
    sym = mx.sym.take(a, I, axis=1, mode="clip")
    exe = sym.simple_bind(mx.cpu(), a=(2, 3), i=(4,), type_dict={"a": "float32", "i": "int32"})
    exe.arg_dict["a"][:] = A[:2, :3]
    exe.arg_dict["i"][:] = np.array([2, 0, 7, -4])
    out = exe.forward(is_train=True)[0].asnumpy()
    assert out.tolist() == [[2, 0, 2, 0], [6, 4, 6, 4]]
    exe.backward([mx.nd.ones((2, 4))])
    assert exe.grad_dict["a"].asnumpy().tolist() == [[2, 0, 2], [2, 0, 2]]
    assert exe.grad_dict["i"].dtype == np.int32 and not exe.grad_dict["i"].asnumpy().any()


# -- pick --------------------------------------------------------------------------------------
def test_pick_matches_mxnet() -> None:
    assert _nd("pick", A, np.array([0, 2.7, 5]))[0].tolist() == [0, 6, 11]
    assert _nd("pick", A, np.array([0, -1, 5]), mode="wrap")[0].tolist() == [0, 7, 9]
    assert _nd("pick", A, np.array([-1.5, 4.5, 2]), mode="wrap")[0].tolist() == [3, 4, 10]
    assert _nd("pick", A, np.array([0, -1, 5]), keepdims=True)[0].tolist() == [[0], [4], [11]]
    assert _nd("pick", A, np.array([0, 1, 2, 0]), axis=0)[0].tolist() == [0, 5, 10, 3]
    assert _nd("pick", A, np.array([[0], [1], [2]]))[0].tolist() == [0, 5, 10]


def test_pick_gradient_and_inference() -> None:
    data, idx = _rand(3, 4, 2), np.array([[0, 3], [1, 1], [2, 0]])
    sym = mx.sym.pick(X, I, axis=1)
    expected = np.take_along_axis(data, idx[:, None, :], 1)[:, 0, :]
    _forward_and_grad(sym, {"x": data, "i": idx}, expected, grad_nodes=["x"])
    check_symbolic_backward(mx.sym.pick(X, I), {"x": A, "i": np.array([0, 2, 3])},
                            [np.array([1.0, 2, 3])],
                            {"x": np.array([[1.0, 0, 0, 0], [0, 0, 2, 0], [0, 0, 0, 3]]),
                             "i": np.zeros(3)})
    assert sym.infer_shape_partial(x=(3, 4, 2))[0] == [(3, 4, 2), (3, 2)]
    assert mx.sym.pick(X, I, keepdims=True).infer_shape(x=(3, 4))[1] == [(3, 1)]
    assert mx.sym.pick(X, I, axis=0).infer_shape(x=(4,))[1] == [(1,)]
    with pytest.raises(mx.base.MXNetError, match="shapes must be equal"):
        mx.sym.pick(X, I, axis=0).infer_shape(x=(3, 4), i=(3,))
    with pytest.raises(mx.base.MXNetError, match="needs an axis"):
        mx.sym.pick(X, I, axis=None).infer_shape(x=(3, 4), i=(3,))


# -- one_hot -----------------------------------------------------------------------------------
def test_one_hot() -> None:
    got = _nd("one_hot", np.array([0, 2.7, -1, 5, 1]), depth=3)[0]
    assert got.tolist() == [[1, 0, 0], [0, 0, 1], [0, 0, 0], [0, 0, 0], [0, 1, 0]]
    got = mx.nd.one_hot(mx.nd.array([[0, 2], [1, 1]]), depth=3, on_value=5, off_value=-2,
                        dtype="int32")
    assert got.dtype == np.int32
    assert got.asnumpy().ravel().tolist() == [5, -2, -2, -2, -2, 5, -2, 5, -2, -2, 5, -2]
    sym = mx.sym.one_hot(X, depth=4, dtype="float64")
    assert sym.infer_shape(x=(2, 3))[1] == [(2, 3, 4)]
    assert sym.infer_type(x="int32") == ([np.int32], [np.float64], [])
    assert not get_registry().get("one_hot").has_gradient
    with pytest.raises(mx.base.MXNetError, match="must be positive"):
        mx.sym.one_hot(X, depth=0)


# -- where -------------------------------------------------------------------------------------
def test_where() -> None:
    c, y = mx.sym.Variable("c"), mx.sym.Variable("y")
    cond = np.array([[1.0, 0, 2], [0, 0, 1]])
    a, b = _rand(2, 3), _rand(2, 3)
    sym = mx.sym.where(c, X, y)
    _forward_and_grad(sym, {"c": cond, "x": a, "y": b}, np.where(cond != 0, a, b),
                      grad_nodes=["x", "y"])
    rows = np.array([1.0, 0, 2])
    check_symbolic_forward(sym, {"c": rows, "x": A[:3], "y": -A[:3]},
                           [np.where(rows[:, None] != 0, A[:3], -A[:3])])
    check_symbolic_backward(sym, {"c": rows, "x": A[:3], "y": -A[:3]}, [np.ones((3, 4))],
                            {"c": np.zeros(3), "x": np.repeat([[1.0], [0], [1]], 4, 1),
                             "y": np.repeat([[0.0], [1], [0]], 4, 1)})
    assert sym.infer_shape_partial(x=(3, 4))[0] == [(3, 4), (3, 4), (3, 4)]
    assert sym.infer_type(c="int32", x="float32")[0] == [np.int32, np.float32, np.float32]
    with pytest.raises(mx.base.MXNetError, match="its length must be x's first dimension"):
        sym.infer_shape(c=(4,), x=(3, 4), y=(3, 4))
    with pytest.raises(mx.base.MXNetError, match="shapes must be equal"):
        sym.infer_shape(c=(3,), x=(3, 4), y=(2, 4))


# -- SequenceMask ------------------------------------------------------------------------------
def test_sequence_mask_matches_mxnet() -> None:
    d = np.arange(24.0).reshape(4, 3, 2) + 1
    got = _nd("SequenceMask", d, np.array([1, 4, 2.5]), use_sequence_length=True, value=-1)[0]
    assert got.ravel().tolist() == [1, 2, 3, 4, 5, 6, -1, -1, 9, 10, 11, 12, -1, -1, 15, 16,
                                    -1, -1, -1, -1, 21, 22, -1, -1]
    got = _nd("SequenceMask", d, np.array([1, 3, 2, 0]), use_sequence_length=True, value=-1,
              axis=1)[0]
    assert got.ravel().tolist() == [1, 2, -1, -1, -1, -1, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
                                    -1, -1, -1, -1, -1, -1, -1, -1]
    assert (_nd("SequenceMask", d)[0] == d).all()


def test_sequence_mask_gradient_and_inference() -> None:
    data, lengths = _rand(4, 3, 2), np.array([1.0, 4, 2])
    sym = mx.sym.SequenceMask(X, I, use_sequence_length=True, value=0.5)
    steps = np.arange(4)[:, None] >= lengths[None, :]
    _forward_and_grad(sym, {"x": data, "i": lengths}, np.where(steps[..., None], 0.5, data),
                      grad_nodes=["x"])
    assert mx.sym.SequenceMask(X).list_arguments() == ["x"]
    assert sym.infer_shape_partial(x=(4, 3, 2))[0] == [(4, 3, 2), (3,)]
    batch_major = mx.sym.SequenceMask(X, I, use_sequence_length=True, axis=1)
    assert batch_major.infer_shape_partial(x=(4, 3, 2))[0] == [(4, 3, 2), (4,)]
    assert sym.infer_type(x="float32", i="int32")[0] == [np.float32, np.int32]
    with pytest.raises(mx.base.MXNetError, match="shapes must be equal"):
        batch_major.infer_shape(x=(4, 3, 2), i=(3,))
    with pytest.raises(mx.base.MXNetError, match="rank 2 or more"):
        sym.infer_shape(x=(3,), i=(1,))
    with pytest.raises(mx.base.MXNetError, match="must be 0 .time-major. or 1"):
        mx.sym.SequenceMask(X, axis=2)


# -- topk / sort / argsort ---------------------------------------------------------------------------
def test_topk_matches_mxnet() -> None:
    assert _nd("topk", T)[0].tolist() == [[4], [0]]
    assert _nd("topk", T, k=2, ret_typ="value")[0].tolist() == [[5, 4], [9, 6]]
    values, idx = _nd("topk", T, k=2, ret_typ="both", is_ascend=True)
    assert values.tolist() == [[1, 1], [2, 3]] and idx.tolist() == [[1, 3], [1, 4]]
    assert _nd("topk", T, k=2, ret_typ="mask")[0].tolist() == [[0, 0, 1, 0, 1], [1, 0, 1, 0, 0]]
    assert _nd("topk", T, k=0, ret_typ="value")[0].tolist() == [[5, 4, 3, 1, 1], [9, 6, 5, 3, 2]]
    values, idx = _nd("topk", T, k=3, axis=None, ret_typ="both")
    assert values.tolist() == [9, 6, 5] and idx.tolist() == [5, 7, 4]
    assert _nd("topk", T, k=3, axis=None, ret_typ="mask")[0].ravel().tolist() == \
        [0, 0, 0, 0, 1, 1, 0, 1, 0, 0]
    # ties keep their input order, both ways
    assert _nd("topk", np.ones(4), k=2, ret_typ="indices")[0].tolist() == [0, 1]
    out = mx.nd.topk(mx.nd.array(T), k=2, ret_typ="both", dtype="int32")
    assert out[1].dtype == np.int32 and out[1].asnumpy().tolist() == [[4, 2], [0, 2]]


def test_topk_names_types_shapes_and_gradient() -> None:
    assert mx.sym.topk(X, ret_typ="value", name="t").list_outputs() == ["t_output0"]
    assert mx.sym.topk(X, ret_typ="indices", name="t").list_outputs() == ["t_output"]
    assert mx.sym.topk(X, ret_typ="both", name="t").list_outputs() == ["t_output0", "t_output1"]
    assert mx.sym.topk(X, ret_typ="both").infer_type(x="float64")[1] == [np.float64, np.float32]
    assert mx.sym.topk(X, ret_typ="mask", dtype="int32").infer_type(x="float64")[1] == \
        [np.float64]
    assert mx.sym.topk(X, k=2, axis=0).infer_shape(x=(3, 4))[1] == [(2, 4)]
    data = RNG.permutation(12).reshape(3, 4) / 4.0  # well separated: no ties under eps
    for kwargs in ({"k": 2, "ret_typ": "value"}, {"k": 2, "ret_typ": "both", "axis": 0},
                   {"k": 3, "ret_typ": "value", "axis": None, "is_ascend": True}):
        check_numeric_gradient(mx.sym.topk(X, **kwargs), {"x": data}, dtype=np.float64)
    # MXNet 1.9.1: gradient [[10, 20]] of the top 2 of [[3, 1, 4, 1, 5]]
    check_symbolic_backward(mx.sym.topk(X, k=2, ret_typ="value"), {"x": T[:1]},
                            [np.array([[10.0, 20]])], {"x": np.array([[0.0, 0, 20, 0, 10]])})
    check_symbolic_backward(mx.sym.topk(X, k=2), {"x": T[:1]}, [np.array([[10.0, 20]])],
                            {"x": np.zeros((1, 5))})
    with pytest.raises(mx.base.MXNetError, match="k=6 is larger than the axis size 5"):
        mx.sym.topk(X, k=6).infer_shape(x=(2, 5))


def test_sort_and_argsort() -> None:
    assert _nd("sort", T)[0].tolist() == [[1, 1, 3, 4, 5], [2, 3, 5, 6, 9]]
    assert _nd("sort", T, is_ascend=False, axis=0)[0].tolist() == [[9, 2, 6, 5, 5],
                                                                  [3, 1, 4, 1, 3]]
    assert _nd("sort", T, axis=None)[0].tolist() == [1, 1, 2, 3, 3, 4, 5, 5, 6, 9]
    assert _nd("argsort", T)[0].tolist() == [[1, 3, 0, 2, 4], [1, 4, 3, 2, 0]]
    assert _nd("argsort", T, axis=None, is_ascend=False)[0].tolist() == \
        [5, 7, 4, 8, 2, 0, 9, 6, 1, 3]
    assert _nd("argsort", np.array([2.0, 1, 2, 1, 2]), is_ascend=False)[0].tolist() == \
        [0, 2, 4, 1, 3]
    out = mx.nd.argsort(mx.nd.array(T, dtype="float64"))
    assert out.dtype == np.float32  # MXNet: float32 whatever the data
    assert mx.nd.argsort(mx.nd.array(T), dtype="int32").dtype == np.int32
    data = RNG.permutation(12).reshape(3, 4) / 4.0
    _forward_and_grad(mx.sym.sort(X, axis=0, is_ascend=False), {"x": data},
                      -np.sort(-data, axis=0))
    _forward_and_grad(mx.sym.sort(X, axis=None), {"x": data}, np.sort(data, axis=None))
    assert mx.sym.sort(X, name="s").list_outputs() == ["s_output0"]
    assert mx.sym.sort(X).infer_type(x="float64")[1] == [np.float64]
    assert not get_registry().get("argsort").has_gradient
    with pytest.raises(mx.base.MXNetError, match="axis=2 is out of range"):
        mx.sym.sort(X, axis=2).infer_shape(x=(3, 4))


# -- argmax / argmin ---------------------------------------------------------------------------
def test_argmax_argmin() -> None:
    assert _nd("argmax", T)[0].tolist() == [5]
    assert _nd("argmax", T, keepdims=True)[0].tolist() == [[5]]
    assert _nd("argmax", T, axis=-1, keepdims=True)[0].tolist() == [[4], [0]]
    assert _nd("argmin", T, axis=0)[0].tolist() == [0, 0, 0, 0, 1]
    assert _nd("argmax", np.array([1.0, 3, 3, 1]))[0].tolist() == [1]  # first of ties
    assert _nd("argmin", np.array([3.0, 1, 1, 3]), axis=0)[0].tolist() == [1]
    assert mx.nd.argmax(mx.nd.array(T, dtype="float64"), axis=1).dtype == np.float64
    assert mx.nd.argmax(mx.nd.array(T, dtype="int32"), axis=1).dtype == np.int32
    assert mx.sym.argmax(X).infer_shape(x=(2, 3))[1] == [(1,)]
    assert mx.sym.argmin(X, axis=1).infer_shape(x=(2, 3))[1] == [(2,)]
    assert not get_registry().get("argmax").has_gradient
    sym = mx.sym.argmax(X, axis=1) + mx.sym.sum(X, axis=1)  # the argmax branch adds nothing
    check_symbolic_backward(sym, {"x": T}, [np.ones(2)], {"x": np.ones((2, 5))})
    with pytest.raises(mx.base.MXNetError, match="axis=2 is out of range"):
        mx.sym.argmax(X, axis=2).infer_shape(x=(2, 3))


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "int32", "int64", "uint8",
                                   "int8"])
def test_ordering_is_stable_for_every_dtype(dtype: str) -> None:
    low = 0 if dtype == "uint8" else -3
    data = RNG.integers(low, low + 7, (3, 17)).astype(dtype)
    if dtype.startswith("float"):
        data[0, :3] = [-0.0, 0.0, -0.0]  # equal values: input order decides
        data[1] *= 0.5
    for ascending in (True, False):
        key = data if ascending else -data.astype(np.float64)
        want = np.argsort(key, axis=-1, kind="stable")
        got = mx.nd.argsort(mx.nd.array(data, dtype=dtype), is_ascend=ascending, dtype="int64")
        assert got.asnumpy().tolist() == want.tolist(), (dtype, ascending)
        top = mx.nd.topk(mx.nd.array(data, dtype=dtype), k=4, is_ascend=ascending,
                         ret_typ="both", dtype="int32")
        assert top[1].asnumpy().tolist() == want[:, :4].tolist()
        assert (top[0].asnumpy() == np.take_along_axis(data, want[:, :4], -1)).all()
        values = check_symbolic_forward(mx.sym.sort(X, is_ascend=ascending), {"x": data},
                                        [np.take_along_axis(data, want, -1)], is_train=True)
        check_symbolic_forward(mx.sym.sort(X, is_ascend=ascending), {"x": data}, values)


def _topk_kernel(data: np.ndarray, is_train: bool, **params) -> list:  # type: ignore[no-untyped-def]
    """Run topk's numpy forward directly; returns the (visible and hidden) outputs."""
    op = get_registry().get("topk")
    p = op.parse_params(params)
    k = params["k"]
    outs = [np.full((*data.shape[:-1], k), -7, data.dtype),
            np.full((*data.shape[:-1], k), -7, np.intp)]
    op.kernels["numpy"].forward(p, [data], outs[:len(op.output_names(p))], [], is_train)
    return outs


def _stable_topk(data: np.ndarray, k: int, ascend: bool) -> np.ndarray:
    key = data if ascend else -data
    return np.argsort(key, axis=-1, kind="stable")[..., :k]


@pytest.mark.parametrize("ascend", [False, True])
@pytest.mark.parametrize("case", ["distinct", "tie_inside", "tie_at_kth", "nan", "int"])
def test_topk_fast_paths_match_the_stable_order(case: str, ascend: bool) -> None:
    """The sort-and-threshold path, its fallbacks (ties at the k-th value, NaN) and the
    inference values-only path give the stable order's answer."""
    rng = np.random.default_rng(3)
    data = rng.permutation(60).reshape(4, 15).astype(np.float32)
    if case.startswith("tie"):  # 2 ties among the top 4, or 4 ties for its last 3 places
        data[1] = np.arange(15)
        data[1, [2, 5, 7, 9] if case == "tie_at_kth" else [5, 9]] = 0.5 if ascend else 13.5
    if case == "int":
        data = data.astype(np.int32)
    expected = _stable_topk(data, 4, ascend)
    if case == "nan":
        data[2, 5] = np.nan
        expected = None
    for ret_typ in ("both", "value"):
        values, index = _topk_kernel(data, True, k=4, ret_typ=ret_typ, is_ascend=ascend)
        if expected is not None:
            np.testing.assert_array_equal(index, expected)
        np.testing.assert_array_equal(values, np.take_along_axis(data, index, -1))
        inference = _topk_kernel(data, False, k=4, ret_typ=ret_typ, is_ascend=ascend)[0]
        np.testing.assert_array_equal(inference, values)

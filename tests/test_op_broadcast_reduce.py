"""Broadcasting binary operators and reductions (sum, mean, max, min, prod, nan*, norm)."""

from __future__ import annotations

import itertools

import mxlite as mx
import numpy as np
import pytest
from mxlite.registry import get_registry
from mxlite.test_utils import (
    assert_almost_equal,
    check_numeric_gradient,
    check_symbolic_backward,
    check_symbolic_forward,
)

#: every test here runs once per available backend (numpy, and "c" where built)
pytestmark = pytest.mark.usefixtures("each_backend")

A, B = mx.sym.Variable("a"), mx.sym.Variable("b")


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


# -- broadcast: forward ---------------------------------------------------------------------
# name -> (reference on numpy arrays via Python scalars, positive inputs only?)
def _elementwise(fn):  # type: ignore[no-untyped-def]
    def apply(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        a2, b2 = np.broadcast_arrays(a, b)
        return np.array([fn(float(x), float(y)) for x, y in zip(a2.ravel(), b2.ravel())]
                        ).reshape(a2.shape)
    return apply


BINARY_REF = {
    "broadcast_add": (lambda x, y: x + y, False),
    "broadcast_sub": (lambda x, y: x - y, False),
    "broadcast_mul": (lambda x, y: x * y, False),
    "broadcast_div": (lambda x, y: x / y, True),
    "broadcast_mod": (lambda x, y: x - y * np.floor(x / y), True),
    "broadcast_power": (lambda x, y: x ** y, True),
    "broadcast_maximum": (max, False),
    "broadcast_minimum": (min, False),
    "broadcast_hypot": (lambda x, y: (x * x + y * y) ** 0.5, False),
    "broadcast_equal": (lambda x, y: float(x == y), False),
    "broadcast_not_equal": (lambda x, y: float(x != y), False),
    "broadcast_greater": (lambda x, y: float(x > y), False),
    "broadcast_greater_equal": (lambda x, y: float(x >= y), False),
    "broadcast_lesser": (lambda x, y: float(x < y), False),
    "broadcast_lesser_equal": (lambda x, y: float(x <= y), False),
    "broadcast_logical_and": (lambda x, y: float(bool(x) and bool(y)), False),
    "broadcast_logical_or": (lambda x, y: float(bool(x) or bool(y)), False),
    "broadcast_logical_xor": (lambda x, y: float(bool(x) != bool(y)), False),
}
DIFFERENTIABLE = ["broadcast_add", "broadcast_sub", "broadcast_mul", "broadcast_div",
                  "broadcast_mod", "broadcast_power", "broadcast_maximum", "broadcast_minimum",
                  "broadcast_hypot"]
SHAPE_PAIRS = [((2, 3, 4), (2, 3, 4)), ((2, 1, 4), (3, 1)), ((1, 3), (2, 1)), ((4,), (2, 3, 4))]


def _operands(name: str, lshape: tuple, rshape: tuple, seed: int = 0) -> tuple:
    rng = _rng(seed)
    low = 0.5 if BINARY_REF[name][1] else -2.0
    a, b = rng.uniform(low, 2.0, lshape), rng.uniform(low, 2.0, rshape)
    if name.startswith(("broadcast_equal", "broadcast_not", "broadcast_logical",
                        "broadcast_greater", "broadcast_lesser")):
        a, b = np.round(a), np.round(b)  # some equal pairs and zeros
    return a, b


@pytest.mark.parametrize("name", sorted(BINARY_REF))
@pytest.mark.parametrize("shapes", SHAPE_PAIRS, ids=str)
def test_broadcast_forward(name: str, shapes: tuple) -> None:
    a, b = _operands(name, *shapes)
    sym = getattr(mx.sym, name)(A, B)
    expected = _elementwise(BINARY_REF[name][0])(a, b)
    check_symbolic_forward(sym, [a, b], [expected], rtol=1e-10, atol=1e-12, dtype=np.float64)
    assert getattr(mx.nd, name)(mx.nd.array(a), mx.nd.array(b)).shape == expected.shape


@pytest.mark.parametrize("name", DIFFERENTIABLE)
@pytest.mark.parametrize("shapes", [((2, 1, 3), (4, 1)), ((2, 3), (2, 3)), ((3,), (2, 1))],
                         ids=str)
def test_broadcast_numeric_gradient(name: str, shapes: tuple) -> None:
    a, b = _operands(name, *shapes, seed=3)
    if name in ("broadcast_maximum", "broadcast_minimum", "broadcast_mod"):
        b = b + 0.05  # keep clear of ties and of the jumps of mod
    check_numeric_gradient(getattr(mx.sym, name)(A, B), [a, b], dtype=np.float64)


def test_broadcast_tie_gradients_match_mxnet() -> None:
    """MXNet 1.9.1: on ties the gradient goes to lhs for both maximum and minimum."""
    a, b = np.array([[1.0, 2.0]]), np.array([[1.0], [3.0]])
    og = np.ones((2, 2))
    check_symbolic_backward(mx.sym.broadcast_maximum(A, B), [a, b], [og],
                            [np.array([[1.0, 1.0]]), np.array([[0.0], [2.0]])])
    check_symbolic_backward(mx.sym.broadcast_minimum(A, B), [a, b], [og],
                            [np.array([[2.0, 1.0]]), np.array([[1.0], [0.0]])])


def test_broadcast_mod_and_power_match_mxnet() -> None:
    """Values from MXNet 1.9.1."""
    a, b = np.array([[5.0, -5.0]]), np.array([[3.0], [-3.0]])
    sym = mx.sym.broadcast_mod(A, B)
    check_symbolic_forward(sym, [a, b], [np.array([[2.0, 1.0], [-1.0, -2.0]])])
    check_symbolic_backward(sym, [a, b], [np.ones((2, 2))],
                            [np.array([[2.0, 2.0]]), np.array([[1.0], [1.0]])])
    a, b = np.array([[2.0, 3.0]]), np.array([[2.0], [0.5]])
    check_symbolic_backward(mx.sym.broadcast_power(A, B), [a, b], [np.ones((2, 2))],
                            [np.array([[4.3535533, 6.2886753]]),
                             np.array([[12.660099], [2.8831105]])], rtol=1e-6)


def test_broadcast_hypot_gradient_at_zero_is_zero() -> None:
    """MXNet 1.9.1 gives NaN where hypot is 0; mxlite takes the subgradient 0."""
    a, b = np.array([[3.0, 0.0]]), np.array([[4.0], [0.0]])
    check_symbolic_backward(mx.sym.broadcast_hypot(A, B), [a, b], [np.ones((2, 2))],
                            [np.array([[1.6, 0.0]]), np.array([[1.8], [0.0]])])


def test_broadcast_comparisons_have_no_gradient() -> None:
    a, b = np.ones((2, 3)), np.ones((1, 3))
    sym = mx.sym.broadcast_greater(A, B)
    check_symbolic_backward(sym, [a, b], [np.ones((2, 3))], [np.zeros((2, 3)), np.zeros((1, 3))])
    assert get_registry().get("broadcast_equal").no_gradient


def test_broadcast_aliases() -> None:
    registry = get_registry()
    assert registry.get("broadcast_plus") is registry.get("broadcast_add")
    assert registry.get("broadcast_minus") is registry.get("broadcast_sub")
    assert mx.sym.broadcast_plus(A, B).name.startswith("broadcast_plus")
    out = mx.nd.broadcast_minus(mx.nd.array([[5.0]]), mx.nd.array([1.0, 2.0]))
    assert out.asnumpy().tolist() == [[4.0, 3.0]]


def test_broadcast_shape_inference() -> None:
    sym = mx.sym.broadcast_add(A, B)
    assert sym.infer_shape(a=(2, 1, 4), b=(3, 1)) == ([(2, 1, 4), (3, 1)], [(2, 3, 4)], [])
    assert sym.infer_shape(a=(2, 3), b=(3,))[1] == [(2, 3)]
    assert sym.infer_shape(a=(2, 3), b=(1,))[1] == [(2, 3)]
    assert sym.list_arguments() == ["a", "b"]
    # partial: an unknown dimension is decided by the other operand when that one is not 1
    assert sym.infer_shape_partial(a=(2, 0), b=(1, 3))[1] == [(2, 3)]
    assert sym.infer_shape_partial(a=(0, 3), b=(2, 1))[1] == [(2, 3)]
    assert sym.infer_shape_partial(a=(2, 0), b=(2, 1))[1] == [(2, 0)]
    assert sym.infer_shape_partial(a=(2, 3)) == ([(2, 3), ()], [()], [])


def test_broadcast_shape_flows_back_from_the_output() -> None:
    """An operand's unknown dimension facing a 1 is the output's dimension."""
    net = mx.sym.elemwise_add(mx.sym.broadcast_mul(A, B), mx.sym.Variable("c"))
    args, outs, _ = net.infer_shape_partial(a=(0, 3), b=(1, 3), c=(5, 3))
    assert args == [(5, 3), (1, 3), (5, 3)] and outs == [(5, 3)]


def test_broadcast_incompatible_shapes_raise() -> None:
    with pytest.raises(mx.base.MXNetError, match=r"could not be broadcast.*\(2, 3\).*\(4, 3\)"):
        mx.sym.broadcast_add(A, B).infer_shape(a=(2, 3), b=(4, 3))
    with pytest.raises(mx.base.MXNetError, match="could not be broadcast"):
        mx.nd.broadcast_mul(mx.nd.ones((2, 3)), mx.nd.ones((3, 2)))


def test_broadcast_float16_and_dtype_inference() -> None:
    out = mx.nd.broadcast_add(mx.nd.array([[1, 2]], dtype="float16"),
                              mx.nd.array([[1], [2]], dtype="float16"))
    assert out.dtype == np.float16 and out.asnumpy().tolist() == [[2, 3], [3, 4]]
    assert mx.sym.broadcast_equal(A, B).infer_type(a="float64")[1] == [np.float64]


# -- reductions ---------------------------------------------------------------------------
X = mx.sym.Variable("x")
REDUCERS = {"sum": np.sum, "mean": np.mean, "max": np.max, "min": np.min, "prod": np.prod,
            "nansum": np.nansum, "nanprod": np.nanprod}
AXES = [None, 0, -1, (0, 2), (), (1,)]


def _loop_reduce(fn, x: np.ndarray, axes: tuple, keepdims: bool) -> np.ndarray:  # type: ignore[no-untyped-def]
    """Reference by explicit iteration over the kept positions."""
    kept = [i for i in range(x.ndim) if i not in axes]
    out_shape = [1 if i in axes else d for i, d in enumerate(x.shape)]
    out = np.empty(out_shape)
    for index in itertools.product(*[range(x.shape[i]) for i in kept]):
        where = [slice(None)] * x.ndim
        for i, k in zip(kept, index):
            where[i] = k
        values = x[tuple(where)].ravel().tolist()
        idx = tuple(0 if i in axes else index[kept.index(i)] for i in range(x.ndim))
        out[idx] = fn(values)
    if keepdims:
        return out
    squeezed = out.reshape([d for i, d in enumerate(out_shape) if i not in axes])
    return squeezed if squeezed.ndim else squeezed.reshape(1)


def _scalar_fn(name: str):  # type: ignore[no-untyped-def]
    import math
    return {"sum": math.fsum, "mean": lambda v: math.fsum(v) / len(v), "max": max, "min": min,
            "prod": math.prod,
            "nansum": lambda v: math.fsum(t for t in v if t == t),
            "nanprod": lambda v: math.prod(t for t in v if t == t)}[name]


def _axes_of(axis, ndim: int, exclude: bool) -> tuple:  # type: ignore[no-untyped-def]
    if axis is None or axis == ():
        return tuple(range(ndim))
    listed = {a % ndim for a in ((axis,) if isinstance(axis, int) else axis)}
    return tuple(i for i in range(ndim) if (i in listed) != exclude)


@pytest.mark.parametrize("name", sorted(REDUCERS))
@pytest.mark.parametrize("axis", AXES, ids=str)
@pytest.mark.parametrize("keepdims,exclude", [(False, False), (True, False), (False, True)])
def test_reduce_forward(name: str, axis, keepdims: bool, exclude: bool) -> None:  # type: ignore[no-untyped-def]
    x = _rng(1).uniform(0.5, 1.5, (2, 3, 4))
    if name.startswith("nan"):
        x[0, 1, 2] = x[1, 0, 0] = np.nan
    axes = _axes_of(axis, 3, exclude)
    expected = _loop_reduce(_scalar_fn(name), x, axes, keepdims)
    sym = getattr(mx.sym, name)(X, axis=axis, keepdims=keepdims, exclude=exclude)
    check_symbolic_forward(sym, [x], [expected], rtol=1e-10, atol=1e-12, dtype=np.float64)
    assert sym.infer_shape(x=(2, 3, 4))[1] == [expected.shape]


@pytest.mark.parametrize("name", sorted(REDUCERS))
@pytest.mark.parametrize("axis,keepdims,exclude", [(None, False, False), (1, True, False),
                                                   ((0, 2), False, False), (1, False, True)],
                         ids=str)
def test_reduce_numeric_gradient(name: str, axis, keepdims: bool, exclude: bool) -> None:  # type: ignore[no-untyped-def]
    x = _rng(2).uniform(0.5, 1.5, (2, 3, 2))
    if name.startswith("nan"):
        x[0, 1, 1] = np.nan
    sym = getattr(mx.sym, name)(X, axis=axis, keepdims=keepdims, exclude=exclude)
    if name.startswith("nan"):  # numeric differences cannot move a NaN: compare the others
        grads = check_symbolic_backward(sym, [x], [np.ones(sym.infer_shape(x=x.shape)[1][0])],
                                        {"x": None})
        assert grads["x"][0, 1, 1] == 0
        x = np.where(np.isnan(x), 1.0, x)  # at 1 nanprod == prod and nansum differs by const
    check_numeric_gradient(sym, [x], dtype=np.float64)


def test_sum_exclude_and_full_reduction_match_mxnet() -> None:
    """MXNet 1.9.1: exclude reduces the other axes; a full reduction has shape (1,)."""
    x = mx.nd.array(np.arange(24).reshape(2, 3, 4))
    assert mx.nd.sum(x, axis=1, exclude=True).asnumpy().tolist() == [60, 92, 124]
    assert mx.nd.sum(x, axis=(0, 2), keepdims=True, exclude=True).shape == (2, 1, 4)
    assert mx.nd.sum(x).shape == (1,) and mx.nd.sum(x, axis=()).shape == (1,)
    assert mx.nd.mean(mx.nd.array([[1, 2], [3, 4]]), axis=1, exclude=True).asnumpy().tolist() \
        == [2, 3]
    shapes = [mx.sym.sum(X, axis=(), exclude=True), mx.sym.sum(X, keepdims=True),
              mx.sym.sum(X, axis=(0, 1), keepdims=True, exclude=True)]
    assert [s.infer_shape(x=(2, 3))[1][0] for s in shapes] == [(1,), (1, 1), (2, 3)]


def test_max_min_give_the_gradient_to_every_tie() -> None:
    """MXNet 1.9.1: every element equal to the extreme receives the full gradient."""
    x = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 1.0]])
    check_symbolic_backward(mx.sym.max(X, axis=1), [x], [np.ones(2)],
                            [np.array([[0, 1, 1], [1, 1, 0.0]])])
    x = np.array([[1.0, 3.0, 1.0], [2.0, 2.0, 1.0]])
    check_symbolic_backward(mx.sym.min(X), [x], [np.ones(1)],
                            [np.array([[1, 0, 1], [0, 0, 1.0]])])


def test_prod_gradient_with_zeros_is_exact() -> None:
    """MXNet 1.9.1 divides by x and gives NaN at zeros; mxlite gives the product of the
    others (rows with two zeros have zero gradient)."""
    x = np.array([[1.0, 0.0, 3.0], [0.0, 0.0, 2.0], [2.0, 3.0, 4.0]])
    check_symbolic_backward(mx.sym.prod(X, axis=1), [x], [np.ones(3)],
                            [np.array([[0, 3, 0], [0, 0, 0], [12, 8, 6.0]])])
    x = _rng(4).uniform(-1, 1, (2, 3, 4))
    x[0, 1, :2] = 0.0
    x[1, 2, 3] = 0.0
    check_numeric_gradient(mx.sym.prod(X, axis=(0, 2)), [x], dtype=np.float64)


def test_nansum_nanprod_match_mxnet() -> None:
    check_symbolic_backward(mx.sym.nansum(X, axis=1), [np.array([[1.0, np.nan, 3.0]])],
                            [np.ones(1)], [np.array([[1.0, 0.0, 1.0]])])
    check_symbolic_backward(mx.sym.nanprod(X, axis=1), [np.array([[2.0, np.nan, 3.0]])],
                            [np.ones(1)], [np.array([[3.0, 0.0, 2.0]])])


def test_sum_aliases() -> None:
    registry = get_registry()
    for alias, name in [("sum_axis", "sum"), ("max_axis", "max"), ("min_axis", "min")]:
        assert registry.get(alias) is registry.get(name)
    assert mx.sym.sum_axis(X).name.startswith("sum_axis")
    assert mx.nd.max_axis(mx.nd.array([[1, 5], [7, 2]]), axis=0).asnumpy().tolist() == [7, 5]


def test_reduce_shape_inference_partial_and_backwards() -> None:
    assert mx.sym.sum(X, axis=1).infer_shape_partial(x=(0, 3))[1] == [(0,)]
    assert mx.sym.sum(X, axis=-1).infer_shape(x=(2, 3, 4))[1] == [(2, 3)]
    net = mx.sym.elemwise_add(mx.sym.sum(X, axis=1), mx.sym.Variable("y"))
    assert net.infer_shape_partial(x=(0, 3), y=(5,))[0] == [(5, 3), (5,)]


@pytest.mark.parametrize("axis,match", [(3, "out of range"), (-3, "out of range"),
                                        ((1, 1), "duplicates"), ((-1, 1), "duplicates")])
def test_reduce_bad_axis_raises(axis, match: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(mx.base.MXNetError, match=match):
        mx.sym.sum(X, axis=axis).infer_shape(x=(2, 3))
    with pytest.raises(mx.base.MXNetError, match=match):
        mx.nd.mean(mx.nd.ones((2, 3)), axis=axis)


# -- norm -----------------------------------------------------------------------------------
def test_norm_values_match_mxnet() -> None:
    """MXNet 1.9.1: L2 over every axis by default, shape (1,); ord=1 sums |x|."""
    x = mx.nd.array([[1, -2, 3], [4, 5, -6]])
    assert_almost_equal(mx.nd.norm(x), np.array([9.5393915], np.float32))
    assert mx.nd.norm(x).shape == (1,)
    assert mx.nd.norm(x, ord=1).asnumpy().tolist() == [21.0]
    assert_almost_equal(mx.nd.norm(x, axis=1), np.array([3.7416573, 8.774964], np.float32))
    assert mx.nd.norm(x, axis=1, keepdims=True).shape == (2, 1)
    x3 = mx.nd.array(np.arange(24).reshape(2, 3, 4))
    assert mx.nd.norm(x3, ord=1, axis=(0, 1)).asnumpy().tolist() == [60, 66, 72, 78]
    assert_almost_equal(mx.nd.norm(x3, axis=(0, 1, 2)), np.array([65.75713], np.float32))


@pytest.mark.parametrize("ord_,axis,keepdims", [(2, None, False), (1, None, False),
                                                (2, 1, True), (1, (0, 2), False), (2, -1, False)],
                         ids=str)
def test_norm_forward_and_gradient(ord_: int, axis, keepdims: bool) -> None:  # type: ignore[no-untyped-def]
    x = _rng(5).uniform(-2, 2, (2, 3, 2))
    x[np.abs(x) < 0.1] = 0.5
    axes = _axes_of(axis, 3, False)
    scalar = (lambda v: sum(abs(t) for t in v)) if ord_ == 1 else \
        (lambda v: sum(t * t for t in v) ** 0.5)
    expected = _loop_reduce(scalar, x, axes, keepdims)
    sym = mx.sym.norm(X, ord=ord_, axis=axis, keepdims=keepdims)
    check_symbolic_forward(sym, [x], [expected], rtol=1e-10, dtype=np.float64)
    check_numeric_gradient(sym, [x], dtype=np.float64)


def test_norm_gradient_at_zero_is_zero() -> None:
    """MXNet 1.9.1 gives NaN for the L2 gradient of an all-zero input; mxlite gives 0."""
    x = np.array([[0.0, 0.0], [3.0, 4.0]])
    check_symbolic_backward(mx.sym.norm(X, axis=1), [x], [np.ones(2)],
                            [np.array([[0, 0], [0.6, 0.8]])])
    check_symbolic_backward(mx.sym.norm(X, ord=1, axis=1), [np.array([[0.0, -2.0], [3.0, 0]])],
                            [np.ones(2)], [np.array([[0, -1], [1, 0.0]])])


def test_norm_out_dtype_and_errors() -> None:
    sym = mx.sym.norm(X, out_dtype="float64")
    assert sym.infer_type(x="float32") == ([np.float32], [np.float64], [])
    assert mx.nd.norm(mx.nd.array([3, 4]), out_dtype="float64").dtype == np.float64
    with pytest.raises(mx.base.MXNetError, match="ord=1 and ord=2"):
        mx.sym.norm(X, ord=3)
    with pytest.raises(mx.base.MXNetError, match="out of range"):
        mx.sym.norm(X, axis=2).infer_shape(x=(2, 3))
    with pytest.raises(mx.base.MXNetError, match="unknown parameter 'exclude'"):
        mx.sym.norm(X, exclude=True)


@pytest.mark.parametrize("shapes", [((5, 7), (5, 7)), ((300, 1), (1, 400)), ((3, 1, 4), (4,))])
def test_float32_hypot_matches_numpy_bit_for_bit(shapes: tuple) -> None:
    """Values over 40 decades (squares outside float32's safe range) take the float64
    blocks, which must round as libm's hypotf does."""
    rng = _rng(5)
    a = (rng.standard_normal(shapes[0]) * 10.0 ** rng.integers(-20, 20, shapes[0]))
    b = (rng.standard_normal(shapes[1]) * 10.0 ** rng.integers(-20, 20, shapes[1]))
    a, b = a.astype(np.float32), b.astype(np.float32)
    got = mx.nd.broadcast_hypot(mx.nd.array(a), mx.nd.array(b)).asnumpy()
    np.testing.assert_array_equal(got, np.hypot(a, b))


def test_float32_hypot_with_inf_and_nan_follows_numpy() -> None:
    a = np.array([np.inf, np.nan, 1.0, -np.inf], np.float32)
    b = np.array([np.nan, np.inf, np.nan, 2.0], np.float32)
    got = mx.nd.broadcast_hypot(mx.nd.array(a), mx.nd.array(b)).asnumpy()
    np.testing.assert_array_equal(got, np.hypot(a, b))  # hypot(inf, nan) is inf


@pytest.mark.parametrize("shapes", [((5, 7), (5, 7)), ((64, 1, 128), (32, 1)), ((3, 1, 4), (4,))])
def test_float32_hypot_in_float32_is_within_2_ulp_of_hypotf(shapes: tuple) -> None:
    """Squares in the safe range are summed in float32; numpy's hypot (libm hypotf) within
    2 ulp. Tiny squares on both sides take the float64 blocks (bit for bit, test above)."""
    rng = _rng(6)
    a = rng.uniform(-1e15, 1e15, shapes[0]).astype(np.float32)
    b = rng.uniform(-1e-3, 1e-3, shapes[1]).astype(np.float32)
    for x, y in ((a, b), (b, a)):
        got = mx.nd.broadcast_hypot(mx.nd.array(x), mx.nd.array(y)).asnumpy()
        np.testing.assert_array_max_ulp(got, np.hypot(x, y), maxulp=2)
        np.testing.assert_array_equal(got, np.sqrt(x * x + y * y))  # the float32 formula
    tiny = np.full(shapes[0], 3e-20, np.float32)
    got = mx.nd.broadcast_hypot(mx.nd.array(tiny), mx.nd.array(np.zeros(shapes[1], np.float32)))
    np.testing.assert_array_equal(got.asnumpy(), np.broadcast_to(tiny, got.shape))

"""Pooling and UpSampling against plain numpy loops, numeric gradients and MXNet values.

Values marked "MXNet 1.9.1" were computed by hand with MXNet 1.9.1 (CPU) on the same inputs.
"""

from __future__ import annotations

import itertools

import mxlite as mx
import numpy as np
import pytest
from mxlite.test_utils import assert_almost_equal, check_numeric_gradient, check_symbolic_forward

#: every test here runs once per available backend (numpy, and "c" where built)
pytestmark = pytest.mark.usefixtures("each_backend")

RNG = np.random.default_rng(3)
LOWEST32 = float(np.finfo(np.float32).min)


def pool_ref(x: np.ndarray, kernel: tuple = (), stride: tuple = (), pad: tuple = (),
             pool_type: str = "max", convention: str = "valid", include_pad: bool = True,
             p_value: int = 2, global_pool: bool = False) -> np.ndarray:
    """Pooling one output cell at a time, with MXNet's window rules spelled out."""
    sizes = x.shape[2:]
    nd = len(sizes)
    if global_pool:
        kernel, stride, pad = sizes, (1,) * nd, (0,) * nd
    stride, pad = stride or (1,) * nd, pad or (0,) * nd
    if global_pool:
        out_sp = [1] * nd
    elif convention == "valid":
        out_sp = [(s + 2 * p - k) // st + 1 for s, p, k, st in zip(sizes, pad, kernel, stride)]
    elif convention == "full":
        out_sp = [int(np.ceil((s + 2 * p - k) / st)) + 1
                  for s, p, k, st in zip(sizes, pad, kernel, stride)]
    else:  # same
        out_sp = [int(np.ceil(s / st)) for s, st in zip(sizes, stride)]
    y = np.zeros((*x.shape[:2], *out_sp))
    for n, c in itertools.product(*map(range, x.shape[:2])):
        for o in itertools.product(*map(range, out_sp)):
            start = [o[i] * stride[i] - pad[i] for i in range(nd)]
            end = [start[i] + kernel[i] for i in range(nd)]
            inside = tuple(slice(max(start[i], 0), min(end[i], sizes[i])) for i in range(nd))
            cells = x[(n, c, *inside)]
            padded_count = np.prod([min(end[i], sizes[i] + pad[i]) - start[i] for i in range(nd)])
            if pool_type == "max":
                y[(n, c, *o)] = cells.max() if cells.size else np.finfo(x.dtype).min
            elif pool_type == "sum":
                y[(n, c, *o)] = cells.sum()
            elif pool_type == "avg":
                count = padded_count if include_pad else cells.size
                y[(n, c, *o)] = cells.sum() / count if count > 0 else 0.0
            else:
                total = np.sum(cells ** p_value)
                y[(n, c, *o)] = np.cbrt(total) if p_value == 3 else total ** (1.0 / p_value)
    return y


def data() -> mx.sym.Symbol:
    return mx.sym.Variable("data")


def forward_backward(sym: mx.sym.Symbol, x: np.ndarray, head: np.ndarray | None = None):  # type: ignore[no-untyped-def]
    """Forward output and the data gradient for head gradient ``head`` (1, 2, 3... if None)."""
    ex = sym.bind(mx.cpu(), args={"data": mx.nd.array(x, dtype=x.dtype)},
                  args_grad={"data": mx.nd.zeros(x.shape, dtype=x.dtype)})
    out = ex.forward(is_train=True)[0]
    if head is None:
        head = np.arange(1, out.size + 1, dtype=x.dtype).reshape(out.shape)
    ex.backward([mx.nd.array(head, dtype=x.dtype)])
    return out.asnumpy(), ex.grad_dict["data"].asnumpy()


# -- Pooling forward -------------------------------------------------------------------------
POOL_CASES = [  # shape, kernel, stride, pad, convention
    ((2, 3, 7, 6), (3, 2), (2, 2), (1, 0), "valid"),
    ((2, 3, 7, 6), (3, 3), (2, 2), (1, 1), "full"),
    ((1, 2, 5, 5), (2, 2), (2, 2), (1, 1), "full"),  # windows lying wholly in padding
    ((2, 2, 8), (3,), (3,), (0,), "same"),
    ((1, 2, 5, 4, 6), (2, 3, 2), (2, 1, 2), (0, 1, 1), "full"),
    ((2, 2, 6, 6), (2, 2), (2, 2), (0, 0), "valid"),
    ((1, 1, 5, 5), (3, 3), (1, 1), (3, 3), "valid"),  # pad as large as the kernel
]


@pytest.mark.parametrize("pool_type", ["max", "avg", "sum"])
@pytest.mark.parametrize("shape,kernel,stride,pad,convention", POOL_CASES)
def test_pooling_matches_loop_reference(shape, kernel, stride, pad, convention,
                                        pool_type) -> None:  # type: ignore[no-untyped-def]
    x = RNG.normal(size=shape)
    sym = mx.sym.Pooling(data(), kernel=kernel, stride=stride, pad=pad, pool_type=pool_type,
                         pooling_convention=convention)
    expected = pool_ref(x, kernel, stride, pad, pool_type, convention)
    check_symbolic_forward(sym, {"data": x}, [expected], 1e-10, 1e-10)


@pytest.mark.parametrize("case", [POOL_CASES[1], POOL_CASES[2], POOL_CASES[4]])
def test_average_pooling_without_padding_in_the_count(case) -> None:  # type: ignore[no-untyped-def]
    shape, kernel, stride, pad, convention = case
    x = RNG.normal(size=shape)
    sym = mx.sym.Pooling(data(), kernel=kernel, stride=stride, pad=pad, pool_type="avg",
                         pooling_convention=convention, count_include_pad=False)
    expected = pool_ref(x, kernel, stride, pad, "avg", convention, include_pad=False)
    check_symbolic_forward(sym, {"data": x}, [expected], 1e-10, 1e-10)


@pytest.mark.parametrize("p_value", [1, 2, 3])
def test_lp_pooling_matches_loop_reference(p_value: int) -> None:
    x = RNG.normal(size=(2, 2, 6, 5))
    x[np.abs(x) < 0.2] = 0.5  # cube roots of sums near 0 are ill-conditioned
    sym = mx.sym.Pooling(data(), kernel=(2, 3), stride=(2, 1), pad=(1, 1), pool_type="lp",
                         p_value=p_value, pooling_convention="full")
    if p_value == 2:
        x = np.abs(x)
    expected = pool_ref(x, (2, 3), (2, 1), (1, 1), "lp", "full", p_value=p_value)
    check_symbolic_forward(sym, {"data": x}, [expected], 1e-10, 1e-10)


@pytest.mark.parametrize("pool_type", ["max", "avg", "sum", "lp"])
def test_global_pooling(pool_type: str) -> None:
    x = np.abs(RNG.normal(size=(2, 3, 4, 5))) + 0.1
    sym = mx.sym.Pooling(data(), kernel=(2, 2), pad=(1, 1), stride=(2, 2), global_pool=True,
                         pool_type=pool_type, p_value=2, pooling_convention="full")
    assert sym.infer_shape(data=x.shape)[1] == [(2, 3, 1, 1)]
    expected = pool_ref(x, pool_type=pool_type, global_pool=True)
    check_symbolic_forward(sym, {"data": x}, [expected], 1e-10, 1e-10)
    check_numeric_gradient(sym, {"data": x[:1, :2]}, dtype=np.float64)


# -- Pooling gradients -----------------------------------------------------------------------
GRAD_CASES = [  # kernel, stride, pad, convention, shape
    ((3, 3), (2, 2), (1, 1), "full", (1, 2, 5, 5)),
    ((3, 2), (2, 2), (0, 0), "full", (1, 1, 6, 5)),  # windows cut at the end
    ((3,), (2,), (1,), "valid", (2, 2, 7)),
    ((2, 2, 2), (1, 2, 2), (1, 0, 0), "full", (1, 1, 3, 4, 3)),
    ((2, 2), (1, 1), (0, 0), "valid", (1, 2, 4, 4)),  # overlapping windows
]


@pytest.mark.parametrize("pool_type,extra", [("max", {}), ("avg", {}), ("sum", {}),
                                             ("avg", {"count_include_pad": False}),
                                             ("lp", {"p_value": 2}), ("lp", {"p_value": 3})])
@pytest.mark.parametrize("kernel,stride,pad,convention,shape", GRAD_CASES)
def test_pooling_numeric_gradient(kernel, stride, pad, convention, shape, pool_type,
                                  extra) -> None:  # type: ignore[no-untyped-def]
    # distinct values well away from 0: no ties for max, no kinks for lp
    x = RNG.permutation(np.arange(1, np.prod(shape) + 1)).reshape(shape) / 7.0 + 0.05
    if pool_type == "lp" and extra["p_value"] == 3:
        x *= RNG.choice([-1.0, 1.0], shape)
    sym = mx.sym.Pooling(data(), kernel=kernel, stride=stride, pad=pad, pool_type=pool_type,
                         pooling_convention=convention, **extra)
    check_numeric_gradient(sym, {"data": x}, dtype=np.float64)


def test_max_pooling_gives_ties_to_the_first_maximum() -> None:
    x = np.ones((1, 1, 2, 4))
    _, grad = forward_backward(mx.sym.Pooling(data(), kernel=(2, 2), stride=(2, 2)), x)
    assert_almost_equal(grad, np.array([[[[1.0, 0, 2, 0], [0, 0, 0, 0]]]]))
    _, grad = forward_backward(mx.sym.Pooling(data(), kernel=(2, 4), global_pool=True), x)
    assert_almost_equal(grad, np.array([[[[1.0, 0, 0, 0], [0, 0, 0, 0]]]]))


# -- Pooling: values computed with MXNet 1.9.1 ------------------------------------------------
X5 = (np.arange(1, 26, dtype=np.float32).reshape(1, 1, 5, 5)
      * np.float32([1, -1, 1, -1, 1])) / 4


def test_full_average_pooling_without_pad_count_matches_mxnet() -> None:
    sym = mx.sym.Pooling(data(), kernel=(3, 3), stride=(2, 2), pad=(1, 1), pool_type="avg",
                         pooling_convention="full", count_include_pad=False)
    out, grad = forward_backward(sym, X5)
    assert_almost_equal(out, np.float32([[[[-0.125, -0.458333, 0.125],  # MXNet 1.9.1
                                           [-0.125, -1.083333, 0.125],
                                           [-0.125, -1.708333, 0.125]]]]), 1e-5, 1e-6)
    assert_almost_equal(grad, np.float32([[[[0.25, 0.583333, 0.333333, 1.083333, 0.75],
                                            [0.916667, 1.805556, 0.888889, 2.638889, 1.75],
                                            [0.666667, 1.222222, 0.555556, 1.555556, 1.0],
                                            [2.416667, 4.305556, 1.888889, 5.138889, 3.25],
                                            [1.75, 3.083333, 1.333333, 3.583333, 2.25]]]]),
                        1e-5, 1e-6)


def test_full_average_pooling_cuts_windows_past_the_padding_like_mxnet() -> None:
    """Windows running past the padding count only cells inside it, even with pad counting."""
    sym = mx.sym.Pooling(data(), kernel=(2, 2), stride=(2, 2), pool_type="avg",
                         pooling_convention="full")
    out, _ = forward_backward(sym, X5)
    assert_almost_equal(out, np.float32([[[[-0.125, -0.125, 1.875],  # MXNet 1.9.1
                                           [-0.125, -0.125, 4.375],
                                           [-0.125, -0.125, 6.25]]]]))
    padded = mx.sym.Pooling(data(), kernel=(2, 2), stride=(2, 2), pad=(1, 1), pool_type="avg",
                            pooling_convention="full")
    out, grad = forward_backward(padded, X5)
    assert_almost_equal(out, np.float32([[[[0.0625, 0.0625, 0.0625, 0],  # MXNet 1.9.1
                                           [1.0625, 0.125, 0.125, 0],
                                           [2.3125, 0.125, 0.125, 0],
                                           [0, 0, 0, 0]]]]))
    assert_almost_equal(grad[0, 0, :2], np.float32([[0.25, 0.5, 0.5, 0.75, 0.75],
                                                    [1.25, 1.5, 1.5, 1.75, 1.75]]))


def test_max_window_in_padding_gives_lowest_value_like_mxnet() -> None:
    sym = mx.sym.Pooling(data(), kernel=(2, 2), stride=(2, 2), pad=(1, 1),
                         pooling_convention="full")
    out, grad = forward_backward(sym, X5)
    low = LOWEST32
    assert_almost_equal(out, np.float32([[[[0.25, 0.75, 1.25, low],  # MXNet 1.9.1
                                           [2.75, 3.25, 3.75, low],
                                           [5.25, 5.75, 6.25, low],
                                           [low, low, low, low]]]]))
    assert_almost_equal(grad, np.float32([[[[1, 0, 2, 0, 3], [0, 0, 0, 0, 0],
                                            [5, 0, 6, 0, 7], [0, 0, 0, 0, 0],
                                            [9, 0, 10, 0, 11]]]]))


def test_lp_pooling_is_signed_and_matches_mxnet() -> None:
    """p=1 sums without absolute values; p=3 takes the cube root of a signed sum."""
    sym = mx.sym.Pooling(data(), kernel=(2, 2), stride=(2, 2), pad=(1, 1), pool_type="lp",
                         p_value=1)
    assert_almost_equal(forward_backward(sym, X5)[0],
                        np.float32([[[[0.25, 0.25, 0.25], [4.25, 0.5, 0.5],  # MXNet 1.9.1
                                      [9.25, 0.5, 0.5]]]]))
    sym = mx.sym.Pooling(data(), kernel=(2, 2), stride=(2, 2), pad=(1, 1), pool_type="lp",
                         p_value=3)
    out, grad = forward_backward(sym, X5)
    assert_almost_equal(out, np.float32([[[[0.25, 0.6671, 0.984124],  # MXNet 1.9.1
                                           [2.891368, 2.152188, 2.41551],
                                           [5.931661, 3.364738, 3.582236]]]]), 1e-5, 1e-5)
    assert_almost_equal(grad[0, 0, 0], np.float32([1.0, 1.123537, 2.527959, 3.097571, 4.839955]),
                        1e-5, 1e-5)


# -- Pooling shapes and errors ---------------------------------------------------------------
@pytest.mark.parametrize("convention,kernel,stride,pad,out", [  # MXNet 1.9.1 on (1, 1, 7, 7)
    ("valid", (3, 3), (2, 2), (0, 0), (3, 3)), ("valid", (3, 3), (2, 2), (1, 1), (4, 4)),
    ("valid", (2, 2), (2, 2), (0, 0), (3, 3)), ("full", (2, 2), (2, 2), (0, 0), (4, 4)),
    ("full", (3, 3), (3, 3), (1, 1), (3, 3)), ("full", (4, 4), (3, 3), (2, 2), (4, 4)),
    ("valid", (3, 3), (), (), (5, 5)), ("same", (3, 3), (2, 2), (), (4, 4)),
])
def test_pooling_output_shapes(convention, kernel, stride, pad, out) -> None:  # type: ignore[no-untyped-def]
    sym = mx.sym.Pooling(data(), kernel=kernel, stride=stride, pad=pad,
                         pooling_convention=convention, name="pool")
    assert sym.list_arguments() == ["data"] and sym.list_outputs() == ["pool_output"]
    assert sym.infer_shape(data=(1, 1, 7, 7))[1] == [(1, 1, *out)]


def test_pooling_partial_shapes() -> None:
    sym = mx.sym.Pooling(data(), kernel=(2, 2), pooling_convention="full", stride=(2, 2))
    assert sym.infer_shape_partial(data=(0, 3, 5, 0))[1] == [(0, 3, 3, 0)]
    assert mx.sym.Pooling(data(), kernel=(3,)).infer_shape(data=(1, 2, 7))[1] == [(1, 2, 5)]
    three_d = mx.sym.Pooling(data(), kernel=(3, 3, 3), stride=(2, 2, 2),
                             pooling_convention="full")
    assert three_d.infer_shape(data=(1, 2, 7, 8, 9))[1] == [(1, 2, 3, 4, 4)]  # MXNet 1.9.1


@pytest.mark.parametrize("params,shape,match", [
    (dict(), (1, 1, 4, 4), "kernel is required"),
    (dict(kernel=(3,)), (1, 2, 7, 7), "spatial axes"),
    (dict(kernel=(9, 9)), (1, 2, 7, 7), "exceeds"),
    (dict(kernel=(3, 3), stride=(2,)), (1, 2, 7, 7), "stride"),
    (dict(kernel=(2, 2), pool_type="lp"), (1, 1, 4, 4), "p_value"),
    (dict(kernel=(2, 2), pool_type="lp", p_value=4), (1, 1, 4, 4), "p_value 1, 2 or 3"),
    (dict(kernel=(3,), pad=(1,), pooling_convention="same"), (1, 1, 7), "pad must be 0"),
    (dict(kernel=(2, 2, 2, 2)), (1, 1, 4, 4, 4, 4), "3-D, 4-D or 5-D"),
    (dict(kernel=(2, 2), layout="NHWC"), (1, 4, 4, 1), "layout"),
])
def test_pooling_shape_errors(params, shape, match) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(mx.base.MXNetError, match=match):
        mx.sym.Pooling(data(), **params).infer_shape(data=shape)


def test_pooling_imperative_float32() -> None:
    x = RNG.normal(size=(2, 3, 6, 6)).astype(np.float32)
    out = mx.nd.Pooling(mx.nd.array(x), kernel=(2, 2), stride=(2, 2), pool_type="avg")
    assert out.dtype == np.float32
    assert_almost_equal(out, pool_ref(x, (2, 2), (2, 2), (0, 0), "avg"), 1e-5, 1e-6)


# -- UpSampling ------------------------------------------------------------------------------
def test_nearest_upsampling_repeats_cells() -> None:
    x = RNG.normal(size=(2, 3, 2, 4))
    sym = mx.sym.UpSampling(data(), scale=3, sample_type="nearest", name="up")
    assert sym.list_arguments() == ["data"]
    assert mx.sym.UpSampling(scale=2, sample_type="nearest", num_args=1,
                             name="up").list_arguments() == ["up_arg0"]  # MXNet 1.9.1
    expected = np.repeat(np.repeat(x, 3, axis=2), 3, axis=3)
    check_symbolic_forward(sym, {"data": x}, [expected])
    check_numeric_gradient(sym, {"data": x[:1, :2]}, dtype=np.float64)
    assert_almost_equal(mx.nd.UpSampling(mx.nd.array(x), scale=3, sample_type="nearest"),
                        expected, 1e-6, 1e-6)


def test_nearest_upsampling_concatenates_inputs_like_mxnet() -> None:
    """Each input is scaled to the first one's output size; channels are concatenated."""
    a = np.arange(24, dtype=np.float32).reshape(2, 2, 2, 3)
    b = -np.arange(48, dtype=np.float32).reshape(2, 1, 4, 6)
    sym = mx.sym.UpSampling(mx.sym.Variable("a"), mx.sym.Variable("b"), scale=2,
                            sample_type="nearest")
    assert sym.infer_shape(a=a.shape, b=b.shape)[1] == [(2, 3, 4, 6)]
    ex = sym.bind(mx.cpu(), args={"a": mx.nd.array(a), "b": mx.nd.array(b)},
                  args_grad={"a": mx.nd.zeros(a.shape), "b": mx.nd.zeros(b.shape)})
    out = ex.forward(is_train=True)[0].asnumpy()
    ex.backward([mx.nd.array(np.arange(out.size, dtype=np.float32).reshape(out.shape))])
    assert_almost_equal(out[0, 0, :2], np.float32([[0, 0, 1, 1, 2, 2], [0, 0, 1, 1, 2, 2]]))
    assert_almost_equal(out[:, 2:], b)
    assert_almost_equal(ex.grad_dict["a"].asnumpy()[0],  # MXNet 1.9.1
                        np.float32([[[14, 22, 30], [62, 70, 78]],
                                    [[110, 118, 126], [158, 166, 174]]]))
    assert_almost_equal(ex.grad_dict["b"].asnumpy()[0, 0],
                        np.arange(48, 72, dtype=np.float32).reshape(4, 6))


def test_nearest_upsampling_sum_mode_and_gradient() -> None:
    a, b = RNG.normal(size=(1, 2, 2, 3)), RNG.normal(size=(1, 2, 4, 6))
    sym = mx.sym.UpSampling(mx.sym.Variable("a"), mx.sym.Variable("b"), scale=2,
                            sample_type="nearest", multi_input_mode="sum")
    assert sym.infer_shape(a=a.shape, b=b.shape)[1] == [(1, 2, 4, 6)]
    expected = np.repeat(np.repeat(a, 2, axis=2), 2, axis=3) + b
    check_symbolic_forward(sym, {"a": a, "b": b}, [expected])
    check_numeric_gradient(sym, {"a": a, "b": b}, dtype=np.float64)
    concat = mx.sym.UpSampling(mx.sym.Variable("a"), mx.sym.Variable("b"), scale=2,
                               sample_type="nearest")
    check_numeric_gradient(concat, {"a": a, "b": b[:, :1]}, dtype=np.float64)


def test_nearest_upsampling_infers_its_input_from_the_output() -> None:
    up = mx.sym.UpSampling(data(), scale=2, sample_type="nearest")
    args, outs, _ = (up + mx.sym.Variable("other")).infer_shape(other=(2, 3, 8, 10))
    assert args == [(2, 3, 4, 5), (2, 3, 8, 10)] and outs == [(2, 3, 8, 10)]


@pytest.mark.parametrize("params,shapes,match", [
    (dict(), [(1, 2, 3, 3), (1, 3, 4, 4)], "integer scale"),  # MXNet 1.9.1 also rejects
    (dict(), [(1, 2, 3, 3), (1, 3, 12, 12)], "integer scale"),
    (dict(multi_input_mode="sum"), [(1, 2, 3, 3), (1, 3, 6, 6)], "channels"),
    (dict(), [(1, 2, 3, 3), (2, 3, 6, 6)], "batch"),
    (dict(), [(1, 2, 3)], "must be 4-D"),
])
def test_nearest_upsampling_shape_errors(params, shapes, match) -> None:  # type: ignore[no-untyped-def]
    names = [f"x{i}" for i in range(len(shapes))]
    sym = mx.sym.UpSampling(*[mx.sym.Variable(n) for n in names], scale=2,
                            sample_type="nearest", **params)
    with pytest.raises(mx.base.MXNetError, match=match):
        sym.infer_shape(**dict(zip(names, shapes)))


def test_bilinear_upsampling_is_a_grouped_deconvolution() -> None:
    x, w = RNG.normal(size=(1, 2, 3, 4)), RNG.normal(size=(2, 1, 5, 5))
    sym = mx.sym.UpSampling(data(), scale=3, sample_type="bilinear", num_filter=2, name="up")
    assert sym.list_arguments() == ["data", "up_weight"]
    args, outs, _ = sym.infer_shape(data=x.shape)
    assert args[1] == (2, 1, 5, 5) and outs == [(1, 2, 9, 12)]  # MXNet 1.9.1
    expected = mx.nd.Deconvolution(mx.nd.array(x, dtype="float64"),
                                   mx.nd.array(w, dtype="float64"), kernel=(5, 5),
                                   stride=(3, 3), pad=(1, 1), num_filter=2, num_group=2)
    check_symbolic_forward(sym, {"data": x, "up_weight": w}, [expected.asnumpy()])
    check_numeric_gradient(sym, {"data": x[:, :, :2, :2], "up_weight": w}, dtype=np.float64)
    with pytest.raises(mx.base.MXNetError, match="num_filter"):
        mx.sym.UpSampling(data(), scale=2, sample_type="bilinear", num_filter=3).infer_shape(
            data=(1, 2, 3, 4))

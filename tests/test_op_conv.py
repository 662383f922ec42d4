"""Convolution and Deconvolution against plain numpy loops, numeric gradients and MXNet values.

Values marked "MXNet 1.9.1" were computed by hand with MXNet 1.9.1 (CPU) on the same inputs.
"""

from __future__ import annotations

import itertools

import mxlite as mx
import mxlite_builtin_ops.conv as conv_module
import numpy as np
import pytest
from mxlite.test_utils import assert_almost_equal, check_numeric_gradient, check_symbolic_forward

#: every test here runs once per available backend (numpy, and "c" where built)
pytestmark = pytest.mark.usefixtures("each_backend")

RNG = np.random.default_rng(11)


# -- plain loop references -------------------------------------------------------------------
def conv_ref(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, stride: tuple, pad: tuple,
             dilate: tuple, groups: int) -> np.ndarray:
    """Direct convolution: one dot product per (sample, filter, output position)."""
    n_batch, chans = x.shape[:2]
    filters, kernel = w.shape[0], w.shape[2:]
    nd = len(kernel)
    xp = np.pad(x, [(0, 0), (0, 0)] + [(p, p) for p in pad])
    out_sp = [(xp.shape[2 + i] - dilate[i] * (kernel[i] - 1) - 1) // stride[i] + 1
              for i in range(nd)]
    y = np.zeros((n_batch, filters, *out_sp))
    cg, fg = chans // groups, filters // groups
    for n, f in itertools.product(range(n_batch), range(filters)):
        g = f // fg
        for o in itertools.product(*(range(v) for v in out_sp)):
            window = tuple(slice(o[i] * stride[i], o[i] * stride[i] + dilate[i] * (kernel[i] - 1)
                                 + 1, dilate[i]) for i in range(nd))
            y[(n, f, *o)] = np.sum(xp[(n, slice(g * cg, (g + 1) * cg), *window)] * w[f])
            if b is not None:
                y[(n, f, *o)] += b[f]
    return y


def deconv_ref(x: np.ndarray, w: np.ndarray, stride: tuple, pad: tuple, dilate: tuple,
               adj: tuple, groups: int) -> np.ndarray:
    """Transposed convolution by scattering: every input cell adds ``x * w`` at its window."""
    n_batch, chans = x.shape[:2]
    fg, kernel = w.shape[1], w.shape[2:]
    nd = len(kernel)
    full = [stride[i] * (x.shape[2 + i] - 1) + dilate[i] * (kernel[i] - 1) + 1 for i in range(nd)]
    out_sp = [full[i] - 2 * pad[i] + adj[i] for i in range(nd)]
    big = np.zeros((n_batch, fg * groups, *[max(full[i], pad[i] + out_sp[i]) for i in range(nd)]))
    cg = chans // groups
    for n, c in itertools.product(range(n_batch), range(chans)):
        g = c // cg
        for i in itertools.product(*(range(v) for v in x.shape[2:])):
            for k in itertools.product(*(range(v) for v in kernel)):
                pos = tuple(i[a] * stride[a] + k[a] * dilate[a] for a in range(nd))
                big[(n, slice(g * fg, (g + 1) * fg), *pos)] += x[(n, c, *i)] * w[(c, slice(None), *k)]
    return big[(..., *(slice(pad[i], pad[i] + out_sp[i]) for i in range(nd)))]


def data() -> mx.sym.Symbol:
    return mx.sym.Variable("data")


def run(sym: mx.sym.Symbol, **arrays: np.ndarray) -> np.ndarray:
    """Forward of ``sym`` (float64) at the given arguments."""
    ex = sym.bind(mx.cpu(), args={k: mx.nd.array(v, dtype="float64") for k, v in arrays.items()})
    return ex.forward()[0].asnumpy()


# -- Convolution -----------------------------------------------------------------------------
CONV_CASES = [  # data shape, kernel, stride, pad, dilate, groups, filters
    ((2, 3, 9), (3,), (2,), (1,), (2,), 1, 4),
    ((2, 4, 7, 6), (3, 2), (2, 1), (1, 0), (1, 2), 2, 6),
    ((1, 3, 6, 5), (2, 2), (1, 1), (0, 0), (1, 1), 1, 2),
    ((2, 2, 5, 6, 4), (2, 3, 2), (1, 2, 1), (1, 1, 0), (1, 1, 2), 2, 4),
    ((2, 6, 5, 5), (3, 3), (1, 1), (1, 1), (1, 1), 6, 6),  # depthwise
    ((1, 2, 4, 5, 4), (2, 2, 3), (1, 1, 1), (1, 0, 1), (2, 1, 1), 1, 3),
]


@pytest.mark.parametrize("shape,kernel,stride,pad,dilate,groups,filters", CONV_CASES)
def test_convolution_matches_loop_reference(shape, kernel, stride, pad, dilate, groups,
                                            filters) -> None:  # type: ignore[no-untyped-def]
    x = RNG.normal(size=shape)
    w = RNG.normal(size=(filters, shape[1] // groups, *kernel))
    b = RNG.normal(size=filters)
    sym = mx.sym.Convolution(data(), kernel=kernel, stride=stride, pad=pad, dilate=dilate,
                             num_group=groups, num_filter=filters, name="c")
    got = run(sym, data=x, c_weight=w, c_bias=b)
    assert_almost_equal(got, conv_ref(x, w, b, stride, pad, dilate, groups), 1e-10, 1e-10)


@pytest.fixture(params=["merged", "batched"])
def backward_layout(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test with each of the two backward strategies (chosen by output size)."""
    threshold = 10**9 if request.param == "merged" else 0
    monkeypatch.setattr(conv_module, "MERGE_BELOW_CELLS", threshold)
    return request.param


@pytest.mark.parametrize("case", [CONV_CASES[i] for i in (0, 1, 3, 4, 5)])
def test_convolution_numeric_gradient(case, backward_layout) -> None:  # type: ignore[no-untyped-def]
    shape, kernel, stride, pad, dilate, groups, filters = case
    shape = (1, *shape[1:3], *(min(s, 5) for s in shape[3:]))
    sym = mx.sym.Convolution(data(), kernel=kernel, stride=stride, pad=pad, dilate=dilate,
                             num_group=groups, num_filter=filters, name="c")
    loc = {"data": RNG.normal(size=shape),
           "c_weight": RNG.normal(size=(filters, shape[1] // groups, *kernel)),
           "c_bias": RNG.normal(size=filters)}
    check_numeric_gradient(sym, loc, dtype=np.float64)


def test_convolution_no_bias_and_float32() -> None:
    x = RNG.normal(size=(2, 3, 6, 6)).astype(np.float32)
    w = RNG.normal(size=(5, 3, 3, 3)).astype(np.float32)
    sym = mx.sym.Convolution(data(), kernel=(3, 3), num_filter=5, no_bias=True, name="c")
    assert sym.list_arguments() == ["data", "c_weight"]
    expected = conv_ref(x.astype(np.float64), w.astype(np.float64), None, (1, 1), (0, 0),
                        (1, 1), 1)
    check_symbolic_forward(sym, {"data": x, "c_weight": w}, [expected], rtol=1e-4, atol=1e-4)
    nd_out = mx.nd.Convolution(mx.nd.array(x), mx.nd.array(w), kernel=(3, 3), num_filter=5,
                               no_bias=True)
    assert nd_out.dtype == np.float32
    assert_almost_equal(nd_out, expected, 1e-4, 1e-4)


def test_small_workspace_splits_the_batch_with_same_results(backward_layout: str) -> None:
    """``workspace`` (MB) bounds the columns buffer: tiny values process one sample at a time."""
    x, w, b = RNG.normal(size=(5, 3, 6, 6)), RNG.normal(size=(4, 3, 3, 3)), RNG.normal(size=4)
    head = RNG.normal(size=(5, 4, 3, 3))
    grads = []
    for workspace in (1024, 0):
        sym = mx.sym.Convolution(data(), kernel=(3, 3), stride=(2, 2), pad=(1, 1), num_filter=4,
                                 workspace=workspace, name="c")
        args = {"data": x, "c_weight": w, "c_bias": b}
        ex = sym.bind(mx.cpu(), args={k: mx.nd.array(v, dtype="float64") for k, v in args.items()},
                      args_grad={k: mx.nd.zeros(v.shape, dtype="float64") for k, v in args.items()})
        out = ex.forward(is_train=True)[0].asnumpy()
        ex.backward([mx.nd.array(head, dtype="float64")])
        grads.append([out] + [ex.grad_dict[k].asnumpy() for k in args])
    for a, b_ in zip(*grads):
        assert_almost_equal(a, b_, 1e-12, 1e-12)


def test_convolution_infers_weight_bias_and_output_shapes() -> None:
    sym = mx.sym.Convolution(data(), kernel=(3, 3), stride=(2, 2), pad=(1, 1), dilate=(2, 2),
                             num_filter=4, name="conv")
    assert sym.list_arguments() == ["data", "conv_weight", "conv_bias"]
    assert sym.list_outputs() == ["conv_output"]
    args, outs, aux = sym.infer_shape(data=(2, 3, 9, 9))  # MXNet 1.9.1: same shapes
    assert args == [(2, 3, 9, 9), (4, 3, 3, 3), (4,)] and outs == [(2, 4, 4, 4)] and aux == []
    grouped = mx.sym.Convolution(data(), kernel=(3,), num_filter=6, num_group=3, name="g")
    assert grouped.infer_shape(data=(2, 9, 10))[0][1] == (6, 3, 3)
    three_d = mx.sym.Convolution(data(), kernel=(2, 3, 1), num_filter=2, name="v")
    assert three_d.infer_shape(data=(1, 2, 4, 5, 6))[1] == [(1, 2, 3, 3, 6)]
    assert sym.infer_type(data="float64")[0] == [np.float64] * 3


def test_convolution_partial_inference() -> None:
    sym = mx.sym.Convolution(data(), kernel=(3, 3), num_filter=4, name="c")
    args, outs, _ = sym.infer_shape_partial(data=(0, 3, 9, 9))
    assert args == [(0, 3, 9, 9), (4, 3, 3, 3), (4,)] and outs == [(0, 4, 7, 7)]
    args, outs, _ = sym.infer_shape_partial(c_weight=(4, 2, 3, 3))  # channels from the weight
    assert args[0] == (0, 2, 0, 0) and args[2] == (4,)


@pytest.mark.parametrize("params,shape,match", [
    (dict(kernel=(3, 3), num_filter=4, num_group=3), (2, 3, 9, 9), "divisible by num_group"),
    (dict(kernel=(3, 3), num_filter=4, num_group=2), (2, 3, 9, 9), "channels"),
    (dict(kernel=(3, 3), num_filter=4), (2, 3, 2, 9), "exceeds data"),
    (dict(kernel=(3, 3), num_filter=4), (2, 3, 9), "must be 4-D"),
    (dict(kernel=(3, 3), num_filter=4, stride=(2,)), (2, 3, 9, 9), "stride"),
    (dict(kernel=(3, 3), num_filter=4, layout="NHWC"), (2, 9, 9, 3), "layout 'NHWC'"),
    (dict(kernel=(3, 3), num_filter=4, layout="NCW"), (2, 3, 9, 9), "layout 'NCW'"),
])
def test_convolution_shape_errors(params, shape, match) -> None:  # type: ignore[no-untyped-def]
    sym = mx.sym.Convolution(data(), name="c", **params)
    with pytest.raises(mx.base.MXNetError, match=match):
        sym.infer_shape(data=shape)


def test_convolution_rejects_bad_parameters() -> None:
    with pytest.raises(mx.base.MXNetError, match="kernel"):
        mx.sym.Convolution(data(), kernel=(3, 3, 3, 3), num_filter=2)
    with pytest.raises(mx.base.MXNetError, match="num_filter"):
        mx.sym.Convolution(data(), kernel=(3, 3), num_filter=0)
    with pytest.raises(mx.base.MXNetError, match="cudnn_tune"):
        mx.sym.Convolution(data(), kernel=(3, 3), num_filter=2, cudnn_tune="slowest")


def test_convolution_legacy_parameters_load_from_json() -> None:
    """MXNet writes every parameter as a string; the GPU-only ones are accepted and ignored."""
    sym = mx.sym.Convolution(data(), kernel="(3, 3)", num_filter="2", workspace="512",
                             cudnn_tune="limited_workspace", cudnn_off="True", layout="NCHW",
                             pad="(1, 1)", name="c")
    loaded = mx.sym.load_json(sym.tojson())
    assert loaded.infer_shape(data=(1, 3, 5, 5))[1] == [(1, 2, 5, 5)]
    x, w, b = RNG.normal(size=(1, 3, 5, 5)), RNG.normal(size=(2, 3, 3, 3)), RNG.normal(size=2)
    assert_almost_equal(run(loaded, data=x, c_weight=w, c_bias=b),
                        conv_ref(x, w, b, (1, 1), (1, 1), (1, 1), 1), 1e-10, 1e-10)


# -- Deconvolution ---------------------------------------------------------------------------
DECONV_CASES = [  # data shape, kernel, stride, pad, dilate, adj, groups, filters
    ((2, 3, 4), (3,), (2,), (1,), (1,), (1,), 1, 2),
    ((1, 4, 3, 4), (3, 2), (2, 3), (1, 0), (1, 2), (0, 2), 2, 4),
    ((2, 2, 3, 3), (2, 2), (1, 1), (0, 0), (1, 1), (0, 0), 1, 3),
    ((1, 2, 2, 3, 2), (2, 2, 3), (2, 1, 2), (0, 1, 1), (1, 1, 1), (1, 0, 1), 2, 2),
    ((1, 2, 4, 3), (3, 2), (1, 1), (1, 1), (2, 1), (0, 0), 1, 2),
]


@pytest.mark.parametrize("shape,kernel,stride,pad,dilate,adj,groups,filters", DECONV_CASES)
def test_deconvolution_matches_loop_reference(shape, kernel, stride, pad, dilate, adj, groups,
                                              filters) -> None:  # type: ignore[no-untyped-def]
    x = RNG.normal(size=shape)
    w = RNG.normal(size=(shape[1], filters // groups, *kernel))
    b = RNG.normal(size=filters)
    sym = mx.sym.Deconvolution(data(), kernel=kernel, stride=stride, pad=pad, dilate=dilate,
                               adj=adj, num_group=groups, num_filter=filters, no_bias=False,
                               name="d")
    expected = deconv_ref(x, w, stride, pad, dilate, adj, groups)
    expected += b.reshape(-1, *[1] * len(kernel))
    assert_almost_equal(run(sym, data=x, d_weight=w, d_bias=b), expected, 1e-10, 1e-10)


@pytest.mark.parametrize("case", [DECONV_CASES[i] for i in (0, 1, 3, 4)])
def test_deconvolution_numeric_gradient(case) -> None:  # type: ignore[no-untyped-def]
    shape, kernel, stride, pad, dilate, adj, groups, filters = case
    sym = mx.sym.Deconvolution(data(), kernel=kernel, stride=stride, pad=pad, dilate=dilate,
                               adj=adj, num_group=groups, num_filter=filters, no_bias=False,
                               name="d")
    loc = {"data": RNG.normal(size=(1, *shape[1:])),
           "d_weight": RNG.normal(size=(shape[1], filters // groups, *kernel)),
           "d_bias": RNG.normal(size=filters)}
    check_numeric_gradient(sym, loc, dtype=np.float64)


def test_deconvolution_is_the_transpose_of_convolution() -> None:
    """<conv(x), y> == <x, deconv(y)> for the same weight, stride, pad and dilation."""
    x, y = RNG.normal(size=(2, 3, 9, 8)), RNG.normal(size=(2, 4, 5, 3))
    w = RNG.normal(size=(4, 3, 3, 2))
    geometry = dict(kernel=(3, 2), stride=(2, 3), pad=(1, 1), dilate=(1, 2))
    conv = run(mx.sym.Convolution(data(), num_filter=4, no_bias=True, name="c", **geometry),
               data=x, c_weight=w)
    deconv = run(mx.sym.Deconvolution(data(), num_filter=3, adj=(0, 1), name="d", **geometry),
                 data=y, d_weight=w)
    assert conv.shape == y.shape and deconv.shape == x.shape
    assert np.isclose(np.sum(conv * y), np.sum(x * deconv), rtol=1e-12)


X_SMALL = (np.arange(12).reshape(1, 2, 2, 3) % 5 - 2).astype(np.float32)


def test_deconvolution_adj_matches_mxnet() -> None:
    w = (np.arange(36).reshape(2, 2, 3, 3) % 7 - 3).astype(np.float32)
    out = mx.nd.Deconvolution(mx.nd.array(X_SMALL), mx.nd.array(w), kernel=(3, 3),
                              stride=(2, 2), pad=(1, 1), adj=(1, 1), num_filter=2)
    expected = [[[0, -3, -1, -5, -2, -1], [7, -4, -5, -1, 3, 1],  # MXNet 1.9.1
                 [-3, 6, 6, 9, 0, -3], [-1, 8, -8, -14, 5, 2]],
                [[-6, 3, -3, 2, 0, 1], [-7, -6, 7, 7, 6, -3],
                 [3, 5, 6, -11, -6, 5], [5, -14, -8, 8, -1, 3]]]
    assert_almost_equal(out, np.float32([expected]), 1e-6, 1e-6)


def test_deconvolution_target_shape_matches_mxnet() -> None:
    """target_shape (4, 8) needs an odd total padding on both axes: pad 1 and adj 1."""
    w = (np.arange(18).reshape(2, 1, 3, 3) % 5 - 2).astype(np.float32)
    sym = mx.sym.Deconvolution(data(), kernel=(3, 3), stride=(2, 3), target_shape=(4, 8),
                               num_filter=2, num_group=2, name="d")
    assert sym.infer_shape(data=(1, 2, 2, 3))[1] == [(1, 2, 4, 8)]
    expected = [[[-4, 4, -1, -2, 2, 0, 0, 0], [-1, -2, -3, -2, -1, 4, 2, 0],  # MXNet 1.9.1
                 [2, -2, 2, 4, -4, -2, -4, 4], [0, 1, -2, 0, 2, 2, 0, -2]],
                [[-1, -2, 0, 0, 0, 0, 1, 2], [-3, -2, -4, 4, 2, -4, 1, 1],
                 [2, 4, 0, -2, -4, 0, -1, -2], [-2, 0, 4, 2, 0, 2, 1, 0]]]
    check_symbolic_forward(sym, {"data": X_SMALL, "d_weight": w}, [np.float32([expected])])


def test_dilated_deconvolution_with_adj_past_the_padding_matches_mxnet() -> None:
    """adj (2) larger than pad (1): the last output cell lies past every window and is 0.

    The expected values are MXNet 1.9.1's default (MKL-DNN) result, which equals the
    gradient of the matching Convolution; its fallback CPU kernel gets dilation wrong here.
    """
    out = mx.nd.Deconvolution(mx.nd.array([[[1.0, -2.0, 3.0]]]), mx.nd.array([[[1.0, 2.0]]]),
                              kernel=(2,), stride=(3,), dilate=(2,), adj=(2,), pad=(1,),
                              num_filter=1)
    assert_almost_equal(out, np.float32([[[0, 2, -2, 0, -4, 3, 0, 6, 0]]]), 1e-6, 1e-6)


def test_deconvolution_shapes() -> None:
    sym = mx.sym.Deconvolution(data(), kernel=(3, 3), num_filter=4, num_group=2, name="d")
    assert sym.list_arguments() == ["data", "d_weight"]  # no bias by default
    args, outs, _ = sym.infer_shape(data=(2, 6, 5, 5))
    assert args[1] == (6, 2, 3, 3) and outs == [(2, 4, 7, 7)]  # MXNet 1.9.1
    cases = [(dict(stride=(2, 2), pad=(1, 1), adj=(1, 1)), (2, 4, 10, 10)),  # MXNet 1.9.1
             (dict(stride=(2, 2), dilate=(2, 2)), (2, 4, 13, 13)),
             (dict(stride=(2, 2), target_shape=(10, 11)), (2, 4, 10, 11)),
             (dict(stride=(2, 2), pad=(3, 3), adj=(1, 1), target_shape=(10, 11)), (2, 4, 10, 11)),
             (dict(stride=(2, 2), pad=(1, 1), target_shape=(0, 0)), (2, 4, 9, 9))]
    for params, out in cases:
        sym = mx.sym.Deconvolution(data(), kernel=(3, 3), num_filter=4, **params)
        assert sym.infer_shape(data=(2, 3, 5, 5))[1] == [out], params
    partial = mx.sym.Deconvolution(data(), kernel=(3,), num_filter=2, name="d")
    assert partial.infer_shape_partial(d_weight=(5, 2, 3))[0][0] == (0, 5, 0)


@pytest.mark.parametrize("params,match", [
    (dict(stride=(2, 2), pad=(1, 1), adj=(2, 2)), "adj 2 on axis 0 must be smaller"),
    (dict(stride=(2, 2), target_shape=(13, 11)), "too big"),
    (dict(target_shape=(6, 6)), "odd padding"),
    (dict(pad=(3, 3)), "leaves no output"),
    (dict(num_group=2), "divisible by num_group"),
])
def test_deconvolution_shape_errors(params, match) -> None:  # type: ignore[no-untyped-def]
    sym = mx.sym.Deconvolution(data(), kernel=(3, 3), num_filter=3, **params)
    with pytest.raises(mx.base.MXNetError, match=match):
        sym.infer_shape(data=(2, 4, 2, 2) if "pad" in params else (2, 4, 5, 5))

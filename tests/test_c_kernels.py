"""The C kernel pack (backend "c"): every kernel against the numpy reference kernel, forward
and backward, on random shapes with odd sizes and non-contiguous inputs; kernel choice at bind;
the fused optimizer updates; the pack's configuration and its "unavailable" path.

Skipped (with the reason) when the pack is not built.
"""

from __future__ import annotations

import os
from math import prod
from typing import Any

import mxlite as mx
import numpy as np
import pytest
from mxlite.__main__ import _report
from mxlite.base import MXNetValueError
from mxlite.registry import Kernel, get_registry

try:
    import mxlite_c_kernels as ck
except ImportError as err:  # not installed at all (e.g. mxlite installed from an old wheel)
    pytest.skip(f"C kernel pack not installed: {err}", allow_module_level=True)
if not ck.available():
    pytest.skip(f"C kernel pack not built: {ck.UNAVAILABLE_REASON}", allow_module_level=True)

from mxlite_c_kernels import _blas, _lib, optim

F32, F64 = np.dtype(np.float32), np.dtype(np.float64)
#: tolerance on max |c - numpy| / max |numpy| per array
RTOL = {F32: 1e-5, F64: 1e-10}


# -- helpers -----------------------------------------------------------------------------------
def noncontiguous(a: np.ndarray) -> np.ndarray:
    """The same values in a non-C-contiguous layout."""
    if a.ndim >= 2:
        return np.asfortranarray(a)
    wide = np.empty(2 * a.size, a.dtype)
    wide[::2] = a
    return wide[::2]


def assert_close(got: np.ndarray, want: np.ndarray, what: str) -> None:
    assert got.shape == want.shape, what
    scale = max(float(np.abs(want).max(initial=0.0)), 1e-30)
    err = float(np.abs(got.astype(np.float64) - want).max(initial=0.0))
    assert err <= RTOL[want.dtype] * scale, f"{what}: max error {err:.3g} vs max {scale:.3g}"


def kernels(op: str) -> tuple[Kernel, Kernel]:
    kernel = get_registry().get(op).kernels
    return kernel["c"], kernel["numpy"]


def random_inputs(rng: np.random.Generator, shapes: list, dtype: np.dtype,
                  ints: dict[int, int] | None = None) -> list[np.ndarray]:
    arrays = []
    for i, shape in enumerate(shapes):
        if ints and i in ints:  # class indices below ints[i]
            arrays.append(rng.integers(0, ints[i], shape).astype(dtype))
        else:
            arrays.append(rng.uniform(-1.5, 1.5, shape).astype(dtype))
    return arrays


def compare(op: str, attrs: dict, shapes: list, dtype: Any = F32, *, seed: int = 0,
            contiguous: bool = True, is_train: bool = True, ints: dict[int, int] | None = None,
            positive: tuple[int, ...] = (), backward: bool = True) -> None:
    """Run the C and numpy kernels of ``op`` on the same random data and compare every output,
    aux state and gradient."""
    dtype = np.dtype(dtype)
    opdef = get_registry().get(op)
    p = opdef.parse_params(attrs)
    n_out, n_aux = len(opdef.output_names(p)), len(opdef.aux_names(p))
    given = list(shapes) + [None] * (len(opdef.input_names(p)) - len(shapes))
    ins_shapes, out_shapes, aux_shapes = opdef.infer_shape(p, given, [None] * n_out,
                                                           [None] * n_aux)
    rng = np.random.default_rng(seed)
    ins = random_inputs(rng, ins_shapes, dtype, ints)
    for i in positive:
        ins[i] = np.abs(ins[i]) + 0.5
    aux = [rng.uniform(0.5, 1.5, s).astype(dtype) for s in aux_shapes]
    if not contiguous:
        ins = [noncontiguous(a) for a in ins]
    c_kernel, np_kernel = kernels(op)
    results = []
    for kernel in (c_kernel, np_kernel):
        k_ins = [a.copy(order="K") for a in ins]
        k_outs = [np.zeros(s, dtype) for s in out_shapes]
        k_aux = [a.copy() for a in aux]
        kernel.forward(p, k_ins, k_outs, k_aux, is_train)
        results.append((k_ins, k_outs, k_aux))
    (c_ins, c_outs, c_aux), (n_ins, n_outs, n_aux_after) = results
    for i, (got, want) in enumerate(zip(c_outs, n_outs)):
        assert_close(got, want, f"{op} {attrs} output {i}")
    for i, (got, want) in enumerate(zip(c_aux, n_aux_after)):
        assert_close(got, want, f"{op} {attrs} aux {i}")
    if not backward or not opdef.has_gradient:
        return
    visible = opdef.num_visible(p)
    og = [rng.uniform(-1, 1, s).astype(dtype) if k < visible else None
          for k, s in enumerate(out_shapes)]
    if not contiguous:
        og = [None if g is None else noncontiguous(g) for g in og]
    grads = []
    for kernel, (k_ins, k_outs, k_aux) in ((c_kernel, (c_ins, n_outs, c_aux)),
                                           (np_kernel, (n_ins, n_outs, n_aux_after))):
        in_grads = [np.full(a.shape, np.nan, dtype) for a in ins]
        kernel.backward(p, og, k_ins, [o.copy() for o in k_outs], in_grads, k_aux)
        grads.append(in_grads)
    for i, (got, want) in enumerate(zip(*grads)):
        assert_close(got, want, f"{op} {attrs} gradient of input {i}")


def odd_shape(rng: np.random.Generator, ndim: int, low: int = 1, high: int = 9) -> tuple:
    return tuple(int(v) for v in rng.integers(low, high, ndim))


# -- layers ------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("contiguous", [True, False])
def test_fully_connected(seed: int, contiguous: bool) -> None:
    rng = np.random.default_rng(seed)
    batch, rest = int(rng.integers(1, 40)), odd_shape(rng, 2)
    compare("FullyConnected", {"num_hidden": int(rng.integers(1, 70))}, [(batch, *rest)],
            seed=seed, contiguous=contiguous)
    compare("FullyConnected", {"num_hidden": 7, "no_bias": True, "flatten": False},
            [(batch, 3, 13)], F64, seed=seed, contiguous=contiguous)


@pytest.mark.parametrize("act", ["relu", "sigmoid", "tanh", "softrelu", "softsign"])
@pytest.mark.parametrize("dtype", [F32, F64])
def test_activation(act: str, dtype: np.dtype) -> None:
    compare("Activation", {"act_type": act}, [(5, 7, 3)], dtype)
    compare("Activation", {"act_type": act}, [(400, 401)], dtype, contiguous=False)  # parallel


def test_activation_extremes_stay_finite_and_close() -> None:
    c_kernel, np_kernel = kernels("Activation")
    x = np.array([-200, -90, -20, -1e-4, 0, 1e-6, 0.6, 0.7, 20, 90, 200], np.float32)
    for act in ("sigmoid", "tanh"):
        p = get_registry().get("Activation").parse_params({"act_type": act})
        got, want = np.empty_like(x), np.empty_like(x)
        c_kernel.forward(p, [x], [got], [], True)
        with np.errstate(over="ignore"):  # numpy's sigmoid overflows exp(200) on the way
            np_kernel.forward(p, [x], [want], [], True)
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-30)


@pytest.mark.parametrize("threads", [1, 2])
def test_c_tanh_is_within_4e7_of_tanh_everywhere(threads: int) -> None:
    x = np.concatenate([np.linspace(-12, 12, 200001), [0.0, -0.0, 1e-30, 3.9e-4, 4e-4, 7.9053,
                                                       7.9054, 1e30, -1e30]]).astype(np.float32)
    y = np.empty_like(x)
    _lib.func("ck_act_fwd", F32)(_lib.ptr(x), _lib.ptr(y), x.size, 2, 0.0, threads)
    assert np.abs(y - np.tanh(x.astype(np.float64))).max() <= 4e-7
    assert np.signbit(y[200002]) and y[-2] == 1 and y[-1] == -1
    special = np.array([np.inf, -np.inf, np.nan], np.float32)
    _lib.func("ck_act_fwd", F32)(_lib.ptr(special), _lib.ptr(y[:3]), 3, 2, 0.0, 1)
    assert y[0] == 1 and y[1] == -1 and np.isnan(y[2])


@pytest.mark.parametrize("act,extra", [("leaky", {"slope": 0.1}), ("elu", {"slope": 0.7}),
                                       ("selu", {}), ("prelu", {}), ("gelu", {})])
@pytest.mark.parametrize("contiguous", [True, False])
def test_leaky_relu(act: str, extra: dict, contiguous: bool) -> None:
    compare("LeakyReLU", {"act_type": act, **extra}, [(3, 5, 4, 3)], contiguous=contiguous)
    compare("LeakyReLU", {"act_type": act, **extra}, [(64, 33, 70)], F64)  # parallel


def test_prelu_with_one_slope() -> None:
    compare("LeakyReLU", {"act_type": "prelu"}, [(4, 6, 5), (1,)])
    compare("LeakyReLU", {"act_type": "prelu"}, [(80, 60, 30), (1,)], F64)  # float32 sums differ


# -- convolution -----------------------------------------------------------------------------------
CONV_CASES = [
    ((2, 3, 9), {"kernel": (3,), "num_filter": 4}),
    ((3, 4, 11, 7), {"kernel": (3, 2), "num_filter": 6, "stride": (2, 1), "pad": (1, 2)}),
    ((2, 6, 9, 10), {"kernel": (3, 3), "num_filter": 4, "num_group": 2, "dilate": (2, 1)}),
    ((2, 2, 5, 6, 7), {"kernel": (2, 3, 2), "num_filter": 3, "pad": (1, 0, 1), "stride": (1, 2, 2)}),
    ((3, 1, 21, 19), {"kernel": (5, 5), "num_filter": 5, "pad": (2, 2)}),  # batch-major columns
    ((5, 3, 7, 7), {"kernel": (3, 3), "num_filter": 2, "no_bias": True, "workspace": 0}),
]


@pytest.mark.parametrize("shape,attrs", CONV_CASES)
@pytest.mark.parametrize("contiguous", [True, False])
def test_convolution(shape: tuple, attrs: dict, contiguous: bool) -> None:
    compare("Convolution", attrs, [shape], contiguous=contiguous)


@pytest.mark.parametrize("shape,attrs", CONV_CASES)
@pytest.mark.parametrize("threads", [1, 3])
def test_convolution_batch_chunks_with_any_thread_count(shape: tuple, attrs: dict,
                                                        threads: int) -> None:
    """Chunks shared among 1 or 3 threads (more threads than chunks, uneven shares); the weight
    gradient's partial sums add up."""
    with mx.config.override(c_kernels__num_threads=threads):
        compare("Convolution", attrs, [shape], seed=threads)
        compare("Convolution", {**attrs, "workspace": 0}, [shape], F64, seed=threads)


def test_convolution_weight_gradient_runs_of_chunks_add_up_the_same_every_time() -> None:
    """A chunk per sample (workspace 0), 26 chunks dealt into 8 runs of 3 or 4 for 2 threads:
    the runs' partial sums match numpy, and the sum does not depend on which thread took
    which run (the threads take runs as they finish, so repeated calls would differ if it did)."""
    shape, attrs = (26, 3, 9, 8), {"kernel": (3, 3), "num_filter": 4, "workspace": 0}
    with mx.config.override(c_kernels__num_threads=2):
        compare("Convolution", attrs, [shape])
        c_kernel, _ = kernels("Convolution")
        p = get_registry().get("Convolution").parse_params(attrs)
        rng = np.random.default_rng(1)
        x, w, b = (rng.uniform(-1, 1, s).astype(F32) for s in (shape, (4, 3, 3, 3), (4,)))
        dy = rng.uniform(-1, 1, (26, 4, 7, 6)).astype(F32)
        weight_grads = set()
        for _ in range(20):
            grads = [np.zeros_like(a) for a in (x, w, b)]
            c_kernel.backward(p, [dy], [x, w, b], [np.zeros_like(dy)], grads, [])
            weight_grads.add(grads[1].tobytes())
        assert len(weight_grads) == 1


@pytest.mark.parametrize("shape,attrs", CONV_CASES)
def test_convolution_without_the_blas_path(shape: tuple, attrs: dict,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Where numpy's OpenBLAS is not found: GEMMs through numpy.matmul, chunks in Python."""
    monkeypatch.setattr(_blas, "AVAILABLE", False)
    compare("Convolution", attrs, [shape])


def test_convolution_float64_and_random_shapes() -> None:
    rng = np.random.default_rng(5)
    for seed in range(4):
        h, w = int(rng.integers(5, 30)), int(rng.integers(5, 30))
        k = int(rng.integers(1, 5))
        compare("Convolution", {"kernel": (k, k), "num_filter": int(rng.integers(1, 9)),
                                "stride": (int(rng.integers(1, 3)),) * 2},
                [(int(rng.integers(1, 6)), int(rng.integers(1, 5)), h, w)], F64, seed=seed)


DECONV_CASES = [
    ((2, 3, 5), {"kernel": (3,), "num_filter": 4, "stride": (2,)}),
    ((2, 4, 5, 4), {"kernel": (3, 3), "num_filter": 6, "stride": (2, 2), "pad": (1, 1),
                    "adj": (1, 0), "num_group": 2, "no_bias": False}),
    ((1, 3, 6, 5), {"kernel": (4, 4), "num_filter": 2, "stride": (2, 2),
                    "target_shape": (12, 11)}),
    ((2, 2, 4, 3), {"kernel": (3, 2), "num_filter": 3, "dilate": (2, 2), "pad": (1, 0)}),
    ((2, 3, 17, 16), {"kernel": (2, 2), "num_filter": 2, "stride": (2, 2), "no_bias": False}),
    ((2, 2, 3, 4, 3), {"kernel": (2, 2, 2), "num_filter": 2, "stride": (2, 1, 2)}),
]


@pytest.mark.parametrize("shape,attrs", DECONV_CASES)
@pytest.mark.parametrize("contiguous", [True, False])
def test_deconvolution(shape: tuple, attrs: dict, contiguous: bool) -> None:
    compare("Deconvolution", attrs, [shape], contiguous=contiguous)
    compare("Deconvolution", attrs, [shape], F64, seed=1)


# -- pooling -------------------------------------------------------------------------------------
POOL_CASES = [
    ((2, 3, 9, 8), {"kernel": (2, 2), "stride": (2, 2)}),
    ((2, 3, 9, 8), {"kernel": (3, 3), "stride": (2, 2), "pad": (1, 1)}),
    ((2, 2, 7, 10), {"kernel": (3, 2), "stride": (2, 3), "pooling_convention": "full"}),
    ((2, 2, 7, 10), {"kernel": (3, 3), "stride": (2, 2), "pooling_convention": "same"}),
    ((2, 2, 11), {"kernel": (4,), "stride": (3,), "pad": (2,)}),
    ((1, 2, 5, 6, 7), {"kernel": (2, 3, 2), "stride": (2, 2, 2), "pad": (1, 1, 0)}),
    ((3, 4, 5, 7), {"global_pool": True, "kernel": (1, 1)}),
]


@pytest.mark.parametrize("pool_type", ["max", "avg", "sum"])
@pytest.mark.parametrize("shape,attrs", POOL_CASES)
def test_pooling(pool_type: str, shape: tuple, attrs: dict) -> None:
    compare("Pooling", {**attrs, "pool_type": pool_type}, [shape])
    compare("Pooling", {**attrs, "pool_type": pool_type}, [shape], F64, contiguous=False, seed=2)


def test_pooling_avg_without_padding_count_and_large_batch() -> None:
    compare("Pooling", {"kernel": (3, 3), "stride": (2, 2), "pad": (1, 1), "pool_type": "avg",
                        "count_include_pad": False}, [(3, 5, 9, 9)])
    compare("Pooling", {"kernel": (2, 2), "stride": (2, 2), "pool_type": "max"},
            [(64, 20, 24, 24)])


def test_max_pooling_ties_and_padding_go_to_the_first_maximum() -> None:
    x = np.zeros((1, 1, 4, 4), np.float32)
    x[0, 0, 1, 1] = x[0, 0, 1, 2] = 1.0  # a tie inside one window
    for attrs in ({"kernel": (2, 2), "stride": (1, 1)},
                  {"kernel": (3, 3), "stride": (2, 2), "pad": (1, 1)}):
        p = get_registry().get("Pooling").parse_params(attrs)
        c_kernel, np_kernel = kernels("Pooling")
        out_shape = get_registry().get("Pooling").infer_shape(p, [x.shape], [None], [])[1][0]
        got = []
        for kernel in (c_kernel, np_kernel):
            y, dx = np.empty(out_shape, np.float32), np.empty_like(x)
            kernel.forward(p, [x], [y], [], True)
            kernel.backward(p, [np.ones_like(y)], [x], [y], [dx], [])
            got.append((y, dx))
        np.testing.assert_array_equal(got[0][0], got[1][0])
        np.testing.assert_array_equal(got[0][1], got[1][1])


def test_lp_pooling_uses_the_numpy_kernel() -> None:
    compare("Pooling", {"kernel": (2, 2), "stride": (2, 2), "pool_type": "lp", "p_value": 2},
            [(2, 2, 6, 6)], positive=(0,))


# -- BatchNorm -----------------------------------------------------------------------------------
@pytest.mark.parametrize("attrs", [
    {}, {"fix_gamma": False}, {"fix_gamma": False, "use_global_stats": True},
    {"fix_gamma": False, "axis": -1, "output_mean_var": True}, {"axis": 0, "momentum": 0.5},
])
@pytest.mark.parametrize("is_train", [True, False])
@pytest.mark.parametrize("dtype", [F32, F64])
def test_batch_norm(attrs: dict, is_train: bool, dtype: np.dtype) -> None:
    compare("BatchNorm", attrs, [(6, 5, 3, 4)], dtype, is_train=is_train)
    compare("BatchNorm", attrs, [(7, 3, 9)], dtype, is_train=is_train, contiguous=False, seed=3)


def test_batch_norm_large_parallel_and_float16_fallback() -> None:
    compare("BatchNorm", {"fix_gamma": False}, [(64, 16, 12, 12)])
    opdef = get_registry().get("BatchNorm")
    p = opdef.parse_params({})
    x = np.random.default_rng(0).uniform(-1, 1, (4, 3, 2)).astype(np.float16)
    outs_c = [np.empty_like(x), np.empty(3, np.float32), np.empty(3, np.float32)]
    outs_n = [np.empty_like(x), np.empty(3, np.float32), np.empty(3, np.float32)]
    stats = [np.zeros(3, np.float32), np.ones(3, np.float32)]
    gamma, beta = np.ones(3, np.float32), np.zeros(3, np.float32)
    kernels("BatchNorm")[0].forward(p, [x, gamma, beta], outs_c, [s.copy() for s in stats], True)
    kernels("BatchNorm")[1].forward(p, [x, gamma, beta], outs_n, [s.copy() for s in stats], True)
    np.testing.assert_array_equal(outs_c[0], outs_n[0])


# -- softmax family ------------------------------------------------------------------------------
@pytest.mark.parametrize("op", ["softmax", "log_softmax", "softmin"])
@pytest.mark.parametrize("attrs", [{}, {"axis": 0}, {"axis": 1, "temperature": 2.5}])
def test_softmax_family(op: str, attrs: dict) -> None:
    compare(op, attrs, [(4, 7, 5)])
    compare(op, attrs, [(3, 9, 2)], F64, contiguous=False)


def test_softmax_activation_and_length_fallback() -> None:
    compare("SoftmaxActivation", {"mode": "channel"}, [(3, 5, 4)])
    compare("SoftmaxActivation", {}, [(64, 10)], contiguous=False)
    compare("softmax", {}, [(3000, 17)])  # parallel rows
    compare("softmax", {"use_length": True, "axis": 1}, [(3, 6), (3,)], ints={1: 7})


@pytest.mark.parametrize("attrs", [
    {}, {"normalization": "batch", "grad_scale": 0.5}, {"use_ignore": True, "ignore_label": 2},
    {"normalization": "valid", "use_ignore": True, "ignore_label": 0}, {"smooth_alpha": 0.2},
    {"out_grad": True}, {"preserve_shape": True}, {"multi_output": True},
])
def test_softmax_output(attrs: dict) -> None:
    shape = (4, 5, 3) if attrs.get("multi_output") or attrs.get("preserve_shape") else (9, 7)
    classes = shape[1] if attrs.get("multi_output") else shape[-1]
    label_shape = (4, 3) if attrs.get("multi_output") else shape[:-1]
    compare("SoftmaxOutput", attrs, [shape, label_shape], ints={1: classes})
    compare("SoftmaxOutput", attrs, [shape, label_shape], F64, ints={1: classes},
            contiguous=False)


def test_softmax_output_probability_target_and_bad_label() -> None:
    compare("SoftmaxOutput", {}, [(5, 4), (5, 4)])
    opdef = get_registry().get("SoftmaxOutput")
    p = opdef.parse_params({})
    prob = np.full((2, 3), 1 / 3, np.float32)
    with pytest.raises(MXNetValueError, match="label 3 is out of range for 3 classes"):
        kernels("SoftmaxOutput")[0].backward(p, [None], [prob, np.array([0, 3], np.float32)],
                                             [prob], [np.empty_like(prob), None], [])


# -- element-wise and reductions ----------------------------------------------------------------
BINARY = ["elemwise_add", "elemwise_sub", "elemwise_mul", "elemwise_div", "_maximum", "_minimum"]
BROADCAST = ["broadcast_add", "broadcast_sub", "broadcast_mul", "broadcast_div",
             "broadcast_maximum", "broadcast_minimum"]


@pytest.mark.parametrize("op", BINARY)
def test_elementwise_binary(op: str) -> None:
    compare(op, {}, [(3, 5, 7), (3, 5, 7)], positive=(1,) if "div" in op else ())
    compare(op, {}, [(400, 401), (400, 401)], F64, contiguous=False,
            positive=(1,) if "div" in op else ())


@pytest.mark.parametrize("op", BROADCAST)
@pytest.mark.parametrize("shapes", [
    [(4, 5, 6), (4, 5, 6)], [(4, 5, 6), (1, 5, 1)], [(4, 1, 6), (5, 1)], [(7,), (3, 2, 7)],
    [(1, 1), (3, 4)], [(40, 1, 33), (1, 50, 33)],
])
def test_broadcast_binary(op: str, shapes: list) -> None:
    compare(op, {}, shapes, positive=(1,) if "div" in op else ())
    compare(op, {}, shapes, F64, contiguous=False, positive=(1,) if "div" in op else (), seed=4)


def test_maximum_ties_send_the_gradient_to_the_left() -> None:
    c_kernel, np_kernel = kernels("broadcast_maximum")
    p = get_registry().get("broadcast_maximum").parse_params({})
    lhs, rhs = np.array([[1.0, 2.0], [3.0, 3.0]], np.float32), np.array([2.0, 3.0], np.float32)
    grads = []
    for kernel in (c_kernel, np_kernel):
        out = np.empty_like(lhs)
        kernel.forward(p, [lhs, rhs], [out], [], True)
        g = [np.empty_like(lhs), np.empty_like(rhs)]
        kernel.backward(p, [np.ones_like(lhs)], [lhs, rhs], [out], g, [])
        grads.append(g)
    for got, want in zip(*grads):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("op", ["sum", "mean", "max", "min"])
@pytest.mark.parametrize("attrs", [
    {}, {"axis": (1,)}, {"axis": (0, 2)}, {"axis": (-1,), "keepdims": True},
    {"axis": (1,), "exclude": True}, {"axis": (0, 1, 3)},
])
def test_reductions(op: str, attrs: dict) -> None:
    compare(op, attrs, [(4, 5, 6, 3)])
    compare(op, attrs, [(3, 1, 7, 2)], F64, contiguous=False)


def test_large_reduction_runs_in_parallel() -> None:
    compare("sum", {"axis": (0,)}, [(600, 257)])
    compare("max", {"axis": (1,)}, [(600, 257)])


# -- optimizer updates ------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [F32, F64])
@pytest.mark.parametrize("kwargs", [
    {"learning_rate": 0.1}, {"learning_rate": 0.05, "momentum": 0.9, "wd": 1e-3},
    {"learning_rate": 0.3, "momentum": 0.5, "rescale_grad": 1 / 64, "clip_gradient": 0.01},
])
def test_sgd_update_matches_the_optimizer_bitwise(dtype: np.dtype, kwargs: dict) -> None:
    rng = np.random.default_rng(1)
    w0, g = rng.normal(size=(37, 11)).astype(dtype), rng.normal(size=(37, 11)).astype(dtype)
    opt = mx.optimizer.SGD(**kwargs)
    opt._fused = {"sgd": None}  # the optimizer's own numpy code, whatever the backend order
    weight, state = mx.nd.array(w0, dtype=dtype), opt.create_state(0, mx.nd.array(w0, dtype=dtype))
    w, mom = w0.copy(), None if state is None else np.zeros_like(w0)
    for _ in range(3):
        opt.update(0, weight, mx.nd.array(g, dtype=dtype), state)
        assert optim.sgd_update(w, g, mom, kwargs["learning_rate"], kwargs.get("wd", 0.0),
                                kwargs.get("rescale_grad", 1.0), kwargs.get("clip_gradient"),
                                kwargs.get("momentum", 0.0))
    np.testing.assert_array_equal(w, weight.asnumpy())
    if mom is not None:
        np.testing.assert_array_equal(mom, state.asnumpy())


@pytest.mark.parametrize("dtype", [F32, F64])
@pytest.mark.parametrize("kwargs", [{}, {"wd": 0.01, "clip_gradient": 0.5, "rescale_grad": 0.5}])
def test_adam_update_matches_the_optimizer_bitwise(dtype: np.dtype, kwargs: dict) -> None:
    rng = np.random.default_rng(2)
    w0, g = rng.normal(size=(301,)).astype(dtype), rng.normal(size=(301,)).astype(dtype)
    opt = mx.optimizer.Adam(learning_rate=0.01, **kwargs)
    opt._fused = {"adam": None}  # the optimizer's own numpy code, whatever the backend order
    weight = mx.nd.array(w0, dtype=dtype)
    state = opt.create_state(0, weight)
    w, mean, var = w0.copy(), np.zeros_like(w0), np.zeros_like(w0)
    for t in range(1, 4):
        opt.update(0, weight, mx.nd.array(g, dtype=dtype), state)
        lr = 0.01 * np.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t)
        assert optim.adam_update(w, g, mean, var, lr, kwargs.get("wd", 0.0),
                                 kwargs.get("rescale_grad", 1.0), kwargs.get("clip_gradient"),
                                 0.9, 0.999, 1e-8)
    np.testing.assert_array_equal(w, weight.asnumpy())
    np.testing.assert_array_equal(var, state[1].asnumpy())


def test_updates_refuse_what_they_cannot_run() -> None:
    w = np.zeros(4, np.float16)
    assert not optim.sgd_update(w, w.copy(), None, 0.1, 0.0, 1.0, None, 0.0)
    w32 = np.zeros((4, 4), np.float32)
    assert not optim.sgd_update(w32, np.zeros((4, 4), np.float32).T, None, 0.1, 0.0, 1.0, None, 0)
    assert not optim.adam_update(w32, w32.copy(), w32.copy(), np.zeros(3, np.float32), 0.1, 0, 1,
                                 None, 0.9, 0.999, 1e-8)


def test_optimizers_use_the_fused_updates_when_c_is_in_the_backend_order() -> None:
    with mx.config.override(backends__order=["numpy"]):
        assert mx.optimizer.SGD().fused_update("sgd") is None
    with mx.config.override(backends__order=["c", "numpy"]):
        assert mx.optimizer.SGD().fused_update("sgd").func is optim.sgd_update
        assert mx.optimizer.Adam().fused_update("adam").func is optim.adam_update
    with mx.config.override(backends__order=["c"], c_kernels__num_threads=1):
        assert mx.optimizer.SGD().fused_update("sgd").keywords == {"nt": 1}  # read once
    assert ("sgd", "c") in get_registry().plugins["c_kernels"].update_kernels


@pytest.mark.parametrize("name, kwargs", [("sgd", {"momentum": 0.9, "wd": 1e-3}),
                                           ("adam", {"wd": 1e-3})])
def test_module_training_is_the_same_through_the_fused_updates(name: str, kwargs: dict) -> None:
    def train(order: list[str]) -> np.ndarray:
        with mx.config.override(backends__order=order):
            opt = mx.optimizer.create(name, learning_rate=0.05, rescale_grad=0.25, **kwargs)
            updater = mx.optimizer.get_updater(opt)
            rng = np.random.default_rng(3)
            w = mx.nd.array(rng.normal(size=(40, 7)))
            for _ in range(4):
                updater(0, mx.nd.array(rng.normal(size=(40, 7))), w)
            return w.asnumpy()
    np.testing.assert_array_equal(train(["c"]), train(["numpy"]))


# -- binding, fallback, configuration ---------------------------------------------------------------
def lenet_ish() -> mx.sym.Symbol:
    net = mx.sym.Convolution(mx.sym.Variable("data"), kernel=(3, 3), num_filter=4, name="conv")
    net = mx.sym.Activation(net, act_type="relu", name="act")
    net = mx.sym.Pooling(net, kernel=(2, 2), stride=(2, 2), name="pool")
    net = mx.sym.Flatten(net, name="flat")
    net = mx.sym.FullyConnected(net, num_hidden=5, name="fc")
    return mx.sym.SoftmaxOutput(net, name="softmax")


def backends_of(executor: Any) -> dict[str, str]:
    found = {}
    for line in executor.debug_str().splitlines():
        if line.startswith("Op:"):
            fields = dict(part.strip().split("=") for part in line.split(",")[1:])
            found[fields["Name"]] = fields["backend"]
    return found


def test_backend_order_makes_bind_choose_c_with_per_op_fallback() -> None:
    with mx.config.override(backends__order=["c", "numpy"]):
        ex = lenet_ish().simple_bind(mx.cpu(), data=(2, 1, 8, 8))
    chosen = backends_of(ex)
    assert chosen == {"conv": "c", "act": "c", "pool": "c", "flat": "numpy", "fc": "c",
                      "softmax": "c"}
    with mx.config.override(backends__order=["numpy"]):
        assert set(backends_of(lenet_ish().simple_bind(mx.cpu(), data=(2, 1, 8, 8))).values()) \
            == {"numpy"}


def test_a_dtype_without_a_c_kernel_falls_back_to_numpy() -> None:
    net = mx.sym.FullyConnected(mx.sym.Variable("data"), num_hidden=3, name="fc")
    with mx.config.override(backends__order=["c", "numpy"]):
        ex16 = net.simple_bind(mx.cpu(), data=(2, 4), type_dict={"data": np.float16})
        ex64 = net.simple_bind(mx.cpu(), data=(2, 4), type_dict={"data": np.float64})
    assert backends_of(ex16) == {"fc": "numpy"} and backends_of(ex64) == {"fc": "c"}


def test_training_steps_match_the_numpy_backend() -> None:
    rng = np.random.default_rng(3)
    args = {"data": rng.uniform(-1, 1, (6, 1, 10, 10)), "softmax_label": rng.integers(0, 5, 6)}
    results = []
    for order in (["c", "numpy"], ["numpy"]):
        with mx.config.override(backends__order=order):
            ex = lenet_ish().simple_bind(mx.cpu(), data=(6, 1, 10, 10))
        for name, array in ex.arg_dict.items():
            array[:] = args.get(name, np.random.default_rng(len(name)).uniform(-0.5, 0.5,
                                                                                array.shape))
        for _ in range(2):
            ex.forward(is_train=True)
            ex.backward()
            for name in ("conv_weight", "fc_weight"):
                ex.arg_dict[name][:] = ex.arg_dict[name].asnumpy() - 0.1 * ex.grad_dict[name].asnumpy()
        results.append({k: v.asnumpy() for k, v in ex.grad_dict.items()})
    for name in results[1]:
        assert_close(results[0][name], results[1][name], name)


def test_num_threads_setting_is_validated_and_read_when_a_node_is_prepared() -> None:
    assert mx.config.get("c_kernels.num_threads") == 0
    net = mx.sym.Activation(mx.sym.Variable("x"), act_type="relu")
    x = mx.nd.array(np.linspace(-1, 1, 140000).reshape(7, 20000))
    for threads in (1, 2):
        with mx.config.override(backends__order=["c"], c_kernels__num_threads=threads):
            out = net.bind(mx.cpu(), {"x": x}).forward()[0].asnumpy()
        np.testing.assert_array_equal(out, np.maximum(x.asnumpy(), 0))
    with mx.config.override(backends__order=["c"], c_kernels__num_threads=-1):
        with pytest.raises(MXNetValueError, match="c_kernels.num_threads must be a non-negative"):
            mx.sym.Activation(mx.sym.Variable("x"), act_type="relu").bind(
                mx.cpu(), {"x": x}).forward()


def test_the_pack_reports_how_it_was_built() -> None:
    assert ck.UNAVAILABLE_REASON is None and ck.available()
    assert isinstance(ck.openmp(), bool)
    assert _lib.lib.ck_max_threads() >= 1
    info = get_registry().plugins["c_kernels"]
    assert ("Convolution", "c") in info.kernels and info.ops == ["_fc_act"]  # the fused op


def test_unavailable_pack_registers_nothing_and_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MXLITE_NO_C_KERNELS", "1")
    reason = ck._unavailable()
    assert reason == "disabled by MXLITE_NO_C_KERNELS=1"
    monkeypatch.setattr(ck, "UNAVAILABLE_REASON", reason)

    class Recorder:
        def add_kernel(self, *args: Any) -> None:
            raise AssertionError("an unavailable pack must not register kernels")

    ck.mxlite_register_kernels(Recorder())
    assert not ck.available() and not ck.openmp()
    report = {p["name"]: p for p in _report()["plugins"]}  # python -m mxlite plugins
    assert report["c_kernels"]["note"] == reason and report["builtin_ops"]["note"] is None


def test_prepared_calls_are_dropped_with_their_node() -> None:
    class Node:
        pass

    node = Node()
    assert _lib.prepared(node, "k", lambda: 41) == 41
    assert _lib.prepared(node, "k", lambda: 42) == 41  # built once per node and key
    key = id(node)
    del node
    assert key not in _lib._PREPARED
    assert _lib.prepared(3, "k", lambda: 43) == 43 and id(3) not in _lib._PREPARED  # no weakref


def test_reduce_blocks_merge_neighbours() -> None:
    assert _lib.reduce_blocks((4, 1, 5, 6, 3), (1, 2, 3)) == [(4, False), (30, True), (3, False)]
    assert _lib.reduce_blocks((2, 3, 4), (0, 2)) == [(2, True), (3, False), (4, True)]
    assert prod(n for n, _ in _lib.reduce_blocks((2, 3, 4), ())) == 24


def test_openmp_wait_policy_is_set_only_while_the_runtime_loads(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    monkeypatch.delenv("GOMP_SPINCOUNT", raising=False)
    assert _lib._import_compiled().lib is _lib.lib
    assert "OMP_WAIT_POLICY" not in os.environ  # removed again: child processes never see it
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")  # a user's choice is left alone
    _lib._import_compiled()
    assert os.environ["OMP_WAIT_POLICY"] == "ACTIVE"

"""Whole networks: LeNet, a ResNet basic block with BatchNorm, a 2-layer LSTM unrolled by hand
and an embedding-bag model.

For each network: the argument and auxiliary-state names MXNet gives them, inferred shapes
against hand-computed ones, ``simple_bind`` + forward(is_train=True) + backward(), the forward
against an independent numpy reference (written here, not taken from the kernels), and the
gradient that the SoftmaxOutput head sends back against central differences of the float64
cross-entropy ``-sum(log p[label])`` (``normalization='null'``: a sum over the batch).
"""

from __future__ import annotations

from collections.abc import Callable

import mxlite as mx
import numpy as np
import pytest
from mxlite.test_utils import assert_almost_equal, check_numeric_gradient

#: every test here runs once per available backend (numpy, and "c" where built)
pytestmark = pytest.mark.usefixtures("each_backend")

DTYPES = [np.float32, np.float64]
#: forward against the numpy reference, per dtype
TOL = {np.float32: dict(rtol=1e-4, atol=1e-6), np.float64: dict(rtol=1e-10, atol=1e-12)}
dtype_name = lambda dtype: np.dtype(dtype).name


# -- numpy references ------------------------------------------------------------------------
def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0)


def cross_entropy(prob: np.ndarray, label: np.ndarray) -> float:
    return float(-np.log(prob[np.arange(len(label)), label.astype(int)]).sum())


def onehot(label: np.ndarray, classes: int) -> np.ndarray:
    return np.eye(classes)[label.astype(int)]


def conv2d(x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None, stride: int = 1,
           pad: int = 0) -> np.ndarray:
    """Direct convolution: a sum over kernel offsets of strided views times the filter taps."""
    x = x.astype(np.float64)
    kh, kw = w.shape[2:]
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    ho = (x.shape[2] + 2 * pad - kh) // stride + 1
    wo = (x.shape[3] + 2 * pad - kw) // stride + 1
    out = np.zeros((x.shape[0], w.shape[0], ho, wo))
    for i in range(kh):
        for j in range(kw):
            window = xp[:, :, i:i + stride * (ho - 1) + 1:stride, j:j + stride * (wo - 1) + 1:stride]
            out += np.einsum("nchw,fc->nfhw", window, w[:, :, i, j])
    return out if b is None else out + b[None, :, None, None]


def max_pool_2x2(x: np.ndarray) -> np.ndarray:
    """Max over 2x2 windows at stride 2 ('valid': an odd last row/column is dropped)."""
    n, c, h, w = x.shape
    x = x[:, :, :h // 2 * 2, :w // 2 * 2]
    return x.reshape(n, c, h // 2, 2, w // 2, 2).max(axis=(3, 5))


def batch_norm(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, mean: np.ndarray,
               var: np.ndarray, eps: float = 1e-3) -> np.ndarray:
    shape = (1, -1, 1, 1)
    return ((x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps) * gamma.reshape(shape)
            + beta.reshape(shape))


def fully_connected(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    return x.reshape(len(x), -1) @ w.T + b


# -- helpers ---------------------------------------------------------------------------------
def values(executor: object) -> dict[str, np.ndarray]:
    """Arguments and aux states of an executor, as float64 numpy arrays."""
    arrays = {**executor.arg_dict, **executor.aux_dict}  # type: ignore[attr-defined]
    return {k: v.asnumpy().astype(np.float64) for k, v in arrays.items()}


def fill_parameters(executor: object, rng: np.random.Generator,
                    special: dict[str, np.ndarray] | None = None) -> None:
    """Weights ~ U(-1, 1) / sqrt(fan-in) so that activations stay in range; biases and betas
    small; gammas in [0.5, 1.5]; moving means ~ N(0, 0.1), moving variances in [0.5, 1.5]."""
    special = special or {}
    arrays = {**executor.arg_dict, **executor.aux_dict}  # type: ignore[attr-defined]
    for name, array in arrays.items():
        shape = array.shape
        if name in special:
            value = special[name]
        elif name.endswith("_weight"):
            value = rng.uniform(-1, 1, shape) / np.sqrt(np.prod(shape[1:]))
        elif name.endswith(("_bias", "_beta")):
            value = rng.uniform(-0.3, 0.3, shape)
        elif name.endswith(("_gamma", "_moving_var")):
            value = rng.uniform(0.5, 1.5, shape)
        elif name.endswith("_moving_mean"):
            value = rng.normal(0, 0.1, shape)
        else:
            value = rng.uniform(-1, 1, shape)
        array[:] = value


def check_probabilities(prob: np.ndarray, dtype: type) -> None:
    assert prob.dtype == dtype
    assert np.isfinite(prob).all() and (prob > 0).all()
    assert_almost_equal(prob.sum(axis=1), np.ones(len(prob)), rtol=1e-5 if dtype == np.float32
                        else 1e-12, atol=1e-6 if dtype == np.float32 else 1e-12)


def bind_head(net: mx.sym.Symbol, head: str, executor: object) -> object:
    """Bind the internal output ``head`` of ``net`` (no loss) to copies of ``executor``'s
    arrays, so that running it does not touch the original's moving statistics."""
    logits = net.get_internals()[head]
    args = {k: mx.nd.array(v.asnumpy(), dtype=v.dtype)
            for k, v in executor.arg_dict.items() if k in logits.list_arguments()}  # type: ignore[attr-defined]
    aux = {k: mx.nd.array(v.asnumpy(), dtype=v.dtype)
           for k, v in executor.aux_dict.items()}  # type: ignore[attr-defined]
    return logits.bind(mx.cpu(), args, aux_states={k: aux[k] for k in logits.list_auxiliary_states()})


def random_entries(rng: np.random.Generator, shape: tuple, count: int) -> list[tuple]:
    flat = rng.choice(int(np.prod(shape)), size=min(count, int(np.prod(shape))), replace=False)
    return [tuple(int(i) for i in np.unravel_index(f, shape)) for f in flat]


def spot_check_loss_gradient(executor: object, label: np.ndarray, names: list[str],
                             rng: np.random.Generator, per_array: int = 3, eps: float = 1e-5,
                             rtol: float = 1e-4, atol: float = 1e-8,
                             entries: dict[str, list[tuple]] | None = None,
                             loss: Callable[[np.ndarray, np.ndarray], float] = cross_entropy
                             ) -> int:
    """backward() of a SoftmaxOutput-headed float64 executor against central differences of
    ``loss`` (the cross-entropy) of its forward(is_train=True) output, at a few entries per
    argument (random ones unless ``entries`` names them). Returns how many were checked."""
    ex = executor
    ex.forward(is_train=True)  # type: ignore[attr-defined]
    ex.backward()  # type: ignore[attr-defined]
    grads = {n: ex.grad_dict[n].asnumpy().copy() for n in names}  # type: ignore[attr-defined]
    entries = dict(entries or {})
    failures, checked = [], 0
    for name in names:
        array = ex.arg_dict[name]  # type: ignore[attr-defined]
        base = array.asnumpy()
        for index in entries.get(name) or random_entries(rng, base.shape, per_array):
            losses = []
            for step in (eps, -eps):
                moved = base.copy()
                moved[index] += step
                array[:] = moved
                losses.append(loss(ex.forward(is_train=True)[0].asnumpy(), label))  # type: ignore[attr-defined]
            array[:] = base
            numeric, symbolic = (losses[0] - losses[1]) / (2 * eps), grads[name][index]
            checked += 1
            if not abs(numeric - symbolic) <= atol + rtol * abs(numeric):
                failures.append(f"{name}{index}: numeric {numeric!r}, backward {symbolic!r}")
    assert not failures, "\n".join(failures)
    return checked


# == LeNet ===================================================================================
def lenet(kernel: int = 5, pad: int = 0, act: str = "tanh") -> mx.sym.Symbol:
    """As in MXNet's examples (and bench/_nets.py): only the layers with weights are named."""
    data = mx.sym.Variable("data")
    net = mx.sym.Convolution(data, kernel=(kernel, kernel), pad=(pad, pad), num_filter=20,
                             name="conv1")
    net = mx.sym.Activation(net, act_type=act)
    net = mx.sym.Pooling(net, pool_type="max", kernel=(2, 2), stride=(2, 2))
    net = mx.sym.Convolution(net, kernel=(kernel, kernel), pad=(pad, pad), num_filter=50,
                             name="conv2")
    net = mx.sym.Activation(net, act_type=act)
    net = mx.sym.Pooling(net, pool_type="max", kernel=(2, 2), stride=(2, 2))
    net = mx.sym.Flatten(net)
    net = mx.sym.FullyConnected(net, num_hidden=500, name="fc1")
    net = mx.sym.Activation(net, act_type=act)
    net = mx.sym.FullyConnected(net, num_hidden=10, name="fc2")
    return mx.sym.SoftmaxOutput(net, name="softmax")


def lenet_reference(p: dict[str, np.ndarray], act: str = "tanh",
                    pad: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The logits and the activations that feed ``fc2``."""
    f = np.tanh if act == "tanh" else relu
    h = max_pool_2x2(f(conv2d(p["data"], p["conv1_weight"], p["conv1_bias"], pad=pad)))
    h = max_pool_2x2(f(conv2d(h, p["conv2_weight"], p["conv2_bias"], pad=pad)))
    h = f(fully_connected(h, p["fc1_weight"], p["fc1_bias"]))
    return fully_connected(h, p["fc2_weight"], p["fc2_bias"]), h


LENET_ARGS = ["data", "conv1_weight", "conv1_bias", "conv2_weight", "conv2_bias", "fc1_weight",
              "fc1_bias", "fc2_weight", "fc2_bias", "softmax_label"]
LENET_SHAPE = (2, 1, 16, 16)  # conv5 -> 12x12, pool -> 6x6, conv5 -> 2x2, pool -> 1x1
LENET_MNIST = (2, 1, 28, 28)


def test_lenet_names_and_shapes() -> None:
    with mx.name.NameManager():  # a fresh counter: the auto names MXNet gives a new process
        net = lenet()
    assert net.list_arguments() == LENET_ARGS
    assert net.list_auxiliary_states() == []
    assert net.list_outputs() == ["softmax_output"]
    assert net.get_internals().list_outputs() == [
        "data", "conv1_weight", "conv1_bias", "conv1_output", "activation0_output",
        "pooling0_output", "conv2_weight", "conv2_bias", "conv2_output", "activation1_output",
        "pooling1_output", "flatten0_output", "fc1_weight", "fc1_bias", "fc1_output",
        "activation2_output", "fc2_weight", "fc2_bias", "fc2_output", "softmax_label",
        "softmax_output"]
    # MNIST size: 28 -> conv5 24 -> pool 12 -> conv5 8 -> pool 4; 50 * 4 * 4 = 800 features
    args, outs, aux = net.infer_shape(data=(64, 1, 28, 28))
    assert args == [(64, 1, 28, 28), (20, 1, 5, 5), (20,), (50, 20, 5, 5), (50,), (500, 800),
                    (500,), (10, 500), (10,), (64,)]
    assert outs == [(64, 10)] and aux == []
    internals = net.get_internals()
    assert internals["pooling0_output"].infer_shape(data=(64, 1, 28, 28))[1] == [(64, 20, 12, 12)]
    assert internals["flatten0_output"].infer_shape(data=(64, 1, 28, 28))[1] == [(64, 800)]
    args = net.infer_shape(data=LENET_SHAPE)[0]
    assert dict(zip(LENET_ARGS, args))["fc1_weight"] == (500, 50)
    # the 8x8 digits LeNet of examples/train_lenet.py: 3x3 kernels, pad 1
    args = lenet(kernel=3, pad=1).infer_shape(data=(32, 1, 8, 8))[0]
    assert dict(zip(LENET_ARGS, args))["fc1_weight"] == (500, 50 * 2 * 2)
    assert net.infer_type(data="float64")[0] == [np.float64] * len(LENET_ARGS)


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_name)
@pytest.mark.parametrize("act", ["tanh", "relu"])
def test_lenet_forward_backward_matches_numpy(dtype: type, act: str) -> None:
    rng = np.random.default_rng(1)
    net = lenet(act=act)
    ex = net.simple_bind(mx.cpu(), type_dict={"data": dtype}, data=LENET_MNIST)
    label = np.array([3.0, 7.0])
    fill_parameters(ex, rng, {"softmax_label": label})
    prob = ex.forward(is_train=True)[0].asnumpy()
    check_probabilities(prob, dtype)
    p = values(ex)
    logits, hidden = lenet_reference(p, act)
    assert_almost_equal(prob, softmax(logits), **TOL[dtype])
    head = bind_head(net, "fc2_output", ex)
    assert_almost_equal(head.forward()[0].asnumpy(), logits, **TOL[dtype])  # type: ignore[attr-defined]

    ex.backward()
    grads = {k: v.asnumpy() for k, v in ex.grad_dict.items()}
    assert all(np.isfinite(g).all() for g in grads.values())
    assert all(np.abs(grads[k]).max() > 0 for k in LENET_ARGS[:-1]), "a gradient is all zero"
    # the last layer by hand: d loss / d logits = p - onehot (grad_scale 1, no normalisation)
    dlogits = prob.astype(np.float64) - onehot(label, 10)
    assert_almost_equal(grads["fc2_bias"], dlogits.sum(axis=0), **TOL[dtype])
    assert_almost_equal(grads["fc2_weight"], dlogits.T @ hidden, **TOL[dtype])
    np.testing.assert_array_equal(grads["softmax_label"], np.zeros(2))  # as MXNet: no label gradient


@pytest.mark.parametrize("act", ["tanh", "relu"])
def test_lenet_loss_gradient_spot_check(act: str) -> None:
    rng = np.random.default_rng(2)
    ex = lenet(act=act).simple_bind(mx.cpu(), type_dict={"data": np.float64}, data=LENET_SHAPE)
    label = np.array([1.0, 8.0])
    fill_parameters(ex, rng, {"softmax_label": label})
    names = [n for n in LENET_ARGS if n != "softmax_label"]
    assert spot_check_loss_gradient(ex, label, names, rng) == 3 * len(names)


# == ResNet basic block with BatchNorm =======================================================
def resnet_block(stride: int, filters: int, classes: int = 3) -> mx.sym.Symbol:
    """conv3x3 - BN - relu - conv3x3 - BN, plus the shortcut (identity, or for stride 2 a 1x1
    projection conv + BN), relu, global average pooling, FC and a softmax loss."""
    data = mx.sym.Variable("data")
    net = mx.sym.Convolution(data, kernel=(3, 3), stride=(stride, stride), pad=(1, 1),
                             num_filter=filters, no_bias=True, name="conv1")
    net = mx.sym.BatchNorm(net, fix_gamma=False, name="bn1")
    net = mx.sym.Activation(net, act_type="relu", name="relu1")
    net = mx.sym.Convolution(net, kernel=(3, 3), pad=(1, 1), num_filter=filters, no_bias=True,
                             name="conv2")
    net = mx.sym.BatchNorm(net, fix_gamma=False, name="bn2")
    if stride == 1:
        shortcut = data
    else:
        shortcut = mx.sym.Convolution(data, kernel=(1, 1), stride=(stride, stride),
                                      num_filter=filters, no_bias=True, name="sc_conv")
        shortcut = mx.sym.BatchNorm(shortcut, fix_gamma=False, name="sc_bn")
    net = mx.sym.Activation(net + shortcut, act_type="relu", name="relu2")
    # as in MXNet's model-zoo ResNets: a kernel is given and ignored by global_pool
    net = mx.sym.Pooling(net, kernel=(7, 7), pool_type="avg", global_pool=True, name="pool")
    net = mx.sym.Flatten(net, name="flatten")
    net = mx.sym.FullyConnected(net, num_hidden=classes, name="fc")
    return mx.sym.SoftmaxOutput(net, name="softmax")


def resnet_reference(p: dict[str, np.ndarray], stride: int, train: bool
                     ) -> tuple[np.ndarray, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """Logits, and each BatchNorm's (mean, biased variance) of its input batch."""
    stats = {}

    def bn(x: np.ndarray, name: str) -> np.ndarray:
        stats[name] = x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3))
        mean, var = stats[name] if train else (p[f"{name}_moving_mean"], p[f"{name}_moving_var"])
        return batch_norm(x, p[f"{name}_gamma"], p[f"{name}_beta"], mean, var)

    x = p["data"]
    h = relu(bn(conv2d(x, p["conv1_weight"], stride=stride, pad=1), "bn1"))
    h = bn(conv2d(h, p["conv2_weight"], pad=1), "bn2")
    if stride == 1:
        shortcut = x
    else:
        shortcut = bn(conv2d(x, p["sc_conv_weight"], stride=stride), "sc_bn")
    pooled = relu(h + shortcut).mean(axis=(2, 3))
    return fully_connected(pooled, p["fc_weight"], p["fc_bias"]), stats


RESNET = {  # stride: data shape, filters, arguments, aux states, hand-computed argument shapes
    1: ((2, 4, 5, 5), 4,
        ["data", "conv1_weight", "bn1_gamma", "bn1_beta", "conv2_weight", "bn2_gamma",
         "bn2_beta", "fc_weight", "fc_bias", "softmax_label"],
        ["bn1_moving_mean", "bn1_moving_var", "bn2_moving_mean", "bn2_moving_var"],
        [(2, 4, 5, 5), (4, 4, 3, 3), (4,), (4,), (4, 4, 3, 3), (4,), (4,), (3, 4), (3,), (2,)]),
    2: ((2, 3, 6, 6), 4,
        ["data", "conv1_weight", "bn1_gamma", "bn1_beta", "conv2_weight", "bn2_gamma",
         "bn2_beta", "sc_conv_weight", "sc_bn_gamma", "sc_bn_beta", "fc_weight", "fc_bias",
         "softmax_label"],
        ["bn1_moving_mean", "bn1_moving_var", "bn2_moving_mean", "bn2_moving_var",
         "sc_bn_moving_mean", "sc_bn_moving_var"],
        [(2, 3, 6, 6), (4, 3, 3, 3), (4,), (4,), (4, 4, 3, 3), (4,), (4,), (4, 3, 1, 1), (4,),
         (4,), (3, 4), (3,), (2,)]),
}
RESNET_LABEL = np.array([2.0, 0.0])


def bind_resnet(stride: int, dtype: type, seed: int, grad_req: object = "write") -> object:
    shape, filters = RESNET[stride][:2]
    ex = resnet_block(stride, filters).simple_bind(mx.cpu(), grad_req=grad_req,
                                                   type_dict={"data": dtype}, data=shape)
    fill_parameters(ex, np.random.default_rng(seed), {"softmax_label": RESNET_LABEL})
    return ex


@pytest.mark.parametrize("stride", [1, 2])
def test_resnet_block_names_and_shapes(stride: int) -> None:
    shape, filters, arg_names, aux_names, arg_shapes = RESNET[stride]
    net = resnet_block(stride, filters)
    assert net.list_arguments() == arg_names
    assert net.list_auxiliary_states() == aux_names
    assert net.list_outputs() == ["softmax_output"]
    args, outs, aux = net.infer_shape(data=shape)
    assert args == arg_shapes and outs == [(2, 3)] and aux == [(filters,)] * len(aux_names)
    spatial = (shape[2] + 2 - 3) // stride + 1
    internals = net.get_internals()
    for name in ("conv1_output", "bn2_output", "relu2_output"):
        assert internals[name].infer_shape(data=shape)[1] == [(2, filters, spatial, spatial)]
    assert internals["pool_output"].infer_shape(data=shape)[1] == [(2, filters, 1, 1)]
    arg_types, _, aux_types = net.infer_type(data="float64")
    assert arg_types == [np.float64] * len(arg_names) and aux_types == [np.float64] * len(aux_names)
    ex = net.simple_bind(mx.cpu(), type_dict={"data": "float64"}, data=shape)
    assert {k: v.shape for k, v in ex.aux_dict.items()} == dict.fromkeys(aux_names, (filters,))
    assert all(v.dtype == np.float64 for v in ex.aux_dict.values())


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_name)
@pytest.mark.parametrize("stride", [1, 2])
def test_resnet_block_forward_backward_matches_numpy(stride: int, dtype: type) -> None:
    ex = bind_resnet(stride, dtype, seed=3)
    p = values(ex)
    prob = ex.forward(is_train=True)[0].asnumpy()
    check_probabilities(prob, dtype)
    logits, _ = resnet_reference(p, stride, train=True)
    assert_almost_equal(prob, softmax(logits), **TOL[dtype])
    head = bind_head(resnet_block(stride, RESNET[stride][1]), "fc_output", ex)
    assert_almost_equal(head.forward(is_train=True)[0].asnumpy(), logits, **TOL[dtype])  # type: ignore[attr-defined]
    ex.backward()
    for name in RESNET[stride][2][:-1]:
        grad = ex.grad_dict[name].asnumpy()
        assert grad.dtype == dtype and np.isfinite(grad).all() and np.abs(grad).max() > 0, name
    dlogits = prob.astype(np.float64) - onehot(RESNET_LABEL, 3)
    assert_almost_equal(ex.grad_dict["fc_bias"], dlogits.sum(axis=0), **TOL[dtype])


@pytest.mark.parametrize("stride", [1, 2])
def test_resnet_block_loss_gradient_spot_check(stride: int) -> None:
    ex = bind_resnet(stride, np.float64, seed=4)
    names = RESNET[stride][2][:-1]
    rng = np.random.default_rng(5)
    assert spot_check_loss_gradient(ex, RESNET_LABEL, names, rng) == 3 * len(names)


@pytest.mark.parametrize("stride", [1, 2])
def test_resnet_block_moving_statistics_move_once_per_step_and_serve_inference(stride: int
                                                                              ) -> None:
    ex = bind_resnet(stride, np.float32, seed=6)
    aux_names = RESNET[stride][3]
    before = values(ex)
    _, stats = resnet_reference(before, stride, train=True)
    ex.forward(is_train=True)
    ex.backward()
    expected = {}
    for bn, (mean, var) in stats.items():
        expected[f"{bn}_moving_mean"] = before[f"{bn}_moving_mean"] * 0.9 + mean * 0.1
        expected[f"{bn}_moving_var"] = before[f"{bn}_moving_var"] * 0.9 + var * 0.1
    assert sorted(expected) == sorted(aux_names)
    for name in aux_names:  # one momentum step for the step, not one per forward and backward
        assert_almost_equal(ex.aux_dict[name], expected[name], rtol=1e-5, atol=1e-6,
                            names=(name, "expected"))
    # inference uses (and leaves alone) the moving statistics
    after = values(ex)
    logits, _ = resnet_reference(after, stride, train=False)
    prob = ex.forward(is_train=False)[0].asnumpy()
    assert_almost_equal(prob, softmax(logits), **TOL[np.float32])
    train_logits, _ = resnet_reference(after, stride, train=True)
    assert not np.allclose(softmax(train_logits), prob, rtol=1e-3), "inference used batch stats"
    head = bind_head(resnet_block(stride, RESNET[stride][1]), "fc_output", ex)
    assert_almost_equal(head.forward(is_train=False)[0].asnumpy(), logits, **TOL[np.float32])  # type: ignore[attr-defined]
    for name in aux_names:
        assert_almost_equal(ex.aux_dict[name], expected[name], rtol=1e-5, atol=1e-6)
    # a second training step moves them once more, from where they are
    _, stats = resnet_reference(after, stride, train=True)
    ex.forward(is_train=True)
    for bn, (mean, var) in stats.items():
        assert_almost_equal(ex.aux_dict[f"{bn}_moving_mean"],
                            expected[f"{bn}_moving_mean"] * 0.9 + mean * 0.1, rtol=1e-5, atol=1e-6)
        assert_almost_equal(ex.aux_dict[f"{bn}_moving_var"],
                            expected[f"{bn}_moving_var"] * 0.9 + var * 0.1, rtol=1e-5, atol=1e-6)


# == a 2-layer LSTM unrolled by hand =========================================================
SEQ_N, SEQ_T, SEQ_D, SEQ_H, SEQ_K, LAYERS = 2, 3, 3, 4, 3, 2


def lstm_unrolled(seq_len: int = SEQ_T, hidden: int = SEQ_H, classes: int = SEQ_K
                  ) -> tuple[mx.sym.Symbol, list[list[mx.sym.Symbol]]]:
    """MXNet's example/rnn/old/lstm.py cell (gates in, transform, forget, out), stacked
    ``LAYERS`` deep over ``seq_len`` steps with one weight Variable per layer shared by every
    step, and a classifier on the top layer's last hidden state. Also returns the hidden
    state symbols, ``hiddens[layer][t]``."""
    data = mx.sym.Variable("data")  # (batch, time, features)
    steps = mx.sym.SliceChannel(data, axis=1, num_outputs=seq_len, squeeze_axis=True,
                                name="steps")
    inputs = [steps[t] for t in range(seq_len)]
    hiddens = []
    for layer in range(LAYERS):
        w = {k: mx.sym.Variable(f"l{layer}_{k}")
             for k in ("i2h_weight", "i2h_bias", "h2h_weight", "h2h_bias")}
        h, c = mx.sym.Variable(f"l{layer}_init_h"), mx.sym.Variable(f"l{layer}_init_c")
        outputs = []
        for t, x in enumerate(inputs):
            prefix = f"t{t}_l{layer}_"
            i2h = mx.sym.FullyConnected(x, weight=w["i2h_weight"], bias=w["i2h_bias"],
                                        num_hidden=4 * hidden, name=prefix + "i2h")
            h2h = mx.sym.FullyConnected(h, weight=w["h2h_weight"], bias=w["h2h_bias"],
                                        num_hidden=4 * hidden, name=prefix + "h2h")
            gates = mx.sym.SliceChannel(i2h + h2h, num_outputs=4, name=prefix + "slice")
            in_gate = mx.sym.Activation(gates[0], act_type="sigmoid")
            in_transform = mx.sym.Activation(gates[1], act_type="tanh")
            forget_gate = mx.sym.Activation(gates[2], act_type="sigmoid")
            out_gate = mx.sym.Activation(gates[3], act_type="sigmoid")
            c = forget_gate * c + in_gate * in_transform
            h = out_gate * mx.sym.Activation(c, act_type="tanh")
            outputs.append(h)
        hiddens.append(outputs)
        inputs = outputs
    pred = mx.sym.FullyConnected(inputs[-1], num_hidden=classes, name="pred")
    return mx.sym.SoftmaxOutput(pred, name="softmax"), hiddens


def lstm_reference(p: dict[str, np.ndarray]) -> tuple[np.ndarray, list[list[np.ndarray]]]:
    """Logits and ``hiddens[layer][t]``, straight from the LSTM equations."""
    inputs = [p["data"][:, t] for t in range(p["data"].shape[1])]
    hiddens = []
    for layer in range(LAYERS):
        w = {k: p[f"l{layer}_{k}"] for k in ("i2h_weight", "i2h_bias", "h2h_weight", "h2h_bias")}
        h, c = p[f"l{layer}_init_h"], p[f"l{layer}_init_c"]
        outputs = []
        for x in inputs:
            a = x @ w["i2h_weight"].T + w["i2h_bias"] + h @ w["h2h_weight"].T + w["h2h_bias"]
            i, g, f, o = np.split(a, 4, axis=1)
            c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
            h = sigmoid(o) * np.tanh(c)
            outputs.append(h)
        hiddens.append(outputs)
        inputs = outputs
    return fully_connected(inputs[-1], p["pred_weight"], p["pred_bias"]), hiddens


LSTM_ARGS = ["data", "l0_i2h_weight", "l0_i2h_bias", "l0_init_h", "l0_h2h_weight", "l0_h2h_bias",
             "l0_init_c", "l1_i2h_weight", "l1_i2h_bias", "l1_init_h", "l1_h2h_weight",
             "l1_h2h_bias", "l1_init_c", "pred_weight", "pred_bias", "softmax_label"]
LSTM_STATES = {f"l{layer}_init_{s}": (SEQ_N, SEQ_H) for layer in range(LAYERS) for s in "hc"}
LSTM_LABEL = np.array([1.0, 2.0])


def bind_lstm(dtype: type, seed: int) -> tuple[object, mx.sym.Symbol, list]:
    net, hiddens = lstm_unrolled()
    ex = net.simple_bind(mx.cpu(), type_dict={"data": dtype}, data=(SEQ_N, SEQ_T, SEQ_D),
                         **LSTM_STATES)
    fill_parameters(ex, np.random.default_rng(seed), {"softmax_label": LSTM_LABEL})
    return ex, net, hiddens


def test_lstm_names_and_shapes() -> None:
    net, hiddens = lstm_unrolled()
    # depth first from the head, inputs in order: layer 0's i2h, then its recurrence down to
    # step 0 (init_h, h2h), then init_c through the cell state; then layer 1; then the head
    assert net.list_arguments() == LSTM_ARGS
    assert net.list_auxiliary_states() == []
    assert net.list_outputs() == ["softmax_output"]
    n, h4 = SEQ_N, 4 * SEQ_H
    expected = [(n, SEQ_T, SEQ_D), (h4, SEQ_D), (h4,), (n, SEQ_H), (h4, SEQ_H), (h4,), (n, SEQ_H),
                (h4, SEQ_H), (h4,), (n, SEQ_H), (h4, SEQ_H), (h4,), (n, SEQ_H), (SEQ_K, SEQ_H),
                (SEQ_K,), (n,)]
    # the init_c shapes follow from the element-wise ops; init_h ones are given
    given = {k: v for k, v in LSTM_STATES.items() if k.endswith("_h")}
    args, outs, aux = net.infer_shape(data=(n, SEQ_T, SEQ_D), **given)
    assert args == expected and outs == [(n, SEQ_K)] and aux == []
    internals = net.get_internals()
    assert internals["steps_output0"].infer_shape(data=(n, SEQ_T, SEQ_D))[1] == [(n, SEQ_D)]
    assert internals["t2_l1_slice_output3"].infer_shape(data=(n, SEQ_T, SEQ_D), **given)[1] == [
        (n, SEQ_H)]
    assert mx.sym.Group(hiddens[1]).infer_shape(data=(n, SEQ_T, SEQ_D), **given)[1] == [
        (n, SEQ_H)] * SEQ_T
    longer, _ = lstm_unrolled(seq_len=5)
    assert longer.list_arguments() == LSTM_ARGS  # weights are shared, not one set per step
    assert longer.infer_shape(data=(7, 5, 6), l0_init_h=(7, SEQ_H), l1_init_h=(7, SEQ_H))[0][1] == (
        h4, 6)


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_name)
def test_lstm_forward_backward_matches_numpy(dtype: type) -> None:
    ex, net, hiddens = bind_lstm(dtype, seed=7)
    p = values(ex)
    prob = ex.forward(is_train=True)[0].asnumpy()
    check_probabilities(prob, dtype)
    logits, ref_hiddens = lstm_reference(p)
    assert_almost_equal(prob, softmax(logits), **TOL[dtype])
    # every hidden state of both layers, as one group of outputs
    states = mx.sym.Group([h for layer in hiddens for h in layer])
    group = states.bind(mx.cpu(), {k: ex.arg_dict[k] for k in states.list_arguments()})
    outs = group.forward()
    assert len(outs) == LAYERS * SEQ_T
    for out, ref in zip(outs, [h for layer in ref_hiddens for h in layer]):
        assert_almost_equal(out, ref, **TOL[dtype])
    head = bind_head(net, "pred_output", ex)
    assert_almost_equal(head.forward()[0].asnumpy(), logits, **TOL[dtype])  # type: ignore[attr-defined]
    ex.backward()
    for name in LSTM_ARGS[:-1]:
        grad = ex.grad_dict[name].asnumpy()
        assert grad.dtype == dtype and np.isfinite(grad).all() and np.abs(grad).max() > 0, name
    dlogits = prob.astype(np.float64) - onehot(LSTM_LABEL, SEQ_K)
    assert_almost_equal(ex.grad_dict["pred_weight"], dlogits.T @ ref_hiddens[1][-1], **TOL[dtype])


def test_lstm_loss_gradient_spot_check() -> None:
    ex, _, _ = bind_lstm(np.float64, seed=8)
    names = LSTM_ARGS[:-1]
    rng = np.random.default_rng(9)
    assert spot_check_loss_gradient(ex, LSTM_LABEL, names, rng, per_array=3) == 3 * len(names)


def test_lstm_hidden_states_numeric_gradient() -> None:
    """Through all the shared weights at once: backward of the (loss-free) group of hidden
    states under a random head gradient, against central differences of every entry."""
    _, hiddens = lstm_unrolled(seq_len=2)
    states = mx.sym.Group([h for layer in hiddens for h in layer])
    shapes = states.infer_shape(data=(SEQ_N, 2, SEQ_D), **LSTM_STATES)[0]
    rng = np.random.default_rng(10)
    location = {k: rng.uniform(-1, 1, s) for k, s in zip(states.list_arguments(), shapes)}
    check_numeric_gradient(states, location, dtype=np.float64)


# == an embedding-bag model ==================================================================
VOCAB, EMBED, CLASSES = 7, 5, 3
TOKENS = np.array([[1, 4, 4, 0], [6, 2, 1, 1], [3, 3, 3, 2]])  # row 5 is never used
BAG_LABEL = np.array([0.0, 2.0, 1.0])


def embedding_bag(reduce: str, dtype: str = "float32", **loss: object) -> mx.sym.Symbol:
    data = mx.sym.Variable("data")  # (batch, tokens) of ids
    net = mx.sym.Embedding(data, input_dim=VOCAB, output_dim=EMBED, dtype=dtype, name="embed")
    net = getattr(mx.sym, reduce)(net, axis=1, name="bag")
    net = mx.sym.FullyConnected(net, num_hidden=CLASSES, name="fc")
    return mx.sym.SoftmaxOutput(net, name="softmax", **loss)


def embedding_bag_reference(p: dict[str, np.ndarray], reduce: str) -> tuple[np.ndarray, np.ndarray]:
    """Logits and the bag vectors: a loop over the tokens of each row."""
    tokens = p["data"].astype(int)
    bags = np.zeros((len(tokens), EMBED))
    for n, row in enumerate(tokens):
        for token in row:
            bags[n] += p["embed_weight"][token]
    if reduce == "mean":
        bags /= tokens.shape[1]
    return fully_connected(bags, p["fc_weight"], p["fc_bias"]), bags


BAG_REQ = {"data": "null", "embed_weight": "write", "fc_weight": "write", "fc_bias": "write",
           "softmax_label": "null"}


def bind_bag(reduce: str, dtype: type, seed: int, id_type: object = None, **loss: object) -> object:
    net = embedding_bag(reduce, np.dtype(dtype).name, **loss)
    ex = net.simple_bind(mx.cpu(), grad_req=BAG_REQ, type_dict={"data": id_type or dtype},
                         data=TOKENS.shape)
    fill_parameters(ex, np.random.default_rng(seed), {"data": TOKENS, "softmax_label": BAG_LABEL})
    return ex


def test_embedding_bag_names_types_and_shapes() -> None:
    net = embedding_bag("sum")
    assert net.list_arguments() == ["data", "embed_weight", "fc_weight", "fc_bias", "softmax_label"]
    assert net.list_auxiliary_states() == []
    assert net.infer_shape(data=(3, 4)) == (
        [(3, 4), (VOCAB, EMBED), (CLASSES, EMBED), (CLASSES,), (3,)], [(3, CLASSES)], [])
    internals = net.get_internals()
    assert internals["embed_output"].infer_shape(data=(3, 4))[1] == [(3, 4, EMBED)]
    assert internals["bag_output"].infer_shape(data=(3, 4))[1] == [(3, EMBED)]
    # the ids keep their own type; the table and everything after it have Embedding's dtype
    args, outs, _ = embedding_bag("mean", "float64").infer_type(data="int32")
    assert args == [np.int32, np.float64, np.float64, np.float64, np.float64]
    assert outs == [np.float64]
    ex = bind_bag("sum", np.float32, seed=0)
    assert ex.grad_dict["data"] is None and ex.grad_dict["softmax_label"] is None
    # with no type given, the ids are float32 (what MXNet's data iterators feed)
    default = net.simple_bind(mx.cpu(), data=(3, 4))
    assert default.arg_dict["data"].dtype == np.float32
    assert default.arg_dict["embed_weight"].dtype == np.float32


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_name)
@pytest.mark.parametrize("reduce", ["sum", "mean"])
def test_embedding_bag_forward_backward_matches_numpy(reduce: str, dtype: type) -> None:
    ex = bind_bag(reduce, dtype, seed=11)
    p = values(ex)
    prob = ex.forward(is_train=True)[0].asnumpy()
    check_probabilities(prob, dtype)
    logits, bags = embedding_bag_reference(p, reduce)
    assert_almost_equal(prob, softmax(logits), **TOL[dtype])
    head = bind_head(embedding_bag(reduce, np.dtype(dtype).name), "fc_output", ex)
    assert_almost_equal(head.forward()[0].asnumpy(), logits, **TOL[dtype])  # type: ignore[attr-defined]
    np.testing.assert_array_equal(ex.arg_dict["data"].asnumpy(), TOKENS)  # ids untouched
    ex.backward()
    # by hand: each token's row gets the bag's gradient (divided by the length for a mean),
    # once per occurrence; rows that no token uses get exactly zero
    dlogits = prob.astype(np.float64) - onehot(BAG_LABEL, CLASSES)
    dbag = dlogits @ p["fc_weight"] / (TOKENS.shape[1] if reduce == "mean" else 1)
    expected = np.zeros((VOCAB, EMBED))
    for n, row in enumerate(TOKENS):
        for token in row:
            expected[token] += dbag[n]
    grad = ex.grad_dict["embed_weight"].asnumpy()
    assert grad.dtype == dtype
    assert_almost_equal(grad, expected, **TOL[dtype])
    assert (grad[5] == 0).all() and (np.abs(grad[[0, 1, 2, 3, 4, 6]]).max(axis=1) > 0).all()
    assert_almost_equal(ex.grad_dict["fc_weight"], dlogits.T @ bags, **TOL[dtype])
    assert_almost_equal(ex.grad_dict["fc_bias"], dlogits.sum(axis=0), **TOL[dtype])


@pytest.mark.parametrize("id_type", ["float64", "int32", "int64"])
@pytest.mark.parametrize("reduce", ["sum", "mean"])
def test_embedding_bag_loss_gradient_spot_check(reduce: str, id_type: str) -> None:
    ex = bind_bag(reduce, np.float64, seed=12, id_type=id_type)
    assert ex.arg_dict["data"].dtype == np.dtype(id_type)
    rng = np.random.default_rng(13)
    # rows used once (0, 6), twice (4, by one row; 1, by two rows), three times (3), never (5)
    rows = {"embed_weight": [(r, int(rng.integers(EMBED))) for r in (0, 1, 3, 4, 5, 6)]}
    checked = spot_check_loss_gradient(ex, BAG_LABEL, ["embed_weight", "fc_weight", "fc_bias"],
                                       rng, entries=rows)
    assert checked == 6 + 3 + 3


@pytest.mark.parametrize("reduce", ["sum", "mean"])
def test_embedding_bag_logits_numeric_gradient(reduce: str) -> None:
    """Every entry of the table and the classifier; the ids are not differentiated."""
    net = embedding_bag(reduce, "float64").get_internals()["fc_output"]
    rng = np.random.default_rng(14)
    location = {"data": TOKENS.astype(np.float64), "embed_weight": rng.uniform(-1, 1, (VOCAB, EMBED)),
                "fc_weight": rng.uniform(-1, 1, (CLASSES, EMBED)),
                "fc_bias": rng.uniform(-1, 1, CLASSES)}
    check_numeric_gradient(net, location, grad_nodes=["embed_weight", "fc_weight", "fc_bias"],
                           dtype=np.float64)


def masked_cross_entropy(scale: float, ignore: float | None = None, per_valid: bool = False
                         ) -> Callable[[np.ndarray, np.ndarray], float]:
    """``scale * -sum(log p[label])`` over the rows whose label is not ``ignore``, divided by
    how many there are when ``per_valid``."""
    def loss(prob: np.ndarray, label: np.ndarray) -> float:
        keep = label != ignore if ignore is not None else np.ones(len(label), bool)
        total = cross_entropy(prob[keep], label[keep])
        return scale * total / (keep.sum() if per_valid else 1)
    return loss


@pytest.mark.parametrize("params,loss", [
    (dict(grad_scale=0.5), masked_cross_entropy(0.5)),
    (dict(normalization="batch", grad_scale=2.0), masked_cross_entropy(2.0 / 3)),
    (dict(normalization="valid"), masked_cross_entropy(1.0, per_valid=True)),
    (dict(use_ignore=True, ignore_label=2), masked_cross_entropy(1.0, ignore=2)),
    (dict(use_ignore=True, ignore_label=2, normalization="valid"),
     masked_cross_entropy(1.0, ignore=2, per_valid=True)),
], ids=["scale", "batch", "valid", "ignore", "ignore-valid"])
def test_embedding_bag_loss_head_options(params: dict, loss: Callable) -> None:
    """SoftmaxOutput's grad_scale / normalization / ignore_label: the gradient of which
    scaled, masked cross-entropy reaches the embedding table."""
    ex = bind_bag("sum", np.float64, seed=15, **params)
    rng = np.random.default_rng(16)
    rows = {"embed_weight": [(r, int(rng.integers(EMBED))) for r in range(VOCAB)]}
    spot_check_loss_gradient(ex, BAG_LABEL, ["embed_weight", "fc_bias"], rng, entries=rows,
                             loss=loss)
    if params.get("use_ignore"):  # row 1 (label 2) is ignored: token 6 appears only there
        assert (ex.grad_dict["embed_weight"].asnumpy()[6] == 0).all()


# == the four networks: the same results however they are run=================================
NETWORKS = {  # builder(dtype name), shapes for simple_bind, fixed inputs
    "lenet": (lambda dtype: lenet(act="relu"), {"data": LENET_SHAPE},
              {"softmax_label": np.array([3.0, 7.0])}),
    "resnet_s1": (lambda dtype: resnet_block(1, 4), {"data": RESNET[1][0]},
                  {"softmax_label": RESNET_LABEL}),
    "resnet_s2": (lambda dtype: resnet_block(2, 4), {"data": RESNET[2][0]},
                  {"softmax_label": RESNET_LABEL}),
    "lstm": (lambda dtype: lstm_unrolled()[0], {"data": (SEQ_N, SEQ_T, SEQ_D), **LSTM_STATES},
             {"softmax_label": LSTM_LABEL}),
    "embedding_bag": (lambda dtype: embedding_bag("mean", dtype), {"data": TOKENS.shape},
                      {"data": TOKENS, "softmax_label": BAG_LABEL}),
}


def train_and_infer(name: str, dtype: str, grad_req: str = "write", steps: int = 2,
                    net: mx.sym.Symbol | None = None, **config: object) -> dict[str, np.ndarray]:
    """``steps`` training steps then one inference forward; every array that results."""
    build, shapes, fixed = NETWORKS[name]
    net = net if net is not None else build(dtype)
    with mx.config.override(**config):  # read at bind time
        ex = net.simple_bind(mx.cpu(), grad_req=grad_req, type_dict={"data": dtype}, **shapes)
    fill_parameters(ex, np.random.default_rng(17), fixed)
    for _ in range(steps):
        ex.forward(is_train=True)
        ex.backward()
    result = {"train_output": ex.outputs[0].asnumpy()}
    result.update({f"grad:{k}": v.asnumpy() for k, v in ex.grad_dict.items()})
    result.update({f"aux:{k}": v.asnumpy() for k, v in ex.aux_dict.items()})
    result["inference_output"] = ex.forward(is_train=False)[0].asnumpy()
    return result


def c_kernels_available() -> bool:
    try:
        import mxlite_c_kernels
    except ImportError:
        return False
    return bool(mxlite_c_kernels.available())


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_planned_storage_gives_bitwise_the_naive_results(name: str, dtype: str) -> None:
    planned = train_and_infer(name, dtype)
    naive = train_and_infer(name, dtype, planning__enabled=False)
    assert planned.keys() == naive.keys()
    for key in planned:
        np.testing.assert_array_equal(planned[key], naive[key], err_msg=key)


@pytest.mark.skipif(not c_kernels_available(), reason="C kernel pack not built")
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_c_kernels_give_the_numpy_results(name: str, dtype: str) -> None:
    numpy = train_and_infer(name, dtype)
    c = train_and_infer(name, dtype, backends__order=["c", "numpy"])
    tol = 1e-4 if dtype == "float32" else 1e-12
    for key in numpy:  # relative to the array's largest magnitude: gradients can be tiny
        scale = max(float(np.abs(numpy[key]).max(initial=0)), 1e-30)
        assert np.abs(c[key] - numpy[key]).max(initial=0) <= tol * scale, key


@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_grad_req_add_sums_the_steps(name: str) -> None:
    once = train_and_infer(name, "float64", steps=1)
    added = train_and_infer(name, "float64", grad_req="add", steps=3)
    for key in once:
        if key.startswith("grad:"):  # the same batch each step, so the same gradient
            assert_almost_equal(added[key], 3 * once[key], rtol=1e-12, atol=1e-15, names=(key, "3x"))


@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_json_round_trip_keeps_names_and_results(name: str) -> None:
    net = NETWORKS[name][0]("float64")
    loaded = mx.sym.load_json(net.tojson())
    assert loaded.list_arguments() == net.list_arguments()
    assert loaded.list_auxiliary_states() == net.list_auxiliary_states()
    assert loaded.get_internals().list_outputs() == net.get_internals().list_outputs()
    before, after = train_and_infer(name, "float64", net=net), train_and_infer(name, "float64",
                                                                               net=loaded)
    for key in before:
        np.testing.assert_array_equal(before[key], after[key], err_msg=key)

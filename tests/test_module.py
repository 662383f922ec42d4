"""``mx.mod.Module`` against MXNet 1.9.1's behaviour (values marked "MXNet" were read off
MXNet 1.9.1 running the same code)."""

from __future__ import annotations

import logging
import os
import re
import warnings

import mxlite as mx
import numpy as np
import pytest
from mxlite.base import MXNetError

SHAPES = {"fc1_weight": (4, 3), "fc1_bias": (4,), "fc2_weight": (3, 4), "fc2_bias": (3,)}
LABELS = np.array([0, 1, 2, 2, 1, 0, 0, 2, 1, 1, 0, 2], dtype=np.float32)


def fixed(shape: tuple, k: int) -> np.ndarray:
    """Deterministic float32 values in [-0.5, 0.5]."""
    n = int(np.prod(shape))
    return (np.sin(np.arange(n) * 0.7 + k) * 0.5).reshape(shape).astype(np.float32)


def mlp(lr_mult: float | None = None) -> mx.sym.Symbol:
    data = mx.sym.Variable("data")
    fc1 = mx.sym.FullyConnected(data, num_hidden=4, name="fc1")
    act = mx.sym.Activation(fc1, act_type="tanh")
    weight = mx.sym.Variable("fc2_weight", lr_mult=lr_mult) if lr_mult else None
    fc2 = mx.sym.FullyConnected(act, weight=weight, num_hidden=3, name="fc2")
    return mx.sym.SoftmaxOutput(fc2, name="softmax")


def mlp_params(shapes: dict = SHAPES) -> dict:
    return {n: mx.nd.array(fixed(s, i)) for i, (n, s) in enumerate(sorted(shapes.items()))}


def data_iter(n: int = 10, batch_size: int = 4, **kwargs) -> mx.io.NDArrayIter:
    return mx.io.NDArrayIter(fixed((n, 3), 7) * 2, LABELS[:n], batch_size=batch_size, **kwargs)


def ready_module(symbol: mx.sym.Symbol | None = None, batch_size: int = 4,
                 **kwargs) -> mx.mod.Module:
    mod = mx.mod.Module(symbol if symbol is not None else mlp(), **kwargs)
    mod.bind([("data", (batch_size, 3))], [("softmax_label", (batch_size,))])
    mod.set_params(mlp_params(), {})
    return mod


def batch(start: int, stop: int) -> mx.io.DataBatch:
    return mx.io.DataBatch([mx.nd.array(fixed((12, 3), 7)[start:stop] * 2)],
                           [mx.nd.array(LABELS[start:stop])])


def np_params(params: dict) -> dict:
    return {k: v.asnumpy() for k, v in params.items()}


# -- bind and parameters ---------------------------------------------------------------------
def test_bind_describes_inputs_and_outputs():
    it = data_iter()
    mod = mx.mod.Module(mlp())
    with pytest.raises(MXNetError, match="bind"):
        _ = mod.data_shapes
    mod.bind(it.provide_data, it.provide_label)
    assert isinstance(mod.data_shapes[0], mx.io.DataDesc)
    assert mod.data_shapes == [("data", (4, 3))]
    assert mod.label_shapes == [("softmax_label", (4,))]
    assert mod.output_shapes == [("softmax_output", (4, 3))]
    assert mod.data_names == ["data"] and mod.output_names == ["softmax_output"]
    assert mod._param_names == ["fc1_weight", "fc1_bias", "fc2_weight", "fc2_bias"]
    inference = mx.mod.Module(mlp())
    inference.bind(it.provide_data, for_training=False)
    assert inference.label_shapes is None


def test_init_params_uses_initializer_and_variable_init_attribute():
    data = mx.sym.Variable("data")
    weight = mx.sym.Variable("fc_weight", init=mx.init.Constant(3.0))
    net = mx.sym.FullyConnected(data, weight=weight, num_hidden=2, name="fc")
    net = mx.sym.FullyConnected(net, num_hidden=2, name="out")
    mod = mx.mod.Module(net, label_names=None)
    mod.bind([("data", (2, 3))])
    mod.init_params(mx.init.Constant(0.25))
    arg, aux = mod.get_params()
    assert aux == {}
    np.testing.assert_array_equal(arg["fc_weight"].asnumpy(), np.full((2, 3), 3.0))
    np.testing.assert_array_equal(arg["out_weight"].asnumpy(), np.full((2, 2), 0.25))
    np.testing.assert_array_equal(arg["out_bias"].asnumpy(), np.zeros(2))  # *_bias: zeros


def test_init_params_draws_in_sorted_name_order():
    """As in MXNet: parameters, then aux states, each in sorted name order."""
    net = mx.sym.FullyConnected(mx.sym.Variable("data"), num_hidden=2, name="z")
    net = mx.sym.FullyConnected(net, num_hidden=2, name="a")
    mod = mx.mod.Module(net, label_names=None)
    mod.bind([("data", (2, 2))])
    mx.random.seed(3)
    mod.init_params(mx.init.Normal(1.0))
    mx.random.seed(3)
    init = mx.init.Normal(1.0)
    for name in ("a_weight", "z_weight"):   # z_weight comes first in list_arguments()
        expected = mx.nd.zeros((2, 2))
        init(mx.init.InitDesc(name), expected)
        np.testing.assert_array_equal(mod.get_params()[0][name].asnumpy(), expected.asnumpy())


def test_init_params_from_dicts_copies_and_checks():
    mod = mx.mod.Module(mlp())
    mod.bind([("data", (4, 3))], [("softmax_label", (4,))])
    given = mlp_params()
    mod.init_params(arg_params=given)
    given["fc1_weight"][:] = 9.0   # the module holds a copy
    np.testing.assert_array_equal(mod.get_params()[0]["fc1_weight"].asnumpy(),
                                  fixed((4, 3), 1))
    partial = {"fc1_weight": mx.nd.ones((4, 3))}
    with pytest.raises(MXNetError, match="'fc1_bias' is not presented.*allow_missing"):
        mod.init_params(arg_params=partial, force_init=True)
    mod.init_params(mx.init.Constant(0.5), arg_params=partial, allow_missing=True,
                    force_init=True)
    arg = np_params(mod.get_params()[0])
    assert (arg["fc1_weight"] == 1).all() and (arg["fc2_weight"] == 0.5).all()
    # initializer None with allow_missing: the missing ones keep their values (MXNet)
    mod.init_params(None, arg_params={"fc2_weight": mx.nd.zeros((3, 4))}, allow_missing=True,
                    force_init=True)
    arg = np_params(mod.get_params()[0])
    assert (arg["fc1_weight"] == 1).all() and (arg["fc2_weight"] == 0).all()
    with pytest.raises(MXNetError, match="shape \\(5, 3\\).*\\(4, 3\\)"):
        mod.init_params(arg_params={"fc1_weight": mx.nd.ones((5, 3))}, allow_missing=True,
                        force_init=True)
    # extra names are ignored by init_params, as in MXNet 1.9.1
    mod.init_params(arg_params={**mlp_params(), "unused": mx.nd.ones(2)}, force_init=True)


def test_init_params_twice_needs_force_init():
    mod = ready_module()
    with pytest.warns(UserWarning, match="already initialized"):
        mod.init_params(mx.init.Zero())
    assert mod.get_params()[0]["fc1_weight"].asnumpy().any()
    mod.init_params(mx.init.Zero(), force_init=True)
    assert not mod.get_params()[0]["fc1_weight"].asnumpy().any()


def test_init_params_before_bind_and_without_initializer():
    mod = mx.mod.Module(mlp())
    with pytest.raises(MXNetError, match="bind"):
        mod.init_params()
    mod.bind([("data", (4, 3))], [("softmax_label", (4,))])
    with pytest.raises(MXNetError, match="no initializer"):
        mod.init_params(None)


def test_set_params_allow_missing_and_allow_extra():
    mod = ready_module()
    with pytest.raises(MXNetError, match="'fc1_bias' is not presented"):
        mod.set_params({"fc1_weight": mx.nd.ones((4, 3))}, {})
    mod.set_params({"fc1_weight": mx.nd.ones((4, 3))}, None, allow_missing=True)
    arg = np_params(mod.get_params()[0])
    assert (arg["fc1_weight"] == 1).all()
    np.testing.assert_array_equal(arg["fc2_weight"], fixed((3, 4), 3))   # unchanged
    extra = {"fc1_weight": mx.nd.ones((4, 3)), "bogus": mx.nd.ones(2)}
    with pytest.raises(MXNetError, match=r"\['bogus'\].*allow_extra"):
        mod.set_params(extra, {}, allow_missing=True)
    with pytest.raises(MXNetError, match="bogus"):
        mod.set_params(extra, {"zz": mx.nd.ones(1)}, allow_missing=True, allow_extra=False)
    mod.set_params(extra, {}, allow_missing=True, allow_extra=True)
    with pytest.warns(UserWarning, match="already initialized"):
        mod.set_params({"fc1_weight": mx.nd.zeros((4, 3))}, {}, allow_missing=True,
                       force_init=False)
    assert (mod.get_params()[0]["fc1_weight"].asnumpy() == 1).all()


def test_get_params_returns_copies():
    mod = ready_module()
    arg, _ = mod.get_params()
    arg["fc1_weight"][:] = 100.0
    np.testing.assert_array_equal(mod.get_params()[0]["fc1_weight"].asnumpy(), fixed((4, 3), 1))
    assert mod.get_params()[0]["fc1_weight"] is not mod.get_params()[0]["fc1_weight"]


def test_batchnorm_aux_params_through_get_params():
    data = mx.sym.Variable("data")
    net = mx.sym.BatchNorm(mx.sym.FullyConnected(data, num_hidden=3, name="fc"), name="bn")
    mod = mx.mod.Module(net, label_names=None)
    mod.bind([("data", (4, 3))])
    mod.init_params(mx.init.Constant(0.5))
    arg, aux = mod.get_params()
    assert sorted(arg) == ["bn_beta", "bn_gamma", "fc_bias", "fc_weight"]
    assert sorted(aux) == ["bn_moving_mean", "bn_moving_var"]
    np.testing.assert_array_equal(arg["bn_gamma"].asnumpy(), np.ones(3))   # fix_gamma
    np.testing.assert_array_equal(aux["bn_moving_var"].asnumpy(), np.ones(3))
    x = fixed((4, 3), 2)
    mod.forward(mx.io.DataBatch([mx.nd.array(x)]), is_train=True)
    fc = x @ np.full((3, 3), 0.5, np.float32).T
    expected_mean = 0.1 * fc.mean(axis=0)   # momentum 0.9, from zeros
    np.testing.assert_allclose(mod.get_params()[1]["bn_moving_mean"].asnumpy(), expected_mean,
                               rtol=1e-5)
    mod.set_params(arg, {"bn_moving_mean": mx.nd.ones(3), "bn_moving_var": mx.nd.ones(3)})
    assert (mod.get_params()[1]["bn_moving_mean"].asnumpy() == 1).all()


# -- optimizer -------------------------------------------------------------------------------
def test_init_optimizer_defaults():
    mod = ready_module()
    mod.init_optimizer(optimizer="sgd", optimizer_params={"learning_rate": 0.1, "wd": 0.01})
    opt = mod._optimizer
    assert opt.rescale_grad == pytest.approx(1 / 4)
    assert opt.idx2name == {0: "fc1_weight", 1: "fc1_bias", 2: "fc2_weight", 3: "fc2_bias"}
    assert [opt._get_wd(i) for i in range(4)] == [0.01, 0.0, 0.01, 0.0]
    mod.init_optimizer(optimizer_params={"rescale_grad": 2.0}, force_init=True)
    assert mod._optimizer.rescale_grad == 2.0


def test_init_optimizer_multipliers_from_variable_attributes():
    data = mx.sym.Variable("data")
    bias = mx.sym.Variable("fc_bias", wd_mult=2.0)
    weight = mx.sym.Variable("fc_weight", lr_mult=0.5)
    gamma_net = mx.sym.BatchNorm(data, fix_gamma=False, name="bn")
    net = mx.sym.FullyConnected(gamma_net, weight=weight, bias=bias, num_hidden=2, name="fc")
    mod = mx.mod.Module(mx.sym.SoftmaxOutput(net, name="softmax"))
    mod.bind([("data", (5, 3))], [("softmax_label", (5,))])
    mod.init_params()
    mod.init_optimizer(optimizer_params={"learning_rate": 0.1, "wd": 0.01})
    opt, names = mod._optimizer, mod._param_names
    lrs = {n: opt._get_lr(i) for i, n in enumerate(names)}
    wds = {n: opt._get_wd(i) for i, n in enumerate(names)}
    assert lrs == pytest.approx({"bn_gamma": 0.1, "bn_beta": 0.1, "fc_weight": 0.05,
                                 "fc_bias": 0.1})
    assert wds == pytest.approx({"bn_gamma": 0.01, "bn_beta": 0.0, "fc_weight": 0.01,
                                 "fc_bias": 0.02})
    assert opt.rescale_grad == pytest.approx(0.2)


def test_init_optimizer_with_an_optimizer_instance():
    mod = ready_module()
    opt = mx.optimizer.SGD(learning_rate=0.1)
    with pytest.warns(UserWarning, match="rescale_grad is not normalized"):
        mod.init_optimizer(optimizer=opt)
    assert mod._optimizer is opt and opt.idx2name[3] == "fc2_bias"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mod.init_optimizer(optimizer=mx.optimizer.SGD(rescale_grad=0.25), force_init=True)
    with pytest.raises(MXNetError, match="optimizer must be a name or an Optimizer"):
        mod.init_optimizer(optimizer=3, force_init=True)


def test_init_optimizer_twice_is_ignored(caplog):
    mod = ready_module()
    mod.init_optimizer(optimizer_params={"learning_rate": 0.1})
    first = mod._optimizer
    with caplog.at_level(logging.WARNING):
        mod.init_optimizer(optimizer_params={"learning_rate": 0.5})
    assert mod._optimizer is first and "optimizer already initialized" in caplog.text


def test_kvstore_choices():
    mod = ready_module()
    for name in ("local", "device", None):
        mod.init_optimizer(kvstore=name, force_init=True)   # one device: local updates
    with pytest.raises(MXNetError, match="'dist_sync'.*distributed"):
        mod.init_optimizer(kvstore="dist_sync", force_init=True)
    with pytest.raises(MXNetError, match="kvstore must be a name or None"):
        mod.init_optimizer(kvstore=object(), force_init=True)


# -- training steps --------------------------------------------------------------------------
def test_module_steps_equal_a_hand_written_executor_loop():
    """Module(forward_backward, update) == simple_bind + backward + optimizer updater."""
    opt_params = {"learning_rate": 0.2, "momentum": 0.9, "wd": 0.05}
    mod = ready_module(mlp(lr_mult=0.5))
    mod.init_optimizer(optimizer="sgd", optimizer_params=opt_params)
    symbol = mlp(lr_mult=0.5)
    exe = symbol.simple_bind(mx.cpu(), data=(4, 3), softmax_label=(4,),
                             grad_req={n: "write" for n in SHAPES})
    for name, value in mlp_params().items():
        exe.arg_dict[name][:] = value
    names = [n for n in symbol.list_arguments() if n in SHAPES]
    opt = mx.optimizer.create("sgd", rescale_grad=0.25, sym=symbol,
                              param_idx2name=dict(enumerate(names)), **opt_params)
    updater = mx.optimizer.get_updater(opt)
    for step in range(4):
        start = 4 * (step % 3)
        mod.forward_backward(batch(start, start + 4))
        mod.update()
        exe.forward(is_train=True, data=batch(start, start + 4).data[0],
                    softmax_label=batch(start, start + 4).label[0])
        exe.backward()
        for index, name in enumerate(names):
            updater(index, exe.grad_dict[name], exe.arg_dict[name])
    for name, value in mod.get_params()[0].items():
        np.testing.assert_array_equal(value.asnumpy(), exe.arg_dict[name].asnumpy(), err_msg=name)
    np.testing.assert_array_equal(mod.get_outputs()[0].asnumpy(), exe.outputs[0].asnumpy())


#: MXNet 1.9.1: ``ref_net()`` with ``ref_params()``, fit for one epoch of 3 batches of 4 with
#: SGD(learning_rate=0.1, momentum=0.9, wd=0.01), rescale_grad 1/4 by default.
MXNET_AFTER_3_STEPS = {
    "bn_beta": [-0.02787147, 0.32038546, 0.47481707, 0.43121555],
    "bn_gamma": [0.45550117, 0.47187081, 0.35469773, -0.00920981],
    "bn_moving_mean": [0.12321395, 0.06117145, -0.03827842, -0.10976945],
    "bn_moving_var": [0.78463829, 0.78023911, 0.87602782, 0.78788215],
    "fc1_bias": [0.4546487, 0.21368994, -0.12777056, -0.40913856],
    "fc1_weight": [[0.12174004, -0.23479992, -0.48090985], [-0.45814139, -0.25731292, 0.06453387],
                   [0.3989878, 0.49656326, 0.36059722], [0.06108603, -0.27090803, -0.47548974]],
    "fc2_bias": [-0.4046534, -0.52177417, -0.3383176],
    "fc2_weight": [[-0.49309847, -0.28292879, 0.06032407, 0.35721964],
                   [0.50633395, 0.38362354, 0.10788901, -0.23166355],
                   [-0.45357558, -0.45281354, -0.26650363, 0.07620919]],
}


def ref_net() -> mx.sym.Symbol:
    data = mx.sym.Variable("data")
    fc1 = mx.sym.FullyConnected(data, num_hidden=4, name="fc1")
    bn = mx.sym.BatchNorm(fc1, name="bn", fix_gamma=False)
    act = mx.sym.Activation(bn, act_type="tanh")
    weight = mx.sym.Variable("fc2_weight", lr_mult=0.5)
    fc2 = mx.sym.FullyConnected(act, weight=weight, num_hidden=3, name="fc2")
    return mx.sym.SoftmaxOutput(fc2, name="softmax")


def test_three_sgd_steps_match_mxnet_numbers():
    shapes = {**SHAPES, "bn_gamma": (4,), "bn_beta": (4,)}
    aux = {"bn_moving_mean": mx.nd.zeros(4), "bn_moving_var": mx.nd.ones(4)}
    mod = mx.mod.Module(ref_net())
    mod.fit(data_iter(12), num_epoch=1, arg_params=mlp_params(shapes), aux_params=aux,
            optimizer="sgd", optimizer_params={"learning_rate": 0.1, "momentum": 0.9, "wd": 0.01})
    arg, aux = mod.get_params()
    got = {**np_params(arg), **np_params(aux)}
    assert sorted(got) == sorted(MXNET_AFTER_3_STEPS)
    for name, expected in MXNET_AFTER_3_STEPS.items():
        np.testing.assert_allclose(got[name], np.array(expected, np.float32), rtol=1e-5,
                                   atol=1e-7, err_msg=name)
    # the biases before BatchNorm get no gradient and no weight decay: unchanged
    np.testing.assert_array_equal(got["fc1_bias"], mlp_params(shapes)["fc1_bias"].asnumpy())


def test_forward_backward_outputs_and_merge_multi_context():
    mod = ready_module()
    with pytest.raises(MXNetError, match="init_optimizer"):
        mod.update()
    mod.forward(batch(0, 4), is_train=False)
    out = mod.get_outputs()
    assert len(out) == 1 and out[0].shape == (4, 3)
    np.testing.assert_allclose(out[0].asnumpy().sum(axis=1), np.ones(4), rtol=1e-6)
    nested = mod.get_outputs(merge_multi_context=False)
    assert len(nested) == 1 and nested[0][0] is out[0]
    mod.backward()
    grad = mod._exec.grad_dict["fc2_bias"].asnumpy()
    probs = out[0].asnumpy()
    expected = (probs - np.eye(3)[LABELS[:4].astype(int)]).sum(axis=0)  # SoftmaxOutput grad
    np.testing.assert_allclose(grad, expected, rtol=1e-5, atol=1e-6)


def test_get_input_grads():
    data = mx.sym.Variable("data")
    loss = mx.sym.MakeLoss(mx.sym.sum(mx.sym.FullyConnected(data, num_hidden=2, no_bias=True,
                                                            name="fc")))
    mod = mx.mod.Module(loss, label_names=None)
    mod.bind([("data", (3, 3))], inputs_need_grad=True)
    weight = fixed((2, 3), 1)
    mod.set_params({"fc_weight": mx.nd.array(weight)}, {})
    mod.forward_backward(mx.io.DataBatch([mx.nd.array(fixed((3, 3), 4))]))
    grads = mod.get_input_grads()
    np.testing.assert_allclose(grads[0].asnumpy(), np.tile(weight.sum(axis=0), (3, 1)),
                               rtol=1e-6)
    assert mod.get_input_grads(merge_multi_context=False)[0][0] is grads[0]
    plain = ready_module()
    with pytest.raises(MXNetError, match="inputs_need_grad"):
        plain.get_input_grads()
    with pytest.raises(MXNetError, match="for_training"):
        mx.mod.Module(loss, label_names=None).bind([("data", (3, 3))], for_training=False,
                                                   inputs_need_grad=True)


def test_data_arrays_follow_the_bound_order_not_data_names():
    a, b = mx.sym.Variable("a"), mx.sym.Variable("b")
    net = mx.sym.MakeLoss(a - b * 2)
    mod = mx.mod.Module(net, data_names=["b", "a"], label_names=None)
    it = mx.io.NDArrayIter({"a": np.ones((2, 2)), "b": np.full((2, 2), 5.0)}, batch_size=2)
    mod.bind(it.provide_data, None, for_training=False)   # provide_data is [a, b]
    mod.init_params()
    mod.forward(next(it))
    np.testing.assert_array_equal(mod.get_outputs()[0].asnumpy(), np.full((2, 2), -9.0))


def test_float64_inputs_bind_float64_parameters():
    it = mx.io.NDArrayIter(mx.nd.array(fixed((8, 3), 1), dtype="float64"),
                           mx.nd.array(LABELS[:8], dtype="float64"), batch_size=4)
    mod = mx.mod.Module(mlp())
    mod.bind(it.provide_data, it.provide_label)
    mod.init_params()
    assert mod.get_params()[0]["fc1_weight"].dtype == np.float64


def test_update_metric_names_labels_and_outputs():
    data = mx.sym.Variable("data")
    fc = mx.sym.FullyConnected(data, num_hidden=3, name="fc")
    net = mx.sym.Group([mx.sym.BlockGrad(fc * 0, name="zeros"),
                        mx.sym.SoftmaxOutput(fc, name="softmax")])
    mod = mx.mod.Module(net)
    mod.bind([("data", (4, 3))], [("softmax_label", (4,))])
    mod.set_params({"fc_weight": mx.nd.array(fixed((3, 3), 0)), "fc_bias": mx.nd.zeros(3)}, {})
    mod.forward(batch(0, 4), is_train=False)
    probs = mod.get_outputs()[1].asnumpy()
    expected = float((probs.argmax(axis=1) == LABELS[:4]).mean())
    named = mx.metric.Accuracy(output_names=["softmax_output"], label_names=["softmax_label"])
    mod.update_metric(named, batch(0, 4).label)
    assert named.get()[1] == pytest.approx(expected)
    zeros = mx.metric.Accuracy(output_names=["zeros_output"])
    mod.update_metric(zeros, batch(0, 4).label)
    assert zeros.get()[1] == pytest.approx(float((LABELS[:4] == 0).mean()))


# -- fit, score, predict -----------------------------------------------------------------------
def test_fit_logs_callbacks_and_epochs(caplog):
    seen = []
    mod = mx.mod.Module(mlp())
    train, val = data_iter(), data_iter()
    with caplog.at_level(logging.INFO):
        mod.fit(train, eval_data=val, num_epoch=3, begin_epoch=1, arg_params=mlp_params(),
                optimizer_params={"learning_rate": 0.5},
                batch_end_callback=lambda p: seen.append((p.epoch, p.nbatch)),
                epoch_end_callback=lambda e, s, a, x: seen.append(("end", e, s, sorted(a))),
                eval_end_callback=lambda p: seen.append(("eval", p.epoch, p.nbatch)))
    names = sorted(SHAPES)
    assert seen == [(1, 0), (1, 1), (1, 2), ("end", 1, mod.symbol, names), ("eval", 1, 3),
                    (2, 0), (2, 1), (2, 2), ("end", 2, mod.symbol, names), ("eval", 2, 3)]
    lines = [r.getMessage() for r in caplog.records]
    # MXNet 1.9.1 logs these accuracies for this run
    assert "Epoch[1] Train-accuracy=0.500000" in lines
    assert "Epoch[1] Validation-accuracy=0.583333" in lines
    assert "Epoch[2] Train-accuracy=0.583333" in lines
    assert "Epoch[2] Validation-accuracy=0.583333" in lines
    assert [m for m in lines if re.fullmatch(r"Epoch\[\d\] Time cost=\d+\.\d{3}", m)]
    assert not [m for m in lines if m.startswith("Epoch[0]")]
    assert next(train).data[0].shape == (4, 3)   # reset at the end of each epoch
    assert mod.score(val, "acc") == [("accuracy", pytest.approx(0.5833333))]


def test_fit_epoch_end_params_equal_get_params_and_checkpoint(tmp_path):
    prefix = str(tmp_path / "net")
    mod = mx.mod.Module(mlp())
    got = {}
    mod.fit(data_iter(), num_epoch=2, arg_params=mlp_params(),
            epoch_end_callback=[mx.callback.do_checkpoint(prefix),
                                lambda e, s, a, x: got.update({e: np_params(a)})])
    final = np_params(mod.get_params()[0])
    for name in SHAPES:
        np.testing.assert_array_equal(got[1][name], final[name])
        assert not np.array_equal(got[0][name], got[1][name])
    _, arg, _ = mx.model.load_checkpoint(prefix, 2)
    np.testing.assert_array_equal(arg["fc2_weight"].asnumpy(), final["fc2_weight"])


def test_fit_errors():
    mod = mx.mod.Module(mlp())
    with pytest.raises(MXNetError, match="num_epoch"):
        mod.fit(data_iter())
    it = data_iter()
    list(it)   # exhausted: fit does not reset before the first epoch (as MXNet)
    with pytest.raises(MXNetError, match="no batch in epoch 0"):
        mod.fit(it, num_epoch=1)


def test_score_counts_padded_samples():
    mod = ready_module()
    it = data_iter(10, 4)   # the last batch has 2 samples + 2 padding from the start
    # MXNet 1.9.1: accuracy 5/12 (4 of 10 samples right, plus 1 of the 2 padding samples)
    assert mod.score(it, "acc") == [("accuracy", pytest.approx(5 / 12))]
    pred = mod.predict(it).asnumpy().argmax(axis=1)
    right = (pred == LABELS[:10]).sum() + (pred[:2] == LABELS[:2]).sum()
    assert right == 5
    metric = mx.metric.Accuracy()
    mod.score(it, metric)
    assert metric.num_inst == 12
    ends = []
    mod.score(it, "acc", num_batch=2, batch_end_callback=lambda p: ends.append(p.nbatch),
              score_end_callback=lambda p: ends.append(("end", p.nbatch)))
    assert ends == [0, 1, ("end", 2)]


def test_predict_trims_padding_and_merges():
    mod = ready_module()
    it = data_iter(10, 4)
    merged = mod.predict(it)
    assert isinstance(merged, mx.nd.NDArray) and merged.shape == (10, 3)
    per_batch = mod.predict(it, merge_batches=False)
    assert [[o.shape for o in outs] for outs in per_batch] == [[(4, 3)], [(4, 3)], [(2, 3)]]
    np.testing.assert_array_equal(per_batch[2][0].asnumpy(), merged.asnumpy()[8:])
    listed = mod.predict(it, always_output_list=True)
    assert isinstance(listed, list) and len(listed) == 1
    assert mod.predict(it, num_batch=1).shape == (4, 3)
    direct = mod.predict(mx.nd.array(fixed((12, 3), 7)[:4] * 2))
    np.testing.assert_array_equal(direct.asnumpy(), merged.asnumpy()[:4])
    with pytest.raises(MXNetError, match="NDArray or a DataIter"):
        mod.predict([batch(0, 4)])


def test_predict_with_several_outputs_returns_a_list():
    data = mx.sym.Variable("data")
    fc = mx.sym.FullyConnected(data, num_hidden=2, name="fc")
    mod = mx.mod.Module(mx.sym.Group([fc, mx.sym.relu(fc)]), label_names=None)
    mod.bind([("data", (4, 3))], for_training=False)
    mod.init_params(mx.init.One())
    outs = mod.predict(mx.io.NDArrayIter(fixed((6, 3), 1), batch_size=4))
    assert [o.shape for o in outs] == [(6, 2), (6, 2)]
    np.testing.assert_allclose(outs[1].asnumpy(), np.maximum(outs[0].asnumpy(), 0))


# -- files -------------------------------------------------------------------------------------
def trained(steps: int = 2) -> mx.mod.Module:
    mod = ready_module()
    mod.init_optimizer(optimizer_params={"learning_rate": 0.3, "momentum": 0.9})
    for step in range(steps):
        mod.forward_backward(batch(4 * step, 4 * step + 4))
        mod.update()
    return mod


@pytest.mark.parametrize("with_states", [True, False])
def test_save_checkpoint_and_load(tmp_path, with_states):
    prefix = str(tmp_path / "ck")
    mod = trained()
    mod.save_checkpoint(prefix, 3, save_optimizer_states=with_states)
    assert os.path.exists(f"{prefix}-symbol.json") and os.path.exists(f"{prefix}-0003.params")
    assert os.path.exists(f"{prefix}-0003.states") == with_states
    loaded = mx.mod.Module.load(prefix, 3, load_optimizer_states=with_states)
    loaded.bind([("data", (4, 3))], [("softmax_label", (4,))])
    for name, value in mod.get_params()[0].items():
        np.testing.assert_array_equal(loaded.get_params()[0][name].asnumpy(), value.asnumpy())
    loaded.init_optimizer(optimizer_params={"learning_rate": 0.3, "momentum": 0.9})
    for module in (mod, loaded):
        module.forward_backward(batch(8, 12))
        module.update()
    same = [np.array_equal(loaded.get_params()[0][n].asnumpy(), value.asnumpy())
            for n, value in mod.get_params()[0].items()]
    assert all(same) if with_states else not all(same)   # momentum kept or lost


def test_load_with_extra_params_fails_at_bind(tmp_path):
    prefix = str(tmp_path / "extra")
    mx.model.save_checkpoint(prefix, 1, mlp(), {**mlp_params(), "bogus": mx.nd.ones(2)}, {})
    loaded = mx.mod.Module.load(prefix, 1)
    with pytest.raises(MXNetError, match="bogus"):
        loaded.bind([("data", (4, 3))], [("softmax_label", (4,))])


def test_save_params_and_load_params(tmp_path):
    fname = str(tmp_path / "p.params")
    mod = trained()
    mod.save_params(fname)
    assert sorted(mx.nd.load(fname)) == sorted(f"arg:{n}" for n in SHAPES)
    other = ready_module()
    other.load_params(fname)
    for name, value in mod.get_params()[0].items():
        np.testing.assert_array_equal(other.get_params()[0][name].asnumpy(), value.asnumpy())
    mx.nd.save(fname, {"weird:fc1_weight": mx.nd.ones((4, 3))})
    with pytest.raises(MXNetError, match="Invalid param file"):
        other.load_params(fname)
    with pytest.raises(MXNetError, match="init_optimizer"):
        other.save_optimizer_states(str(tmp_path / "s.states"))


# -- shapes, fixed and shared parameters ---------------------------------------------------------
def test_reshape_on_a_smaller_last_batch():
    mod = ready_module()
    mod.init_optimizer(optimizer_params={"learning_rate": 0.1})
    mod.forward(batch(0, 4), is_train=False)
    full = mod.get_outputs()[0].asnumpy()
    small = batch(0, 2)
    mod.forward_backward(small)
    assert mod.get_outputs()[0].shape == (2, 3)
    np.testing.assert_array_equal(mod.get_outputs()[0].asnumpy(), full[:2])
    assert mod.data_shapes == [("data", (2, 3))] and mod.label_shapes == [("softmax_label", (2,))]
    before = mod.get_params()[0]["fc2_bias"].asnumpy()
    mod.update()
    assert not np.array_equal(mod.get_params()[0]["fc2_bias"].asnumpy(), before)
    mod.forward(batch(0, 4))
    assert mod.get_outputs()[0].shape == (4, 3) and mod.data_shapes[0].shape == (4, 3)
    mod.forward(mx.io.DataBatch([mx.nd.array(fixed((3, 3), 1))]), is_train=False)  # no label
    assert mod.get_outputs()[0].shape == (3, 3)


def test_fixed_param_names_are_not_updated():
    mod = ready_module(fixed_param_names=["fc1_weight", "fc1_bias"])
    assert mod._exec.grad_dict["fc1_weight"] is None
    mod.init_optimizer(optimizer_params={"learning_rate": 1.0, "wd": 0.1})
    for step in range(2):
        mod.forward_backward(batch(4 * step, 4 * step + 4))
        mod.update()
    arg, start = np_params(mod.get_params()[0]), np_params(mlp_params())
    for name in SHAPES:
        assert np.array_equal(arg[name], start[name]) == name.startswith("fc1"), name
    with pytest.raises(MXNetError, match="fixed_param name 'fc3_weight'"):
        mx.mod.Module(mlp(), fixed_param_names=["fc3_weight"])


def test_shared_module_uses_the_same_parameter_arrays():
    train = ready_module()
    train.init_optimizer(optimizer_params={"learning_rate": 1.0})
    infer = mx.mod.Module(mlp())
    infer.bind([("data", (1, 3))], for_training=False, shared_module=train)
    assert infer.params_initialized
    one = mx.io.DataBatch([mx.nd.array(fixed((1, 3), 5))])
    infer.forward(one)
    before = infer.get_outputs()[0].asnumpy()
    train.forward_backward(batch(0, 4))
    train.update()
    infer.forward(one)
    after = infer.get_outputs()[0].asnumpy()
    assert not np.array_equal(before, after)
    train.forward(mx.io.DataBatch([mx.nd.array(fixed((1, 3), 5))]), is_train=False)
    np.testing.assert_array_equal(train.get_outputs()[0].asnumpy(), after)


def test_force_rebind_keeps_current_parameters():
    mod = trained()
    params = np_params(mod.get_params()[0])
    mod.bind([("data", (2, 3))], [("softmax_label", (2,))], force_rebind=True)
    mod.forward_backward(batch(0, 2))
    mod.update()
    mod.bind([("data", (4, 3))], [("softmax_label", (4,))], force_rebind=True)
    moved = np_params(mod.get_params()[0])
    assert not np.array_equal(moved["fc2_weight"], params["fc2_weight"])


def test_states_inputs():
    data, state = mx.sym.Variable("data"), mx.sym.Variable("state")
    net = mx.sym.FullyConnected(data + state, num_hidden=2, name="fc")
    mod = mx.mod.Module(net, label_names=None, state_names=["state"])
    mod.bind([("data", (2, 3))], for_training=False)
    mod.init_params(mx.init.One())
    mod.set_states(value=1.0)
    assert (mod.get_states()[0].asnumpy() == 1).all()
    mod.set_states(states=[mx.nd.full((2, 3), 2.0)])
    assert (mod.get_states(merge_multi_context=False)[0][0].asnumpy() == 2).all()
    mod.forward(mx.io.DataBatch([mx.nd.zeros((2, 3))]))
    np.testing.assert_array_equal(mod.get_outputs()[0].asnumpy(), np.full((2, 2), 6.0))
    with pytest.raises(MXNetError, match="exactly one"):
        mod.set_states()


# -- errors ------------------------------------------------------------------------------------
def test_errors():
    with pytest.raises(MXNetError, match="data name 'dat' .*Did you mean 'data'"):
        mx.mod.Module(mlp(), data_names=["dat"])
    with pytest.warns(UserWarning, match="label name 'softmax_label' is not an argument"):
        mx.mod.Module(mx.sym.FullyConnected(mx.sym.Variable("data"), num_hidden=2))
    mod = mx.mod.Module(mlp())
    with pytest.raises(MXNetError, match="forward: call bind"):
        mod.forward(batch(0, 4))
    with pytest.raises(MXNetError, match=r"data_shapes name \['x'\]"):
        mod.bind([("x", (4, 3))], [("softmax_label", (4,))])
    mod.bind([("data", (4, 3))], [("softmax_label", (4,))])
    with pytest.raises(MXNetError, match="init_params"):
        mod.forward(batch(0, 4))
    mod.init_params()
    with pytest.raises(MXNetError, match="2 data arrays"):
        mod.forward(mx.io.DataBatch([mx.nd.ones((4, 3))] * 2))
    inference = mx.mod.Module(mlp())
    inference.bind([("data", (4, 3))], for_training=False)
    inference.init_params()
    inference.forward(batch(0, 4))
    with pytest.raises(MXNetError, match="for_training=True"):
        inference.backward()
    with pytest.raises(MXNetError, match="one context"):
        mx.mod.Module(mlp(), context=[mx.cpu(), mx.cpu()])

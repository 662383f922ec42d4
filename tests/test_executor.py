"""bind / simple_bind / forward / backward, gradient requests, head gradients, parameter
copying, reshape and the errors of each; behaviour checked by hand against MXNet 1.9.1."""

from __future__ import annotations

import re

import mxlite as mx
import numpy as np
import pytest
from mxlite.base import MXNetError
from mxlite.registry import Kernel, OpDef, get_registry
from mxlite.test_utils import check_numeric_gradient

nd = mx.nd
sym = mx.sym


def mlp(hidden: int = 4) -> mx.sym.Symbol:
    data = sym.Variable("data")
    net = sym.FullyConnected(data, num_hidden=hidden, name="fc1")
    return sym.SoftmaxOutput(net, name="sm")


def fill(executor: object, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    for array in executor.arg_arrays:  # type: ignore[attr-defined]
        array[:] = rng.uniform(-1, 1, array.shape)


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


# -- bind ----------------------------------------------------------------------------------
def test_seed_bind_and_forward() -> None:
    a, b = sym.Variable("A"), sym.Variable("B")
    executor = (a * b).bind(ctx=mx.cpu(), args={"A": nd.ones(3) * 4, "B": nd.ones(3) * 2})
    outputs = executor.forward()
    assert isinstance(outputs, list) and outputs[0] is executor.outputs[0]
    np.testing.assert_array_equal(executor.outputs[0].asnumpy(), [8, 8, 8])
    assert executor.outputs[0].dtype is np.float32


def test_bind_list_and_dict_forms() -> None:
    a, b = sym.Variable("a"), sym.Variable("b")
    c = a * b + a
    A, B = nd.array([1, 2, 3]), nd.array([4, 5, 6])
    for args in ({"a": A, "b": B}, [A, B]):
        executor = c.bind(mx.cpu(), args)
        np.testing.assert_array_equal(executor.forward()[0].asnumpy(), [5, 12, 21])
    gA = nd.zeros(3)
    executor = c.bind(mx.cpu(), [A, B], args_grad=[gA, None])
    assert executor.grad_dict == {"a": gA, "b": None}
    assert executor.grad_arrays == [gA, None]
    executor = c.bind(mx.cpu(), [A, B], args_grad={"b": gA})
    assert executor.grad_dict == {"a": None, "b": gA}
    executor = c.bind(mx.cpu(), [A, B])
    assert executor.grad_dict == {"a": None, "b": None}


def test_bind_uses_the_arrays_without_copying() -> None:
    a, b = sym.Variable("a"), sym.Variable("b")
    A, B, gA = nd.array([1, 2, 3]), nd.array([4, 5, 6]), nd.zeros(3)
    executor = (a * b + a).bind(mx.cpu(), {"a": A, "b": B}, args_grad={"a": gA})
    assert executor.arg_dict["a"] is A and executor.arg_arrays[1] is B
    assert executor.grad_dict["a"] is gA
    A[:] = 10
    np.testing.assert_array_equal(executor.forward()[0].asnumpy(), [50, 60, 70])
    B += 1
    np.testing.assert_array_equal(executor.forward()[0].asnumpy(), [60, 70, 80])
    executor.backward(nd.ones(3))
    np.testing.assert_array_equal(gA.asnumpy(), [6, 7, 8])  # written into the given array


def test_bind_ignores_names_that_are_not_arguments() -> None:
    a = sym.Variable("a")
    executor = (a * 2).bind(mx.cpu(), {"a": nd.ones(2), "z": nd.ones(5)},
                            args_grad={"a": nd.zeros(2), "zz": nd.zeros(1)},
                            grad_req={"a": "write", "other": "add"})
    assert list(executor.arg_dict) == ["a"]


def test_bind_errors_name_the_arguments() -> None:
    a, b = sym.Variable("a"), sym.Variable("b")
    c = a * b
    A = nd.ones(3)
    with pytest.raises(ValueError, match=r"missing \['b'\]"):
        c.bind(mx.cpu(), {"a": A})
    with pytest.raises(MXNetError, match=r"missing \['b'\].*unused: \['bb'\]"):
        c.bind(mx.cpu(), {"a": A, "bb": A})
    with pytest.raises(MXNetError, match=r"1 arrays but the symbol needs 2: \['a', 'b'\]"):
        c.bind(mx.cpu(), [A])
    with pytest.raises(MXNetError, match=r"_mul\d+.*\(3,\).*\(4,\)"):
        c.bind(mx.cpu(), {"a": A, "b": nd.ones(4)})
    with pytest.raises(MXNetError, match=r"args_grad\['a'\] has shape \(4,\)"):
        c.bind(mx.cpu(), {"a": A, "b": A}, args_grad={"a": nd.ones(4)})
    with pytest.raises(MXNetError, match="grad_req 'foo' for 'a'"):
        c.bind(mx.cpu(), {"a": A, "b": A}, args_grad={"a": A}, grad_req="foo")
    with pytest.raises(MXNetError, match="grad_req has 1 entries for 2"):
        c.bind(mx.cpu(), {"a": A, "b": A}, grad_req=["write"])
    with pytest.raises(TypeError, match="expected an NDArray"):
        c.bind(mx.cpu(), {"a": A, "b": [1, 2, 3]})
    with pytest.raises(MXNetError, match="GPU"):
        c.bind(mx.gpu(), {"a": A, "b": A})


# -- gradient requests ---------------------------------------------------------------------
@pytest.mark.parametrize("form", ["str", "list", "dict"])
def test_grad_req_write_add_null(form: str) -> None:
    a, b = sym.Variable("a"), sym.Variable("b")
    c = a * b + a
    A, B = nd.array([1, 2, 3]), nd.array([4, 5, 6])
    grads = {"a": nd.ones(3) * 100, "b": nd.ones(3) * 100}

    def req(kind: str) -> object:
        return {"str": kind, "list": [kind, kind], "dict": {"a": kind, "b": kind}}[form]

    executor = c.bind(mx.cpu(), {"a": A, "b": B}, args_grad=grads, grad_req=req("write"))
    for _ in range(2):
        executor.forward(is_train=True)
        executor.backward(nd.ones(3))
    np.testing.assert_array_equal(grads["a"].asnumpy(), [5, 6, 7])
    np.testing.assert_array_equal(grads["b"].asnumpy(), [1, 2, 3])

    executor = c.bind(mx.cpu(), {"a": A, "b": B}, args_grad=grads, grad_req=req("add"))
    executor.forward(is_train=True)
    executor.backward(nd.ones(3))
    executor.backward(nd.ones(3) * 2)
    np.testing.assert_array_equal(grads["a"].asnumpy(), [5, 6, 7] + np.array([5, 6, 7]) * 3)
    np.testing.assert_array_equal(grads["b"].asnumpy(), [1, 2, 3] + np.array([1, 2, 3]) * 3)

    before = {k: v.asnumpy() for k, v in grads.items()}
    executor = c.bind(mx.cpu(), {"a": A, "b": B}, args_grad=grads, grad_req=req("null"))
    executor.forward(is_train=True)
    executor.backward(nd.ones(3))
    for name, value in grads.items():
        np.testing.assert_array_equal(value.asnumpy(), before[name])


def test_grad_req_per_argument() -> None:
    a, b = sym.Variable("a"), sym.Variable("b")
    grads = {"a": nd.ones(3), "b": nd.ones(3)}
    executor = (a * b).bind(mx.cpu(), {"a": nd.array([1, 2, 3]), "b": nd.array([4, 5, 6])},
                            args_grad=grads, grad_req={"a": "add"})  # b: missing means null
    executor.forward(is_train=True)
    executor.backward(nd.ones(3))
    np.testing.assert_array_equal(grads["a"].asnumpy(), [5, 6, 7])
    np.testing.assert_array_equal(grads["b"].asnumpy(), [1, 1, 1])


def check_repeated_backward(s: mx.sym.Symbol, expected: np.ndarray, value: np.ndarray) -> None:
    """Two forward/backward rounds with heads 1, 10, 100...: ``write`` gives ``expected``
    each time, ``add`` twice ``expected``."""
    heads = [nd.ones(value.shape) * 10 ** k for k in range(len(s.list_outputs()))]
    for req, factor in (("write", 1), ("add", 2)):
        grad = nd.zeros(value.shape)
        executor = s.bind(mx.cpu(), {"x": nd.array(value)}, args_grad={"x": grad}, grad_req=req)
        for _ in range(2):
            executor.forward(is_train=True)
            executor.backward(heads)
        np.testing.assert_allclose(grad.asnumpy(), expected * factor, rtol=1e-6, err_msg=req)


VALUE = np.array([3.0, -1.5, 0.5], np.float32)


@pytest.mark.parametrize("build,expected", [
    (lambda x: (x + 1) * (x - 1), 2 * VALUE),
    (lambda x: abs(x) * (x * 2), 4 * np.abs(VALUE)),
    (lambda x: x * x * x, 3 * VALUE ** 2),
    (lambda x: sym.Group([x * 2, x * 3]), np.full_like(VALUE, 32)),
    (lambda x: sym.Group([x, x * 3]), np.full_like(VALUE, 31)),
    (lambda x: sym.Group([x * 2, x * 2 + 1]), np.full_like(VALUE, 22)),
])
def test_variable_used_twice_accumulates_gradient(build, expected) -> None:  # type: ignore[no-untyped-def]
    check_repeated_backward(build(sym.Variable("x")), expected, VALUE)


@pytest.mark.parametrize("build,expected", [
    (lambda x: x * x, 2 * VALUE),
    (lambda x: x + x, np.full_like(VALUE, 2)),
    (lambda x: x - x, np.zeros_like(VALUE)),
    (lambda x: x / x, np.zeros_like(VALUE)),
    (lambda x: sym.Group([x, x]), np.full_like(VALUE, 11)),  # MXNet 1.9.1 keeps only 10
    (lambda x: sym.Group([x * 2] * 2), np.full_like(VALUE, 22)),  # MXNet: 20
])
def test_one_entry_read_twice_by_one_op_or_two_heads(build, expected) -> None:  # type: ignore[no-untyped-def]
    check_repeated_backward(build(sym.Variable("x")), expected, VALUE)


def test_argument_not_reached_by_backward_gets_zero_gradient() -> None:
    a, b = sym.Variable("a"), sym.Variable("b")
    s = sym.Group([a * 2, b > 0])  # comparisons have no gradient
    grads = {"a": nd.ones(2) * 7, "b": nd.ones(2) * 7}
    executor = s.bind(mx.cpu(), {"a": nd.ones(2), "b": nd.ones(2)}, args_grad=grads)
    executor.forward(is_train=True)
    executor.backward([nd.ones(2), nd.ones(2)])
    np.testing.assert_array_equal(grads["a"].asnumpy(), [2, 2])
    np.testing.assert_array_equal(grads["b"].asnumpy(), [0, 0])


# -- heads ---------------------------------------------------------------------------------
def test_group_outputs_take_one_head_gradient_each() -> None:
    a = sym.Variable("a")
    s = sym.Group([a * 2, a * a, abs(a)])
    value = np.array([1.0, -2.0], np.float32)
    grad = nd.zeros(2)
    executor = s.bind(mx.cpu(), {"a": nd.array(value)}, args_grad={"a": grad})
    outs = executor.forward(is_train=True)
    assert len(outs) == 3
    np.testing.assert_array_equal(outs[1].asnumpy(), value ** 2)
    executor.backward([nd.array([1, 1]), nd.array([10, 10]), nd.array([100, 100])])
    np.testing.assert_allclose(grad.asnumpy(), 2 + 10 * 2 * value + 100 * np.sign(value))
    names = s.list_outputs()
    executor.backward({names[0]: nd.ones(2), names[1]: nd.zeros(2), names[2]: nd.zeros(2)})
    np.testing.assert_allclose(grad.asnumpy(), [2, 2])


def test_loss_and_non_loss_heads() -> None:
    data = sym.Variable("data")
    fc = sym.FullyConnected(data, num_hidden=2, name="fc")
    group = sym.Group([sym.SoftmaxOutput(fc, name="sm"), fc * 2])
    assert group.list_arguments() == ["data", "fc_weight", "fc_bias", "sm_label"]
    executor = group.simple_bind(mx.cpu(), data=(2, 3))
    executor.arg_dict["data"][:] = 1
    executor.arg_dict["fc_weight"][:] = 0.5  # the labels stay 0
    executor.forward(is_train=True)
    with pytest.raises(ValueError, match="is not a loss.*head gradient"):
        executor.backward()
    with pytest.raises(MXNetError, match="head gradient"):
        executor.backward([nd.ones((2, 2))])  # only the loss head's (ignored) gradient
    executor.backward([nd.zeros((2, 2)), nd.ones((2, 2))])
    # softmax of equal logits is 0.5: (0.5 - onehot) summed over the batch, plus 2 per row
    np.testing.assert_allclose(executor.grad_dict["fc_bias"].asnumpy(), [3, 5])
    executor.backward([nd.ones((2, 2)) * 100, nd.ones((2, 2))])  # a loss ignores its head
    np.testing.assert_allclose(executor.grad_dict["fc_bias"].asnumpy(), [3, 5])
    with pytest.raises(MXNetError, match=r"out_grads\[1\].*\(3, 2\), expected \(2, 2\)"):
        executor.backward([nd.ones((2, 2)), nd.ones((3, 2))])


def test_backward_without_head_gradient_on_a_non_loss_head() -> None:
    a = sym.Variable("a")
    executor = (a * 2).bind(mx.cpu(), {"a": nd.ones(2)}, args_grad={"a": nd.zeros(2)})
    executor.forward(is_train=True)
    with pytest.raises(MXNetError, match=r"'_mulscalar\d+_output' is not a loss.*out_grads"):
        executor.backward()
    executor.backward(nd.ones(2))  # a single array is fine
    executor.backward(np.ones(2))  # and so is numpy
    executor.backward(out_grads=[nd.ones(2)])
    np.testing.assert_array_equal(executor.grad_dict["a"].asnumpy(), [2, 2])
    with pytest.raises(MXNetError, match="not outputs"):
        executor.backward({"nope": nd.ones(2)})


def test_softmax_output_gradient_without_head() -> None:
    executor = mlp(3).simple_bind(mx.cpu(), data=(2, 4))
    fill(executor)
    executor.arg_dict["sm_label"][:] = nd.array([2, 0])
    out = executor.forward(is_train=True, sm_label=nd.array([2, 0]))[0].asnumpy()
    x, w, b = (executor.arg_dict[k].asnumpy() for k in ("data", "fc1_weight", "fc1_bias"))
    np.testing.assert_allclose(out, softmax(x @ w.T + b), rtol=1e-5)
    executor.backward()
    dlogits = out - np.eye(3)[[2, 0]]
    np.testing.assert_allclose(executor.grad_dict["fc1_weight"].asnumpy(), dlogits.T @ x,
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(executor.grad_dict["fc1_bias"].asnumpy(), dlogits.sum(0),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(executor.grad_dict["sm_label"].asnumpy(), [0, 0])


def test_numeric_gradient_of_a_small_network() -> None:
    data = sym.Variable("data")
    net = sym.FullyConnected(data, num_hidden=5, name="fc1")
    net = sym.Activation(net, act_type="tanh")
    net = sym.FullyConnected(net, num_hidden=3, name="fc2")
    net = net * net + abs(net)
    rng = np.random.default_rng(1)
    location = {"data": rng.uniform(-1, 1, (2, 4)), "fc1_weight": rng.uniform(-1, 1, (5, 4)),
                "fc1_bias": rng.uniform(-1, 1, 5), "fc2_weight": rng.uniform(-1, 1, (3, 5)),
                "fc2_bias": rng.uniform(0.2, 1, 3)}
    check_numeric_gradient(net, location, dtype=np.float64)


# -- forward -------------------------------------------------------------------------------
def test_forward_keyword_arrays_are_copied_in() -> None:
    executor = mlp().simple_bind(mx.cpu(), data=(2, 3))
    data = executor.arg_dict["data"]
    given = nd.ones((2, 3))
    executor.forward(data=given)
    assert executor.arg_dict["data"] is data  # copied into the bound array
    np.testing.assert_array_equal(data.asnumpy(), np.ones((2, 3)))
    given[:] = 5
    assert data.asnumpy()[0, 0] == 1
    executor.forward(data=np.full((2, 3), 2.0))  # numpy arrays (float64) are cast
    assert data.asnumpy()[0, 0] == 2 and data.dtype is np.float32


def test_forward_keyword_errors() -> None:
    executor = mlp().simple_bind(mx.cpu(), data=(2, 3))
    with pytest.raises(ValueError, match=r"'data'.*\(3, 3\).*\(2, 3\)"):
        executor.forward(data=nd.ones((3, 3)))
    with pytest.raises(TypeError, match="unknown input 'foo'"):
        executor.forward(foo=nd.ones((2, 3)))
    with pytest.raises(MXNetError, match="Did you mean 'data'"):
        executor.forward(dat=nd.ones((2, 3)))


def test_outputs_are_updated_in_place_by_each_forward() -> None:
    a = sym.Variable("a")
    executor = (a * 2).bind(mx.cpu(), {"a": nd.ones(2)})
    first = executor.forward()[0]
    executor.forward(a=nd.array([3, 4]))
    assert executor.outputs[0] is first
    np.testing.assert_array_equal(first.asnumpy(), [6, 8])
    assert list(executor.output_dict) == executor._symbol.list_outputs()


def test_grouped_internal_outputs_are_all_kept() -> None:
    """Storage planning must not reuse the buffer of a tensor that is also an output."""
    data = sym.Variable("data")
    fc1 = sym.FullyConnected(data, num_hidden=6, name="fc1")
    act = sym.Activation(fc1, act_type="relu", name="act")
    fc2 = sym.FullyConnected(act, num_hidden=6, name="fc2")
    act2 = sym.Activation(fc2, act_type="sigmoid", name="act2")
    out = sym.FullyConnected(act2, num_hidden=2, name="fc3")
    group = sym.Group([out, fc1, act2, act])
    executor = group.simple_bind(mx.cpu(), data=(3, 5))
    fill(executor, 3)
    p = {k: v.asnumpy().astype(np.float64) for k, v in executor.arg_dict.items()}
    h1 = p["data"] @ p["fc1_weight"].T + p["fc1_bias"]
    a1 = np.maximum(h1, 0)
    a2 = 1 / (1 + np.exp(-(a1 @ p["fc2_weight"].T + p["fc2_bias"])))
    o = a2 @ p["fc3_weight"].T + p["fc3_bias"]
    heads = [nd.array(np.ones(s.shape)) for s in executor.outputs]
    for _ in range(2):
        outs = [x.asnumpy() for x in executor.forward(is_train=True)]
        executor.backward(heads)
    for got, want in zip(outs, [o, h1, a2, a1]):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_float64_binding() -> None:
    a = sym.Variable("a")
    executor = (a * 3).bind(mx.cpu(), {"a": nd.array([1, 2], dtype="float64")},
                            args_grad={"a": nd.zeros(2, dtype="float64")})
    out = executor.forward(is_train=True)[0]
    assert out.dtype is np.float64
    executor.backward(nd.ones(2, dtype="float64"))
    np.testing.assert_array_equal(executor.grad_dict["a"].asnumpy(), [3, 3])


# -- simple_bind ---------------------------------------------------------------------------
def test_simple_bind_allocates_zeroed_arrays() -> None:
    executor = mlp().simple_bind(mx.cpu(), data=(2, 3))
    shapes = {"data": (2, 3), "fc1_weight": (4, 3), "fc1_bias": (4,), "sm_label": (2,)}
    assert {k: v.shape for k, v in executor.arg_dict.items()} == shapes
    assert {k: v.shape for k, v in executor.grad_dict.items()} == shapes  # the label's too
    assert all(v.dtype is np.float32 and not v.asnumpy().any()
               for v in executor.arg_arrays + executor.grad_arrays)
    assert executor.aux_dict == {} and executor.aux_arrays == []
    assert list(executor.output_dict) == ["sm_output"]
    assert executor.output_dict["sm_output"] is executor.outputs[0]
    assert executor.outputs[0].shape == (2, 4)
    assert executor.arg_arrays == list(executor.arg_dict.values())
    assert executor.grad_arrays == list(executor.grad_dict.values())


def test_simple_bind_seed_example() -> None:
    net = sym.Variable("data")
    net = sym.FullyConnected(data=net, name="fc1", num_hidden=128)
    net = sym.Activation(data=net, name="relu1", act_type="relu")
    net = sym.FullyConnected(data=net, name="fc2", num_hidden=64)
    net = sym.SoftmaxOutput(data=net, name="out")
    executor = net.simple_bind(ctx=mx.cpu(), data=(32, 100))
    executor.forward(is_train=True)
    executor.backward()
    assert {k: v.shape for k, v in executor.grad_dict.items()} == {
        "data": (32, 100), "fc1_weight": (128, 100), "fc1_bias": (128,),
        "fc2_weight": (64, 128), "fc2_bias": (64,), "out_label": (32,)}


def test_simple_bind_grad_req_and_type_dict() -> None:
    net = mlp()
    executor = net.simple_bind(mx.cpu(), grad_req="null", data=(2, 3))
    assert executor.grad_dict == dict.fromkeys(net.list_arguments())
    assert executor.grad_arrays == [None] * 4
    executor = net.simple_bind(mx.cpu(), grad_req={"fc1_weight": "write"}, data=(2, 3))
    assert [k for k, v in executor.grad_dict.items() if v is not None] == ["fc1_weight"]
    executor = net.simple_bind(mx.cpu(), grad_req=["write", "null", "add", "null"], data=(2, 3))
    assert [k for k, v in executor.grad_dict.items() if v is not None] == ["data", "fc1_bias"]
    executor = net.simple_bind(mx.cpu(), type_dict={"data": "float64"}, data=(2, 3))
    assert {v.dtype for v in executor.arg_arrays} == {np.float64}
    assert executor.outputs[0].dtype is np.float64


def test_simple_bind_uses_declared_variable_shapes() -> None:
    data = sym.Variable("data", shape=(5, 2), dtype="float64")
    executor = sym.FullyConnected(data, num_hidden=3, name="f").simple_bind(mx.cpu())
    assert executor.arg_dict["f_weight"].shape == (3, 2)
    assert executor.arg_dict["f_weight"].dtype is np.float64


def test_simple_bind_errors() -> None:
    net = mlp()
    with pytest.raises(MXNetError, match=r"cannot infer the shapes of \['data'"):
        net.simple_bind(mx.cpu())
    with pytest.raises(MXNetError, match="'dat' is not an input.*Did you mean 'data'"):
        net.simple_bind(mx.cpu(), dat=(2, 3))
    with pytest.raises(ValueError, match=r"'fc1'.*\(5, 5\).*\(4, 3\)"):
        net.simple_bind(mx.cpu(), data=(2, 3), fc1_weight=(5, 5))


# -- parameters ----------------------------------------------------------------------------
def test_copy_params_from() -> None:
    executor = mlp().simple_bind(mx.cpu(), data=(2, 3))
    weight = nd.ones((4, 3)) * 2
    executor.copy_params_from({"fc1_weight": weight, "fc1_bias": np.arange(4)})
    np.testing.assert_array_equal(executor.arg_dict["fc1_weight"].asnumpy(), np.full((4, 3), 2))
    np.testing.assert_array_equal(executor.arg_dict["fc1_bias"].asnumpy(), [0, 1, 2, 3])
    weight[:] = 0
    assert executor.arg_dict["fc1_weight"].asnumpy()[0, 0] == 2  # copied, not aliased
    with pytest.raises(ValueError, match="'foo' is not in the executor"):
        executor.copy_params_from({"foo": nd.ones(1)})
    executor.copy_params_from({"foo": nd.ones(1)}, {"bar": nd.ones(1)}, allow_extra_params=True)
    with pytest.raises(MXNetError, match=r"'fc1_weight' has shape \(3, 3\), expected \(4, 3\)"):
        executor.copy_params_from({"fc1_weight": nd.ones((3, 3))})
    with pytest.raises(MXNetError, match="aux 'bar'"):
        executor.copy_params_from({}, {"bar": nd.ones(1)})


def test_reshape_shares_parameters() -> None:
    executor = mlp().simple_bind(mx.cpu(), data=(4, 3))
    fill(executor)
    small = executor.reshape(data=(2, 3), sm_label=(2,))
    assert small.arg_dict["fc1_weight"] is executor.arg_dict["fc1_weight"]
    assert small.grad_dict["fc1_weight"] is executor.grad_dict["fc1_weight"]
    assert small.arg_dict["data"].shape == (2, 3) and small.outputs[0].shape == (2, 4)
    executor.arg_dict["fc1_weight"][:] = 0.25  # seen by both
    small.arg_dict["data"][:] = 7  # a smaller array is a view of the old memory, as in MXNet
    np.testing.assert_array_equal(executor.arg_dict["data"].asnumpy()[:2], np.full((2, 3), 7))
    out = small.forward(is_train=True, sm_label=nd.array([0, 1]))[0].asnumpy()
    np.testing.assert_allclose(out, softmax(np.full((2, 4), 7 * 3 * 0.25)
                                            + small.arg_dict["fc1_bias"].asnumpy()), rtol=1e-6)
    small.backward()
    assert executor.grad_dict["fc1_weight"].asnumpy().any()
    same = executor.reshape(data=(4, 3))
    assert same.arg_dict["data"] is executor.arg_dict["data"]


def test_reshape_rules() -> None:
    executor = mlp().simple_bind(mx.cpu(), data=(4, 3))
    with pytest.raises(ValueError, match="'sm_label'.*not given.*partial_shaping=True"):
        executor.reshape(data=(2, 3))
    with pytest.raises(MXNetError, match=r"'data' would grow.*\(8, 3\).*allow_up_sizing"):
        executor.reshape(data=(8, 3), sm_label=(8,))
    with pytest.raises(MXNetError, match="'data' would grow"):
        executor.reshape(partial_shaping=True, data=(4, 5))
    grown = executor.reshape(partial_shaping=True, allow_up_sizing=True, data=(4, 5))
    assert grown.arg_dict["fc1_weight"].shape == (4, 5)
    assert grown.arg_dict["fc1_weight"] is not executor.arg_dict["fc1_weight"]
    assert grown.arg_dict["fc1_bias"] is executor.arg_dict["fc1_bias"]
    bigger = executor.reshape(allow_up_sizing=True, data=(8, 3), sm_label=(8,))
    assert bigger.outputs[0].shape == (8, 4)
    partial = executor.reshape(partial_shaping=True, data=(2, 3))
    assert partial.arg_dict["sm_label"].shape == (2,)
    with pytest.raises(MXNetError, match="do not determine"):
        sym.Variable("a").bind(mx.cpu(), {"a": nd.ones(2)}).reshape()


def test_debug_str_ends_with_total() -> None:
    executor = mlp().simple_bind(mx.cpu(), data=(2, 3))
    text = executor.debug_str()
    assert re.search(r"Total [\d.]+ MB allocated$", text.rstrip("\n"))
    assert "fc1" in text and "FullyConnected" in text


# -- aux states ----------------------------------------------------------------------------
@pytest.fixture
def running_sum(fresh_registry: None) -> mx.sym.Symbol:
    """``out = data``; a training forward adds the column sums to the aux state ``total``."""
    def shape(p, ins, outs, aux):  # type: ignore[no-untyped-def]
        data = ins[0] if ins[0] is not None else outs[0]
        return [data], [data], [data[1:] if data is not None else aux[0]]

    def forward(p, ins, outs, aux, is_train):  # type: ignore[no-untyped-def]
        outs[0][...] = ins[0]
        if is_train:
            aux[0] += ins[0].sum(axis=0)

    def backward(p, out_grads, ins, outs, in_grads, aux):  # type: ignore[no-untyped-def]
        if in_grads[0] is not None:
            in_grads[0][...] = out_grads[0]

    get_registry().add_op(OpDef(name="TestRunningSum", infer_shape=shape, aux=["total"],
                                kernels={"numpy": Kernel(forward, backward)}))
    return sym.TestRunningSum(sym.Variable("data"), name="rs") * 2


def test_aux_states(running_sum: mx.sym.Symbol) -> None:
    executor = running_sum.simple_bind(mx.cpu(), data=(2, 3))
    assert list(executor.aux_dict) == ["rs_total"]
    assert executor.aux_arrays[0] is executor.aux_dict["rs_total"]
    assert executor.aux_dict["rs_total"].shape == (3,)
    executor.forward(is_train=True, data=nd.array([[1, 2, 3], [4, 5, 6]]))
    executor.forward(is_train=False)
    np.testing.assert_array_equal(executor.aux_dict["rs_total"].asnumpy(), [5, 7, 9])
    executor.backward(nd.ones((2, 3)))
    np.testing.assert_array_equal(executor.grad_dict["data"].asnumpy(), np.full((2, 3), 2))
    total = nd.ones(3)
    data = nd.ones((2, 3))
    for aux in ({"rs_total": total}, [total]):
        bound = running_sum.bind(mx.cpu(), {"data": data}, aux_states=aux)
        assert bound.aux_dict["rs_total"] is total
    bound.forward(is_train=True)
    np.testing.assert_array_equal(total.asnumpy(), [3, 3, 3])
    with pytest.raises(ValueError, match=r"aux_states is missing \['rs_total'\]"):
        running_sum.bind(mx.cpu(), {"data": data})
    executor.copy_params_from({}, {"rs_total": np.zeros(3)})
    assert not executor.aux_dict["rs_total"].asnumpy().any()

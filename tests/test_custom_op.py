"""Python operators: MXNet's CustomOp/CustomOpProp API, and ``@mx.operator.define``.

Names, listings, the strings props receive, ``create_operator``'s arguments and the ``req``
values were checked by hand against MXNet 1.9.1.
"""

from __future__ import annotations

import subprocess
import sys

import mxlite as mx
import numpy as np
import pytest
from mxlite.registry import PluginError
from mxlite.test_utils import assert_almost_equal, check_numeric_gradient

CALLS: list = []


class Softmax(mx.operator.CustomOp):
    """MXNet's tutorial softmax loss: forward is softmax, backward is ``p - onehot``."""

    def forward(self, is_train, req, in_data, out_data, aux):  # type: ignore[no-untyped-def]
        x = in_data[0].asnumpy()
        y = np.exp(x - x.max(axis=1, keepdims=True))
        y /= y.sum(axis=1, keepdims=True)
        self.assign(out_data[0], req[0], mx.nd.array(y))

    def backward(self, req, out_grad, in_data, out_data, in_grad, aux):  # type: ignore[no-untyped-def]
        label = in_data[1].asnumpy().ravel().astype(int)
        y = out_data[0].asnumpy()
        y[np.arange(label.shape[0]), label] -= 1.0
        self.assign(in_grad[0], req[0], mx.nd.array(y))
        self.assign(in_grad[1], req[1], 0)


@mx.operator.register("test_softmax")
class SoftmaxProp(mx.operator.CustomOpProp):
    def __init__(self) -> None:
        super().__init__(need_top_grad=False)

    def list_arguments(self):  # type: ignore[no-untyped-def]
        return ["data", "label"]

    def infer_shape(self, in_shape):  # type: ignore[no-untyped-def]
        return [in_shape[0], (in_shape[0][0],)], [in_shape[0]], []

    def create_operator(self, ctx, shapes, dtypes):  # type: ignore[no-untyped-def]
        return Softmax()


class Counter(mx.operator.CustomOp):
    """Scales its input by ``k``; counts its calls in the aux state ``calls``."""

    def __init__(self, k: float) -> None:
        super().__init__()
        self.k = k

    def forward(self, is_train, req, in_data, out_data, aux):  # type: ignore[no-untyped-def]
        CALLS.append(("forward", is_train, list(req)))
        self.assign(out_data[0], req[0], in_data[0] * self.k)
        aux[0][:] += 1

    def backward(self, req, out_grad, in_data, out_data, in_grad, aux):  # type: ignore[no-untyped-def]
        CALLS.append(("backward", list(req)))
        self.assign(in_grad[0], req[0], out_grad[0] * self.k)


@mx.operator.register("test_counter")
class CounterProp(mx.operator.CustomOpProp):
    def __init__(self, k: str = "1", **kwargs: str) -> None:
        super().__init__()
        CALLS.append(("prop", k, kwargs))
        self.k = float(k)

    def list_auxiliary_states(self):  # type: ignore[no-untyped-def]
        return ["calls"]

    def infer_shape(self, in_shape):  # type: ignore[no-untyped-def]
        CALLS.append(("infer_shape", in_shape))
        return in_shape, [in_shape[0]], [(1,)]

    def infer_type(self, in_type):  # type: ignore[no-untyped-def]
        CALLS.append(("infer_type", in_type))
        return in_type, [in_type[0]], [in_type[0]]

    def create_operator(self, ctx, shapes, dtypes):  # type: ignore[no-untyped-def]
        CALLS.append(("create_operator", ctx, shapes, dtypes))
        return Counter(self.k)


@pytest.fixture(autouse=True)
def _clear_calls() -> None:
    CALLS.clear()


def _calls(kind: str) -> list:
    return [c for c in CALLS if c[0] == kind]


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


# -- MXNet's API ------------------------------------------------------------------------------
def test_softmax_loss_trains_without_head_gradient() -> None:
    data = mx.sym.Variable("data")
    net = mx.sym.Custom(data, op_type="test_softmax", name="softmax")
    assert net.list_arguments() == ["data", "softmax_label"]
    x = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)
    label = np.array([0, 2, 1, 2], dtype=np.float32)
    ex = net.simple_bind(mx.cpu(), data=(4, 3))
    out = ex.forward(is_train=True, data=x, softmax_label=label)[0].asnumpy()
    assert_almost_equal(out, _softmax(x), rtol=1e-5)
    ex.backward()  # need_top_grad=False: a loss, no out_grads needed
    expected = _softmax(x)
    expected[np.arange(4), label.astype(int)] -= 1
    assert_almost_equal(ex.grad_dict["data"].asnumpy(), expected, rtol=1e-5)
    assert not ex.grad_dict["softmax_label"].asnumpy().any()


def test_auto_name_and_listings_match_mxnet() -> None:
    with mx.name.NameManager():
        sym = mx.sym.Custom(mx.sym.Variable("x"), op_type="test_counter")
        second = mx.sym.Custom(op_type="test_counter")
    assert sym.name == "custom0"
    assert sym.list_arguments() == ["x"]
    assert sym.list_outputs() == ["custom0_output"]
    assert sym.list_auxiliary_states() == ["custom0_calls"]
    assert second.list_arguments() == ["custom1_data"]


def test_keyword_arguments_reach_the_prop_as_strings() -> None:
    sym = mx.sym.Custom(mx.sym.Variable("x"), op_type="test_counter", k=2.5, flag=True,
                        size=(3, 4), mode="fast")
    assert _calls("prop")[-1] == ("prop", "2.5", {"flag": "True", "size": "(3, 4)",
                                                  "mode": "fast"})
    assert sym.list_attr()["k"] == "2.5"
    mx.nd.Custom(mx.nd.ones(2), mx.nd.zeros(1), op_type="test_counter", k=3, dims=[1, 2])
    assert _calls("prop")[-1] == ("prop", "3", {"dims": "[1, 2]"})


def test_rules_get_lists_and_numpy_types() -> None:
    net = mx.sym.Custom(mx.sym.Variable("x"), mx.sym.Variable("y"), op_type="test_softmax")
    CALLS.clear()
    arg_shapes, out_shapes, _ = net.infer_shape(x=(2, 3))
    assert arg_shapes == [(2, 3), (2,)] and out_shapes == [(2, 3)]
    sym = mx.sym.Custom(mx.sym.Variable("x"), op_type="test_counter")
    assert sym.infer_shape(x=(2, 3))[2] == [(1,)]
    assert _calls("infer_shape")[0] == ("infer_shape", [[2, 3]])
    assert sym.infer_type(x=np.float64)[1] == [np.float64]
    assert _calls("infer_type")[0] == ("infer_type", [np.float64])


def test_create_operator_runs_once_per_bind_with_mxnet_arguments() -> None:
    sym = mx.sym.Custom(mx.sym.Variable("x"), op_type="test_counter", k=2)
    first = sym.simple_bind(mx.cpu(), x=(2, 3))
    second = sym.simple_bind(mx.cpu(), x=(2, 3))
    created = _calls("create_operator")
    assert [c[1:] for c in created] == [(mx.cpu(), [[2, 3], [1]], [0, 0])] * 2
    for _ in range(3):
        first.forward()
    assert len(_calls("create_operator")) == 2
    assert first._graph.nodes[-1].params._run.op is not second._graph.nodes[-1].params._run.op


def test_aux_state_updates_persist_in_the_bound_array() -> None:
    sym = mx.sym.Custom(mx.sym.Variable("x"), op_type="test_counter", name="c")
    aux = mx.nd.zeros(1)
    ex = sym.bind(mx.cpu(), {"x": mx.nd.ones(2)}, aux_states={"c_calls": aux})
    ex.forward()
    ex.forward(is_train=True)
    assert aux.asscalar() == 2
    assert _calls("forward") == [("forward", False, ["write"]), ("forward", True, ["write"])]


@pytest.mark.parametrize("grad_req,expected", [("write", [2.0, 2.0]), ("add", [3.0, 3.0])])
def test_gradient_requests(grad_req: str, expected: list) -> None:
    sym = mx.sym.Custom(mx.sym.Variable("a"), op_type="test_counter", k=2, name="q")
    grad = mx.nd.ones(2)
    ex = sym.bind(mx.cpu(), {"a": mx.nd.array([1, 2])}, args_grad={"a": grad},
                  grad_req=grad_req, aux_states={"q_calls": mx.nd.zeros(1)})
    ex.forward(is_train=True)
    ex.backward(mx.nd.ones(2))
    assert grad.asnumpy().tolist() == expected  # MXNet 1.9.1: [2, 2] and [3, 3]
    assert _calls("backward") == [("backward", ["write"])]  # 'add' is done by the executor


def test_input_without_gradient_gets_null_request() -> None:
    net = mx.sym.Custom(mx.sym.Variable("x"), mx.sym.Variable("lab"), op_type="test_softmax")
    reqs = []
    original = Softmax.backward

    def spy(self, req, **kwargs):  # type: ignore[no-untyped-def]
        reqs.append(list(req))
        original(self, req, **kwargs)

    Softmax.backward = spy  # type: ignore[method-assign]
    try:
        ex = net.simple_bind(mx.cpu(), grad_req={"x": "write", "lab": "null"}, x=(2, 3))
        ex.forward(is_train=True)
        ex.backward()
    finally:
        Softmax.backward = original  # type: ignore[method-assign]
    assert reqs == [["write", "null"]]


class _Deps(mx.operator.CustomOpProp):
    def __init__(self, deps: str = "default") -> None:
        super().__init__()
        self.deps = deps

    def list_arguments(self):  # type: ignore[no-untyped-def]
        return ["data", "label"]

    def declare_backward_dependency(self, out_grad, in_data, out_data):  # type: ignore[no-untyped-def]
        if self.deps == "output":
            return out_grad + out_data
        if self.deps == "label":
            return out_grad + in_data[1:]
        return super().declare_backward_dependency(out_grad, in_data, out_data)


mx.operator.register("test_deps")(_Deps)


@pytest.mark.parametrize("deps,uses", [("default", ("inputs", "outputs")),
                                       ("output", ("outputs",)), ("label", ("label",))])
def test_backward_dependency_becomes_grad_uses(deps: str, uses: tuple) -> None:
    node = mx.sym.Custom(op_type="test_deps", deps=deps)._outputs[0][0]
    assert node.op.backward_reads(node.params) == uses


def test_non_loss_custom_op_needs_a_head_gradient() -> None:
    sym = mx.sym.Custom(mx.sym.Variable("x"), op_type="test_counter", name="c")
    ex = sym.simple_bind(mx.cpu(), x=(2,))
    ex.forward(is_train=True)
    with pytest.raises(mx.base.MXNetError, match="needs a head gradient"):
        ex.backward()


def test_numeric_gradient_of_a_custom_op() -> None:
    sym = mx.sym.Custom(mx.sym.Variable("x"), op_type="test_counter", k=-1.5, name="c")
    check_numeric_gradient(sym, {"x": np.random.default_rng(1).normal(size=(3, 2))},
                           aux_states={"c_calls": np.zeros(1)}, dtype=np.float64)


def test_json_round_trip_keeps_the_string_arguments() -> None:
    sym = mx.sym.Custom(mx.sym.Variable("x"), op_type="test_counter", k=4, name="c")
    loaded = mx.sym.load_json(sym.tojson())
    assert loaded.tojson() == sym.tojson()
    assert loaded.list_attr() == {"op_type": "test_counter", "k": "4"}
    ex = loaded.bind(mx.cpu(), {"x": mx.nd.array([1, 2])}, aux_states=[mx.nd.zeros(1)])
    assert ex.forward()[0].asnumpy().tolist() == [4.0, 8.0]


def test_imperative_custom() -> None:
    out = mx.nd.Custom(mx.nd.array([1, 2]), mx.nd.zeros(1), op_type="test_counter", k=3)
    assert isinstance(out, mx.nd.NDArray) and out.asnumpy().tolist() == [3.0, 6.0]
    assert len(_calls("create_operator")) == 1


class _TwoOut(mx.operator.CustomOp):
    def forward(self, is_train, req, in_data, out_data, aux):  # type: ignore[no-untyped-def]
        self.assign(out_data[0], req[0], in_data[0] + 1)
        self.assign(out_data[1], req[1], in_data[0].sum())


@mx.operator.register("test_two_out")
class _TwoOutProp(mx.operator.CustomOpProp):
    def list_outputs(self):  # type: ignore[no-untyped-def]
        return ["plus", "total"]

    def infer_shape(self, in_shape):  # type: ignore[no-untyped-def]
        return in_shape, [in_shape[0], [1]]

    def create_operator(self, ctx, shapes, dtypes):  # type: ignore[no-untyped-def]
        return _TwoOut()


def test_several_outputs_are_named_from_list_outputs() -> None:
    sym = mx.sym.Custom(mx.sym.Variable("x"), op_type="test_two_out", name="t")
    assert sym.list_outputs() == ["t_plus", "t_total"]
    assert sym.infer_shape(x=(3,))[1] == [(3,), (1,)]
    plus, total = mx.nd.Custom(mx.nd.array([1, 2, 3]), op_type="test_two_out")
    assert plus.asnumpy().tolist() == [2, 3, 4] and total.asscalar() == 6


class _Fill(mx.operator.CustomOp):
    def __init__(self, value: float) -> None:
        super().__init__()
        self.value = value

    def forward(self, is_train, req, in_data, out_data, aux):  # type: ignore[no-untyped-def]
        self.assign(out_data[0], req[0], self.value)


@mx.operator.register("test_fill")
class _FillProp(mx.operator.CustomOpProp):
    """No inputs: the shape and dtype come from the keyword arguments."""

    def __init__(self, shape: str, value: str = "0") -> None:
        super().__init__()
        self.shape, self.value = eval(shape), float(value)

    def list_arguments(self):  # type: ignore[no-untyped-def]
        return []

    def infer_shape(self, in_shape):  # type: ignore[no-untyped-def]
        return [], [self.shape]

    def infer_type(self, in_type):  # type: ignore[no-untyped-def]
        return [], [np.float32], []

    def create_operator(self, ctx, shapes, dtypes):  # type: ignore[no-untyped-def]
        return _Fill(self.value)


def test_custom_op_without_inputs() -> None:
    sym = mx.sym.Custom(op_type="test_fill", shape=(2, 2), value=7)
    assert sym.list_arguments() == [] and sym.infer_shape() == ([], [(2, 2)], [])
    assert sym.bind(mx.cpu(), {}).forward()[0].asnumpy().tolist() == [[7, 7], [7, 7]]
    out = mx.nd.Custom(op_type="test_fill", shape=(3,), value=1)
    assert out.asnumpy().tolist() == [1, 1, 1]


def test_assign_requests() -> None:
    op, dst = mx.operator.CustomOp(), mx.nd.ones(3)
    op.assign(dst, "add", 2)
    op.assign(dst, "null", 100)
    assert dst.asnumpy().tolist() == [3.0, 3.0, 3.0]
    op.assign(dst, "inplace", np.arange(3))
    assert dst.asnumpy().tolist() == [0.0, 1.0, 2.0]
    with pytest.raises(mx.base.MXNetError, match="unknown req 'bogus'"):
        op.assign(dst, "bogus", 1)


# -- errors in user code ----------------------------------------------------------------------
class _Broken(mx.operator.CustomOp):
    def __init__(self, where: str) -> None:
        super().__init__()
        self.where = where

    def forward(self, is_train, req, in_data, out_data, aux):  # type: ignore[no-untyped-def]
        if self.where == "forward":
            raise ZeroDivisionError("user forward failed")
        if self.where == "replace":
            out_data[0] = in_data[0]
            return
        if self.where == "shape":
            self.assign(out_data[0], req[0], mx.nd.ones(5))
            return
        self.assign(out_data[0], req[0], in_data[0])

    def backward(self, req, out_grad, in_data, out_data, in_grad, aux):  # type: ignore[no-untyped-def]
        raise KeyError("user backward failed")


@mx.operator.register("test_broken")
class _BrokenProp(mx.operator.CustomOpProp):
    def __init__(self, where: str = "") -> None:
        super().__init__()
        if where == "init":
            raise RuntimeError("user init failed")
        self.where = where

    def infer_shape(self, in_shape):  # type: ignore[no-untyped-def]
        if self.where == "count":
            return in_shape, []
        if self.where == "infer":
            return in_shape[5]
        return in_shape, [in_shape[0]]

    def create_operator(self, ctx, shapes, dtypes):  # type: ignore[no-untyped-def]
        return object() if self.where == "create" else _Broken(self.where)


def _bind_broken(where: str):  # type: ignore[no-untyped-def]
    sym = mx.sym.Custom(mx.sym.Variable("x"), op_type="test_broken", where=where, name="bad")
    return sym.simple_bind(mx.cpu(), x=(3,))


@pytest.mark.parametrize("where,error,match", [
    ("forward", ZeroDivisionError, r"custom operator 'test_broken' \(node 'bad'\): forward "
                                   r"raised ZeroDivisionError: user forward failed \(at .*"
                                   r"test_custom_op.py:\d+, in forward\)"),
    ("shape", ValueError, "'test_broken' \\(node 'bad'\\): forward raised ValueError"),
    ("replace", None, "replaced element 0 of its output list"),
])
def test_errors_in_forward_name_the_op_and_node(where: str, error: type | None, match: str
                                                ) -> None:
    ex = _bind_broken(where)
    with pytest.raises(mx.base.MXNetError, match=match) as info:
        ex.forward()
    if error is not None:
        assert isinstance(info.value.__cause__, error)


def test_error_in_backward_chains_the_user_exception() -> None:
    ex = _bind_broken("ok")
    ex.forward(is_train=True)
    with pytest.raises(mx.base.MXNetError, match="node 'bad'.*backward raised KeyError") as info:
        ex.backward(mx.nd.ones(3))
    assert isinstance(info.value.__cause__, KeyError)


@pytest.mark.parametrize("where,match", [
    ("count", r"'bad' \(Custom\): custom operator 'test_broken': infer_shape returned 0 output "
              r"values, expected 1 for \['output'\]"),
    ("infer", r"'bad' \(Custom\): custom operator 'test_broken': infer_shape raised "
              r"IndexError: .*test_custom_op.py"),
])
def test_errors_in_shape_rules_name_the_op_and_node(where: str, match: str) -> None:
    sym = mx.sym.Custom(mx.sym.Variable("x"), op_type="test_broken", where=where, name="bad")
    with pytest.raises(mx.base.MXNetError, match=match):
        sym.infer_shape(x=(3,))


def test_errors_creating_the_prop_or_the_operator() -> None:
    with pytest.raises(mx.base.MXNetError, match="'test_broken': _BrokenProp.*raised "
                                                 "RuntimeError: user init failed") as info:
        mx.sym.Custom(mx.sym.Variable("x"), op_type="test_broken", where="init")
    assert isinstance(info.value.__cause__, RuntimeError)
    with pytest.raises(mx.base.MXNetError, match="create_operator must return a "
                                                 "mx.operator.CustomOp"):
        _bind_broken("create")


def test_unknown_or_missing_op_type() -> None:
    with pytest.raises(mx.base.MXNetError, match="unknown custom operator type "
                                                 "'test_sofmax'. Did you mean 'test_softmax'"):
        mx.sym.Custom(mx.sym.Variable("x"), op_type="test_sofmax")
    with pytest.raises(mx.base.MXNetError, match="required parameter 'op_type'"):
        mx.sym.Custom(mx.sym.Variable("x"))
    with pytest.raises(mx.base.MXNetError, match="subclass of mx.operator.CustomOpProp"):
        mx.operator.register("test_not_a_prop")(Softmax)


def test_import_mxlite_does_not_import_the_operator_module() -> None:
    code = "import sys, mxlite; print('mxlite.operator' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "False"


# -- @mx.operator.define ----------------------------------------------------------------------
def _define_cube():  # type: ignore[no-untyped-def]
    @mx.operator.define(name="test_cube")
    class Cube:
        """scale * data ** 3"""
        scale: float = 1.0
        axis: int | None = None

        def infer_shape(self, data):  # type: ignore[no-untyped-def]
            return data

        def forward(self, data):  # type: ignore[no-untyped-def]
            return self.scale * data ** 3

        def backward(self, out_grad, data, output):  # type: ignore[no-untyped-def]
            return 3 * self.scale * data ** 2 * out_grad

    return Cube


def test_defined_op_works_like_a_builtin(fresh_registry) -> None:  # type: ignore[no-untyped-def]
    _define_cube()
    x = mx.sym.Variable("x")
    with mx.name.NameManager():
        y = mx.sym.test_cube(x, scale=2)
    assert y.name == "test_cube0" and y.infer_shape(x=(2, 3))[1] == [(2, 3)]
    assert "scale : float, default=1.0" in mx.sym.test_cube.__doc__
    ex = y.bind(mx.cpu(), {"x": mx.nd.array([1, 2])}, args_grad={"x": mx.nd.zeros(2)})
    assert ex.forward(is_train=True)[0].asnumpy().tolist() == [2.0, 16.0]
    ex.backward(mx.nd.ones(2))
    assert ex.grad_dict["x"].asnumpy().tolist() == [6.0, 24.0]
    assert mx.nd.test_cube(mx.nd.array([3]), scale="0.5").asscalar() == 13.5
    assert mx.sym.load_json(y.tojson()).tojson() == y.tojson()
    check_numeric_gradient(mx.sym.test_cube(x, scale=-0.5),
                           {"x": np.random.default_rng(2).normal(size=(4,))}, dtype=np.float64)


def test_defined_op_parameters_are_typed(fresh_registry) -> None:  # type: ignore[no-untyped-def]
    _define_cube()
    x = mx.sym.Variable("x")
    with pytest.raises(mx.base.MXNetError, match="parameter 'scale' expects float"):
        mx.sym.test_cube(x, scale="big")
    with pytest.raises(mx.base.MXNetError, match="unknown parameter 'scal'.*Did you mean 'scale'"):
        mx.sym.test_cube(x, scal=2)
    node = mx.sym.test_cube(x, axis="None")._outputs[0][0]
    assert node.params.axis is None


def test_define_several_inputs_outputs_and_is_train(fresh_registry) -> None:  # type: ignore[no-untyped-def]
    seen = []

    @mx.operator.define
    class test_split_sum:
        inputs = ("a", "b")
        outputs = ("total", "diff")

        def forward(self, a, b, is_train):  # type: ignore[no-untyped-def]
            seen.append(is_train)
            return a + b, a - b

        def backward(self, g_total, g_diff, a, b, total, diff):  # type: ignore[no-untyped-def]
            return g_total + g_diff, g_total - g_diff

    sym = mx.sym.test_split_sum(name="s")
    assert sym.list_arguments() == ["s_a", "s_b"]
    assert sym.list_outputs() == ["s_total", "s_diff"]
    check_numeric_gradient(sym, {"s_a": np.ones(3), "s_b": np.arange(3.0)}, dtype=np.float64)
    total, diff = mx.nd.test_split_sum(mx.nd.ones(2), mx.nd.ones(2), is_train=True)
    assert total.asnumpy().tolist() == [2, 2] and diff.asnumpy().tolist() == [0, 0]
    assert seen[-1] is True
    with pytest.raises(mx.base.MXNetError, match="must share one shape"):
        sym.infer_shape(s_a=(2,), s_b=(3,))


def test_define_shape_parameters_and_type_rule(fresh_registry) -> None:  # type: ignore[no-untyped-def]
    @mx.operator.define
    class test_tile:
        reps: tuple[int, ...] = (1,)

        def infer_shape(self, data):  # type: ignore[no-untyped-def]
            return tuple(d * r for d, r in zip(data, self.reps))

        def infer_type(self, data):  # type: ignore[no-untyped-def]
            return np.float64

        def forward(self, data):  # type: ignore[no-untyped-def]
            return np.tile(data, self.reps)

    sym = mx.sym.test_tile(mx.sym.Variable("x"), reps="(2,)")
    assert "reps : Shape(tuple), default=(1,)" in mx.sym.test_tile.__doc__
    assert sym.infer_shape(x=(3,))[1] == [(6,)]
    assert sym.infer_type(x=np.float32)[1] == [np.float64]
    out = mx.nd.test_tile(mx.nd.array([1, 2]), reps=(3,))
    assert out.dtype == np.float64 and out.asnumpy().tolist() == [1, 2, 1, 2, 1, 2]


def test_self_keeps_state_per_executor(fresh_registry) -> None:  # type: ignore[no-untyped-def]
    @mx.operator.define
    class test_relu_mask:
        def forward(self, data):  # type: ignore[no-untyped-def]
            self.mask = data > 0
            return data * self.mask

        def backward(self, out_grad, data, output):  # type: ignore[no-untyped-def]
            return out_grad * self.mask

    sym = mx.sym.test_relu_mask(mx.sym.Variable("x"))
    ex1, ex2 = (sym.simple_bind(mx.cpu(), x=(2,)) for _ in range(2))
    ex1.forward(is_train=True, x=np.array([1.0, -1.0]))
    ex2.forward(is_train=True, x=np.array([-1.0, 1.0]))
    ex1.backward(mx.nd.ones(2))
    assert ex1.grad_dict["x"].asnumpy().tolist() == [1.0, 0.0]


def test_defined_op_without_backward_has_no_gradient(fresh_registry) -> None:  # type: ignore[no-untyped-def]
    @mx.operator.define
    class test_sign:
        def forward(self, data):  # type: ignore[no-untyped-def]
            return np.sign(data)

    op = mx.registry.get_registry().get("test_sign")
    assert op.no_gradient == "test_sign defines no backward"
    assert mx.nd.test_sign(mx.nd.array([-2, 3])).asnumpy().tolist() == [-1, 1]


def test_errors_in_defined_ops(fresh_registry) -> None:  # type: ignore[no-untyped-def]
    @mx.operator.define
    class test_bad:
        def infer_shape(self, data):  # type: ignore[no-untyped-def]
            return [data, data]

        def forward(self, data):  # type: ignore[no-untyped-def]
            return data[:1]

    @mx.operator.define
    class test_short:
        def forward(self, data):  # type: ignore[no-untyped-def]
            return data[:1]

        def backward(self, out_grad, data, output):  # type: ignore[no-untyped-def]
            raise ValueError("no gradient today")

    with pytest.raises(mx.base.MXNetError, match="'test_bad': infer_shape returned 2 shapes, "
                                                 "expected 1"):
        mx.sym.test_bad(mx.sym.Variable("x")).infer_shape(x=(3,))
    with pytest.raises(mx.base.MXNetError, match=r"operator 'test_short' \(imperative call\): "
                                                 r"forward returned shape \(1,\)"):
        mx.nd.test_short(mx.nd.ones(3))
    ex = mx.sym.test_short(mx.sym.Variable("x"), name="sh").simple_bind(mx.cpu(), x=(1,))
    ex.forward(is_train=True)
    with pytest.raises(mx.base.MXNetError, match=r"\(node 'sh'\): backward raised ValueError"
                       ) as info:
        ex.backward(mx.nd.ones(1))
    assert isinstance(info.value.__cause__, ValueError)


def test_define_refuses_bad_classes_and_unsaid_overrides(fresh_registry) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(mx.base.MXNetError, match="parameter 'table' has type"):
        @mx.operator.define
        class test_table:
            table: dict

            def forward(self, data):  # type: ignore[no-untyped-def]
                return data

    with pytest.raises(mx.base.MXNetError, match="a class with a forward method"):
        mx.operator.define(lambda data: data)
    with pytest.raises(PluginError, match="'Activation' is already registered"):
        _identity = mx.operator.define(name="Activation")

        @_identity
        class Identity:
            def forward(self, data):  # type: ignore[no-untyped-def]
                return data

    @mx.operator.define(name="Activation", override=True)
    class Replacement:
        def forward(self, data):  # type: ignore[no-untyped-def]
            return data + 1

    assert mx.nd.Activation(mx.nd.zeros(1)).asscalar() == 1

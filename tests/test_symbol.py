"""Symbol: naming, Variables and attributes, arithmetic, composition, listing, indexing,
shape/type inference entry points, copying and errors.

Names, list orders, attributes and reprs were checked by hand against Apache MXNet 1.9.1.
"""

from __future__ import annotations

import copy
import pickle
import warnings

import mxlite as mx
import numpy as np
import pytest
from mxlite.base import MXNetError
from mxlite.registry import Kernel, OpDef, get_registry

sym = mx.sym


def mlp() -> mx.sym.Symbol:
    data = sym.Variable("data")
    fc1 = sym.FullyConnected(data, num_hidden=10, name="fc1")
    act = sym.Activation(fc1, act_type="relu")
    fc2 = sym.FullyConnected(act, num_hidden=3)
    return sym.SoftmaxOutput(fc2, name="softmax")


def run(s: mx.sym.Symbol, **arrays: object) -> list[np.ndarray]:
    """Bind ``s`` to float32 copies of ``arrays`` and return its outputs as numpy."""
    args = {k: mx.nd.array(v) for k, v in arrays.items()}
    return [o.asnumpy() for o in s.bind(mx.cpu(), args).forward()]


@pytest.fixture
def fresh_names():  # type: ignore[no-untyped-def]
    """Auto-naming counters start at 0 inside the test."""
    with mx.name.NameManager() as manager:
        yield manager


# -- naming --------------------------------------------------------------------------------
def test_auto_names_count_per_hint(fresh_names: object) -> None:
    data = sym.Variable("data")
    fc_a = sym.FullyConnected(data, num_hidden=2)
    act = sym.Activation(fc_a, act_type="relu")
    fc_b = sym.FullyConnected(act, num_hidden=2)
    out = sym.SoftmaxOutput(fc_b)
    assert [fc_a.name, act.name, fc_b.name, out.name] == [
        "fullyconnected0", "activation0", "fullyconnected1", "softmaxoutput0"]
    assert out.list_arguments() == [
        "data", "fullyconnected0_weight", "fullyconnected0_bias", "fullyconnected1_weight",
        "fullyconnected1_bias", "softmaxoutput0_label"]
    assert sym.FullyConnected(data, num_hidden=2, name="given").name == "given"


def test_alias_shares_the_hint_of_its_spelling(fresh_names: object) -> None:
    data = sym.Variable("data")
    assert sym.Softmax(data).name == "softmax0"  # the alias as called, lower-cased
    assert sym.SoftmaxOutput(data).name == "softmaxoutput0"


def test_name_manager_scopes_have_their_own_counters() -> None:
    data = sym.Variable("data")
    with mx.name.NameManager():
        first = sym.FullyConnected(data, num_hidden=2).name
        with mx.name.NameManager():
            inner = sym.FullyConnected(data, num_hidden=2).name
        second = sym.FullyConnected(data, num_hidden=2).name
    assert (first, inner, second) == ("fullyconnected0", "fullyconnected0", "fullyconnected1")


def test_prefix_applies_to_ops_not_variables(fresh_names: object) -> None:
    with mx.name.Prefix("net_"):
        x = sym.Variable("x")
        y = sym.FullyConnected(x, num_hidden=2)
        z = sym.FullyConnected(x, num_hidden=2, name="given")
        w = x + 1
    assert (x.name, y.name, z.name, w.name) == ("x", "net_fullyconnected0", "net_given",
                                                "net__plusscalar0")
    assert z.list_arguments() == ["x", "net_given_weight", "net_given_bias"]


OPERATOR_NAMES = [
    (lambda a, b: a + b, "_plus0", "elemwise_add", ["a", "b"]),
    (lambda a, b: a - b, "_minus0", "elemwise_sub", ["a", "b"]),
    (lambda a, b: a * b, "_mul0", "elemwise_mul", ["a", "b"]),
    (lambda a, b: a / b, "_div0", "elemwise_div", ["a", "b"]),
    (lambda a, b: a % b, "_mod0", "_mod", ["a", "b"]),
    (lambda a, b: a ** b, "_power0", "_power", ["a", "b"]),
    (lambda a, b: a + 1, "_plusscalar0", "_plus_scalar", ["a"]),
    (lambda a, b: 1 + a, "_plusscalar0", "_plus_scalar", ["a"]),
    (lambda a, b: a - 1, "_minusscalar0", "_minus_scalar", ["a"]),
    (lambda a, b: 1 - a, "_rminusscalar0", "_rminus_scalar", ["a"]),
    (lambda a, b: a * 2, "_mulscalar0", "_mul_scalar", ["a"]),
    (lambda a, b: 2 * a, "_mulscalar0", "_mul_scalar", ["a"]),
    (lambda a, b: a / 2, "_divscalar0", "_div_scalar", ["a"]),
    (lambda a, b: 2 / a, "_rdivscalar0", "_rdiv_scalar", ["a"]),
    (lambda a, b: a % 2, "_modscalar0", "_mod_scalar", ["a"]),
    (lambda a, b: 2 % a, "_rmodscalar0", "_rmod_scalar", ["a"]),
    (lambda a, b: a ** 2, "_powerscalar0", "_power_scalar", ["a"]),
    (lambda a, b: 2 ** a, "_rpower_scalar0", "_rpower_scalar", ["a"]),
    (lambda a, b: -a, "_mulscalar0", "_mul_scalar", ["a"]),
    (lambda a, b: abs(a), "abs0", "abs", ["a"]),
    (lambda a, b: a > b, "_greater0", "_greater", ["a", "b"]),
    (lambda a, b: a >= b, "_greater_equal0", "_greater_equal", ["a", "b"]),
    (lambda a, b: a < b, "_lesser0", "_lesser", ["a", "b"]),
    (lambda a, b: a <= b, "_lesser_equal0", "_lesser_equal", ["a", "b"]),
    (lambda a, b: a == b, "_equal0", "_equal", ["a", "b"]),
    (lambda a, b: a != b, "_not_equal0", "_not_equal", ["a", "b"]),
    (lambda a, b: a == 1, "_equal_scalar0", "_equal_scalar", ["a"]),
    (lambda a, b: a != 1, "_not_equal_scalar0", "_not_equal_scalar", ["a"]),
    (lambda a, b: a > 1, "_greater_scalar0", "_greater_scalar", ["a"]),
    (lambda a, b: 1 < a, "_greater_scalar0", "_greater_scalar", ["a"]),
    (lambda a, b: a >= 1, "_greater_equal_scalar0", "_greater_equal_scalar", ["a"]),
    (lambda a, b: a < 1, "_lesser_scalar0", "_lesser_scalar", ["a"]),
    (lambda a, b: a <= 1, "_lesser_equal_scalar0", "_lesser_equal_scalar", ["a"]),
]


@pytest.mark.parametrize("build,name,op,args", OPERATOR_NAMES)
def test_operator_overload_names(fresh_names: object, build, name, op, args) -> None:  # type: ignore[no-untyped-def]
    result = build(sym.Variable("a"), sym.Variable("b"))
    assert result.name == name
    assert result.list_arguments() == args
    import json
    assert json.loads(result.tojson())["nodes"][-1]["op"] == op


def test_negation_and_scalar_attributes(fresh_names: object) -> None:
    a = sym.Variable("a")
    assert (a * 3).list_attr() == {"scalar": "3"}
    assert (a * 0.5).list_attr() == {"scalar": "0.5"}
    assert (-a).list_attr() == {"scalar": "-1.0"}
    assert (a + 1e-8).list_attr() == {"scalar": "1e-08"}


# -- arithmetic values ---------------------------------------------------------------------
X = np.array([[1.0, -2.0, 3.0], [0.5, 4.0, -1.5]])
Y = np.array([[2.0, 2.0, -1.0], [0.5, 3.0, 2.0]])


@pytest.mark.parametrize("build,ref", [
    (lambda a, b: a + b, lambda x, y: x + y),
    (lambda a, b: a - b, lambda x, y: x - y),
    (lambda a, b: a * b, lambda x, y: x * y),
    (lambda a, b: a / b, lambda x, y: x / y),
    (lambda a, b: a + 1.5, lambda x, y: x + 1.5),
    (lambda a, b: 2 - a, lambda x, y: 2 - x),
    (lambda a, b: 3 * a, lambda x, y: 3 * x),
    (lambda a, b: 6 / b, lambda x, y: 6 / y),
    (lambda a, b: a ** 2, lambda x, y: x ** 2),
    (lambda a, b: 2 ** a, lambda x, y: 2 ** x),
    (lambda a, b: -a, lambda x, y: -x),
    (lambda a, b: abs(a), lambda x, y: np.abs(x)),
    (lambda a, b: a > b, lambda x, y: (x > y) * 1.0),
    (lambda a, b: a <= b, lambda x, y: (x <= y) * 1.0),
    (lambda a, b: a == b, lambda x, y: (x == y) * 1.0),
    (lambda a, b: a != 0.5, lambda x, y: (x != 0.5) * 1.0),
    (lambda a, b: 1 < a, lambda x, y: (x > 1) * 1.0),
    (lambda a, b: (a + b) * (a - b) / 2, lambda x, y: (x + y) * (x - y) / 2),
])
def test_arithmetic_values(build, ref) -> None:  # type: ignore[no-untyped-def]
    a, b = sym.Variable("a"), sym.Variable("b")
    result = build(a, b)
    arrays = {k: v for k, v in {"a": X, "b": Y}.items() if k in result.list_arguments()}
    out = run(result, **arrays)[0]
    np.testing.assert_allclose(out, ref(X.astype(np.float32), Y.astype(np.float32)), rtol=1e-6)


def test_numpy_scalars_work_on_both_sides(fresh_names: object) -> None:
    a = sym.Variable("a")
    left = np.float32(2) * a
    assert isinstance(left, mx.sym.Symbol) and left.list_arguments() == ["a"]
    assert (a + np.float64(1)).list_attr() == {"scalar": "1.0"}
    assert (a * np.int64(3)).list_attr() == {"scalar": "3"}
    np.testing.assert_allclose(run(np.float64(2) - a, a=X)[0], 2 - X, rtol=1e-6)


def test_bool_and_inplace_are_refused() -> None:
    a = sym.Variable("a")
    with pytest.raises(MXNetError, match="bool"):
        bool(a)
    with pytest.raises(TypeError):
        if a:
            pass
    b = a
    with pytest.raises(MXNetError, match=r"\+="):
        b += 1
    with pytest.raises(TypeError):
        a + "x"


def test_symbol_arithmetic_does_not_broadcast() -> None:
    s = sym.Variable("a") + sym.Variable("b")
    with pytest.raises(MXNetError, match=r"_plus\d+.*\(2, 3\).*\(3, 2\)"):
        s.infer_shape(a=(2, 3), b=(3, 2))
    with pytest.raises(ValueError, match="broadcast"):
        s.infer_shape(a=(2, 3), b=(1, 3))
    assert s.infer_shape(a=(2, 3)) == ([(2, 3), (2, 3)], [(2, 3)], [])


# -- Variables and attributes --------------------------------------------------------------
def test_variable_attributes() -> None:
    v = sym.Variable("v", shape=(2, 3), dtype="float16", lr_mult=2.0, wd_mult=0.5,
                     init="xavier", attr={"foo": "bar"}, __extra__="x")
    assert v.name == "v"
    assert v.list_attr() == {
        "foo": "bar", "__shape__": "(2, 3)", "__dtype__": "2", "__lr_mult__": "2.0",
        "__wd_mult__": "0.5", "__init__": "xavier", "__extra__": "x", "lr_mult": "2.0",
        "wd_mult": "0.5"}
    assert v.attr("__shape__") == "(2, 3)"
    assert v.attr("lr_mult") == v.attr("__lr_mult__") == "2.0"
    assert v.attr("foo") == "bar"
    assert v.attr("missing") is None
    assert sym.Variable("w", dtype=np.float32).attr("__dtype__") == "0"
    assert sym.Variable("w", dtype="int32").attr("__dtype__") == "4"
    assert sym.var("w2").name == "w2"


def test_variable_shape_and_dtype_feed_inference() -> None:
    v = sym.Variable("v", shape=(2, 3), dtype="float64")
    assert v.infer_shape() == ([(2, 3)], [(2, 3)], [])
    assert v.infer_type() == ([np.float64], [np.float64], [])
    s = v * 2 + sym.Variable("w")
    assert s.infer_shape() == ([(2, 3), (2, 3)], [(2, 3)], [])
    # given values take precedence over the declared ones, as in MXNet
    assert s.infer_shape(v=(4, 4)) == ([(4, 4), (4, 4)], [(4, 4)], [])
    assert s.infer_type(v="float32")[0] == [np.float32, np.float32]


def test_variable_errors() -> None:
    with pytest.raises(MXNetError, match="double underscores"):
        sym.Variable("q", foo=1)
    with pytest.raises(ValueError, match="must be a string"):
        sym.Variable("q", attr={"__c__": 4})
    with pytest.raises(TypeError, match="name must be a string"):
        sym.Variable(3)  # type: ignore[arg-type]


def test_attr_scope() -> None:
    data = sym.Variable("data")
    with mx.AttrScope(ctx_group="dev1", __foo__="x"):
        a = sym.Variable("a")
        fa = sym.FullyConnected(a, num_hidden=2, name="fa", attr={"lr_mult": "3"})
        with mx.AttrScope(__foo__="inner"):
            inner = sym.Variable("inner", attr={"__c__": "4"})
    outside = sym.Variable("outside")
    assert a.list_attr() == {"__foo__": "x", "__ctx_group__": "dev1", "ctx_group": "dev1"}
    expected_fa = {"num_hidden": "2", "__lr_mult__": "3", "lr_mult": "3", "__foo__": "x",
                   "__ctx_group__": "dev1", "ctx_group": "dev1"}
    assert fa.list_attr() == expected_fa
    assert fa.attr_dict() == {"a": a.list_attr(), "fa_weight": expected_fa,
                              "fa_bias": expected_fa, "fa": expected_fa}
    assert inner.list_attr() == {"__foo__": "inner", "__ctx_group__": "dev1",
                                 "ctx_group": "dev1", "__c__": "4"}
    assert outside.list_attr() == {} and data.list_attr() == {}
    with pytest.raises(ValueError, match="string"):
        mx.AttrScope(x=1)


def test_operator_attributes() -> None:
    data = sym.Variable("data")
    fc = sym.FullyConnected(data, num_hidden=4, name="fcw", lr_mult=2.0)
    shown = {"num_hidden": "4", "__lr_mult__": "2.0", "lr_mult": "2.0"}
    assert fc.list_attr() == shown
    assert fc.attr_dict() == {"fcw_weight": shown, "fcw_bias": shown, "fcw": shown}
    assert fc.attr("num_hidden") == "4"
    tagged = sym.FullyConnected(data=data, num_hidden=2, name="f", attr={"__x__": "y"})
    assert tagged.list_attr() == {"__x__": "y", "num_hidden": "2"}
    with pytest.raises(ValueError, match="string"):
        sym.FullyConnected(data, num_hidden=2, attr={"__x__": 1})


def test_attr_dict_lists_only_nodes_with_attributes(fresh_names: object) -> None:
    assert mlp().attr_dict() == {
        "fc1_weight": {"num_hidden": "10"}, "fc1_bias": {"num_hidden": "10"},
        "fc1": {"num_hidden": "10"}, "activation0": {"act_type": "relu"},
        "fullyconnected0_weight": {"num_hidden": "3"},
        "fullyconnected0_bias": {"num_hidden": "3"}, "fullyconnected0": {"num_hidden": "3"},
    }


def test_set_attr_and_group_attrs() -> None:
    q = sym.Variable("q")
    q._set_attr(foo="bar", lr_mult="0.1")
    assert q.list_attr() == {"foo": "bar", "__lr_mult__": "0.1", "lr_mult": "0.1"}
    with pytest.raises(ValueError, match="string"):
        q._set_attr(foo=1)
    group = sym.Group([sym.Variable("a"), sym.Variable("b")])
    assert group.list_attr() == {}
    assert group.attr("x") is None
    with pytest.raises(MXNetError, match="attr_dict"):
        q.list_attr(recursive=True)


# -- listing -------------------------------------------------------------------------------
def test_list_orders(fresh_names: object) -> None:
    net = mlp()
    args = ["data", "fc1_weight", "fc1_bias", "fullyconnected0_weight", "fullyconnected0_bias",
            "softmax_label"]
    assert net.list_arguments() == args
    assert net.list_inputs() == args
    assert net.list_outputs() == ["softmax_output"]
    assert net.list_auxiliary_states() == []


def test_list_arguments_depth_first_and_deduplicated() -> None:
    a, b, c = sym.Variable("a"), sym.Variable("b"), sym.Variable("c")
    assert (c * (a + b)).list_arguments() == ["c", "a", "b"]
    assert (a + a).list_arguments() == ["a"]
    assert ((a * b) + (b * a)).list_arguments() == ["a", "b"]


def test_seed_examples_argument_lists() -> None:
    data = sym.Variable("data")
    w = sym.Variable("myweight")
    net = sym.FullyConnected(data=data, weight=w, name="fc1", num_hidden=128)
    assert net.list_arguments() == ["data", "myweight", "fc1_bias"]
    lhs, rhs = sym.Variable("data1"), sym.Variable("data2")
    net = sym.FullyConnected(data=lhs + rhs, name="fc1", num_hidden=128)
    assert net.list_arguments() == ["data1", "data2", "fc1_weight", "fc1_bias"]


def test_none_input_is_auto_created_and_no_bias() -> None:
    x = sym.Variable("x")
    s = sym.FullyConnected(data=x, weight=None, num_hidden=3, name="f")
    assert s.list_arguments() == ["x", "f_weight", "f_bias"]
    s = sym.FullyConnected(x, num_hidden=3, no_bias=True, name="nb")
    assert s.list_arguments() == ["x", "nb_weight"]


def test_auto_created_inputs_carry_the_op_attributes() -> None:
    f2 = sym.FullyConnected(name="f2", num_hidden=4)
    assert f2.list_arguments() == ["f2_data", "f2_weight", "f2_bias"]
    assert f2.attr_dict()["f2_data"] == {"num_hidden": "4"}


@pytest.fixture
def aux_op(fresh_registry: None) -> str:
    """A test operator with an aux state: ``out = data``; training adds the column sums."""
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
    return "TestRunningSum"


def test_aux_states_are_listed_apart(aux_op: str) -> None:
    data = sym.Variable("data")
    net = sym.FullyConnected(sym.TestRunningSum(data, name="rs"), num_hidden=2, name="fc")
    assert net.list_arguments() == ["data", "fc_weight", "fc_bias"]
    assert net.list_auxiliary_states() == ["rs_total"]
    assert net.list_inputs() == ["data", "rs_total", "fc_weight", "fc_bias"]
    assert net.infer_shape(data=(4, 3)) == ([(4, 3), (2, 3), (2,)], [(4, 2)], [(3,)])
    assert net.infer_shape_partial() == ([(), (2, 0), (2,)], [()], [()])
    assert net.get_internals().list_outputs() == [
        "data", "rs_total", "rs_output", "fc_weight", "fc_bias", "fc_output"]


# -- internals, children, indexing, groups -------------------------------------------------
def test_get_internals_and_indexing(fresh_names: object) -> None:
    internals = mlp().get_internals()
    assert internals.list_outputs() == [
        "data", "fc1_weight", "fc1_bias", "fc1_output", "activation0_output",
        "fullyconnected0_weight", "fullyconnected0_bias", "fullyconnected0_output",
        "softmax_label", "softmax_output"]
    assert repr(internals) == ("<Symbol group [data, fc1_weight, fc1_bias, fc1, activation0, "
                               "fullyconnected0_weight, fullyconnected0_bias, fullyconnected0, "
                               "softmax_label, softmax]>")
    assert len(internals) == 10
    fc1 = internals["fc1_output"]
    assert repr(fc1) == "<Symbol fc1>"
    assert fc1.list_arguments() == ["data", "fc1_weight", "fc1_bias"]
    assert repr(internals[1]) == "<Symbol fc1_weight>"
    assert internals[-1].name == "softmax"  # harmless extension: MXNet refuses negatives
    assert internals[1:3].list_outputs() == ["fc1_weight", "fc1_bias"]
    assert [s.name for s in internals][:2] == ["data", "fc1_weight"]
    with pytest.raises(ValueError, match='Cannot find output that matches name "nope"'):
        internals["nope"]
    with pytest.raises(IndexError):
        internals[100]
    with pytest.raises(IndexError):
        sym.Variable("a")[1]
    assert sym.Variable("a")[0].name == "a"
    assert sym.Variable("a")["a"].name == "a"


def test_get_children() -> None:
    data = sym.Variable("data")
    fc = sym.FullyConnected(data, num_hidden=3, name="f")
    children = fc.get_children()
    assert repr(children) == "<Symbol group [data, f_weight, f_bias]>"
    assert children.list_outputs() == ["data", "f_weight", "f_bias"]
    assert data.get_children() is None
    act = sym.Activation(fc, act_type="relu")
    assert act.get_children().list_outputs() == ["f_output"]


def test_group(fresh_names: object) -> None:
    a, b = sym.Variable("a"), sym.Variable("b")
    fc1 = sym.FullyConnected(a, num_hidden=2, name="fc1")
    fc2 = sym.FullyConnected(b, num_hidden=2, name="fc2")
    group = sym.Group([fc1, fc2])
    assert repr(group) == str(group) == "<Symbol group [fc1, fc2]>"
    assert group.name is None
    assert len(group) == 2
    assert [repr(s) for s in group] == ["<Symbol fc1>", "<Symbol fc2>"]
    assert group.list_outputs() == ["fc1_output", "fc2_output"]
    assert group.list_arguments() == ["a", "fc1_weight", "fc1_bias", "b", "fc2_weight",
                                      "fc2_bias"]
    nested = sym.Group([sym.Group([a, b]), fc1])
    assert nested.list_outputs() == ["a", "b", "fc1_output"]
    assert group["fc2_output"].name == "fc2"
    assert sym.Group([a + b, a * b]).get_internals().list_outputs() == [
        "a", "b", "_plus0_output", "_mul0_output"]
    with pytest.raises(TypeError, match="list of Symbols"):
        sym.Group([])
    with pytest.raises(TypeError, match="list of Symbols"):
        sym.Group([a, 1])  # type: ignore[list-item]


def test_repr_of_single_symbols() -> None:
    a = sym.Variable("a")
    assert repr(a) == "<Symbol a>"
    assert a.list_outputs() == ["a"]
    assert repr(a.get_internals()) == "<Symbol a>"
    assert repr(sym.FullyConnected(a, num_hidden=2, name="fc")) == "<Symbol fc>"


def test_duplicate_output_names_are_ambiguous() -> None:
    a = sym.Variable("a")
    group = sym.Group([a, a])
    with pytest.raises(ValueError, match="multiple outputs"):
        group["a"]


# -- composition ---------------------------------------------------------------------------
def test_compose_by_keyword() -> None:
    net = sym.FullyConnected(sym.Variable("data"), name="fc1", num_hidden=128)
    net2 = sym.FullyConnected(sym.Variable("data2"), name="net2", num_hidden=128)
    composed = net(data=net2, name="compose")
    assert composed.list_arguments() == ["data2", "net2_weight", "net2_bias", "fc1_weight",
                                         "fc1_bias"]
    assert composed.name == "compose"
    assert net.list_arguments() == ["data", "fc1_weight", "fc1_bias"]  # original unchanged
    assert net.name == "fc1" and net2.name == "net2"


def test_compose_an_op_created_without_inputs() -> None:
    data = sym.Variable("data")
    f2 = sym.FullyConnected(name="f2", num_hidden=4)
    composed = f2(f2_data=data)
    assert composed.list_arguments() == ["data", "f2_weight", "f2_bias"]
    assert f2.list_arguments() == ["f2_data", "f2_weight", "f2_bias"]
    positional = sym.FullyConnected(num_hidden=3, name="fresh")(data)
    assert positional.list_arguments() == ["data", "fresh_weight", "fresh_bias"]


def test_compose_never_renames_the_argument_symbol() -> None:
    inner = sym.FullyConnected(sym.Variable("x"), num_hidden=2, name="inner")
    placeholder = sym.Variable("v")
    result = placeholder(v=inner, name="renamed")
    assert inner.name == "inner"
    assert result.list_arguments() == ["x", "inner_weight", "inner_bias"]


def test_compose_errors() -> None:
    data = sym.Variable("data")
    f2 = sym.FullyConnected(name="f2c", num_hidden=4)
    with pytest.raises(TypeError, match="positional or keyword"):
        f2(data, f2c_weight=data)
    with pytest.raises(MXNetError, match=r"\['foo'\].*f2c_data"):
        f2(foo=data)
    with pytest.raises(TypeError, match="by name"):
        sym.Activation(f2, act_type="relu")(data)
    with pytest.raises(TypeError, match="must be a Symbol"):
        f2(f2c_data=1)


# -- operator construction errors ----------------------------------------------------------
def test_operator_errors_name_valid_choices() -> None:
    data = sym.Variable("data")
    with pytest.raises(AttributeError, match="Did you mean 'FullyConnected'"):
        sym.FullyConnectd  # noqa: B018
    with pytest.raises(MXNetError, match=r"unknown parameter 'num_hiden'.*num_hidden, no_bias, "
                                         r"flatten.*Did you mean 'num_hidden'"):
        sym.FullyConnected(data, num_hiden=3)
    with pytest.raises(MXNetError, match="required parameter 'num_hidden'"):
        sym.FullyConnected(data)
    with pytest.raises(MXNetError, match="'relux'.*'relu', 'sigmoid'"):
        sym.Activation(data, act_type="relux")
    with pytest.raises(TypeError, match="unknown input 'dat'.*Did you mean 'data'"):
        sym.FullyConnected(data, num_hidden=3, dat=data)
    with pytest.raises(TypeError, match="multiple values for argument 'data'"):
        sym.FullyConnected(data, data=data, num_hidden=3)
    with pytest.raises(TypeError, match="must be a Symbol"):
        sym.FullyConnected(data, 3)
    with pytest.raises(MXNetError, match="one output"):
        sym.FullyConnected(sym.Group([data, data]), num_hidden=3)
    with pytest.raises(AttributeError):
        data.not_an_operator  # noqa: B018


def test_operators_are_symbol_methods() -> None:
    a = sym.Variable("a")
    assert a.abs().list_arguments() == ["a"]
    assert "FullyConnected" in dir(sym)


# -- inference entry points ----------------------------------------------------------------
def test_infer_shape_forms(fresh_names: object) -> None:
    net = mlp()
    assert net.infer_shape(data=(5, 7)) == (
        [(5, 7), (10, 7), (10,), (3, 10), (3,), (5,)], [(5, 3)], [])
    fc = sym.FullyConnected(sym.Variable("data"), num_hidden=10, name="fc1")
    assert fc.infer_shape((4, 5)) == ([(4, 5), (10, 5), (10,)], [(4, 10)], [])
    assert fc.infer_shape(data=[4, 5])[0][0] == (4, 5)
    # dimensions known on either side complete each other
    s = sym.Variable("a") + sym.Variable("b")
    assert s.infer_shape(a=(2, 0), b=(0, 3)) == ([(2, 3), (2, 3)], [(2, 3)], [])


def test_infer_shape_incomplete_warns_and_partial_does_not() -> None:
    net = mlp()
    with pytest.warns(UserWarning, match=r"Cannot decide shape.*\n\tdata: \(\)"):
        assert net.infer_shape() == (None, None, None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        arg, out, aux = net.infer_shape_partial()
    assert arg[0] == () and arg[-1] == () and out == [()] and aux == []


def test_infer_shape_errors() -> None:
    fc = sym.FullyConnected(sym.Variable("data"), num_hidden=10, name="fc1")
    with pytest.raises(ValueError, match=r"'fc1' \(FullyConnected\).*'weight'.*\(3, 3\).*"
                                         r"\(10, 7\)"):
        fc.infer_shape(data=(5, 7), fc1_weight=(3, 3))
    with pytest.raises(MXNetError, match="'dat' is not an input.*Did you mean 'data'"):
        fc.infer_shape(dat=(5, 7))
    with pytest.raises(MXNetError, match="either positional or keyword"):
        fc.infer_shape((5, 7), fc1_weight=(10, 7))
    with pytest.raises(MXNetError, match="tuple of ints"):
        fc.infer_shape(data="big")


def test_infer_type() -> None:
    net = mlp()
    assert net.infer_type(data="float64") == ([np.float64] * 6, [np.float64], [])
    assert net.infer_type(data=np.float16)[1] == [np.float16]
    assert net.infer_type(data=np.dtype("float32"))[1] == [np.float32]
    with pytest.warns(UserWarning, match=r"Cannot decide type.*\n\tdata: None"):
        assert net.infer_type() == (None, None, None)
    arg, out, aux = net.infer_type_partial()
    assert arg == [None] * 6 and out == [None] and aux == []
    s = sym.Variable("v") + sym.Variable("w")
    with pytest.raises(MXNetError, match=r"'w'.*float32.*float16"):
        s.infer_type(v="float16", w="float32")
    assert s.infer_type(v=np.int32) == ([np.int32, np.int32], [np.int32], [])
    with pytest.raises(MXNetError, match="unknown dtype"):
        s.infer_type(v="float33")


# -- copying, pickling, debug_str ----------------------------------------------------------
def test_copy_deepcopy_and_pickle() -> None:
    a, b = sym.Variable("a"), sym.Variable("b")
    s = sym.FullyConnected(a + b, num_hidden=2, name="pk")
    for clone in (copy.copy(s), copy.deepcopy(s), s.copy(), pickle.loads(pickle.dumps(s))):
        assert clone is not s
        assert clone.list_arguments() == ["a", "b", "pk_weight", "pk_bias"]
        assert clone.name == "pk"
        assert clone.tojson() == s.tojson()
    clone = copy.deepcopy(s)
    clone._set_attr(__mark__="1")
    assert s.attr("__mark__") is None


def test_debug_str_matches_mxnet_layout() -> None:
    data = sym.Variable("data")
    net = sym.FullyConnected(data, num_hidden=4, name="fc1", lr_mult=2)
    net = sym.Activation(net, act_type="relu", name="act")
    text = sym.Group([net, data + 1]).debug_str()
    lines = text.splitlines()
    assert lines[:3] == ["Symbol Outputs:", "\toutput[0]=act(0)", lines[2]]
    assert lines[3:14] == [
        "Variable:data", "Variable:fc1_weight", "Variable:fc1_bias", "-" * 20,
        "Op:FullyConnected, Name=fc1", "Inputs:", "\targ[0]=data(0) version=0",
        "\targ[1]=fc1_weight(0) version=0", "\targ[2]=fc1_bias(0) version=0", "Attrs:",
        "\t__lr_mult__=2"]
    assert "\targ[0]=fc1(0)" in lines
    assert text.endswith("\n")

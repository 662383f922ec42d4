"""Shape and type inference: merging partial shapes, both directions through a graph,
declared attributes, and errors that name the node, the operator, the input and both values."""

from __future__ import annotations

import mxlite as mx
import numpy as np
import pytest
from mxlite.base import MXNetError
from mxlite.inference import ShapeError, infer_node, merge_dtype, merge_shape, shape_is_known
from mxlite.registry import Kernel, OpDef, get_registry

sym = mx.sym


# -- merging -------------------------------------------------------------------------------
def test_merge_shape() -> None:
    assert merge_shape(None, None) is None
    assert merge_shape(None, (2, 3)) == (2, 3)
    assert merge_shape((2, 3), None) == (2, 3)
    assert merge_shape((2, 0), (0, 3)) == (2, 3)
    assert merge_shape((2, 3), [2, 3]) == (2, 3)
    assert merge_shape((2, 3), (np.int64(2), 0)) == (2, 3)
    with pytest.raises(ValueError):
        merge_shape((2, 3), (2, 4))
    with pytest.raises(ValueError):
        merge_shape((2, 3), (2, 3, 1))


def test_merge_dtype_and_known() -> None:
    assert merge_dtype(None, "float32") == np.dtype(np.float32)
    assert merge_dtype(np.dtype(np.int32), None) == np.dtype(np.int32)
    with pytest.raises(ValueError):
        merge_dtype(np.dtype(np.float32), np.float64)
    assert shape_is_known((2, 3)) and not shape_is_known((2, 0)) and not shape_is_known(None)


def test_shape_error_is_catchable_both_ways() -> None:
    assert issubclass(ShapeError, MXNetError) and issubclass(ShapeError, ValueError)


# -- both directions -----------------------------------------------------------------------
def test_inference_runs_backwards_through_the_graph() -> None:
    a, b, c = sym.Variable("a"), sym.Variable("b"), sym.Variable("c")
    s = ((a + b) * 2 - c) / (abs(a) + 1)
    assert s.infer_shape(c=(4, 5)) == ([(4, 5)] * 3, [(4, 5)], [])
    assert s.infer_shape_partial(a=(4, 0), c=(0, 5))[0] == [(4, 5)] * 3


def test_fully_connected_infers_its_parameters() -> None:
    data = sym.Variable("data")
    fc = sym.FullyConnected(data, num_hidden=6, name="fc")
    out = sym.FullyConnected(fc, num_hidden=2, name="out", flatten=False)
    assert out.infer_shape(data=(3, 4, 5)) == (
        [(3, 4, 5), (6, 20), (6,), (2, 6), (2,)], [(3, 2)], [])
    assert fc.infer_shape_partial(fc_weight=(6, 7))[0][1:] == [(6, 7), (6,)]


def test_a_long_chain_converges_from_its_far_end() -> None:
    xs = [sym.Variable(f"x{i}") for i in range(40)]
    s = xs[0]
    for x in xs[1:]:
        s = s + x
    arg, out, _ = s.infer_shape(x39=(2, 2))
    assert arg == [(2, 2)] * 40 and out == [(2, 2)]


def test_shared_subgraph_in_a_group() -> None:
    a = sym.Variable("a")
    hidden = sym.FullyConnected(a, num_hidden=3, name="h")
    group = sym.Group([hidden * 2, sym.Activation(hidden, act_type="relu"), hidden])
    assert group.infer_shape(a=(5, 2)) == ([(5, 2), (3, 2), (3,)], [(5, 3)] * 3, [])


# -- declared attributes -------------------------------------------------------------------
def test_declared_shapes_and_dtypes() -> None:
    v = sym.Variable("v", shape=(0, 3))
    w = sym.Variable("w", shape=(2, 0))
    assert (v + w).infer_shape() == ([(2, 3), (2, 3)], [(2, 3)], [])
    t = sym.Variable("t", dtype="float16") * 2
    assert t.infer_type() == ([np.float16], [np.float16], [])
    assert (sym.Variable("i", dtype="int32") + sym.Variable("j")).infer_type()[0] == [
        np.int32, np.int32]


def test_given_values_override_declared_ones() -> None:
    v = sym.Variable("v", shape=(2, 3), dtype="float16") + 1
    assert v.infer_shape(v=(4, 4))[0] == [(4, 4)]
    assert v.infer_type(v=np.float64)[0] == [np.float64]
    assert v.infer_shape(v=(2, 0))[0] == [(2, 3)]  # a partial given shape completes


# -- errors name node, op, input and both shapes -------------------------------------------
def test_conflict_names_node_op_input_and_shapes() -> None:
    data = sym.Variable("data")
    fc = sym.FullyConnected(data, num_hidden=10, name="fc1")
    with pytest.raises(ShapeError) as info:
        fc.infer_shape(data=(5, 7), fc1_weight=(3, 3))
    message = str(info.value)
    for part in ("'fc1'", "FullyConnected", "'weight'", "'fc1_weight'", "(3, 3)", "(10, 7)"):
        assert part in message


def test_elementwise_conflict_message() -> None:
    s = sym.Variable("a") * sym.Variable("b")
    with pytest.raises(MXNetError, match=r"_mul\d+' \(elemwise_mul\).*\(2, 3\).*\(3, 2\)"):
        s.infer_shape(a=(2, 3), b=(3, 2))


def test_conflict_deep_in_a_graph() -> None:
    a, b = sym.Variable("a"), sym.Variable("b")
    fc = sym.FullyConnected(a, num_hidden=4, name="fc")
    s = sym.Activation(fc, act_type="relu", name="act") + b
    with pytest.raises(ValueError, match=r"\(5, 4\).*\(5, 3\)|\(5, 3\).*\(5, 4\)"):
        s.infer_shape(a=(5, 2), b=(5, 3))


def test_dtype_conflict_message() -> None:
    s = sym.FullyConnected(sym.Variable("x"), num_hidden=2, name="f")
    with pytest.raises(MXNetError, match=r"'f' \(FullyConnected\).*'f_weight'.*float64.*"
                                         r"float32"):
        s.infer_type(x="float32", f_weight="float64")


@pytest.fixture
def broken_rules(fresh_registry: None) -> None:
    """Test operators whose rules misbehave."""
    def too_many(p, ins, outs, aux):  # type: ignore[no-untyped-def]
        return [ins[0], ins[0]], outs, aux

    def refuses(p, ins, outs, aux):  # type: ignore[no-untyped-def]
        if ins[0] is not None and len(ins[0]) != 2:
            raise ShapeError(f"data must be 2-D, got {ins[0]}")
        return ins, [ins[0]], aux

    def forward(p, ins, outs, aux, is_train):  # type: ignore[no-untyped-def]
        outs[0][...] = ins[0]

    kernels = {"numpy": Kernel(forward)}
    for name, rule in (("TestTooMany", too_many), ("TestTwoD", refuses)):
        get_registry().add_op(OpDef(name=name, infer_shape=rule, kernels=kernels,
                                    no_gradient="test op"))


def test_rule_errors_are_prefixed_with_the_node(broken_rules: None) -> None:
    x = sym.Variable("x")
    with pytest.raises(MXNetError, match=r"'bad' \(TestTooMany\).*2 input values for 1 input"):
        sym.TestTooMany(x, name="bad").infer_shape(x=(2,))
    with pytest.raises(ShapeError, match=r"'two' \(TestTwoD\): data must be 2-D, got \(2,\)"):
        sym.TestTwoD(x, name="two").infer_shape(x=(2,))
    assert sym.TestTwoD(x, name="two").infer_shape(x=(2, 2))[1] == [(2, 2)]


# -- the imperative path -------------------------------------------------------------------
def test_infer_node() -> None:
    op = get_registry().get("FullyConnected")
    params = op.parse_params({"num_hidden": "4"})
    (ins, outs, aux), (in_t, out_t, aux_t) = infer_node(
        op, params, [(2, 3), (4, 3), (4,)], [np.float32] * 3, "fc")
    assert outs == [(2, 4)] and aux == []
    assert out_t == [np.dtype(np.float32)]
    with pytest.raises(ShapeError, match=r"'fc' \(FullyConnected\).*\(5, 3\)"):
        infer_node(op, params, [(2, 3), (5, 3), (4,)], [np.float32] * 3, "fc")

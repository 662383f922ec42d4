"""Shape operators (shape_ops.py) and gradient-flow/dtype operators (special.py).

Forward results are checked against plain numpy expressions or literal values observed on
MXNet 1.9.1; gradients against central differences; names and inference against MXNet.
"""

from __future__ import annotations

import json

import mxlite as mx
import numpy as np
import pytest
from mxlite.registry import get_registry
from mxlite.test_utils import (
    check_numeric_gradient,
    check_symbolic_backward,
    check_symbolic_forward,
)

#: every test here runs once per available backend (numpy, and "c" where built)
pytestmark = pytest.mark.usefixtures("each_backend")

X = mx.sym.Variable("x")
RNG = np.random.default_rng(42)


def _rand(*shape: int) -> np.ndarray:
    return RNG.uniform(-1.0, 1.0, shape)


def _forward_and_grad(sym: mx.sym.Symbol, location: dict, expected: list | np.ndarray) -> None:
    """Forward against ``expected``, then the numeric gradient in float64."""
    expected = expected if isinstance(expected, list) else [expected]
    check_symbolic_forward(sym, location, expected, dtype=np.float64)
    check_numeric_gradient(sym, location, dtype=np.float64)


def _op_name(sym: mx.sym.Symbol) -> str:
    return json.loads(sym.tojson())["nodes"][-1]["op"]


# -- names, aliases, canonical JSON names (as MXNet 1.9.1 reports them) --------------------------
def test_auto_names_and_outputs_match_mxnet() -> None:
    with mx.name.NameManager():
        assert [mx.sym.Flatten(X).name, mx.sym.flatten(X).name] == ["flatten0", "flatten1"]
        assert mx.sym.Concat(X, X).list_outputs() == ["concat0_output"]
        assert mx.sym.split(X, num_outputs=2).list_outputs() == ["split0_output0",
                                                                 "split0_output1"]
        assert mx.sym.SliceChannel(X, num_outputs=1).list_outputs() == ["slicechannel0_output0"]
        assert mx.sym.make_loss(X).list_outputs() == ["make_loss0_loss"]
        assert mx.sym.MakeLoss(X).list_outputs() == ["makeloss0_output"]
        assert mx.sym.stop_gradient(X).name == "stop_gradient0"
        assert mx.sym.identity(X).name == "identity0"
        assert mx.sym.SwapAxis(X).name == "swapaxis0"
        assert mx.sym.ElementWiseSum(X, X).name == "elementwisesum0"
    assert mx.sym.Concat(num_args=2, name="c").list_arguments() == ["c_arg0", "c_arg1"]
    assert mx.sym.stack(num_args=2, name="s").list_arguments() == ["s_arg0", "s_arg1"]
    assert mx.sym.add_n(num_args=3, name="a").list_arguments() == ["a_arg0", "a_arg1", "a_arg2"]
    assert mx.sym.broadcast_like(name="b").list_arguments() == ["b_lhs", "b_rhs"]


@pytest.mark.parametrize("sym, op", [
    (lambda: mx.sym.flatten(X), "Flatten"), (lambda: mx.sym.reshape(X, shape=(1,)), "Reshape"),
    (lambda: mx.sym.concat(X, X), "Concat"), (lambda: mx.sym.split(X, num_outputs=1),
                                              "SliceChannel"),
    (lambda: mx.sym.cast(X, dtype="int32"), "Cast"), (lambda: mx.sym.stop_gradient(X),
                                                      "BlockGrad"),
    (lambda: mx.sym.identity(X), "_copy"), (lambda: mx.sym.ElementWiseSum(X, X), "add_n"),
    (lambda: mx.sym.swapaxes(X), "SwapAxis"), (lambda: mx.sym.flip(X, axis=0), "reverse"),
    (lambda: mx.sym.pad(X, mode="edge", pad_width=(0,) * 8), "Pad"),
])
def test_aliases_write_mxnets_canonical_op_name(sym, op) -> None:  # type: ignore[no-untyped-def]
    assert _op_name(sym()) == op


def test_inplace_hints() -> None:
    registry = get_registry()
    for name in ("Reshape", "Flatten", "expand_dims", "squeeze", "_copy", "BlockGrad"):
        assert list(registry.get(name).inplace) == [(0, 0)], name


# -- Flatten -----------------------------------------------------------------------------------
def test_flatten_forward_gradient_and_shapes() -> None:
    x = _rand(2, 3, 4)
    _forward_and_grad(mx.sym.Flatten(X), {"x": x}, x.reshape(2, 12))
    assert mx.sym.Flatten(X).infer_shape(x=(5,))[1] == [(5, 1)]
    # the output fixes an unknown input dimension
    y = mx.sym.Flatten(X) + mx.sym.Variable("z")
    assert y.infer_shape_partial(x=(2, 0, 4), z=(2, 12))[0] == [(2, 3, 4), (2, 12)]
    with pytest.raises(mx.base.MXNetError, match="at least one dimension"):
        mx.sym.Flatten(X).infer_shape(x=())


# -- Reshape -----------------------------------------------------------------------------------
@pytest.mark.parametrize("codes, out", [
    ((4, 0, 2), (4, 3, 2)), ((-1,), (24,)), ((0, -1), (2, 12)), ((2, -2), (2, 3, 4)),
    ((-3, 4), (6, 4)), ((-3, -2), (6, 4)), ((-4, 1, 2, -2), (1, 2, 3, 4)),
    ((2, -4, -1, 3, -2), (2, 1, 3, 4)),
])
def test_reshape_special_codes(codes: tuple, out: tuple) -> None:
    assert mx.sym.Reshape(X, shape=codes).infer_shape(x=(2, 3, 4))[1] == [out]


def test_reshape_reverse_legacy_and_gradient() -> None:
    assert mx.sym.Reshape(X, shape=(-1, 0), reverse=True).infer_shape(x=(2, 3, 4))[1] == [(6, 4)]
    legacy = {((4, 0), False): (4, 6), ((4, 0), True): (2, 12), ((6, 4), False): (6, 4)}
    for (target, keep), out in legacy.items():
        sym = mx.sym.Reshape(X, target_shape=target, keep_highest=keep)
        assert sym.infer_shape(x=(2, 3, 4))[1] == [out]
    x = _rand(2, 3, 4)
    _forward_and_grad(mx.sym.reshape(X, shape=(-1, 0), reverse=True), {"x": x}, x.reshape(6, 4))
    assert mx.nd.reshape(mx.nd.array(x), shape=(4, -1)).shape == (4, 6)


def test_reshape_partial_inference_both_ways() -> None:
    assert mx.sym.Reshape(X, shape=(-1, 6)).infer_shape_partial(x=(0, 3, 4))[1] == [(0, 6)]
    assert mx.sym.Reshape(X, shape=(0, -1)).infer_shape_partial(x=(2, 0, 4))[1] == [(2, 0)]
    y = mx.sym.Reshape(X, shape=(4, 6)) + mx.sym.Variable("z")
    assert y.infer_shape_partial(x=(0, 3, 4))[0] == [(2, 3, 4), (4, 6)]


def test_reshape_errors() -> None:
    with pytest.raises(mx.base.MXNetError, match="24 elements cannot become 20"):
        mx.sym.Reshape(X, shape=(4, 5)).infer_shape(x=(2, 3, 4))
    with pytest.raises(mx.base.MXNetError, match="more than one -1"):
        mx.sym.Reshape(X, shape=(-1, -1)).infer_shape(x=(2, 3, 4))
    with pytest.raises(mx.base.MXNetError, match="needs a target"):
        mx.sym.Reshape(X).infer_shape(x=(2, 3, 4))


# -- Concat / stack / SliceChannel --------------------------------------------------------------
def test_concat_forward_gradient_and_inference() -> None:
    a, b, c = mx.sym.Variable("a"), mx.sym.Variable("b"), mx.sym.Variable("c")
    va, vb, vc = _rand(2, 3), _rand(2, 1), _rand(2, 2)
    _forward_and_grad(mx.sym.Concat(a, b, c), {"a": va, "b": vb, "c": vc},
                      np.hstack([va, vb, vc]))
    sym = mx.sym.concat(a, b, dim=-2)
    la, lb = _rand(2, 3), _rand(1, 3)
    _forward_and_grad(sym, {"a": la, "b": lb}, np.vstack([la, lb]))
    assert mx.sym.Concat(a, b).infer_shape_partial(a=(2, 3))[0] == [(2, 3), (2, 0)]
    y = mx.sym.Concat(a, b) + mx.sym.Variable("z")
    assert y.infer_shape(a=(2, 3), z=(2, 7))[0] == [(2, 3), (2, 4), (2, 7)]
    with pytest.raises(mx.base.MXNetError, match="agree on every axis but 1"):
        mx.sym.Concat(a, b).infer_shape(a=(2, 3), b=(3, 4))
    with pytest.raises(mx.base.MXNetError, match="dim=2 is out of range"):
        mx.sym.Concat(a, b, dim=2).infer_shape(a=(2, 3), b=(2, 4))


def test_stack_forward_gradient_and_inference() -> None:
    a, b = mx.sym.Variable("a"), mx.sym.Variable("b")
    va, vb = _rand(2, 3), _rand(2, 3)
    _forward_and_grad(mx.sym.stack(a, b, axis=-1), {"a": va, "b": vb},
                      np.concatenate([va[..., None], vb[..., None]], axis=-1))
    assert mx.sym.stack(a, b).infer_shape_partial(a=(2, 3))[0] == [(2, 3), (2, 3)]
    assert mx.sym.stack(a, b, axis=1).infer_shape(a=(2, 3))[1] == [(2, 2, 3)]
    with pytest.raises(mx.base.MXNetError, match="shapes must be equal"):
        mx.sym.stack(a, b).infer_shape(a=(2, 3), b=(3, 3))  # MXNet 1.9.1 accepts this silently
    with pytest.raises(mx.base.MXNetError, match="axis=3 is out of range"):
        mx.sym.stack(a, b, axis=3).infer_shape(a=(2, 3), b=(2, 3))


def test_slice_channel_forward_gradient_and_inference() -> None:
    x = _rand(2, 6, 2)
    sym = mx.sym.split(X, num_outputs=3)
    _forward_and_grad(sym, {"x": x}, [x[:, 0:2], x[:, 2:4], x[:, 4:6]])
    sym = mx.sym.SliceChannel(X, num_outputs=2, axis=-1, squeeze_axis=True)
    _forward_and_grad(sym, {"x": x}, [x[..., 0], x[..., 1]])
    # a known output fixes the data
    y = mx.sym.split(X, num_outputs=2)[0] + mx.sym.Variable("z")
    assert y.infer_shape_partial(z=(4, 3))[0] == [(4, 6), (4, 3)]
    with pytest.raises(mx.base.MXNetError, match="into num_outputs=4 equal parts"):
        mx.sym.split(X, num_outputs=4).infer_shape(x=(2, 6))
    with pytest.raises(mx.base.MXNetError, match="squeeze_axis needs"):
        mx.sym.split(X, num_outputs=3, squeeze_axis=True).infer_shape(x=(2, 6))


def test_slice_channel_unused_output_gets_zero_gradient() -> None:
    parts = mx.sym.split(X, num_outputs=2, axis=0)
    sym = parts[0] * 3
    x = _rand(4, 2)
    grad = np.concatenate([np.full((2, 2), 3.0), np.zeros((2, 2))])
    check_symbolic_backward(sym, {"x": x}, [np.ones((2, 2))], {"x": grad})


# -- transpose / expand_dims / squeeze / SwapAxis / reverse ------------------------------------------
def test_transpose() -> None:
    x = _rand(2, 3, 4)
    _forward_and_grad(mx.sym.transpose(X), {"x": x}, x.T)
    _forward_and_grad(mx.sym.transpose(X, axes=(1, 2, 0)), {"x": x}, np.moveaxis(x, 0, -1))
    y = mx.sym.transpose(X, axes=(1, 2, 0)) + mx.sym.Variable("z")
    assert y.infer_shape_partial(x=(2, 0, 0), z=(3, 4, 2))[0] == [(2, 3, 4), (3, 4, 2)]
    with pytest.raises(mx.base.MXNetError, match="not a permutation"):
        mx.sym.transpose(X, axes=(0, 0, 1)).infer_shape(x=(2, 3, 4))


def test_expand_dims_and_squeeze() -> None:
    x = _rand(2, 3)
    _forward_and_grad(mx.sym.expand_dims(X, axis=-1), {"x": x}, x[:, :, None])
    _forward_and_grad(mx.sym.expand_dims(X, axis=1), {"x": x}, x[:, None, :])
    with pytest.raises(mx.base.MXNetError, match="axis=3 is out of range"):
        mx.sym.expand_dims(X, axis=3).infer_shape(x=(2, 3))
    y = mx.sym.expand_dims(X, axis=0) + mx.sym.Variable("z")
    assert y.infer_shape(z=(1, 2, 3))[0] == [(2, 3), (1, 2, 3)]
    v = _rand(1, 3, 1)
    _forward_and_grad(mx.sym.squeeze(X), {"x": v}, v.reshape(3))
    _forward_and_grad(mx.sym.squeeze(X, axis=-1), {"x": v}, v.reshape(1, 3))
    assert mx.sym.squeeze(X).infer_shape(x=(1, 1))[1] == [(1,)]  # MXNet keeps (1,)
    assert mx.sym.squeeze(X, axis=(0, 2)).infer_shape(x=(1, 3, 1))[1] == [(3,)]
    with pytest.raises(mx.base.MXNetError, match="its size is 3, not 1"):
        mx.sym.squeeze(X, axis=1).infer_shape(x=(1, 3, 1))
    with pytest.raises(mx.base.MXNetError, match="names an axis twice"):
        mx.sym.squeeze(X, axis=(0, 0)).infer_shape(x=(1, 3, 1))


def test_swapaxes_and_flip() -> None:
    x = _rand(2, 3, 4)
    _forward_and_grad(mx.sym.swapaxes(X, dim1=0, dim2=-1), {"x": x}, np.swapaxes(x, 0, 2))
    _forward_and_grad(mx.sym.SwapAxis(X), {"x": x}, x)
    with pytest.raises(mx.base.MXNetError, match="dim2=3 is out of range"):
        mx.sym.swapaxes(X, dim1=0, dim2=3).infer_shape(x=(2, 3, 4))
    _forward_and_grad(mx.sym.flip(X, axis=(0, 2)), {"x": x}, x[::-1, :, ::-1])
    _forward_and_grad(mx.sym.reverse(X, axis=-1), {"x": x}, x[..., ::-1])
    check_symbolic_forward(mx.sym.flip(X, axis=(1, 1)), {"x": x}, [x])  # flipped twice: MXNet
    with pytest.raises(mx.base.MXNetError, match="axis=3 is out of range"):
        mx.sym.flip(X, axis=3).infer_shape(x=(2, 3, 4))


# -- tile / repeat -------------------------------------------------------------------------------
def test_tile() -> None:
    x = _rand(2, 3)
    _forward_and_grad(mx.sym.tile(X, reps=(2,)), {"x": x}, np.tile(x, 2))
    _forward_and_grad(mx.sym.tile(X, reps=(2, 1, 3)), {"x": x}, np.tile(x, (2, 1, 3)))
    check_symbolic_forward(mx.sym.tile(X, reps=()), {"x": x}, [x])
    # MXNet 1.9.1: tile([1, 2], reps=(2, 2)) with head gradient arange(8) gives [12, 16]
    check_symbolic_backward(mx.sym.tile(X, reps=(2, 2)), {"x": np.array([1.0, 2.0])},
                            [np.arange(8.0).reshape(2, 4)], {"x": np.array([12.0, 16.0])})
    y = mx.sym.tile(X, reps=(2, 1)) + mx.sym.Variable("z")
    assert y.infer_shape_partial(x=(0, 3), z=(4, 3))[0] == [(2, 3), (4, 3)]
    with pytest.raises(mx.base.MXNetError, match="must be positive"):
        mx.sym.tile(X, reps=(0, 1))


def test_repeat() -> None:
    x = _rand(2, 3)
    _forward_and_grad(mx.sym.repeat(X, repeats=2), {"x": x}, np.repeat(x, 2))
    _forward_and_grad(mx.sym.repeat(X, repeats=3, axis=-1), {"x": x}, np.repeat(x, 3, axis=1))
    _forward_and_grad(mx.sym.repeat(X, repeats=2, axis=0), {"x": x}, np.repeat(x, 2, axis=0))
    with pytest.raises(mx.base.MXNetError, match="must be positive"):
        mx.sym.repeat(X, repeats=-1)
    with pytest.raises(mx.base.MXNetError, match="axis=2 is out of range"):
        mx.sym.repeat(X, repeats=2, axis=2).infer_shape(x=(2, 3))


# -- Pad ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["constant", "edge", "reflect"])
def test_pad_matches_numpy(mode: str) -> None:
    x = _rand(2, 1, 3, 4)
    width = (0, 0, 0, 0, 2, 1, 1, 3)
    sym = mx.sym.pad(X, mode=mode, pad_width=width, constant_value=0.5)
    kwargs = {"constant_values": 0.5} if mode == "constant" else {}
    expected = np.pad(x, ((0, 0), (0, 0), (2, 1), (1, 3)), mode=mode, **kwargs)
    _forward_and_grad(sym, {"x": x}, expected)


def test_pad_5d_and_mxnet_gradient() -> None:
    x = _rand(1, 2, 2, 3, 3)
    sym = mx.sym.Pad(X, mode="reflect", pad_width=(0, 0, 0, 0, 1, 1, 2, 0, 0, 2))
    _forward_and_grad(sym, {"x": x}, np.pad(x, ((0, 0), (0, 0), (1, 1), (2, 0), (0, 2)),
                                            mode="reflect"))
    # MXNet 1.9.1, edge padding (1, 1, 2, 1) of arange(12).reshape(1, 1, 3, 4), head
    # gradient arange(1, 36): the folded gradient
    head = np.arange(1.0, 36.0).reshape(1, 1, 5, 7)
    want = [33, 15, 17, 40, 48, 18, 19, 41, 159, 57, 59, 124]
    check_symbolic_backward(mx.sym.pad(X, mode="edge", pad_width=(0, 0, 0, 0, 1, 1, 2, 1)),
                            {"x": np.arange(12.0).reshape(1, 1, 3, 4)}, [head],
                            {"x": np.array(want, float).reshape(1, 1, 3, 4)})


def test_pad_errors_and_inference() -> None:
    sym = mx.sym.pad(X, mode="constant", pad_width=(0, 0, 0, 0, 1, 1, 1, 1))
    assert sym.infer_shape(x=(2, 3, 4, 5))[1] == [(2, 3, 6, 7)]
    y = sym + mx.sym.Variable("z")
    assert y.infer_shape_partial(x=(2, 3, 0, 0), z=(2, 3, 6, 7))[0][0] == (2, 3, 4, 5)
    with pytest.raises(mx.base.MXNetError, match="4-D and 5-D data only"):
        sym.infer_shape(x=(2, 3, 4))
    with pytest.raises(mx.base.MXNetError, match="first two axes cannot be padded"):
        mx.sym.pad(X, mode="edge", pad_width=(0, 0, 1, 0, 1, 1, 1, 1)).infer_shape(x=(1, 1, 3, 3))
    with pytest.raises(mx.base.MXNetError, match="smaller than the axis size"):
        mx.sym.pad(X, mode="reflect", pad_width=(0, 0, 0, 0, 3, 0, 0, 0)).infer_shape(
            x=(1, 1, 3, 4))
    with pytest.raises(mx.base.MXNetError, match="invalid value 'wrap'"):
        mx.sym.pad(X, mode="wrap", pad_width=(0,) * 8)


# -- broadcast_to / broadcast_like -------------------------------------------------------------------
def test_broadcast_to() -> None:
    x = _rand(1, 3, 1)
    _forward_and_grad(mx.sym.broadcast_to(X, shape=(2, 0, 4)), {"x": x},
                      np.broadcast_to(x, (2, 3, 4)))
    with pytest.raises(mx.base.MXNetError, match="cannot broadcast"):
        mx.sym.broadcast_to(X, shape=(2, 3)).infer_shape(x=(1, 3, 1))
    with pytest.raises(mx.base.MXNetError, match="cannot broadcast"):
        mx.sym.broadcast_to(X, shape=(2, 2, 4)).infer_shape(x=(1, 3, 1))
    assert mx.sym.broadcast_to(X, shape=(2, 3)).infer_shape_partial()[1] == [(2, 3)]


def test_broadcast_like() -> None:
    lhs, rhs = mx.sym.Variable("lhs"), mx.sym.Variable("rhs")
    a, b = _rand(1, 3, 1), _rand(2, 3, 4)
    sym = mx.sym.broadcast_like(lhs, rhs)
    _forward_and_grad(sym, {"lhs": a, "rhs": b}, np.broadcast_to(a, (2, 3, 4)))
    sym = mx.sym.broadcast_like(lhs, rhs, lhs_axes=(0, -1), rhs_axes=(-1, 1))
    b = _rand(2, 5, 3)
    check_symbolic_forward(sym, {"lhs": a, "rhs": b}, [np.broadcast_to(a, (3, 3, 5))])
    grads = check_symbolic_backward(sym, {"lhs": a, "rhs": b}, [np.ones((3, 3, 5))],
                                    {"lhs": np.full((1, 3, 1), 15.0), "rhs": np.zeros_like(b)})
    assert grads["rhs"].sum() == 0
    assert sym.infer_type(lhs="float32", rhs="float64")[1] == [np.float32]
    with pytest.raises(mx.base.MXNetError, match="must be non-empty and of one length"):
        mx.sym.broadcast_like(lhs, rhs, lhs_axes=(0,), rhs_axes=(0, 1)).infer_shape(
            lhs=(1, 3), rhs=(2, 5, 3))
    with pytest.raises(mx.base.MXNetError, match="of one rank"):
        mx.sym.broadcast_like(lhs, rhs).infer_shape(lhs=(1, 3, 1), rhs=(2, 3))


# -- special.py: Cast, BlockGrad, _copy, MakeLoss, make_loss, add_n, zeros_like, ones_like ---------
def test_cast() -> None:
    x = np.array([[3.5, -1.7], [0.2, 9.9]])
    out = mx.nd.Cast(mx.nd.array(x), dtype="int32")
    assert out.dtype == np.int32 and out.asnumpy().tolist() == [[3, -1], [0, 9]]
    sym = mx.sym.Cast(X, dtype="float16")
    assert sym.infer_type(x="float64") == ([np.float64], [np.float16], [])
    check_symbolic_backward(mx.sym.cast(X, dtype="float32"), {"x": x}, [np.ones((2, 2)) * 2],
                            {"x": np.full((2, 2), 2.0)}, dtype=np.float64)
    check_numeric_gradient(mx.sym.cast(X, dtype="float64"), {"x": _rand(2, 3)}, dtype=np.float64)
    with pytest.raises(mx.base.MXNetError, match="valid choices"):
        mx.sym.Cast(X, dtype="int16")


def test_block_grad_and_identity() -> None:
    x = _rand(2, 3)
    sym = mx.sym.BlockGrad(X) * 5 + mx.sym.identity(X) * 2
    check_symbolic_forward(sym, {"x": x}, [7 * x])
    check_symbolic_backward(sym, {"x": x}, [np.ones((2, 3))], {"x": np.full((2, 3), 2.0)})
    check_symbolic_backward(mx.sym.stop_gradient(X) * 3 + X, {"x": x}, [np.ones((2, 3))],
                            {"x": np.ones((2, 3))})
    _forward_and_grad(mx.sym._copy(X), {"x": x}, x)
    assert not get_registry().get("BlockGrad").has_gradient


def test_make_loss_gradients_match_mxnet() -> None:
    # MXNet 1.9.1: data [[0.5, -1, 2], [0, 3, 0.1]], grad_scale 3
    d = np.array([[0.5, -1.0, 2.0], [0.0, 3.0, 0.1]])
    cases = [({}, 3.0), ({"normalization": "batch"}, 1.5), ({"normalization": "valid"}, 0.75),
             ({"normalization": "valid", "valid_thresh": 0.4}, 1.0),
             ({"normalization": "valid", "valid_thresh": 5}, 3.0),
             ({"normalization": "null", "valid_thresh": 0.4}, 3.0)]
    for kwargs, value in cases:
        sym = mx.sym.MakeLoss(X, grad_scale=3, **kwargs)
        check_symbolic_forward(sym, {"x": d}, [d])
        check_symbolic_backward(sym, {"x": d}, None, {"x": np.full((2, 3), value)})
    # 'batch' divides by the first dimension of the data seen as 2-D: 1 for 1-D data
    sym = mx.sym.MakeLoss(X, grad_scale=3, normalization="batch")
    check_symbolic_backward(sym, {"x": d[0]}, None, {"x": np.full(3, 3.0)})
    check_symbolic_backward(sym, {"x": np.ones((2, 3, 2))}, None, {"x": np.full((2, 3, 2), 1.5)})
    # the head gradient is ignored, the gradient flows on through the graph
    sym = mx.sym.MakeLoss(X * 2) * 1
    check_symbolic_backward(sym, {"x": d}, [np.full((2, 3), 5.0)], {"x": np.full((2, 3), 2.0)})
    check_symbolic_backward(mx.sym.make_loss(X * 4), {"x": d}, None, {"x": np.full((2, 3), 4.0)})
    with pytest.raises(mx.base.MXNetError, match="invalid value 'mean'"):
        mx.sym.MakeLoss(X, normalization="mean")


def test_add_n() -> None:
    a, b, c = mx.sym.Variable("a"), mx.sym.Variable("b"), mx.sym.Variable("c")
    va, vb, vc = _rand(2, 3), _rand(2, 3), _rand(2, 3)
    _forward_and_grad(mx.sym.add_n(a, b, c), {"a": va, "b": vb, "c": vc}, va + vb + vc)
    _forward_and_grad(mx.sym.ElementWiseSum(a), {"a": va}, va)
    check_symbolic_backward(mx.sym.add_n(a, a, b), {"a": va, "b": vb}, [np.ones((2, 3))],
                            {"a": np.full((2, 3), 2.0), "b": np.ones((2, 3))})
    assert mx.sym.add_n(a, b).infer_shape_partial(a=(2, 3))[0] == [(2, 3), (2, 3)]
    with pytest.raises(mx.base.MXNetError, match="shapes must be equal"):
        mx.sym.add_n(a, b).infer_shape(a=(2, 3), b=(3, 2))


def test_zeros_like_and_ones_like() -> None:
    x = mx.nd.array([[1, 2, 3]], dtype="int32")
    z, o = mx.nd.zeros_like(x), mx.nd.ones_like(x)
    assert (z.dtype, o.dtype) == (np.int32, np.int32)
    assert z.asnumpy().tolist() == [[0, 0, 0]] and o.asnumpy().tolist() == [[1, 1, 1]]
    sym = mx.sym.zeros_like(X) + mx.sym.ones_like(X) + X
    check_symbolic_forward(sym, {"x": np.full((2, 2), 3.0)}, [np.full((2, 2), 4.0)])
    check_symbolic_backward(sym, {"x": np.full((2, 2), 3.0)}, [np.ones((2, 2))],
                            {"x": np.ones((2, 2))})
    assert mx.sym.ones_like(X).infer_shape_partial(x=(1, 0, 1))[1] == [(1, 0, 1)]


def test_json_round_trip_keeps_params() -> None:
    sym = mx.sym.Reshape(mx.sym.Pad(mx.sym.tile(X, reps=(1, 1, 2, 1)), mode="edge",
                                    pad_width=(0, 0, 0, 0, 1, 1, 1, 1)), shape=(0, -1))
    x = _rand(1, 2, 2, 3)
    padded = np.pad(np.tile(x, (1, 1, 2, 1)), ((0, 0), (0, 0), (1, 1), (1, 1)), mode="edge")
    for graph in (sym, mx.sym.load_json(sym.tojson())):
        check_symbolic_forward(graph, {"x": x}, [padded.reshape(1, 60)])


# -- copy kernels: the planner-view skip -------------------------------------------------------
def _block_views(shapes: list[tuple]) -> list[np.ndarray]:
    """Typed views of one uint8 block's start, as the memory planner makes them."""
    block = np.zeros(4 * int(np.prod(shapes[0])), np.uint8)
    return [block.view(np.float32).reshape(s) for s in shapes]


@pytest.mark.parametrize("op, params, shapes", [
    ("Flatten", {}, [(2, 3, 4), (2, 12)]),
    ("expand_dims", {"axis": 1}, [(2, 12), (2, 1, 12)]),
    ("squeeze", {}, [(2, 1, 12), (2, 12)]),
    ("BlockGrad", {}, [(2, 12), (2, 12)]),
    ("_copy", {}, [(2, 12), (2, 12)]),
])
def test_copy_kernels_skip_planner_views_and_copy_otherwise(op: str, params: dict,
                                                            shapes: list) -> None:
    from mxlite_builtin_ops.shape_ops import same_storage
    definition = get_registry().get(op)
    p = definition.parse_params(params)
    forward = definition.kernels["numpy"].forward
    src, dst = _block_views(shapes)
    src[...] = np.arange(src.size, dtype=np.float32).reshape(src.shape)
    assert same_storage(src, dst)
    forward(p, [src], [dst], [], False)  # the output is the input's bytes: nothing to do
    np.testing.assert_array_equal(dst.reshape(-1), np.arange(src.size))
    parent = np.zeros(2 * src.size, np.float32)  # one base, other bytes: a real copy
    near, other = parent[:src.size].reshape(src.shape), parent[src.size:].reshape(dst.shape)
    near[...] = src
    assert other.base is near.base and not same_storage(near, other)
    forward(p, [near], [other], [], False)
    np.testing.assert_array_equal(other.reshape(-1), np.arange(src.size))
    fresh = np.zeros(dst.shape, np.float32)  # an array of its own
    forward(p, [src], [fresh], [], False)
    np.testing.assert_array_equal(fresh.reshape(-1), np.arange(src.size))

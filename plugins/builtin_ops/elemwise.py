"""Element-wise arithmetic between symbols (no broadcasting) and with scalars; comparisons.

Each operator is one row of a table below: its name, the aliases that Symbol's arithmetic
operators use (``a + b`` calls ``_Plus``), the forward ufunc and its gradient.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from mxlite.registry import Kernel, OpDef, Param, Params

from ._rules import same_shape

# A gradient function receives (out_grad, lhs, rhs, out) and the two destinations (or None).
BinaryGrad = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray, "np.ndarray | None",
                       "np.ndarray | None"], None]


def _copy(dst: "np.ndarray | None", src: np.ndarray) -> None:
    if dst is not None:
        np.copyto(dst, src)


def _neg(dst: "np.ndarray | None", src: np.ndarray) -> None:
    if dst is not None:
        np.negative(src, out=dst)


def _grad_add(og, lhs, rhs, out, gl, gr) -> None:  # type: ignore[no-untyped-def]
    _copy(gl, og)
    _copy(gr, og)


def _grad_sub(og, lhs, rhs, out, gl, gr) -> None:  # type: ignore[no-untyped-def]
    _copy(gl, og)
    _neg(gr, og)


def _grad_mul(og, lhs, rhs, out, gl, gr) -> None:  # type: ignore[no-untyped-def]
    if gl is not None:
        np.multiply(og, rhs, out=gl)
    if gr is not None:
        np.multiply(og, lhs, out=gr)


def _grad_div(og, lhs, rhs, out, gl, gr) -> None:  # type: ignore[no-untyped-def]
    if gl is not None:
        np.divide(og, rhs, out=gl)
    if gr is not None:  # d(l/r)/dr = -out / r
        np.divide(out, rhs, out=gr)
        np.negative(gr, out=gr)
        gr *= og


def _grad_power(og, lhs, rhs, out, gl, gr) -> None:  # type: ignore[no-untyped-def]
    if gl is not None:  # r * l^(r-1)
        np.power(lhs, rhs - 1, out=gl)
        gl *= rhs
        gl *= og
    if gr is not None:  # out * log(l)
        np.log(lhs, out=gr)
        gr *= out
        gr *= og


def _grad_mod(og, lhs, rhs, out, gl, gr) -> None:  # type: ignore[no-untyped-def]
    _copy(gl, og)
    if gr is not None:
        np.floor_divide(lhs, rhs, out=gr)
        np.negative(gr, out=gr)
        gr *= og


def _grad_maximum(og, lhs, rhs, out, gl, gr) -> None:  # type: ignore[no-untyped-def]
    if gl is not None:
        np.multiply(og, lhs >= rhs, out=gl)
    if gr is not None:
        np.multiply(og, lhs < rhs, out=gr)


def _grad_minimum(og, lhs, rhs, out, gl, gr) -> None:  # type: ignore[no-untyped-def]
    if gl is not None:
        np.multiply(og, lhs <= rhs, out=gl)
    if gr is not None:
        np.multiply(og, lhs > rhs, out=gr)


IN, OUT, BOTH = ("inputs",), ("outputs",), ("inputs", "outputs")  # what a gradient reads


def _binary_op(name: str, aliases: list[str], ufunc: np.ufunc, grad: BinaryGrad | None,
               uses: tuple, doc: str) -> OpDef:
    def forward(p: Params, ins: list, outs: list, aux: list, is_train: bool) -> None:
        ufunc(ins[0], ins[1], out=outs[0], casting="unsafe")

    def backward(p: Params, out_grads: list, ins: list, outs: list, in_grads: list,
                 aux: list) -> None:
        grad(out_grads[0], ins[0], ins[1], outs[0], in_grads[0], in_grads[1])  # type: ignore[misc]

    return OpDef(
        name=name, aliases=aliases, doc=doc, inputs=["lhs", "rhs"], infer_shape=same_shape,
        kernels={"numpy": Kernel(forward, backward if grad else None)},
        inplace=[(0, 0), (1, 0)], grad_uses=uses,
        no_gradient=None if grad else "comparisons are piecewise constant; MXNet gives zero",
    )


BINARY = [
    ("elemwise_add", ["_Plus", "_plus", "_add"], np.add, _grad_add, (), "lhs + rhs"),
    ("elemwise_sub", ["_Minus", "_minus", "_sub"], np.subtract, _grad_sub, (), "lhs - rhs"),
    ("elemwise_mul", ["_Mul", "_mul"], np.multiply, _grad_mul, IN, "lhs * rhs"),
    ("elemwise_div", ["_Div", "_div"], np.divide, _grad_div, BOTH, "lhs / rhs"),
    ("_power", ["_Power", "_pow"], np.power, _grad_power, BOTH, "lhs ** rhs"),
    ("_mod", ["_Mod"], np.mod, _grad_mod, IN, "lhs % rhs (sign of rhs, as numpy)"),
    ("_maximum", ["_Maximum"], np.maximum, _grad_maximum, IN, "max(lhs, rhs)"),
    ("_minimum", ["_Minimum"], np.minimum, _grad_minimum, IN, "min(lhs, rhs)"),
    ("_equal", ["_Equal"], np.equal, None, (), "1 where lhs == rhs else 0"),
    ("_not_equal", ["_Not_Equal"], np.not_equal, None, (), "1 where lhs != rhs else 0"),
    ("_greater", ["_Greater"], np.greater, None, (), "1 where lhs > rhs else 0"),
    ("_greater_equal", ["_Greater_Equal"], np.greater_equal, None, (), "1 where lhs >= rhs else 0"),
    ("_lesser", ["_Lesser"], np.less, None, (), "1 where lhs < rhs else 0"),
    ("_lesser_equal", ["_Lesser_Equal"], np.less_equal, None, (), "1 where lhs <= rhs else 0"),
]


# -- scalar operators: out = f(x, scalar); the gradient gets (og, x, s, out, dst) ------------------
def _sgrad_copy(og, x, s, out, dx) -> None:  # type: ignore[no-untyped-def]
    np.copyto(dx, og)


def _sgrad_neg(og, x, s, out, dx) -> None:  # type: ignore[no-untyped-def]
    np.negative(og, out=dx)


def _sgrad_mul(og, x, s, out, dx) -> None:  # type: ignore[no-untyped-def]
    np.multiply(og, s, out=dx)


def _sgrad_div(og, x, s, out, dx) -> None:  # type: ignore[no-untyped-def]
    np.divide(og, s, out=dx)


def _sgrad_rdiv(og, x, s, out, dx) -> None:  # type: ignore[no-untyped-def]  # d(s/x) = -out/x
    np.divide(out, x, out=dx)
    np.negative(dx, out=dx)
    dx *= og


def _sgrad_rmod(og, x, s, out, dx) -> None:  # type: ignore[no-untyped-def]
    np.floor_divide(s, x, out=dx)
    np.negative(dx, out=dx)
    dx *= og


def _sgrad_power(og, x, s, out, dx) -> None:  # type: ignore[no-untyped-def]  # s * x^(s-1)
    np.power(x, s - 1, out=dx)
    dx *= s
    dx *= og


def _sgrad_rpower(og, x, s, out, dx) -> None:  # type: ignore[no-untyped-def]  # out * log(s)
    np.multiply(out, np.log(s), out=dx)
    dx *= og


def _sgrad_maximum(og, x, s, out, dx) -> None:  # type: ignore[no-untyped-def]
    np.multiply(og, x >= s, out=dx)


def _sgrad_minimum(og, x, s, out, dx) -> None:  # type: ignore[no-untyped-def]
    np.multiply(og, x <= s, out=dx)


def _reflect(ufunc: np.ufunc) -> Callable:
    return lambda x, s, out, casting: ufunc(s, x, out=out, casting=casting)


def _scalar_op(name: str, aliases: list[str], fn: Callable, grad: Callable | None,
               uses: tuple, doc: str) -> OpDef:
    def forward(p: Params, ins: list, outs: list, aux: list, is_train: bool) -> None:
        fn(ins[0], p.scalar, out=outs[0], casting="unsafe")

    def backward(p: Params, out_grads: list, ins: list, outs: list, in_grads: list,
                 aux: list) -> None:
        if in_grads[0] is not None:
            grad(out_grads[0], ins[0], p.scalar, outs[0], in_grads[0])  # type: ignore[misc]

    return OpDef(
        name=name, aliases=aliases, doc=doc, inputs=["data"], infer_shape=same_shape,
        params=[Param("scalar", "float", 1.0, doc="The scalar operand."),
                Param("is_int", "bool", True, doc="Accepted for MXNet 1.9 graphs; unused.")],
        kernels={"numpy": Kernel(forward, backward if grad else None)},
        inplace=[(0, 0)], grad_uses=uses,
        no_gradient=None if grad else "comparisons are piecewise constant; MXNet gives zero",
    )


SCALAR = [
    ("_plus_scalar", ["_PlusScalar"], np.add, _sgrad_copy, (), "data + scalar"),
    ("_minus_scalar", ["_MinusScalar"], np.subtract, _sgrad_copy, (), "data - scalar"),
    ("_rminus_scalar", ["_RMinusScalar"], _reflect(np.subtract), _sgrad_neg, (), "scalar - data"),
    ("_mul_scalar", ["_MulScalar"], np.multiply, _sgrad_mul, (), "data * scalar"),
    ("_div_scalar", ["_DivScalar"], np.divide, _sgrad_div, (), "data / scalar"),
    ("_rdiv_scalar", ["_RDivScalar"], _reflect(np.divide), _sgrad_rdiv, BOTH, "scalar / data"),
    ("_mod_scalar", ["_ModScalar"], np.mod, _sgrad_copy, (), "data % scalar"),
    ("_rmod_scalar", ["_RModScalar"], _reflect(np.mod), _sgrad_rmod, IN, "scalar % data"),
    ("_power_scalar", ["_PowerScalar"], np.power, _sgrad_power, IN, "data ** scalar"),
    ("_rpower_scalar", ["_RPowerScalar"], _reflect(np.power), _sgrad_rpower, OUT,
     "scalar ** data"),
    ("_maximum_scalar", ["_MaximumScalar"], np.maximum, _sgrad_maximum, IN, "max(data, scalar)"),
    ("_minimum_scalar", ["_MinimumScalar"], np.minimum, _sgrad_minimum, IN, "min(data, scalar)"),
    ("_equal_scalar", ["_EqualScalar"], np.equal, None, (), "1 where data == scalar else 0"),
    ("_not_equal_scalar", ["_NotEqualScalar"], np.not_equal, None, (), "1 where data != scalar"),
    ("_greater_scalar", ["_GreaterScalar"], np.greater, None, (), "1 where data > scalar else 0"),
    ("_greater_equal_scalar", ["_GreaterEqualScalar"], np.greater_equal, None, (),
     "1 where data >= scalar else 0"),
    ("_lesser_scalar", ["_LesserScalar"], np.less, None, (), "1 where data < scalar else 0"),
    ("_lesser_equal_scalar", ["_LesserEqualScalar"], np.less_equal, None, (),
     "1 where data <= scalar else 0"),
]

OPS = [_binary_op(*row) for row in BINARY] + [_scalar_op(*row) for row in SCALAR]

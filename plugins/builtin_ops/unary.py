"""Element-wise unary math (``exp``, ``sqrt``, ``floor``, ``sigmoid``...) and ``clip``.

Each operator is one row of ``UNARY``: name, forward (a ufunc, called as ``f(x, out=y,
casting="unsafe")``, or a function ``f(x, y)``), local derivative, what the derivative
reads, doc. The forward writes ``f(x)`` into the output; the derivative writes ``dy/dx`` into the
gradient buffer, which is then multiplied by the head gradient in place. A derivative of
``None`` means MXNet's zero gradient (rounding and sign functions). ``reads`` becomes the op's
``grad_uses``, so the planner may reuse what backward does not need; every forward except those
in ``NOT_IN_PLACE`` also works when the output is the input's buffer.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
from mxlite.registry import Kernel, OpDef, Param, Params

from ._rules import same_shape

Fn = Callable[..., None]

_LN2 = math.log(2.0)
_LN10 = math.log(10.0)
_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)
_erf_scalar = np.vectorize(math.erf, otypes=[np.float64])


#: float dtypes where ``np.divide(1, x)`` is ``np.reciprocal(x)`` bit for bit (and about twice
#: as fast: numpy's reciprocal loop is not vectorised)
_FAST_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


# -- forward functions that numpy has no single ufunc for ------------------------------------
def _invert(y: np.ndarray) -> None:
    """``y = 1 / y`` in place."""
    if y.dtype in _FAST_FLOATS:
        np.divide(1, y, out=y)
    else:
        np.reciprocal(y, out=y)


def _reciprocal(x: np.ndarray, y: np.ndarray) -> None:
    if x.dtype in _FAST_FLOATS:
        np.divide(1, x, out=y, casting="unsafe")
    else:
        np.reciprocal(x, out=y, casting="unsafe")


def _scaled(fn: np.ufunc) -> Fn:
    """``degrees`` / ``radians`` as one multiplication by numpy's own constant for the dtype
    (bit-identical to ``fn``, whose loop is not vectorised); other dtypes call ``fn``."""
    scale = {dt: fn(np.ones((), dt)) for dt in _FAST_FLOATS}

    def forward(x: np.ndarray, y: np.ndarray) -> None:
        c = scale.get(x.dtype)
        if c is None:
            fn(x, out=y, casting="unsafe")
        else:
            np.multiply(x, c, out=y, casting="unsafe")
    return forward


def _relu(x: np.ndarray, y: np.ndarray) -> None:
    np.maximum(x, 0, out=y, casting="unsafe")


def _sigmoid(x: np.ndarray, y: np.ndarray) -> None:
    np.negative(x, out=y, casting="unsafe")
    np.exp(y, out=y)
    y += 1
    _invert(y)


def _softsign(x: np.ndarray, y: np.ndarray) -> None:
    np.abs(x, out=y, casting="unsafe")
    y += 1
    np.divide(x, y, out=y, casting="unsafe")


def _rsqrt(x: np.ndarray, y: np.ndarray) -> None:
    np.sqrt(x, out=y, casting="unsafe")
    _invert(y)


def _rcbrt(x: np.ndarray, y: np.ndarray) -> None:
    np.cbrt(x, out=y, casting="unsafe")
    _invert(y)


def _round_half_away(x: np.ndarray, y: np.ndarray) -> None:
    """MXNet's ``round``: halves go away from zero (numpy's ``round`` goes to even). The
    fraction ``x - trunc(x)`` is exact; ``trunc(2 * fraction)`` is the step away from zero
    (-1, 0 or 1). At +-inf the fraction is NaN: clamped to -1, it leaves inf unchanged."""
    np.trunc(x, out=y, casting="unsafe")
    d = np.subtract(x, y, dtype=y.dtype)
    np.fmax(d, -1, out=d)
    d += d
    np.trunc(d, out=d)
    y += d


def _rint_half_down(x: np.ndarray, y: np.ndarray) -> None:
    """MXNet's ``rint``: the nearest integer, halves going down (``1.5 -> 1``, ``-1.5 -> -2``)."""
    np.floor(x, out=y, casting="unsafe")
    y += (x - y) > 0.5


def _erf(x: np.ndarray, y: np.ndarray) -> None:
    np.copyto(y, _erf_scalar(x), casting="unsafe")


# -- local derivatives dy/dx written into ``d`` ---------------------------------------------
def _d_abs(x, y, d) -> None:  # type: ignore[no-untyped-def]
    np.sign(x, out=d)


def _d_exp(x, y, d) -> None:  # type: ignore[no-untyped-def]
    np.copyto(d, y)


def _d_log(x, y, d) -> None:  # type: ignore[no-untyped-def]
    np.reciprocal(x, out=d, casting="unsafe")


def _d_log1p(x, y, d) -> None:  # type: ignore[no-untyped-def]
    np.add(x, 1, out=d, casting="unsafe")
    np.reciprocal(d, out=d)


def _d_expm1(x, y, d) -> None:  # type: ignore[no-untyped-def]
    np.add(y, 1, out=d)


def _d_sqrt(x, y, d) -> None:  # type: ignore[no-untyped-def]  # 1 / (2y)
    np.multiply(y, 2, out=d)
    np.reciprocal(d, out=d)


def _d_rsqrt(x, y, d) -> None:  # type: ignore[no-untyped-def]  # -y^3 / 2
    np.power(y, 3, out=d)
    d *= -0.5


def _d_cbrt(x, y, d) -> None:  # type: ignore[no-untyped-def]  # 1 / (3 y^2)
    np.square(y, out=d)
    d *= 3
    np.reciprocal(d, out=d)


def _d_rcbrt(x, y, d) -> None:  # type: ignore[no-untyped-def]  # -y^4 / 3
    np.power(y, 4, out=d)
    d /= -3


def _d_square(x, y, d) -> None:  # type: ignore[no-untyped-def]
    np.multiply(x, 2, out=d, casting="unsafe")


def _d_negative(x, y, d) -> None:  # type: ignore[no-untyped-def]
    d.fill(-1)


def _d_reciprocal(x, y, d) -> None:  # type: ignore[no-untyped-def]  # -y^2
    np.square(y, out=d)
    np.negative(d, out=d)


def _d_relu(x, y, d) -> None:  # type: ignore[no-untyped-def]
    np.greater(y, 0, out=d, casting="unsafe")


def _d_sigmoid(x, y, d) -> None:  # type: ignore[no-untyped-def]  # y (1 - y)
    np.subtract(1, y, out=d)
    d *= y


def _d_tanh(x, y, d) -> None:  # type: ignore[no-untyped-def]  # 1 - y^2
    np.square(y, out=d)
    np.subtract(1, d, out=d)


def _d_tan(x, y, d) -> None:  # type: ignore[no-untyped-def]  # 1 + y^2
    np.square(y, out=d)
    d += 1


def _d_sin(x, y, d) -> None:  # type: ignore[no-untyped-def]
    np.cos(x, out=d, casting="unsafe")


def _d_cos(x, y, d) -> None:  # type: ignore[no-untyped-def]
    np.sin(x, out=d, casting="unsafe")
    np.negative(d, out=d)


def _one_minus_x2_rsqrt(x, d) -> None:  # type: ignore[no-untyped-def]  # 1 / sqrt(1 - x^2)
    np.square(x, out=d, casting="unsafe")
    np.subtract(1, d, out=d)
    np.sqrt(d, out=d)
    np.reciprocal(d, out=d)


def _d_arcsin(x, y, d) -> None:  # type: ignore[no-untyped-def]
    _one_minus_x2_rsqrt(x, d)


def _d_arccos(x, y, d) -> None:  # type: ignore[no-untyped-def]
    _one_minus_x2_rsqrt(x, d)
    np.negative(d, out=d)


def _d_arctan(x, y, d) -> None:  # type: ignore[no-untyped-def]  # 1 / (1 + x^2)
    np.square(x, out=d, casting="unsafe")
    d += 1
    np.reciprocal(d, out=d)


def _d_sinh(x, y, d) -> None:  # type: ignore[no-untyped-def]
    np.cosh(x, out=d, casting="unsafe")


def _d_cosh(x, y, d) -> None:  # type: ignore[no-untyped-def]
    np.sinh(x, out=d, casting="unsafe")


def _d_arcsinh(x, y, d) -> None:  # type: ignore[no-untyped-def]  # 1 / sqrt(x^2 + 1)
    np.square(x, out=d, casting="unsafe")
    d += 1
    np.sqrt(d, out=d)
    np.reciprocal(d, out=d)


def _d_arccosh(x, y, d) -> None:  # type: ignore[no-untyped-def]  # 1 / sqrt(x^2 - 1)
    np.square(x, out=d, casting="unsafe")
    d -= 1
    np.sqrt(d, out=d)
    np.reciprocal(d, out=d)


def _d_arctanh(x, y, d) -> None:  # type: ignore[no-untyped-def]  # 1 / (1 - x^2)
    np.square(x, out=d, casting="unsafe")
    np.subtract(1, d, out=d)
    np.reciprocal(d, out=d)


def _d_log_base(scale: float) -> Fn:
    def deriv(x, y, d) -> None:  # type: ignore[no-untyped-def]  # 1 / (x ln b)
        np.multiply(x, scale, out=d, casting="unsafe")
        np.reciprocal(d, out=d)
    return deriv


def _d_softsign(x, y, d) -> None:  # type: ignore[no-untyped-def]  # 1 / (1 + |x|)^2
    np.abs(x, out=d, casting="unsafe")
    d += 1
    np.square(d, out=d)
    np.reciprocal(d, out=d)


def _d_erf(x, y, d) -> None:  # type: ignore[no-untyped-def]  # 2/sqrt(pi) exp(-x^2)
    np.square(x, out=d, casting="unsafe")
    np.negative(d, out=d)
    np.exp(d, out=d)
    d *= _TWO_OVER_SQRT_PI


def _d_const(value: float) -> Fn:
    return lambda x, y, d: d.fill(value)


class Row(NamedTuple):
    name: str
    forward: "Fn | np.ufunc"  # a ufunc: the forward is that one call
    deriv: "Fn | None"  # None: zero gradient, as MXNet
    reads: str  # what the derivative reads: "x" (the input), "y" (the output) or "" (nothing)
    doc: str


#: forwards that read the input after writing the output: they cannot run in place
NOT_IN_PLACE = ("round", "rint", "softsign")
_USES = {"x": ("inputs",), "y": ("outputs",), "": ()}


UNARY = [
    Row("abs", np.abs, _d_abs, "x", "Absolute value |x|; gradient sign(x)."),
    Row("exp", np.exp, _d_exp, "y", "Exponential e^x."),
    Row("log", np.log, _d_log, "x", "Natural logarithm."),
    Row("log1p", np.log1p, _d_log1p, "x", "log(1 + x), accurate for small x."),
    Row("expm1", np.expm1, _d_expm1, "y", "e^x - 1, accurate for small x."),
    Row("log2", np.log2, _d_log_base(_LN2), "x", "Base-2 logarithm."),
    Row("log10", np.log10, _d_log_base(_LN10), "x", "Base-10 logarithm."),
    Row("sqrt", np.sqrt, _d_sqrt, "y", "Square root."),
    Row("rsqrt", _rsqrt, _d_rsqrt, "y", "Reciprocal square root 1/sqrt(x)."),
    Row("cbrt", np.cbrt, _d_cbrt, "y", "Cube root."),
    Row("rcbrt", _rcbrt, _d_rcbrt, "y", "Reciprocal cube root 1/cbrt(x)."),
    Row("square", np.square, _d_square, "x", "x^2."),
    Row("negative", np.negative, _d_negative, "", "-x."),
    Row("reciprocal", _reciprocal, _d_reciprocal, "y", "1/x."),
    Row("sign", np.sign, None, "", "Sign of x (-1, 0 or 1); zero gradient."),
    Row("floor", np.floor, None, "", "Largest integer <= x; zero gradient."),
    Row("ceil", np.ceil, None, "", "Smallest integer >= x; zero gradient."),
    Row("round", _round_half_away, None, "",
        "Nearest integer, halves away from zero (2.5 -> 3, -2.5 -> -3); zero gradient."),
    Row("rint", _rint_half_down, None, "",
        "Nearest integer, halves downwards (1.5 -> 1, -1.5 -> -2), as MXNet; zero gradient."),
    Row("fix", np.trunc, None, "", "Round towards zero; zero gradient."),
    Row("trunc", np.trunc, None, "", "Truncate towards zero; zero gradient."),
    Row("relu", _relu, _d_relu, "y", "max(x, 0)."),
    Row("sigmoid", _sigmoid, _d_sigmoid, "y", "1 / (1 + e^-x)."),
    Row("softsign", _softsign, _d_softsign, "x", "x / (1 + |x|)."),
    Row("tanh", np.tanh, _d_tanh, "y", "Hyperbolic tangent."),
    Row("sin", np.sin, _d_sin, "x", "Sine (radians)."),
    Row("cos", np.cos, _d_cos, "x", "Cosine (radians)."),
    Row("tan", np.tan, _d_tan, "y", "Tangent (radians)."),
    Row("arcsin", np.arcsin, _d_arcsin, "x", "Inverse sine."),
    Row("arccos", np.arccos, _d_arccos, "x", "Inverse cosine."),
    Row("arctan", np.arctan, _d_arctan, "x", "Inverse tangent."),
    Row("sinh", np.sinh, _d_sinh, "x", "Hyperbolic sine."),
    Row("cosh", np.cosh, _d_cosh, "x", "Hyperbolic cosine."),
    Row("arcsinh", np.arcsinh, _d_arcsinh, "x", "Inverse hyperbolic sine."),
    Row("arccosh", np.arccosh, _d_arccosh, "x", "Inverse hyperbolic cosine."),
    Row("arctanh", np.arctanh, _d_arctanh, "x", "Inverse hyperbolic tangent."),
    Row("degrees", _scaled(np.degrees), _d_const(180.0 / math.pi), "",
        "Radians to degrees."),
    Row("radians", _scaled(np.radians), _d_const(math.pi / 180.0), "",
        "Degrees to radians."),
    Row("erf", _erf, _d_erf, "x", "Gauss error function."),
]


def _unary_op(row: Row) -> OpDef:
    fwd_fn, deriv = row.forward, row.deriv

    if isinstance(fwd_fn, np.ufunc):
        def forward(p: Params, ins: list, outs: list, aux: list, is_train: bool) -> None:
            fwd_fn(ins[0], out=outs[0], casting="unsafe")
    else:
        def forward(p: Params, ins: list, outs: list, aux: list, is_train: bool) -> None:
            fwd_fn(ins[0], outs[0])

    def backward(p: Params, out_grads: list, ins: list, outs: list, in_grads: list,
                 aux: list) -> None:
        dx = in_grads[0]
        if dx is None:
            return
        if deriv is None:
            dx.fill(0)
            return
        deriv(ins[0], outs[0], dx)
        dx *= out_grads[0]

    return OpDef(name=row.name, doc=row.doc, inputs=["data"], infer_shape=same_shape,
                 kernels={"numpy": Kernel(forward, backward)},
                 inplace=[] if row.name in NOT_IN_PLACE else [(0, 0)],
                 grad_uses=_USES[row.reads])


# -- clip -----------------------------------------------------------------------------------
def _clip_forward(p: Params, ins: list, outs: list, aux: list, is_train: bool) -> None:
    """``a_max`` where x > a_max, else ``a_min`` where x < a_min, else x (MXNet's order, which
    matters only when a_min > a_max)."""
    x, y = ins[0], outs[0]
    if p.a_min <= p.a_max:
        np.clip(x, p.a_min, p.a_max, out=y, casting="unsafe")
        return
    np.copyto(y, x, casting="unsafe")
    y[x < p.a_min] = p.a_min
    y[x > p.a_max] = p.a_max


def _clip_backward(p: Params, out_grads: list, ins: list, outs: list, in_grads: list,
                   aux: list) -> None:
    """The gradient passes where ``a_min <= x <= a_max`` (bounds included, as MXNet)."""
    dx = in_grads[0]
    if dx is None:
        return
    x = ins[0]
    np.greater_equal(x, p.a_min, out=dx, casting="unsafe")
    dx *= x <= p.a_max
    dx *= out_grads[0]


CLIP = OpDef(
    name="clip",
    doc="Clip values into [a_min, a_max]; the gradient is passed where a_min <= x <= a_max.",
    params=[Param("a_min", "float", doc="Minimum value."),
            Param("a_max", "float", doc="Maximum value.")],
    inputs=["data"],
    infer_shape=same_shape,
    kernels={"numpy": Kernel(_clip_forward, _clip_backward)},
    grad_uses=("inputs",),
)

OPS = [_unary_op(row) for row in UNARY] + [CLIP]

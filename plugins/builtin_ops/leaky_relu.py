"""LeakyReLU and its family: leaky, prelu, elu, selu, gelu and rrelu.

Every variant is ``x`` for ``x > 0`` and some function of ``x`` otherwise (gelu excepted), so
the kernels copy the data and rewrite the non-positive elements with ``where=``.
``prelu`` learns the slope ``gamma`` per channel (axis 1), or one slope for shape (1,).
``rrelu`` draws a random slope in [lower_bound, upper_bound] per element in training and
keeps it in the hidden output ``mask``; at inference it uses their mean.
"""

from __future__ import annotations

import math
import string

import numpy as np
from mxlite import random as mx_random
from mxlite.inference import ShapeError
from mxlite.registry import Kernel, OpDef, Param, Params

from ._rules import unify

ACT_TYPES = ("elu", "gelu", "leaky", "prelu", "rrelu", "selu")
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_LAMBDA = 1.0507009873554804934193349852946
_SQRT_HALF = math.sqrt(0.5)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)

# W. J. Cody's rational Chebyshev approximations of erf / erfc (Math. Comp. 23, 1969): about
# 1e-16 absolute error in float64, with no scipy. A and B: erf on |x| <= 0.46875; C and D:
# erfc * exp(x^2) on (0.46875, 4]; P and Q: the asymptotic erfc * exp(x^2) * x beyond 4.
_ERF_A = (3.16112374387056560e0, 1.13864154151050156e2, 3.77485237685302021e2,
          3.20937758913846947e3, 1.85777706184603153e-1)
_ERF_B = (2.36012909523441209e1, 2.44024637934444173e2, 1.28261652607737228e3,
          2.84423683343917062e3)
_ERF_C = (5.64188496988670089e-1, 8.88314979438837594e0, 6.61191906371416295e1,
          2.98635138197400131e2, 8.81952221241769090e2, 1.71204761263407058e3,
          2.05107837782607147e3, 1.23033935479799725e3, 2.15311535474403846e-8)
_ERF_D = (1.57449261107098347e1, 1.17693950891312499e2, 5.37181101862009858e2,
          1.62138957456669019e3, 3.29079923573345963e3, 4.36261909014324716e3,
          3.43936767414372164e3, 1.23033935480374942e3)
_ERF_P = (3.05326634961232344e-1, 3.60344899949804439e-1, 1.25781726111229246e-1,
          1.60837851487422766e-2, 6.58749161529837803e-4, 1.63153871373020978e-2)
_ERF_Q = (2.56852019228982242e0, 1.87295284992346047e0, 5.27905102951428412e-1,
          6.05183413124413191e-2, 2.33520497626869185e-3)
_INV_SQRT_PI = 1.0 / math.sqrt(math.pi)


def _rational(t: np.ndarray, num: tuple, den: tuple, lead: float) -> np.ndarray:
    """Cody's nested form ``((lead t + num0) t + ... + num_k) / ((t + den0) t + ... + den_k)``."""
    n, d = lead * t, t.copy()
    for a, b in zip(num[:-1], den[:-1]):
        n += a
        n *= t
        d += b
        d *= t
    n += num[-1]
    d += den[-1]
    n /= d
    return n


def _erf(x: np.ndarray, out: np.ndarray) -> None:
    """The Gauss error function of ``x`` into ``out`` (computed in float64)."""
    y = np.abs(x, dtype=np.float64)
    res = np.empty_like(y)
    small = y <= 0.46875
    z = y[small]
    res[small] = z * _rational(z * z, _ERF_A[:4], _ERF_B, _ERF_A[4])
    mid = ~small & (y <= 4.0)
    z = y[mid]
    res[mid] = 1.0 - np.exp(-z * z) * _rational(z, _ERF_C[:8], _ERF_D, _ERF_C[8])
    big = y > 4.0
    z = y[big]
    inv = 1.0 / (z * z)
    tail = inv * _rational(inv, _ERF_P[:5], _ERF_Q, _ERF_P[5])
    res[big] = 1.0 - np.exp(-z * z) * (_INV_SQRT_PI - tail) / z
    np.copysign(res, x, out=res)
    np.copyto(out, res, casting="unsafe")


# -- names and shapes ------------------------------------------------------------------------
def _inputs(p: Params) -> list[str]:
    return ["data", "gamma"] if p.act_type == "prelu" else ["data"]


def _outputs(p: Params) -> list[str]:
    return ["output", "mask"] if p.act_type == "rrelu" else ["output"]


def _prelu_gamma(data: "tuple | None", gamma: "tuple | None") -> "tuple | None":
    if data is None:
        return gamma
    if len(data) < 2:
        raise ShapeError(f"prelu learns one slope per channel (axis 1): data needs at least 2 "
                         f"dimensions, got {tuple(data)}")
    if gamma is None:
        return (data[1],)
    if len(gamma) != 1 or (gamma[0] not in (0, 1, data[1]) and data[1]):
        raise ShapeError(f"gamma must have shape ({data[1]},) (one slope per channel of data "
                         f"{tuple(data)}) or (1,), got {tuple(gamma)}")
    return gamma


def _leaky_shape(p: Params, ins: list, outs: list, aux: list):
    data = unify([ins[0], *outs], ["data", *_outputs(p)])
    new_ins = [data]
    if p.act_type == "prelu":
        new_ins.append(_prelu_gamma(data, ins[1]))
    return new_ins, [data] * len(outs), aux


def _gamma_view(gamma: np.ndarray, ndim: int) -> np.ndarray:
    """prelu's slopes shaped to broadcast along axis 1 (or as one slope)."""
    if gamma.size == 1:
        return gamma.reshape(())
    return gamma.reshape([-1 if i == 1 else 1 for i in range(ndim)])


# -- forward ---------------------------------------------------------------------------------
def _leaky_forward(p: Params, ins: list, outs: list, aux: list, is_train: bool) -> None:
    x, y = ins[0], outs[0]
    kind = p.act_type
    if kind == "gelu":  # 0.5 * x * (1 + erf(x / sqrt(2)))
        np.multiply(x, _SQRT_HALF, out=y)
        _erf(y, y)
        y += 1
        y *= x
        y *= 0.5
        return
    neg = x <= 0
    if y is not x:
        np.copyto(y, x)
    if kind == "leaky":
        np.multiply(y, p.slope, out=y, where=neg)
    elif kind == "prelu":
        np.multiply(y, _gamma_view(ins[1], x.ndim), out=y, where=neg)
    elif kind == "rrelu":
        _rrelu_slopes(p, outs[1], is_train)
        np.multiply(y, outs[1], out=y, where=neg)
    else:  # elu, selu: scale * (exp(x) - 1) below zero
        np.expm1(y, out=y, where=neg)
        np.multiply(y, p.slope if kind == "elu" else SELU_ALPHA, out=y, where=neg)
        if kind == "selu":
            y *= SELU_LAMBDA


def _rrelu_slopes(p: Params, mask: np.ndarray, is_train: bool) -> None:
    if not is_train:
        mask.fill((p.lower_bound + p.upper_bound) / 2.0)
        return
    rng = mx_random.generator()
    if mask.dtype in (np.float32, np.float64):
        rng.random(out=mask, dtype=mask.dtype)
    else:
        np.copyto(mask, rng.random(mask.shape), casting="unsafe")
    mask *= p.upper_bound - p.lower_bound
    mask += p.lower_bound


# -- backward --------------------------------------------------------------------------------
def _leaky_backward(p: Params, out_grads: list, ins: list, outs: list, in_grads: list,
                    aux: list) -> None:
    x, og, dx = ins[0], out_grads[0], in_grads[0]
    kind = p.act_type
    if kind == "prelu" and in_grads[1] is not None:
        _prelu_gamma_grad(x, og, in_grads[1])
    if dx is None:
        return
    if kind == "gelu":
        _gelu_grad(x, og, dx)
        return
    neg = x <= 0
    if kind in ("elu", "selu"):  # scale * exp(x) below zero
        dx.fill(1)
        np.exp(x, out=dx, where=neg)
        np.multiply(dx, p.slope if kind == "elu" else SELU_ALPHA, out=dx, where=neg)
        if kind == "selu":
            dx *= SELU_LAMBDA
        dx *= og
        return
    np.copyto(dx, og)
    slope = {"leaky": p.slope, "rrelu": outs[-1]}.get(kind)
    if kind == "prelu":
        slope = _gamma_view(ins[1], x.ndim)
    np.multiply(dx, slope, out=dx, where=neg)


def _prelu_gamma_grad(x: np.ndarray, og: np.ndarray, dgamma: np.ndarray) -> None:
    """``sum(og * min(x, 0))`` per channel (axis 1), or in total for one slope."""
    below = np.minimum(x, 0)
    if dgamma.size == 1:
        dgamma[...] = np.vdot(og, below)
        return
    letters = string.ascii_letters[:x.ndim]
    np.einsum(f"{letters},{letters}->b", og, below, out=dgamma)


def _gelu_grad(x: np.ndarray, og: np.ndarray, dx: np.ndarray) -> None:
    """d gelu / dx = 0.5 * (1 + erf(x / sqrt(2))) + x * exp(-x^2 / 2) / sqrt(2 pi)."""
    np.multiply(x, _SQRT_HALF, out=dx)
    _erf(dx, dx)
    dx += 1
    dx *= 0.5
    density = np.square(x)
    density *= -0.5
    np.exp(density, out=density)
    density *= x
    density *= _INV_SQRT_2PI
    dx += density
    dx *= og


LEAKY_RELU = OpDef(
    name="LeakyReLU",
    doc="Leaky rectifiers: ``leaky`` (x > 0 ? x : slope * x), ``prelu`` (learned slope "
        "``gamma`` per channel), ``elu`` (slope * (exp(x) - 1) below 0), ``selu`` (scaled elu "
        "with fixed constants), ``gelu`` (x * Phi(x), the erf form) and ``rrelu`` (random slope "
        "in [lower_bound, upper_bound] in training, their mean at inference; the drawn slopes "
        "are the hidden output ``mask``). MXNet 1.9.1 computes selu's gradient below zero as "
        "``lambda * (y + alpha)``, which is not the derivative; this is ``lambda * alpha * "
        "exp(x)``.",
    params=[
        Param("act_type", "str", "leaky", choices=ACT_TYPES, doc="Activation function."),
        Param("slope", "float", 0.25, doc="Slope of leaky, and the scale of elu."),
        Param("lower_bound", "float", 0.125, doc="Lower bound of rrelu's random slope."),
        Param("upper_bound", "float", 0.334, doc="Upper bound of rrelu's random slope."),
    ],
    inputs=_inputs,
    input_attrs={"gamma": {"__init__": '["Constant", {"value": 0.25}]'}},
    outputs=_outputs,
    visible_outputs=1,
    infer_shape=_leaky_shape,
    kernels={"numpy": Kernel(_leaky_forward, _leaky_backward)},
    # gelu's forward reads the input after writing the output
    inplace=lambda p: [] if p.act_type == "gelu" else [(0, 0)],
    grad_uses=("inputs",),
)

OPS = [LEAKY_RELU]

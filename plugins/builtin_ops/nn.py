"""Layers: FullyConnected, Activation."""

from __future__ import annotations

from math import prod

import numpy as np
from mxlite.inference import ShapeError
from mxlite.registry import Kernel, OpDef, Param, Params

from ._rules import same_shape


def _positive(value: int) -> str | None:
    return None if value > 0 else "must be positive"


# -- FullyConnected --------------------------------------------------------------------------
def _fc_inputs(p: Params) -> list[str]:
    return ["data", "weight"] if p.no_bias else ["data", "weight", "bias"]


def _fc_shape(p: Params, ins: list, outs: list, aux: list):
    data, weight = ins[0], ins[1]
    out = outs[0]
    nh = p.num_hidden
    in_dim = 0
    if data is not None:
        if len(data) < (2 if p.flatten else 1):
            raise ShapeError(f"data must have at least {2 if p.flatten else 1} dimensions, got "
                             f"{tuple(data)}")
        rest = data[1:] if p.flatten else data[-1:]
        in_dim = prod(rest) if all(rest) else 0
        out = (data[0], nh) if p.flatten else (*data[:-1], nh)
    elif weight is not None and out is not None and p.flatten:
        data = (out[0], weight[1])
    new_ins = [data, (nh, in_dim or (weight[1] if weight else 0))]
    if not p.no_bias:
        new_ins.append((nh,))
    return new_ins, [out], aux


def _flat(x: np.ndarray, p: Params) -> np.ndarray:
    return x.reshape(x.shape[0], -1) if p.flatten else x.reshape(-1, x.shape[-1])


def _fc_forward(p: Params, ins: list, outs: list, aux: list, is_train: bool) -> None:
    x = _flat(ins[0], p)
    out = outs[0].reshape(x.shape[0], p.num_hidden)
    np.matmul(x, ins[1].T, out=out)
    if not p.no_bias:
        out += ins[2]


def _fc_backward(p: Params, out_grads: list, ins: list, outs: list, in_grads: list,
                 aux: list) -> None:
    x = _flat(ins[0], p)
    og = out_grads[0].reshape(x.shape[0], p.num_hidden)
    if in_grads[0] is not None:
        np.matmul(og, ins[1], out=in_grads[0].reshape(x.shape))
    if in_grads[1] is not None:
        np.matmul(og.T, x, out=in_grads[1])
    if not p.no_bias and in_grads[2] is not None:
        np.sum(og, axis=0, out=in_grads[2])


FULLY_CONNECTED = OpDef(
    name="FullyConnected",
    doc="Fully connected layer: ``out = dot(data, weight.T) + bias``. With ``flatten`` the "
        "data is seen as (batch, -1); without, the last axis is transformed.",
    params=[
        Param("num_hidden", "int", doc="Number of hidden units (output size).", check=_positive),
        Param("no_bias", "bool", False, doc="Whether to disable the bias."),
        Param("flatten", "bool", True, doc="Collapse all but the first axis of the input."),
    ],
    inputs=_fc_inputs,
    infer_shape=_fc_shape,
    kernels={"numpy": Kernel(_fc_forward, _fc_backward)},
    grad_uses=("inputs",),
)


# -- Activation ------------------------------------------------------------------------------
ACT_TYPES = ("relu", "sigmoid", "softrelu", "softsign", "tanh")


def _act_forward(p: Params, ins: list, outs: list, aux: list, is_train: bool) -> None:
    x, y = ins[0], outs[0]
    kind = p.act_type
    if kind == "relu":
        np.maximum(x, 0, out=y)
    elif kind == "sigmoid":
        np.negative(x, out=y)
        np.exp(y, out=y)
        y += 1
        np.reciprocal(y, out=y)
    elif kind == "tanh":
        np.tanh(x, out=y)
    elif kind == "softrelu":
        np.logaddexp(x, 0, out=y)
    else:  # softsign
        np.abs(x, out=y)
        y += 1
        np.divide(x, y, out=y)


def _act_derivative(kind: str, y: np.ndarray, x: np.ndarray, out: np.ndarray) -> None:
    """d activation / dx, from the output (or, for softsign, the input), into ``out``."""
    if kind == "relu":
        np.greater(y, 0, out=out)
    elif kind == "sigmoid":
        np.subtract(1, y, out=out)
        out *= y
    elif kind == "tanh":
        np.square(y, out=out)
        np.subtract(1, out, out=out)
    elif kind == "softrelu":  # d/dx log(1+e^x) = 1 - e^-y
        np.negative(y, out=out)
        np.expm1(out, out=out)
        np.negative(out, out=out)
    else:  # softsign: 1 / (1 + |x|)^2
        np.abs(x, out=out)
        out += 1
        np.square(out, out=out)
        np.reciprocal(out, out=out)


def _act_backward(p: Params, out_grads: list, ins: list, outs: list, in_grads: list,
                  aux: list) -> None:
    dx, og = in_grads[0], out_grads[0]
    if dx is None:
        return
    if dx.ctypes.data == og.ctypes.data:  # the planner gave dx the head gradient's storage
        if p.act_type == "relu":
            np.multiply(og, outs[0] > 0, out=dx)
            return
        derivative = np.empty_like(dx)
        _act_derivative(p.act_type, outs[0], ins[0], derivative)
        dx *= derivative
        return
    _act_derivative(p.act_type, outs[0], ins[0], dx)
    dx *= og


ACTIVATION = OpDef(
    name="Activation",
    doc="Element-wise activation: relu, sigmoid, tanh, softrelu (log(1+exp(x))) or softsign "
        "(x/(1+|x|)).",
    params=[Param("act_type", "str", choices=ACT_TYPES, doc="Activation function.")],
    infer_shape=same_shape,
    kernels={"numpy": Kernel(_act_forward, _act_backward)},
    # softsign's forward and gradient need the input; the others work from the output
    inplace=lambda p: [] if p.act_type == "softsign" else [(0, 0)],
    grad_uses=lambda p: ("inputs",) if p.act_type == "softsign" else ("outputs",),
    grad_inplace=[(0, 0)],
)

OPS = [FULLY_CONNECTED, ACTIVATION]

"""``squareplus`` (a smooth ReLU), and the fused ``FullyConnected`` + ReLU used by the pass."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from mxlite.inference import ShapeError
from mxlite.registry import Kernel, OpDef, Param


def _squareplus_shape(p, ins, outs, aux):  # type: ignore[no-untyped-def]
    shape = ins[0] if ins[0] is not None else outs[0]
    if shape is not None and len(shape) == 0:
        raise ShapeError("squareplus needs an array with at least one axis")
    return [shape], [shape], aux


def _squareplus_forward(p, ins, outs, aux, is_train):  # type: ignore[no-untyped-def]
    x, y = ins[0], outs[0]
    np.multiply(x, x, out=y)
    y += p.b
    np.sqrt(y, out=y)
    y += x
    y *= 0.5


def _squareplus_backward(p, out_grads, ins, outs, in_grads, aux):  # type: ignore[no-untyped-def]
    dx, x = in_grads[0], ins[0]
    if dx is None:
        return
    np.multiply(x, x, out=dx)  # d/dx = (1 + x / sqrt(x^2 + b)) / 2
    dx += p.b
    np.sqrt(dx, out=dx)
    np.divide(x, dx, out=dx)
    dx += 1
    dx *= 0.5
    dx *= out_grads[0]


SQUAREPLUS = OpDef(
    name="squareplus",
    doc="Squareplus, a smooth ReLU: (x + sqrt(x * x + b)) / 2.",
    params=[Param("b", "float", 4.0, doc="Curvature at 0; 0 gives ReLU.",
                  check=lambda b: None if b >= 0 else "must be non-negative")],
    infer_shape=_squareplus_shape,
    kernels={"numpy": Kernel(_squareplus_forward, _squareplus_backward)},
    grad_uses=("inputs",),
)


def fused_fc_relu(fc: OpDef) -> OpDef:
    """``relu(FullyConnected(...))`` as one operator: same parameters, inputs and shape
    rule as ``fc``, whose numpy kernels it wraps."""
    kernel = fc.kernels["numpy"]

    def forward(p, ins, outs, aux, is_train):  # type: ignore[no-untyped-def]
        kernel.forward(p, ins, outs, aux, is_train)
        np.maximum(outs[0], 0, out=outs[0])

    def backward(p, out_grads, ins, outs, in_grads, aux):  # type: ignore[no-untyped-def]
        masked = out_grads[0] * (outs[0] > 0)
        kernel.backward(p, [masked], ins, outs, in_grads, aux)

    return replace(fc, name="_example_fc_relu", aliases=(),
                   doc="FullyConnected followed by relu (made by the example.fuse_fc_relu pass).",
                   kernels={"numpy": Kernel(forward, backward)},
                   grad_uses=("inputs", "outputs"))

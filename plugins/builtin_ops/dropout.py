"""Dropout: zero a random fraction ``p`` of the data in training, scaling the rest by 1/(1-p).

The mask (0 or ``1/(1-p)`` per element) is a hidden output that backward multiplies the head
gradient by. Random numbers come from ``mxlite.random.generator()``, so ``mx.random.seed``
makes masks reproducible.
"""

from __future__ import annotations

import numpy as np
from mxlite import random as mx_random
from mxlite.inference import ShapeError
from mxlite.registry import Kernel, OpDef, Param, Params

from ._rules import unify


def _probability(p: float) -> str | None:
    return None if 0.0 <= p <= 1.0 else "must be in [0, 1]"


def _dropout_shape(p: Params, ins: list, outs: list, aux: list):
    data = unify([ins[0], outs[0], outs[1]], ["data", "output", "mask"])
    if data is not None:
        bad = [a for a in p.axes if not -len(data) <= a < len(data)]
        if bad:
            raise ShapeError(f"axes {p.axes} are out of range for data {tuple(data)}")
    return [data], [data, data], aux


def _uniform_into(out: np.ndarray) -> None:
    """Fill ``out`` with uniform [0, 1) draws, with no extra buffer when numpy allows."""
    rng = mx_random.generator()
    if out.dtype in (np.float32, np.float64) and out.flags.c_contiguous:
        rng.random(out=out, dtype=out.dtype)
    else:
        np.copyto(out, rng.random(out.shape), casting="unsafe")


def _make_mask(p: Params, mask: np.ndarray) -> None:
    """``mask = (u >= p) / (1 - p)``, one draw per element (or per slice along ``axes``)."""
    if p.p >= 1.0:
        mask.fill(0)  # MXNet 1.9.1 computes 0 * inf = NaN here; every element is dropped
        return
    axes = {a % mask.ndim for a in p.axes}
    draw = mask
    if axes:  # one draw shared along the given axes, then broadcast
        draw = np.empty([1 if i in axes else d for i, d in enumerate(mask.shape)], mask.dtype)
    _uniform_into(draw)
    draw += 1.0 - p.p  # floor(u + 1 - p) is 1 exactly when u >= p
    np.floor(draw, out=draw)
    draw *= 1.0 / (1.0 - p.p)
    if axes:
        np.copyto(mask, draw)


def _dropout_forward(p: Params, ins: list, outs: list, aux: list, is_train: bool) -> None:
    x, (y, mask) = ins[0], outs
    if (is_train or p.mode == "always") and p.p > 0:
        _make_mask(p, mask)
        np.multiply(x, mask, out=y)
    else:  # identity; a mask of ones keeps backward right
        mask.fill(1)
        if y is not x:
            np.copyto(y, x)


def _dropout_backward(p: Params, out_grads: list, ins: list, outs: list, in_grads: list,
                      aux: list) -> None:
    if in_grads[0] is not None:
        np.multiply(out_grads[0], outs[1], out=in_grads[0])


DROPOUT = OpDef(
    name="Dropout",
    doc="In training (or always with ``mode='always'``) zero each element with probability "
        "``p`` and scale the kept ones by ``1/(1-p)``; identity otherwise. ``axes`` shares one "
        "draw along the given axes (variational dropout).",
    params=[
        Param("p", "float", 0.5, doc="Fraction of the input dropped.", check=_probability),
        Param("mode", "str", "training", choices=("always", "training"),
              doc="Drop only in training, or always."),
        Param("axes", "shape", (), doc="Axes along which one draw is shared."),
        Param("cudnn_off", "bool", False, optional=True, doc="Unused (MXNet's cuDNN switch)."),
    ],
    outputs=["output", "mask"],
    visible_outputs=1,
    infer_shape=_dropout_shape,
    kernels={"numpy": Kernel(_dropout_forward, _dropout_backward)},
    inplace=[(0, 0)],
    grad_uses=(),
)

OPS = [DROPOUT]

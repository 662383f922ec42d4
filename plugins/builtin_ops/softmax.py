"""Softmax family: ``softmax``, ``log_softmax``, ``softmin``, ``SoftmaxActivation`` and
``softmax_cross_entropy``.

``softmax``/``log_softmax``/``softmin`` are ordinary differentiable operators over ``axis``
(last by default), of ``x / temperature``; ``dtype`` chooses the output dtype. ``softmax`` with
``use_length=True`` takes a second input ``length`` (the data's shape without ``axis``) and only
uses the first ``length`` entries along ``axis``, the rest of the output being 0.
"""

from __future__ import annotations

import numpy as np
from mxlite.inference import ShapeError
from mxlite.registry import Kernel, OpDef, Param, Params

_DTYPES = ("float16", "float32", "float64")


# -- numerics -------------------------------------------------------------------------------
def softmax_into(x: np.ndarray, axis: int, out: np.ndarray, scale: float = 1.0) -> None:
    """Stable softmax of ``x * scale`` along ``axis``, written into ``out``."""
    if scale == 1.0 and x.dtype == out.dtype:  # x * 1 is x: one pass fewer
        np.subtract(x, x.max(axis=axis, keepdims=True), out=out)
    else:
        np.multiply(x, scale, out=out, casting="unsafe")
        out -= out.max(axis=axis, keepdims=True)
    np.exp(out, out=out)
    out /= out.sum(axis=axis, keepdims=True)


def log_softmax_into(x: np.ndarray, axis: int, out: np.ndarray, scale: float = 1.0) -> None:
    """Stable log-softmax of ``x * scale`` along ``axis``, written into ``out``."""
    np.multiply(x, scale, out=out, casting="unsafe")
    out -= out.max(axis=axis, keepdims=True)
    out -= np.log(np.exp(out).sum(axis=axis, keepdims=True))


def softmax_grad_into(y: np.ndarray, og: np.ndarray, axis: int, dx: np.ndarray,
                      scale: float = 1.0) -> None:
    """Gradient through ``y = softmax(x * scale)``: ``scale * y * (og - sum(og * y))``."""
    dot = np.sum(og * y, axis=axis, keepdims=True)
    np.subtract(og, dot, out=dx, casting="unsafe")
    dx *= y
    dx *= scale


# -- softmax / log_softmax / softmin ----------------------------------------------------------
def _scale(p: Params, sign: float) -> float:
    return sign / (p.temperature if p.temperature is not None else 1.0)


def _check_axis(p: Params, shape: tuple) -> int:
    if not -len(shape) <= p.axis < len(shape):
        raise ShapeError(f"axis {p.axis} is out of range for data {tuple(shape)}")
    return p.axis % len(shape)


def _softmax_inputs(p: Params) -> list[str]:
    return ["data", "length"] if p.use_length else ["data"]


def _softmax_shape(p: Params, ins: list, outs: list, aux: list):
    data = ins[0] if ins[0] is not None else outs[0]
    if data is None:
        return ins, outs, aux
    axis = _check_axis(p, data)
    new_ins = [data]
    if len(ins) > 1:
        expected = tuple(d for i, d in enumerate(data) if i != axis)
        if ins[1] is not None and len(ins[1]) != len(expected):
            raise ShapeError(f"length must have the data's shape {tuple(data)} without axis "
                             f"{p.axis}, i.e. {expected}; got {tuple(ins[1])}")
        new_ins.append(expected)
    return new_ins, [data], aux


def _no_length_shape(p: Params, ins: list, outs: list, aux: list):
    if p.use_length:
        raise ShapeError("use_length=True needs a length input, which only softmax takes")
    return _softmax_shape(p, ins, outs, aux)


def _softmax_type(p: Params, in_types: list, out_types: list, aux_types: list):
    """Output dtype from the ``dtype`` parameter or the data; ``length`` may be integer."""
    data = in_types[0]
    if data is None and p.dtype is None:
        data = out_types[0]
    out = np.dtype(p.dtype) if p.dtype is not None else data
    new_ins = [data]
    if len(in_types) > 1:
        new_ins.append(in_types[1] if in_types[1] is not None else data)
    return new_ins, [out], aux_types


def _length_mask(p: Params, x: np.ndarray, length: np.ndarray) -> np.ndarray:
    """Boolean mask, True at positions before each row's length along the axis."""
    axis = p.axis % x.ndim
    position = np.arange(x.shape[axis]).reshape([-1 if i == axis else 1 for i in range(x.ndim)])
    return position < np.expand_dims(length.astype(np.int64), axis)


def _softmax_forward(p: Params, ins: list, outs: list, aux: list, is_train: bool) -> None:
    x, y = ins[0], outs[0]
    if not p.use_length:
        softmax_into(x, p.axis, y, _scale(p, 1.0))
        return
    mask = _length_mask(p, x, ins[1])
    np.multiply(x, _scale(p, 1.0), out=y, casting="unsafe")
    np.copyto(y, -np.inf, where=~mask)
    y -= np.max(y, axis=p.axis, keepdims=True, initial=-np.finfo(y.dtype).max)
    np.exp(y, out=y)
    y /= np.maximum(y.sum(axis=p.axis, keepdims=True), np.finfo(y.dtype).tiny)


def _softmax_backward(p: Params, out_grads: list, ins: list, outs: list, in_grads: list,
                      aux: list) -> None:
    if len(in_grads) > 1 and in_grads[1] is not None:
        in_grads[1].fill(0)
    if in_grads[0] is not None:  # masked positions have y = 0, hence gradient 0
        softmax_grad_into(outs[0], out_grads[0], p.axis, in_grads[0], _scale(p, 1.0))


def _softmin_forward(p: Params, ins: list, outs: list, aux: list, is_train: bool) -> None:
    softmax_into(ins[0], p.axis, outs[0], _scale(p, -1.0))


def _softmin_backward(p: Params, out_grads: list, ins: list, outs: list, in_grads: list,
                      aux: list) -> None:
    if in_grads[0] is not None:
        softmax_grad_into(outs[0], out_grads[0], p.axis, in_grads[0], _scale(p, -1.0))


def _log_softmax_forward(p: Params, ins: list, outs: list, aux: list, is_train: bool) -> None:
    log_softmax_into(ins[0], p.axis, outs[0], _scale(p, 1.0))


def _log_softmax_backward(p: Params, out_grads: list, ins: list, outs: list, in_grads: list,
                          aux: list) -> None:
    """``dx = scale * (og - exp(y) * sum(og))``."""
    dx = in_grads[0]
    if dx is None:
        return
    og = out_grads[0]
    np.exp(outs[0], out=dx, casting="unsafe")
    dx *= og.sum(axis=p.axis, keepdims=True)
    np.subtract(og, dx, out=dx, casting="unsafe")
    dx *= _scale(p, 1.0)


def _softmax_params() -> list[Param]:
    return [
        Param("axis", "int", -1, doc="The axis along which to compute."),
        Param("temperature", "float", None, optional=True,
              doc="Divide the data by this before the softmax (1 when None)."),
        Param("dtype", "str", None, optional=True, choices=_DTYPES,
              doc="Output dtype; the data's when None."),
        Param("use_length", "bool", False, optional=True,
              doc="Use only the first `length` entries along the axis (softmax only)."),
    ]


SOFTMAX = OpDef(
    name="softmax",
    doc="Softmax along `axis`: exp(x/t) / sum(exp(x/t)).",
    params=_softmax_params(),
    inputs=_softmax_inputs,
    infer_shape=_softmax_shape,
    infer_type=_softmax_type,
    kernels={"numpy": Kernel(_softmax_forward, _softmax_backward)},
    inplace=[(0, 0)],
    grad_uses=("outputs",),
)

LOG_SOFTMAX = OpDef(
    name="log_softmax",
    doc="Log of the softmax along `axis`, computed stably.",
    params=_softmax_params(),
    infer_shape=_no_length_shape,
    infer_type=_softmax_type,
    kernels={"numpy": Kernel(_log_softmax_forward, _log_softmax_backward)},
    inplace=[(0, 0)],
    grad_uses=("outputs",),
)

SOFTMIN = OpDef(
    name="softmin",
    doc="Softmax of -x along `axis`.",
    params=_softmax_params(),
    infer_shape=_no_length_shape,
    infer_type=_softmax_type,
    kernels={"numpy": Kernel(_softmin_forward, _softmin_backward)},
    inplace=[(0, 0)],
    grad_uses=("outputs",),
)


# -- SoftmaxActivation ----------------------------------------------------------------------
def _activation_axis(p: Params, ndim: int) -> int:
    return 1 if p.mode == "channel" else ndim - 1


def _activation_shape(p: Params, ins: list, outs: list, aux: list):
    data = ins[0] if ins[0] is not None else outs[0]
    if data is not None and p.mode == "channel" and len(data) < 3:
        raise ShapeError(f"SoftmaxActivation with mode='channel' needs data with at least 3 "
                         f"dimensions (batch, channel, ...), got {tuple(data)}")
    return [data], [data], aux


def _activation_forward(p: Params, ins: list, outs: list, aux: list, is_train: bool) -> None:
    softmax_into(ins[0], _activation_axis(p, ins[0].ndim), outs[0])


def _activation_backward(p: Params, out_grads: list, ins: list, outs: list, in_grads: list,
                         aux: list) -> None:
    if in_grads[0] is not None:
        softmax_grad_into(outs[0], out_grads[0], _activation_axis(p, outs[0].ndim), in_grads[0])


SOFTMAX_ACTIVATION = OpDef(
    name="SoftmaxActivation",
    doc="Softmax activation. mode='instance' (default): over the last axis (MXNet flattens the "
        "leading axes); mode='channel': over axis 1 of (batch, channel, ...) data.",
    params=[Param("mode", "str", "instance", choices=("channel", "instance"),
                  doc="Which axis the softmax runs over.")],
    infer_shape=_activation_shape,
    kernels={"numpy": Kernel(_activation_forward, _activation_backward)},
    inplace=[(0, 0)],
    grad_uses=("outputs",),
)


# -- softmax_cross_entropy ------------------------------------------------------------------
def _sce_shape(p: Params, ins: list, outs: list, aux: list):
    data, label = ins
    if data is not None and len(data) != 2:
        raise ShapeError(f"softmax_cross_entropy needs 2-D data (batch, classes), got "
                         f"{tuple(data)}")
    if label is not None and len(label) != 1:
        raise ShapeError(f"softmax_cross_entropy needs a 1-D label (batch,), got {tuple(label)}")
    if data is not None and label is not None and data[0] and label[0] and data[0] != label[0]:
        raise ShapeError(f"softmax_cross_entropy: data {tuple(data)} and label {tuple(label)} "
                         "have different batch sizes")
    if data is not None:
        label = (data[0] or (label[0] if label is not None else 0),)
        data = (label[0], data[1])
    return [data, label], [(1,)], aux


def _label_free_type(p: Params, in_types: list, out_types: list, aux_types: list):
    """data and output share a dtype; the label may be any (integer class indices)."""
    data = next((t for t in (in_types[0], out_types[0]) if t is not None), None)
    label = in_types[1] if in_types[1] is not None else data
    return [data, label], [data], aux_types


def _picked(label: np.ndarray, classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Row indices and class indices of valid labels (out-of-range labels are skipped)."""
    index = label.astype(np.int64).reshape(-1)
    rows = np.flatnonzero((index >= 0) & (index < classes))
    return rows, index[rows]


def _sce_forward(p: Params, ins: list, outs: list, aux: list, is_train: bool) -> None:
    """Sum over the batch of ``logsumexp(x_i) - x_i[label_i]``."""
    x = ins[0].astype(np.float64)
    top = x.max(axis=1, keepdims=True)
    lse = np.log(np.exp(x - top).sum(axis=1)) + top[:, 0]
    rows, cols = _picked(ins[1], x.shape[1])
    outs[0][0] = np.sum(lse[rows] - x[rows, cols])


def _sce_backward(p: Params, out_grads: list, ins: list, outs: list, in_grads: list,
                  aux: list) -> None:
    """``(softmax(x) - onehot(label)) * og``, not divided by the batch size (as MXNet)."""
    if in_grads[1] is not None:
        in_grads[1].fill(0)
    dx = in_grads[0]
    if dx is None:
        return
    softmax_into(ins[0], 1, dx)
    rows, cols = _picked(ins[1], dx.shape[1])
    dx[rows, cols] -= 1
    dx *= out_grads[0][0]


SOFTMAX_CROSS_ENTROPY = OpDef(
    name="softmax_cross_entropy",
    doc="Cross entropy of softmax(data) against class-index labels, summed over the batch: "
        "output shape (1,). Labels outside [0, classes) contribute nothing.",
    inputs=["data", "label"],
    infer_shape=_sce_shape,
    infer_type=_label_free_type,
    kernels={"numpy": Kernel(_sce_forward, _sce_backward)},
    grad_uses=("inputs",),
)

OPS = [SOFTMAX, LOG_SOFTMAX, SOFTMIN, SOFTMAX_ACTIVATION, SOFTMAX_CROSS_ENTROPY]

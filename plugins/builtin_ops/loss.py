"""Loss-output operators: SoftmaxOutput."""

from __future__ import annotations

import numpy as np

from mxlite.inference import ShapeError
from mxlite.registry import Kernel, OpDef, Param, Params


def _softmax(x: np.ndarray, axis: int, out: np.ndarray) -> None:
    """Numerically stable softmax of ``x`` along ``axis`` into ``out``."""
    np.subtract(x, x.max(axis=axis, keepdims=True), out=out)
    np.exp(out, out=out)
    out /= out.sum(axis=axis, keepdims=True)


def _label_shape(p: Params, data: tuple) -> tuple:
    if p.multi_output:
        return (data[0], *data[2:])
    return tuple(data[:-1])


def _softmax_output_shape(p: Params, ins: list, outs: list, aux: list):
    data, label = ins
    data = data if data is not None else outs[0]
    if data is None:
        return ins, outs, aux
    if p.multi_output and len(data) < 2:
        raise ShapeError(f"multi_output needs data with a class axis 1, got {tuple(data)}")
    expected = _label_shape(p, data)
    if label is None or (len(label) != len(data) and len(label) == len(expected)):
        label = expected
    elif tuple(label) != tuple(data) and len(label) != len(expected):
        raise ShapeError(f"label shape {tuple(label)} fits neither {expected} (class indices) "
                         f"nor {tuple(data)} (probabilities) for data {tuple(data)}")
    return [data, label], [data], aux


def _class_axis(p: Params, x: np.ndarray) -> tuple[np.ndarray, int]:
    """A view of the data with the class axis made explicit, and that axis."""
    if p.multi_output:
        return x, 1
    if p.preserve_shape:
        return x, x.ndim - 1
    return x.reshape(x.shape[0], -1), 1


def _softmax_output_forward(p: Params, ins: list, outs: list, aux: list, is_train: bool) -> None:
    x, axis = _class_axis(p, ins[0])
    _softmax(x, axis, outs[0].reshape(x.shape))


def _softmax_output_backward(p: Params, out_grads: list, ins: list, outs: list, in_grads: list,
                             aux: list) -> None:
    if in_grads[1] is not None:
        in_grads[1].fill(0)
    dx = in_grads[0]
    if dx is None:
        return
    prob, axis = _class_axis(p, outs[0])
    grad = dx.reshape(prob.shape)
    label = ins[1]
    if label.shape == outs[0].shape:  # a probability target
        np.subtract(prob, label.reshape(prob.shape), out=grad)
        norm = prob.shape[0] if p.normalization == "batch" else 1.0
        grad *= p.grad_scale / norm
        return
    np.copyto(grad, prob)
    classes = prob.shape[axis]
    index = label.reshape(_label_view_shape(prob.shape, axis)).astype(np.intp)
    valid = np.ones(index.shape, dtype=bool)
    if p.use_ignore:
        valid = index != int(p.ignore_label)
    safe = np.clip(index, 0, classes - 1)
    onehot_value = 1.0 - p.smooth_alpha
    if p.smooth_alpha:
        grad -= p.smooth_alpha / (classes - 1)
        onehot_value = 1.0 - p.smooth_alpha - p.smooth_alpha / (classes - 1)
    picked = np.take_along_axis(grad, np.expand_dims(safe, axis), axis)
    np.put_along_axis(grad, np.expand_dims(safe, axis), picked - onehot_value, axis)
    if p.use_ignore:
        grad *= np.expand_dims(valid, axis)
    if p.out_grad:
        grad *= out_grads[0].reshape(prob.shape)
    grad *= p.grad_scale / _normalizer(p, label, prob.shape[0])


def _label_view_shape(shape: tuple, axis: int) -> tuple:
    return tuple(d for i, d in enumerate(shape) if i != axis)


def _normalizer(p: Params, label: np.ndarray, batch: int) -> float:
    if p.normalization == "batch":
        return float(batch)
    if p.normalization == "valid":
        return float(max(1, int(np.count_nonzero(label != p.ignore_label))))
    return 1.0


SOFTMAX_OUTPUT = OpDef(
    name="SoftmaxOutput",
    aliases=["Softmax"],
    doc="Softmax of the data in forward; in backward, the gradient of cross-entropy against "
        "``label``: ``(softmax(x) - onehot(label)) * grad_scale / norm``. A loss: it needs no "
        "head gradient.",
    params=[
        Param("grad_scale", "float", 1.0, doc="Scale of the gradient."),
        Param("ignore_label", "float", -1.0, doc="Label ignored when use_ignore is set."),
        Param("multi_output", "bool", False, doc="Softmax over axis 1 of (n, k, x1, ...)."),
        Param("use_ignore", "bool", False, doc="Zero the gradient of ignore_label rows."),
        Param("preserve_shape", "bool", False, doc="Softmax over the last axis."),
        Param("normalization", "str", "null", choices=("null", "batch", "valid"),
              doc="Gradient normalisation."),
        Param("out_grad", "bool", False, doc="Multiply the gradient by the head gradient."),
        Param("smooth_alpha", "float", 0.0, doc="Label smoothing."),
    ],
    inputs=["data", "label"],
    infer_shape=_softmax_output_shape,
    kernels={"numpy": Kernel(_softmax_output_forward, _softmax_output_backward)},
    is_loss=True,
)

OPS = [SOFTMAX_OUTPUT]

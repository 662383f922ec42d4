"""Loss-output operators: SoftmaxOutput."""

from __future__ import annotations

import numpy as np
from mxlite.base import MXNetValueError
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
    prob, label = outs[0], ins[1]
    if label.shape == prob.shape:  # a probability target
        np.subtract(prob, label, out=dx)
        norm = prob.shape[0] if p.normalization == "batch" else 1.0
    else:
        np.copyto(dx, prob)
        _subtract_onehot(p, _class_last(p, dx), label)
        norm = _normalizer(p, label, prob.shape[0])
    if p.out_grad:
        dx *= out_grads[0]
    dx *= p.grad_scale / norm


def _class_last(p: Params, grad: np.ndarray) -> np.ndarray:
    """A (rows, classes) view of the gradient buffer (a strided view for multi_output)."""
    if p.multi_output:
        moved = np.moveaxis(grad, 1, -1)
        return moved.reshape(-1, moved.shape[-1]) if moved.flags.c_contiguous else moved
    if p.preserve_shape:
        return grad.reshape(-1, grad.shape[-1])
    return grad.reshape(grad.shape[0], -1)


def _subtract_onehot(p: Params, grad: np.ndarray, label: np.ndarray) -> None:
    """grad[row, label[row]] -= on_value (label smoothing spreads the rest); zero ignored rows."""
    classes = grad.shape[-1]
    index = label.reshape(grad.shape[:-1]).astype(np.intp)
    keep = None
    if p.use_ignore:
        keep = index != int(p.ignore_label)
        index = np.where(keep, index, 0)
    if index.size and (index.min() < 0 or index.max() >= classes):
        bad = index[(index < 0) | (index >= classes)][0]
        raise MXNetValueError(f"SoftmaxOutput: label {bad} is out of range for {classes} classes")
    on_value = 1.0 - p.smooth_alpha
    if p.smooth_alpha:
        off = p.smooth_alpha / (classes - 1)
        grad -= off
        on_value -= off
    rows = np.indices(index.shape, sparse=True)
    grad[(*rows, index)] -= on_value
    if keep is not None:
        grad[~keep] = 0


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
    grad_uses=("label", "outputs"),
)

OPS = [SOFTMAX_OUTPUT]

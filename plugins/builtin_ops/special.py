"""Operators that shape the gradient flow or the dtype: Cast, BlockGrad, _copy (identity),
MakeLoss, make_loss, add_n (ElementWiseSum), zeros_like and ones_like."""

from __future__ import annotations

import numpy as np
from mxlite.registry import Kernel, OpDef, Param, Params

from ._rules import same_shape
from .shape_ops import RESHAPE_KERNEL, positive, same_storage

#: dtypes MXNet's Cast accepts, less bfloat16 (numpy has none)
CAST_DTYPES = ("bool", "float16", "float32", "float64", "int32", "int64", "int8", "uint8")


# -- Cast --------------------------------------------------------------------------------------
def _cast_type(p: Params, in_types: list, out_types: list, aux_types: list):
    """The output has the requested dtype; the input keeps its own."""
    return in_types, [np.dtype(p.dtype)], aux_types


def _cast_forward(p: Params, ins: list, outs: list, aux: list, is_train: bool) -> None:
    np.copyto(outs[0], ins[0], casting="unsafe")


def _cast_backward(p: Params, out_grads: list, ins: list, outs: list, in_grads: list,
                   aux: list) -> None:
    if in_grads[0] is not None:
        np.copyto(in_grads[0], out_grads[0], casting="unsafe")


CAST = OpDef(
    name="Cast",
    aliases=["cast"],
    doc="Convert to ``dtype`` (floats to integers truncate toward zero). The gradient is cast "
        "back to the input's dtype. (MXNet's bfloat16 is not available: numpy has no such type.)",
    params=[Param("dtype", "str", choices=CAST_DTYPES, doc="The output dtype.")],
    infer_shape=same_shape,
    infer_type=_cast_type,
    kernels={"numpy": Kernel(_cast_forward, _cast_backward)},
)


# -- BlockGrad / _copy -------------------------------------------------------------------------
def _identity_forward(p: Params, ins: list, outs: list, aux: list, is_train: bool) -> None:
    """The output is the input (same shape); a no-op when they share storage (in place)."""
    src, dst = ins[0], outs[0]
    if not same_storage(src, dst):
        dst[...] = src


BLOCK_GRAD = OpDef(
    name="BlockGrad",
    aliases=["stop_gradient"],
    doc="Identity in forward; stops the gradient: its input receives 0 through it.",
    infer_shape=same_shape,
    kernels={"numpy": Kernel(_identity_forward)},
    inplace=[(0, 0)],
    no_gradient="the gradient is stopped here by design (inputs receive 0 through it)",
)

COPY = OpDef(
    name="_copy",
    aliases=["identity"],
    doc="Return a copy of the data; the gradient passes through unchanged.",
    infer_shape=same_shape,
    kernels={"numpy": Kernel(_identity_forward, RESHAPE_KERNEL.backward)},
    inplace=[(0, 0)],
)


# -- MakeLoss / make_loss ----------------------------------------------------------------------
def _make_loss_backward(p: Params, out_grads: list, ins: list, outs: list, in_grads: list,
                        aux: list) -> None:
    dx = in_grads[0]
    if dx is None:
        return
    x = ins[0]
    norm = 1.0
    if p.normalization == "batch":  # the first dimension of the data seen as 2-D
        norm = float(x.shape[0]) if x.ndim > 1 else 1.0
    elif p.normalization == "valid":
        norm = float(max(1, int(np.count_nonzero(x > p.valid_thresh))))
    dx.fill(p.grad_scale / norm)


MAKE_LOSS = OpDef(
    name="MakeLoss",
    doc="Turn any symbol into a loss: forward is the identity; backward ignores the head "
        "gradient and gives ``grad_scale / norm`` everywhere, where norm is 1 (null), the "
        "first dimension of the data seen as 2-D (batch) or the count of data elements "
        "greater than valid_thresh, at least 1 (valid).",
    params=[
        Param("grad_scale", "float", 1.0, doc="Gradient scale."),
        Param("valid_thresh", "float", 0.0, doc="Elements above it count as valid."),
        Param("normalization", "str", "null", choices=("null", "batch", "valid"),
              doc="How the gradient is normalised."),
    ],
    infer_shape=same_shape,
    kernels={"numpy": Kernel(_identity_forward, _make_loss_backward)},
    inplace=[(0, 0)],
    is_loss=True,
)


def _ones_backward(p: Params, out_grads: list, ins: list, outs: list, in_grads: list,
                   aux: list) -> None:
    if in_grads[0] is not None:
        in_grads[0].fill(1)


MAKE_LOSS_SIMPLE = OpDef(
    name="make_loss",
    doc="Turn a symbol into a loss: identity forward, gradient 1 (head gradient ignored). "
        "Its output is named ``<name>_loss``. Unlike MXNet, which ignores any keyword given "
        "to it, mxlite rejects unknown parameters; use MakeLoss for grad_scale.",
    outputs=["loss"],
    infer_shape=same_shape,
    kernels={"numpy": Kernel(_identity_forward, _ones_backward)},
    inplace=[(0, 0)],
    is_loss=True,
)


# -- add_n -------------------------------------------------------------------------------------
def _add_n_forward(p: Params, ins: list, outs: list, aux: list, is_train: bool) -> None:
    out = outs[0]
    if len(ins) == 1:
        np.copyto(out, ins[0])
        return
    np.add(ins[0], ins[1], out=out)
    for x in ins[2:]:
        out += x


def _add_n_backward(p: Params, out_grads: list, ins: list, outs: list, in_grads: list,
                    aux: list) -> None:
    for grad in in_grads:
        if grad is not None:
            np.copyto(grad, out_grads[0])


ADD_N = OpDef(
    name="add_n",
    aliases=["ElementWiseSum"],
    doc="Element-wise sum of all inputs (of one shape).",
    params=[Param("num_args", "int", doc="Number of inputs.", check=positive)],
    inputs=lambda p: [f"arg{i}" for i in range(p.num_args)],
    key_var_num_args="num_args",
    infer_shape=same_shape,
    kernels={"numpy": Kernel(_add_n_forward, _add_n_backward)},
    inplace=[(0, 0)],
)


# -- zeros_like / ones_like --------------------------------------------------------------------
def _filler(value: int) -> Kernel:
    def forward(p: Params, ins: list, outs: list, aux: list, is_train: bool) -> None:
        outs[0].fill(value)

    return Kernel(forward)


ZEROS_LIKE = OpDef(
    name="zeros_like",
    doc="An array of zeros with the shape and dtype of the input.",
    infer_shape=same_shape,
    kernels={"numpy": _filler(0)},
    no_gradient="the output does not depend on the input's values",
)

ONES_LIKE = OpDef(
    name="ones_like",
    doc="An array of ones with the shape and dtype of the input.",
    infer_shape=same_shape,
    kernels={"numpy": _filler(1)},
    no_gradient="the output does not depend on the input's values",
)

OPS = [CAST, BLOCK_GRAD, COPY, MAKE_LOSS, MAKE_LOSS_SIMPLE, ADD_N, ZEROS_LIKE, ONES_LIKE]

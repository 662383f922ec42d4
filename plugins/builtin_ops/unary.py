"""Element-wise unary math. Each row: name, forward ufunc, gradient as a function of (x, y)."""

from __future__ import annotations

from typing import Callable

import numpy as np

from mxlite.registry import Kernel, OpDef, Params

from ._rules import same_shape


def _unary_op(name: str, ufunc: np.ufunc, dydx: Callable[[np.ndarray, np.ndarray], np.ndarray],
              doc: str) -> OpDef:
    def forward(p: Params, ins: list, outs: list, aux: list, is_train: bool) -> None:
        ufunc(ins[0], out=outs[0])

    def backward(p: Params, out_grads: list, ins: list, outs: list, in_grads: list,
                 aux: list) -> None:
        if in_grads[0] is not None:
            np.multiply(out_grads[0], dydx(ins[0], outs[0]), out=in_grads[0])

    return OpDef(name=name, doc=doc, inputs=["data"], infer_shape=same_shape,
                 kernels={"numpy": Kernel(forward, backward)})


UNARY = [
    ("abs", np.abs, lambda x, y: np.sign(x), "Absolute value |x|; gradient sign(x)."),
]

OPS = [_unary_op(*row) for row in UNARY]

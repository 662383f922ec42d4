"""Embedding: look rows of ``weight`` (input_dim, output_dim) up by the indices in ``data``.

Indices are truncated to integers and clipped to [0, input_dim - 1], as MXNet does. The
weight gradient adds each head-gradient row into the row it was read from (``np.add.at``);
the data gets a zero gradient (MXNet refuses to compute one).
"""

from __future__ import annotations

import numpy as np
from mxlite.inference import ShapeError
from mxlite.registry import Kernel, OpDef, Param, Params

DTYPES = ("bfloat16", "float16", "float32", "float64", "int32", "int64", "int8", "uint8")


def _at_least_one(value: int) -> str | None:
    return None if value >= 1 else "must be at least 1"


def _embedding_shape(p: Params, ins: list, outs: list, aux: list):
    data, out = ins[0], outs[0]
    if out is not None and len(out) == 0:
        raise ShapeError("output must have at least 1 dimension (the embedding), got ()")
    if data is None and out is not None:
        data = tuple(out[:-1])
    out = (*data, p.output_dim) if data is not None else out
    return [data, (p.input_dim, p.output_dim)], [out], aux


def _embedding_type(p: Params, ins: list, outs: list, aux: list):
    """The weight and output have ``dtype``; the indices keep their own type."""
    dtype = np.dtype("float32" if p.dtype == "bfloat16" else p.dtype)
    return [ins[0], dtype], [dtype], aux


def _indices(data: np.ndarray) -> np.ndarray:
    """Integer indices (truncated when the data is floating point)."""
    return data if data.dtype.kind in "iu" else data.astype(np.intp)


def _embedding_forward(p: Params, ins: list, outs: list, aux: list, is_train: bool) -> None:
    np.take(ins[1], _indices(ins[0]), axis=0, out=outs[0], mode="clip")


def _embedding_backward(p: Params, out_grads: list, ins: list, outs: list, in_grads: list,
                        aux: list) -> None:
    if in_grads[0] is not None:
        in_grads[0].fill(0)
    dweight = in_grads[1]
    if dweight is None:
        return
    rows = np.clip(_indices(ins[0]).reshape(-1), 0, p.input_dim - 1)
    dweight.fill(0)
    np.add.at(dweight, rows, out_grads[0].reshape(-1, p.output_dim))


EMBEDDING = OpDef(
    name="Embedding",
    doc="Map integer indices to dense vectors: ``out[..., :] = weight[data[...], :]``, output "
        "shape ``data.shape + (output_dim,)``. Out-of-range indices are clipped. "
        "``sparse_grad`` is accepted; the weight gradient is always dense.",
    params=[
        Param("input_dim", "int", doc="Vocabulary size (rows of weight).", check=_at_least_one),
        Param("output_dim", "int", doc="Embedding size (columns of weight).",
              check=_at_least_one),
        Param("dtype", "str", "float32", choices=DTYPES,
              doc="Type of the weight and output (bfloat16 is computed as float32)."),
        Param("sparse_grad", "bool", False, doc="MXNet's row_sparse gradient; dense here."),
    ],
    inputs=["data", "weight"],
    infer_shape=_embedding_shape,
    infer_type=_embedding_type,
    kernels={"numpy": Kernel(_embedding_forward, _embedding_backward)},
    grad_uses=("data",),
)

OPS = [EMBEDDING]

"""Matrix products: ``dot`` and ``batch_dot``.

``dot`` follows MXNet 1.x for N-D arrays: it contracts the last axis of ``lhs`` with the first
axis of ``rhs``. ``transpose_a`` makes it contract ``lhs``'s *first* axis instead (``lhs`` seen
as a matrix ``(shape[0], rest)`` and transposed), ``transpose_b`` ``rhs``'s *last* axis. The
output shape is the remaining axes of ``lhs`` then those of ``rhs``; ``(1,)`` for two vectors.
``batch_dot`` multiplies the matrices in the last two axes, batched over the leading ones.
"""

from __future__ import annotations

import numpy as np
from mxlite.inference import ShapeError
from mxlite.registry import Kernel, OpDef, Param, Params

_STYPES = ("default", "csr", "row_sparse")


# -- dot --------------------------------------------------------------------------------------
def _dot_split(shape: tuple, transposed: bool, is_lhs: bool) -> tuple[int, tuple]:
    """The contracted dimension and the remaining axes of one operand."""
    if len(shape) == 1:
        return shape[0], ()
    first = transposed if is_lhs else not transposed
    return (shape[0], tuple(shape[1:])) if first else (shape[-1], tuple(shape[:-1]))


def _dot_shape(p: Params, ins: list, outs: list, aux: list):
    lhs, rhs = ins
    if lhs is None or rhs is None:
        return ins, outs, aux
    if len(lhs) == 0 or len(rhs) == 0:
        raise ShapeError(f"dot needs arrays with at least one dimension, got {tuple(lhs)} "
                         f"and {tuple(rhs)}")
    if len(lhs) == 1 and len(rhs) == 1 and (p.transpose_a or p.transpose_b):
        raise ShapeError(f"dot cannot transpose vectors (lhs {tuple(lhs)}, rhs {tuple(rhs)})")
    k_lhs, rest_lhs = _dot_split(tuple(lhs), p.transpose_a, True)
    k_rhs, rest_rhs = _dot_split(tuple(rhs), p.transpose_b, False)
    if k_lhs and k_rhs and k_lhs != k_rhs:
        raise ShapeError(f"dot shape error: lhs {tuple(lhs)} (transpose_a={p.transpose_a}) "
                         f"contracts {k_lhs} elements but rhs {tuple(rhs)} "
                         f"(transpose_b={p.transpose_b}) has {k_rhs}")
    return ins, [rest_lhs + rest_rhs or (1,)], aux


def _dot_matrices(p: Params, lhs: np.ndarray, rhs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """2-D views (m, k) and (k, n) of the operands (transposes are views too)."""
    if lhs.ndim == 2 == rhs.ndim and not (p.transpose_a or p.transpose_b):
        return lhs, rhs  # the common case, without building views
    if lhs.ndim == 1:
        a = lhs.reshape(1, -1)
    else:
        a = lhs.reshape(lhs.shape[0], -1).T if p.transpose_a else lhs.reshape(-1, lhs.shape[-1])
    if rhs.ndim == 1:
        b = rhs.reshape(-1, 1)
    else:
        b = rhs.reshape(-1, rhs.shape[-1]).T if p.transpose_b else rhs.reshape(rhs.shape[0], -1)
    return a, b


def _dot_forward(p: Params, ins: list, outs: list, aux: list, is_train: bool) -> None:
    a, b = _dot_matrices(p, ins[0], ins[1])
    out = outs[0]
    np.matmul(a, b, out=out if out.ndim == 2 else out.reshape(a.shape[0], b.shape[1]))


def _dot_backward(p: Params, out_grads: list, ins: list, outs: list, in_grads: list,
                  aux: list) -> None:
    """With ``out = a @ b`` on the 2-D views: ``da = og @ b.T`` and ``db = a.T @ og``, written
    through the same views of the gradient buffers."""
    a, b = _dot_matrices(p, ins[0], ins[1])
    og = out_grads[0].reshape(a.shape[0], b.shape[1])
    if in_grads[0] is not None:
        da, _ = _dot_matrices(p, in_grads[0], ins[1])
        np.matmul(og, b.T, out=da)
    if in_grads[1] is not None:
        _, db = _dot_matrices(p, ins[0], in_grads[1])
        np.matmul(a.T, og, out=db)


_TRANSPOSE_PARAMS = [
    Param("transpose_a", "bool", False, doc="Transpose lhs (contract its first axis)."),
    Param("transpose_b", "bool", False, doc="Transpose rhs (contract its last axis)."),
    Param("forward_stype", "str", None, optional=True, choices=_STYPES,
          doc="Output storage type; accepted for MXNet graphs, always dense here."),
]

DOT = OpDef(
    name="dot",
    doc="Dot product: for N-D arrays, contracts the last axis of lhs with the first of rhs "
        "(see the module docstring for transpose_a/transpose_b).",
    params=_TRANSPOSE_PARAMS,
    inputs=["lhs", "rhs"],
    infer_shape=_dot_shape,
    kernels={"numpy": Kernel(_dot_forward, _dot_backward)},
    grad_uses=("inputs",),
)


# -- batch_dot --------------------------------------------------------------------------------
def _matrix(shape: tuple, transposed: bool) -> tuple[int, int]:
    rows, cols = shape[-2], shape[-1]
    return (cols, rows) if transposed else (rows, cols)


def _batch_dot_shape(p: Params, ins: list, outs: list, aux: list):
    lhs, rhs = ins
    if lhs is None or rhs is None:
        return ins, outs, aux
    lhs, rhs = tuple(lhs), tuple(rhs)
    if len(lhs) < 3 or len(rhs) != len(lhs):
        raise ShapeError(f"batch_dot needs two arrays with the same number (>= 3) of "
                         f"dimensions, got lhs {lhs} and rhs {rhs}")
    batch = []
    for a, b in zip(lhs[:-2], rhs[:-2]):
        if a and b and a != b:
            raise ShapeError(f"batch_dot: the leading (batch) dimensions must match, got "
                             f"lhs {lhs} and rhs {rhs}")
        batch.append(a or b)
    m, k_lhs = _matrix(lhs, p.transpose_a)
    k_rhs, n = _matrix(rhs, p.transpose_b)
    if k_lhs and k_rhs and k_lhs != k_rhs:
        raise ShapeError(f"batch_dot shape error: lhs {lhs} (transpose_a={p.transpose_a}) and "
                         f"rhs {rhs} (transpose_b={p.transpose_b}) do not multiply "
                         f"({k_lhs} vs {k_rhs})")
    return ins, [(*batch, m, n)], aux


def _swap(x: np.ndarray, transposed: bool) -> np.ndarray:
    return np.swapaxes(x, -1, -2) if transposed else x


def _batch_dot_forward(p: Params, ins: list, outs: list, aux: list, is_train: bool) -> None:
    np.matmul(_swap(ins[0], p.transpose_a), _swap(ins[1], p.transpose_b), out=outs[0])


def _batch_dot_backward(p: Params, out_grads: list, ins: list, outs: list, in_grads: list,
                        aux: list) -> None:
    a, b = _swap(ins[0], p.transpose_a), _swap(ins[1], p.transpose_b)
    og = out_grads[0]
    if in_grads[0] is not None:
        np.matmul(og, np.swapaxes(b, -1, -2), out=_swap(in_grads[0], p.transpose_a))
    if in_grads[1] is not None:
        np.matmul(np.swapaxes(a, -1, -2), og, out=_swap(in_grads[1], p.transpose_b))


BATCH_DOT = OpDef(
    name="batch_dot",
    doc="Batched matrix product over the last two axes: (..., m, k) x (..., k, n) -> "
        "(..., m, n), each operand optionally transposed.",
    params=_TRANSPOSE_PARAMS,
    inputs=["lhs", "rhs"],
    infer_shape=_batch_dot_shape,
    kernels={"numpy": Kernel(_batch_dot_forward, _batch_dot_backward)},
    grad_uses=("inputs",),
)

OPS = [DOT, BATCH_DOT]

"""Binary operators with broadcasting: ``broadcast_add``, ``broadcast_mul``, comparisons...

Shapes follow MXNet's rule (numpy's): aligned from the right, each pair of dimensions equal or
one of them 1. The gradient of each input is the element-wise gradient summed back over the
dimensions that input was broadcast along. Each operator is one row of ``BROADCAST``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from mxlite.inference import ShapeError
from mxlite.registry import Kernel, OpDef, Params

# A gradient writes d(out)/d(input) * og, at the output's shape, into ``dst``:
# grad(og, lhs, rhs, out, dst) for one side; each row has one for lhs and one for rhs.
SideGrad = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray], None]


# -- shape rule -----------------------------------------------------------------------------
def _broadcast_dim(left: int, right: int, lhs: tuple, rhs: tuple) -> int:
    if left == right or right == 1:
        return left
    if left == 1:
        return right
    if left == 0 or right == 0:  # one is unknown: the other (> 1) decides
        return left or right
    raise ShapeError(f"operands could not be broadcast together with shapes {lhs} and {rhs} "
                     "(each pair of dimensions, aligned from the right, must be equal or 1)")


def _pad(shape: tuple, ndim: int) -> tuple:
    return (1,) * (ndim - len(shape)) + tuple(shape)


def broadcast_shape(p: Params, ins: list, outs: list, aux: list):
    """Output shape from both inputs; an input's unknown dimension from the output where the
    other input has 1 there."""
    lhs, rhs = ins
    out = outs[0]
    if lhs is None or rhs is None:
        return ins, outs, aux
    ndim = max(len(lhs), len(rhs))
    left, right = _pad(lhs, ndim), _pad(rhs, ndim)
    new_out = tuple(_broadcast_dim(a, b, tuple(lhs), tuple(rhs)) for a, b in zip(left, right))
    if out is not None and len(out) == ndim:
        new_out = tuple(o or n for o, n in zip(out, new_out))
        lhs = _fill_from_out(lhs, right, new_out)
        rhs = _fill_from_out(rhs, left, new_out)
    return [lhs, rhs], [new_out], aux


def _fill_from_out(shape: tuple, other: tuple, out: tuple) -> tuple:
    offset = len(out) - len(shape)
    return tuple(out[i + offset] if d == 0 and other[i + offset] == 1 else d
                 for i, d in enumerate(shape))


# -- gradient reduction ---------------------------------------------------------------------
def reduce_to(src: np.ndarray, dst: np.ndarray) -> None:
    """Sum ``src`` (the output's shape) into ``dst`` (an input's shape) over broadcast axes."""
    if src.shape == dst.shape:
        np.copyto(dst, src)
        return
    padded = _pad(dst.shape, src.ndim)
    axes = tuple(i for i, (d, s) in enumerate(zip(padded, src.shape)) if d == 1 and s != 1)
    np.sum(src, axis=axes, keepdims=True, out=dst.reshape(padded))


def _side(grad: SideGrad, og: np.ndarray, lhs: np.ndarray, rhs: np.ndarray, out: np.ndarray,
          dst: "np.ndarray | None") -> None:
    """Apply one side's gradient, through a scratch buffer when that side was broadcast."""
    if dst is None:
        return
    if dst.shape == og.shape:
        grad(og, lhs, rhs, out, dst)
        return
    scratch = np.empty(og.shape, dst.dtype)
    grad(og, lhs, rhs, out, scratch)
    reduce_to(scratch, dst)


# -- one-side gradients: (og, lhs, rhs, out, dst) ------------------------------------------------
def _g_copy(og, lhs, rhs, out, dst) -> None:  # type: ignore[no-untyped-def]
    np.copyto(dst, og)


def _g_neg(og, lhs, rhs, out, dst) -> None:  # type: ignore[no-untyped-def]
    np.negative(og, out=dst)


def _g_mul_l(og, lhs, rhs, out, dst) -> None:  # type: ignore[no-untyped-def]
    np.multiply(og, rhs, out=dst, casting="unsafe")


def _g_mul_r(og, lhs, rhs, out, dst) -> None:  # type: ignore[no-untyped-def]
    np.multiply(og, lhs, out=dst, casting="unsafe")


def _g_div_l(og, lhs, rhs, out, dst) -> None:  # type: ignore[no-untyped-def]
    np.divide(og, rhs, out=dst, casting="unsafe")


def _g_div_r(og, lhs, rhs, out, dst) -> None:  # type: ignore[no-untyped-def]  # -out / rhs
    np.divide(out, rhs, out=dst, casting="unsafe")
    np.negative(dst, out=dst)
    dst *= og


def _g_mod_r(og, lhs, rhs, out, dst) -> None:  # type: ignore[no-untyped-def]  # -floor(l / r)
    np.floor_divide(lhs, rhs, out=dst, casting="unsafe")
    np.negative(dst, out=dst)
    dst *= og


def _g_pow_l(og, lhs, rhs, out, dst) -> None:  # type: ignore[no-untyped-def]  # r l^(r-1)
    np.power(lhs, rhs - 1, out=dst, casting="unsafe")
    dst *= rhs
    dst *= og


def _g_pow_r(og, lhs, rhs, out, dst) -> None:  # type: ignore[no-untyped-def]  # out log(l)
    np.log(lhs, out=dst, casting="unsafe")
    dst *= out
    dst *= og


def _g_max_l(og, lhs, rhs, out, dst) -> None:  # type: ignore[no-untyped-def]  # ties: lhs
    np.greater_equal(lhs, rhs, out=dst, casting="unsafe")
    dst *= og


def _g_max_r(og, lhs, rhs, out, dst) -> None:  # type: ignore[no-untyped-def]
    np.less(lhs, rhs, out=dst, casting="unsafe")
    dst *= og


def _g_min_l(og, lhs, rhs, out, dst) -> None:  # type: ignore[no-untyped-def]  # ties: lhs
    np.less_equal(lhs, rhs, out=dst, casting="unsafe")
    dst *= og


def _g_min_r(og, lhs, rhs, out, dst) -> None:  # type: ignore[no-untyped-def]
    np.greater(lhs, rhs, out=dst, casting="unsafe")
    dst *= og


def _hypot_side(mine: np.ndarray, out: np.ndarray, og: np.ndarray, dst: np.ndarray) -> None:
    """``mine / out``, taken as 0 where out is 0 (MXNet 1.9.1 gives NaN there)."""
    np.divide(mine, out, out=dst, where=out != 0, casting="unsafe")
    dst[out == 0] = 0
    dst *= og


def _g_hypot_l(og, lhs, rhs, out, dst) -> None:  # type: ignore[no-untyped-def]
    _hypot_side(np.broadcast_to(lhs, out.shape), out, og, dst)


def _g_hypot_r(og, lhs, rhs, out, dst) -> None:  # type: ignore[no-untyped-def]
    _hypot_side(np.broadcast_to(rhs, out.shape), out, og, dst)


_HYPOT_BLOCK = 1 << 16  # output elements per float64 scratch block of the float32 hypot
#: float32 squares in [_TINY_SQUARE, _HUGE_SQUARE] neither overflow when two are added nor
#: lose precision to underflow (a square below it matters only when the other one is too)
_TINY_SQUARE, _HUGE_SQUARE = 1e-30, 1e37


def _hypot(lhs: np.ndarray, rhs: np.ndarray, out: np.ndarray, casting: str) -> None:
    """``np.hypot``; for float32, ``sqrt(lhs^2 + rhs^2)`` in float32 (within 2 ulp of libm's
    ``hypotf``, which MXNet 1.9.1 calls, where numpy's loop calls it per element) when the
    squares are in a safe range, else the float64 blocks of ``_hypot_float32``."""
    if lhs.dtype != np.float32 or rhs.dtype != np.float32 or out.dtype != np.float32 \
            or out.ndim == 0:
        np.hypot(lhs, rhs, out=out, casting=casting)
        return
    l2, r2 = np.square(lhs), np.square(rhs)  # copies, so out may share lhs or rhs
    small, big = (l2, r2) if l2.size <= r2.size else (r2, l2)
    high = float(small.max()) + float(big.max())  # NaN or inf anywhere: not below the bound
    if high < _HUGE_SQUARE and (small.min() >= _TINY_SQUARE or big.min() >= _TINY_SQUARE):
        np.add(l2, r2, out=out)
        np.sqrt(out, out=out)
    else:
        _hypot_float32(lhs, rhs, out, casting)


def _hypot_float32(lhs: np.ndarray, rhs: np.ndarray, out: np.ndarray, casting: str) -> None:
    """float32 ``np.hypot`` as ``sqrt`` of the float64 sum of squares rounded to float32:
    what libm's ``hypotf`` computes, bit for bit on finite values, and vectorised. Inputs with
    inf or NaN (hypot(inf, nan) is inf) take ``np.hypot`` itself."""
    l2 = np.square(lhs, dtype=np.float64)  # exact; copies, so out may share lhs or rhs
    r2 = np.square(rhs, dtype=np.float64)
    if not math.isfinite(l2.sum() + r2.sum()):  # float32 squares cannot overflow float64
        np.hypot(lhs, rhs, out=out, casting=casting)
        return
    l2, r2 = np.broadcast_to(l2, out.shape), np.broadcast_to(r2, out.shape)
    step = max(1, _HYPOT_BLOCK // max(1, out[0].size))  # leading rows per scratch block
    for i in range(0, out.shape[0], step):
        block = np.add(l2[i:i + step], r2[i:i + step])
        np.sqrt(block, out=out[i:i + step], casting="unsafe")


def _logical(fn: np.ufunc) -> Callable:
    """A logical ufunc on the truth of each operand, written as 0/1 in the output dtype."""
    return lambda lhs, rhs, out, casting: fn(lhs != 0, rhs != 0, out=out, casting=casting)


NONE, IN, BOTH = (), ("inputs",), ("inputs", "outputs")  # what a gradient reads
NO_GRAD = "comparisons and logical operators are piecewise constant; MXNet gives zero"

BROADCAST = [
    ("broadcast_add", ["broadcast_plus"], np.add, (_g_copy, _g_copy), NONE, "lhs + rhs"),
    ("broadcast_sub", ["broadcast_minus"], np.subtract, (_g_copy, _g_neg), NONE, "lhs - rhs"),
    ("broadcast_mul", [], np.multiply, (_g_mul_l, _g_mul_r), IN, "lhs * rhs"),
    ("broadcast_div", [], np.divide, (_g_div_l, _g_div_r), BOTH, "lhs / rhs"),
    ("broadcast_mod", [], np.mod, (_g_copy, _g_mod_r), IN,
     "lhs % rhs, with the sign of rhs (as numpy); gradient 1 and -floor(lhs / rhs)"),
    ("broadcast_power", [], np.power, (_g_pow_l, _g_pow_r), BOTH, "lhs ** rhs"),
    ("broadcast_maximum", [], np.maximum, (_g_max_l, _g_max_r), IN,
     "max(lhs, rhs); on ties the gradient goes to lhs"),
    ("broadcast_minimum", [], np.minimum, (_g_min_l, _g_min_r), IN,
     "min(lhs, rhs); on ties the gradient goes to lhs"),
    ("broadcast_hypot", [], _hypot, (_g_hypot_l, _g_hypot_r), BOTH,
     "sqrt(lhs^2 + rhs^2); the gradient at hypot = 0 is taken as 0"),
    ("broadcast_equal", [], np.equal, None, NONE, "1 where lhs == rhs else 0"),
    ("broadcast_not_equal", [], np.not_equal, None, NONE, "1 where lhs != rhs else 0"),
    ("broadcast_greater", [], np.greater, None, NONE, "1 where lhs > rhs else 0"),
    ("broadcast_greater_equal", [], np.greater_equal, None, NONE, "1 where lhs >= rhs else 0"),
    ("broadcast_lesser", [], np.less, None, NONE, "1 where lhs < rhs else 0"),
    ("broadcast_lesser_equal", [], np.less_equal, None, NONE, "1 where lhs <= rhs else 0"),
    ("broadcast_logical_and", [], _logical(np.logical_and), None, NONE,
     "1 where lhs and rhs are both non-zero else 0"),
    ("broadcast_logical_or", [], _logical(np.logical_or), None, NONE,
     "1 where lhs or rhs is non-zero else 0"),
    ("broadcast_logical_xor", [], _logical(np.logical_xor), None, NONE,
     "1 where exactly one of lhs, rhs is non-zero else 0"),
]


def _broadcast_op(name: str, aliases: list[str], fn: Callable,
                  grads: "tuple[SideGrad, SideGrad] | None", uses: tuple, doc: str) -> OpDef:
    def forward(p: Params, ins: list, outs: list, aux: list, is_train: bool) -> None:
        fn(ins[0], ins[1], out=outs[0], casting="unsafe")

    def backward(p: Params, out_grads: list, ins: list, outs: list, in_grads: list,
                 aux: list) -> None:
        og, lhs, rhs, out = out_grads[0], ins[0], ins[1], outs[0]
        _side(grads[0], og, lhs, rhs, out, in_grads[0])  # type: ignore[index]
        _side(grads[1], og, lhs, rhs, out, in_grads[1])  # type: ignore[index]

    return OpDef(
        name=name, aliases=aliases, doc=doc + " (with broadcasting)", inputs=["lhs", "rhs"],
        infer_shape=broadcast_shape,
        kernels={"numpy": Kernel(forward, backward if grads else None)},
        no_gradient=None if grads else NO_GRAD,
        inplace=[(0, 0), (1, 0)],  # one ufunc call: numpy handles the overlap
        grad_uses=uses,
    )


OPS = [_broadcast_op(*row) for row in BROADCAST]

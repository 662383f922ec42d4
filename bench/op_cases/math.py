"""Benchmark cases: unary math, broadcasting binary ops, reductions, dot/batch_dot, regression
outputs and the softmax family. Each ``naive`` is a plain numpy version of the forward."""

from __future__ import annotations

import math

import numpy as np

SHAPE = (64, 256)
_erf = np.vectorize(math.erf, otypes=[np.float64])


def _unary(op: str, fn) -> dict:  # type: ignore[no-untyped-def]
    return {"op": op, "params": {}, "inputs": [SHAPE], "naive": fn}


def _round_away(x: np.ndarray) -> np.ndarray:
    return np.where(x >= 0, np.floor(x + 0.5), np.ceil(x - 0.5))


def _rint_down(x: np.ndarray) -> np.ndarray:
    f = np.floor(x)
    return np.where(x - f > 0.5, f + 1, f)


UNARY = [
    ("abs", np.abs), ("exp", np.exp), ("log", np.log), ("log1p", np.log1p),
    ("expm1", np.expm1), ("log2", np.log2), ("log10", np.log10), ("sqrt", np.sqrt),
    ("rsqrt", lambda x: 1 / np.sqrt(x)), ("cbrt", np.cbrt), ("rcbrt", lambda x: 1 / np.cbrt(x)),
    ("square", lambda x: x * x), ("negative", lambda x: -x), ("reciprocal", lambda x: 1 / x),
    ("sign", np.sign), ("floor", np.floor), ("ceil", np.ceil), ("round", _round_away),
    ("rint", _rint_down), ("fix", np.fix), ("trunc", np.trunc),
    ("relu", lambda x: np.where(x > 0, x, 0)), ("sigmoid", lambda x: 1 / (1 + np.exp(-x))),
    ("softsign", lambda x: x / (1 + np.abs(x))), ("tanh", np.tanh), ("sin", np.sin),
    ("cos", np.cos), ("tan", np.tan), ("arcsin", np.arcsin), ("arccos", np.arccos),
    ("arctan", np.arctan), ("sinh", np.sinh), ("cosh", np.cosh), ("arcsinh", np.arcsinh),
    ("arctanh", np.arctanh), ("degrees", lambda x: x * 180 / np.pi),
    ("radians", lambda x: x * np.pi / 180), ("erf", _erf),
]

BROADCAST = [
    ("broadcast_add", lambda a, b: a + b), ("broadcast_sub", lambda a, b: a - b),
    ("broadcast_mul", lambda a, b: a * b), ("broadcast_div", lambda a, b: a / b),
    ("broadcast_mod", np.mod), ("broadcast_power", np.power),
    ("broadcast_maximum", np.maximum), ("broadcast_minimum", np.minimum),
    ("broadcast_hypot", lambda a, b: np.sqrt(a * a + b * b)),
    ("broadcast_equal", lambda a, b: (a == b).astype(a.dtype)),
    ("broadcast_not_equal", lambda a, b: (a != b).astype(a.dtype)),
    ("broadcast_greater", lambda a, b: (a > b).astype(a.dtype)),
    ("broadcast_greater_equal", lambda a, b: (a >= b).astype(a.dtype)),
    ("broadcast_lesser", lambda a, b: (a < b).astype(a.dtype)),
    ("broadcast_lesser_equal", lambda a, b: (a <= b).astype(a.dtype)),
    ("broadcast_logical_and", lambda a, b: ((a != 0) & (b != 0)).astype(a.dtype)),
    ("broadcast_logical_or", lambda a, b: ((a != 0) | (b != 0)).astype(a.dtype)),
    ("broadcast_logical_xor", lambda a, b: ((a != 0) ^ (b != 0)).astype(a.dtype)),
]

REDUCE = [
    ("sum", {"axis": 1}, lambda x: x.sum(axis=1)),
    ("mean", {"axis": (0, 2)}, lambda x: x.mean(axis=(0, 2))),
    ("max", {"axis": -1, "keepdims": True}, lambda x: x.max(axis=-1, keepdims=True)),
    ("min", {"axis": 1, "exclude": True}, lambda x: x.min(axis=(0, 2))),
    ("prod", {"axis": 2}, lambda x: x.prod(axis=2)),
    ("nansum", {"axis": 1}, lambda x: np.where(np.isnan(x), 0, x).sum(axis=1)),
    ("nanprod", {"axis": 1}, lambda x: np.where(np.isnan(x), 1, x).prod(axis=1)),
    ("norm", {}, lambda x: np.sqrt((x * x).sum()).reshape(1)),
    ("norm", {"ord": 1, "axis": 1}, lambda x: np.abs(x).sum(axis=1)),
]


def _softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _softmax_cross_entropy(x: np.ndarray, label: np.ndarray) -> np.ndarray:
    p = _softmax(x, 1)
    total = 0.0
    for i, c in enumerate(label.astype(np.int64)):
        if 0 <= c < x.shape[1]:
            total -= np.log(p[i, c])
    return np.array([total], x.dtype)


CASES = (
    [_unary(op, fn) for op, fn in UNARY]
    + [{"op": "clip", "params": {"a_min": -0.5, "a_max": 0.5}, "inputs": [SHAPE],
        "naive": lambda x: np.minimum(np.maximum(x, -0.5), 0.5)}]
    + [{"op": op, "params": {}, "inputs": [(64, 1, 128), (32, 1)], "naive": fn}
       for op, fn in BROADCAST]
    + [{"op": op, "params": params, "inputs": [(64, 32, 16)], "naive": fn}
       for op, params, fn in REDUCE]
    + [
        {"op": "dot", "params": {}, "inputs": [(64, 256), (256, 128)],
         "naive": lambda a, b: a @ b},
        {"op": "dot", "params": {"transpose_b": True}, "inputs": [(64, 8, 32), (128, 32)],
         "naive": lambda a, b: np.tensordot(a, b, axes=([2], [1]))},
        {"op": "batch_dot", "params": {}, "inputs": [(64, 16, 32), (64, 32, 8)],
         "naive": lambda a, b: np.stack([a[i] @ b[i] for i in range(a.shape[0])])},
        {"op": "LinearRegressionOutput", "params": {}, "inputs": [(64, 10), (64, 10)],
         "naive": lambda x, label: x.copy()},
        {"op": "LogisticRegressionOutput", "params": {}, "inputs": [(64, 10), (64, 10)],
         "naive": lambda x, label: 1 / (1 + np.exp(-x))},
        {"op": "MAERegressionOutput", "params": {}, "inputs": [(64, 10), (64, 10)],
         "naive": lambda x, label: x.copy()},
        {"op": "softmax", "params": {}, "inputs": [(64, 1000)], "naive": _softmax},
        {"op": "log_softmax", "params": {"axis": 1}, "inputs": [(64, 1000)],
         "naive": lambda x: np.log(_softmax(x, 1))},
        {"op": "softmin", "params": {}, "inputs": [(64, 1000)],
         "naive": lambda x: _softmax(-x)},
        {"op": "SoftmaxActivation", "params": {"mode": "channel"}, "inputs": [(32, 16, 8, 8)],
         "naive": lambda x: _softmax(x, 1)},
        {"op": "softmax_cross_entropy", "params": {}, "inputs": [(64, 100), (64,)],
         "naive": _softmax_cross_entropy},
    ]
)

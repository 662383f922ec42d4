"""Benchmark cases: normalisation layers, Dropout, LeakyReLU and Embedding (inference forward).

Each ``naive`` is a plain numpy version of the forward (visible output only).
"""

from __future__ import annotations

import math

import numpy as np

IMAGE = (32, 64, 16, 16)
CHANNELS = (IMAGE[1],)
MATRIX = (64, 1024)
_erf = np.vectorize(math.erf, otypes=[np.float64])
_SELU_ALPHA, _SELU_LAMBDA = 1.6732632423543772, 1.0507009873554805


def _per_channel(v: np.ndarray) -> np.ndarray:
    return v.reshape(1, -1, 1, 1)


def _batch_norm(x, gamma, beta, mean, var):  # type: ignore[no-untyped-def]
    return (x - _per_channel(mean)) / np.sqrt(_per_channel(var) + 1e-3) * _per_channel(gamma) \
        + _per_channel(beta)


def _layer_norm(x, gamma, beta):  # type: ignore[no-untyped-def]
    mean = x.mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(x.var(axis=-1, keepdims=True) + 1e-5) * gamma + beta


def _instance_norm(x, gamma, beta):  # type: ignore[no-untyped-def]
    mean = x.mean(axis=(2, 3), keepdims=True)
    var = x.var(axis=(2, 3), keepdims=True)
    return (x - mean) / np.sqrt(var + 1e-3) * _per_channel(gamma) + _per_channel(beta)


def _l2(axes: tuple) -> object:
    return lambda x: x / np.sqrt((x * x).sum(axis=axes, keepdims=True) + 1e-10)


def _lrn(x, nsize: int = 5, alpha: float = 1e-4, beta: float = 0.75, knorm: float = 2.0):  # type: ignore[no-untyped-def]
    half = (nsize - 1) // 2
    padded = np.pad(x * x, ((0, 0), (half, half), (0, 0), (0, 0)))
    total = sum(padded[:, i:i + x.shape[1]] for i in range(2 * half + 1))
    return x / (knorm + alpha / nsize * total) ** beta


def _dropout(x):  # type: ignore[no-untyped-def]
    return x * (np.random.random(x.shape) >= 0.5) / 0.5


CASES = [
    {"op": "BatchNorm", "params": {"fix_gamma": False},
     "inputs": [IMAGE, CHANNELS, CHANNELS, CHANNELS, CHANNELS], "naive": _batch_norm},
    {"op": "LayerNorm", "params": {}, "inputs": [(32, 128, 256), (256,), (256,)],
     "naive": _layer_norm},
    {"op": "InstanceNorm", "params": {}, "inputs": [IMAGE, CHANNELS, CHANNELS],
     "naive": _instance_norm},
    {"op": "L2Normalization", "params": {}, "inputs": [MATRIX], "naive": _l2((1,))},
    {"op": "L2Normalization", "params": {"mode": "channel"}, "inputs": [IMAGE],
     "naive": _l2((1,))},
    {"op": "LRN", "params": {"nsize": 5}, "inputs": [IMAGE], "naive": _lrn},
    {"op": "Dropout", "params": {"mode": "always"}, "inputs": [MATRIX], "naive": _dropout},
    {"op": "LeakyReLU", "params": {}, "inputs": [MATRIX],
     "naive": lambda x: np.where(x > 0, x, 0.25 * x)},
    {"op": "LeakyReLU", "params": {"act_type": "prelu"}, "inputs": [IMAGE, CHANNELS],
     "naive": lambda x, g: np.where(x > 0, x, _per_channel(g) * x)},
    {"op": "LeakyReLU", "params": {"act_type": "elu"}, "inputs": [MATRIX],
     "naive": lambda x: np.where(x > 0, x, 0.25 * np.expm1(x))},
    {"op": "LeakyReLU", "params": {"act_type": "selu"}, "inputs": [MATRIX],
     "naive": lambda x: _SELU_LAMBDA * np.where(x > 0, x, _SELU_ALPHA * np.expm1(x))},
    {"op": "LeakyReLU", "params": {"act_type": "gelu"}, "inputs": [MATRIX],
     "naive": lambda x: 0.5 * x * (1 + _erf(x / math.sqrt(2)))},
    {"op": "LeakyReLU", "params": {"act_type": "rrelu"}, "inputs": [MATRIX],
     "naive": lambda x: np.where(x > 0, x, 0.2295 * x)},
    {"op": "Embedding", "params": {"input_dim": 10000, "output_dim": 128},
     "inputs": [(64, 35), (10000, 128)],
     "naive": lambda idx, w: w[np.clip(idx.astype(np.int64), 0, w.shape[0] - 1)]},
]

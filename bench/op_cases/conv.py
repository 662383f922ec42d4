"""Benchmark cases: Convolution, Deconvolution, Pooling, UpSampling (LeNet-sized, batch 64)."""

from __future__ import annotations

import numpy as np


def _naive_conv(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int = 1,
                pad: int = 0) -> np.ndarray:
    """2-D convolution as a sum over kernel offsets of strided slices times the weight."""
    xp = np.pad(x, [(0, 0), (0, 0), (pad, pad), (pad, pad)])
    kh, kw = w.shape[2:]
    oh = (xp.shape[2] - kh) // stride + 1
    ow = (xp.shape[3] - kw) // stride + 1
    out = np.zeros((x.shape[0], w.shape[0], oh, ow), x.dtype)
    for i in range(kh):
        for j in range(kw):
            patch = xp[:, :, i:i + stride * oh:stride, j:j + stride * ow:stride]
            out += np.einsum("nchw,fc->nfhw", patch, w[:, :, i, j])
    return out + b[None, :, None, None]


def _naive_deconv(x: np.ndarray, w: np.ndarray, stride: int = 2, pad: int = 1,
                  adj: int = 1) -> np.ndarray:
    """Transposed 2-D convolution: scatter ``x * w`` for every kernel offset, then crop."""
    kh, kw = w.shape[2:]
    h, wd = x.shape[2:]
    full = np.zeros((x.shape[0], w.shape[1], stride * (h - 1) + kh + adj,
                     stride * (wd - 1) + kw + adj), x.dtype)
    for i in range(kh):
        for j in range(kw):
            full[:, :, i:i + stride * h:stride, j:j + stride * wd:stride] += np.einsum(
                "nchw,cf->nfhw", x, w[:, :, i, j])
    oh = stride * (h - 1) + kh - 2 * pad + adj
    ow = stride * (wd - 1) + kw - 2 * pad + adj
    return full[:, :, pad:pad + oh, pad:pad + ow]


def _naive_max_pool(x: np.ndarray, k: int = 2, s: int = 2) -> np.ndarray:
    n, c, h, w = x.shape
    oh, ow = (h - k) // s + 1, (w - k) // s + 1
    return np.max([x[:, :, i:i + s * oh:s, j:j + s * ow:s] for i in range(k) for j in range(k)],
                  axis=0)


def _naive_avg_pool_padded(x: np.ndarray, k: int = 3, s: int = 2, p: int = 1) -> np.ndarray:
    """Average pooling, 'valid' convention, padding counted (MXNet's default)."""
    xp = np.pad(x, [(0, 0), (0, 0), (p, p), (p, p)])
    oh, ow = (xp.shape[2] - k) // s + 1, (xp.shape[3] - k) // s + 1
    return np.mean([xp[:, :, i:i + s * oh:s, j:j + s * ow:s] for i in range(k) for j in range(k)],
                   axis=0)


CASES = [
    {"op": "Convolution", "params": {"kernel": (5, 5), "num_filter": 20},
     "inputs": [(64, 1, 28, 28), (20, 1, 5, 5), (20,)],
     "naive": lambda x, w, b: _naive_conv(x, w, b)},
    {"op": "Convolution", "params": {"kernel": (5, 5), "num_filter": 50},
     "inputs": [(64, 20, 12, 12), (50, 20, 5, 5), (50,)],
     "naive": lambda x, w, b: _naive_conv(x, w, b)},
    {"op": "Convolution", "params": {"kernel": (3, 3), "num_filter": 32, "pad": (1, 1),
                                     "stride": (2, 2)},
     "inputs": [(32, 16, 32, 32), (32, 16, 3, 3), (32,)],
     "naive": lambda x, w, b: _naive_conv(x, w, b, stride=2, pad=1)},
    {"op": "Deconvolution", "params": {"kernel": (3, 3), "num_filter": 16, "stride": (2, 2),
                                       "pad": (1, 1), "adj": (1, 1)},
     "inputs": [(32, 32, 16, 16), (32, 16, 3, 3)],
     "naive": lambda x, w: _naive_deconv(x, w)},
    {"op": "Pooling", "params": {"kernel": (2, 2), "stride": (2, 2), "pool_type": "max"},
     "inputs": [(64, 20, 24, 24)],
     "naive": lambda x: _naive_max_pool(x)},
    {"op": "Pooling", "params": {"kernel": (3, 3), "stride": (2, 2), "pad": (1, 1),
                                 "pool_type": "avg"},
     "inputs": [(32, 32, 32, 32)],
     "naive": lambda x: _naive_avg_pool_padded(x)},
    {"op": "UpSampling", "params": {"scale": 2, "sample_type": "nearest", "num_args": 1},
     "inputs": [(32, 16, 32, 32)],
     "naive": lambda x: np.repeat(np.repeat(x, 2, axis=2), 2, axis=3)},
]

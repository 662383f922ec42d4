"""scikit-learn's bundled 8x8 digits (1797 images, offline) as mxlite data iterators."""

from __future__ import annotations

import mxlite as mx
import numpy as np


def digits_iters(batch_size: int, seed: int, image: bool = False
                 ) -> tuple[mx.io.NDArrayIter, mx.io.NDArrayIter]:
    """Shuffled 80/20 train/test split, pixels standardised; ``image`` gives (N, 1, 8, 8)."""
    from sklearn.datasets import load_digits
    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    x = (x - x.mean(axis=0)) / (x.std(axis=0) + 0.1)  # per-pixel standardisation
    if image:
        x = x.reshape(-1, 1, 8, 8)
    y = digits.target.astype(np.float32)
    order = np.random.default_rng(seed).permutation(len(x))
    split = int(0.8 * len(x))
    train, test = order[:split], order[split:]
    return (mx.io.NDArrayIter(x[train], y[train], batch_size, shuffle=True),
            mx.io.NDArrayIter(x[test], y[test], batch_size))

"""A faster forward kernel for the built-in ``Activation``, under the backend ``example``.

``sigmoid`` is computed as ``(1 + tanh(x / 2)) / 2`` and ``softrelu`` as
``max(x, 0) + log1p(exp(-|x|))``, both several times faster than the reference kernels in
numpy; the other activation types call the reference kernel. There is no backward: the
executor takes it from the next backend in ``backends.order`` (numpy).
"""

from __future__ import annotations

import numpy as np
from mxlite.registry import Kernel

BACKEND = "example"


def fast_activation(builtin: Kernel) -> Kernel:
    def forward(p, ins, outs, aux, is_train):  # type: ignore[no-untyped-def]
        x, y = ins[0], outs[0]  # y may be x: Activation allows in-place
        if p.act_type == "sigmoid":
            np.multiply(x, 0.5, out=y)
            np.tanh(y, out=y)
            y *= 0.5
            y += 0.5
        elif p.act_type == "softrelu":
            positive = np.maximum(x, 0)
            np.abs(x, out=y)
            np.negative(y, out=y)
            np.exp(y, out=y)
            np.log1p(y, out=y)
            y += positive
        else:
            builtin.forward(p, ins, outs, aux, is_train)

    return Kernel(forward, dtypes=frozenset({np.dtype(np.float32), np.dtype(np.float64)}))

"""Benchmark cases for the fused ``RNN`` operator (TNC layout, packed parameter vector)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

_GATES = {"lstm": 4, "gru": 3, "rnn_tanh": 1, "rnn_relu": 1}


def _size(mode: str, n_in: int, hidden: int, layers: int, dirs: int) -> int:
    gh = _GATES[mode] * hidden
    return sum(dirs * gh * ((n_in if k == 0 else dirs * hidden) + hidden + 2)
               for k in range(layers))


def _unpack(vec: np.ndarray, mode: str, n_in: int, hidden: int, layers: int, dirs: int) -> list:
    gh, pos, mats = _GATES[mode] * hidden, 0, []
    for k in range(layers):
        width = n_in if k == 0 else dirs * hidden
        for _ in range(dirs):
            wi = vec[pos:pos + gh * width].reshape(gh, width)
            pos += gh * width
            mats.append([wi, vec[pos:pos + gh * hidden].reshape(gh, hidden)])
            pos += gh * hidden
    for m in mats:
        m += [vec[pos:pos + gh], vec[pos + gh:pos + 2 * gh]]
        pos += 2 * gh
    return mats


def _step(mode: str, x, h, c, wi, wh, bi, bh):  # type: ignore[no-untyped-def]
    k = h.shape[1]
    xi, hh = x @ wi.T + bi, h @ wh.T + bh
    sig = lambda v: 1 / (1 + np.exp(-v))
    if mode == "lstm":
        a = xi + hh
        c = sig(a[:, k:2 * k]) * c + sig(a[:, :k]) * np.tanh(a[:, 2 * k:3 * k])
        return sig(a[:, 3 * k:]) * np.tanh(c), c
    if mode == "gru":
        r, z = sig(xi[:, :k] + hh[:, :k]), sig(xi[:, k:2 * k] + hh[:, k:2 * k])
        n = np.tanh(xi[:, 2 * k:] + r * hh[:, 2 * k:])
        return (1 - z) * n + z * h, c
    a = xi + hh
    return (np.tanh(a) if mode == "rnn_tanh" else np.maximum(a, 0)), c


def _naive(mode: str, hidden: int, layers: int, dirs: int) -> Callable[..., np.ndarray]:
    def run(x, vec, h0, c0=None):  # type: ignore[no-untyped-def]
        mats = _unpack(vec, mode, x.shape[2], hidden, layers, dirs)
        inp = x
        for k in range(layers):
            outs = []
            for d in range(dirs):
                j = k * dirs + d
                h, c = h0[j], (c0[j] if c0 is not None else None)
                seq = [None] * len(x)
                for t in (range(len(x)) if d == 0 else reversed(range(len(x)))):
                    h, c = _step(mode, inp[t], h, c, *mats[j])
                    seq[t] = h
                outs.append(np.stack(seq))
            inp = np.concatenate(outs, axis=-1)
        return inp
    return run


def _case(mode: str, seq: int, batch: int, n_in: int, hidden: int, layers: int,
          bidirectional: bool) -> dict:
    dirs = 2 if bidirectional else 1
    state = (layers * dirs, batch, hidden)
    inputs = [(seq, batch, n_in), (_size(mode, n_in, hidden, layers, dirs),), state]
    if mode == "lstm":
        inputs.append(state)
    return {"op": "RNN",
            "params": {"state_size": hidden, "num_layers": layers, "mode": mode,
                       "bidirectional": bidirectional},
            "inputs": inputs, "naive": _naive(mode, hidden, layers, dirs)}


CASES = [
    _case("lstm", 20, 32, 64, 64, 1, False),
    _case("lstm", 20, 32, 64, 64, 2, True),
    _case("gru", 20, 32, 64, 64, 1, False),
    _case("rnn_tanh", 20, 32, 64, 64, 1, False),
]

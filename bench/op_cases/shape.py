"""Benchmark cases: shape, indexing, ordering and gradient-flow operators (shape_ops.py,
indexing.py, special.py). Each ``naive`` is a plain numpy version of the forward (visible
outputs). Index inputs arrive as floats in [0.1, 0.9]: they truncate to index 0, which is fine
for timing."""

from __future__ import annotations

import numpy as np

BATCH = (64, 256)
IMAGE = (32, 16, 16, 16)
SEQ = (20, 32, 64)  # (time, batch, features)


def _case(op: str, inputs: list, naive, **params) -> dict:  # type: ignore[no-untyped-def]
    return {"op": op, "params": params, "inputs": inputs, "naive": naive}


def _idx(a: np.ndarray) -> np.ndarray:
    return a.astype(np.intp)


def _pick(x: np.ndarray, i: np.ndarray) -> np.ndarray:
    idx = np.clip(_idx(i), 0, x.shape[-1] - 1)
    return np.array([x[r, idx[r]] for r in range(x.shape[0])])


def _one_hot(i: np.ndarray, depth: int = 32) -> np.ndarray:
    return (np.arange(depth) == _idx(i)[..., None]).astype(np.float32)


def _sequence_mask(x: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    out = x.copy()
    for b, n in enumerate(_idx(lengths)):
        out[max(n, 0):, b] = 0
    return out


def _topk(x: np.ndarray, k: int = 5) -> np.ndarray:
    return -np.sort(-x, axis=-1)[:, :k]


CASES = [
    _case("Flatten", [IMAGE], lambda x: x.reshape(x.shape[0], -1).copy()),
    _case("Reshape", [IMAGE], lambda x: x.reshape(32, 16, -1).copy(), shape=(0, 0, -1)),
    _case("Concat", [BATCH, BATCH, BATCH], lambda *xs: np.concatenate(xs, axis=1), num_args=3),
    _case("stack", [BATCH, BATCH], lambda a, b: np.stack([a, b], axis=1), num_args=2, axis=1),
    _case("SliceChannel", [BATCH], lambda x: [p.copy() for p in np.split(x, 4, axis=1)],
          num_outputs=4),
    _case("Cast", [BATCH], lambda x: x.astype(np.float64), dtype="float64"),
    _case("BlockGrad", [BATCH], lambda x: x.copy()),
    _case("_copy", [BATCH], lambda x: x.copy()),
    _case("MakeLoss", [BATCH], lambda x: x.copy()),
    _case("add_n", [BATCH, BATCH, BATCH], lambda a, b, c: a + b + c, num_args=3),
    _case("transpose", [IMAGE], lambda x: np.ascontiguousarray(x.transpose(0, 2, 3, 1)),
          axes=(0, 2, 3, 1)),
    _case("expand_dims", [BATCH], lambda x: x[:, None].copy(), axis=1),
    _case("squeeze", [(64, 1, 256)], lambda x: x[:, 0].copy()),
    _case("SwapAxis", [IMAGE], lambda x: np.ascontiguousarray(x.swapaxes(1, 3)), dim1=1,
          dim2=3),
    _case("reverse", [IMAGE], lambda x: x[:, :, ::-1, ::-1].copy(), axis=(2, 3)),
    _case("tile", [BATCH], lambda x: np.tile(x, (2, 3)), reps=(2, 3)),
    _case("repeat", [BATCH], lambda x: np.repeat(x, 3, axis=1), repeats=3, axis=1),
    _case("Pad", [IMAGE], lambda x: np.pad(x, ((0, 0), (0, 0), (2, 2), (2, 2))),
          mode="constant", pad_width=(0, 0, 0, 0, 2, 2, 2, 2)),
    _case("Pad", [IMAGE], lambda x: np.pad(x, ((0, 0), (0, 0), (2, 2), (2, 2)), mode="reflect"),
          mode="reflect", pad_width=(0, 0, 0, 0, 2, 2, 2, 2)),
    _case("broadcast_to", [(64, 1)], lambda x: np.broadcast_to(x, BATCH).copy(),
          shape=(0, 256)),
    _case("broadcast_like", [(64, 1), BATCH], lambda a, b: np.broadcast_to(a, b.shape).copy()),
    _case("zeros_like", [BATCH], np.zeros_like),
    _case("ones_like", [BATCH], np.ones_like),
    _case("slice", [IMAGE], lambda x: x[:, 2:14, ::2].copy(), begin=(None, 2, None),
          end=(None, 14, None), step=(None, None, 2)),
    _case("slice_axis", [IMAGE], lambda x: x[:, :, 4:12].copy(), axis=2, begin=4, end=12),
    _case("take", [(1000, 64), (64, 8)], lambda a, i: a[np.clip(_idx(i), 0, 999)]),
    _case("pick", [BATCH, (64,)], _pick),
    _case("one_hot", [(64, 16)], _one_hot, depth=32),
    _case("where", [BATCH, BATCH, BATCH], lambda c, x, y: np.where(c != 0, x, y)),
    _case("SequenceMask", [SEQ, (32,)], _sequence_mask, use_sequence_length=True),
    _case("topk", [BATCH], _topk, k=5, ret_typ="value"),
    _case("sort", [BATCH], lambda x: np.sort(x, axis=-1)),
    _case("argsort", [BATCH], lambda x: np.argsort(x, axis=-1).astype(np.float32)),
    _case("argmax", [BATCH], lambda x: np.argmax(x, axis=1).astype(x.dtype), axis=1),
    _case("argmin", [BATCH], lambda x: np.argmin(x, axis=1).astype(x.dtype), axis=1),
]

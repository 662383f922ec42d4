"""Fused recurrent layers: MXNet's ``RNN`` operator (lstm, gru, rnn_relu, rnn_tanh).

Layout is TNC: ``data`` is (seq_len, batch, input_size). ``parameters`` is one 1-D vector packed
as MXNet (and cuDNN) pack it: first every weight, layer by layer and within a layer direction by
direction (forward, then backward), each as ``W_i2h`` (gates*H, in) then ``W_h2h`` (gates*H, H);
then every bias in the same order, ``b_i2h`` (gates*H) then ``b_h2h`` (gates*H). Gate order is
LSTM ``i, f, g, o`` and GRU ``r, z, n`` with cuDNN's ``n = tanh(W_in x + b_in + r*(W_hn h + b_hn))``
and ``h' = (1-z)*n + z*h``.

Forward saves what backward-through-time needs in hidden outputs: ``hiddens`` (every layer's
hidden state per step, (L, T, N, D*H)), ``gates`` (activated gates per step; GRU also keeps
``W_hn h + b_hn``), ``cells`` (LSTM cell state per step) and ``dropout_mask`` (between layers).

``use_sequence_length`` and ``lstm_state_clip_*`` follow the cuDNN semantics MXNet documents
(MXNet 1.9.1's CPU build ignores them or refuses them): steps at or past a sequence's length
leave the state unchanged and give zero output, the reverse direction starts at the last valid
step, and the LSTM cell state is clipped to [min, max] before ``h = o*tanh(c)`` (its gradient is 0
where clipped). With ``lstm_state_clip_nan`` a NaN cell state becomes ``lstm_state_clip_min``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from mxlite.base import MXNetValueError
from mxlite.inference import ShapeError
from mxlite.random import generator
from mxlite.registry import Kernel, OpDef, Param, Params

#: gates per mode (the rows of W_i2h and W_h2h are gates*state_size)
GATES = {"gru": 3, "lstm": 4, "rnn_relu": 1, "rnn_tanh": 1}


def param_size(mode: str, input_size: int, state_size: int, num_layers: int,
               directions: int) -> int:
    """Length of the packed parameter vector (no projection)."""
    gh = GATES[mode] * state_size
    total = 0
    for layer in range(num_layers):
        n_in = input_size if layer == 0 else directions * state_size
        total += directions * gh * (n_in + state_size + 2)
    return total


# -- names -----------------------------------------------------------------------------------
def _input_names(p: Params) -> list[str]:
    names = ["data", "parameters", "state"]
    if p.mode == "lstm":
        names.append("state_cell")
    if p.use_sequence_length:
        names.append("sequence_length")
    return names


def _output_names(p: Params) -> list[str]:
    names = ["output", "state_output"]
    if p.mode == "lstm":
        names.append("statecell_output")
    if p.mode in ("lstm", "gru"):
        names.append("gates")
    names.append("hiddens")
    if p.mode == "lstm":
        names.append("cells")
    if _has_dropout(p):
        names.append("dropout_mask")
    return names


def _num_visible(p: Params) -> int:
    if not p.state_outputs:
        return 1
    return 3 if p.mode == "lstm" else 2


def _has_dropout(p: Params) -> bool:
    return p.p > 0 and p.num_layers > 1


# -- shape and type rules --------------------------------------------------------------------
def _dim(shape: Any, axis: int) -> int:
    return int(shape[axis]) if shape is not None and len(shape) > axis else 0


def _partial(*dims: int) -> tuple | None:
    return tuple(dims) if any(dims) else None


def _check_rank(name: str, shape: Any, rank: int, layout: str) -> None:
    if shape is not None and len(shape) != rank:
        raise ShapeError(f"RNN {name} must be {rank}-D {layout}, got {tuple(shape)}")


def _input_size_from(p: Params, params_shape: Any) -> int:
    """The input size that a known parameter-vector length implies (0 if unknown)."""
    if params_shape is None or len(params_shape) != 1 or not params_shape[0]:
        return 0
    d, h = 2 if p.bidirectional else 1, p.state_size
    rest = param_size(p.mode, 1, h, p.num_layers, d) - param_size(p.mode, 1, h, 1, d)
    per_input = d * GATES[p.mode] * h
    first = int(params_shape[0]) - rest
    if first <= 0 or first % per_input or first // per_input - h - 2 <= 0:
        raise ShapeError(f"RNN parameters has {params_shape[0]} elements, which fits no input "
                         f"size for mode={p.mode}, state_size={h}, num_layers={p.num_layers}, "
                         f"bidirectional={p.bidirectional}")
    return first // per_input - h - 2


def _check_clip(p: Params) -> None:
    if (p.lstm_state_clip_min is None) != (p.lstm_state_clip_max is None):
        raise ShapeError("lstm_state_clip_min and lstm_state_clip_max must be given together")
    if p.lstm_state_clip_min is not None and p.lstm_state_clip_min > p.lstm_state_clip_max:
        raise ShapeError(f"lstm_state_clip_min={p.lstm_state_clip_min} is greater than "
                         f"lstm_state_clip_max={p.lstm_state_clip_max}")


def _rnn_shape(p: Params, ins: list, outs: list, aux: list):
    _check_clip(p)
    slot = dict(zip(_input_names(p), ins))
    data, out = slot["data"], outs[0]
    _check_rank("data", data, 3, "(seq_len, batch, input_size)")
    _check_rank("output", out, 3, "(seq_len, batch, directions*state_size)")
    d, h, layers = 2 if p.bidirectional else 1, p.state_size, p.num_layers
    states = [slot["state"], slot.get("state_cell"), outs[1]]
    for shape in states:
        _check_rank("state", shape, 3, "(num_layers*directions, batch, state_size)")
    t = _dim(data, 0) or _dim(out, 0)
    n = (_dim(data, 1) or _dim(out, 1) or next((_dim(s, 1) for s in states if _dim(s, 1)), 0)
         or _dim(slot.get("sequence_length"), 0))
    i = _dim(data, 2) or _input_size_from(p, slot["parameters"])
    state = (layers * d, n, h)
    new_ins = {"data": _partial(t, n, i), "state": state, "state_cell": state,
               "sequence_length": _partial(n),
               "parameters": (param_size(p.mode, i, h, layers, d),) if i else slot["parameters"]}
    new_outs = {"output": _partial(t, n, d * h), "state_output": state, "statecell_output": state,
                "gates": _partial(layers, d, t, n, 4 * h),
                "hiddens": _partial(layers, t, n, d * h), "cells": _partial(layers, d, t, n, h),
                "dropout_mask": _partial(layers - 1, t, n, d * h)}
    return ([new_ins[k] for k in _input_names(p)], [new_outs[k] for k in _output_names(p)], aux)


def _rnn_type(p: Params, ins: list, outs: list, aux: list):
    """One float dtype everywhere, except ``sequence_length``, which may be an integer type."""
    names = _input_names(p)
    floats = [t for k, t in zip(names, ins) if k != "sequence_length"] + list(outs)
    known = next((t for t in floats if t is not None), None)
    if known is None:
        return ins, outs, aux
    new_ins = [t if k == "sequence_length" and t is not None else known
               for k, t in zip(names, ins)]
    return new_ins, [known] * len(outs), aux


# -- one call's view of the arrays -----------------------------------------------------------
@dataclass
class _Run:
    """Sizes, parameter views and saved-state buffers of one forward or backward call."""

    mode: str
    t: int
    n: int
    h: int
    layers: int
    dirs: int
    weights: list  # [layer][direction] -> (W_i2h, W_h2h, b_i2h, b_h2h) views
    h0: np.ndarray
    c0: np.ndarray | None
    hiddens: np.ndarray  # (L, T, N, D*H)
    gates: np.ndarray | None  # (L, D, T, N, 4H)
    cells: np.ndarray | None  # (L, D, T, N, H)
    mask: np.ndarray | None  # (L-1, T, N, D*H)
    keep: np.ndarray | None  # (T, N, 1) 1.0 on valid steps, 0.0 on padding
    pad: np.ndarray | None  # (T, N, 1) bool, True on padding
    clip: tuple | None  # (min, max, nan)

    @property
    def gh(self) -> int:
        return GATES[self.mode] * self.h

    def h_view(self, layer: int, d: int) -> np.ndarray:
        """(T, N, H) view of one direction's hidden states in ``hiddens``."""
        return self.hiddens[layer][..., d * self.h:(d + 1) * self.h]

    def order(self, d: int) -> range:
        return range(self.t) if d == 0 else range(self.t - 1, -1, -1)

    def prev(self, d: int, t: int) -> int | None:
        """The step whose state feeds step ``t`` (None: the initial state)."""
        s = t - 1 if d == 0 else t + 1
        return s if 0 <= s < self.t else None

    def prev_hidden(self, layer: int, d: int) -> np.ndarray:
        """Contiguous (T, N, H) array of the hidden state entering every step."""
        h_all = self.h_view(layer, d)
        out = np.empty(h_all.shape, h_all.dtype)
        k = layer * self.dirs + d
        if d == 0:
            out[1:] = h_all[:-1]
            out[0] = self.h0[k]
        else:
            out[:-1] = h_all[1:]
            out[-1] = self.h0[k]
        return out


def _param_views(mode: str, vec: np.ndarray, input_size: int, h: int, layers: int,
                 dirs: int) -> list:
    """Views (W_i2h, W_h2h, b_i2h, b_h2h) per layer and direction, in MXNet's packing order."""
    gh = GATES[mode] * h
    pos = 0

    def take(*shape: int) -> np.ndarray:
        nonlocal pos
        size = int(np.prod(shape))
        view = vec[pos:pos + size].reshape(shape)
        pos += size
        return view

    mats = [[(take(gh, input_size if layer == 0 else dirs * h), take(gh, h)) for _ in range(dirs)]
            for layer in range(layers)]
    return [[(*mats[layer][d], take(gh), take(gh)) for d in range(dirs)]
            for layer in range(layers)]


def _make_run(p: Params, ins: list, outs: list) -> _Run:
    data = ins[0]
    t, n, i = data.shape
    dirs = 2 if p.bidirectional else 1
    got = dict(zip(_input_names(p), ins))
    out = dict(zip(_output_names(p), outs))
    expected = param_size(p.mode, i, p.state_size, p.num_layers, dirs)
    if got["parameters"].size != expected:
        raise MXNetValueError(f"RNN parameters has {got['parameters'].size} elements, expected "
                              f"{expected}")
    keep, pad = _length_masks(got.get("sequence_length"), t, data.dtype)
    clip = None
    if p.mode == "lstm" and p.lstm_state_clip_min is not None:
        clip = (p.lstm_state_clip_min, p.lstm_state_clip_max, p.lstm_state_clip_nan)
    return _Run(p.mode, t, n, p.state_size, p.num_layers, dirs,
                _param_views(p.mode, got["parameters"], i, p.state_size, p.num_layers, dirs),
                got["state"], got.get("state_cell"), out["hiddens"], out.get("gates"),
                out.get("cells"), out.get("dropout_mask"), keep, pad, clip)


def _length_masks(lengths: np.ndarray | None, t: int, dtype: Any) -> tuple:
    if lengths is None:
        return None, None
    steps = np.asarray(lengths).astype(np.int64)
    if np.any(steps < 0) or np.any(steps > t):
        raise MXNetValueError(f"RNN sequence_length values must be in [0, {t}], got "
                              f"{np.asarray(lengths).tolist()}")
    pad = (np.arange(t)[:, None] >= steps[None, :])[:, :, None]
    return (~pad).astype(dtype), pad


# -- small in-place helpers ------------------------------------------------------------------
def _times_sigmoid_grad(out: np.ndarray, y: np.ndarray, tmp: np.ndarray) -> None:
    """``out *= y * (1 - y)`` for a sigmoid output ``y``."""
    np.subtract(1, y, out=tmp)
    tmp *= y
    out *= tmp


def _times_tanh_grad(out: np.ndarray, y: np.ndarray, tmp: np.ndarray) -> None:
    """``out *= 1 - y**2`` for a tanh output ``y``."""
    np.square(y, out=tmp)
    np.subtract(1, tmp, out=tmp)
    out *= tmp


def _project(inp: np.ndarray, w: np.ndarray, out2d: np.ndarray) -> None:
    """Input-to-hidden product for every step at once: (T*N, in) @ W.T."""
    np.matmul(inp.reshape(-1, inp.shape[-1]), w.T, out=out2d)


def _clip_cell(run: _Run, c: np.ndarray) -> None:
    if run.clip is None:
        return
    low, high, stop_nan = run.clip
    if stop_nan:
        np.fmax(c, low, out=c)
        np.fmin(c, high, out=c)
    else:
        np.clip(c, low, high, out=c)


def _hold_padding(run: _Run, t: int, new: np.ndarray, old: np.ndarray) -> None:
    """Past a sequence's end the state stays what it was."""
    if run.pad is not None:
        np.copyto(new, old, where=run.pad[t])


# -- forward ---------------------------------------------------------------------------------
def _lstm_forward(run: _Run, layer: int, d: int, inp: np.ndarray) -> None:
    h, k = run.h, layer * run.dirs + d
    wi, wh, bi, bh = run.weights[layer][d]
    # one bias; the i, f and o rows halved, so that one tanh pass serves every gate
    wi, wh, bias = _halved(wi, wh, bi + bh, (slice(0, 2 * h), slice(3 * h, 4 * h)))
    gates, cells, h_all = run.gates[layer, d], run.cells[layer, d], run.h_view(layer, d)
    _project(inp, wi, gates.reshape(-1, 4 * h))
    gates += bias
    scratch = np.empty((run.n, 4 * h), gates.dtype)
    h_prev, c_prev = run.h0[k], run.c0[k]
    for t in run.order(d):
        a = gates[t]  # columns: i, f (halved), g, o (halved)
        np.matmul(h_prev, wh.T, out=scratch)
        a += scratch
        np.tanh(a, out=a)
        _sigmoid_from_tanh(a[:, :2 * h])
        _sigmoid_from_tanh(a[:, 3 * h:])
        c, tmp = cells[t], scratch[:, :h]
        np.multiply(a[:, h:2 * h], c_prev, out=c)
        np.multiply(a[:, :h], a[:, 2 * h:3 * h], out=tmp)
        c += tmp
        _clip_cell(run, c)
        np.tanh(c, out=h_all[t])
        h_all[t] *= a[:, 3 * h:]
        _hold_padding(run, t, h_all[t], h_prev)
        _hold_padding(run, t, c, c_prev)
        h_prev, c_prev = h_all[t], c


def _sigmoid_from_tanh(x: np.ndarray) -> None:
    """In place: ``tanh(v / 2)`` becomes ``sigmoid(v)`` (sigmoid through tanh: large inputs
    do not overflow)."""
    x *= 0.5
    x += 0.5


def _halved(wi: np.ndarray, wh: np.ndarray, bias: np.ndarray, rows: tuple[slice, ...]
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Copies of the weights with the sigmoid gates' ``rows`` halved, and ``bias`` (a fresh
    array) halved alike in place: those gates' pre-activations then come out halved, the form
    the tanh-based sigmoid ``sigmoid(v) = tanh(v/2)/2 + 1/2`` needs (halving is exact in binary
    floating point)."""
    wi2, wh2 = wi.copy(), wh.copy()
    for r in rows:
        wi2[r] *= 0.5
        wh2[r] *= 0.5
        bias[r] *= 0.5
    return wi2, wh2, bias


def _gru_forward(run: _Run, layer: int, d: int, inp: np.ndarray) -> None:
    h = run.h
    wi, wh, bi, bh = run.weights[layer][d]
    bias = bi.copy()  # the input bias plus the r and z parts of the hidden bias
    bias[:2 * h] += bh[:2 * h]
    wi, wh, bias = _halved(wi, wh, bias, (slice(0, 2 * h),))
    gates, h_all = run.gates[layer, d], run.h_view(layer, d)
    _project(inp, wi, gates.reshape(-1, 4 * h)[:, :3 * h])
    gates[..., :3 * h] += bias
    scratch = np.empty((run.n, 3 * h), gates.dtype)
    h_prev = run.h0[layer * run.dirs + d]
    for t in run.order(d):
        a = gates[t]  # columns: r, z, n, W_hn h + b_hn
        np.matmul(h_prev, wh.T, out=scratch)
        rz = a[:, :2 * h]
        rz += scratch[:, :2 * h]  # half the r and z pre-activations
        np.tanh(rz, out=rz)
        _sigmoid_from_tanh(rz)
        np.add(scratch[:, 2 * h:], bh[2 * h:], out=a[:, 3 * h:])
        n_gate, tmp = a[:, 2 * h:3 * h], scratch[:, :h]
        np.multiply(a[:, :h], a[:, 3 * h:], out=tmp)
        n_gate += tmp
        np.tanh(n_gate, out=n_gate)
        out = h_all[t]
        np.subtract(h_prev, n_gate, out=out)
        out *= a[:, h:2 * h]
        out += n_gate
        _hold_padding(run, t, out, h_prev)
        h_prev = out


def _plain_forward(run: _Run, layer: int, d: int, inp: np.ndarray) -> None:
    """rnn_tanh / rnn_relu: the pre-activation is built in place in ``hiddens``."""
    h = run.h
    wi, wh, bi, bh = run.weights[layer][d]
    h_all = run.h_view(layer, d)
    _project(inp, wi, run.hiddens[layer].reshape(-1, run.dirs * h)[:, d * h:(d + 1) * h])
    h_all += bi
    h_all += bh
    scratch = np.empty((run.n, h), h_all.dtype)
    h_prev = run.h0[layer * run.dirs + d]
    for t in run.order(d):
        a = h_all[t]
        np.matmul(h_prev, wh.T, out=scratch)
        a += scratch
        if run.mode == "rnn_tanh":
            np.tanh(a, out=a)
        else:
            np.maximum(a, 0, out=a)
        _hold_padding(run, t, a, h_prev)
        h_prev = a


_FORWARD: dict[str, Callable[[_Run, int, int, np.ndarray], None]] = {
    "lstm": _lstm_forward, "gru": _gru_forward,
    "rnn_tanh": _plain_forward, "rnn_relu": _plain_forward}


def _draw_mask(mask: np.ndarray, rate: float) -> None:
    """Inverted dropout mask: 0 with probability ``rate``, else ``1/(1-rate)``."""
    rng = generator()
    if mask.dtype in (np.float32, np.float64):
        rng.random(dtype=mask.dtype, out=mask)
    else:
        mask[...] = rng.random(mask.shape)
    np.greater_equal(mask, rate, out=mask)
    mask *= 0.0 if rate >= 1 else 1.0 / (1.0 - rate)


def _layer_input(run: _Run, layer: int) -> np.ndarray:
    """The input of a layer above the first: the layer below's output, times its dropout mask."""
    below = run.hiddens[layer - 1]
    if run.mask is None:
        return below
    return below * run.mask[layer - 1]


def _rnn_forward(p: Params, ins: list, outs: list, aux: list, is_train: bool) -> None:
    run = _make_run(p, ins, outs)
    if run.mask is not None:
        if is_train:
            _draw_mask(run.mask, p.p)
        else:
            run.mask.fill(1)
    step = _FORWARD[p.mode]
    for layer in range(run.layers):
        inp = ins[0] if layer == 0 else _layer_input(run, layer)
        for d in range(run.dirs):
            step(run, layer, d, inp)
    _final_states(run, outs)


def _final_states(run: _Run, outs: list) -> None:
    """Write ``output`` (zero on padding) and the last state of every layer and direction."""
    top = run.hiddens[-1]
    if run.keep is None:
        np.copyto(outs[0], top)
    else:
        np.multiply(top, run.keep, out=outs[0])
    for layer in range(run.layers):
        for d in range(run.dirs):
            k, last = layer * run.dirs + d, (run.t - 1 if d == 0 else 0)
            np.copyto(outs[1][k], run.h_view(layer, d)[last])
            if run.mode == "lstm":
                np.copyto(outs[2][k], run.cells[layer, d, last])


# -- backward --------------------------------------------------------------------------------
@dataclass
class _Grads:
    """Where gradients go (scratch when the caller asked for none) and the state head grads."""

    weights: list  # [layer][direction] -> views into the parameter gradient
    dh0: np.ndarray
    dc0: np.ndarray | None
    dhy: np.ndarray | None
    dcy: np.ndarray | None

    def start(self, k: int, lstm: bool) -> tuple:
        """Gradients flowing into the last step: from the ``state``/``statecell`` outputs."""
        dh = self.dhy[k].copy() if self.dhy is not None else np.zeros_like(self.dh0[k])
        if not lstm:
            return dh, None
        dc = self.dcy[k].copy() if self.dcy is not None else np.zeros_like(self.dh0[k])
        return dh, dc


def _make_grads(p: Params, ins: list, in_grads: list, out_grads: list, run: _Run) -> _Grads:
    names = _input_names(p)
    grad = dict(zip(names, in_grads))
    if grad.get("sequence_length") is not None:
        grad["sequence_length"].fill(0)
    dvec = grad["parameters"] if grad["parameters"] is not None else np.empty_like(ins[1])
    dh0 = grad["state"] if grad["state"] is not None else np.empty_like(ins[2])
    dc0 = None
    if p.mode == "lstm":
        dc0 = grad["state_cell"] if grad["state_cell"] is not None else np.empty_like(ins[3])
    return _Grads(_param_views(p.mode, dvec, ins[0].shape[2], run.h, run.layers, run.dirs),
                  dh0, dc0, out_grads[1], out_grads[2] if p.mode == "lstm" else None)


class _Carry:
    """Padding: the part of the state gradient that skips a padded step unchanged."""

    def __init__(self, run: _Run, like: np.ndarray) -> None:
        self.run = run
        self.h = np.empty_like(like)
        self.c = np.empty_like(like)

    def split(self, t: int, dh: np.ndarray, dc: np.ndarray | None) -> None:
        if self.run.pad is None:
            return
        np.multiply(dh, self.run.pad[t], out=self.h)
        dh *= self.run.keep[t]
        if dc is not None:
            np.multiply(dc, self.run.pad[t], out=self.c)
            dc *= self.run.keep[t]

    def join(self, dh: np.ndarray, dc: np.ndarray | None) -> None:
        if self.run.pad is None:
            return
        dh += self.h
        if dc is not None:
            dc += self.c


def _lstm_backward(run: _Run, grads: _Grads, layer: int, d: int, dy: np.ndarray,
                   h_prev_all: np.ndarray) -> tuple:
    h, k = run.h, layer * run.dirs + d
    wh = run.weights[layer][d][1]
    gates, cells = run.gates[layer, d], run.cells[layer, d]
    d_gates = np.empty(gates.shape, gates.dtype)
    dh, dc = grads.start(k, True)
    tc, tmp = np.empty_like(dh), np.empty_like(dh)
    carry = _Carry(run, dh)
    for t in reversed(run.order(d)):
        dh += dy[t]
        carry.split(t, dh, dc)
        a, c, dg = gates[t], cells[t], d_gates[t]
        i, f, g, o = a[:, :h], a[:, h:2 * h], a[:, 2 * h:3 * h], a[:, 3 * h:]
        s = run.prev(d, t)
        c_prev = run.c0[k] if s is None else cells[s]
        np.tanh(c, out=tc)
        np.multiply(dh, tc, out=dg[:, 3 * h:])
        _times_sigmoid_grad(dg[:, 3 * h:], o, tmp)
        _times_tanh_grad(dh, tc, tmp)  # dh is free now: reuse it for dh*(1-tanh(c)^2)
        dh *= o
        dc += dh
        if run.clip is not None:
            dc *= (c > run.clip[0]) & (c < run.clip[1])
        np.multiply(dc, g, out=dg[:, :h])
        _times_sigmoid_grad(dg[:, :h], i, tmp)
        np.multiply(dc, c_prev, out=dg[:, h:2 * h])
        _times_sigmoid_grad(dg[:, h:2 * h], f, tmp)
        np.multiply(dc, i, out=dg[:, 2 * h:3 * h])
        _times_tanh_grad(dg[:, 2 * h:3 * h], g, tmp)
        dc *= f
        np.matmul(dg, wh, out=dh)
        carry.join(dh, dc)
    np.copyto(grads.dh0[k], dh)
    np.copyto(grads.dc0[k], dc)
    return d_gates, d_gates


def _gru_backward(run: _Run, grads: _Grads, layer: int, d: int, dy: np.ndarray,
                  h_prev_all: np.ndarray) -> tuple:
    h, k = run.h, layer * run.dirs + d
    wh = run.weights[layer][d][1]
    gates = run.gates[layer, d]
    d_in = np.empty((run.t, run.n, 3 * h), gates.dtype)  # w.r.t. the i2h pre-activations
    d_hid = np.empty_like(d_in)  # w.r.t. the h2h products (differs from d_in on the n gate)
    dh, _ = grads.start(k, False)
    s1, s2, back = np.empty_like(dh), np.empty_like(dh), np.empty_like(dh)
    carry = _Carry(run, dh)
    for t in reversed(run.order(d)):
        dh += dy[t]
        carry.split(t, dh, None)
        a, dg, dgh = gates[t], d_in[t], d_hid[t]
        r, z, n_gate, hn = a[:, :h], a[:, h:2 * h], a[:, 2 * h:3 * h], a[:, 3 * h:]
        np.subtract(1, z, out=s1)
        np.multiply(dh, s1, out=dg[:, 2 * h:])
        _times_tanh_grad(dg[:, 2 * h:], n_gate, s2)
        np.multiply(dg[:, 2 * h:], r, out=dgh[:, 2 * h:])
        np.multiply(dg[:, 2 * h:], hn, out=dg[:, :h])
        _times_sigmoid_grad(dg[:, :h], r, s2)
        np.subtract(h_prev_all[t], n_gate, out=s1)
        np.multiply(dh, s1, out=dg[:, h:2 * h])
        _times_sigmoid_grad(dg[:, h:2 * h], z, s2)
        np.copyto(dgh[:, :2 * h], dg[:, :2 * h])
        dh *= z
        np.matmul(dgh, wh, out=back)
        dh += back
        carry.join(dh, None)
    np.copyto(grads.dh0[k], dh)
    return d_in, d_hid


def _plain_backward(run: _Run, grads: _Grads, layer: int, d: int, dy: np.ndarray,
                    h_prev_all: np.ndarray) -> tuple:
    k = layer * run.dirs + d
    wh = run.weights[layer][d][1]
    h_all = run.h_view(layer, d)
    d_pre = np.empty(h_all.shape, h_all.dtype)
    dh, _ = grads.start(k, False)
    tmp = np.empty_like(dh)
    carry = _Carry(run, dh)
    for t in reversed(run.order(d)):
        dh += dy[t]
        carry.split(t, dh, None)
        dg = d_pre[t]
        if run.mode == "rnn_tanh":
            np.copyto(dg, dh)
            _times_tanh_grad(dg, h_all[t], tmp)
        else:
            np.multiply(dh, h_all[t] > 0, out=dg)
        np.matmul(dg, wh, out=dh)
        carry.join(dh, None)
    np.copyto(grads.dh0[k], dh)
    return d_pre, d_pre


_BACKWARD: dict[str, Callable[..., tuple]] = {
    "lstm": _lstm_backward, "gru": _gru_backward,
    "rnn_tanh": _plain_backward, "rnn_relu": _plain_backward}


def _weight_grads(run: _Run, grads: _Grads, layer: int, d: int, inp: np.ndarray,
                  h_prev_all: np.ndarray, d_in: np.ndarray, d_hid: np.ndarray) -> None:
    """Parameter gradients of one layer and direction, summed over steps in single GEMMs."""
    gwi, gwh, gbi, gbh = grads.weights[layer][d]
    gh = run.gh
    np.matmul(d_hid.reshape(-1, gh).T, h_prev_all.reshape(-1, run.h), out=gwh)
    np.sum(d_hid, axis=(0, 1), out=gbh)
    np.matmul(d_in.reshape(-1, gh).T, inp.reshape(-1, inp.shape[-1]), out=gwi)
    np.sum(d_in, axis=(0, 1), out=gbi)


def _input_grad(run: _Run, layer: int, d: int, d_in: np.ndarray, dx: np.ndarray) -> None:
    """Add (or, for the first direction, write) this direction's share of d(layer input)."""
    wi = run.weights[layer][d][0]
    flat_dx = dx.reshape(-1, dx.shape[-1])
    flat_dg = d_in.reshape(-1, run.gh)
    if d == 0:
        np.matmul(flat_dg, wi, out=flat_dx)
    else:
        flat_dx += flat_dg @ wi


def _rnn_backward(p: Params, out_grads: list, ins: list, outs: list, in_grads: list,
                  aux: list) -> None:
    run = _make_run(p, ins, outs)
    grads = _make_grads(p, ins, in_grads, out_grads, run)
    dy = out_grads[0] if run.keep is None else out_grads[0] * run.keep
    step = _BACKWARD[p.mode]
    for layer in reversed(range(run.layers)):
        inp = ins[0] if layer == 0 else _layer_input(run, layer)
        dx = in_grads[0] if layer == 0 else np.empty(inp.shape, inp.dtype)
        for d in range(run.dirs):
            h_prev_all = run.prev_hidden(layer, d)
            dy_dir = dy[..., d * run.h:(d + 1) * run.h]
            d_in, d_hid = step(run, grads, layer, d, dy_dir, h_prev_all)
            _weight_grads(run, grads, layer, d, inp, h_prev_all, d_in, d_hid)
            if dx is not None:
                _input_grad(run, layer, d, d_in, dx)
        if layer > 0:
            dy = dx if run.mask is None else np.multiply(dx, run.mask[layer - 1], out=dx)


# -- the operator ----------------------------------------------------------------------------
def _positive(value: int) -> str | None:
    return None if value > 0 else "must be positive"


def _no_projection(value: int) -> str | None:
    return "LSTM projection (LSTMP) is not supported by mxlite; leave projection_size unset"


def _rate(value: float) -> str | None:
    return None if 0.0 <= value <= 1.0 else "must be in [0, 1]"


RNN = OpDef(
    name="RNN",
    doc="Fused multi-layer recurrent layer (lstm, gru, rnn_relu, rnn_tanh) over data in TNC "
        "layout, with all weights and biases packed in one ``parameters`` vector in MXNet's "
        "(cuDNN's) order; see the module docstring for the packing and gate formulas.",
    params=[
        Param("state_size", "int", doc="Size of the hidden state of each layer.", check=_positive),
        Param("num_layers", "int", doc="Number of stacked layers.", check=_positive),
        Param("bidirectional", "bool", False, doc="Whether layers are bidirectional."),
        Param("mode", "str", choices=tuple(GATES), doc="The type of recurrent cell."),
        Param("p", "float", 0.0, doc="Dropout rate on the outputs of each layer but the last "
              "(training only).", check=_rate),
        Param("state_outputs", "bool", False, doc="Whether the final states are outputs."),
        Param("projection_size", "int", None, optional=True, check=_no_projection,
              doc="LSTM projection size (not supported)."),
        Param("lstm_state_clip_min", "float", None, optional=True,
              doc="Minimum of the LSTM cell state (with lstm_state_clip_max)."),
        Param("lstm_state_clip_max", "float", None, optional=True,
              doc="Maximum of the LSTM cell state (with lstm_state_clip_min)."),
        Param("lstm_state_clip_nan", "bool", False,
              doc="Turn a NaN cell state into lstm_state_clip_min instead of propagating it."),
        Param("use_sequence_length", "bool", False,
              doc="Take a ``sequence_length`` input (batch,) of valid lengths."),
    ],
    inputs=_input_names,
    outputs=_output_names,
    visible_outputs=_num_visible,
    infer_shape=_rnn_shape,
    infer_type=_rnn_type,
    kernels={"numpy": Kernel(_rnn_forward, _rnn_backward)},
)

OPS = [RNN]

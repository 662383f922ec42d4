"""Convolution and Deconvolution (1-D/2-D/3-D, grouped, dilated) with im2col kernels.

Data is channel-first (NCW, NCHW, NCDHW). A convolution pads its input, unfolds it into
columns ``cols[n, c, k..., o...] = xpad[n, c, o * stride + k * dilate]`` (one copy of an
``as_strided`` view) and multiplies them by the weight seen as
``(groups, filters / groups, channels / groups * prod(kernel))``, writing straight into the
output. Backward:

* weight gradient: columns times the head gradient, either per sample then summed (large
  outputs) or with the batch joined into one product (small outputs, ``MERGE_BELOW_CELLS``);
* data gradient (``transpose_conv``): the weight times the head gradient gives columns that
  are folded back onto the input (col2im), one add per kernel offset; with unit strides the
  columns are laid on the padded grid so each add is one long contiguous run.

Deconvolution is the same kernels the other way round: its forward is a convolution's data
gradient and its data gradient a convolution's forward.

Temporaries (padded input, columns) live in per-thread scratch buffers reused across calls.
A batch is processed in chunks whose columns fit in ``workspace`` megabytes, as in MXNet; at
the default sizes the whole batch is one chunk.

The helpers here (``Window``, ``padded``, ``scratch``, ``as_view``, the deconvolution
kernels) are shared with ``pooling.py``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import product
from math import prod
from typing import Any

import numpy as np
from mxlite.base import MXNetValueError
from mxlite.inference import ShapeError
from mxlite.registry import Kernel, OpDef, Param, Params
from numpy.lib.stride_tricks import as_strided

__all__ = ["Window", "padded", "scratch", "transpose_conv", "unfold", "DeconvGeometry",
           "deconv_forward", "deconv_backward", "LAYOUTS", "check_layout"]

#: MXNet's layout choices; mxlite computes only the channel-first ones
LAYOUTS = ("NCDHW", "NCHW", "NCW", "NDHWC", "NHWC")
_CHANNEL_FIRST = {1: "NCW", 2: "NCHW", 3: "NCDHW"}


# -- scratch buffers -------------------------------------------------------------------------
class _Scratch(threading.local):
    def __init__(self) -> None:
        self.buffers: dict[str, np.ndarray] = {}


_SCRATCH = _Scratch()


def scratch(slot: str, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    """A C-contiguous work array for ``slot`` with undefined contents, reused by later calls.

    It stays valid until the next request for the same slot in this thread, so a kernel
    must not keep it past its own call. The buffer grows to the largest request seen.
    """
    dtype = np.dtype(dtype)
    nbytes = prod(shape) * dtype.itemsize
    buf = _SCRATCH.buffers.get(slot)
    if buf is None or buf.size < nbytes:
        buf = np.empty(max(nbytes, 64), np.uint8)
        _SCRATCH.buffers[slot] = buf
    return buf[:nbytes].view(dtype).reshape(shape)


def as_view(arr: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``arr`` reshaped without copying (kernels write through it); raise if impossible."""
    view = arr.reshape(shape)
    if not np.may_share_memory(view, arr):
        raise MXNetValueError(f"cannot write a {arr.shape} buffer as {shape} in place "
                              f"(strides {arr.strides})")
    return view


# -- window geometry -------------------------------------------------------------------------
@dataclass(frozen=True)
class Window:
    """A sliding window over the spatial axes: kernel, stride, dilation, low-side padding."""

    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    dilate: tuple[int, ...]
    pad: tuple[int, ...]

    @property
    def span(self) -> tuple[int, ...]:
        """Extent of the dilated kernel along each axis."""
        return tuple(d * (k - 1) + 1 for k, d in zip(self.kernel, self.dilate))

    def taps(self, out_sp: tuple[int, ...]) -> Iterator[tuple[tuple[int, ...], tuple]]:
        """For each kernel offset, the index tuple selecting what it reads from padded data.

        Yields ``(offset, index)`` where ``padded[index]`` has shape (n, c, *out_sp).
        """
        for offset in product(*(range(k) for k in self.kernel)):
            yield offset, (slice(None), slice(None), *(
                slice(k * d, k * d + s * (o - 1) + 1, s)
                for k, d, s, o in zip(offset, self.dilate, self.stride, out_sp)))


def spatial(value: tuple[int, ...], nd: int, default: int, name: str,
            kernel: tuple[int, ...]) -> tuple[int, ...]:
    """A per-axis parameter: ``value``, or ``default`` on every axis when it is empty."""
    if not value:
        return (default,) * nd
    if len(value) != nd:
        raise ShapeError(f"{name}={tuple(value)} must have as many dimensions as "
                         f"kernel={tuple(kernel)}")
    return tuple(value)


def check_layout(layout: str | None, nd: int) -> None:
    if layout is not None and layout != _CHANNEL_FIRST[nd]:
        raise ShapeError(f"layout {layout!r} is not supported for {nd}-D data: mxlite computes "
                         f"{_CHANNEL_FIRST[nd]} only (MXNet runs channel-last layouts on GPU "
                         "only)")


def conv_window(p: Params) -> Window:
    """The validated window of a Convolution or Deconvolution node."""
    kernel = tuple(p.kernel)
    nd = len(kernel)
    stride = spatial(p.stride, nd, 1, "stride", kernel)
    dilate = spatial(p.dilate, nd, 1, "dilate", kernel)
    pad = spatial(p.pad, nd, 0, "pad", kernel)
    if min(stride) < 1 or min(dilate) < 1 or min(pad) < 0:
        raise ShapeError(f"stride={stride} and dilate={dilate} must be positive and "
                         f"pad={pad} non-negative")
    check_layout(p.layout, nd)
    return Window(kernel, stride, dilate, pad)


# -- im2col / col2im -------------------------------------------------------------------------
def padded(x: np.ndarray, lo: tuple[int, ...], hi: tuple[int, ...], fill: float = 0,
           slot: str = "pad") -> np.ndarray:
    """``x`` with ``lo``/``hi`` cells of ``fill`` before/after each spatial axis.

    Returns ``x`` itself when there is no padding, else a scratch buffer.
    """
    if not any(lo) and not any(hi):
        return x
    sp = x.shape[2:]
    buf = scratch(slot, (*x.shape[:2], *(s + a + b for s, a, b in zip(sp, lo, hi))), x.dtype)
    buf[(..., *(slice(a, a + s) for a, s in zip(lo, sp)))] = x
    for axis, (a, s) in enumerate(zip(lo, sp)):  # the border slabs, one per side and axis
        index: list[Any] = [slice(None)] * buf.ndim
        for side in (slice(0, a), slice(a + s, None)):
            index[2 + axis] = side
            buf[tuple(index)] = fill
    return buf


def unfold(xp: np.ndarray, win: Window, out_sp: tuple[int, ...],
           batch_major: bool = True) -> np.ndarray:
    """Columns of padded data ``xp``: one strided copy (im2col) into scratch.

    Shaped (n, c, *kernel, *out_sp), or (c, *kernel, n, *out_sp) when not ``batch_major``.
    """
    st = xp.strides
    taps = (*win.kernel, *(d * s for d, s in zip(win.dilate, st[2:])))
    cells = (*out_sp, *(k * s for k, s in zip(win.stride, st[2:])))
    nd = len(out_sp)
    if batch_major:
        shape = (*xp.shape[:2], *taps[:nd], *cells[:nd])
        strides = (st[0], st[1], *taps[nd:], *cells[nd:])
    else:
        shape = (xp.shape[1], *taps[:nd], xp.shape[0], *cells[:nd])
        strides = (st[1], *taps[nd:], st[0], *cells[nd:])
    cols = scratch("cols", shape, xp.dtype)
    np.copyto(cols, as_strided(xp, shape=shape, strides=strides, writeable=False))
    return cols


def _fold_buffer(dst: np.ndarray, lo: tuple[int, ...], hi: tuple[int, ...]) -> np.ndarray:
    """A zeroed buffer shaped like ``dst`` padded by lo/hi (``dst`` itself without padding)."""
    if any(lo) or any(hi):
        shape = (*dst.shape[:2], *(s + a + b for s, a, b in zip(dst.shape[2:], lo, hi)))
        buf = scratch("fold", shape, dst.dtype)
    else:
        buf = dst
    buf.fill(0)
    return buf


def _crop(buf: np.ndarray, dst: np.ndarray, lo: tuple[int, ...]) -> None:
    if buf is not dst:
        np.copyto(dst, buf[(..., *(slice(a, a + s) for a, s in zip(lo, dst.shape[2:])))])


def transpose_conv(wmat: np.ndarray, src: np.ndarray, dst: np.ndarray, win: Window,
                   lo: tuple[int, ...], hi: tuple[int, ...]) -> None:
    """``dst = col2im(wmat.T @ src)``: a convolution's data gradient, a deconvolution's output.

    ``wmat`` is (groups, src channels / groups, dst channels / groups * prod(kernel)); the
    windows run over ``dst`` padded by ``lo``/``hi``. With unit strides the columns are laid
    on the padded grid, so each kernel offset adds one contiguous run per (sample, channel)
    instead of one short row per output row.
    """
    n, groups = src.shape[0], wmat.shape[0]
    padded_sp = tuple(s + a + b for s, a, b in zip(dst.shape[2:], lo, hi))
    out_sp = src.shape[2:]
    flat = all(st == 1 for st in win.stride) and len(out_sp) > 1
    grid = (out_sp[0], *padded_sp[1:]) if flat else out_sp
    if flat:  # src on the wider grid, zeros in the extra cells
        wide = scratch("wide", (*src.shape[:2], *grid), src.dtype)
        wide.fill(0)
        wide[(..., *(slice(0, o) for o in out_sp))] = src
        src = wide
    cells = prod(grid)
    cols = scratch("cols", (n, dst.shape[1], *win.kernel, cells), dst.dtype)
    np.matmul(wmat.swapaxes(-1, -2), src.reshape(n, groups, -1, cells),
              out=cols.reshape(n, groups, -1, cells))
    buf = _fold_buffer(dst, lo, hi)
    if flat:
        _fold_flat(cols, win, buf, out_sp)
    else:
        cols = cols.reshape(*cols.shape[:-1], *out_sp)
        for offset, index in win.taps(out_sp):
            target = buf[index]
            target += cols[(slice(None), slice(None), *offset)]
    _crop(buf, dst, lo)


def _fold_flat(cols: np.ndarray, win: Window, buf: np.ndarray, out_sp: tuple[int, ...]) -> None:
    """Add columns laid on ``buf``'s grid (unit strides): one flat run per kernel offset.

    Cell ``o`` of the grid lands at flat position ``o + offset`` of the padded buffer; the
    run stops at the last real output cell, so the grid's extra (zero) cells never spill
    into the next channel.
    """
    n, c = buf.shape[:2]
    steps = [prod(buf.shape[3 + k:]) for k in range(len(out_sp))]  # flat stride per axis
    length = sum((o - 1) * st for o, st in zip(out_sp, steps)) + 1
    flat = as_view(buf, (n, c, -1))
    for offset in product(*(range(k) for k in win.kernel)):
        start = sum(t * d * st for t, d, st in zip(offset, win.dilate, steps))
        target = flat[:, :, start:start + length]
        target += cols[(slice(None), slice(None), *offset, slice(0, length))]


def batch_chunks(batch: int, per_sample_bytes: int, workspace_mb: int) -> list[tuple[int, int]]:
    """Split the batch so each chunk's columns fit in the workspace (at least one sample)."""
    step = max(1, min(batch, (workspace_mb << 20) // max(per_sample_bytes, 1)))
    return [(lo, min(lo + step, batch)) for lo in range(0, batch, step)]


def _sum_weight_grad(dyv: np.ndarray, cols: np.ndarray, dw: np.ndarray, first: bool) -> None:
    """``dw (+)= sum_n dyv[n] @ cols[n].T`` for dyv (n, G, a, P) and cols (n, G, b, P)."""
    n, groups, a = dyv.shape[:3]
    if n == 1:
        tmp = dw if first else scratch("wgrad", dw.shape, dw.dtype)
        np.matmul(dyv[0], cols[0].swapaxes(-1, -2), out=tmp)
        if not first:
            dw += tmp
        return
    tmp = scratch("wgrad", (n, groups, a, cols.shape[2]), dw.dtype)
    np.matmul(dyv, cols.swapaxes(-1, -2), out=tmp)
    if first:
        np.sum(tmp, axis=0, out=dw)
    else:
        dw += tmp.sum(axis=0)


def _bias_grad(dy: np.ndarray, db: np.ndarray | None) -> None:
    if db is not None:
        np.sum(dy, axis=(0, *range(2, dy.ndim)), out=db)


def _add_bias(y: np.ndarray, bias: np.ndarray) -> None:
    y += bias.reshape(-1, *([1] * (y.ndim - 2)))


# -- Convolution -----------------------------------------------------------------------------
def conv_out_size(size: int, span: int, stride: int, pad: int) -> int:
    return (size + 2 * pad - span) // stride + 1


def _conv_inputs(p: Params) -> list[str]:
    return ["data", "weight"] if p.no_bias else ["data", "weight", "bias"]


def _check_groups(p: Params, channels: int, what: str) -> None:
    if p.num_filter % p.num_group:
        raise ShapeError(f"num_filter={p.num_filter} must be divisible by "
                         f"num_group={p.num_group}")
    if channels and channels % p.num_group:
        raise ShapeError(f"{what} channels ({channels}) must be divisible by "
                         f"num_group={p.num_group}")


def _conv_out_spatial(win: Window, sp: tuple[int, ...], data: tuple) -> tuple[int, ...]:
    out = []
    for s, span, st, pd in zip(sp, win.span, win.stride, win.pad):
        if s and span > s + 2 * pd:
            raise ShapeError(f"kernel {win.kernel} (dilated to {win.span}) exceeds data "
                             f"{tuple(data)} padded by {win.pad}")
        out.append(conv_out_size(s, span, st, pd) if s else 0)
    return tuple(out)


def _conv_shape(p: Params, ins: list, outs: list, aux: list):
    win = conv_window(p)
    nd = len(win.kernel)
    data, weight, out = ins[0], ins[1], outs[0]
    if data is not None and len(data) != nd + 2:
        raise ShapeError(f"data {tuple(data)} must be {nd + 2}-D ({_CHANNEL_FIRST[nd]}) for a "
                         f"kernel of {nd} dimensions {win.kernel}")
    channels = data[1] if data is not None else (weight[1] * p.num_group if weight else 0)
    _check_groups(p, channels, "data")
    new_ins = [data, (p.num_filter, channels // p.num_group, *win.kernel)]
    if data is not None:
        out = (data[0], p.num_filter, *_conv_out_spatial(win, tuple(data[2:]), data))
    elif channels or out is not None:  # batch from the output, channels from the weight
        new_ins[0] = (out[0] if out else 0, channels, *([0] * nd))
    if not p.no_bias:
        new_ins.append((p.num_filter,))
    return new_ins, [out], aux


def _conv_forward(p: Params, ins: list, outs: list, aux: list, is_train: bool) -> None:
    x, w, y = ins[0], ins[1], outs[0]
    win = conv_window(p)
    groups, out_sp = p.num_group, y.shape[2:]
    cells = prod(out_sp)
    wmat = w.reshape(groups, p.num_filter // groups, -1)
    per_sample = x.shape[1] * prod(win.kernel) * cells * x.itemsize
    for lo, hi in batch_chunks(x.shape[0], per_sample, p.workspace):
        cols = unfold(padded(x[lo:hi], win.pad, win.pad), win, out_sp)
        n = hi - lo
        np.matmul(wmat, cols.reshape(n, groups, -1, cells),
                  out=as_view(y[lo:hi], (n, groups, -1, cells)))
    if not p.no_bias:
        _add_bias(y, ins[2])


#: below this many output cells per sample, backward contracts over the whole batch at once
#: (one large matrix product) rather than sample by sample (many small ones)
MERGE_BELOW_CELLS = 256


def _conv_backward(p: Params, out_grads: list, ins: list, outs: list, in_grads: list,
                   aux: list) -> None:
    x, w, dy = ins[0], ins[1], out_grads[0]
    dx, dw = in_grads[0], in_grads[1]
    if not p.no_bias:
        _bias_grad(dy, in_grads[2])
    if dx is None and dw is None:
        return
    win = conv_window(p)
    cells = prod(dy.shape[2:])
    wmat = w.reshape(p.num_group, p.num_filter // p.num_group, -1)
    per_sample = x.shape[1] * prod(win.kernel) * cells * x.itemsize
    weight_grad = _weight_grad_merged if cells < MERGE_BELOW_CELLS else _weight_grad_batched
    for i, (lo, hi) in enumerate(batch_chunks(x.shape[0], per_sample, p.workspace)):
        if dw is not None:
            weight_grad(win, x[lo:hi], dy[lo:hi], as_view(dw, wmat.shape), i == 0)
        if dx is not None:
            transpose_conv(wmat, dy[lo:hi], dx[lo:hi], win, win.pad, win.pad)


def _weight_grad_batched(win: Window, x: np.ndarray, dy: np.ndarray, dw: np.ndarray,
                         first: bool) -> None:
    """``dw (+)=`` the weight gradient of one chunk: a matrix product per sample, summed."""
    n, groups, cells = x.shape[0], dw.shape[0], prod(dy.shape[2:])
    cols = unfold(padded(x, win.pad, win.pad), win, dy.shape[2:])
    _sum_weight_grad(dy.reshape(n, groups, -1, cells), cols.reshape(n, groups, -1, cells), dw,
                     first)


def _weight_grad_merged(win: Window, x: np.ndarray, dy: np.ndarray, dw: np.ndarray,
                        first: bool) -> None:
    """``dw (+)=`` the weight gradient of one chunk: one product over the whole chunk.

    Columns are unfolded channel-major, (c, *kernel, n, *out), and the head gradient is
    transposed to (filters, n, *out), so the batch joins the contraction.
    """
    groups = dw.shape[0]
    dyt = scratch("dyt", (dy.shape[1], dy.shape[0], *dy.shape[2:]), dy.dtype)
    np.copyto(dyt, dy.swapaxes(0, 1))
    cols = unfold(padded(x, win.pad, win.pad), win, dy.shape[2:], batch_major=False)
    colv = cols.reshape(groups, dw.shape[2], -1).swapaxes(-1, -2)
    dyv = dyt.reshape(groups, dw.shape[1], -1)
    if first:
        np.matmul(dyv, colv, out=dw)
    else:
        dw += np.matmul(dyv, colv, out=scratch("wgrad", dw.shape, dw.dtype))


def _kernel_check(value: tuple[int, ...]) -> str | None:
    if not 1 <= len(value) <= 3:
        return "must have 1, 2 or 3 dimensions (1-D, 2-D or 3-D convolution)"
    return None if min(value) > 0 else "must be positive"


def _at_least_one(value: int) -> str | None:
    return None if value >= 1 else "must be at least 1"


def _non_negative(value: int) -> str | None:
    return None if value >= 0 else "must be non-negative"


def _window_params(dims: str) -> list[Param]:
    return [
        Param("kernel", "shape", check=_kernel_check, doc=f"Kernel size: {dims}."),
        Param("stride", "shape", (), doc=f"Stride: {dims}; 1 on each axis by default."),
        Param("dilate", "shape", (), doc=f"Dilation: {dims}; 1 on each axis by default."),
        Param("pad", "shape", (), doc=f"Zero padding on both sides: {dims}; none by default."),
    ]


def _legacy_params(workspace: int) -> list[Param]:
    """Parameters MXNet uses to pick GPU algorithms; accepted so MXNet graphs load."""
    return [
        Param("workspace", "int", workspace, check=_non_negative,
              doc="Temporary workspace in MB: the batch is processed in chunks that fit."),
        Param("cudnn_tune", "str", None, optional=True,
              choices=("fastest", "limited_workspace", "off"), doc="Ignored (cuDNN only)."),
        Param("cudnn_off", "bool", False, doc="Ignored (cuDNN only)."),
        Param("layout", "str", None, optional=True, choices=LAYOUTS,
              doc="Data layout; only the channel-first default (NCW, NCHW, NCDHW) is supported."),
    ]


_DIMS = "(w,), (h, w) or (d, h, w)"

CONVOLUTION = OpDef(
    name="Convolution",
    doc="N-D convolution (1-D, 2-D or 3-D) of channel-first data with ``num_filter`` filters of "
        "shape (channels / num_group, *kernel), optionally grouped, strided, dilated and "
        "zero-padded, plus a bias. Output spatial size: "
        "``floor((x + 2 * pad - dilate * (kernel - 1) - 1) / stride) + 1``.",
    params=[
        *_window_params(_DIMS),
        Param("num_filter", "int", check=_at_least_one, doc="Number of output channels."),
        Param("num_group", "int", 1, check=_at_least_one,
              doc="Number of groups: channels and filters split into independent groups."),
        Param("no_bias", "bool", False, doc="Whether to disable the bias."),
        *_legacy_params(1024),
    ],
    inputs=_conv_inputs,
    infer_shape=_conv_shape,
    kernels={"numpy": Kernel(_conv_forward, _conv_backward)},
    grad_uses=("inputs",),
)


# -- Deconvolution ---------------------------------------------------------------------------
@dataclass(frozen=True)
class DeconvGeometry:
    """A deconvolution seen as the convolution it transposes: ``win`` runs over the output."""

    win: Window
    out_sp: tuple[int, ...]
    #: padding after the output so that every window fits (``adj`` may reach past ``pad``)
    pad_hi: tuple[int, ...]


def _deconv_axis(win: Window, i: int, size: int, adj: int, target: int) -> tuple[int, int]:
    """(pad, output size) of axis ``i``; a non-zero ``target`` size sets its pad and adj."""
    full = win.stride[i] * (size - 1) + win.span[i]
    pad = win.pad[i]
    if target > 0:
        total = full - target
        if total < 0:
            raise ShapeError(f"target_shape {target} on axis {i} is too big: at most {full} "
                             f"for input size {size}")
        pad, adj = (total + 1) // 2, total % 2
    if adj >= win.stride[i]:
        raise ShapeError(f"adj {adj} on axis {i} must be smaller than stride {win.stride[i]}"
                         + (" (target_shape needs an odd padding)" if target > 0 else ""))
    out = full - 2 * pad + adj
    if out < 1:
        raise ShapeError(f"pad {pad} on axis {i} leaves no output for input size {size} "
                         f"(kernel {win.kernel}, stride {win.stride}, dilate {win.dilate})")
    return pad, out


def deconv_geometry(win: Window, in_sp: tuple[int, ...], adj: tuple[int, ...],
                    target: tuple[int, ...]) -> DeconvGeometry:
    """Output size and padding of a deconvolution of spatial input size ``in_sp``."""
    pads, outs, his = [], [], []
    for i, size in enumerate(in_sp):
        pad, out = _deconv_axis(win, i, size, adj[i], target[i])
        full = win.stride[i] * (size - 1) + win.span[i]
        pads.append(pad)
        outs.append(out)
        his.append(max(full, pad + out) - pad - out)
    return DeconvGeometry(Window(win.kernel, win.stride, win.dilate, tuple(pads)),
                          tuple(outs), tuple(his))


def _deconv_extras(p: Params, win: Window) -> tuple[tuple[int, ...], tuple[int, ...]]:
    nd = len(win.kernel)
    return (spatial(p.adj, nd, 0, "adj", win.kernel),
            spatial(p.target_shape, nd, 0, "target_shape", win.kernel))


def _deconv_params_geometry(p: Params, in_sp: tuple[int, ...]) -> DeconvGeometry:
    win = conv_window(p)
    return deconv_geometry(win, in_sp, *_deconv_extras(p, win))


def _deconv_shape(p: Params, ins: list, outs: list, aux: list):
    win = conv_window(p)
    nd = len(win.kernel)
    data, weight, out = ins[0], ins[1], outs[0]
    if data is not None and len(data) != nd + 2:
        raise ShapeError(f"data {tuple(data)} must be {nd + 2}-D ({_CHANNEL_FIRST[nd]}) for a "
                         f"kernel of {nd} dimensions {win.kernel}")
    channels = data[1] if data is not None else (weight[0] if weight else 0)
    _check_groups(p, channels, "data")
    new_ins = [data, (channels, p.num_filter // p.num_group, *win.kernel)]
    if data is not None:
        adj, target = _deconv_extras(p, win)
        size = tuple(_deconv_axis(win, i, s, adj[i], target[i])[1] if s else 0
                     for i, s in enumerate(data[2:]))
        out = (data[0], p.num_filter, *size)
    elif channels or out is not None:
        new_ins[0] = (out[0] if out else 0, channels, *([0] * nd))
    if not p.no_bias:
        new_ins.append((p.num_filter,))
    return new_ins, [out], aux


def deconv_forward(x: np.ndarray, w: np.ndarray, y: np.ndarray, geo: DeconvGeometry,
                   groups: int, workspace: int) -> None:
    """``y = conv_transpose(x, w)`` without bias: the columns ``w.T @ x`` folded onto ``y``."""
    win = geo.win
    wmat = w.reshape(groups, x.shape[1] // groups, -1)  # (G, C_in/G, F/G * prod(kernel))
    per_sample = y.shape[1] * prod(win.kernel) * prod(x.shape[2:]) * x.itemsize
    for lo, hi in batch_chunks(x.shape[0], per_sample, workspace):
        transpose_conv(wmat, x[lo:hi], y[lo:hi], win, win.pad, geo.pad_hi)


def deconv_backward(x: np.ndarray, w: np.ndarray, dy: np.ndarray, dx: np.ndarray | None,
                    dw: np.ndarray | None, geo: DeconvGeometry, groups: int,
                    workspace: int) -> None:
    """Data and weight gradients of ``deconv_forward``: the head gradient unfolded (im2col)."""
    win, in_sp = geo.win, x.shape[2:]
    cells = prod(in_sp)
    wmat = w.reshape(groups, x.shape[1] // groups, -1)
    dwmat = as_view(dw, wmat.shape) if dw is not None else None
    per_sample = dy.shape[1] * prod(win.kernel) * cells * x.itemsize
    for i, (lo, hi) in enumerate(batch_chunks(x.shape[0], per_sample, workspace)):
        n = hi - lo
        cols = unfold(padded(dy[lo:hi], win.pad, geo.pad_hi), win, in_sp)
        colv = cols.reshape(n, groups, -1, cells)
        if dx is not None:
            np.matmul(wmat, colv, out=as_view(dx[lo:hi], (n, groups, -1, cells)))
        if dwmat is not None:
            _sum_weight_grad(x[lo:hi].reshape(n, groups, -1, cells), colv, dwmat, i == 0)


def _deconv_forward(p: Params, ins: list, outs: list, aux: list, is_train: bool) -> None:
    x, y = ins[0], outs[0]
    deconv_forward(x, ins[1], y, _deconv_params_geometry(p, x.shape[2:]), p.num_group,
                   p.workspace)
    if not p.no_bias:
        _add_bias(y, ins[2])


def _deconv_backward(p: Params, out_grads: list, ins: list, outs: list, in_grads: list,
                     aux: list) -> None:
    x, dy = ins[0], out_grads[0]
    if not p.no_bias:
        _bias_grad(dy, in_grads[2])
    if in_grads[0] is not None or in_grads[1] is not None:
        deconv_backward(x, ins[1], dy, in_grads[0], in_grads[1],
                        _deconv_params_geometry(p, x.shape[2:]), p.num_group, p.workspace)


DECONVOLUTION = OpDef(
    name="Deconvolution",
    doc="Transposed convolution (the gradient of Convolution with respect to its data): "
        "weight (channels, num_filter / num_group, *kernel). Output spatial size: "
        "``stride * (x - 1) + dilate * (kernel - 1) + 1 - 2 * pad + adj``, or "
        "``target_shape``, which then sets pad and adj. No bias by default.",
    params=[
        *_window_params(_DIMS),
        Param("adj", "shape", (), doc=f"Extra output cells at the end: {_DIMS}; "
                                      "ignored where target_shape is set."),
        Param("target_shape", "shape", (), doc=f"Output spatial shape {_DIMS}; 0 = not set."),
        Param("num_filter", "int", check=_at_least_one, doc="Number of output channels."),
        Param("num_group", "int", 1, check=_at_least_one, doc="Number of groups."),
        Param("no_bias", "bool", True, doc="Whether to disable the bias."),
        *_legacy_params(512),
    ],
    inputs=_conv_inputs,
    infer_shape=_deconv_shape,
    kernels={"numpy": Kernel(_deconv_forward, _deconv_backward)},
    grad_uses=("inputs",),
)

OPS = [CONVOLUTION, DECONVOLUTION]

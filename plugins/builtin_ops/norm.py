"""Normalisation layers: BatchNorm, LayerNorm, InstanceNorm, L2Normalization and LRN.

Reductions of products (variances, the dot products of backward) use ``np.einsum`` with an
``out=`` buffer, so no array of the data's size is allocated for them. Statistics kept from
forward for backward live in hidden outputs (BatchNorm's ``mean``/``var``, LayerNorm's
``mean``/``std``, InstanceNorm's ``mean``/``var``, L2Normalization's ``norm``, LRN's
``tmp_norm``); head gradients given for them (when visible) are ignored, as in MXNet.
"""

from __future__ import annotations

import string
from math import prod

import numpy as np
from mxlite.inference import ShapeError
from mxlite.registry import Kernel, OpDef, Param, Params

from ._rules import unify

_F16 = np.dtype(np.float16)


# -- helpers shared by the layers ------------------------------------------------------------
def _norm_axis(axis: int, ndim: int) -> int:
    if not -ndim <= axis < ndim:
        raise ShapeError(f"axis {axis} is out of range for data with {ndim} dimension(s)")
    return axis % ndim


def _data_shape(ins: list, outs: list) -> "tuple[int, ...] | None":
    """The data shape, known from the data input or the (same-shaped) output."""
    return unify([ins[0], outs[0]], ["data", "output"])


def _channel_view(x: np.ndarray, axis: int) -> np.ndarray:
    """``x`` seen as (before, channels, after), a view for per-channel reductions."""
    return x.reshape(prod(x.shape[:axis]), x.shape[axis], prod(x.shape[axis + 1:]))


def _dot_reduce(subscripts: str, a: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:
    """``out = einsum(subscripts, a, b)``, accumulated in ``out``'s dtype."""
    if a.dtype == out.dtype and b.dtype == out.dtype:
        np.einsum(subscripts, a, b, out=out)
    else:
        out[...] = np.einsum(subscripts, a, b, dtype=out.dtype, casting="same_kind")


def _positive(value: float) -> str | None:
    return None if value > 0 else "must be positive"


# -- BatchNorm -------------------------------------------------------------------------------
def _bn_shape(p: Params, ins: list, outs: list, aux: list):
    data = _data_shape(ins, outs)
    shapes = [ins[1], ins[2], aux[0], aux[1], outs[1], outs[2]]
    names = ["gamma", "beta", "moving_mean", "moving_var", "mean", "var"]
    if data is not None:
        shapes.insert(0, (data[_norm_axis(p.axis, len(data))],))
        names.insert(0, f"channels of data {tuple(data)} (axis {p.axis})")
    c = unify(shapes, names)
    return [data, c, c], [data, c, c], [c, c]


def _bn_type(p: Params, ins: list, outs: list, aux: list):
    """float16 data keeps its parameters and statistics in float32, as MXNet does."""
    dtype = ins[0] if ins[0] is not None else outs[0]
    if dtype is None:
        return ins, outs, aux
    stat = np.dtype(np.float32) if np.dtype(dtype) == _F16 else dtype
    return [dtype, stat, stat], [dtype, stat, stat], [stat, stat]


def _bn_batch_stats(x3: np.ndarray, y3: np.ndarray, mean: np.ndarray, var: np.ndarray) -> None:
    """Batch mean and biased variance per channel; leaves ``x - mean`` in ``y3``."""
    np.mean(x3, axis=(0, 2), out=mean)
    np.subtract(x3, mean[:, None], out=y3)
    _dot_reduce("icj,icj->c", y3, y3, var)
    var /= max(1, x3.shape[0] * x3.shape[2])


def _bn_update_moving(momentum: float, aux: list, mean: np.ndarray, var: np.ndarray) -> None:
    """``m = m * momentum + batch_stat * (1 - momentum)`` for both moving statistics."""
    for moving, batch in zip(aux, (mean, var)):
        moving *= momentum
        moving += batch * (1.0 - momentum)


def _bn_forward(p: Params, ins: list, outs: list, aux: list, is_train: bool) -> None:
    x, gamma, beta = ins
    mean, invstd = outs[1], outs[2]
    axis = p.axis % x.ndim
    x3, y3 = _channel_view(x, axis), _channel_view(outs[0], axis)
    if p.fix_gamma:
        gamma.fill(1)
    training = is_train and not p.use_global_stats
    if training:
        _bn_batch_stats(x3, y3, mean, invstd)  # leaves x - mean in y3
        _bn_update_moving(p.momentum, aux, mean, invstd)
    else:
        np.copyto(mean, aux[0])
        np.copyto(invstd, aux[1])
    invstd += p.eps
    np.sqrt(invstd, out=invstd)
    np.reciprocal(invstd, out=invstd)
    scale = gamma * invstd
    if training:
        y3 *= scale[:, None]
        y3 += beta[:, None]
    else:  # one pass: x * scale + (beta - mean * scale)
        np.multiply(x3, scale[:, None], out=y3)
        y3 += (beta - mean * scale)[:, None]


def _bn_backward(p: Params, out_grads: list, ins: list, outs: list, in_grads: list,
                 aux: list) -> None:
    x, gamma = ins[0], ins[1]
    mean, invstd = outs[1], outs[2]
    axis = p.axis % x.ndim
    x3, og3 = _channel_view(x, axis), _channel_view(out_grads[0], axis)
    dbeta = og3.sum(axis=(0, 2), dtype=mean.dtype)
    centred = np.empty_like(mean)  # sum(og * (x - mean)) per channel
    _dot_reduce("icj,icj->c", og3, x3, centred)
    centred -= mean * dbeta
    dgamma = centred * invstd
    if in_grads[1] is not None:
        in_grads[1][...] = 0 if p.fix_gamma else dgamma
    if in_grads[2] is not None:
        np.copyto(in_grads[2], dbeta)
    if in_grads[0] is None:
        return
    dx3 = _channel_view(in_grads[0], axis)
    scale = invstd if p.fix_gamma else gamma * invstd
    if p.use_global_stats:  # the statistics are constants
        np.multiply(og3, scale[:, None], out=dx3)
        return
    # dx = gamma * invstd * (og - dbeta/m - (x - mean) * invstd * dgamma/m)
    count = max(1, x3.shape[0] * x3.shape[2])
    np.subtract(x3, mean[:, None], out=dx3)
    dx3 *= (-invstd * dgamma / count)[:, None]
    dx3 += og3
    dx3 -= (dbeta / count)[:, None]
    dx3 *= scale[:, None]


BATCH_NORM = OpDef(
    name="BatchNorm",
    doc="Batch normalisation over every axis but ``axis``: ``out = (x - mean) / sqrt(var + "
        "eps) * gamma + beta``. Training (``is_train`` without ``use_global_stats``) uses the "
        "batch statistics and updates the moving ones in place, once per forward: ``m = m * "
        "momentum + stat * (1 - momentum)`` (biased variance). Otherwise the moving statistics "
        "are used. ``fix_gamma`` uses gamma = 1 (forward writes 1s into gamma; its gradient is "
        "0). With ``output_mean_var`` the outputs ``mean`` and ``var`` are visible; as in "
        "MXNet, ``var`` holds the inverse standard deviation ``1 / sqrt(var + eps)``.",
    params=[
        Param("eps", "float", 1e-3, doc="Added to the variance.", check=_positive),
        Param("momentum", "float", 0.9, doc="Momentum of the moving statistics."),
        Param("fix_gamma", "bool", True, doc="Use gamma = 1 and do not learn it."),
        Param("use_global_stats", "bool", False, doc="Use the moving statistics in training."),
        Param("output_mean_var", "bool", False, doc="Also output the mean and inverse std."),
        Param("axis", "int", 1, doc="The channel axis."),
        Param("cudnn_off", "bool", False, doc="Unused (MXNet's cuDNN switch)."),
        Param("min_calib_range", "float", None, optional=True, doc="Unused (quantisation)."),
        Param("max_calib_range", "float", None, optional=True, doc="Unused (quantisation)."),
    ],
    inputs=["data", "gamma", "beta"],
    aux=["moving_mean", "moving_var"],
    outputs=["output", "mean", "var"],
    visible_outputs=lambda p: 3 if p.output_mean_var else 1,
    infer_shape=_bn_shape,
    infer_type=_bn_type,
    kernels={"numpy": Kernel(_bn_forward, _bn_backward)},
    grad_uses=lambda p: ("inputs", "outputs") if p.output_mean_var else ("inputs",),
)


# -- LayerNorm -------------------------------------------------------------------------------
def _ln_shape(p: Params, ins: list, outs: list, aux: list):
    data = _data_shape(ins, outs)
    if data is None:
        c = unify([ins[1], ins[2]], ["gamma", "beta"])
        return [None, c, c], [None, outs[1], outs[2]], aux
    axis = _norm_axis(p.axis, len(data))
    c = (data[axis],)
    stat = tuple(1 if i == axis else d for i, d in enumerate(data))
    return [data, c, c], [data, stat, stat], aux


def _along(v: np.ndarray, ndim: int, axis: int) -> np.ndarray:
    """A 1-D array shaped to broadcast along ``axis`` of an ``ndim``-D array."""
    return v.reshape([-1 if i == axis else 1 for i in range(ndim)])


def _subscripts(ndim: int, keep: "list[int]") -> str:
    """einsum subscripts multiplying two ``ndim``-D arrays and keeping the axes ``keep``."""
    letters = string.ascii_letters[:ndim]
    return f"{letters},{letters}->" + "".join(letters[i] for i in keep)


def _ln_forward(p: Params, ins: list, outs: list, aux: list, is_train: bool) -> None:
    x, gamma, beta = ins
    y, mean, std = outs
    axis = p.axis % x.ndim
    others = [i for i in range(x.ndim) if i != axis]
    np.mean(x, axis=axis, keepdims=True, out=mean)
    np.subtract(x, mean, out=y)
    _dot_reduce(_subscripts(x.ndim, others), y, y, std.reshape([x.shape[i] for i in others]))
    std /= x.shape[axis]
    std += p.eps
    np.sqrt(std, out=std)
    y /= std
    y *= _along(gamma, x.ndim, axis)
    y += _along(beta, x.ndim, axis)


def _ln_backward(p: Params, out_grads: list, ins: list, outs: list, in_grads: list,
                 aux: list) -> None:
    x, gamma = ins[0], ins[1]
    og, mean, std = out_grads[0], outs[1], outs[2]
    axis = p.axis % x.ndim
    others = tuple(i for i in range(x.ndim) if i != axis)
    xhat = in_grads[0] if in_grads[0] is not None else np.empty_like(x)
    np.subtract(x, mean, out=xhat)
    xhat /= std
    if in_grads[1] is not None:
        _dot_reduce(_subscripts(x.ndim, [axis]), og, xhat, in_grads[1])
    if in_grads[2] is not None:
        np.sum(og, axis=others, out=in_grads[2])
    if in_grads[0] is None:
        return
    # dx = (g - mean(g) - xhat * mean(g * xhat)) / std, with g = og * gamma along the axis
    g = og * _along(gamma, x.ndim, axis)
    g_mean = g.mean(axis=axis, keepdims=True)
    gx_mean = np.empty_like(std)
    _dot_reduce(_subscripts(x.ndim, list(others)), g, xhat,
                gx_mean.reshape([x.shape[i] for i in others]))
    gx_mean /= -x.shape[axis]
    dx = in_grads[0]  # holds xhat
    dx *= gx_mean
    dx += g
    dx -= g_mean
    dx /= std


LAYER_NORM = OpDef(
    name="LayerNorm",
    doc="Layer normalisation along ``axis``: ``out = (x - mean) / sqrt(var + eps) * gamma + "
        "beta`` with gamma and beta of the axis' length. The hidden outputs ``mean`` and "
        "``std`` (``sqrt(var + eps)``, the axis kept with length 1) are visible with "
        "``output_mean_var``.",
    params=[
        Param("axis", "int", -1, doc="The axis to normalise."),
        Param("eps", "float", 1e-5, doc="Added to the variance.", check=_positive),
        Param("output_mean_var", "bool", False, doc="Also output the mean and std."),
    ],
    inputs=["data", "gamma", "beta"],
    outputs=["output", "mean", "std"],
    visible_outputs=lambda p: 3 if p.output_mean_var else 1,
    infer_shape=_ln_shape,
    kernels={"numpy": Kernel(_ln_forward, _ln_backward)},
    grad_uses=lambda p: ("inputs", "outputs") if p.output_mean_var else ("inputs",),
)


# -- InstanceNorm ----------------------------------------------------------------------------
def _in_shape(p: Params, ins: list, outs: list, aux: list):
    data = _data_shape(ins, outs)
    if data is not None and len(data) < 2:
        raise ShapeError(f"data must have at least 2 dimensions (batch, channel, ...), got "
                         f"{tuple(data)}")
    channel = [(data[1],)] if data is not None else [None]
    c = unify([*channel, ins[1], ins[2]], ["data channels", "gamma", "beta"])
    stat = (data[0], data[1]) if data is not None else None
    return [data, c, c], [data, stat, stat], aux


def _instance_view(x: np.ndarray) -> np.ndarray:
    return x.reshape(x.shape[0], x.shape[1], prod(x.shape[2:]))


def _in_forward(p: Params, ins: list, outs: list, aux: list, is_train: bool) -> None:
    x3, y3 = _instance_view(ins[0]), _instance_view(outs[0])
    gamma, beta = ins[1], ins[2]
    mean, var = outs[1], outs[2]
    np.mean(x3, axis=2, out=mean)
    np.subtract(x3, mean[..., None], out=y3)
    _dot_reduce("ncs,ncs->nc", y3, y3, var)
    var /= max(1, x3.shape[2])
    y3 *= (gamma / np.sqrt(var + p.eps))[..., None]
    y3 += beta[:, None]


def _in_backward(p: Params, out_grads: list, ins: list, outs: list, in_grads: list,
                 aux: list) -> None:
    x3, og3 = _instance_view(ins[0]), _instance_view(out_grads[0])
    mean, var = outs[1], outs[2]
    size = max(1, x3.shape[2])
    invstd = 1.0 / np.sqrt(var + p.eps)
    xhat = _instance_view(in_grads[0]) if in_grads[0] is not None else np.empty_like(x3)
    np.subtract(x3, mean[..., None], out=xhat)
    xhat *= invstd[..., None]
    og_sum = og3.sum(axis=2)
    ogx_sum = np.empty_like(mean)
    _dot_reduce("ncs,ncs->nc", og3, xhat, ogx_sum)
    if in_grads[1] is not None:
        np.sum(ogx_sum, axis=0, out=in_grads[1])
    if in_grads[2] is not None:
        np.sum(og_sum, axis=0, out=in_grads[2])
    if in_grads[0] is None:
        return
    # dx = gamma * invstd * (og - mean_s(og) - xhat * mean_s(og * xhat))
    xhat *= (-ogx_sum / size)[..., None]
    xhat += og3
    xhat -= (og_sum / size)[..., None]
    xhat *= (ins[1] * invstd)[..., None]


INSTANCE_NORM = OpDef(
    name="InstanceNorm",
    doc="Instance normalisation: each (sample, channel) slice over the spatial axes is "
        "normalised, then scaled by gamma and shifted by beta per channel (axis 1).",
    params=[Param("eps", "float", 1e-3, doc="Added to the variance.", check=_positive)],
    inputs=["data", "gamma", "beta"],
    outputs=["output", "mean", "var"],
    visible_outputs=1,
    infer_shape=_in_shape,
    kernels={"numpy": Kernel(_in_forward, _in_backward)},
    grad_uses=("inputs",),
)


# -- L2Normalization -------------------------------------------------------------------------
# mode -> (einsum of the data view with itself that keeps the norm's axes, the view axes the
# norm keeps, an index that broadcasts the norm against the view)
_L2 = {
    "instance": ("ns,ns->n", (0,), (slice(None), None)),
    "channel": ("ncs,ncs->ns", (0, 2), (slice(None), None, slice(None))),
    "spatial": ("ncs,ncs->nc", (0, 1), (slice(None), slice(None), None)),
}


def _l2_norm_shape(mode: str, data: tuple) -> tuple:
    if mode == "instance":
        return (data[0],)
    if mode == "channel":
        return (data[0], *data[2:])
    return (data[0], data[1])


def _l2_shape(p: Params, ins: list, outs: list, aux: list):
    data = _data_shape(ins, outs)
    if data is None:
        return ins, [None, outs[1]], aux
    if p.mode != "instance" and len(data) < 3:
        raise ShapeError(f"mode {p.mode!r} needs data with at least 3 dimensions "
                         f"(batch, channel, spatial...), got {tuple(data)}")
    if not data:
        raise ShapeError("data must have at least 1 dimension, got ()")
    return [data], [data, _l2_norm_shape(p.mode, data)], aux


def _l2_view(x: np.ndarray, mode: str) -> np.ndarray:
    """The data as (batch, rest) for ``instance``, else as (batch, channel, spatial)."""
    if mode == "instance":
        return x.reshape(x.shape[0], prod(x.shape[1:]))
    return x.reshape(x.shape[0], x.shape[1], prod(x.shape[2:]))


def _l2_flat(norm: np.ndarray, view: np.ndarray, mode: str) -> np.ndarray:
    """The norm output shaped as the einsum result: (batch,), (batch, spatial), (batch, channel)."""
    return norm.reshape([view.shape[i] for i in _L2[mode][1]])


def _l2_forward(p: Params, ins: list, outs: list, aux: list, is_train: bool) -> None:
    x, y = _l2_view(ins[0], p.mode), _l2_view(outs[0], p.mode)
    subscripts, _, expand = _L2[p.mode]
    norm = _l2_flat(outs[1], x, p.mode)
    _dot_reduce(subscripts, x, x, norm)
    norm += p.eps
    np.sqrt(norm, out=norm)
    np.divide(x, norm[expand], out=y)


def _l2_backward(p: Params, out_grads: list, ins: list, outs: list, in_grads: list,
                 aux: list) -> None:
    if in_grads[0] is None:
        return
    y, og = _l2_view(outs[0], p.mode), _l2_view(out_grads[0], p.mode)
    dx = _l2_view(in_grads[0], p.mode)
    subscripts, _, expand = _L2[p.mode]
    norm = _l2_flat(outs[1], y, p.mode)
    dot = np.empty_like(norm)  # sum(og * y) over the normalised axes
    _dot_reduce(subscripts, og, y, dot)
    # dx = (og - y * sum(og * y)) / norm
    np.multiply(y, dot[expand], out=dx)
    np.subtract(og, dx, out=dx)
    dx /= norm[expand]


L2_NORMALIZATION = OpDef(
    name="L2Normalization",
    doc="Divide the data by its L2 norm ``sqrt(sum(x^2) + eps)``, taken per sample over all "
        "other axes (``instance``), over the channel axis 1 (``channel``) or over the spatial "
        "axes 2... (``spatial``).",
    params=[
        Param("eps", "float", 1e-10, doc="Added to the sum of squares."),
        Param("mode", "str", "instance", choices=("channel", "instance", "spatial"),
              doc="Which axes the norm is taken over."),
    ],
    outputs=["output", "norm"],
    visible_outputs=1,
    infer_shape=_l2_shape,
    kernels={"numpy": Kernel(_l2_forward, _l2_backward)},
    inplace=[(0, 0)],
    grad_uses=("outputs",),
)


# -- LRN -------------------------------------------------------------------------------------
def _lrn_shape(p: Params, ins: list, outs: list, aux: list):
    data = unify([ins[0], outs[0], outs[1]], ["data", "output", "tmp_norm"])
    if data is not None and len(data) < 2:
        raise ShapeError(f"LRN normalises across channels (axis 1): data needs at least 2 "
                         f"dimensions, got {tuple(data)}")
    return [data], [data, data], aux


def _window_sum(src: np.ndarray, dst: np.ndarray, half: int) -> None:
    """``dst[:, c] = sum(src[:, c-half : c+half+1])`` along the channel axis (zero padded)."""
    np.copyto(dst, src)
    for d in range(1, half + 1):
        dst[:, d:] += src[:, :-d]
        dst[:, :-d] += src[:, d:]


def _lrn_forward(p: Params, ins: list, outs: list, aux: list, is_train: bool) -> None:
    x, (y, scale) = ins[0], outs
    np.square(x, out=y)
    _window_sum(y, scale, (p.nsize - 1) // 2)
    scale *= p.alpha / p.nsize
    scale += p.knorm
    np.power(scale, -p.beta, out=y)
    y *= x


def _lrn_backward(p: Params, out_grads: list, ins: list, outs: list, in_grads: list,
                  aux: list) -> None:
    dx = in_grads[0]
    if dx is None:
        return
    x, og, (y, scale) = ins[0], out_grads[0], outs
    # dx_i = og_i * s_i^-beta - 2 alpha beta / n * x_i * sum_{j near i} og_j * y_j / s_j
    np.multiply(og, y, out=dx)
    dx /= scale
    cross = np.empty_like(dx)
    _window_sum(dx, cross, (p.nsize - 1) // 2)
    cross *= x
    cross *= -2.0 * p.alpha * p.beta / p.nsize
    np.power(scale, -p.beta, out=dx)
    dx *= og
    dx += cross


LRN = OpDef(
    name="LRN",
    doc="Local response normalisation across channels (axis 1): ``out = x / (knorm + alpha / "
        "nsize * sum(x^2 over the nsize neighbouring channels))^beta``. The window spans "
        "``(nsize - 1) // 2`` channels on each side (zero padded at the edges).",
    params=[
        Param("alpha", "float", 1e-4, doc="Variance scaling."),
        Param("beta", "float", 0.75, doc="Power."),
        Param("knorm", "float", 2.0, doc="The constant k."),
        Param("nsize", "int", doc="Number of channels in the window.",
              check=lambda n: None if n >= 1 else "must be at least 1"),
    ],
    outputs=["output", "tmp_norm"],
    visible_outputs=1,
    infer_shape=_lrn_shape,
    kernels={"numpy": Kernel(_lrn_forward, _lrn_backward)},
    grad_uses=("inputs", "outputs"),
)

OPS = [BATCH_NORM, LAYER_NORM, INSTANCE_NORM, L2_NORMALIZATION, LRN]

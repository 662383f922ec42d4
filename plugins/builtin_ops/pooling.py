"""Pooling (max, avg, sum, lp over 1-D/2-D/3-D windows) and UpSampling (nearest, bilinear).

Pooling pads the data (with the lowest finite value for max, zeros otherwise) just enough for
every window, then reduces strided views of it, one whole-array numpy call per kernel offset.
Backward adds the head gradient back through the same views: for max, to the first element of
each window equal to its maximum (MXNet's choice on ties).

Window arithmetic, as in MXNet 1.9.1 on CPU:

* ``valid`` floors ``(x + 2 * pad - kernel) / stride`` (+1); ``full`` takes the ceiling, so the
  last window may run past the padding, where it is cut.
* ``same`` gives ``ceil(x / stride)`` outputs with windows starting at 0 and cut at the end;
  pad must be 0. (MXNet 1.9.1 accepts it only for 1-D data and then fails on its own check;
  mxlite accepts it for every dimension.)
* Average pooling divides by the window cells inside the padded data when
  ``count_include_pad`` (the default), else by the cells inside the data; an empty window
  gives 0. A max window lying wholly in padding gives the dtype's lowest finite value.
* ``lp`` pooling is ``(sum x**p) ** (1/p)`` with p in 1, 2, 3 and no absolute value (so p=1
  is sum pooling and p=3 takes a signed cube root), as MXNet computes it. Its gradient where
  the output is 0 is 0 (MXNet gives NaN there).
* ``global_pool`` reduces whole spatial axes and ignores kernel, stride, pad and convention.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod

import numpy as np
from mxlite.inference import ShapeError
from mxlite.registry import Kernel, OpDef, Param, Params

from ._rules import unify
from .conv import (
    LAYOUTS,
    Window,
    as_view,
    check_layout,
    deconv_backward,
    deconv_forward,
    deconv_geometry,
    padded,
    scratch,
    spatial,
)

POOL_TYPES = ("avg", "lp", "max", "sum")
CONVENTIONS = ("full", "same", "valid")


# -- Pooling geometry ------------------------------------------------------------------------
@dataclass(frozen=True)
class PoolPlan:
    """Where the windows of one Pooling call lie."""

    win: Window
    in_sp: tuple[int, ...]
    out_sp: tuple[int, ...]
    #: padding after the data so that every window fits (``full`` may need more than pad)
    pad_hi: tuple[int, ...]
    is_global: bool


def _pool_window(p: Params, nd: int) -> Window:
    if not 1 <= nd <= 3:
        raise ShapeError(f"Pooling takes 3-D, 4-D or 5-D data (1 to 3 spatial axes), got {nd} "
                         "spatial axes")
    check_layout(p.layout, nd)
    kernel = tuple(p.kernel)
    if not kernel:
        raise ShapeError("kernel is required unless global_pool is set")
    if len(kernel) != nd:
        raise ShapeError(f"kernel {kernel} has {len(kernel)} dimensions but the data has {nd} "
                         "spatial axes")
    stride = spatial(p.stride, nd, 1, "stride", kernel)
    pad = spatial(p.pad, nd, 0, "pad", kernel)
    if min(kernel) < 1 or min(stride) < 1 or min(pad) < 0:
        raise ShapeError(f"kernel {kernel} and stride {stride} must be positive and pad {pad} "
                         "non-negative")
    if p.pooling_convention == "same" and any(pad):
        raise ShapeError(f"pooling_convention='same' computes its own windows; pad must be 0, "
                         f"got {pad}")
    return Window(kernel, stride, (1,) * nd, pad)


def _pool_out_size(p: Params, win: Window, axis: int, size: int) -> int:
    k, s, pad = win.kernel[axis], win.stride[axis], win.pad[axis]
    if p.pooling_convention == "same":
        return -(-size // s)
    if k > size + 2 * pad:
        raise ShapeError(f"kernel {win.kernel} exceeds the data's spatial shape padded by "
                         f"{win.pad} on axis {axis} (size {size})")
    if p.pooling_convention == "full":
        return -(-(size + 2 * pad - k) // s) + 1
    return (size + 2 * pad - k) // s + 1


def _global_window(p: Params, in_sp: tuple[int, ...]) -> Window:
    nd = len(in_sp)
    if not 1 <= nd <= 3:
        raise ShapeError(f"Pooling takes 3-D, 4-D or 5-D data (1 to 3 spatial axes), got {nd} "
                         "spatial axes")
    check_layout(p.layout, nd)
    return Window(in_sp, (1,) * nd, (1,) * nd, (0,) * nd)


def pool_plan(p: Params, shape: tuple[int, ...]) -> PoolPlan:
    """The windows of Pooling over data of ``shape`` (every axis known)."""
    in_sp = tuple(shape[2:])
    nd = len(in_sp)
    if p.global_pool:
        return PoolPlan(_global_window(p, in_sp), in_sp, (1,) * nd, (0,) * nd, True)
    win = _pool_window(p, nd)
    out_sp = tuple(_pool_out_size(p, win, i, s) for i, s in enumerate(in_sp))
    pad_hi = tuple(max((o - 1) * st + k - s - pd, 0) for o, st, k, s, pd in
                   zip(out_sp, win.stride, win.kernel, in_sp, win.pad))
    return PoolPlan(win, in_sp, out_sp, pad_hi, False)


def _pooling_shape(p: Params, ins: list, outs: list, aux: list):
    data = ins[0]
    if data is None:
        return ins, outs, aux
    if p.pool_type == "lp":
        _check_p_value(p)
    in_sp = tuple(data[2:])
    if p.global_pool:
        _global_window(p, in_sp)
        out_sp = (1,) * len(in_sp)
    else:  # unknown axes (0) stay unknown
        win = _pool_window(p, len(in_sp))
        out_sp = tuple(_pool_out_size(p, win, i, s) if s else 0 for i, s in enumerate(in_sp))
    return ins, [(data[0], data[1], *out_sp)], aux


def _check_p_value(p: Params) -> int:
    if p.p_value not in (1, 2, 3):
        raise ShapeError(f"pool_type='lp' needs p_value 1, 2 or 3, got {p.p_value}")
    return p.p_value


def _counts(plan: PoolPlan, include_pad: bool, dtype: np.dtype) -> np.ndarray:
    """Cells averaged by each window, shape out_sp (0 for a window with none)."""
    total = np.ones((), dtype)
    for axis, (o, k, s, pad, size) in enumerate(zip(plan.out_sp, plan.win.kernel,
                                                    plan.win.stride, plan.win.pad, plan.in_sp)):
        start = np.arange(o) * s - pad
        if include_pad:
            count = np.minimum(start + k, size + pad) - start
        else:
            count = np.minimum(start + k, size) - np.maximum(start, 0)
        shape = [1] * len(plan.out_sp)
        shape[axis] = o
        total = total * np.maximum(count, 0).astype(dtype).reshape(shape)
    return total


def _lowest(dtype: np.dtype) -> float | int:
    return np.finfo(dtype).min if dtype.kind == "f" else np.iinfo(dtype).min


def _spatial_axes(x: np.ndarray) -> tuple[int, ...]:
    return tuple(range(2, x.ndim))


# -- Pooling forward -------------------------------------------------------------------------
def _pooled_input(x: np.ndarray, plan: PoolPlan, fill: float, power: int) -> np.ndarray:
    """The padded data, raised to ``power`` (lp pooling) in a scratch copy when needed."""
    xp = padded(x, plan.win.pad, plan.pad_hi, fill)
    if power == 1:
        return xp
    if xp is x:
        return np.power(x, power, out=scratch("pad", x.shape, x.dtype))
    return np.power(xp, power, out=xp)


def _window_reduce(xp: np.ndarray, plan: PoolPlan, y: np.ndarray, ufunc: np.ufunc) -> None:
    taps = plan.win.taps(plan.out_sp)
    np.copyto(y, xp[next(taps)[1]])
    for _, index in taps:
        ufunc(y, xp[index], out=y)


def _lp_root(y: np.ndarray, power: int) -> None:
    if power == 2:
        np.sqrt(y, out=y)
    elif power == 3:
        np.cbrt(y, out=y)


def _global_forward(p: Params, x: np.ndarray, y: np.ndarray, power: int) -> None:
    axes = _spatial_axes(x)
    if p.pool_type == "max":
        np.max(x, axis=axes, keepdims=True, out=y)
        return
    src = x if power == 1 else np.power(x, power, out=scratch("pad", x.shape, x.dtype))
    np.sum(src, axis=axes, keepdims=True, out=y)
    if p.pool_type == "avg":
        y /= prod(x.shape[2:])
    _lp_root(y, power)


def _pooling_forward(p: Params, ins: list, outs: list, aux: list, is_train: bool) -> None:
    x, y = ins[0], outs[0]
    plan = pool_plan(p, x.shape)
    power = _check_p_value(p) if p.pool_type == "lp" else 1
    if plan.is_global:
        _global_forward(p, x, y, power)
        return
    if p.pool_type == "max":
        _window_reduce(padded(x, plan.win.pad, plan.pad_hi, _lowest(x.dtype)), plan, y,
                       np.maximum)
        return
    _window_reduce(_pooled_input(x, plan, 0, power), plan, y, np.add)
    if p.pool_type == "avg":
        counts = _counts(plan, p.count_include_pad is not False, y.dtype)
        np.divide(y, np.maximum(counts, 1), out=y)  # an empty window sums to 0
    _lp_root(y, power)


# -- Pooling backward ------------------------------------------------------------------------
def _grad_buffer(dx: np.ndarray, plan: PoolPlan) -> np.ndarray:
    """A zeroed buffer shaped like the padded data: ``dx`` itself when there is no padding."""
    if not any(plan.win.pad) and not any(plan.pad_hi):
        buf = dx
    else:
        shape = (*dx.shape[:2], *(s + a + b for s, a, b in
                                  zip(plan.in_sp, plan.win.pad, plan.pad_hi)))
        buf = scratch("fold", shape, dx.dtype)
    buf.fill(0)
    return buf


def _disjoint(plan: PoolPlan) -> bool:
    """Whether no two windows share a cell (then backward assigns instead of adding)."""
    return all(s >= k for s, k in zip(plan.win.stride, plan.win.kernel))


def _crop_into(buf: np.ndarray, dx: np.ndarray, plan: PoolPlan) -> None:
    if buf is not dx:
        np.copyto(dx, buf[(..., *(slice(a, a + s) for a, s in zip(plan.win.pad, plan.in_sp)))])


def _max_backward(x: np.ndarray, y: np.ndarray, dy: np.ndarray, dx: np.ndarray,
                  plan: PoolPlan) -> None:
    """Each window's head gradient goes to its first cell equal to the window's maximum."""
    xp = padded(x, plan.win.pad, plan.pad_hi, _lowest(x.dtype))
    buf = _grad_buffer(dx, plan)
    taken = scratch("taken", y.shape, np.bool_)
    hit = scratch("hit", y.shape, np.bool_)
    part = scratch("part", y.shape, dy.dtype)
    taken.fill(False)
    disjoint = _disjoint(plan)
    for _, index in plan.win.taps(plan.out_sp):
        np.equal(xp[index], y, out=hit)
        np.greater(hit, taken, out=hit)  # hit and not yet taken
        np.logical_or(taken, hit, out=taken)
        if disjoint:  # no other window writes these cells
            np.multiply(dy, hit, out=buf[index])
        else:
            target = buf[index]
            target += np.multiply(dy, hit, out=part)
    _crop_into(buf, dx, plan)


def _lp_factor(y: np.ndarray, dy: np.ndarray, power: int, out: np.ndarray) -> np.ndarray:
    """``dy / y**(power-1)``, 0 where y is 0: d/dx (sum x^p)^(1/p) = x^(p-1) * that."""
    np.power(y, power - 1, out=out)
    np.divide(dy, out, out=out, where=out != 0)  # y = 0 leaves y**(p-1) = 0 there
    return out


def _window_backward(x: np.ndarray, y: np.ndarray, dy: np.ndarray, dx: np.ndarray,
                     plan: PoolPlan, p: Params, power: int) -> None:
    """sum/avg/lp: ``dx[window] += factor * x**(power-1)`` through every kernel offset."""
    factor = dy
    if p.pool_type == "avg":
        counts = _counts(plan, p.count_include_pad is not False, dy.dtype)
        factor = np.divide(dy, np.maximum(counts, 1), out=scratch("factor", dy.shape, dy.dtype))
    xp = None
    if power > 1:
        factor = _lp_factor(y, dy, power, scratch("factor", dy.shape, dy.dtype))
        xp = _pooled_input(x, plan, 0, power - 1)
    part = scratch("part", dy.shape, dy.dtype)
    buf = _grad_buffer(dx, plan)
    disjoint = _disjoint(plan)
    for _, index in plan.win.taps(plan.out_sp):
        target = buf[index]
        value = factor if xp is None else np.multiply(factor, xp[index], out=part)
        if disjoint:  # no other window writes these cells
            np.copyto(target, value)
        else:
            target += value
    _crop_into(buf, dx, plan)


def _global_backward(p: Params, x: np.ndarray, y: np.ndarray, dy: np.ndarray, dx: np.ndarray,
                     power: int) -> None:
    if p.pool_type == "max":  # the first maximum of each (n, c) gets the gradient
        flat = x.reshape(*x.shape[:2], -1)
        first = np.argmax(flat, axis=-1)[..., None]
        dx.fill(0)
        np.put_along_axis(as_view(dx, flat.shape), first, dy.reshape(*x.shape[:2], 1), -1)
        return
    if power > 1:
        factor = _lp_factor(y, dy, power, scratch("factor", dy.shape, dy.dtype))
        np.power(x, power - 1, out=dx)
        dx *= factor
        return
    np.copyto(dx, dy)
    if p.pool_type == "avg":
        dx /= prod(x.shape[2:])


def _pooling_backward(p: Params, out_grads: list, ins: list, outs: list, in_grads: list,
                      aux: list) -> None:
    dx = in_grads[0]
    if dx is None:
        return
    x, y, dy = ins[0], outs[0], out_grads[0]
    plan = pool_plan(p, dx.shape)
    power = _check_p_value(p) if p.pool_type == "lp" else 1
    if plan.is_global:
        _global_backward(p, x, y, dy, dx, power)
    elif p.pool_type == "max":
        _max_backward(x, y, dy, dx, plan)
    else:
        _window_backward(x, y, dy, dx, plan, p, power)


def _pooling_grad_uses(p: Params) -> tuple[str, ...]:
    needs = p.pool_type == "max" or (p.pool_type == "lp" and p.p_value not in (None, 1))
    return ("inputs", "outputs") if needs else ()


POOLING = OpDef(
    name="Pooling",
    doc="Pooling over 1-D, 2-D or 3-D windows of channel-first data: max, avg, sum, or lp "
        "(``(sum x**p)**(1/p)``, p_value 1, 2 or 3). ``pooling_convention``: 'valid' floors "
        "the output size, 'full' takes the ceiling, 'same' gives ceil(x / stride). Average "
        "pooling counts padding cells unless ``count_include_pad=False``. ``global_pool`` "
        "pools whole spatial axes.",
    params=[
        Param("kernel", "shape", (), doc="Pooling window: (w,), (h, w) or (d, h, w)."),
        Param("pool_type", "str", "max", choices=POOL_TYPES, doc="Pooling function."),
        Param("global_pool", "bool", False, doc="Pool whole spatial axes (kernel is ignored)."),
        Param("cudnn_off", "bool", False, doc="Ignored (cuDNN only)."),
        Param("pooling_convention", "str", "valid", choices=CONVENTIONS,
              doc="How the output size is rounded."),
        Param("stride", "shape", (), doc="Stride; 1 on each axis by default."),
        Param("pad", "shape", (), doc="Padding on both sides; none by default."),
        Param("p_value", "int", None, optional=True, doc="p for lp pooling: 1, 2 or 3."),
        Param("count_include_pad", "bool", None, optional=True,
              doc="Average pooling: count padding cells in the divisor (default True)."),
        Param("layout", "str", None, optional=True, choices=(*LAYOUTS, "NWC"),
              doc="Data layout; only the channel-first default is supported."),
    ],
    infer_shape=_pooling_shape,
    kernels={"numpy": Kernel(_pooling_forward, _pooling_backward)},
    grad_uses=_pooling_grad_uses,
)


# -- UpSampling ------------------------------------------------------------------------------
def _up_inputs(p: Params) -> list[str]:
    if p.sample_type == "bilinear":
        return ["data", "weight"]
    return [f"arg{i}" for i in range(p.num_args)]


def _bilinear_window(scale: int) -> Window:
    """The deconvolution MXNet runs for bilinear upsampling by ``scale``."""
    k = 2 * scale - scale % 2
    return Window((k, k), (scale, scale), (1, 1), (scale // 2, scale // 2))


def _check_4d(shape: tuple, what: str) -> None:
    if len(shape) != 4:
        raise ShapeError(f"{what} {tuple(shape)} must be 4-D (batch, channel, y, x)")


def _nearest_scale(shape: tuple, out_hw: tuple[int, int], i: int) -> int:
    """Integer scale of input ``i`` onto the output's (height, width)."""
    h, w = shape[2:]
    if out_hw[0] % h or out_hw[1] % w or out_hw[0] // h != out_hw[1] // w:
        raise ShapeError(f"input {i} of shape {tuple(shape)} does not divide the output size "
                         f"{out_hw} by one integer scale")
    return out_hw[0] // h


def _nearest_shape(p: Params, ins: list, out: tuple | None) -> tuple[list, tuple | None]:
    first = ins[0]
    if first is None:
        if p.num_args == 1 and out is not None:  # the single input from the output
            _check_4d(out, "output")
            if out[2] % p.scale or out[3] % p.scale:
                raise ShapeError(f"output {tuple(out)} is not a multiple of scale {p.scale}")
            return [(out[0], out[1], out[2] // p.scale, out[3] // p.scale)], out
        return ins, out
    _check_4d(first, "arg0")
    out_hw = (first[2] * p.scale, first[3] * p.scale)
    for i, shape in enumerate(ins):
        if shape is not None:
            _check_4d(shape, f"arg{i}")
            if all(shape[2:]) and all(out_hw):
                _nearest_scale(shape, out_hw, i)
    batch = unify([s[:1] if s else None for s in ins], [f"arg{i} batch" for i in range(len(ins))])
    chans = [s[1] if s else 0 for s in ins]
    if p.multi_input_mode == "sum":
        channels = unify([(c,) for c in chans], [f"arg{i} channels" for i in range(len(ins))],
                         "; multi_input_mode='sum' adds the inputs")[0]
    else:
        channels = sum(chans) if all(chans) else 0
    return ins, ((batch or (0,))[0], channels, *out_hw)


def _upsampling_shape(p: Params, ins: list, outs: list, aux: list):
    if p.sample_type == "nearest":
        new_ins, out = _nearest_shape(p, ins, outs[0])
        return new_ins, [out], aux
    data = ins[0]
    if data is None:
        return ins, outs, aux
    _check_4d(data, "data")
    if p.num_filter and data[1] and p.num_filter != data[1]:
        raise ShapeError(f"bilinear upsampling needs num_filter ({p.num_filter}) equal to the "
                         f"data's channels ({data[1]})")
    k = _bilinear_window(p.scale).kernel
    return ([data, (data[1], 1, *k)], [(data[0], data[1], data[2] * p.scale, data[3] * p.scale)],
            aux)


def _fill_blocks(part: np.ndarray, x: np.ndarray, scale: int, add: bool) -> None:
    """Write (or add) ``x`` into every cell of its scale x scale block of ``part``."""
    for i in range(scale):
        for j in range(scale):
            target = part[:, :, i::scale, j::scale]
            if add:
                target += x
            else:
                np.copyto(target, x)


def _sum_blocks(part: np.ndarray, scale: int, dx: np.ndarray) -> None:
    """``dx`` = sum of each scale x scale block of ``part``: rows first, then columns."""
    n, c, hs, ws = part.shape
    if scale == 1:
        np.copyto(dx, part)
        return
    rows = as_view(part, (n, c, hs // scale, scale, ws))
    acc = np.add(rows[:, :, :, 0], rows[:, :, :, 1],
                 out=scratch("rows", (n, c, hs // scale, ws), part.dtype))
    for k in range(2, scale):
        acc += rows[:, :, :, k]
    cols = acc.reshape(n, c, hs // scale, ws // scale, scale)
    np.add(cols[..., 0], cols[..., 1], out=dx)
    for k in range(2, scale):
        dx += cols[..., k]


def _nearest_targets(p: Params, ins: list, y: np.ndarray):
    """For each input, the part of the output (or of its gradient) it fills, and its scale."""
    start = 0
    for x in ins:
        scale = y.shape[2] // x.shape[2]
        if p.multi_input_mode == "concat":
            yield x, y[:, start:start + x.shape[1]], scale
            start += x.shape[1]
        else:
            yield x, y, scale


def _bilinear_geometry(p: Params, x: np.ndarray):  # -> DeconvGeometry
    return deconv_geometry(_bilinear_window(p.scale), x.shape[2:], (0, 0), (0, 0))


def _upsampling_forward(p: Params, ins: list, outs: list, aux: list, is_train: bool) -> None:
    y = outs[0]
    if p.sample_type == "bilinear":
        x = ins[0]
        deconv_forward(x, ins[1], y, _bilinear_geometry(p, x), x.shape[1], p.workspace)
        return
    for i, (x, part, scale) in enumerate(_nearest_targets(p, ins, y)):
        _fill_blocks(part, x, scale, add=i > 0 and p.multi_input_mode == "sum")


def _upsampling_backward(p: Params, out_grads: list, ins: list, outs: list, in_grads: list,
                         aux: list) -> None:
    dy = out_grads[0]
    if p.sample_type == "bilinear":
        x = ins[0]
        if in_grads[0] is not None or in_grads[1] is not None:
            deconv_backward(x, ins[1], dy, in_grads[0], in_grads[1], _bilinear_geometry(p, x),
                            x.shape[1], p.workspace)
        return
    for dx, (_, part, scale) in zip(in_grads, _nearest_targets(p, ins, dy)):
        if dx is not None:  # only the inputs' shapes are read: their buffers may be reused
            _sum_blocks(part, scale, dx)


def _positive(value: int) -> str | None:
    return None if value >= 1 else "must be at least 1"


UPSAMPLING = OpDef(
    name="UpSampling",
    doc="Upsampling of 4-D (n, c, h, w) data by an integer ``scale``. 'nearest' repeats each "
        "cell scale x scale times; with several inputs, each is scaled to the first one's "
        "output size and the results are concatenated on channels (or summed, "
        "``multi_input_mode='sum'``). 'bilinear' is a grouped Deconvolution of the data with "
        "the ``weight`` input (channels, 1, 2*scale - scale%2, same), usually initialised to a "
        "bilinear kernel.",
    params=[
        Param("scale", "int", check=_positive, doc="Upsampling factor."),
        Param("num_filter", "int", 0, doc="Bilinear only: channels of the data (0 = any)."),
        Param("sample_type", "str", choices=("bilinear", "nearest"), doc="Upsampling method."),
        Param("multi_input_mode", "str", "concat", choices=("concat", "sum"),
              doc="Nearest with several inputs: concatenate on channels or sum."),
        Param("num_args", "int", check=_positive, doc="Number of inputs."),
        Param("workspace", "int", 512, doc="Bilinear: workspace in MB for the deconvolution."),
    ],
    inputs=_up_inputs,
    infer_shape=_upsampling_shape,
    kernels={"numpy": Kernel(_upsampling_forward, _upsampling_backward)},
    key_var_num_args="num_args",
    grad_uses=lambda p: ("inputs",) if p.sample_type == "bilinear" else (),
)

OPS = [POOLING, UPSAMPLING]

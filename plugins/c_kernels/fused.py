"""``FullyConnected`` + ``Activation`` as one node: the BLAS GEMM, then one C pass that adds
the bias and applies the activation (backward: one pass for the activation's gradient and the
bias gradient, then the GEMMs).

The operator ``_fc_act`` has ``FullyConnected``'s parameters, inputs and shape rule plus
``act_type``; its numpy kernel composes the two operators' numpy kernels and is the reference
for the C one. The bind-time graph pass ``c_kernels.fuse_fc_act`` makes it, in the executor's
private graph, from an ``Activation`` (relu, sigmoid, tanh, softrelu: the kinds whose gradient
needs only the output) whose input is a ``FullyConnected`` nothing else reads, when "c" is in
``backends.order`` and ``c_kernels.fuse_fc_act`` is true (the default). The user's symbol, the
argument names and the outputs are unchanged; ``debug_str`` shows the fused node under the
``Activation`` node's name.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from typing import Any

import numpy as np
from mxlite import config
from mxlite.registry import Kernel, OpDef, Param, Params
from mxlite.symbol.graph import topo_order

from . import FUSE_KEY
from ._lib import NULL, func, kernel_from_bound, ptr, sequence, threads
from .layers import fc_gemm, fc_gemm_grads, fc_rows

OP_NAME = "_fc_act"
PASS_NAME = "c_kernels.fuse_fc_act"
#: activations fused, with their ck_act_fwd kind codes (their gradients read only the output)
FUSED_KINDS = {"relu": 0, "sigmoid": 1, "tanh": 2, "softrelu": 3}


# -- the numpy reference: FullyConnected's kernel, then Activation's ------------------------------
def reference_kernel(fc: Kernel, act: Kernel) -> Kernel:
    def forward(p: Params, ins: list, outs: list, aux: list, is_train: bool) -> None:
        fc.forward(p, ins, outs, aux, is_train)
        act.forward(p, outs, outs, [], is_train)

    def backward(p: Params, out_grads: list, ins: list, outs: list, in_grads: list,
                 aux: list) -> None:
        pre_grad = [np.empty_like(out_grads[0])]
        act.backward(p, out_grads, [None], outs, pre_grad, [])
        fc.backward(p, pre_grad, ins, outs, in_grads, aux)

    return Kernel(forward, backward)


# -- the C kernel ----------------------------------------------------------------------------------
def _prep(dtype: np.dtype) -> tuple:
    return func("ck_fc_epilogue", dtype), func("ck_fc_act_bwd", dtype), threads()


def _forward(p: Params, ins: list, outs: list, aux: list) -> Callable:
    y = outs[0]
    epilogue, _, nt = _prep(y.dtype)
    y2, gemm = fc_gemm(p, ins[0], ins[1], y, nt)
    bias = NULL if p.no_bias else ptr(ins[2])
    return sequence([gemm, partial(epilogue, ptr(y2), bias, *y2.shape, FUSED_KINDS[p.act_type],
                                   nt)])


def _backward(p: Params, out_grads: list, ins: list, outs: list, in_grads: list,
              aux: list) -> Callable:
    x, w = ins[0], ins[1]
    rows, nh = fc_rows(p, x), p.num_hidden
    _, act_grad, nt = _prep(w.dtype)
    # a buffer of this node's own: its steps are bound once, and scratch slots are shared
    pre = np.empty((rows, nh), w.dtype)
    db = None if p.no_bias else in_grads[2]
    grad = partial(act_grad, ptr(out_grads[0]), ptr(outs[0]), ptr(pre), ptr(db), rows, nh,
                   FUSED_KINDS[p.act_type], nt)
    return sequence([grad, *fc_gemm_grads(pre, x, w, in_grads, nt)])


def fused_op(fc: OpDef, act: OpDef) -> OpDef:
    """``_fc_act`` from the registered ``FullyConnected`` and ``Activation`` definitions."""
    act_type = Param("act_type", "str", choices=tuple(FUSED_KINDS),
                     doc="Activation applied after the bias (whose gradient needs only the output).")
    return replace(
        fc, name=OP_NAME, aliases=(), params=[*fc.params, act_type],
        doc="FullyConnected followed by Activation, as one node (made at bind by the "
            "c_kernels.fuse_fc_act graph pass).",
        kernels={"numpy": reference_kernel(fc.kernels["numpy"], act.kernels["numpy"]),
                 "c": kernel_from_bound(_forward, _backward)},
        grad_uses=("inputs", "outputs"), inplace=(), views=(), grad_inplace=())


# -- the graph pass ---------------------------------------------------------------------------------
def enabled() -> bool:
    return bool(config.get(FUSE_KEY)) and "c" in config.backend_order()


def fuse_fc_act(symbol: Any, info: Any) -> Any:
    """Fuse in the (private) graph, in place; the FullyConnected nodes become unreachable."""
    from mxlite.registry import get_registry
    registry = get_registry()
    if not enabled() or OP_NAME not in registry:  # not made when builtin_ops is blocked
        return None
    fused = registry.get(OP_NAME)
    nodes = topo_order(symbol._outputs)
    readers = Counter(id(src) for node in nodes for src, _ in node.inputs)
    readers.update(id(node) for node, _ in symbol._outputs)
    for node in nodes:
        if node.op is None or node.op.name != "Activation" or node.params.act_type not in FUSED_KINDS:
            continue
        fc, index = node.inputs[0]
        if fc.op is None or fc.op.name != "FullyConnected" or index != 0 or readers[id(fc)] != 1:
            continue
        node.op = fused
        node.params = Params({**fc.params.as_dict(), "act_type": node.params.act_type})
        node.attrs = {**fc.attrs, "act_type": node.params.act_type}
        node.inputs = list(fc.inputs)
    return symbol

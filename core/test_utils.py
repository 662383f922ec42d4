"""Testing helpers with MXNet's names: numeric gradients and forward/backward checks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .base import MXNetValueError
from .context import Context, cpu
from .ndarray.ndarray import NDArray
from .symbol.symbol import Symbol

__all__ = ["assert_almost_equal", "almost_equal", "check_numeric_gradient",
           "check_symbolic_forward", "check_symbolic_backward", "default_context",
           "set_default_context", "numeric_grad", "same", "rand_ndarray", "rand_shape_2d",
           "rand_shape_nd", "get_rtol", "get_atol"]

_RTOL = {np.dtype(np.float16): 1e-2, np.dtype(np.float32): 1e-4, np.dtype(np.float64): 1e-5}
_ATOL = {np.dtype(np.float16): 1e-1, np.dtype(np.float32): 1e-3, np.dtype(np.float64): 1e-20}
_default_ctx: list[Context] = []


def default_context() -> Context:
    return _default_ctx[-1] if _default_ctx else cpu()


def set_default_context(ctx: Context) -> None:
    _default_ctx[:] = [ctx]


def _np(value: Any) -> np.ndarray:
    return value.asnumpy() if isinstance(value, NDArray) else np.asarray(value)


def get_rtol(rtol: float | None = None, dtype: Any = np.float32) -> float:
    return _RTOL.get(np.dtype(dtype), 1e-5) if rtol is None else rtol


def get_atol(atol: float | None = None, dtype: Any = np.float32) -> float:
    return _ATOL.get(np.dtype(dtype), 1e-20) if atol is None else atol


def same(a: Any, b: Any) -> bool:
    return bool(np.array_equal(_np(a), _np(b)))


def almost_equal(a: Any, b: Any, rtol: float | None = None, atol: float | None = None,
                 equal_nan: bool = False) -> bool:
    a, b = _np(a), _np(b)
    return bool(np.allclose(a, b, rtol=get_rtol(rtol, a.dtype), atol=get_atol(atol, a.dtype),
                            equal_nan=equal_nan))


def assert_almost_equal(a: Any, b: Any, rtol: float | None = None, atol: float | None = None,
                        names: Sequence[str] = ("a", "b"), equal_nan: bool = False,
                        use_broadcast: bool = True, mismatches: Any = (10, 10)) -> None:
    """Raise AssertionError naming the worst element when ``a`` and ``b`` differ."""
    a, b = _np(a), _np(b)
    if not use_broadcast and a.shape != b.shape:
        raise AssertionError(f"shape mismatch: {names[0]}{a.shape} vs {names[1]}{b.shape}")
    rtol, atol = get_rtol(rtol, a.dtype), get_atol(atol, a.dtype)
    if np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan):
        return
    a64, b64 = np.broadcast_arrays(a.astype(np.float64), b.astype(np.float64))
    err = np.abs(a64 - b64) / (atol + rtol * np.abs(b64))
    err = np.where(np.isnan(err), np.inf, err)
    index = np.unravel_index(int(np.argmax(err)), err.shape) if err.size else ()
    raise AssertionError(
        f"Items are not equal (rtol={rtol}, atol={atol}): worst at {index}: "
        f"{names[0]}={a64[index]!r}, {names[1]}={b64[index]!r}; "
        f"{int(np.sum(err > 1))} of {err.size} elements differ\n"
        f" {names[0]}: {a!r}\n {names[1]}: {b!r}")


def _as_location(sym: Symbol, location: Any, dtype: Any) -> dict[str, np.ndarray]:
    names = sym.list_arguments()
    if isinstance(location, dict):
        unknown = set(location) - set(names)
        if unknown:
            raise MXNetValueError(f"location names {sorted(unknown)} are not arguments {names}")
        items = location.items()
    else:
        if len(location) != len(names):
            raise MXNetValueError(f"location has {len(location)} arrays for arguments {names}")
        items = zip(names, location)
    return {k: _np(v).astype(dtype or _np(v).dtype, copy=True) for k, v in items}


def _as_aux(sym: Symbol, aux_states: Any, dtype: Any) -> dict[str, np.ndarray] | None:
    if aux_states is None:
        return None
    names = sym.list_auxiliary_states()
    items = aux_states.items() if isinstance(aux_states, dict) else zip(names, aux_states)
    return {k: _np(v).astype(dtype or _np(v).dtype, copy=True) for k, v in items}


def _bind(sym: Symbol, location: dict[str, np.ndarray], aux: dict | None, grad_req: Any,
          ctx: Any) -> Any:
    args = {k: NDArray(v.copy()) for k, v in location.items()}
    grads = {k: NDArray(np.zeros_like(v)) for k, v in location.items()}
    aux_arrays = None
    if aux is not None:
        aux_arrays = {k: NDArray(v.copy()) for k, v in aux.items()}
    elif sym.list_auxiliary_states():
        shapes = sym.infer_shape(**{k: v.shape for k, v in location.items()})[2]
        dtype = next(iter(location.values())).dtype
        aux_arrays = {k: NDArray(np.zeros(s, dtype)) for k, s in
                      zip(sym.list_auxiliary_states(), shapes)}
    return sym.bind(ctx or default_context(), args=args, args_grad=grads, grad_req=grad_req,
                    aux_states=aux_arrays)


def check_symbolic_forward(sym: Symbol, location: Any, expected: Any, rtol: float | None = None,
                           atol: float | None = None, aux_states: Any = None, ctx: Any = None,
                           equal_nan: bool = False, dtype: Any = None,
                           is_train: bool = False) -> list[np.ndarray]:
    """Bind at ``location``, run forward, and compare every output with ``expected``."""
    loc = _as_location(sym, location, dtype)
    executor = _bind(sym, loc, _as_aux(sym, aux_states, dtype), "null", ctx)
    outputs = [o.asnumpy() for o in executor.forward(is_train=is_train)]
    if isinstance(expected, dict):
        expected = [expected[k] for k in sym.list_outputs()]
    for name, out, exp in zip(sym.list_outputs(), outputs, expected):
        assert_almost_equal(out, _np(exp), rtol, atol, ("output " + name, "expected"), equal_nan)
    return outputs


def check_symbolic_backward(sym: Symbol, location: Any, out_grads: Any, expected: Any,
                            rtol: float | None = None, atol: float | None = None,
                            aux_states: Any = None, grad_req: Any = "write", ctx: Any = None,
                            grad_stypes: Any = None, equal_nan: bool = False,
                            dtype: Any = None) -> dict[str, np.ndarray]:
    """Run forward(is_train=True) and backward(out_grads); compare gradients with ``expected``."""
    loc = _as_location(sym, location, dtype)
    executor = _bind(sym, loc, _as_aux(sym, aux_states, dtype), grad_req, ctx)
    if isinstance(expected, (list, tuple)):
        expected = dict(zip(sym.list_arguments(), expected))
    for name in expected:
        req = grad_req.get(name, "null") if isinstance(grad_req, dict) else grad_req
        if req == "add" and executor.grad_dict.get(name) is not None:
            executor.grad_dict[name][:] = 0
    executor.forward(is_train=True)
    if out_grads is not None:
        given = out_grads if isinstance(out_grads, (list, tuple)) else [out_grads]
        out_grads = [None if g is None else NDArray(_np(g).astype(o.dtype))
                     for g, o in zip(given, executor.outputs)]
    executor.backward(out_grads)
    grads = {k: v.asnumpy() for k, v in executor.grad_dict.items() if v is not None}
    for name, exp in expected.items():
        if exp is None:
            continue
        assert_almost_equal(grads[name], _np(exp), rtol, atol, ("gradient " + name, "expected"),
                            equal_nan)
    return grads


def numeric_grad(executor: Any, location: dict[str, np.ndarray], projections: list[np.ndarray],
                 eps: float = 1e-4, use_forward_train: bool = True,
                 names: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    """Central differences of ``sum(out * proj)`` for each argument in ``names``."""
    def objective() -> float:
        outs = executor.forward(is_train=use_forward_train)
        return float(sum(np.sum(o.asnumpy().astype(np.float64) * p)
                         for o, p in zip(outs, projections)))

    grads = {}
    for name in names or list(location):
        arr = executor.arg_dict[name]._data
        grad = np.zeros(arr.shape, np.float64)
        flat = arr.reshape(-1)
        for i in range(flat.size):
            old = flat[i].copy()
            flat[i] = old + eps
            plus = objective()
            flat[i] = old - eps
            minus = objective()
            flat[i] = old
            grad.reshape(-1)[i] = (plus - minus) / (2 * eps)
        grads[name] = grad
    return grads


def check_numeric_gradient(sym: Symbol, location: Any, aux_states: Any = None,
                           numeric_eps: float | None = None, rtol: float | None = None,
                           atol: float | None = None, grad_nodes: Any = None,
                           use_forward_train: bool = True, ctx: Any = None,
                           grad_stype_dict: Any = None, dtype: Any = None) -> None:
    """Compare backward() with central differences of ``sum(outputs * random projection)``.

    Loss operators make their own head gradient, which is not the derivative of their
    forward; check those with ``check_symbolic_backward``.
    """
    loc = _as_location(sym, location, dtype)
    dtype = np.dtype(dtype or next(iter(loc.values())).dtype)
    if isinstance(grad_nodes, dict):
        grad_req = {k: v for k, v in grad_nodes.items()}
        names = [k for k, v in grad_nodes.items() if v != "null"]
    else:
        names = list(grad_nodes) if grad_nodes is not None else list(loc)
        grad_req = {k: ("write" if k in names else "null") for k in loc}
    aux = _as_aux(sym, aux_states, dtype)
    executor = _bind(sym, loc, aux, grad_req, ctx)
    outputs = executor.forward(is_train=use_forward_train)
    rng = np.random.default_rng(0)
    projections = [rng.uniform(-1.0, 1.0, o.shape) for o in outputs]
    executor.backward([NDArray(p.astype(o.dtype)) for p, o in zip(projections, outputs)])
    symbolic = {k: executor.grad_dict[k].asnumpy() for k in names}
    numeric_executor = _bind(sym, loc, aux, "null", ctx)
    eps = numeric_eps or (1e-6 if dtype == np.float64 else 1e-3)
    numeric = numeric_grad(numeric_executor, loc, projections, eps, use_forward_train, names)
    tol_r = rtol if rtol is not None else (1e-4 if dtype == np.float64 else 1e-2)
    tol_a = atol if atol is not None else (1e-6 if dtype == np.float64 else 1e-3)
    for name in names:
        assert_almost_equal(numeric[name], symbolic[name], tol_r, tol_a,
                            (f"NUMERICAL_{name}", f"BACKWARD_{name}"))


def rand_shape_2d(dim0: int = 10, dim1: int = 10) -> tuple[int, int]:
    return int(np.random.randint(1, dim0 + 1)), int(np.random.randint(1, dim1 + 1))


def rand_shape_nd(num_dim: int, dim: int = 10) -> tuple[int, ...]:
    return tuple(int(d) for d in np.random.randint(1, dim + 1, size=num_dim))


def rand_ndarray(shape: Sequence[int], stype: str = "default", density: Any = None,
                 dtype: Any = None, **kwargs: Any) -> NDArray:
    return NDArray(np.random.uniform(-1, 1, shape).astype(dtype or np.float32))

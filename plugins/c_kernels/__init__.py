"""mxlite's C/OpenMP kernel pack: backend ``"c"``, beside the numpy reference kernels.

Loaded through the ``mxlite`` entry point like any plugin; its kernels are chosen at bind
when ``backends.order`` lists ``"c"`` (``MXLITE_BACKENDS=c,numpy``), for float32 and float64
nodes (other dtypes, and the few parameter combinations the C code does not cover, use the
numpy kernels). ``c_kernels.num_threads`` (0 = follow ``OMP_NUM_THREADS``) sets the threads
of each parallel loop; it is read when a node first runs after bind.

The compiled module is built at install (``setup.py``, ``_build.py``). When it is missing,
or ``MXLITE_NO_C_KERNELS=1`` is set, the plugin registers nothing and
``UNAVAILABLE_REASON`` says why (``python -m mxlite plugins`` shows it).
"""

from __future__ import annotations

import os
from importlib import import_module

from mxlite import hookimpl

__all__ = ["BACKEND", "UNAVAILABLE_REASON", "KERNEL_MODULES", "available", "openmp", "status"]

BACKEND = "c"
OPT_OUT = "MXLITE_NO_C_KERNELS"
#: configuration key: fuse FullyConnected + Activation into one node at bind
FUSE_KEY = "c_kernels.fuse_fc_act"
#: modules whose ``KERNELS`` map operator names to ``factory(numpy_kernel) -> Kernel``
KERNEL_MODULES = ("layers", "conv", "pooling", "norm", "softmax", "elemwise")


def _unavailable() -> str | None:
    if os.environ.get(OPT_OUT, "").strip().lower() not in ("", "0", "false", "no", "off"):
        return f"disabled by {OPT_OUT}={os.environ[OPT_OUT]}"
    try:
        import_module(f"{__name__}._lib")
    except ImportError as err:
        return (f"the compiled module {__name__}._ckernels is not installed ({err}); mxlite was "
                f"installed without a working C compiler or with {OPT_OUT}=1: reinstall with a "
                "C compiler to get the 'c' backend")
    return None


#: why the pack registers nothing here, or None when it is available
UNAVAILABLE_REASON: str | None = _unavailable()


def available() -> bool:
    return UNAVAILABLE_REASON is None


def openmp() -> bool:
    """Whether the compiled pack runs its loops with OpenMP (else serially)."""
    if not available():
        return False
    from ._lib import lib
    return bool(lib.ck_openmp())


def status() -> str | None:
    """How the pack runs here (``python -m mxlite plugins`` prints it): OpenMP or serial
    loops, and whether GEMMs run through numpy's BLAS under the pack's threads (``_blas``)."""
    if not available():
        return None
    from ._blas import UNAVAILABLE_REASON as blas_reason
    loops = "OpenMP" if openmp() else "serial (built without OpenMP)"
    gemms = "numpy's BLAS, single-threaded pieces under the pack's threads" if blas_reason is None \
        else blas_reason
    return f"loops: {loops}; GEMMs: {gemms}"


@hookimpl
def mxlite_config_defaults(defaults) -> None:  # type: ignore[no-untyped-def]
    """``c_kernels.fuse_fc_act``: fuse FullyConnected + Activation at bind (see ``fused``)."""
    defaults[FUSE_KEY] = True


@hookimpl
def mxlite_register_ops(registry) -> None:  # type: ignore[no-untyped-def]
    """The fused ``_fc_act`` operator (nothing when the pack is unavailable)."""
    if available() and "FullyConnected" in registry and "Activation" in registry:
        fused = import_module(f"{__name__}.fused")
        registry.add_op(fused.fused_op(registry.get("FullyConnected"), registry.get("Activation")))


@hookimpl
def mxlite_register_graph_passes(registry) -> None:  # type: ignore[no-untyped-def]
    """The pass that makes ``_fc_act`` nodes when "c" is in ``backends.order``."""
    if available():
        fused = import_module(f"{__name__}.fused")
        registry.add_graph_pass(fused.PASS_NAME, fused.fuse_fc_act)


@hookimpl
def mxlite_register_kernels(registry) -> None:  # type: ignore[no-untyped-def]
    """Register a "c" kernel for every operator the pack covers, and the fused SGD and Adam
    updates that ``mx.optimizer`` runs when "c" is in ``backends.order`` (nothing when the
    pack is unavailable)."""
    if not available():
        return
    optim = import_module(f"{__name__}.optim")
    registry.add_update_kernel("sgd", BACKEND, optim.sgd)
    registry.add_update_kernel("adam", BACKEND, optim.adam)
    for module_name in KERNEL_MODULES:
        module = import_module(f"{__name__}.{module_name}")
        for op_name, factory in module.KERNELS.items():
            if op_name in registry:
                numpy_kernel = registry.get(op_name).kernels.get("numpy")
                registry.add_kernel(op_name, BACKEND, factory(numpy_kernel))

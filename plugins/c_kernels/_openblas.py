"""Where numpy's BLAS is: the OpenBLAS routines the C pack calls (``_blas``), looked up in the
library numpy loaded, with ctypes only, before the compiled pack (and its OpenMP runtime) loads:
``_lib`` chooses the OpenMP wait policy by what is found here.

``MXLITE_C_BLAS=0`` turns the path off (for comparing, or to work around a BLAS problem).
"""

from __future__ import annotations

import ctypes
import glob
import os

import numpy as np

__all__ = ["FOUND", "REASON", "OPT_OUT", "find"]

OPT_OUT = "MXLITE_C_BLAS"
#: (sgemm, dgemm, 64-bit integers) symbol names, most specific first
_SYMBOLS = (("scipy_cblas_sgemm64_", "scipy_cblas_dgemm64_", True),
            ("cblas_sgemm64_", "cblas_dgemm64_", True),
            ("scipy_cblas_sgemm", "scipy_cblas_dgemm", False),
            ("cblas_sgemm", "cblas_dgemm", False))
#: OpenBLAS's global thread count, (get, set) with and without the scipy-openblas suffixes
_THREADS = (("scipy_openblas_get_num_threads64_", "scipy_openblas_set_num_threads64_"),
            ("openblas_get_num_threads64_", "openblas_set_num_threads64_"),
            ("scipy_openblas_get_num_threads", "scipy_openblas_set_num_threads"),
            ("openblas_get_num_threads", "openblas_set_num_threads"))


def _candidate_libraries() -> list[str]:
    """Shared libraries that may be numpy's BLAS: those bundled with the wheel, then the
    BLAS libraries this process has mapped (Linux)."""
    site = os.path.dirname(os.path.dirname(np.__file__))
    found = sorted(glob.glob(os.path.join(site, "numpy.libs", "*openblas*")))
    found += sorted(glob.glob(os.path.join(os.path.dirname(np.__file__), ".dylibs", "*openblas*")))
    try:
        with open("/proc/self/maps") as maps:
            mapped = {line.split()[-1] for line in maps if "blas" in line.lower()}
        found += sorted(path for path in mapped if path.startswith("/") and path not in found)
    except OSError:
        pass
    return found


def _address(library: ctypes.CDLL, name: str) -> int | None:
    try:
        return ctypes.cast(getattr(library, name), ctypes.c_void_p).value
    except AttributeError:
        return None


def find() -> tuple[tuple[int, int, int, int, bool] | None, str | None]:
    """The addresses of (sgemm, dgemm, get_num_threads, set_num_threads) and whether the
    integers are 64-bit; or None and why not."""
    if os.environ.get(OPT_OUT, "").strip().lower() in ("0", "false", "no", "off"):
        return None, f"turned off by {OPT_OUT}={os.environ[OPT_OUT]}"
    libraries = _candidate_libraries()
    for path in libraries:
        try:
            library = ctypes.CDLL(path)
        except OSError:
            continue
        counts = next(((g, t) for g, t in ((_address(library, a), _address(library, b))
                                           for a, b in _THREADS) if g and t), None)
        for sname, dname, ilp64 in _SYMBOLS:
            sgemm, dgemm = _address(library, sname), _address(library, dname)
            if sgemm and dgemm and counts:
                return (sgemm, dgemm, counts[0], counts[1], ilp64), None
    return None, ("no OpenBLAS with cblas_?gemm and openblas_set_num_threads among "
                  f"{libraries or 'the loaded libraries'}: GEMMs run through numpy.matmul")


#: (sgemm, dgemm, get_num_threads, set_num_threads, 64-bit integers) addresses, or None
FOUND, REASON = find()

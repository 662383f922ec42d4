"""The C pack's GEMMs through numpy's BLAS under OpenMP threads (``mxlite_c_kernels._blas``):
``matmul`` against ``numpy.matmul`` over layouts (transposed operands, strided rows, stacks
with broadcasting), dtypes, accumulation and thread counts, including splits too small to
share; what falls back to numpy; and the switch that turns the path off.
"""

from __future__ import annotations

import ctypes.util
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

ck = pytest.importorskip("mxlite_c_kernels")
if not ck.available():
    pytest.skip(f"C kernel pack not built: {ck.UNAVAILABLE_REASON}", allow_module_level=True)

from mxlite_c_kernels import _blas, _openblas  # noqa: E402

RTOL = {np.float32: 2e-5, np.float64: 1e-12, np.int64: 0}


@pytest.fixture(autouse=True)
def _every_size_through_c(monkeypatch: pytest.MonkeyPatch):
    """Small products go to numpy.matmul in use; here they take the C path too."""
    monkeypatch.setattr(_blas, "SERIAL_BELOW", 0)
    _blas._LAYOUTS.clear()
    yield
    _blas._LAYOUTS.clear()


def operand(rng: np.random.Generator, rows: int, cols: int, dtype, transposed: bool,
            padded: bool, lead: tuple = ()) -> np.ndarray:
    """A (lead..., rows, cols) operand stored transposed and/or with padded rows."""
    shape = (*lead, cols, rows) if transposed else (*lead, rows, cols)
    wide = rng.uniform(-1, 1, (*shape[:-1], shape[-1] + (3 if padded else 0))).astype(dtype)
    base = wide[..., :shape[-1]]
    return base.swapaxes(-1, -2) if transposed else base


def check(a: np.ndarray, b: np.ndarray, accumulate: bool = False, nt: int = 2) -> None:
    want = np.matmul(a, b)
    out = np.full(want.shape, 0.5, a.dtype)
    if accumulate:
        want = want + out
    got = _blas.matmul(a, b, out, accumulate=accumulate, nt=nt)
    assert got is out
    scale = max(1.0, float(np.abs(want).max(initial=0)))
    assert float(np.abs(out - want).max(initial=0)) <= RTOL[a.dtype.type] * scale * a.shape[-1]


def test_the_blas_of_this_numpy_was_found() -> None:
    # the PyPI wheels of numpy bundle OpenBLAS; other builds fall back (tested below)
    if not any("openblas" in os.path.basename(p) for p in _openblas._candidate_libraries()):
        pytest.skip("numpy here does not use a bundled OpenBLAS")
    assert _blas.AVAILABLE, _blas.UNAVAILABLE_REASON


@settings(max_examples=60, deadline=None)
@given(m=st.integers(1, 40), n=st.integers(1, 40), k=st.integers(1, 40),
       ta=st.booleans(), tb=st.booleans(), pa=st.booleans(), pb=st.booleans(),
       dtype=st.sampled_from([np.float32, np.float64]), accumulate=st.booleans(),
       nt=st.sampled_from([0, 1, 2, 3]), seed=st.integers(0, 2**16))
def test_matrix_products_match_numpy(m: int, n: int, k: int, ta: bool, tb: bool, pa: bool,
                                     pb: bool, dtype, accumulate: bool, nt: int,
                                     seed: int) -> None:
    rng = np.random.default_rng(seed)
    check(operand(rng, m, k, dtype, ta, pa), operand(rng, k, n, dtype, tb, pb), accumulate, nt)


@pytest.mark.parametrize("shape", [(300, 700, 200), (700, 40, 300), (64, 784, 128)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_products_large_enough_to_split_over_threads(shape: tuple, dtype) -> None:
    m, k, n = shape
    rng = np.random.default_rng(1)
    for ta, tb in ((False, False), (True, False), (False, True), (True, True)):
        check(operand(rng, m, k, dtype, ta, False), operand(rng, k, n, dtype, tb, True), nt=2)
        check(operand(rng, m, k, dtype, ta, False), operand(rng, k, n, dtype, tb, False),
              accumulate=True, nt=3)


@pytest.mark.parametrize("lead_a, lead_b", [((3,), (3,)), ((), (5,)), ((4,), ()),
                                            ((2, 3), (2, 3)), ((2, 1), (1, 3)), ((1,), (6,))])
def test_stacks_with_broadcasting(lead_a: tuple, lead_b: tuple) -> None:
    rng = np.random.default_rng(2)
    a = operand(rng, 20, 30, np.float32, False, True, lead_a)
    b = operand(rng, 30, 90, np.float32, True, False, lead_b)
    check(a, b, nt=2)
    check(a, b, accumulate=True, nt=2)


def test_layouts_blas_cannot_take_fall_back_to_numpy() -> None:
    rng = np.random.default_rng(3)
    a = rng.uniform(-1, 1, (12, 16))
    cases = [(a[:, ::2], a[:8, :5]),                        # a column stride of 2 elements
             (a[::-1, :8], a[:8, :5]),                      # negative row stride
             (np.broadcast_to(a[:1], (8, 16)), a.T[:, :4]),  # a zero row stride
             (a[:6, :8].astype(np.int64), a[:8, :4].astype(np.int64))]  # not a float
    for x, y in cases:
        assert _blas._layout(x, y, np.empty((x.shape[0], y.shape[1]), x.dtype)) is None
        check(x, y)
    x, y = a[:4, :6], a[:6, :5]
    out = np.empty((5, 4)).T  # a column-major output
    _blas.matmul(x, y, out, nt=2)
    np.testing.assert_allclose(out, x @ y, rtol=1e-12)


def test_an_output_over_an_operand_falls_back_to_numpy() -> None:
    rng = np.random.default_rng(5)
    a = rng.uniform(-1, 1, (16, 16))
    b = rng.uniform(-1, 1, (16, 16))
    want = a @ b
    _blas.matmul(a, b, a, nt=2)  # numpy copies the operand that the output overwrites
    np.testing.assert_allclose(a, want, rtol=1e-12)


def test_grouped_stacks_fall_back_and_agree() -> None:
    rng = np.random.default_rng(4)
    w = rng.uniform(-1, 1, (2, 3, 5)).astype(np.float32)         # (groups, f, k)
    cols = rng.uniform(-1, 1, (4, 2, 5, 7)).astype(np.float32)   # (n, groups, k, cells)
    assert _blas._layout(w, cols, np.empty((4, 2, 3, 7), np.float32)) is None
    check(w, cols)


def test_turned_off_by_the_environment() -> None:
    code = ("from mxlite_c_kernels import _blas; import numpy as np; "
            "a = np.ones((3, 4), np.float32); out = np.empty((3, 3), np.float32); "
            "_blas.matmul(a, a.T, out, nt=1); "
            "print(_blas.AVAILABLE, _blas.UNAVAILABLE_REASON, out[0, 0])")
    env = {**os.environ, "MXLITE_C_BLAS": "0"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          check=True)
    assert done.stdout.strip() == "False turned off by MXLITE_C_BLAS=0 4.0"


def test_a_library_without_the_routines_is_passed_over(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_openblas, "_candidate_libraries", lambda: [ctypes.util.find_library("c")])
    found, reason = _openblas.find()
    assert found is None and reason.startswith("no OpenBLAS with cblas_?gemm")
    monkeypatch.setattr(_openblas, "_candidate_libraries", lambda: ["/nonexistent/libopenblas.so"])
    assert _openblas.find()[0] is None


def test_plugins_command_says_how_gemms_run() -> None:
    from mxlite.__main__ import _report
    note = next(p["note"] for p in _report()["plugins"] if p["name"] == "c_kernels")
    assert note.startswith("loops: ") and "GEMMs: " in note
    assert ("single-threaded pieces under the pack's threads" in note) == _blas.AVAILABLE


def test_small_products_are_left_to_numpy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_blas, "SERIAL_BELOW", 262144)
    _blas._LAYOUTS.clear()
    a, b = np.ones((64, 64), np.float32), np.ones((64, 10), np.float32)
    assert _blas._layout(a, b, np.empty((64, 10), np.float32))[-1]  # 40960 multiply-adds
    big = np.ones((64, 128), np.float32)
    assert not _blas._layout(a, big, np.empty((64, 128), np.float32))[-1]
    check(a, b)


def test_gemms_from_several_threads_leave_openblas_as_it_was() -> None:
    """cffi releases the GIL: GEMMs from two Python threads overlap in C, and OpenBLAS's own
    thread count, set to 1 while any of them runs, must come back to what it was."""
    import threading
    paths = [p for p in _openblas._candidate_libraries() if "scipy_openblas64" in p]
    if not (_blas.AVAILABLE and paths):
        pytest.skip("numpy's scipy-openblas not found")
    get = ctypes.CDLL(paths[0]).scipy_openblas_get_num_threads64_
    before = get()
    rng = np.random.default_rng(6)
    a, b = rng.uniform(-1, 1, (200, 300)), rng.uniform(-1, 1, (300, 250))
    want = a @ b
    errors: list = []

    def work() -> None:
        out = np.empty((200, 250))
        for _ in range(40):
            _blas.matmul(a, b, out, nt=2)
            if not np.allclose(out, want):
                errors.append("wrong product")

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and get() == before

"""Per-operator time of the numpy kernels against a naive numpy expression of the same op,
both measured in this run on the shapes of ``bench/op_cases/*.py``.

    python bench/ops.py [--filter NAME]

How a case is timed: the kernel (writing into preallocated outputs) and the naive expression
(allocating its result) run the same number of loops per repeat, calibrated on the slower of
the two; their repeats alternate (kernel, naive, naive, kernel, ...) so that a slow phase of a
shared machine hits both alike, and each side's time is the *minimum* over its repeats (the
timeit recommendation: the noise only ever adds time).

Rule: a kernel within ``NOISE`` (3%) of its naive time is at parity and printed ``~``; one
slower than that is first re-measured with more repeats (the minima then run over every
repeat, of both sides), and is flagged ``SLOWER`` when it still is. The summary counts the
kernels slower beyond noise and those within noise; no tolerance beyond ``NOISE`` is applied.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import timeit
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import mxlite as mx
from _common import table
from mxlite.inference import infer_node

CASES_DIR = Path(__file__).resolve().parent / "op_cases"
#: relative difference within which kernel and naive are at parity (measurement noise)
NOISE = 0.03
REPEAT = 7  # interleaved repeats per side
RETRIES = 2  # extra rounds of repeats for a case first seen slower beyond noise
BUDGET = 0.02  # seconds per repeat of one side


def load_cases() -> list[tuple[str, dict]]:
    cases = []
    for path in sorted(CASES_DIR.glob("*.py")):
        if path.name.startswith("_"):
            continue
        spec = importlib.util.spec_from_file_location(f"op_cases_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        cases += [(path.stem, case) for case in module.CASES]
    return cases


def _loops(kernel, naive) -> int:  # type: ignore[no-untyped-def]
    """One loop count for both sides: a repeat of the slower one takes about ``BUDGET``."""
    kernel()
    naive()  # warm up (first-call allocations, caches)
    single = max(min(timeit.repeat(f, number=1, repeat=3)) for f in (kernel, naive))
    return max(1, min(10000, int(BUDGET / max(single, 1e-7))))


def _interleaved(kernel, naive, number: int, repeat: int) -> tuple[list, list]:  # type: ignore[no-untyped-def]
    k_times, n_times = [], []
    for r in range(repeat):
        order = ((kernel, k_times), (naive, n_times))
        for func, times in (order if r % 2 == 0 else order[::-1]):
            times.append(timeit.timeit(func, number=number))
    return k_times, n_times


def verdict(kernel_us: float, naive_us: float) -> str:
    """``SLOWER`` beyond noise, ``~`` at parity within noise, else empty (faster)."""
    if kernel_us > naive_us * (1 + NOISE):
        return "SLOWER"
    return "~" if kernel_us > naive_us * (1 - NOISE) else ""


def measure(case: dict, rng: np.random.Generator) -> tuple[float, float]:
    op = mx.registry.get_registry().get(case["op"])
    params = op.parse_params(case.get("params", {}), case["op"])
    dtype = np.dtype(case.get("dtype", "float32"))
    arrays = [rng.uniform(0.1, 0.9, shape).astype(dtype) for shape in case["inputs"]]
    (_, out_shapes, _), (_, out_types, _) = infer_node(
        op, params, [a.shape for a in arrays], [a.dtype for a in arrays], case["op"])
    outs = [np.empty(s, t) for s, t in zip(out_shapes, out_types)]
    n_args = len(op.input_names(params))
    ins, aux = arrays[:n_args], arrays[n_args:]
    forward, naive_fn = op.kernels["numpy"].forward, case["naive"]
    kernel = lambda: forward(params, ins, outs, aux, False)
    naive = lambda: naive_fn(*arrays)
    number = _loops(kernel, naive)
    k_times, n_times = _interleaved(kernel, naive, number, REPEAT)
    for _ in range(RETRIES):
        if verdict(min(k_times), min(n_times)) != "SLOWER":
            break
        more_k, more_n = _interleaved(kernel, naive, number, 2 * REPEAT)
        k_times += more_k
        n_times += more_n
    return min(k_times) / number * 1e6, min(n_times) / number * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--filter", default="", help="only ops whose name contains this")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    rows, counts = [], {"SLOWER": 0, "~": 0, "": 0}
    for area, case in load_cases():
        if args.filter not in case["op"]:
            continue
        kernel_us, naive_us = measure(case, rng)
        flag = verdict(kernel_us, naive_us)
        counts[flag] += 1
        shapes = " ".join("x".join(map(str, s)) for s in case["inputs"])
        rows.append([area, case["op"], shapes, f"{kernel_us:.1f}", f"{naive_us:.1f}",
                     f"{naive_us / kernel_us:.2f}x", flag])
    print(table(rows, ["area", "op", "inputs", "kernel us", "naive us", "speed-up", ""]))
    print(f"\n{len(rows)} cases: {counts['SLOWER']} kernels slower than their naive expression "
          f"beyond noise (>{NOISE:.0%}), {counts['~']} within noise (~, |diff| <= {NOISE:.0%}), "
          f"{counts['']} faster")


if __name__ == "__main__":
    main()

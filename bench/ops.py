"""Per-operator time of the numpy kernels against a naive numpy expression of the same op,
both measured in this run on the shapes of ``bench/op_cases/*.py``.

    python bench/ops.py [--filter NAME]

A kernel slower than its naive expression is flagged SLOWER.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import timeit
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import mxlite as mx
from _common import table
from mxlite.inference import infer_node

CASES_DIR = Path(__file__).resolve().parent / "op_cases"


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


def _time_us(func, budget: float = 0.2) -> float:  # type: ignore[no-untyped-def]
    func()
    number = max(1, int(budget / max(timeit.timeit(func, number=1), 1e-7)))
    number = min(number, 10000)
    return statistics.median(timeit.repeat(func, number=number, repeat=5)) / number * 1e6


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
    forward = op.kernels["numpy"].forward
    kernel_us = _time_us(lambda: forward(params, ins, outs, aux, False))
    naive_us = _time_us(lambda: case["naive"](*arrays))
    return kernel_us, naive_us


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--filter", default="", help="only ops whose name contains this")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    rows, slower = [], 0
    for area, case in load_cases():
        if args.filter not in case["op"]:
            continue
        kernel_us, naive_us = measure(case, rng)
        flag = "SLOWER" if kernel_us > naive_us else ""
        slower += bool(flag)
        shapes = " ".join("x".join(map(str, s)) for s in case["inputs"])
        rows.append([area, case["op"], shapes, f"{kernel_us:.1f}", f"{naive_us:.1f}",
                     f"{naive_us / kernel_us:.2f}x", flag])
    print(table(rows, ["area", "op", "inputs", "kernel us", "naive us", "speed-up", ""]))
    print(f"\n{len(rows)} cases, {slower} kernels slower than their naive expression")


if __name__ == "__main__":
    main()

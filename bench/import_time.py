"""Time of ``import mxlite`` (numpy included) against ``import numpy`` alone, median of fresh
processes measured in this run; plugin discovery happens on first operator use and is timed
separately.

    python bench/import_time.py [--runs 9]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import table

SNIPPETS = {
    "import numpy": "import numpy",
    "import mxlite": "import mxlite",
    "import mxlite + first op (plugin discovery)":
        "import mxlite as mx; mx.sym.FullyConnected(mx.sym.Variable('x'), num_hidden=2)",
}


def time_snippet(code: str, runs: int) -> float:
    probe = ("import time; t = time.perf_counter(); " + code +
             "; print(time.perf_counter() - t)")
    times = [float(subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                                  check=True).stdout) for _ in range(runs)]
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    results = {name: time_snippet(code, args.runs) for name, code in SNIPPETS.items()}
    base = results["import numpy"]
    rows = [[name, f"{value * 1000:.0f}", f"{value / base:.1f}x"] for name, value in results.items()]
    print(table(rows, ["what", "ms (median)", "vs numpy"]))


if __name__ == "__main__":
    main()

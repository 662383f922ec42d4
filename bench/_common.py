"""Shared by the bench scripts: run one measurement as a worker under mxlite or MXNet.

The same code measures both frameworks: a worker imports ``mxnet as mx`` or ``mxlite as mx``
(the APIs are the same) and prints one JSON object. MXNet 1.9.1 needs its own interpreter
(a side virtual environment); when none is given, its column is skipped.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

#: MXNet runs with 2 OpenMP threads and no large-copy OpenMP on the calling thread
MXNET_ENV = {"OMP_NUM_THREADS": "2", "MXNET_CPU_PARALLEL_SIZE": "2000000000"}


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--mxnet-python", default=os.environ.get("MXNET_PYTHON"),
                   help="interpreter with mxnet==1.9.1 installed (column skipped when absent)")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--framework", default="mxlite", help=argparse.SUPPRESS)
    return p


def import_framework(name: str) -> Any:
    if name == "mxnet":
        import mxnet
        return mxnet
    import mxlite
    return mxlite


def run_worker(script: str, worker: str, framework: str, python: str | None = None,
               extra: list[str] | None = None) -> dict | None:
    """Run ``script --worker W --framework F`` in a fresh process; None when unavailable."""
    interpreter = python or sys.executable
    if framework == "mxnet" and not python:
        return None
    env = dict(os.environ)
    if framework == "mxnet":
        env.update(MXNET_ENV)
    cmd = [interpreter, str(Path(script).resolve()), "--worker", worker, "--framework", framework,
           *(extra or [])]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        print(f"[{framework} {worker} failed]\n{done.stderr[-2000:]}", file=sys.stderr)
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def emit(result: dict) -> None:
    print(json.dumps(result))


def ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}x" if a and b else "-"


def table(rows: list[list[Any]], header: list[str]) -> str:
    cells = [header] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)

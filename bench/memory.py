"""Memory: bytes the executor allocates, planned versus naive (one buffer per tensor), and the
peak resident memory of a process training a 20-layer 1024-wide MLP (batch 256, SGD) above its
post-import baseline, for mxlite and, given its interpreter, MXNet 1.9.1 in the same run.

    python bench/memory.py [--mxnet-python /path/to/venv/bin/python] [--steps 5]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, import_framework, parser, ratio, run_worker, table
from _nets import lenet, mlp20

TARGETS = {"mlp20 inference": 0.25, "mlp20 training": 0.60, "lenet training": 0.60}


def planned_vs_naive() -> list[list[str]]:
    import mxlite as mx
    cases = [("mlp20 inference", mlp20(mx), {"data": (256, 1024)}, "null"),
             ("mlp20 training", mlp20(mx), {"data": (256, 1024)}, "write"),
             ("lenet training", lenet(mx), {"data": (64, 1, 28, 28)}, "write")]
    rows = []
    for name, sym, shapes, req in cases:
        storage = sym.simple_bind(mx.cpu(), grad_req=req, **shapes)._plan.storage
        share = storage.planned_bytes / storage.naive_bytes
        rows.append([name, f"{storage.naive_bytes / 2**20:.1f}",
                     f"{storage.planned_bytes / 2**20:.1f}", f"{share:.1%}",
                     f"<= {TARGETS[name]:.0%}", "ok" if share <= TARGETS[name] else "MISSED"])
    return rows


def rss_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(field)


def train_worker(framework: str, steps: int) -> None:
    mx = import_framework(framework)
    import numpy as np
    baseline = rss_kib("VmRSS")
    executor = mlp20(mx).simple_bind(mx.cpu(), data=(256, 1024))
    rng = np.random.default_rng(0)
    for name, array in executor.arg_dict.items():
        if name.endswith("_weight"):
            array[:] = rng.uniform(-0.05, 0.05, array.shape)
    executor.arg_dict["data"][:] = rng.uniform(-1, 1, (256, 1024))
    executor.arg_dict["softmax_label"][:] = rng.integers(0, 10, 256)
    params = [n for n in executor.arg_dict if n not in ("data", "softmax_label")]
    for _ in range(steps):
        executor.forward(is_train=True)
        executor.backward()
        for name in params:  # SGD in place: w -= lr * g, with no temporaries
            grad = executor.grad_dict[name]
            grad *= 0.01
            weight = executor.arg_dict[name]
            weight -= grad
        executor.outputs[0].wait_to_read()
    emit({"peak_above_baseline_mb": (rss_kib("VmHWM") - baseline) / 1024})


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=5)
    args = p.parse_args()
    if args.worker:
        train_worker(args.framework, args.steps)
        return
    print("Executor storage, planned versus naive")
    print(table(planned_vs_naive(), ["network", "naive MB", "planned MB", "planned/naive",
                                     "target", ""]))
    extra = ["--steps", str(args.steps)]
    ours = run_worker(__file__, "train", "mxlite", extra=extra)
    theirs = run_worker(__file__, "train", "mxnet", args.mxnet_python, extra) or {}
    mine, other = ours["peak_above_baseline_mb"], theirs.get("peak_above_baseline_mb")
    print("\nPeak RSS above the post-import baseline, training the 20x1024 MLP (batch 256, SGD)")
    print(table([[f"{mine:.0f}", f"{other:.0f}" if other else "-", ratio(mine, other)]],
                ["mxlite MB", "mxnet 1.9.1 MB", "mxlite/mxnet"]))


if __name__ == "__main__":
    main()

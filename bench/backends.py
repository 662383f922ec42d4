"""Training-step throughput (forward + backward + SGD-with-momentum update), in samples/s, of
the C kernel pack (backend "c") against the numpy backend, for LeNet at batch 64, the seed's
MLP 784-128-64-10 at batch 64 and 512, and a 20x1024 MLP at batch 256; an MXNet 1.9.1 column
when its interpreter is given; then the thread scaling (1 vs 2 threads) of both backends on
LeNet.

Each figure is ``batch / median step time`` over ``--steps`` timed steps after warm-up in a fresh
process, and the median of ``--rounds`` such processes, the columns of a row taking turns
(on a shared virtual machine the speed of one process can swing by 2x for seconds at a time). Both
mxlite columns update the weights through ``mx.optimizer.SGD`` and its updater, as Module does:
with "c" in ``backends.order`` that runs the pack's fused SGD kernel, with numpy alone the
optimizer's numpy code; MXNet runs its own ``sgd_mom_update`` with OMP_NUM_THREADS=2. The main
table keeps the environment's thread settings (OMP_NUM_THREADS, which also sets numpy's BLAS
threads); the scaling table sets OMP_NUM_THREADS to 1 and 2, and also runs 2 threads with a
single-threaded BLAS (OPENBLAS_NUM_THREADS=1: the C loops' OpenMP threads then do not compete
with BLAS threads for the cores). Around the scaling table, a machine check times one plain C
parallel loop on 1 and 2 threads: well under its usual ~1.9x, the second core was busy with
other work, and the 2-thread figures are low for that reason.

    python bench/backends.py [--mxnet-python /work/mxnet-venv/bin/python] [--steps 30] [--rounds 3]
                             [--only throughput|scaling]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, import_framework, parser, ratio, run_worker, table
from _nets import lenet, mlp20, seed_mlp

#: model -> batch shape of its data
MODELS = {"lenet-b64": (64, 1, 28, 28), "mlp-b64": (64, 784), "mlp-b512": (512, 784),
          "mlp20-b256": (256, 1024)}
TARGETS = {"lenet-b64": 2.0, "mlp-b64": 1.2}
#: thread settings of the scaling table
SCALING = {"1 thread": {"OMP_NUM_THREADS": "1"}, "2 threads": {"OMP_NUM_THREADS": "2"},
           "2 threads, BLAS 1": {"OMP_NUM_THREADS": "2", "OPENBLAS_NUM_THREADS": "1"}}
WARMUP = 3


BUILDERS = {"lenet-b64": lenet, "mlp-b64": seed_mlp, "mlp-b512": seed_mlp, "mlp20-b256": mlp20}


# -- the worker -----------------------------------------------------------------------------------
def _bind(mx, model: str):  # type: ignore[no-untyped-def]
    import numpy as np
    sym, shape = BUILDERS[model](mx), MODELS[model]
    inputs = ("data", "softmax_label")
    grad_req = {n: "null" if n in inputs else "write" for n in sym.list_arguments()}
    executor = sym.simple_bind(mx.cpu(), data=shape, grad_req=grad_req)
    rng = np.random.default_rng(0)
    for name, array in executor.arg_dict.items():
        if name == "softmax_label":
            array[:] = rng.integers(0, 10, shape[0])
        elif name == "data":
            array[:] = rng.uniform(0, 1, array.shape)
        else:  # Xavier-uniform weights, small biases
            fan = sum(array.shape[:2]) if len(array.shape) > 1 else 1000
            array[:] = rng.uniform(-1, 1, array.shape) * np.sqrt(6.0 / fan)
    return executor, [n for n in sym.list_arguments() if n not in inputs], shape[0]


def _updater(mx, executor, params: list[str], batch: int):  # type: ignore[no-untyped-def]
    """One SGD-with-momentum step over every parameter, through ``mx.optimizer``."""
    updater = mx.optimizer.get_updater(
        mx.optimizer.SGD(learning_rate=0.01, momentum=0.9, rescale_grad=1.0 / batch))
    pairs = [(executor.grad_dict[name], executor.arg_dict[name]) for name in params]

    def update() -> None:
        for i, (grad, weight) in enumerate(pairs):
            updater(i, grad, weight)
    return update


def measure(mx, model: str, backend: str, steps: int) -> dict:  # type: ignore[no-untyped-def]
    if backend in ("c", "numpy"):
        mx.config.set("backends.order", [backend])
        if backend == "c":
            import mxlite_c_kernels
            if not mxlite_c_kernels.available():
                raise SystemExit(f"C kernel pack unavailable: {mxlite_c_kernels.UNAVAILABLE_REASON}")
    executor, params, batch = _bind(mx, model)
    chosen = "n/a"
    if backend in ("c", "numpy"):
        lines = [line for line in executor.debug_str().splitlines() if line.startswith("Op:")]
        chosen = f"{sum(f'backend={backend}' in line for line in lines)}/{len(lines)} ops"
    update = _updater(mx, executor, params, batch)

    def step() -> None:
        executor.forward(is_train=True)
        executor.backward()
        update()
        mx.nd.waitall()

    for _ in range(WARMUP):
        step()
    times = []
    for _ in range(steps):
        tic = time.perf_counter()
        step()
        times.append(time.perf_counter() - tic)
    median = statistics.median(times)
    return {"samples_s": batch / median, "median_ms": median * 1e3,
            "spread_ms": (min(times) * 1e3, max(times) * 1e3), "on_backend": chosen,
            "threads": os.environ.get("OMP_NUM_THREADS", "default")}


def worker(spec: str, framework: str) -> None:
    model, backend, steps = spec.split(":")
    emit(measure(import_framework(framework), model, backend, int(steps)))


# -- the driver -------------------------------------------------------------------------------------
def _steps(model: str, steps: int) -> int:
    return max(5, steps // 3) if model == "mlp20-b256" else steps


def _run(model: str, backend: str, steps: int, env: dict[str, str] | None = None,
         mxnet: str | None = None) -> dict | None:
    spec = f"{model}:{backend}:{_steps(model, steps)}"
    if backend == "mxnet":
        return run_worker(__file__, spec, "mxnet", mxnet)
    saved = {key: os.environ.get(key) for key in env or {}}
    os.environ.update(env or {})
    try:
        return run_worker(__file__, spec, "mxlite")
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _fmt(result: dict | None) -> str:
    return f"{result['samples_s']:.0f}" if result else "-"


def _speed(result: dict | None) -> float | None:
    return result["samples_s"] if result else None


def _interleaved(specs: list[tuple], steps: int, rounds: int, mxnet: str | None,
                 every: list | None = None) -> list:
    """Each spec ``(model, backend, env)`` measured ``rounds`` times in fresh processes, the
    specs taking turns within a round (so a slow phase of a shared machine hits them alike);
    the result with the median samples/s of each spec, or None when it did not run. Every
    round's samples/s per spec are appended to ``every`` when given."""
    runs: list[list[dict]] = [[] for _ in specs]
    for _ in range(rounds):
        for i, (model, backend, env) in enumerate(specs):
            result = _run(model, backend, steps, env, mxnet=mxnet)
            if result is not None:
                runs[i].append(result)
    if every is not None:
        every.extend([round(r["samples_s"]) for r in results] for results in runs)
    medians = []
    for results in runs:
        ordered = sorted(results, key=lambda r: r["samples_s"])
        medians.append(ordered[len(ordered) // 2] if ordered else None)
    return medians


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=30, help="timed steps per measurement")
    p.add_argument("--rounds", type=int, default=3,
                   help="fresh-process measurements per figure, interleaved; the median is shown")
    p.add_argument("--only", choices=("throughput", "scaling"),
                   help="run one of the two tables (default: both)")
    args = p.parse_args()
    if args.worker:
        worker(args.worker, args.framework)
        return
    if args.only != "scaling":
        throughput_table(args)
    if args.only != "throughput":
        scaling_table(args)


def throughput_table(args: argparse.Namespace) -> None:
    """The samples/s of every model on numpy, c and (when given) MXNet."""
    rows = []
    for model in MODELS:
        numpy_run, c_run, mxnet_run = _interleaved(
            [(model, "numpy", None), (model, "c", None), (model, "mxnet", None)], args.steps,
            args.rounds, args.mxnet_python)
        target = TARGETS.get(model)
        met = "" if not target or not c_run or not numpy_run else \
            ("ok" if c_run["samples_s"] >= target * numpy_run["samples_s"] else "MISSED")
        rows.append([model, _fmt(numpy_run), _fmt(c_run), ratio(_speed(c_run), _speed(numpy_run)),
                     f">= {target}x {met}" if target else "", _fmt(mxnet_run),
                     ratio(_speed(c_run), _speed(mxnet_run)),
                     c_run["on_backend"] if c_run else "-"])
    settings = ", ".join(f"{key}={os.environ.get(key, 'unset')}"
                         for key in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"))
    print(f"training step samples/s (median of {args.steps} steps in a process, median of "
          f"{args.rounds} interleaved processes; {settings})")
    print(table(rows, ["model", "numpy", "c", "c/numpy", "target", "mxnet 1.9.1", "c/mxnet",
                       "ops on c"]))


def parallel_loop_check(pairs: int = 20) -> float | None:
    """How many times faster one plain C parallel loop (tanh over 4M float32) runs on 2 threads
    than on 1 at this moment: the median of ``pairs`` back-to-back timings; None without the
    pack. About 1.9x on a quiet 2-core machine, less while other work slows the second core."""
    try:
        import numpy as np
        from mxlite_c_kernels import _lib
    except ImportError:
        return None
    tanh = _lib.func("ck_act_fwd", np.float32)
    x = np.random.default_rng(0).uniform(-3, 3, 1 << 22).astype(np.float32)
    y = np.empty_like(x)
    px, py = _lib.ptr(x), _lib.ptr(y)

    def seconds(threads: int) -> float:
        tic = time.perf_counter()
        tanh(px, py, x.size, 2, 0.0, threads)
        return time.perf_counter() - tic

    seconds(2)
    return statistics.median(seconds(1) / seconds(2) for _ in range(pairs))


def _machine_check(when: str) -> str:
    speedup = parallel_loop_check()
    return "" if speedup is None else \
        f"machine check {when}: a plain C parallel loop ran {speedup:.2f}x on 2 threads vs 1"


def scaling_table(args: argparse.Namespace) -> None:
    """LeNet's samples/s on 1 and 2 threads, on numpy and c, and every round's figures, with
    a check of how well the machine ran a parallel loop before and after."""
    before = _machine_check("before")
    scaling, every = [], []
    for backend in ("numpy", "c"):
        runs = _interleaved([("lenet-b64", backend, env) for env in SCALING.values()],
                            args.steps, args.rounds, None, every)
        scaling.append([backend, *map(_fmt, runs), ratio(_speed(runs[1]), _speed(runs[0])),
                        ratio(_speed(runs[2]), _speed(runs[0]))])
    print("\nLeNet b64 thread scaling: OMP_NUM_THREADS sets the C loops' threads and numpy's "
          "BLAS threads unless OPENBLAS_NUM_THREADS is set")
    print(table(scaling, ["backend", *SCALING, "2 vs 1", "2 (BLAS 1) vs 1"]))
    print("every round, samples/s (numpy then c; columns as above):")
    for backend, k in (("numpy", 0), ("c", len(SCALING))):
        print(f"  {backend}: " + "; ".join(f"{name} {every[k + i]}"
                                           for i, name in enumerate(SCALING)))
    print("2 threads vs 1 within each round (the two runs next to each other in time):")
    for backend, k in (("numpy", 0), ("c", len(SCALING))):
        pairs = [two / one for one, two in zip(every[k], every[k + 1])]
        print(f"  {backend}: " + " ".join(f"{r:.2f}x" for r in pairs)
              + (f"; median {statistics.median(pairs):.2f}x" if pairs else ""))
    for line in (before, _machine_check("after")):
        if line:
            print(line)


if __name__ == "__main__":
    main()

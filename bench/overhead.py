"""Per-call overhead of the executor: ``forward()`` of ``C = A * B`` on 3-element arrays, and
forward+backward of the seed's MLP at batch 1, in microseconds (median of repeats), for
mxlite and, given its interpreter, MXNet 1.9.1 measured in the same run.

    python bench/overhead.py [--mxnet-python /path/to/venv/bin/python]
"""

from __future__ import annotations

import statistics
import sys
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, import_framework, parser, ratio, run_worker, table

REPEATS = 7


def _median_us(func, number: int) -> float:  # type: ignore[no-untyped-def]
    func()
    runs = timeit.repeat(func, number=number, repeat=REPEATS)
    return statistics.median(runs) / number * 1e6


def measure_mul(mx) -> float:  # type: ignore[no-untyped-def]
    a, b = mx.sym.Variable("A"), mx.sym.Variable("B")
    executor = (a * b).bind(mx.cpu(), args={"A": mx.nd.ones(3) * 4, "B": mx.nd.ones(3) * 2})

    def call() -> None:
        executor.forward()
        executor.outputs[0].wait_to_read()

    return _median_us(call, 2000)


def measure_mlp(mx) -> float:  # type: ignore[no-untyped-def]
    net = mx.symbol.Variable("data")
    net = mx.symbol.FullyConnected(data=net, name="fc1", num_hidden=128)
    net = mx.symbol.Activation(data=net, name="relu1", act_type="relu")
    net = mx.symbol.FullyConnected(data=net, name="fc2", num_hidden=64)
    net = mx.symbol.SoftmaxOutput(data=net, name="out")
    executor = net.simple_bind(ctx=mx.cpu(), data=(1, 100))

    def step() -> None:
        executor.forward(is_train=True)
        executor.backward()
        executor.grad_arrays[1].wait_to_read()

    return _median_us(step, 500)


def worker(framework: str) -> None:
    mx = import_framework(framework)
    emit({"mul_forward_us": measure_mul(mx), "mlp_fwd_bwd_us": measure_mlp(mx)})


def main() -> None:
    args = parser(__doc__.splitlines()[0]).parse_args()
    if args.worker:
        worker(args.framework)
        return
    ours = run_worker(__file__, "overhead", "mxlite")
    theirs = run_worker(__file__, "overhead", "mxnet", args.mxnet_python) or {}
    rows = []
    for key, label in (("mul_forward_us", "forward() of C = A * B (3 elements)"),
                       ("mlp_fwd_bwd_us", "seed MLP batch 1 forward+backward")):
        mine, other = ours[key], theirs.get(key)
        rows.append([label, f"{mine:.1f}", f"{other:.1f}" if other else "-",
                     ratio(mine, other)])
    print(table(rows, ["call", "mxlite us", "mxnet 1.9.1 us", "mxlite/mxnet"]))


if __name__ == "__main__":
    main()

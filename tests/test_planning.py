"""Bind-time planning: planned storage gives bitwise the same results as one buffer per
tensor, for the example networks and for every operator with a benchmark case."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import mxlite as mx
import numpy as np
import pytest
from mxlite.memory import TensorSpec, allocate

CASES_DIR = Path(__file__).resolve().parents[1] / "bench" / "op_cases"


def _run(sym, shapes: dict, seed: int, planned: bool, grad_req="write", type_dict=None,  # type: ignore[no-untyped-def]
         steps: int = 2):
    """Bind, fill inputs deterministically, run forward+backward twice; return everything."""
    with mx.config.override(planning__enabled=planned):
        executor = sym.simple_bind(mx.cpu(), grad_req=grad_req, type_dict=type_dict, **shapes)
    mx.random.seed(seed)  # random ops (Dropout) draw the same in both runs
    rng = np.random.default_rng(seed)
    for array in executor.arg_arrays + executor.aux_arrays:
        array[:] = rng.uniform(0.1, 0.9, array.shape)
    heads = [mx.nd.array(rng.uniform(-1, 1, o.shape), dtype=o.dtype) for o in executor.outputs]
    for _ in range(steps):
        executor.forward(is_train=True)
        if grad_req != "null":
            executor.backward(heads)
    outs = [o.asnumpy() for o in executor.outputs]
    grads = {k: v.asnumpy() for k, v in executor.grad_dict.items() if v is not None}
    return outs, grads, executor


def assert_same_planned_and_naive(sym, shapes: dict, grad_req="write", type_dict=None):  # type: ignore[no-untyped-def]
    outs_p, grads_p, executor = _run(sym, shapes, 0, True, grad_req, type_dict)
    outs_n, grads_n, _ = _run(sym, shapes, 0, False, grad_req, type_dict)
    for a, b in zip(outs_p, outs_n):
        np.testing.assert_array_equal(a, b)
    assert grads_p.keys() == grads_n.keys()
    for name in grads_p:
        np.testing.assert_array_equal(grads_p[name], grads_n[name], err_msg=name)
    return executor


def mlp(layers: int = 4, width: int = 16, act: str = "relu"):  # type: ignore[no-untyped-def]
    net = mx.sym.Variable("data")
    for i in range(layers):
        net = mx.sym.FullyConnected(net, num_hidden=width, name=f"fc{i}")
        net = mx.sym.Activation(net, act_type=act, name=f"act{i}")
    return mx.sym.SoftmaxOutput(net, name="softmax")


@pytest.mark.parametrize("act", ["relu", "sigmoid", "tanh", "softrelu", "softsign"])
def test_mlp_planned_equals_naive(act: str) -> None:
    executor = assert_same_planned_and_naive(mlp(act=act), {"data": (8, 12)})
    storage = executor._plan.storage
    assert storage.planned_bytes < storage.naive_bytes


@pytest.mark.parametrize("grad_req", ["write", "add"])
def test_shared_variables_and_several_heads(grad_req: str) -> None:
    a, b = mx.sym.Variable("a"), mx.sym.Variable("b")
    c = a * b + a
    d = mx.sym.Activation(c, act_type="tanh") * a - b / (a + 2)
    group = mx.sym.Group([d, c * 3, mx.sym.Activation(d, act_type="relu")])
    assert_same_planned_and_naive(group, {"a": (3, 4), "b": (3, 4)}, grad_req)


def test_inference_plan_shares_almost_everything() -> None:
    executor = mlp(layers=10, width=32).simple_bind(mx.cpu(), grad_req="null", data=(16, 32))
    storage = executor._plan.storage
    assert storage.planned_bytes <= 0.25 * storage.naive_bytes
    assert not any(key[0] in ("grad", "scratch") for key in storage.arrays)


def test_training_keeps_only_what_backward_reads() -> None:
    executor = mlp(layers=10, width=32).simple_bind(mx.cpu(), data=(16, 32))
    storage = executor._plan.storage
    assert storage.planned_bytes <= 0.6 * storage.naive_bytes
    # relu runs in place on the FullyConnected output it replaces
    graph = executor._plan.graph
    fc = graph.entry(graph.nodes[[n.name for n in graph.nodes].index("fc3")], 0)
    act = graph.entry(graph.nodes[[n.name for n in graph.nodes].index("act3")], 0)
    assert storage.block_of[("out", fc)] == storage.block_of[("out", act)]


def test_outputs_stay_readable_after_backward() -> None:
    net = mx.sym.Activation(mx.sym.FullyConnected(mx.sym.Variable("x"), num_hidden=4, name="fc"),
                            act_type="relu")
    executor = net.simple_bind(mx.cpu(), x=(2, 3))
    executor.arg_dict["x"][:] = 1.0
    executor.arg_dict["fc_weight"][:] = 0.5
    out = executor.forward(is_train=True)[0].asnumpy()
    executor.backward(mx.nd.ones((2, 4)))
    np.testing.assert_array_equal(executor.outputs[0].asnumpy(), out)


def test_debug_str_reports_planned_and_naive() -> None:
    text = mlp().simple_bind(mx.cpu(), data=(4, 8)).debug_str()
    assert "versus naive" in text
    assert text.splitlines()[-1].startswith("Total ") and text.endswith("MB allocated")


def test_planning_switch_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MXLITE_PLANNING", "0")
    storage = mlp().simple_bind(mx.cpu(), data=(4, 8))._plan.storage
    assert storage.planned_bytes == storage.naive_bytes


def test_allocator_reuses_dead_blocks_and_respects_overlap() -> None:
    f4 = np.float32
    specs = [TensorSpec("a", (4,), f4, 0, 1), TensorSpec("b", (4,), f4, 1, 2),
             TensorSpec("c", (2,), f4, 2, 3), TensorSpec("d", (8,), f4, 3, 3, reuse=["c"])]
    storage = allocate(specs)
    blocks = storage.block_of
    assert blocks["a"] != blocks["b"]  # both live at step 1
    assert blocks["c"] == blocks["a"]  # a died at step 1
    assert blocks["d"] == blocks["c"]  # takes over c, which dies at step 3, and grows it
    assert storage.planned_bytes == 32 + 16  # block 0 grew to 8 floats, block 1 has 4
    assert allocate(specs, planned=False).planned_bytes == storage.naive_bytes == 72


def _op_cases() -> list:
    cases = []
    for path in sorted(CASES_DIR.glob("*.py")):
        if path.name.startswith("_"):
            continue
        spec = importlib.util.spec_from_file_location(f"op_cases_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        cases += [pytest.param(case, id=f"{path.stem}-{case['op']}-{n}")
                  for n, case in enumerate(module.CASES)]
    return cases


def _small(shape: tuple) -> tuple:
    return tuple(min(d, 6) if i == 0 else d for i, d in enumerate(shape))


@pytest.mark.parametrize("case", _op_cases())
def test_every_op_planned_equals_naive(case: dict) -> None:
    """Each input comes from a copy op, so in-place hints can take effect."""
    op = mx.registry.get_registry().get(case["op"])
    names = [f"in{i}" for i in range(len(case["inputs"]))]
    copies = [mx.sym.identity(mx.sym.Variable(n)) if "identity" in mx.registry.get_registry()
              else mx.sym.Variable(n) + 0.0 for n in names]
    sym = getattr(mx.sym, case["op"])(*copies, **case.get("params", {}))
    shapes = dict(zip(names, (tuple(s) for s in case["inputs"])))
    type_dict = {n: case.get("dtype", "float32") for n in names}
    try:
        sym.simple_bind(mx.cpu(), grad_req="null", type_dict=type_dict, **shapes)
    except mx.MXNetError as err:
        pytest.skip(f"case needs values the generic sweep cannot make: {err}")
    grad_req = "null" if op.no_gradient else "write"
    assert_same_planned_and_naive(sym, shapes, grad_req, type_dict)


def test_flatten_is_a_view_and_activation_gradient_runs_in_place() -> None:
    data = mx.sym.Variable("data")
    conv = mx.sym.Convolution(data, kernel=(3, 3), num_filter=4, name="conv")
    pool = mx.sym.Pooling(mx.sym.Activation(conv, act_type="tanh", name="act"), kernel=(2, 2),
                          pool_type="max", name="pool")
    net = mx.sym.SoftmaxOutput(mx.sym.FullyConnected(mx.sym.Flatten(pool, name="flat"),
                                                     num_hidden=3, name="fc"), name="sm")
    executor = assert_same_planned_and_naive(net, {"data": (2, 1, 6, 6)})
    graph, storage = executor._plan.graph, executor._plan.storage
    entry = {n.name: graph.entry(n, 0) for n in graph.nodes}
    assert storage.block_of[("out", entry["flat"])] == storage.block_of[("out", entry["pool"])]
    assert storage.block_of[("grad", entry["conv"])] == storage.block_of[("grad", entry["act"])]


def test_kernels_that_bind_are_bound_once_per_executor(fresh_registry: None) -> None:
    """``Kernel.bind_forward``/``bind_backward`` get the executor's planned arrays once, at
    bind; the steps they return run on every forward/backward."""
    from mxlite.registry import Kernel, get_registry
    numpy_kernel = get_registry().get("Activation").kernels["numpy"]
    binds, runs = [], []

    def bind_forward(p, ins, outs, aux):  # type: ignore[no-untyped-def]
        binds.append("forward")
        return lambda is_train: (runs.append("forward"),
                                 numpy_kernel.forward(p, ins, outs, aux, is_train))

    def bind_backward(p, out_grads, ins, outs, in_grads, aux):  # type: ignore[no-untyped-def]
        binds.append("backward")
        return lambda: (runs.append("backward"),
                        numpy_kernel.backward(p, out_grads, ins, outs, in_grads, aux))

    kernel = Kernel(numpy_kernel.forward, numpy_kernel.backward, None, bind_forward, bind_backward)
    get_registry().add_kernel("Activation", "bound", kernel)
    x = mx.nd.array(np.linspace(-1, 1, 12).reshape(3, 4))
    net = mx.sym.Activation(mx.sym.Variable("x"), act_type="tanh")
    with mx.config.override(backends__order=["bound"]):
        ex = net.bind(mx.cpu(), {"x": x}, args_grad={"x": mx.nd.zeros((3, 4))})
    for _ in range(3):
        ex.forward(is_train=True)
        ex.backward(mx.nd.ones((3, 4)))
    assert binds == ["forward", "backward"] and runs == ["forward", "backward"] * 3
    np.testing.assert_allclose(ex.grad_dict["x"].asnumpy(), 1 - np.tanh(x.asnumpy()) ** 2,
                               rtol=1e-6)

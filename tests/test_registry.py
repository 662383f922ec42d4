"""The registry and plugin loading: entry points, historic hooks, conflicts, broken plugins."""

from __future__ import annotations

import warnings

import mxlite as mx
import numpy as np
import pytest
from mxlite.registry import (
    Kernel,
    OpDef,
    Param,
    PluginError,
    PluginWarning,
    get_registry,
    register_plugin,
)
from mxlite.symbol.graph import topo_order

PLUGIN_WITH_OP = """
    import numpy as np
    import mxlite
    from mxlite.registry import Kernel, OpDef

    def _shape(p, ins, outs, aux):
        return ins, [ins[0]], aux

    def _fwd(p, ins, outs, aux, is_train):
        np.multiply(ins[0], 3.0, out=outs[0])

    def _bwd(p, og, ins, outs, ig, aux):
        if ig[0] is not None:
            np.multiply(og[0], 3.0, out=ig[0])

    TRIPLE = OpDef(name="triple", infer_shape=_shape, kernels={"numpy": Kernel(_fwd, _bwd)})

    @mxlite.hookimpl
    def mxlite_register_ops(registry):
        registry.add_op(TRIPLE)
"""


def test_builtin_ops_come_from_the_entry_point() -> None:
    registry = get_registry()
    assert registry.owner["FullyConnected"] == "builtin_ops"
    info = registry.plugins["builtin_ops"]
    assert info.distribution == "mxlite"
    assert "SoftmaxOutput" in info.ops


def test_aliases_resolve_to_one_definition() -> None:
    registry = get_registry()
    assert registry.get("_Plus") is registry.get("elemwise_add")
    assert registry.get("Softmax") is registry.get("SoftmaxOutput")


def test_unknown_operator_suggests_the_nearest() -> None:
    with pytest.raises(mx.base.MXNetError, match="Did you mean 'FullyConnected'"):
        get_registry().get("FullyConected")
    with pytest.raises(AttributeError, match="FullyConnected"):
        mx.sym.Fullyconnected  # noqa: B018


def test_third_party_plugin_is_discovered(fake_plugin) -> None:  # type: ignore[no-untyped-def]
    fake_plugin("mxlite-triple", "mxlite_triple_plugin", PLUGIN_WITH_OP)
    x = mx.nd.array([1.0, 2.0])
    assert mx.nd.triple(x).asnumpy().tolist() == [3.0, 6.0]
    sym = mx.sym.triple(mx.sym.Variable("x"))
    assert sym.name == "triple0"
    info = get_registry().plugins["mxlite_triple_plugin"]
    assert (info.distribution, info.version, info.ops) == ("mxlite-triple", "1.0", ["triple"])


def test_plugin_failing_at_import_is_skipped_with_a_warning(fake_plugin) -> None:  # type: ignore[no-untyped-def]
    fake_plugin("mxlite-broken", "mxlite_broken_plugin", "raise RuntimeError('boom')\n")
    with pytest.warns(PluginWarning, match="mxlite_broken_plugin.*mxlite-broken.*boom"):
        registry = get_registry()
    assert "FullyConnected" in registry
    assert registry.plugins["mxlite_broken_plugin"].skipped


def test_conflicting_name_skips_the_plugin_and_names_both(fake_plugin) -> None:  # type: ignore[no-untyped-def]
    source = PLUGIN_WITH_OP.replace('name="triple"', 'name="FullyConnected"')
    fake_plugin("mxlite-clash", "mxlite_clash_plugin", source)
    with pytest.warns(PluginWarning, match="'FullyConnected' is already registered by plugin "
                                           "'builtin_ops'"):
        registry = get_registry()
    assert registry.owner["FullyConnected"] == "builtin_ops"


def test_misspelt_hook_is_caught(fake_plugin) -> None:  # type: ignore[no-untyped-def]
    source = PLUGIN_WITH_OP.replace("def mxlite_register_ops", "def mxlite_register_opps")
    fake_plugin("mxlite-typo", "mxlite_typo_plugin", source)
    with pytest.warns(PluginWarning, match="mxlite_register_opps"):
        registry = get_registry()
    assert "triple" not in registry


def _identity_op(name: str, **extra) -> OpDef:  # type: ignore[no-untyped-def]
    def fwd(p, ins, outs, aux, is_train):  # type: ignore[no-untyped-def]
        np.copyto(outs[0], ins[0])

    def bwd(p, og, ins, outs, ig, aux):  # type: ignore[no-untyped-def]
        np.copyto(ig[0], og[0])

    fields = dict(name=name, infer_shape=lambda p, i, o, a: (i, [i[0]], a),
                  kernels={"numpy": Kernel(fwd, bwd)})
    fields.update(extra)
    return OpDef(**fields)


class _LatePlugin:
    @mx.hookimpl
    def mxlite_register_ops(self, registry):  # type: ignore[no-untyped-def]
        registry.add_op(_identity_op("late_identity"))


def test_plugin_registered_later_still_gets_the_historic_hooks(fresh_registry) -> None:  # type: ignore[no-untyped-def]
    get_registry()
    info = register_plugin(_LatePlugin(), name="late")
    assert info.ops == ["late_identity"]
    out = mx.nd.late_identity(mx.nd.array([5.0]))
    assert out.asscalar() == 5.0


def test_malformed_op_is_refused(fresh_registry) -> None:  # type: ignore[no-untyped-def]
    class Bad:
        @mx.hookimpl
        def mxlite_register_ops(self, registry):  # type: ignore[no-untyped-def]
            registry.add_op(_identity_op("no_kernels", kernels={}))

    with pytest.raises(PluginError, match="defines no kernel"):
        register_plugin(Bad(), name="bad")
    assert "no_kernels" not in get_registry()


def test_override_must_be_said(fresh_registry) -> None:  # type: ignore[no-untyped-def]
    registry = get_registry()
    with pytest.raises(PluginError, match="already registered"):
        registry.add_op(_identity_op("Activation"))
    registry.add_op(_identity_op("Activation"), override=True)
    assert list(registry.get("Activation").params) == []


def test_kernel_for_another_backend_and_unknown_op(fresh_registry) -> None:  # type: ignore[no-untyped-def]
    registry = get_registry()
    fast = Kernel(lambda p, i, o, a, t: np.multiply(i[0], i[1], out=o[0]))
    registry.add_kernel("elemwise_mul", "fast", fast)
    assert registry.get("_Mul").kernels["fast"] is fast
    with pytest.raises(PluginError, match="unknown operator 'elemwise_mull'"):
        registry.add_kernel("elemwise_mull", "fast", fast)


def test_parameters_are_typed_and_validated() -> None:
    op = get_registry().get("FullyConnected")
    params = op.parse_params({"num_hidden": "128", "no_bias": "True"})
    assert (params.num_hidden, params.no_bias, params.flatten) == (128, True, True)
    with pytest.raises(mx.base.MXNetError, match="required parameter 'num_hidden'"):
        op.parse_params({})
    with pytest.raises(mx.base.MXNetError, match="must be positive"):
        op.parse_params({"num_hidden": 0})
    with pytest.raises(mx.base.MXNetError, match="expects int"):
        op.parse_params({"num_hidden": "many"})


@pytest.mark.parametrize("kind,text,value", [
    ("shape", "(3, 3)", (3, 3)), ("shape", "[2]", (2,)), ("shape", 4, (4,)),
    ("bool", "false", False), ("bool", "1", True), ("float", "1e-3", 1e-3),
    ("float", "inf", float("inf")), ("int", 3.0, 3), ("float_tuple", "(0.5, 1)", (0.5, 1.0)),
])
def test_param_kinds_parse_mxnet_strings(kind: str, text: object, value: object) -> None:
    assert Param("x", kind).parse(text, "op") == value


def test_optional_param_accepts_none() -> None:
    assert Param("axis", "int", None, optional=True).parse("None", "op") is None
    with pytest.raises(mx.base.MXNetError, match="cannot be None"):
        Param("axis", "int", 0).parse(None, "op")


def test_generated_docstrings_describe_the_op() -> None:
    doc = mx.sym.FullyConnected.__doc__
    assert "num_hidden : int, required" in doc
    assert "no_bias : bool, default=False" in doc
    assert mx.nd.Activation.__doc__.count("relu") >= 1


def test_no_warning_from_builtin_loading(fresh_registry) -> None:  # type: ignore[no-untyped-def]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        get_registry()


# -- the plugins setting (MXLITE_PLUGINS) -----------------------------------------------------
OTHER_PLUGIN = PLUGIN_WITH_OP.replace('"triple"', '"quadruple"')


def test_blocked_plugin_is_not_imported(fake_plugin, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    fake_plugin("mxlite-triple", "mxlite_triple_plugin", PLUGIN_WITH_OP)
    monkeypatch.setenv("MXLITE_PLUGINS", "no:mxlite-triple")  # by distribution name
    registry = get_registry()
    assert "triple" not in registry and "FullyConnected" in registry
    info = registry.plugins["mxlite_triple_plugin"]
    assert info.skipped.startswith("disabled by the plugins setting 'no:mxlite-triple' "
                                   "(environment MXLITE_PLUGINS)")
    import sys
    assert "mxlite_triple_plugin" not in sys.modules
    with pytest.raises(mx.base.MXNetError, match="disabled by the plugins setting "
                                                 "'no:mxlite-triple' .*: mxlite_triple_plugin"):
        registry.get("triple")


def test_allow_list_keeps_builtin_operators(fake_plugin, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    fake_plugin("mxlite-triple", "mxlite_triple_plugin", PLUGIN_WITH_OP)
    fake_plugin("mxlite-quadruple", "mxlite_quadruple_plugin", OTHER_PLUGIN)
    mx.config.set("plugins", ["mxlite_quadruple_plugin"])
    try:
        registry = get_registry()
    finally:
        mx.config._overrides.pop("plugins")
    assert "quadruple" in registry and "triple" not in registry
    assert "FullyConnected" in registry and "Custom" in registry
    assert "not in the allow-list" in registry.plugins["mxlite_triple_plugin"].skipped


def test_blocking_builtin_ops_gives_a_clear_error(monkeypatch, fresh_registry) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("MXLITE_PLUGINS", "no:builtin_ops")
    registry = get_registry()
    assert list(registry.ops) == ["Custom"]
    with pytest.raises(AttributeError, match="FullyConnected"):
        mx.sym.FullyConnected  # noqa: B018
    with pytest.raises(mx.base.MXNetError, match="1 operators are registered; plugins disabled "
                                                 "by the plugins setting 'no:builtin_ops' "
                                                 r"\(environment MXLITE_PLUGINS\): builtin_ops"):
        registry.get("FullyConnected")


def test_unknown_name_in_the_plugins_setting_warns(monkeypatch, fresh_registry) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("MXLITE_PLUGINS", "no:bulitin_ops")
    with pytest.warns(PluginWarning, match=r"names \['bulitin-ops'\], which match no installed "
                                           r"plugin; installed: \['builtin_ops'"):
        registry = get_registry()
    assert "FullyConnected" in registry


# -- configuration defaults -------------------------------------------------------------------
PLUGIN_WITH_CONFIG = PLUGIN_WITH_OP + """
    @mxlite.hookimpl
    def mxlite_config_defaults(defaults):
        assert defaults["backends.strict"] is False
        defaults.update({"triple.factor": 3.0})
"""


def test_plugin_adds_configuration_defaults(fake_plugin) -> None:  # type: ignore[no-untyped-def]
    fake_plugin("mxlite-triple", "mxlite_triple_plugin", PLUGIN_WITH_CONFIG)
    assert mx.config.get("triple.factor") == 3.0  # loads the plugins on demand
    assert mx.config.source("triple.factor") == "default of plugin 'mxlite_triple_plugin'"
    assert get_registry().plugins["mxlite_triple_plugin"].config == ["triple.factor"]
    with mx.config.override(triple__factor=4.0):
        assert (mx.config.get("triple.factor"), mx.config.source("triple.factor")) == \
            (4.0, "mx.config.set")


@pytest.mark.parametrize("key,match", [
    ("backends.order", "'backends.order' is already defined by 'mxlite'"),
    ("factor", "must be a string like 'myplugin.setting'"),
])
def test_bad_configuration_default_skips_the_plugin(fake_plugin, key: str, match: str) -> None:  # type: ignore[no-untyped-def]
    fake_plugin("mxlite-triple", "mxlite_triple_plugin",
                PLUGIN_WITH_CONFIG.replace('"triple.factor"', repr(key)))
    with pytest.warns(PluginWarning, match=match):
        registry = get_registry()
    assert "triple" not in registry
    assert mx.config.get("backends.order") == ["numpy"]


def test_plugin_defaults_are_forgotten_on_reload(fake_plugin) -> None:  # type: ignore[no-untyped-def]
    fake_plugin("mxlite-triple", "mxlite_triple_plugin", PLUGIN_WITH_CONFIG)
    assert mx.config.get("triple.factor") == 3.0
    mx.config.set("plugins", ["no:mxlite_triple_plugin"])
    try:
        mx.registry.reload()
        with pytest.raises(mx.base.MXNetError, match="unknown configuration key 'triple.factor'"):
            mx.config.get("triple.factor")
    finally:
        mx.config._overrides.pop("plugins")


# -- graph passes -----------------------------------------------------------------------------
def _double_scalars(symbol, info):  # type: ignore[no-untyped-def]
    """A test pass: every ``x * c`` becomes ``x * 2c``; records what it was given."""
    PASS_CALLS.append(info)
    for node in topo_order(symbol._outputs):
        if node.op is not None and node.op.name == "_mul_scalar":
            node.attrs["scalar"] = str(2 * node.params.scalar)
            node.params = node.op.parse_params(node.attrs, node.name)
    return None


PASS_CALLS: list = []


class _PassPlugin:
    def __init__(self, function) -> None:  # type: ignore[no-untyped-def]
        self.function = function

    @mx.hookimpl
    def mxlite_register_graph_passes(self, registry):  # type: ignore[no-untyped-def]
        registry.add_graph_pass("test.pass", self.function)


def test_graph_pass_runs_at_bind_on_a_private_copy(fresh_registry) -> None:  # type: ignore[no-untyped-def]
    PASS_CALLS.clear()
    info = register_plugin(_PassPlugin(_double_scalars), name="passes")
    assert info.graph_passes == ["test.pass"]
    y = mx.sym.Variable("x") * 3
    before = y.tojson()
    ex = y.bind(mx.cpu(), {"x": mx.nd.array([1, 2])})
    assert ex.forward()[0].asnumpy().tolist() == [6.0, 12.0]
    assert y.tojson() == before  # the user's symbol is unchanged
    assert PASS_CALLS[0].ctx == mx.cpu()
    assert PASS_CALLS[0].shapes == {"x": (2,)} and PASS_CALLS[0].dtypes == {"x": np.float32}


def _drops_inputs(symbol, info):  # type: ignore[no-untyped-def]
    return mx.sym.Variable("other") * 1


def _raises(symbol, info):  # type: ignore[no-untyped-def]
    raise RuntimeError("pass bug")


@pytest.mark.parametrize("function,match", [
    (_raises, "RuntimeError: pass bug"),
    (_drops_inputs, r"changed list_arguments\(\) from \['x'\] to \['other'\]"),
])
def test_broken_graph_pass_is_skipped_with_a_warning(function, match: str, fresh_registry  # type: ignore[no-untyped-def]
                                                     ) -> None:
    register_plugin(_PassPlugin(function), name="bad-pass")
    y = mx.sym.Variable("x") * 3
    with pytest.warns(PluginWarning, match=f"graph pass 'test.pass' of plugin 'bad-pass' was "
                                           f"skipped: .*{match}"):
        ex = y.bind(mx.cpu(), {"x": mx.nd.array([1, 2])})
    assert ex.forward()[0].asnumpy().tolist() == [3.0, 6.0]


def test_duplicate_graph_pass_name_is_refused(fresh_registry) -> None:  # type: ignore[no-untyped-def]
    registry = get_registry()
    registry.add_graph_pass("test.once", _double_scalars)
    with pytest.raises(PluginError, match="graph pass 'test.once' is already registered"):
        registry.add_graph_pass("test.once", _double_scalars)
    with pytest.raises(PluginError, match="expects a name and a function"):
        registry.add_graph_pass("test.none", None)  # type: ignore[arg-type]


def test_update_kernel_of_a_plugin_backend_runs_the_optimizer(fresh_registry) -> None:  # type: ignore[no-untyped-def]
    calls = []

    def sgd_halving(w, g, mom, lr, wd, rescale, clip, momentum):  # type: ignore[no-untyped-def]
        calls.append((lr, momentum))
        if w.dtype != np.float32:
            return False  # not taken: the optimizer's numpy code runs
        w *= 0.5
        return True

    registry = get_registry()
    registry.add_update_kernel("SGD", "fast", lambda: sgd_halving)
    assert registry.update_kernel("sgd", ["other", "fast", "numpy"]) is sgd_halving
    assert registry.update_kernel("adam", ["fast"]) is None
    weight, grad = mx.nd.array([2.0, 4.0]), mx.nd.array([1.0, 1.0])
    with mx.config.override(backends__order=["fast"]):
        mx.optimizer.SGD(learning_rate=0.1, momentum=0.9).update(0, weight, grad, None)
        assert weight.asnumpy().tolist() == [1.0, 2.0] and calls == [(0.1, 0.9)]
        w64 = mx.nd.array([1.0], dtype="float64")
        mx.optimizer.SGD(learning_rate=0.5).update(0, w64, mx.nd.array([1.0], dtype="float64"), None)
        assert w64.asnumpy().tolist() == [0.5]
    mx.optimizer.SGD(learning_rate=0.1).update(0, weight, grad, None)  # numpy only: not called
    assert len(calls) == 2


def test_bad_update_kernel_is_refused(fresh_registry) -> None:  # type: ignore[no-untyped-def]
    registry = get_registry()
    with pytest.raises(PluginError, match="expects an optimizer name, a backend name and a factory"):
        registry.add_update_kernel("sgd", "fast", None)  # type: ignore[arg-type]
    with pytest.raises(PluginError, match="backend 'numpy' is mx.optimizer's own code"):
        registry.add_update_kernel("sgd", "numpy", lambda *a: True)
    assert registry.update_kernel("sgd", ["fast", "numpy"]) is None


def test_kernel_hook_may_target_an_op_of_the_same_plugin(fresh_registry) -> None:  # type: ignore[no-untyped-def]
    class Both:  # pluggy calls mxlite_register_kernels before mxlite_register_ops
        @mx.hookimpl
        def mxlite_register_kernels(self, registry):  # type: ignore[no-untyped-def]
            registry.add_kernel("both_identity", "fast", Kernel(lambda *args: None))

        @mx.hookimpl
        def mxlite_register_ops(self, registry):  # type: ignore[no-untyped-def]
            registry.add_op(_identity_op("both_identity"))

    info = register_plugin(Both(), name="both")
    assert info.kernels == [("both_identity", "fast")]
    assert set(get_registry().get("both_identity").kernels) == {"numpy", "fast"}


# -- python -m mxlite plugins -----------------------------------------------------------------
def test_plugins_command_reports_contributions_and_config_sources(  # type: ignore[no-untyped-def]
        fake_plugin, monkeypatch, capsys) -> None:
    import json

    from mxlite.__main__ import main
    fake_plugin("mxlite-triple", "mxlite_triple_plugin", PLUGIN_WITH_CONFIG)
    fake_plugin("mxlite-broken", "mxlite_broken_plugin", "raise RuntimeError('boom')\n")
    monkeypatch.setenv("MXLITE_BACKENDS", "fast")
    with pytest.warns(PluginWarning, match="boom"):
        assert main(["plugins"]) == 0
    text = capsys.readouterr().out
    assert "mxlite_triple_plugin (mxlite-triple 1.0): loaded" in text
    assert "  configuration keys (1): triple.factor" in text
    assert "mxlite_broken_plugin (mxlite-broken 1.0): SKIPPED: import failed: RuntimeError: boom" \
        in text
    assert "backend order: fast, numpy" in text
    assert "  backends.order = ['fast'] (environment MXLITE_BACKENDS)" in text
    assert "  triple.factor = 3.0 (default of plugin 'mxlite_triple_plugin')" in text
    assert main(["plugins", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    plugins = {p["name"]: p for p in report["plugins"]}
    assert plugins["mxlite_triple_plugin"]["ops"] == ["triple"]
    assert plugins["mxlite.operator"]["ops"] == ["Custom"]
    assert report["config"]["plugins"] == {"value": [], "source": "default"}

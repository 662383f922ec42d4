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

"""The example third-party plugin (``examples/plugins/mxlite-example-ops``), installed with pip.

pip installs it offline into a temporary folder (``--target``), which the tests put on
``sys.path`` before reloading the registry, exactly as an installed distribution is found.
Also: every code block of PLUGINS.md is run (python blocks as doctests by pytest's
``--doctest-glob``, toml blocks checked here).
"""

from __future__ import annotations

import importlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import mxlite as mx
import numpy as np
import pytest
from mxlite.registry import get_registry
from mxlite.test_utils import assert_almost_equal, check_numeric_gradient

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: mxlite depends on tomli there
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "plugins" / "mxlite-example-ops"


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example plugin, pip-installed into a fresh folder (no network, no dependencies)."""
    folder = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
                    "--no-cache-dir", "--disable-pip-version-check", "--target", str(folder),
                    str(EXAMPLE)], check=True, capture_output=True)
    return folder


def _forget_example_modules() -> None:
    for name in [m for m in sys.modules if m.split(".")[0] == "mxlite_example_ops"]:
        del sys.modules[name]


@pytest.fixture
def installed(target: Path) -> Iterator[Path]:
    """The installed plugin on sys.path, with the registry loaded afresh around the test."""
    sys.path.insert(0, str(target))
    importlib.invalidate_caches()
    mx.registry.reload()
    try:
        yield target
    finally:
        sys.path.remove(str(target))
        _forget_example_modules()
        mx.registry.loader._reset_for_tests()


def test_import_discovers_the_installed_plugin(installed: Path) -> None:
    info = get_registry().plugins["example_ops"]
    assert (info.distribution, info.version, info.skipped) == ("mxlite-example-ops", "0.1.0", None)
    assert info.entry_point == "example_ops = mxlite_example_ops"
    assert info.ops == ["squareplus", "_example_fc_relu"]
    assert info.kernels == [("Activation", "example")]
    assert info.graph_passes == ["example.fuse_fc_relu"]
    assert info.config == ["example.fuse_fc_relu"]
    assert mx.config.get("example.fuse_fc_relu") is False


def _squareplus(x: np.ndarray, b: float) -> np.ndarray:
    return (x + np.sqrt(x * x + b)) / 2


def test_new_operator_symbolic_and_imperative(installed: Path) -> None:
    x = np.array([-2.0, 0.0, 3.0], dtype=np.float32)
    out = mx.nd.squareplus(mx.nd.array(x), b=1.0)
    assert_almost_equal(out.asnumpy(), _squareplus(x, 1.0), rtol=1e-6)
    with mx.name.NameManager():
        sym = mx.sym.squareplus(mx.sym.Variable("x"))
    assert sym.name == "squareplus0" and sym.infer_shape(x=(2, 5))[1] == [(2, 5)]
    ex = sym.bind(mx.cpu(), {"x": mx.nd.array(x)})
    assert_almost_equal(ex.forward()[0].asnumpy(), _squareplus(x, 4.0), rtol=1e-6)
    check_numeric_gradient(sym, {"x": np.random.default_rng(0).normal(size=(3, 4))},
                           dtype=np.float64)
    assert mx.sym.load_json(sym.tojson()).tojson() == sym.tojson()
    with pytest.raises(mx.base.MXNetError, match="parameter 'b'=-1.0: must be non-negative"):
        mx.sym.squareplus(mx.sym.Variable("x"), b=-1)


def _bind_activation(act_type: str, dtype: type = np.float32):  # type: ignore[no-untyped-def]
    sym = mx.sym.Activation(mx.sym.Variable("x"), act_type=act_type, name="act")
    return sym.simple_bind(mx.cpu(), type_dict={"x": dtype}, x=(64,))


@pytest.mark.parametrize("act_type", ["sigmoid", "softrelu", "tanh"])
def test_faster_kernel_is_chosen_when_its_backend_comes_first(installed: Path, act_type: str
                                                             ) -> None:
    x = np.linspace(-30, 30, 64).astype(np.float32)
    reference = _bind_activation(act_type)
    assert "backend=numpy" in reference.debug_str()
    expected = reference.forward(is_train=True, x=x)[0].asnumpy()
    reference.backward(mx.nd.ones(64))
    with mx.config.override(backends__order=["example"]):
        fast = _bind_activation(act_type)
        half = _bind_activation(act_type, np.float16)
    assert "Op:Activation, Name=act, backend=example" in fast.debug_str()
    assert "backend=numpy" in half.debug_str()  # the example kernel takes float32/64 only
    assert_almost_equal(fast.forward(is_train=True, x=x)[0].asnumpy(), expected, rtol=1e-5,
                        atol=1e-6)
    fast.backward(mx.nd.ones(64))  # no example backward: numpy's is used
    assert_almost_equal(fast.grad_dict["x"].asnumpy(), reference.grad_dict["x"].asnumpy(),
                        rtol=1e-5, atol=1e-6)


def test_fusion_pass_is_enabled_by_the_plugins_config_key(installed: Path) -> None:
    net = mx.sym.FullyConnected(mx.sym.Variable("data"), num_hidden=4, name="fc1")
    net = mx.sym.Activation(net, act_type="relu", name="relu1")
    rng = np.random.default_rng(3)
    args = {"data": rng.normal(size=(5, 3)), "fc1_weight": rng.normal(size=(4, 3)),
            "fc1_bias": rng.normal(size=(4,))}
    head_grad = mx.nd.array(rng.normal(size=(5, 4)))
    runs = {}
    for fuse in (False, True):
        with mx.config.override(example__fuse_fc_relu=fuse):
            ex = net.simple_bind(mx.cpu(), data=(5, 3))
        assert ("Op:_example_fc_relu, Name=relu1" in ex.debug_str()) is fuse
        out = ex.forward(is_train=True, **args)[0].asnumpy()
        ex.backward(head_grad)
        runs[fuse] = out, {name: grad.asnumpy() for name, grad in ex.grad_dict.items()}
    assert (runs[True][0] > 0).any() and (runs[True][0] == 0).any()
    assert_almost_equal(runs[True][0], runs[False][0], rtol=1e-6)
    for name in args:
        assert_almost_equal(runs[True][1][name], runs[False][1][name], rtol=1e-5)
    assert net.list_arguments() == ["data", "fc1_weight", "fc1_bias"]


def _cli(target: Path, *args: str, **env: str) -> str:
    path = [str(target), *filter(None, [os.environ.get("PYTHONPATH")])]
    environ = {**os.environ, "PYTHONPATH": os.pathsep.join(path), **env}
    return subprocess.run([sys.executable, "-m", "mxlite", *args], capture_output=True,
                          text=True, check=True, env=environ).stdout


def test_plugins_command_lists_the_plugin(target: Path) -> None:
    text = _cli(target, "plugins", MXLITE_BACKENDS="example")
    assert "example_ops (mxlite-example-ops 0.1.0): loaded" in text
    assert "  kernels (1): Activation[example]" in text
    assert "backend order: example, numpy" in text
    assert "  example.fuse_fc_relu = False (default of plugin 'example_ops')" in text
    report = json.loads(_cli(target, "plugins", "--json", MXLITE_PLUGINS="no:example_ops"))
    plugin = next(p for p in report["plugins"] if p["name"] == "example_ops")
    assert plugin["skipped"] == ("disabled by the plugins setting 'no:example_ops' "
                                 "(environment MXLITE_PLUGINS)")
    assert plugin["ops"] == [] and "example.fuse_fc_relu" not in report["config"]


def test_removing_the_plugin_removes_its_operators(target: Path, tmp_path: Path) -> None:
    copy = tmp_path / "site"
    shutil.copytree(target, copy)
    sys.path.insert(0, str(copy))
    importlib.invalidate_caches()
    try:
        assert "squareplus" in mx.registry.reload()
        for path in copy.iterdir():  # what `pip uninstall` deletes
            shutil.rmtree(path)
        _forget_example_modules()
        registry = mx.registry.reload()
        assert "squareplus" not in registry and "example_ops" not in registry.plugins
        with pytest.raises(AttributeError, match="squareplus"):
            mx.sym.squareplus  # noqa: B018
        with pytest.raises(mx.base.MXNetError, match="unknown configuration key"):
            mx.config.get("example.fuse_fc_relu")
    finally:
        sys.path.remove(str(copy))
        mx.registry.loader._reset_for_tests()


# -- the example's offline build backend --------------------------------------------------------
def _backend():  # type: ignore[no-untyped-def]
    sys.path.insert(0, str(EXAMPLE / "_build"))
    try:
        return importlib.import_module("offline_backend")
    finally:
        sys.path.remove(str(EXAMPLE / "_build"))


def test_backend_builds_sdist_and_editable_wheel(tmp_path: Path) -> None:
    backend = _backend()
    with tarfile.open(tmp_path / backend.build_sdist(str(tmp_path))) as archive:
        names = archive.getnames()
    assert "mxlite_example_ops-0.1.0/PKG-INFO" in names
    assert "mxlite_example_ops-0.1.0/mxlite_example_ops/ops.py" in names
    with zipfile.ZipFile(tmp_path / backend.build_editable(str(tmp_path))) as wheel:
        assert wheel.read("mxlite_example_ops.pth").decode().strip() == str(EXAMPLE)
        record = wheel.read("mxlite_example_ops-0.1.0.dist-info/RECORD").decode()
    assert "mxlite_example_ops.pth,sha256=" in record


def test_backend_reads_pyproject_without_tomllib() -> None:
    text = (EXAMPLE / "pyproject.toml").read_text()
    assert _backend()._parse_simple_toml(text) == tomllib.loads(text)


# -- PLUGINS.md ---------------------------------------------------------------------------------
def _code_blocks(text: str) -> list[tuple[str, str]]:
    return re.findall(r"^```(\w*)\n(.*?)^```", text, flags=re.S | re.M)


def test_every_code_block_of_plugins_md_is_run() -> None:
    blocks = _code_blocks((ROOT / "PLUGINS.md").read_text())
    assert blocks
    for lang, body in blocks:
        assert lang in ("python", "toml"), f"PLUGINS.md: a {lang or 'plain'} block is not run"
        if lang == "python":  # run by pytest as a doctest (--doctest-glob='*.md')
            assert body.lstrip().startswith(">>> "), f"not a doctest:\n{body}"
        else:
            project = tomllib.loads(body)["project"]
            assert project["entry-points"]["mxlite"], body

"""Shared fixtures: fake plugin distributions on sys.path, and a clean registry around them."""

from __future__ import annotations

import os
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from mxlite import config
from mxlite.registry import loader


@pytest.fixture(scope="session")
def _empty_config_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("no-user-config")
    (folder / "empty.toml").write_text("")
    return folder


@pytest.fixture(autouse=True)
def _isolated_config_files(_empty_config_dir: Path, monkeypatch: pytest.MonkeyPatch
                           ) -> Iterator[None]:
    """Keep the user's own configuration files out of the tests: no user file, and an empty
    project file named by MXLITE_CONFIG in place of a ``mxlite.toml`` in the working directory.

    The user file is moved in-process only (XDG_CONFIG_HOME stays, for pip in subprocesses);
    the nearest pyproject.toml still counts, so tests that need none chdir away from it.
    """
    user_file = (config.USER_FILE, _empty_config_dir / "config.toml", "")
    monkeypatch.setattr(config, "_user_file", lambda: user_file)
    monkeypatch.setenv("MXLITE_CONFIG", str(_empty_config_dir / "empty.toml"))
    config.reload()
    yield
    config.reload()


def _backends() -> list[str]:
    """numpy, and "c" where the C kernel pack is built."""
    try:
        import mxlite_c_kernels
    except ImportError:
        return ["numpy"]
    return ["numpy", "c"] if mxlite_c_kernels.available() else ["numpy"]


@pytest.fixture(params=_backends())
def each_backend(request: pytest.FixtureRequest) -> Iterator[str]:
    """Run the test once per available backend, that backend first in ``backends.order``
    (operator tests use it through ``pytestmark = pytest.mark.usefixtures("each_backend")``)."""
    with config.override(**{"backends.order": [request.param]}):
        yield request.param


@pytest.fixture
def fresh_registry() -> Iterator[None]:
    """Reload the registry (and generated constructors) before and after the test."""
    loader._reset_for_tests()
    yield
    loader._reset_for_tests()


@pytest.fixture
def fake_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_registry: None
                ) -> Callable[..., Path]:
    """Install a fake distribution whose ``mxlite`` entry point is a module written by the test.

    Distributions are discovered from ``*.dist-info`` folders on ``sys.path``, exactly as
    installed ones are (``importlib.metadata.PathDistribution``).
    """
    monkeypatch.syspath_prepend(str(tmp_path))
    created: list[str] = []

    def make(dist: str, module: str, source: str, entry_name: str | None = None) -> Path:
        (tmp_path / f"{module}.py").write_text(textwrap.dedent(source))
        info = tmp_path / f"{dist.replace('-', '_')}-1.0.dist-info"  # as wheels name it
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
        (info / "entry_points.txt").write_text(f"[mxlite]\n{entry_name or module} = {module}\n")
        created.append(module)
        return info

    yield make
    for module in created:
        sys.modules.pop(module, None)


try:  # CI runs the property tests on a fixed example sequence, so a run is reproducible
    from hypothesis import settings

    settings.register_profile("ci", derandomize=True, deadline=None)
    if os.environ.get("CI"):
        settings.load_profile("ci")
except ImportError:  # hypothesis is a test extra
    pass

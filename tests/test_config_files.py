"""Configuration files: ``[tool.mxlite]`` in the nearest pyproject.toml, the user file, the
project file (``mxlite.toml`` or ``MXLITE_CONFIG``), their precedence, and their errors."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import mxlite as mx
import pytest
from mxlite import config
from mxlite.__main__ import main
from mxlite.config import ConfigError
from mxlite.registry import get_registry


@pytest.fixture(autouse=True)
def _isolated_config_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Replaces conftest's: every file location under ``tmp_path``. The working directory is
    ``tmp_path/project``, whose pyproject.toml (no [tool.mxlite]) ends the upward search."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text('[project]\nname = "demo"\n')
    monkeypatch.chdir(project)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    for name in ("MXLITE_CONFIG", "MXLITE_BACKENDS", "MXLITE_PLANNING", "MXLITE_PLUGINS"):
        monkeypatch.delenv(name, raising=False)
    config.reload()
    yield
    config.reload()


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    """Where each kind of file goes (nothing is written)."""
    return {"pyproject": tmp_path / "project" / "pyproject.toml",
            "user": tmp_path / "xdg" / "mxlite" / "config.toml",
            "project": tmp_path / "project" / "mxlite.toml"}


# -- each source -------------------------------------------------------------------------------
def test_defaults_when_no_file_sets_anything(files: dict[str, Path]) -> None:
    assert config.get("backends.order") == ["numpy"]
    assert config.source("backends.order") == "default"
    assert [(f.kind, f.path, f.found, f.note) for f in config.files()] == [
        ("pyproject.toml", files["pyproject"], True, "no [tool.mxlite] table"),
        ("user file", files["user"], False, ""),
        ("file", files["project"], False, "")]


def test_project_file_in_the_working_directory(files: dict[str, Path]) -> None:
    write(files["project"], """\
        plugins = []
        [backends]
        order = ["c", "numpy"]
        strict = true
        [c_kernels]
        num_threads = 2
        [planning]
        enabled = false
        """)
    assert (config.get("backends.order"), config.get("backends.strict"),
            config.get("c_kernels.num_threads"), config.get("planning.enabled")) == \
        (["c", "numpy"], True, 2, False)
    assert config.backend_order() == ["c", "numpy"]
    assert config.source("planning.enabled") == f"file {files['project']}"
    assert config.source("plugins") == f"file {files['project']}"


def test_dotted_keys_and_inline_tables_are_the_same_keys(files: dict[str, Path]) -> None:
    write(files["project"], 'backends.strict = true\nplanning = {enabled = false}\n')
    assert config.get("backends.strict") is True and config.get("planning.enabled") is False


def test_user_file_under_xdg_config_home(files: dict[str, Path]) -> None:
    write(files["user"], "[backends]\nstrict = true\n")
    assert config.get("backends.strict") is True
    assert config.source("backends.strict") == f"user file {files['user']}"


def test_user_file_defaults_to_dot_config_in_home(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("XDG_CONFIG_HOME")
    path = write(tmp_path / "home" / ".config" / "mxlite" / "config.toml", "plugins = []\n")
    assert config.source("plugins") == f"user file {path}"


def test_pyproject_tool_mxlite_table(files: dict[str, Path]) -> None:
    write(files["pyproject"], """\
        [project]
        name = "demo"

        [tool.mxlite]
        plugins = []

        [tool.mxlite.backends]
        order = ["c"]
        """)
    assert config.get("backends.order") == ["c"]
    assert config.source("backends.order") == f"pyproject.toml {files['pyproject']} [tool.mxlite]"
    assert config.source("plugins") == f"pyproject.toml {files['pyproject']} [tool.mxlite]"


def test_pyproject_is_searched_upward_from_the_working_directory(
        files: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    write(files["pyproject"], "[tool.mxlite.planning]\nenabled = false\n")
    deeper = files["pyproject"].parent / "src" / "pkg"
    deeper.mkdir(parents=True)
    monkeypatch.chdir(deeper)
    assert config.get("planning.enabled") is False
    assert config.files()[0].path == files["pyproject"]


def test_the_nearest_pyproject_without_the_table_ends_the_search(
        files: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    write(files["pyproject"], "[tool.mxlite.planning]\nenabled = false\n")
    inner = write(files["pyproject"].parent / "sub" / "pyproject.toml", "[tool.other]\nx = 1\n")
    monkeypatch.chdir(inner.parent)
    assert config.get("planning.enabled") is True
    assert config.source("planning.enabled") == "default"
    assert (config.files()[0].path, config.files()[0].note) == (inner, "no [tool.mxlite] table")


def test_mxlite_config_replaces_the_working_directory_file(
        files: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(files["project"], "[backends]\nstrict = true\norder = ['c']\n")
    named = write(tmp_path / "elsewhere" / "ci.toml", "[backends]\norder = ['mine']\n")
    monkeypatch.setenv("MXLITE_CONFIG", "../elsewhere/ci.toml")  # relative to the directory
    assert config.get("backends.order") == ["mine"]
    assert config.get("backends.strict") is False  # the cwd file is not read at all
    assert config.source("backends.order") == f"file {files['project'].parent / '../elsewhere/ci.toml'}"
    assert config.files()[-1].note == "named by MXLITE_CONFIG"
    assert config.files()[-1].path.resolve() == named


# -- precedence --------------------------------------------------------------------------------
def test_precedence_set_env_project_user_pyproject_default(
        files: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    write(files["pyproject"], "[tool.mxlite.backends]\norder = ['pyproject']\n")
    write(files["user"], "[backends]\norder = ['user']\n")
    write(files["project"], "[backends]\norder = ['project']\n")
    monkeypatch.setenv("MXLITE_BACKENDS", "env")
    with config.override(backends__order=["set"]):
        assert (config.get("backends.order"), config.source("backends.order")) == \
            (["set"], "mx.config.set")
    assert (config.get("backends.order"), config.source("backends.order")) == \
        (["env"], "environment MXLITE_BACKENDS")
    monkeypatch.delenv("MXLITE_BACKENDS")
    expected = [("project", f"file {files['project']}"),
                ("user", f"user file {files['user']}"),
                ("pyproject", f"pyproject.toml {files['pyproject']} [tool.mxlite]")]
    for (value, source), remove in zip(expected, ("project", "user", "pyproject")):
        assert (config.get("backends.order"), config.source("backends.order")) == \
            ([value], source)
        files[remove].unlink()
        config.reload()
    assert (config.get("backends.order"), config.source("backends.order")) == \
        (["numpy"], "default")


def test_each_key_comes_from_the_highest_file_that_sets_it(files: dict[str, Path]) -> None:
    write(files["user"], "[backends]\nstrict = true\norder = ['user']\n")
    write(files["project"], "[backends]\norder = ['project']\n")
    assert config.get("backends.order") == ["project"]
    assert (config.get("backends.strict"), config.source("backends.strict")) == \
        (True, f"user file {files['user']}")


# -- reading again -----------------------------------------------------------------------------
def test_changing_directory_or_variables_is_seen_at_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = write(tmp_path / "a" / "mxlite.toml", "[backends]\norder = ['a']\n")
    second = write(tmp_path / "b" / "mxlite.toml", "[backends]\norder = ['b']\n")
    monkeypatch.chdir(first.parent)
    assert config.get("backends.order") == ["a"]
    monkeypatch.chdir(second.parent)
    assert config.get("backends.order") == ["b"]
    monkeypatch.setenv("MXLITE_CONFIG", str(first))
    assert config.get("backends.order") == ["a"]


def test_edited_files_are_read_again(files: dict[str, Path],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    write(files["project"], "[backends]\norder = ['old']\n")
    assert config.get("backends.order") == ["old"]
    write(files["project"], "[backends]\norder = ['newer']\n")
    monkeypatch.setattr(config, "_RECHECK", 0.0)  # modification times checked on every get
    config.reload()  # (else within a second of the last check)
    assert config.get("backends.order") == ["newer"]
    write(files["project"], "[backends]\norder = ['newest']\n")
    assert config.get("backends.order") == ["newest"]


# -- errors ------------------------------------------------------------------------------------
def test_malformed_toml_names_the_file_and_line(files: dict[str, Path]) -> None:
    write(files["project"], "[backends]\norder = ['c']\nstrict = yes\n")
    with pytest.raises(ConfigError, match=r"mxlite\.toml, line 3, column \d+: malformed TOML") \
            as err:
        config.get("backends.order")
    assert str(files["project"]) in str(err.value) and "(at line" not in str(err.value)
    assert isinstance(err.value, mx.base.MXNetValueError) and isinstance(err.value, ValueError)


def test_unknown_key_names_the_line_and_suggests_the_nearest(files: dict[str, Path]) -> None:
    write(files["project"], "[planning]\nenabled = false\n\n[backends]\nordr = ['c']\n")
    with pytest.raises(ConfigError) as err:
        config.get("planning.enabled")
    message = str(err.value)
    assert message.startswith(f"{files['project']}, line 5: unknown configuration key "
                              "'backends.ordr'. Did you mean 'backends.order'?")
    assert ("Valid keys: backends.order, backends.strict, c_kernels.fuse_fc_act, "
            "c_kernels.num_threads") in message


def test_unknown_dotted_key_in_pyproject(files: dict[str, Path]) -> None:
    write(files["pyproject"], "[project]\nname = 'x'\n\n[tool.mxlite]\nbackends.stric = true\n")
    with pytest.raises(ConfigError, match=r"pyproject\.toml, line 5: unknown configuration key "
                                          r"'backends\.stric' in \[tool\.mxlite\]\. Did you "
                                          r"mean 'backends\.strict'\?"):
        config.get("backends.order")


@pytest.mark.parametrize("text,shown,expected", [
    ('[backends]\norder = "c"', "backends.order = 'c'", "a list of strings"),
    ('[backends]\norder = ["c", 1]', "backends.order = ['c', 1]", "a list of strings"),
    ('[backends]\nstrict = "yes"', "backends.strict = 'yes'", "true or false"),
    ('[planning]\nenabled = 1', "planning.enabled = 1", "true or false"),
    ('[c_kernels]\nnum_threads = -1', "c_kernels.num_threads = -1", "an integer >= 0"),
    ('[c_kernels]\nnum_threads = "2"', "c_kernels.num_threads = '2'", "an integer >= 0"),
    ('[c_kernels]\nnum_threads = true', "c_kernels.num_threads = True", "an integer >= 0"),
    ('plugins = "no:x"', "plugins = 'no:x'", "a list of strings"),
])
def test_wrong_value_type_names_file_line_key_value_and_type(
        files: dict[str, Path], text: str, shown: str, expected: str) -> None:
    write(files["project"], f"# a comment\n{text}\n")
    line = text.count("\n") + 2
    with pytest.raises(ConfigError) as err:
        config.get("backends.order")
    assert str(err.value) == \
        f"{files['project']}, line {line}: {shown} is not valid: expected {expected}"


def test_missing_mxlite_config_file_is_an_error(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MXLITE_CONFIG", str(tmp_path / "missing.toml"))
    with pytest.raises(ConfigError, match=r"MXLITE_CONFIG names '.*missing\.toml', which does "
                                          "not exist"):
        config.get("plugins")


def test_set_checks_the_value_type() -> None:
    with pytest.raises(ConfigError, match=r"mx.config.set: backends.strict = 'yes' is not "
                                          "valid: expected true or false"):
        config.set("backends.strict", "yes")
    with pytest.raises(ConfigError, match="backends.order = 'c' is not valid"):
        with config.override(backends__order="c"):
            pass
    with pytest.raises(ConfigError, match="c_kernels.num_threads = 2.0 is not valid"):
        config.set("c_kernels.num_threads", 2.0)
    with config.override(backends__order=("c", "numpy")):  # any sequence of names
        assert config.get("backends.order") == ["c", "numpy"]
    assert "backends.strict" not in config._overrides


# -- plugins -----------------------------------------------------------------------------------
PLUGIN = """
import mxlite

@mxlite.hookimpl
def mxlite_config_defaults(defaults):
    defaults["cfgfile.factor"] = 3.0
"""


@pytest.fixture
def plugin(fake_plugin: Callable[..., Path]) -> None:
    fake_plugin("mxlite-cfgfile", "mxlite_cfgfile_plugin", PLUGIN)
    config.remove_plugin_defaults()  # keys an earlier test's registry left (a reset keeps them)
    config.reload()  # that read the files: let the next get see the test's at once


@pytest.mark.usefixtures("plugin")
def test_plugin_keys_are_accepted_in_files_before_the_plugins_load(
        files: dict[str, Path]) -> None:
    write(files["user"], "[cfgfile]\nfactor = 4\n")
    assert config.get("backends.order") == ["numpy"]  # a core key: the plugins load to check
    assert (config.get("cfgfile.factor"), config.source("cfgfile.factor")) == \
        (4.0, f"user file {files['user']}")


@pytest.mark.usefixtures("plugin")
def test_plugin_key_types_are_checked_too(files: dict[str, Path]) -> None:
    write(files["project"], "[cfgfile]\nfactor = 'big'\n")
    with pytest.raises(ConfigError, match=r"line 2: cfgfile.factor = 'big' is not valid: "
                                          "expected a number"):
        config.get("cfgfile.factor")


@pytest.mark.usefixtures("plugin")
def test_keys_of_a_plugin_that_is_not_loaded_are_unknown(files: dict[str, Path]) -> None:
    write(files["project"], 'plugins = ["no:mxlite_cfgfile_plugin"]\n[cfgfile]\nfactor = 4\n')
    get_registry()  # loading does not check the keys yet: the plugins' are not all known
    with pytest.raises(ConfigError, match="unknown configuration key 'cfgfile.factor'.*"
                                          "a plugin's keys exist only while it is loaded"):
        config.get("backends.order")
    assert get_registry().plugins["mxlite_cfgfile_plugin"].skipped.startswith("disabled")
    assert get_registry().selection == \
        f"the plugins setting 'no:mxlite_cfgfile_plugin' (file {files['project']})"


@pytest.mark.usefixtures("fresh_registry")
def test_a_broken_file_fails_plugin_loading_before_it_starts(files: dict[str, Path]) -> None:
    write(files["project"], "[backends\n")
    with pytest.raises(ConfigError, match="malformed TOML"):
        get_registry()
    files["project"].unlink()
    config.reload()  # (else seen within a second)
    assert "FullyConnected" in get_registry()  # loaded whole once the file is fixed


# -- python -m mxlite plugins ------------------------------------------------------------------
def test_plugins_command_lists_the_files_and_the_sources(
        files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    write(files["project"], "[backends]\nstrict = true\n")
    assert main(["plugins"]) == 0
    text = capsys.readouterr().out
    assert textwrap.dedent(f"""\
        configuration files, lowest precedence first (then the environment, then mx.config.set):
          pyproject.toml {files['pyproject']}: found; no [tool.mxlite] table
          user file {files['user']}: not found
          file {files['project']}: sets backends.strict
        configuration:
        """) in text
    assert f"  backends.strict = True (file {files['project']})\n" in text
    assert "  backends.order = ['numpy'] (default)\n" in text
    assert main(["plugins", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["config"]["backends.strict"] == {"value": True,
                                                  "source": f"file {files['project']}"}
    assert report["config_files"][2] == {"kind": "file", "path": str(files["project"]),
                                         "found": True, "note": "", "keys": ["backends.strict"]}


def test_plugins_command_reports_a_broken_file_without_a_traceback(
        files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    write(files["project"], "[backends]\norder = 'c'\n")
    assert main(["plugins"]) == 1
    err = capsys.readouterr().err
    assert err == f"mxlite: {files['project']}, line 2: backends.order = 'c' is not valid: " \
                  "expected a list of strings\n"

"""Run-time configuration. Sources, lowest precedence first:

1. the defaults: mxlite's (``DEFAULTS``) and the keys plugins add with the
   ``mxlite_config_defaults`` hook;
2. the ``[tool.mxlite]`` table of the nearest ``pyproject.toml`` (the first one found from the
   working directory upward; without that table it sets nothing);
3. the user file ``$XDG_CONFIG_HOME/mxlite/config.toml`` (``~/.config`` by default);
4. the project file: ``mxlite.toml`` in the working directory, or the file ``MXLITE_CONFIG``
   names instead (an error if it does not exist);
5. the environment: ``MXLITE_BACKENDS=c,numpy`` (``numpy`` is always tried last),
   ``MXLITE_PLANNING=0``, ``MXLITE_PLUGINS=no:name,...`` (read when the plugins load);
6. ``mx.config.set`` and ``mx.config.override``.

In the files a dotted key is a table: ``backends.order`` is ``order`` under ``[backends]``.
A value must have the type of the key's default (bool, int, float, str, list of str); a key
nobody defines, a wrong type or malformed TOML is a ``ConfigError`` naming the file and line.
Plugins load lazily, so the files' keys are checked at the first ``get`` once they have.

Values are read at bind (and by imperative ``mx.nd`` calls), not inside kernels. The files are
parsed once, and again when the working directory or a variable naming them
(``MXLITE_CONFIG``, ``XDG_CONFIG_HOME``, ``HOME``) changes, or a file's modification time or
size (checked at most once a second); ``reload()`` forgets them at once.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .base import MXNetKeyError, MXNetValueError, suggest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

__all__ = ["get", "set", "override", "backend_order", "source", "files", "reload", "DEFAULTS",
           "ConfigError", "ConfigFile"]

DEFAULTS: dict[str, Any] = {
    "backends.order": ["numpy"],
    "backends.strict": False,
    "planning.enabled": True,
    #: plugin selection, read when plugins load: ``no:name`` blocks, a bare name allow-lists
    "plugins": [],
    #: threads per loop of the "c" backend's kernels; 0 follows OMP_NUM_THREADS
    "c_kernels.num_threads": 0,
}
_ENV = {"backends.order": "MXLITE_BACKENDS", "planning.enabled": "MXLITE_PLANNING",
        "plugins": "MXLITE_PLUGINS"}
_LISTS = ("backends.order", "plugins")
#: lower bounds checked on the files' values (``mx.config.set`` leaves them to the user)
_MINIMUM = {"c_kernels.num_threads": 0}
_overrides: dict[str, Any] = {}
#: keys added by plugins (``mxlite_config_defaults``) -> the plugin's name
_plugin_keys: dict[str, str] = {}
#: bumped whenever plugin keys come or go, so that the files' keys are checked again
_defaults_version = [0]
_cache: dict[str, Any] = {}
#: the variables that say which files to read (HOME: ``~/.config``)
_FILE_VARIABLES = ("MXLITE_CONFIG", "XDG_CONFIG_HOME", "HOME")
#: seconds between checks of the files' modification times
_RECHECK = 1.0

PYPROJECT, USER_FILE, PROJECT_FILE = "pyproject.toml", "user file", "file"


class ConfigError(MXNetValueError):
    """A configuration file that cannot be used, or a value of the wrong type."""


@dataclass
class ConfigFile:
    """A configuration file considered: its kind, path, whether it exists, what it sets."""

    kind: str  #: ``PYPROJECT``, ``USER_FILE`` or ``PROJECT_FILE``
    path: Path | None
    found: bool = False
    note: str = ""
    values: dict[str, Any] = field(default_factory=dict)
    lines: dict[str, int] = field(default_factory=dict)

    @property
    def source(self) -> str:
        """How ``source()`` names it: ``file /path/mxlite.toml``."""
        table = " [tool.mxlite]" if self.kind == PYPROJECT else ""
        return f"{self.kind} {self.path}{table}"

    def where(self, key: str) -> str:
        line = self.lines.get(key)
        return f"{self.path}, line {line}" if line else str(self.path)


# -- the API -----------------------------------------------------------------------------------
def get(key: str) -> Any:
    """The value in force for ``key`` (see the module docstring for the precedence)."""
    if key not in DEFAULTS:
        _known(key)
    layers = _files()
    if key in _overrides:
        return _overrides[key]
    env = _from_env(key)
    if env is not None:
        return env
    for layer in reversed(layers):
        if key in layer.values:
            return layer.values[key]
    return DEFAULTS[key]


def set(key: str, value: Any) -> None:
    """Set ``key`` for the rest of the process; ``value`` must have the default's type."""
    _known(key)
    _overrides[key] = _checked(key, value, "mx.config.set")


@contextlib.contextmanager
def override(**values: Any) -> Iterator[None]:
    """``with mx.config.override(backends__order=['c']):`` (``__`` stands for ``.``)."""
    old = dict(_overrides)
    try:
        for key, value in values.items():
            set(key.replace("__", "."), value)
        yield
    finally:
        _overrides.clear()
        _overrides.update(old)


def backend_order() -> list[str]:
    order = [b for b in get("backends.order") if b != "numpy"]
    return order + ["numpy"]


def source(key: str) -> str:
    """Where the value in force comes from, e.g. ``file /path/mxlite.toml``,
    ``environment MXLITE_BACKENDS``, ``mx.config.set``, ``default``."""
    get(key)
    if key in _overrides:
        return "mx.config.set"
    if _from_env(key) is not None:
        return f"environment {_ENV[key]}"
    for layer in reversed(_files()):
        if key in layer.values:
            return layer.source
    plugin = _plugin_keys.get(key)
    return f"default of plugin {plugin!r}" if plugin else "default"


def files() -> list[ConfigFile]:
    """The configuration files considered, lowest precedence first (found or not)."""
    return list(_files())


def reload() -> None:
    """Forget the parsed files: the next ``get`` reads them again."""
    _cache.clear()


# -- plugin keys -------------------------------------------------------------------------------
def add_plugin_defaults(values: dict[str, Any], plugin: str) -> None:
    """Add keys contributed by a plugin; the registry has checked that they are new."""
    DEFAULTS.update(values)
    _plugin_keys.update(dict.fromkeys(values, plugin))
    _defaults_version[0] += 1


def remove_plugin_defaults() -> None:
    """Forget every plugin's keys (before the plugins are loaded again).

    The files are read here, before loading starts, so that a broken file fails the load
    before it has begun rather than half-way through."""
    for key in _plugin_keys:
        DEFAULTS.pop(key, None)
    _plugin_keys.clear()
    _defaults_version[0] += 1
    _check(_read_files(), allow_unknown=True)


def _known(key: str) -> None:
    if key not in DEFAULTS:
        _load_plugin_defaults()
    if key not in DEFAULTS:
        raise MXNetKeyError(f"unknown configuration key {key!r}.{suggest(key, DEFAULTS)} "
                            f"Valid keys: {', '.join(sorted(DEFAULTS))}")


def _load_plugin_defaults() -> None:
    """An unknown key may belong to a plugin that has not been loaded yet."""
    from .registry import get_registry
    get_registry()


def _plugins_loading() -> bool:
    """Whether this thread is loading the plugins (so their keys are not all known yet)."""
    loader = sys.modules.get(f"{__package__}.registry.loader")
    is_owned = getattr(getattr(loader, "_lock", None), "_is_owned", None)  # the loader's RLock
    return bool(is_owned and is_owned())


# -- the environment ---------------------------------------------------------------------------
def _from_env(key: str) -> Any:
    name = _ENV.get(key)
    text = os.environ.get(name, "") if name else ""
    if not text:
        return None
    if key in _LISTS:
        return [part.strip() for part in text.split(",") if part.strip()]
    if isinstance(DEFAULTS[key], bool):
        return text.strip().lower() not in ("0", "false", "no", "off")
    return text


# -- the files ---------------------------------------------------------------------------------
def _files() -> list[ConfigFile]:
    """The parsed files, their keys checked against the defaults in force."""
    layers = _read_files()
    if _cache.get("checked") != _defaults_version[0]:
        loading = _plugins_loading()
        if not loading and any(k not in DEFAULTS for layer in layers for k in layer.values):
            _load_plugin_defaults()
        _check(layers, allow_unknown=loading)
        if not loading:
            _cache["checked"] = _defaults_version[0]
    return layers


def _read_files() -> list[ConfigFile]:
    """The files, parsed again when the directory or the variables naming them change, or
    (checked at most every ``_RECHECK`` seconds) a file's modification time or size."""
    where = (os.getcwd(), *map(os.environ.get, _FILE_VARIABLES))
    now = time.monotonic()
    if where != _cache.get("where") or now >= _cache["recheck"]:
        candidates = _candidates(where)
        stamp = (candidates, tuple(_stat(path) for _, path, _ in candidates))
        if _cache.get("stamp") != stamp:
            _cache.pop("checked", None)
            try:
                _cache["files"] = [_parse(kind, path, note) for kind, path, note in candidates]
            except ConfigError as err:
                _cache["files"] = str(err)
            _cache["stamp"] = stamp
        _cache.update(where=where, recheck=now + _RECHECK)
    if isinstance(_cache["files"], str):  # the file's error, raised afresh each time
        raise ConfigError(_cache["files"])
    return _cache["files"]


def _candidates(where: tuple[str | None, ...]) -> tuple[tuple[str, Path | None, str], ...]:
    """``(kind, path, note)`` of each file to consider, for this directory and environment."""
    if _cache.get("candidates_for") != where:
        cwd = Path(os.getcwd())
        _cache["candidates"] = (_pyproject(cwd), _user_file(), _project_file(cwd))
        _cache["candidates_for"] = where
    return _cache["candidates"]


def _pyproject(cwd: Path) -> tuple[str, Path | None, str]:
    for folder in (cwd, *cwd.parents):
        if (folder / "pyproject.toml").is_file():
            return PYPROJECT, folder / "pyproject.toml", ""
    return PYPROJECT, None, f"none in {cwd} or above"


def _user_file() -> tuple[str, Path | None, str]:
    base = os.environ.get("XDG_CONFIG_HOME", "")
    try:
        folder = Path(base) if os.path.isabs(base) else Path.home() / ".config"
    except RuntimeError:  # no home directory to be found
        return USER_FILE, None, "no home directory"
    return USER_FILE, folder / "mxlite" / "config.toml", ""


def _project_file(cwd: Path) -> tuple[str, Path, str]:
    named = os.environ.get("MXLITE_CONFIG", "")
    if named:
        return PROJECT_FILE, cwd / Path(named).expanduser(), "named by MXLITE_CONFIG"
    return PROJECT_FILE, cwd / "mxlite.toml", ""


def _stat(path: Path | None) -> tuple[int, int] | None:
    try:
        info = os.stat(path) if path is not None else None
    except OSError:
        info = None
    return None if info is None else (info.st_mtime_ns, info.st_size)


def _parse(kind: str, path: Path | None, note: str) -> ConfigFile:
    """Read one file; its keys and values are checked later, by ``_check``."""
    layer = ConfigFile(kind, path, note=note)
    if path is None:
        return layer
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if note:  # named by MXLITE_CONFIG
            raise ConfigError(f"MXLITE_CONFIG names {str(path)!r}, which does not exist") from None
        return layer
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: cannot be read: {err}") from None
    layer.found = True
    try:
        data: Any = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(_decode_message(path, text, err)) from None
    prefix = ""
    if kind == PYPROJECT:
        data, prefix = data.get("tool", {}).get("mxlite"), "tool.mxlite."
        if data is None:
            layer.note = "no [tool.mxlite] table"
            return layer
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: tool.mxlite must be a table, got {data!r}")
    layer.values = _flatten(data)
    lines = _key_lines(text)
    layer.lines = {key: _line_of(prefix + key, lines) for key in layer.values}
    return layer


def _decode_message(path: Path, text: str, err: Exception) -> str:
    """``path, line N, column M: malformed TOML: reason`` from tomllib's error."""
    message = getattr(err, "msg", None) or str(err)
    found = re.search(r"\(at line (\d+), column (\d+)\)", str(err))
    line = getattr(err, "lineno", None) or (found and int(found.group(1)))
    column = getattr(err, "colno", None) or (found and int(found.group(2)))
    if not line and "end of document" in str(err):
        line = text.count("\n") + 1
    reason = re.sub(r"\s*\(at (line \d+, column \d+|end of document)\)", "", message)
    where = f", line {line}" + (f", column {column}" if column else "") if line else ""
    return f"{path}{where}: malformed TOML: {reason}"


def _flatten(table: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"backends": {"order": [...]}}`` -> ``{"backends.order": [...]}``."""
    flat: dict[str, Any] = {}
    for key, value in table.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[prefix + key] = value
    return flat


_HEADER = re.compile(r"\s*\[\s*([^\[\]]+?)\s*\]")
_ASSIGN = re.compile(r"\s*([\w\-\"'. ]+?)\s*=")


def _key_lines(text: str) -> dict[str, int]:
    """Best effort: the line where each table header or key first appears, by dotted name."""
    lines: dict[str, int] = {}
    table = ""
    for number, line in enumerate(text.splitlines(), 1):
        if header := _HEADER.match(line):
            table = _dotted(header.group(1))
            lines.setdefault(table, number)
        elif assign := _ASSIGN.match(line):
            lines.setdefault(f"{table}.{_dotted(assign.group(1))}".lstrip("."), number)
    return lines


def _dotted(text: str) -> str:
    return ".".join(part.strip().strip("\"'") for part in text.split("."))


def _line_of(key: str, lines: dict[str, int]) -> int | None:
    """The key's line, else the line of its nearest enclosing table or inline table."""
    parts = key.split(".")
    for end in range(len(parts), 0, -1):
        line = lines.get(".".join(parts[:end]))
        if line:
            return line
    return None


# -- checking values ---------------------------------------------------------------------------
def _check(layers: list[ConfigFile], allow_unknown: bool) -> None:
    """Check every file key against the defaults in force; convert values in place."""
    for layer in layers:
        for key, value in layer.values.items():
            if key in DEFAULTS:
                layer.values[key] = _checked(key, value, layer.where(key), _MINIMUM.get(key))
            elif not allow_unknown:
                table = " in [tool.mxlite]" if layer.kind == PYPROJECT else ""
                raise ConfigError(
                    f"{layer.where(key)}: unknown configuration key {key!r}{table}."
                    f"{suggest(key, DEFAULTS)} Valid keys: {', '.join(sorted(DEFAULTS))} "
                    "(a plugin's keys exist only while it is loaded)")


def _checked(key: str, value: Any, where: str, minimum: int | None = None) -> Any:
    """``value`` as key ``key`` takes it (the type of its default), or a ``ConfigError``."""
    default = DEFAULTS[key]
    expected, ok = _expected(default), True
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, (int, float)):
        kinds = int if isinstance(default, int) else (int, float)
        ok = isinstance(value, kinds) and not isinstance(value, bool)
        ok = ok and (minimum is None or value >= minimum)
        value = float(value) if ok and isinstance(default, float) else value
    elif isinstance(default, str):
        ok = isinstance(value, str)
    elif isinstance(default, (list, tuple)):
        strings = all(isinstance(item, str) for item in default)
        ok = isinstance(value, (list, tuple)) and (
            not strings or all(isinstance(item, str) for item in value))
        value = list(value) if ok else value
    if not ok:
        if minimum is not None:
            expected = f"an integer >= {minimum}"
        raise ConfigError(f"{where}: {key} = {value!r} is not valid: expected {expected}")
    return value


def _expected(default: Any) -> str:
    if isinstance(default, bool):
        return "true or false"
    if isinstance(default, (list, tuple)):
        strings = all(isinstance(item, str) for item in default)
        return "a list of strings" if strings else "a list"
    return {int: "an integer", float: "a number", str: "a string"}.get(type(default), "")

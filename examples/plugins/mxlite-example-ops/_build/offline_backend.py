"""A minimal PEP 517/660 build backend for this pure-Python plugin.

It exists so that ``pip install`` works with no network access (mxlite's test suite installs
this plugin): pip's isolated build needs no package at all. A real plugin would simply use
setuptools, hatchling or flit; nothing in the plugin itself depends on this file.

It reads ``[project]`` from ``pyproject.toml`` (name, version, description,
requires-python, dependencies, entry points) and packs the package folder named after the
project into a wheel; ``build_editable`` writes a ``.pth`` file pointing at the source tree.
"""

from __future__ import annotations

import base64
import hashlib
import io
import tarfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _project() -> dict:
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10: pip's isolated build environment is empty
        return _parse_simple_toml(text)["project"]
    return tomllib.loads(text)["project"]


def _parse_simple_toml(text: str) -> dict:
    """The subset of TOML this project's pyproject.toml uses: tables, and ``key = value``
    lines whose value is a string or a one-line list of strings."""
    import ast
    data: dict = {}
    table = data
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            table = data
            for part in line.strip("[]").split("."):
                table = table.setdefault(part.strip(), {})
            continue
        key, _, value = line.partition("=")
        table[key.strip().strip('"')] = ast.literal_eval(value.strip())
    return data


def _names() -> tuple[str, str, str]:
    project = _project()
    dist = project["name"].replace("-", "_")
    return dist, project["version"], f"{dist}-{project['version']}"


def _metadata() -> str:
    project = _project()
    lines = ["Metadata-Version: 2.1", f"Name: {project['name']}", f"Version: {project['version']}"]
    if "description" in project:
        lines.append(f"Summary: {project['description']}")
    if "requires-python" in project:
        lines.append(f"Requires-Python: {project['requires-python']}")
    lines += [f"Requires-Dist: {req}" for req in project.get("dependencies", [])]
    return "\n".join(lines) + "\n"


def _entry_points() -> str:
    groups = _project().get("entry-points", {})
    sections = [f"[{group}]\n" + "".join(f"{name} = {value}\n" for name, value in items.items())
                for group, items in groups.items()]
    return "\n".join(sections)


def _record_line(path: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(data)}"


def _write_wheel(wheel_directory: str, files: dict[str, bytes]) -> str:
    dist, _, stem = _names()
    info = f"{stem}.dist-info"
    files = {**files,
             f"{info}/METADATA": _metadata().encode(),
             f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: offline_backend\n"
                              b"Root-Is-Purelib: true\nTag: py3-none-any\n",
             f"{info}/entry_points.txt": _entry_points().encode()}
    record = [_record_line(path, data) for path, data in files.items()] + [f"{info}/RECORD,,"]
    files[f"{info}/RECORD"] = ("\n".join(record) + "\n").encode()
    name = f"{stem}-py3-none-any.whl"
    with zipfile.ZipFile(Path(wheel_directory) / name, "w", zipfile.ZIP_DEFLATED) as wheel:
        for path, data in files.items():
            wheel.writestr(path, data)
    return name


def _package_files() -> dict[str, bytes]:
    package = ROOT / _names()[0]
    return {path.relative_to(ROOT).as_posix(): path.read_bytes()
            for path in sorted(package.rglob("*.py"))}


def build_wheel(wheel_directory: str, config_settings: dict | None = None,
                metadata_directory: str | None = None) -> str:
    return _write_wheel(wheel_directory, _package_files())


def build_editable(wheel_directory: str, config_settings: dict | None = None,
                   metadata_directory: str | None = None) -> str:
    dist = _names()[0]
    return _write_wheel(wheel_directory, {f"{dist}.pth": f"{ROOT}\n".encode()})


def build_sdist(sdist_directory: str, config_settings: dict | None = None) -> str:
    _, _, stem = _names()
    name = f"{stem}.tar.gz"
    sources = [ROOT / "pyproject.toml", ROOT / "README.md", Path(__file__),
               *sorted((ROOT / _names()[0]).rglob("*.py"))]
    with tarfile.open(Path(sdist_directory) / name, "w:gz") as archive:
        for path in sources:
            archive.add(path, arcname=f"{stem}/{path.relative_to(ROOT).as_posix()}")
        info = tarfile.TarInfo(f"{stem}/PKG-INFO")
        data = _metadata().encode()
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    return name

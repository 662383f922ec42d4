"""docs/operators.md is generated from the registry and must be current."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from mxlite.registry import get_registry
from mxlite.registry.docs import render_operators

DOCS = Path(__file__).resolve().parents[1] / "docs" / "operators.md"


def _without_c_backend(text: str) -> str:
    """The reference as a machine without the compiled C pack renders it: no "c" backend,
    and none of the operators the pack itself adds (``_fc_act``)."""
    sections = text.split("\n## ")
    kept = [s for s in sections if "\n- plugin: c_kernels\n" not in s]
    text = "\n## ".join(kept)
    count = int(re.search(r"^(\d+) operators\.$", text, flags=re.M).group(1))
    text = re.sub(r"^\d+ operators\.$", f"{count - (len(sections) - len(kept))} operators.",
                  text, count=1, flags=re.M)
    return re.sub(r"^(- backends: )c, ", r"\1", text, flags=re.M)


def test_operator_reference_is_current() -> None:
    expected = render_operators(get_registry()) + "\n"
    committed = DOCS.read_text()
    info = get_registry().plugins.get("c_kernels")
    if info is None or info.skipped or not info.kernels:  # no compiler here: no "c" kernels
        committed = _without_c_backend(committed)
    assert committed == expected, (
        "docs/operators.md is stale: run `python -m mxlite docs > docs/operators.md` "
        "(on a machine where the C kernel pack builds)")


def test_reference_lists_every_operator_with_parameters() -> None:
    text = render_operators(get_registry())
    assert "## FullyConnected" in text
    assert "| `num_hidden` | int | required |" in text
    for name in get_registry().ops:
        assert f"## {name}\n" in text


def test_plugins_command_lists_the_builtin_plugin() -> None:
    done = subprocess.run([sys.executable, "-m", "mxlite", "plugins"], capture_output=True,
                          text=True, check=True)
    assert "builtin_ops (mxlite " in done.stdout
    assert "backend order: numpy" in done.stdout

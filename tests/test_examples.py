"""The README's main job: the seed's MLP trains on the bundled digits data set."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

pytest.importorskip("sklearn")
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _load(name: str):  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def test_train_mlp_learns_digits(capsys: pytest.CaptureFixture[str]) -> None:
    accuracy = _load("train_mlp").train(epochs=8, batch=32, lr=0.1, momentum=0.9, seed=1)
    assert accuracy > 0.95
    assert "Epoch[7] train-accuracy=" in capsys.readouterr().out

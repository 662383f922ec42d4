"""The README's main job: the example networks train on the bundled digits data set."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import mxlite as mx
import pytest

pytest.importorskip("sklearn")
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _load(name: str):  # type: ignore[no-untyped-def]
    sys.path.insert(0, str(EXAMPLES))
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def test_train_mlp_learns_digits_and_reloads(tmp_path: Path) -> None:
    example, digits = _load("train_mlp"), _load("_digits")
    mx.random.seed(1)
    train_iter, test_iter = digits.digits_iters(32, seed=1)
    accuracy = example.train(example.mlp(), train_iter, test_iter, epochs=6, lr=0.1,
                             prefix=str(tmp_path / "mlp"))
    assert accuracy > 0.95
    assert (tmp_path / "mlp-symbol.json").exists() and (tmp_path / "mlp-0006.params").exists()


def test_train_lenet_learns_digits() -> None:
    example, digits = _load("train_lenet"), _load("_digits")
    mx.random.seed(1)
    train_iter, test_iter = digits.digits_iters(64, seed=1, image=True)
    mlp_example = _load("train_mlp")
    accuracy = mlp_example.train(example.lenet(), train_iter, test_iter, epochs=2, lr=0.1,
                                 prefix=None)
    assert accuracy > 0.85

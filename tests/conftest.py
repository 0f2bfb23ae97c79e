"""Shared fixtures: tiny recipes that run in a second or two on a CPU core."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from recipe_text import synthetic_training

os.environ.setdefault("OMP_NUM_THREADS", "1")


TINY_RECIPE = (
    """
name = "tiny"
seeds = [0, 1]
device = "cpu"
"""
    + synthetic_training(30, 0.1, "every:10", train_per_class=40, probe_per_class=6)
    + """[metrics]
condensation = { every = "every:10" }
common_direction = { every = "at:0,15" }

[tricks]
init = { scheme = "xavier_normal", scale = 1.0 }

[[arms]]
name = "mlp"
model = { use = "mlp", depth = 3, width = 8, activation = "tanh" }

[[arms]]
name = "resmlp"
model = { use = "resmlp", depth = 3, width = 8 }
tricks = { momentum = { beta = 0.5 } }
"""
)


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    import torch

    torch.set_num_threads(1)


@pytest.fixture
def write_recipe(tmp_path: Path) -> Callable[..., Path]:
    """Write a recipe (TINY_RECIPE by default) into tmp_path and return its path."""

    def write(text: str = TINY_RECIPE, name: str = "recipe.toml") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write


@pytest.fixture
def cli_run(capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    """Run ``condensekit`` in-process; return (exit code, stdout, stderr). ``main`` returns the code, never
    exits."""
    from condensekit.cli import main

    def run(*args: str) -> tuple[int, str, str]:
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MB tmpfs (skipped where mounting is not allowed: it needs root or CAP_SYS_ADMIN)."""
    mount = tmp_path / f"disk-{uuid.uuid4().hex[:6]}"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], capture_output=True, text=True
    )
    if done.returncode != 0:
        pytest.skip(
            f"cannot mount a tmpfs here ({done.stderr.strip() or 'not permitted'}); "
            "the full-disk cases need one"
        )
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)

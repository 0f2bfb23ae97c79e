"""Fixtures of a finished output tree: ``grid`` (the tiny recipe run once per test module) and ``root`` (a
copy of its recipe folder per test). Use them with ``pytest_plugins = ["grid_fixtures"]``."""

from __future__ import annotations

from pathlib import Path

import pytest
from output_tree import copy_of, finished


@pytest.fixture(scope="module")
def grid(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished output root: two seeds of the tiny recipe, the report written."""
    return finished(tmp_path_factory.mktemp("grid"))


@pytest.fixture
def root(grid: Path, tmp_path: Path) -> Path:
    """The finished recipe folder (``out/h``), this test's own copy."""
    return copy_of(grid, tmp_path / "out")

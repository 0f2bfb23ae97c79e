"""The fixtures of condensekit's pytest plugin: ``plugin_manager`` and ``tiny_run``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from condensekit.testing.recipes import TinyRun, run_tiny


@pytest.fixture
def plugin_manager() -> Any:
    """A fresh :class:`condensekit.manager.PluginManager` (built-ins and installed plugins)."""
    from condensekit.manager import get_plugin_manager

    return get_plugin_manager()


@pytest.fixture
def tiny_run(tmp_path: Path) -> Callable[..., TinyRun]:
    """``tiny_run(recipe, steps=3, overrides=(), check=True)``: :func:`run_tiny` into ``tmp_path``."""
    counter = iter(range(1_000_000))

    def run(recipe: Mapping[str, Any] | str | Path, **kwargs: Any) -> TinyRun:
        return run_tiny(recipe, tmp_path / f"tiny_run{next(counter)}", **kwargs)

    return run

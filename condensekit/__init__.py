"""condensekit: does feature condensation appear beyond plain MLPs, and which tricks remove it?

The public API is what ``__all__`` lists: :func:`run_recipe` and :func:`load_runs` for notebooks and scripts,
the plugin API (``hookimpl``, ``Run``, ``Probe``, ``DataInfo``, ``DataBundle``, ``MetricReport``, ...) and
the errors. Everything that needs more than pydantic and pluggy is imported lazily, on first use, so that
``import condensekit``, ``condensekit --help`` and plugin registration never import torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

from condensekit.errors import CondensekitError, PluginError, RecipeError, RunsFailed
from condensekit.metric_report import Figure, MetricReport, Panel
from condensekit.status import RunStatus

__version__ = "0.1.0"

hookimpl = pluggy.HookimplMarker("condensekit")
"""Marker for plugin hook implementations: ``@condensekit.hookimpl``."""

__all__ = [
    "CondensekitError",
    "DataBundle",
    "DataInfo",
    "Figure",
    "GridResult",
    "MetricReport",
    "Panel",
    "PluginError",
    "Probe",
    "RecipeError",
    "Run",
    "RunSpec",
    "RunsFailed",
    "RunStatus",
    "__version__",
    "hookimpl",
    "load_runs",
    "run_recipe",
]

_LAZY = {
    "Run": "condensekit.run",
    "Probe": "condensekit.probe",
    "DataInfo": "condensekit.data",
    "DataBundle": "condensekit.data",
    "RunSpec": "condensekit.spec",
    "run_recipe": "condensekit.api",
    "load_runs": "condensekit.results",
    "GridResult": "condensekit.results",
}

if TYPE_CHECKING:
    from condensekit.api import run_recipe
    from condensekit.data import DataBundle, DataInfo
    from condensekit.probe import Probe
    from condensekit.results import GridResult, load_runs
    from condensekit.run import Run
    from condensekit.spec import RunSpec


_NOT_API = {"annotations", "TYPE_CHECKING", "Any", "pluggy"}
"""Names this module imports for its own use: tab completion does not offer them."""


def __dir__() -> list[str]:
    """The module's names, the lazy ones included (``run_recipe``, ``Probe``, ...), for tab completion."""
    return sorted((set(globals()) - _NOT_API) | set(__all__))


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'condensekit' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)

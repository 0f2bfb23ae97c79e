"""condensekit: does feature condensation appear beyond plain MLPs, and which tricks remove it?

The public API is what ``__all__`` lists. ``Run``, ``Probe``, ``DataInfo``, ``DataBundle`` and ``RunSpec``
are imported lazily so that ``condensekit --help`` and plugin registration never import torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

from condensekit.errors import CondensekitError, PluginError, RecipeError
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
    "MetricReport",
    "Panel",
    "PluginError",
    "Probe",
    "RecipeError",
    "Run",
    "RunSpec",
    "RunStatus",
    "__version__",
    "hookimpl",
]

_LAZY = {
    "Run": "condensekit.run",
    "Probe": "condensekit.probe",
    "DataInfo": "condensekit.data",
    "DataBundle": "condensekit.data",
    "RunSpec": "condensekit.spec",
}

if TYPE_CHECKING:
    from condensekit.data import DataBundle, DataInfo
    from condensekit.probe import Probe
    from condensekit.run import Run
    from condensekit.spec import RunSpec


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'condensekit' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)

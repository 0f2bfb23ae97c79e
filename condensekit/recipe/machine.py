"""Validate-time checks of this machine: the recipe's device exists here, and its data can be had.

Both would otherwise pass ``validate`` and fail every run separately (``device = "cuda"`` without CUDA; a
dataset that needs a download on a machine without network). They are checked once, before any run, and
only when the runs execute on this machine (the ``local`` executor): a recipe sent to a cluster is checked
where its runs land.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from condensekit.catalogue import Catalogue
from condensekit.errors import PLUGIN_FAILURES, CondensekitError
from condensekit.recipe.problems import Problems
from condensekit.recipe.runlist import ArmPlan
from condensekit.text import toml_text

RUNS_HERE = "local"
"""The executor whose runs execute on the machine that validates the recipe."""


def check_device(device: str, problems: Problems) -> None:
    """A problem at ``device`` when it names a CUDA or MPS device this machine does not have."""
    if not device.startswith(("cuda", "mps")):
        return
    missing = missing_device(device)
    if missing:
        problems.add(
            "device",
            f"{device!r}, but {missing}",
            'use device = "auto" (CUDA when present, else the CPU) or device = "cpu"',
        )


def missing_device(device: str) -> str:
    """Why ``device`` (``cuda``, ``cuda:N`` or ``mps``) cannot be used here; empty when it can."""
    import torch

    if device == "mps":
        return "" if torch.backends.mps.is_available() else "this machine has no MPS (Apple GPU) device"
    if torch.version.cuda is None:
        return f"this torch ({torch.__version__}) is built without CUDA"
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if count == 0:
        return (
            f"torch {torch.__version__} finds no CUDA device here (no GPU or driver, or CUDA_VISIBLE_DEVICES "
            "hides them)"
        )
    index = int(device.split(":")[1]) if ":" in device else 0
    if index >= count:
        return f"this machine has {count} CUDA device{'s' if count > 1 else ''} (cuda:0 to cuda:{count - 1})"
    return ""


def check_data(plans: Sequence[ArmPlan], catalogue: Catalogue, problems: Problems) -> None:
    """Prepare each distinct data table once (files found, or downloaded); a failure is a problem at
    ``data``."""
    tried: set[str] = set()
    for plan in plans:
        for data_sub in plan.section_values(("data",)):
            data = plan.validated[(("data",), data_sub)]
            key = f"{data.use} {data.root} {toml_text(data.params)}"
            if key in tried:
                continue
            tried.add(key)
            error = _prepare(catalogue, data)
            if error:
                named = error if repr(data.use) in error else f"dataset {data.use!r}: {error}"
                problems.add("data", f"not available on this machine: {named}")


def _prepare(catalogue: Catalogue, data: Any) -> str:
    """What goes wrong making one data table's files available ("" when nothing does)."""
    entry = catalogue.get("datasets", data.use)
    if entry.prepare is None:
        return ""
    try:
        entry.prepare(entry.params.model_validate(data.params), Path(data.root).expanduser())
    except PLUGIN_FAILURES as exc:
        text = " ".join(str(exc).split())
        return text if isinstance(exc, CondensekitError) else f"{type(exc).__name__}: {text}"
    return ""

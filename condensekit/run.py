"""``Run``: the context every run hook receives."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

    from condensekit.data import DataInfo
    from condensekit.metric_report import MetricReport
    from condensekit.spec import RunSpec


@dataclass
class Run:
    """Everything a hook may need to know about the run in progress.

    Attributes:
        spec: the resolved :class:`condensekit.RunSpec` (``spec.model``, ``spec.tricks``, ``spec.metrics``,
            ``spec.train``, ...).
        name: the arm's name.
        seed: the run's seed.
        device: the torch device the run trains on.
        run_dir: the run's output directory (exists when ``run_started`` is called).
        info: the dataset's :class:`condensekit.DataInfo`.
        step: the number of optimizer steps taken so far.
        hidden_layers: the points the mean over hidden layers averages (the model's ``hidden`` group:
            probe points, or variants such as a ViT's ``block1@mean``; logits excluded).
        probe_groups: every group of probe points, label -> series keys, ``hidden`` first
            (:func:`condensekit.layer_groups.declared_groups`).
        initialisation: module name -> how its weights were initialised, written by a trick that
            re-initialises them (the ``init`` trick); empty: the model's own initialisation.
        state: scratch space for plugins, keyed by plugin name (e.g. an open file or a writer).
        reports: metric name -> the :class:`condensekit.MetricReport` it declared, for this run's metrics
            that declared one (what a logger needs to know about their keys).
    """

    spec: RunSpec
    name: str
    seed: int
    device: torch.device
    run_dir: Path
    info: DataInfo | None = None
    step: int = 0
    hidden_layers: list[str] = field(default_factory=list)
    probe_groups: dict[str, list[str]] = field(default_factory=dict)
    initialisation: dict[str, str] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)
    reports: dict[str, MetricReport] = field(default_factory=dict)

    @property
    def total_steps(self) -> int:
        """The number of steps the run will take (``spec.train.steps``)."""
        return self.spec.train.steps

    @property
    def label(self) -> str:
        """``arm/grid point/seed=n``, for messages."""
        return self.spec.label

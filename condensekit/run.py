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
        hidden_layers: probe points that count as hidden layers in summaries (logits excluded).
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

"""``RunSpec``: one fully resolved run (an arm at one grid point with one seed), typed and validated once.

A recipe is expanded into RunSpecs by :mod:`condensekit.recipe`; from there on every part of the run is
carried typed: ``spec.train.steps``, ``spec.model.use``, ``spec.metrics["condensation"].every``. A spec
serialises to plain JSON (``to_dict``) and back (``from_dict``) for worker processes, clusters and
``run.json``; the round trip gives an equal spec.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from condensekit.phases import Thresholds
from condensekit.schedules import Schedule
from condensekit.text import grid_label

_FROZEN = ConfigDict(extra="forbid", frozen=True)

REFINE_BUDGET = 0.5
"""The default ``[probe] refine_budget`` (docs/performance.md: what it costs and how well it agrees)."""
TEST_BUDGET = 0.025
"""The extra test evaluations' default share of training's sample passes (``TrainSection.test_schedule``)."""
TEST_POINTS = 25
"""The most evenly spaced extra test evaluations by default. TensorBoard's smoothing (0.6, a moving average
over points) lags by about 1.5 points; with 20 extra points (the main job) it shows the final test accuracy
within 0.01 of the measured one, against 0.15 below it with the 20 log-spaced evaluations alone
(``benchmarks/accuracy_density.py``)."""

MAX_STEPS = 10_000_000
"""The most steps a run may take. A run keeps its loss history in memory (about 100 bytes a step), so
10^7 steps is about a gigabyte; a typo like ``steps = 1e12`` is a validation error, not an out-of-memory."""


class TrainSection(BaseModel):
    """``[train]``: the training loop (an arm may override any key with its own ``train = {...}``)."""

    model_config = _FROZEN
    steps: int = Field(1000, ge=1, le=MAX_STEPS, description="number of optimizer steps")
    lr: float = Field(0.01, gt=0, description="learning rate")
    eval_every: Schedule = Field(
        Schedule.parse("log:20"), description="schedule of train/test accuracy evaluation"
    )
    max_loss: float = Field(1e6, gt=0, description="a loss above this (or not finite) marks the run diverged")
    test_every: Schedule | None = Field(
        None,
        description=(
            "schedule of extra test-accuracy evaluations (the test split alone), so that the curve survives "
            "TensorBoard's smoothing; default: evenly spaced, as many as cost at most 2.5% of the training "
            'samples\' passes and at most 25 (none when the test split is too large); "at:0": none'
        ),
    )

    def test_schedule(self, test_samples: int, batch_size: int) -> Schedule:
        """The steps of the extra test-accuracy evaluations: ``test_every``, or its default for a test split
        of ``test_samples`` (a training step passes ``batch_size`` samples forward and back, about three
        forward passes; a test evaluation one forward pass of each test sample)."""
        if self.test_every is not None:
            return self.test_every
        points = min(TEST_POINTS, int(TEST_BUDGET * self.steps * batch_size * 3 / max(1, test_samples)))
        return Schedule("every", (-(-self.steps // points),)) if points >= 2 else Schedule("at", (0,))


class ProbeSection(BaseModel):
    """``[probe]``: the fixed class-balanced probe batch, and where the summary series is measured."""

    model_config = _FROZEN
    per_class: int = Field(20, ge=1, description="probe samples per class")
    max_samples: int = Field(512, ge=2, description="cap on the probe batch size")
    refine: bool = Field(
        True,
        description=(
            "measure the summary series densely around its peaks and the loss's exit from the plateau, by "
            "replaying training steps from in-memory snapshots (false: on the metric's schedule only)"
        ),
    )
    refine_memory: int = Field(
        256, ge=1, le=1_000_000, description="MiB the snapshots of one run may take for the refinement"
    )
    refine_budget: float = Field(
        REFINE_BUDGET,
        ge=0,
        le=10,
        description=(
            "the most measurements plus replayed training steps the refinement may spend, per training step "
            "of the run (docs/performance.md: what it costs and how well the peaks then agree with a "
            "measurement at every step)"
        ),
    )


class DataSection(BaseModel):
    """``[data]``: ``use`` names a dataset plugin; ``batch_size`` and ``root`` are the core's; every other key
    is a parameter of the dataset (``params``, validated by the dataset's own params model)."""

    model_config = _FROZEN
    use: str = Field(description="dataset plugin (condensekit list datasets)")
    batch_size: int = Field(100, ge=1, description="minibatch size")
    root: str = Field("data", description="folder where datasets are found or downloaded")
    params: dict[str, Any] = Field(default_factory=dict, description="the dataset's validated parameters")


CORE_DATA_KEYS = ("use", "batch_size", "root")


class SummaryOptions(BaseModel):
    """What the per-run summary reads and what the report compares against (from the recipe's ``[summary]``
    table, beside the :class:`~condensekit.phases.Thresholds`)."""

    model_config = _FROZEN
    series: str | None = Field(
        None,
        description=(
            "the per-layer series the summary reads, '<metric>/<quantity>' "
            "(default: the headline series of the first metric that declares one)"
        ),
    )
    reference: str | None = Field(
        None, description="the arm the report compares every other arm against (default: the first arm)"
    )


class Component(BaseModel):
    """A named plugin component with its validated parameters (a model, an executor)."""

    model_config = _FROZEN
    use: str
    params: dict[str, Any] = Field(default_factory=dict)


class MetricSpec(BaseModel):
    """One metric of a run: when it is due, and its validated parameters."""

    model_config = _FROZEN
    every: Schedule
    params: dict[str, Any] = Field(default_factory=dict)


class RunSpec(BaseModel):
    """One fully resolved run. Every value has been validated against the catalogue it names."""

    model_config = _FROZEN
    recipe_name: str
    recipe_path: str = Field("", description="the recipe file, when it came from one")
    arm: str
    grid: dict[str, Any] = Field(
        default_factory=dict, description="this run's grid point: dotted key -> value"
    )
    seed: int
    device: str = "auto"
    data: DataSection
    model: Component
    train: TrainSection
    tricks: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="trick name -> validated params"
    )
    metrics: dict[str, MetricSpec] = Field(default_factory=dict)
    probe: ProbeSection = Field(default_factory=ProbeSection)
    thresholds: Thresholds = Field(default_factory=Thresholds)
    summary_options: SummaryOptions = Field(default_factory=SummaryOptions)
    plugins: list[str] = Field(default_factory=list, description="local plugin files the run needs")

    @property
    def grid_label(self) -> str:
        """The grid point as its folder name, ``base`` without a grid."""
        return grid_label(self.grid)

    @property
    def label(self) -> str:
        """``<arm>/<grid point>/seed=<n>``: the run's folder below the recipe's output folder, and its name in
        messages."""
        return f"{self.arm}/{self.grid_label}/seed={self.seed}"

    @property
    def rel_dir(self) -> Path:
        """Where the run lives below the output root: ``<recipe>/<arm>/<grid point>/seed=<n>``."""
        return Path(self.recipe_name) / self.label

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data (schedules as their text); :meth:`from_dict` reads it back."""
        return self.model_dump(mode="json")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunSpec:
        return cls.model_validate(data)

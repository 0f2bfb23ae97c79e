"""The runs of a recipe as a sequence built on demand from validated sections, never all held at once.

A grid of a million points validates each distinct section value once; the million RunSpecs are then made
one at a time when iterated or indexed, sharing the validated sections, so a large grid costs memory in
proportion to its distinct values, not to its runs.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, overload

from condensekit.phases import Thresholds
from condensekit.recipe.schema import Arm
from condensekit.spec import Component, DataSection, ProbeSection, RunSpec, SummaryOptions, TrainSection
from condensekit.text import value_label

Section = tuple[str, ...]
"""A part of an arm's configuration validated on its own: ``("model",)``, ``("train",)``, ``("data",)``,
``("tricks", name)`` or ``("metrics", name)``."""


@dataclass
class ArmPlan:
    """One arm with its grid: the sections, which grid keys set values in each, and their validated values.

    Attributes:
        arm: the arm.
        keys: the grid keys, in the recipe's order; ``values`` their lists of values.
        sections: every section of this arm -> the indices (into ``keys``) of the grid keys inside it.
        validated: ``(section, indices of its keys' values)`` -> the validated section (a Component, a
            TrainSection, a DataSection, trick params or a MetricSpec).
        thresholds: the arm's summary thresholds.
        summary_options: the arm's summary options (its summary series resolved).
    """

    arm: Arm
    keys: list[str]
    values: list[list[Any]]
    sections: dict[Section, list[int]] = field(default_factory=dict)
    validated: dict[tuple[Section, tuple[int, ...]], Any] = field(default_factory=dict)
    thresholds: Thresholds = field(default_factory=Thresholds)
    summary_options: SummaryOptions = field(default_factory=SummaryOptions)

    @property
    def points(self) -> int:
        return math.prod(len(v) for v in self.values)

    def indices(self) -> Iterator[tuple[int, ...]]:
        """Every grid point as the index of each key's value, the last key varying fastest."""
        return itertools.product(*(range(len(v)) for v in self.values))

    def section_values(self, section: Section) -> Iterator[tuple[int, ...]]:
        """The distinct combinations of values of the grid keys inside ``section``."""
        return itertools.product(*(range(len(self.values[i])) for i in self.sections[section]))

    def get(self, section: Section, point: tuple[int, ...]) -> Any:
        return self.validated[(section, tuple(point[i] for i in self.sections[section]))]

    def label_parts(self) -> list[list[str]]:
        """Each key's ``key=value`` folder-name part, per value."""
        return [
            [f"{key}={value_label(v)}" for v in values]
            for key, values in zip(self.keys, self.values, strict=True)
        ]


@dataclass(frozen=True)
class Common:
    """What every run of a recipe shares."""

    recipe_name: str
    recipe_path: str
    device: str
    probe: ProbeSection
    plugins: list[str]
    seeds: list[int]


class RunList(Sequence[RunSpec]):
    """Every run of a recipe: arms in order, then grid points (last key fastest), then seeds."""

    def __init__(self, common: Common | None = None, plans: Sequence[ArmPlan] = ()):
        self.common, self.plans = common, list(plans)
        seeds = len(common.seeds) if common is not None else 0
        self._sizes = [plan.points * seeds for plan in self.plans]

    def __len__(self) -> int:
        return sum(self._sizes)

    @overload
    def __getitem__(self, index: int) -> RunSpec: ...

    @overload
    def __getitem__(self, index: slice) -> list[RunSpec]: ...

    def __getitem__(self, index: int | slice) -> RunSpec | list[RunSpec]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError("run index out of range")
        assert self.common is not None
        for plan, size in zip(self.plans, self._sizes, strict=True):
            if index < size:
                number, seed = divmod(index, len(self.common.seeds))
                point = []
                for values in reversed(plan.values):
                    number, i = divmod(number, len(values))
                    point.append(i)
                return self._spec(plan, tuple(reversed(point)), self.common.seeds[seed])
            index -= size
        raise IndexError("run index out of range")  # pragma: no cover

    def __iter__(self) -> Iterator[RunSpec]:
        if self.common is None:
            return
        for plan in self.plans:
            for point in plan.indices():
                for seed in self.common.seeds:
                    yield self._spec(plan, point, seed)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"RunList({len(self)} runs)"

    def rel_dirs(self) -> Iterator[str]:
        """Each run's directory below the output root, without building its spec."""
        if self.common is None:
            return
        for plan in self.plans:
            parts = plan.label_parts()
            head = f"{self.common.recipe_name}/{plan.arm.name}/"
            for point in plan.indices():
                label = ",".join(parts[k][i] for k, i in enumerate(point)) or "base"
                for seed in self.common.seeds:
                    yield f"{head}{label}/seed={seed}"

    def _spec(self, plan: ArmPlan, point: tuple[int, ...], seed: int) -> RunSpec:
        common = self.common
        assert common is not None
        tricks = {section[1]: plan.get(section, point) for section in plan.sections if section[0] == "tricks"}
        metrics = {
            section[1]: plan.get(section, point) for section in plan.sections if section[0] == "metrics"
        }
        model: Component = plan.get(("model",), point)
        train: TrainSection = plan.get(("train",), point)
        data: DataSection = plan.get(("data",), point)
        grid = {key: plan.values[k][i] for k, (key, i) in enumerate(zip(plan.keys, point, strict=True))}
        # Every part was validated once, where it entered; constructing skips validating it all again per run.
        return RunSpec.model_construct(
            recipe_name=common.recipe_name,
            recipe_path=common.recipe_path,
            arm=plan.arm.name,
            grid=grid,
            seed=seed,
            device=common.device,
            data=data,
            model=model,
            train=train,
            tricks=tricks,
            metrics=metrics,
            probe=common.probe,
            thresholds=plan.thresholds,
            summary_options=plan.summary_options,
            plugins=common.plugins,
        )

"""The report's input, built once per report: every table, figure, sentence and TensorBoard summary reads it.

:class:`ReportInput` holds the runs' rows in report order (arms in the order they were run, grid points by
value), the thresholds in force (and any other set some runs used), the summary options, the reference arm,
and one :class:`Group` per arm and grid point, whose curves are read from ``metrics.jsonl`` at most once.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from condensekit.layer_groups import HIDDEN
from condensekit.phases import RunSummary, Series, Thresholds
from condensekit.report.rows import RunRow
from condensekit.report.series import load_series
from condensekit.spec import SummaryOptions


def group_label(arm: str, grid: str) -> str:
    """``mlp`` or ``mlp [model.depth=4]``: an arm at one grid point, in sentences, figures and the API."""
    return arm if grid == "base" else f"{arm} [{grid}]"


@dataclass(frozen=True)
class RunCurves:
    """One finished run, its summary, and everything it logged: tag -> (steps, values), non-finite values
    kept as NaN."""

    row: RunRow
    summary: RunSummary
    series: dict[str, Series]


SeriesReader = Callable[[RunRow], dict[str, Series]]
"""Reads what a run logged (normally :func:`condensekit.report.series.load_series` of its folder)."""


@dataclass(frozen=True)
class Group:
    """The runs of one arm at one grid point (every status), in the order of the report's rows.

    ``read_series`` reads a run's curves (None: no curves, tables only); :attr:`curves` calls it once per
    finished run, the first time the curves are needed.
    """

    arm: str
    grid: str
    rows: tuple[RunRow, ...]
    read_series: SeriesReader | None = field(default=None, compare=False)

    @property
    def label(self) -> str:
        return group_label(self.arm, self.grid)

    @property
    def ok(self) -> list[RunRow]:
        """The runs that finished ``ok``: the ones whose numbers enter the tables."""
        return [r for r in self.rows if r.ok]

    @cached_property
    def curves(self) -> list[RunCurves]:
        """The finished (ok or diverged) runs that logged anything, with what they logged; read once."""
        if self.read_series is None:
            return []
        loaded = [
            RunCurves(r, r.summary, self.read_series(r))
            for r in self.rows
            if r.status.finished and r.summary is not None
        ]
        return [c for c in loaded if c.series]

    @property
    def layers(self) -> tuple[str, ...]:
        """The hidden layers of the deepest run with curves (all seeds of a group normally share them)."""
        return max((c.summary.hidden_layers for c in self.curves), key=len, default=())

    @property
    def probe_groups(self) -> dict[str, tuple[str, ...]]:
        """The run's groups of probe points, label -> points, from the finished run with the most: ``hidden``
        (the points the layer mean averages) first, then the model's other groups (drawn apart, never in the
        mean). The one place that says which point belongs where, for tables, figures and the dashboard."""
        summaries = [r.summary for r in self.rows if r.summary is not None]
        best = max(summaries, key=lambda s: len(s.layers), default=None)
        if best is None:
            return {}
        return {HIDDEN: best.hidden_layers, **best.groups}

    @property
    def t1(self) -> list[float]:
        """T1 of each run with curves that left its plateau."""
        return [
            float(t) for c in self.curves if c.row.summary and (t := c.row.summary.phase1_end) is not None
        ]


def _grid_key(values: dict[str, Any]) -> tuple[tuple[int, float, str], ...]:
    """Sort key of a grid point: numbers by value (4 before 10), anything else by its text."""
    key = []
    for v in values.values():
        numeric = isinstance(v, int | float) and not isinstance(v, bool)
        key.append((0, float(v), "") if numeric else (1, 0.0, str(v)))
    return tuple(key)


def report_order(rows: Iterable[RunRow]) -> list[RunRow]:
    """Arms in the order they were run (the recipe's), then grid points by value, then as given."""
    rows = list(rows)
    first_start: dict[str, float] = {}
    for row in rows:
        started = row.started if row.started is not None else math.inf
        first_start[row.arm] = min(first_start.get(row.arm, math.inf), started)
    return sorted(rows, key=lambda r: (first_start[r.arm], r.arm, _grid_key(dict(r.grid_values))))


def grouped(rows: Iterable[RunRow], read_series: SeriesReader | None = None) -> list[Group]:
    """One :class:`Group` per (arm, grid point), in the order of ``rows``."""
    members: dict[tuple[str, str], list[RunRow]] = {}
    for row in rows:
        members.setdefault((row.arm, row.grid), []).append(row)
    return [Group(arm, grid, tuple(runs), read_series) for (arm, grid), runs in members.items()]


@dataclass(frozen=True)
class ReportInput:
    """Everything a report is made from (see the module's docstring); build it with :meth:`of`.

    Attributes:
        rows: every run, in report order.
        groups: one per arm and grid point, in report order.
        thresholds: the thresholds in force (those of the first run that has a spec; the defaults without).
        other_thresholds: further sets some runs used (the report says so).
        options: the summary options in force (the summary series, the reference arm asked for).
        reference: the arm every other arm is compared against: the one ``options`` names, else the first.
        root: the report's folder, where the runs' curves are read (None: tables only).
    """

    rows: tuple[RunRow, ...]
    groups: tuple[Group, ...]
    thresholds: Thresholds
    other_thresholds: tuple[Thresholds, ...]
    options: SummaryOptions
    reference: str | None
    root: Path | None = None

    @classmethod
    def of(cls, rows: Iterable[RunRow], root: Path | None = None) -> ReportInput:
        """The input of a report on ``rows`` (any order); their curves are read below ``root`` when needed."""
        ordered = report_order(rows)
        groups = grouped(ordered, None if root is None else lambda row: load_series(root / row.run_dir))
        specs = [r.spec for r in ordered if r.spec is not None]
        sets = list(dict.fromkeys(s.thresholds for s in specs)) or [Thresholds()]
        options = specs[0].summary_options if specs else SummaryOptions()
        arms = list(dict.fromkeys(g.arm for g in groups))
        reference = options.reference if options.reference in arms else (arms[0] if arms else None)
        return cls(tuple(ordered), tuple(groups), sets[0], tuple(sets[1:]), options, reference, root)

    def only(self, run_dirs: Iterable[str]) -> ReportInput:
        """The same report restricted to some runs (by ``run_dir``)."""
        wanted = set(run_dirs)
        return ReportInput.of([r for r in self.rows if r.run_dir in wanted], self.root)

    def group(self, arm: str, grid: str = "base") -> Group | None:
        return next((g for g in self.groups if g.arm == arm and g.grid == grid), None)

    @property
    def series(self) -> str | None:
        """The summary series, ``<metric>/<quantity>`` (None: no metric declares one)."""
        return self.options.series

    def series_words(self) -> str:
        """What the summary series is, in the words its metric declared (``feat_inter``: "inter-class ..")."""
        if self.series is None:
            return "no similarity series (no metric declares one; see `[summary] series`)"
        metric, _, quantity = self.series.partition("/")
        for row in self.rows:
            words = row.reports[metric].describe.get(quantity) if metric in row.reports else None
            if words:
                return f"`{self.series}`, the {words}"
        return f"`{self.series}`"

    def windows(self) -> list[int]:
        """The distinct smoothing windows of the runs' losses."""
        return sorted({r.summary.smoothing_window for r in self.rows if r.summary is not None})

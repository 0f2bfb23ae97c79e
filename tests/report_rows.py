"""Typed report rows for tests: a :class:`RunRow` from a few quantities, without running anything."""

from __future__ import annotations

from typing import Any

from condensekit.phases import (
    RunSummary,
    SeriesSummary,
    Thresholds,
)
from condensekit.report.model import ReportInput
from condensekit.report.rows import RunRow
from condensekit.spec import Component, DataSection, RunSpec, SummaryOptions, TrainSection
from condensekit.status import RunStatus
from condensekit.text import grid_label

MEAN_KEYS = ("S0", "peak", "peak_step", "dS", "S_final", "peak_loss_drop")


def summary(**values: Any) -> RunSummary:
    """A run summary whose run-level fields and layer-mean fields (``S0``, ``dS``, ...) are ``values``.

    ``peak_phase``, ``condensed`` and ``collapsed_at_init`` set both the run's and the mean's; ``layers``
    takes layer -> dict of :class:`SeriesSummary` fields.
    """
    mean = {k: values.pop(k) for k in MEAN_KEYS if k in values}
    for k in ("peak_phase", "condensed"):
        if k in values:
            mean[k] = values[k]
    layers = {name: SeriesSummary(**fields) for name, fields in values.pop("layers", {}).items()}
    hidden = values.pop("hidden_layers", tuple(layers))
    t1 = values.pop("phase1_end", None)
    base: dict[str, Any] = {
        "plateau_loss": 2.3,
        "smoothing_window": 20,
        "phase1_end": t1,
        "stuck": t1 is None,
        "dS_max": None,
        "peak_max": None,
        "condensed": False,
        "collapsed_at_init": False,
        "peak_phase": None,
        "steps_done": 1000,
        "hidden_layers": hidden,
    }
    return RunSummary(**{**base, **values, "mean": SeriesSummary(**mean), "layers": layers})


def row(
    arm: str,
    seed: int,
    *,
    status: RunStatus = RunStatus.OK,
    grid: dict[str, Any] | None = None,
    started: float = 0.0,
    thresholds: dict[str, Any] | None = None,
    series: str | None = "condensation/feat_inter",
    reference: str | None = None,
    error: str = "",
    recipe_path: str = "",
    **values: Any,
) -> RunRow:
    """A run row of ``arm`` and ``seed``; ``values`` go to :func:`summary` (none for a run that did not
    finish)."""
    grid = grid or {}
    spec = RunSpec(
        recipe_name="test",
        recipe_path=recipe_path,
        arm=arm,
        grid=grid,
        seed=seed,
        data=DataSection(use="digits"),
        model=Component(use="mlp"),
        train=TrainSection(),
        thresholds=Thresholds(**(thresholds or {})),
        summary_options=SummaryOptions(series=series, reference=reference),
    )
    finished = status in (RunStatus.OK, RunStatus.DIVERGED)
    return RunRow(
        run_dir=f"{arm}/{grid_label(grid)}/seed={seed}",
        status=status,
        arm=arm,
        grid=grid_label(grid),
        seed=seed,
        grid_values=grid,
        error=error,
        started=started,
        spec=spec,
        summary=summary(**values) if finished else None,
    )


def markdown_table(text: str, heading: str) -> list[dict[str, str]]:
    """The first Markdown table after ``heading`` in ``text``, one dict per line (header -> cell)."""
    lines = text[text.index(heading) :].splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| "))
    block = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        block.append([c.strip() for c in line.strip("|").split(" | ")])
    header, body = block[0], block[2:]
    return [dict(zip(header, row, strict=True)) for row in body]


def report(*rows: RunRow) -> ReportInput:
    """The report input of these rows (tables only: no folder to read curves from)."""
    return ReportInput.of(rows)


def finished_row(
    arm: str, seed: int, t1: int | None, ds: float, status: RunStatus = RunStatus.OK, grid: dict | None = None
) -> RunRow:
    """A row with T1, dS and a test accuracy of 0.5 + dS, after 500 steps."""
    return row(
        arm, seed, status=status, grid=grid, phase1_end=t1, dS=ds, final_test_acc=0.5 + ds, steps_done=500
    )

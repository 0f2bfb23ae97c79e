"""One typed row per run directory, read once from its ``run.json``; ``summary.csv``.

Nothing is re-run: a row holds the run's status, where it lives, its spec (arm, grid point, seed, the
thresholds it used), its typed summary and the report declarations of its metrics. Failed, diverged,
interrupted and unreadable runs are rows too.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from condensekit import quantities
from condensekit.errors import traceback_line
from condensekit.metric_report import MetricReport
from condensekit.output import RunLock, load_run_json, run_folders
from condensekit.phases import RunSummary
from condensekit.reuse import damaged_outputs, summary_problem
from condensekit.spec import RunSpec
from condensekit.status import RunStatus, as_status

OTHER_VERSION = "run.json was written by another version of condensekit; rerunning the recipe redoes this run"


@dataclass(frozen=True)
class RunRow:
    """One run of a report, as its ``run.json`` says.

    Attributes:
        run_dir: the run's folder relative to the report's folder (``mlp/base/seed=0``).
        status: what became of it: ``running`` only while a live process holds the run's lock (else
            ``interrupted``: its process is gone); ``unreadable`` for a folder that cannot be read.
        arm, grid, seed: the arm, the grid point's label (``base`` without a grid) and the seed.
        grid_values: the grid point, dotted key -> value.
        error: the final error (its message on one line), why the row is ``unreadable``, or who runs it.
        seconds, started: how long the run took and when it started (seconds since the epoch).
        spec: the run's spec (None when unreadable).
        summary: its summary (None unless it finished).
        reports: metric name -> the report declaration it wrote (figures, described series).
    """

    run_dir: str
    status: RunStatus
    arm: str
    grid: str
    seed: int | None = None
    grid_values: Mapping[str, Any] = field(default_factory=dict)
    error: str = ""
    seconds: float | None = None
    started: float | None = None
    spec: RunSpec | None = None
    summary: RunSummary | None = None
    reports: Mapping[str, MetricReport] = field(default_factory=dict)

    @property
    def hidden_layers(self) -> tuple[str, ...]:
        """The run's hidden layers, as its summary recorded them (none without a summary)."""
        return self.summary.hidden_layers if self.summary is not None else ()

    @property
    def ok(self) -> bool:
        return self.status == RunStatus.OK

    def value(self, key: str) -> Any:
        """A ``summary.csv`` column: which run it is (:data:`~condensekit.quantities.ROW_COLUMNS`) or one of
        its quantities."""
        if key in quantities.ROW_COLUMNS:
            return getattr(self, key)
        return quantities.by_key()[key].of(self.summary)

    def values(self) -> dict[str, Any]:
        """Every ``summary.csv`` column of this run, numbers as numbers and a missing value as None."""
        return {key: self.value(key) for key in quantities.csv_columns()}


def read_row(root: Path, run_dir: Path, problem: str = "") -> RunRow:
    """The row of one run folder (below the report's folder ``root``); ``problem``: why it cannot be read,
    found while listing (a link, a folder without ``run.json``)."""
    rel = run_dir.relative_to(root)
    parts = (*rel.parts, "?", "?")
    unreadable = RunRow(str(rel), RunStatus.UNREADABLE, parts[0], parts[1])
    info, why = (None, problem) if problem else load_run_json(run_dir)
    if info is None:
        return _with_error(unreadable, why)
    status = as_status(info.get("status"))
    try:
        spec = RunSpec.from_dict(info["spec"]) if "spec" in info else None
    except ValidationError:
        return _with_error(unreadable, OTHER_VERSION)
    if spec is None:
        return _with_error(unreadable, "run.json holds no spec; rerunning the recipe redoes this run")
    error = (info.get("error") or "").strip().splitlines()
    # no summary to draw a verdict from, or metrics.jsonl / the event file deleted, altered, replaced by a
    # link: not a result to trust
    if damage := (summary_problem(info) or damaged_outputs(run_dir, info)) if status.finished else "":
        return _with_error(unreadable, f"{damage}; rerunning the recipe redoes this run")
    if status == RunStatus.RUNNING:  # its process is gone, unless it still holds the run's lock
        lock = RunLock(run_dir)
        if lock.held_elsewhere():
            error = [f"being run now ({lock.holder()})"]
        else:
            status = RunStatus.INTERRUPTED
    started = info.get("started")
    return RunRow(
        run_dir=str(rel),
        status=status,
        arm=spec.arm,
        grid=spec.grid_label,
        seed=spec.seed,
        grid_values=spec.grid,
        error=traceback_line("\n".join(error)),  # the final error, its message on one line
        seconds=info.get("seconds"),
        started=float(started) if isinstance(started, int | float) else None,
        spec=spec,
        summary=RunSummary.from_dict(info["summary"]) if status.finished else None,
        reports=_reports(info.get("reports") or {}),
    )


def _with_error(row: RunRow, error: str) -> RunRow:
    return RunRow(row.run_dir, row.status, row.arm, row.grid, error=error)


def _reports(declared: Mapping[str, Any]) -> dict[str, MetricReport]:
    """The metrics' report declarations; one written by a plugin version this one cannot read is left out."""
    out = {}
    for metric, report in declared.items():
        try:
            out[metric] = MetricReport.model_validate(report)
        except ValidationError:
            continue
    return out


def collect(root: Path) -> list[RunRow]:
    """One row per run folder below ``root`` (a recipe's output folder), sorted by folder: unreadable ones
    too, named with the reason (:func:`condensekit.output.run_folders`)."""
    return [read_row(root, run_dir, problem) for run_dir, problem in run_folders(root)]


def summary_csv(rows: Iterable[RunRow]) -> str:
    """The text of ``summary.csv``: one line per run, the columns of ``quantities.csv_columns()``.

    A missing or non-finite number is empty (``phase1_end`` of a stuck run); flags are ``true``/``false``.
    """
    buffer = io.StringIO()
    columns = quantities.csv_columns()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({key: quantities.csv_text(row.value(key)) for key in columns})
    return buffer.getvalue()

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
from condensekit.output import find_runs, read_run_json
from condensekit.phases import RunSummary
from condensekit.reuse import damaged_outputs
from condensekit.spec import RunSpec
from condensekit.status import RunStatus, as_status

OTHER_VERSION = "run.json was written by another version of condensekit; rerunning the recipe redoes this run"


@dataclass(frozen=True)
class RunRow:
    """One run of a report, as its ``run.json`` says.

    Attributes:
        run_dir: the run's folder relative to the report's folder (``mlp/base/seed=0``).
        status: what became of it (``running`` on disk reads as ``interrupted``: its process is gone).
        arm, grid, seed: the arm, the grid point's label (``base`` without a grid) and the seed.
        grid_values: the grid point, dotted key -> value.
        error: the final error (its message on one line), or why the row is ``unreadable``.
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


def read_row(root: Path, run_dir: Path) -> RunRow:
    """The row of one run directory (below the report's folder ``root``)."""
    where = str(run_dir.relative_to(root))
    unreadable = RunRow(where, RunStatus.UNREADABLE, run_dir.parent.parent.name, run_dir.parent.name)
    info = read_run_json(run_dir)
    if info is None:
        return _with_error(unreadable, "run.json could not be read")
    status = as_status(info.get("status"))
    try:
        spec = RunSpec.from_dict(info["spec"]) if "spec" in info else None
        summary = RunSummary.from_dict(info["summary"]) if info.get("summary") else None
    except ValidationError:
        return _with_error(unreadable, OTHER_VERSION)
    if spec is None or (status.finished and summary is None):
        return _with_error(
            unreadable, "run.json holds no spec or no summary; rerunning the recipe redoes this run"
        )
    error = (info.get("error") or "").strip().splitlines()
    # metrics.jsonl or the event file deleted or altered after the run finished: not a result to trust
    if damage := damaged_outputs(run_dir, info) if status.finished else "":
        status, error = RunStatus.UNREADABLE, [f"{damage}; rerunning the recipe redoes this run"]
    started = info.get("started")
    return RunRow(
        run_dir=where,
        status=RunStatus.INTERRUPTED if status == RunStatus.RUNNING else status,
        arm=spec.arm,
        grid=spec.grid_label,
        seed=spec.seed,
        grid_values=spec.grid,
        error=traceback_line("\n".join(error)),  # the final error, its message on one line
        seconds=info.get("seconds"),
        started=float(started) if isinstance(started, int | float) else None,
        spec=spec,
        summary=summary,
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
    """One row per run directory below ``root`` (a recipe's output folder), sorted by folder."""
    return [read_row(root, run_dir) for run_dir in find_runs(root)]


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

"""One row per run directory, read from its ``run.json``: the numbers every table and figure starts from.

Nothing is re-run: a row holds the run's spec (arm, grid point, seed, the thresholds it used), its status
and its summary. Failed, diverged, interrupted and unreadable runs are rows too.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from condensekit.errors import traceback_line
from condensekit.output import find_runs, read_run_json
from condensekit.phases import Thresholds
from condensekit.reuse import damaged_outputs
from condensekit.spec import grid_label
from condensekit.status import RunStatus, as_status

SUMMARY_COLUMNS = [
    "arm",
    "grid",
    "seed",
    "status",
    "phase1_end",
    "dS_max",
    "peak_max",
    "condensed",
    "final_train_acc",
    "final_test_acc",
    "final_loss",
    "plateau_loss",
    "seconds",
    "run_dir",
    "stuck",
    "steps_done",
    "error",
    "collapsed_at_init",
    "peak_phase",
    "peak_step",
    "S0",
    "dS",
    "peak",
    "S_final",
    "smoothing_window",
]
SUMMARY_KEYS = (
    "phase1_end",
    "dS_max",
    "peak_max",
    "condensed",
    "final_train_acc",
    "final_test_acc",
    "final_loss",
    "plateau_loss",
    "stuck",
    "steps_done",
    "collapsed_at_init",
    "peak_phase",
    "smoothing_window",
)
# the layer mean's summary (summary["mean"]) -> its column: the series the run's verdict is read from
MEAN_COLUMNS = {"S0": "S0", "rise": "dS", "peak": "peak", "peak_step": "peak_step", "final": "S_final"}


def run_row(root: Path, run_dir: Path) -> dict[str, Any]:
    """The row of one run directory (below the recipe's output folder ``root``)."""
    info = read_run_json(run_dir)
    if not isinstance(info, dict):
        return {
            "arm": run_dir.parent.parent.name,
            "grid": run_dir.parent.name,
            "seed": None,
            "status": RunStatus.UNREADABLE,
            "run_dir": str(run_dir.relative_to(root)),
            "grid_values": {},
            "error": "run.json could not be read",
        }
    spec, summary = info.get("spec") or {}, info.get("summary") or {}
    grid = spec.get("grid") or {}
    status = as_status(info.get("status"))
    error = (info.get("error") or "").strip().splitlines()
    damage = damaged_outputs(run_dir, info) if status.finished else ""
    # metrics.jsonl or the event file deleted or altered after the run finished: not a result to trust
    if damage:
        status, error = RunStatus.UNREADABLE, [f"{damage}; rerunning the recipe redoes this run"]
    row = {k: summary.get(k) for k in SUMMARY_KEYS}
    mean = summary.get("mean") or {}
    row.update({column: mean.get(key) for key, column in MEAN_COLUMNS.items()})
    row.update(
        {
            "arm": spec.get("arm", run_dir.parent.parent.name),
            "grid": grid_label(grid),
            "seed": spec.get("seed"),
            "status": RunStatus.INTERRUPTED if status == RunStatus.RUNNING else status,
            "seconds": info.get("seconds"),
            "started": info.get("started"),
            "run_dir": str(run_dir.relative_to(root)),
            "grid_values": grid,
            "layers": summary.get("layers") or {},
            "hidden_layers": summary.get("hidden_layers") or list(summary.get("layers") or {}),
            "thresholds": spec.get("thresholds") or {},
            "reports": info.get("reports") or {},
            "recipe_path": spec.get("recipe_path"),
            "spec": spec,
            "error": traceback_line("\n".join(error)),  # the final error, its message on one line
        }
    )
    return row


def collect(root: Path) -> list[dict[str, Any]]:
    """One row per run directory below ``root`` (a recipe's output folder), from its ``run.json``."""
    return [run_row(root, run_dir) for run_dir in find_runs(root)]


def thresholds_in_force(rows: Sequence[dict[str, Any]]) -> list[Thresholds]:
    """The distinct thresholds the runs used (normally one set), in the order met."""
    seen: list[Thresholds] = []
    for row in rows:
        if not row.get("thresholds"):
            continue
        # runs of an older condensekit may hold keys that no longer exist (the rule's former `peak`)
        th = Thresholds.model_validate(
            {k: v for k, v in row["thresholds"].items() if k in Thresholds.model_fields}
        )
        if th not in seen:
            seen.append(th)
    return seen or [Thresholds()]


def _csv_value(value: Any) -> Any:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value) if isinstance(value, RunStatus) else value


def summary_csv(rows: Iterable[dict[str, Any]]) -> str:
    """The text of ``summary.csv``: one row per run; ``phase1_end`` is empty for a stuck run.

    ``dS_max`` / ``peak_max`` are the largest rise and peak of a single hidden layer; ``S0``, ``dS``,
    ``peak``, ``peak_step`` and ``S_final`` are those of the mean over the hidden layers, from which the run's
    ``condensed``, ``collapsed_at_init`` and ``peak_phase`` are judged (docs/metrics.md).
    """
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=SUMMARY_COLUMNS, extrasaction="ignore", lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _csv_value(row.get(k)) for k in SUMMARY_COLUMNS})
    return buffer.getvalue()

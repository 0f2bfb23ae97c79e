"""condensekit.report.rows: one typed row per run, read back from its folder, and summary.csv."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import replace
from pathlib import Path

from report_rows import finished_row

from condensekit.report.rows import read_row, summary_csv
from condensekit.status import RunStatus


def test_outputs_deleted_after_a_run_finished_make_its_row_unreadable(tmp_path: Path) -> None:  # report-02
    run_dir = tmp_path / "mlp" / "base" / "seed=0"
    run_dir.mkdir(parents=True)
    made = finished_row("mlp", 0, 300, 0.2)
    assert made.spec is not None and made.summary is not None
    info = {
        "status": "ok",
        "spec": made.spec.to_dict(),
        "summary": made.summary.to_dict(),
        "outputs": {"metrics.jsonl": {"bytes": 3, "sha256": hashlib.sha256(b"{}\n").hexdigest()}},
        "started": 0.0,
    }
    (run_dir / "run.json").write_text(json.dumps(info))
    (run_dir / "metrics.jsonl").write_text("{}\n")
    assert read_row(tmp_path, run_dir) == made  # read back equal: spec and summary
    (run_dir / "metrics.jsonl").unlink()
    read = read_row(tmp_path, run_dir)
    assert read.status == RunStatus.UNREADABLE and "metrics.jsonl is missing" in read.error


def test_summary_csv_leaves_non_finite_numbers_empty() -> None:  # report-04
    made = finished_row("mlp", 0, None, 0.25)
    assert made.summary is not None
    odd = made.summary.model_copy(update={"dS_max": math.nan, "peak_max": math.inf})
    header, line = summary_csv([replace(made, summary=odd)]).splitlines()
    cells = dict(zip(header.split(","), line.split(","), strict=True))
    assert (
        cells["dS_max"] == ""
        and cells["peak_max"] == ""
        and cells["phase1_end"] == ""
        and cells["dS"] == "0.25"
        and cells["status"] == "ok"
        and cells["stuck"] == "true"
    )

"""Published numbers reproduce: one row of the main job, run twice at one torch thread, gives byte-identical
logs.

The row is the main job's first arm with seed 0, exactly as ``recipes/resmlp_vs_mlp.toml`` and
``docs/findings.md`` run it (``[executor] threads = 1``); only the other arms and seeds are left out.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

MAIN_JOB = Path(__file__).resolve().parent.parent / "recipes" / "resmlp_vs_mlp.toml"


@pytest.mark.slow
def test_one_published_row_twice_gives_byte_identical_metrics(tmp_path: Path, cli_run) -> None:
    head, *arms = MAIN_JOB.read_text().split("\n[[arms]]")
    path = tmp_path / "row.toml"
    path.write_text(head + "\n[[arms]]" + arms[0])  # the first arm only
    assert len(tomllib.loads(path.read_text())["arms"]) == 1
    sets = ["--set", "seeds=[0]", "--set", "executor.threads=1", "--set", "device=cpu"]
    outputs = []
    for attempt in ("first", "second"):
        code, _, err = cli_run("run", str(path), "--out", str(tmp_path / attempt), *sets)
        assert code == 0, err
        (run_dir,) = [p.parent for p in (tmp_path / attempt).rglob("run.json")]
        info = json.loads((run_dir / "run.json").read_text())
        assert info["threads"] == 1 and info["status"] == "ok"
        outputs.append(((run_dir / "metrics.jsonl").read_bytes(), info["summary"]))
    (first, summary1), (second, summary2) = outputs
    assert first == second
    for key in ("phase1_end", "dS_max", "peak_max", "condensed", "mean", "final_test_acc", "final_loss"):
        assert summary1[key] == summary2[key], key

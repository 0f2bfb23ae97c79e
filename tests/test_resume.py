"""kill -9 in the middle of a grid, then run it again: finished runs are kept, the others complete once."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from executor_grid import assert_same_runs, load_specs, run_sequential, snapshot, write_recipe

from condensekit.output import LOCK_NAME

STEPS = 100
SEEDS = (0, 1, 2)  # 2 arms x 3 seeds = 6 runs: plenty left unfinished when the first one ends
# One torch thread per worker whatever the machine, so results equal the sequential reference exactly.
EXECUTOR = '[executor]\nuse = "local"\nthreads = 1\n'


def _status(run_dir: Path) -> str | None:
    try:
        return json.loads((run_dir / "run.json").read_text())["status"]
    except (OSError, ValueError, KeyError):
        return None


def _fingerprint(run_dir: Path) -> tuple[int, int, str]:
    """run.json's inode and mtime, and a hash of every file: any rewrite changes one of them."""
    digest = hashlib.sha256()
    for path in sorted(run_dir.iterdir()):
        digest.update(path.name.encode() + path.read_bytes())
    stat = (run_dir / "run.json").stat()
    return stat.st_ino, stat.st_mtime_ns, digest.hexdigest()


def _kill_mid_grid(cmd: list[str], grid_root: Path, cwd: Path) -> dict[str, tuple[int, int, str]]:
    """Start the CLI, kill -9 its whole process group as soon as one run is ok; fingerprint the ok runs."""
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        while not any(_status(p.parent) == "ok" for p in grid_root.rglob("run.json")):
            assert proc.poll() is None, f"the grid ended before it could be killed: {proc.stderr.read().decode()[-2000:]}"  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "no run finished in time"
            time.sleep(0.02)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the CLI and its workers, like an OOM killer or a lost node
        proc.wait()
        assert proc.stderr is not None
        proc.stderr.close()
    return {str(p.parent.relative_to(grid_root.parent)): _fingerprint(p.parent) for p in grid_root.rglob("run.json") if _status(p.parent) == "ok"}


def _resume(tmp_path: Path, jobs: int) -> None:
    recipe = write_recipe(tmp_path, seeds=SEEDS, steps=STEPS, extra=EXECUTOR)
    specs = load_specs(recipe)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "condensekit", "run", str(recipe), "--out", str(out), "--jobs", str(jobs)]
    finished = _kill_mid_grid(cmd, out / "grid", tmp_path)
    all_runs = {str(s.rel_dir) for s in specs}
    assert finished and len(finished) < len(all_runs), "the kill must land mid-grid"

    again = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    lines = re.findall(r"\[\d+/\d+\] (\w+) +(\S+)", again.stderr)
    assert sorted(rel for status, rel in lines if status == "skipped") == sorted(finished)
    assert sorted(rel for status, rel in lines if status == "ok") == sorted(all_runs - set(finished))
    assert f"{len(all_runs)} runs: {len(all_runs) - len(finished)} ok, 0 diverged, 0 failed, {len(finished)} skipped" in again.stderr
    for rel, fingerprint in finished.items():
        assert _fingerprint(out / rel) == fingerprint, f"{rel} was rewritten"

    resumed = snapshot(out)
    for rel, run in resumed.items():  # none duplicated: one event file, each step logged once
        assert run["files"] == ["events.out.tfevents", "metrics.jsonl", "run.json"], rel
        steps = [row["step"] for row in run["metrics"] if "train/loss" in row]
        assert steps == list(range(STEPS)), rel
    assert not list(out.rglob(LOCK_NAME))
    assert_same_runs(resumed, snapshot(_reference(specs, tmp_path)))
    assert len((out / "grid/summary.csv").read_text().strip().splitlines()) == 1 + len(all_runs)


def _reference(specs: list, tmp_path: Path) -> Path:
    run_sequential(specs, tmp_path / "reference")
    return tmp_path / "reference"


@pytest.mark.slow
def test_sequential_grid_killed_and_resumed(tmp_path: Path) -> None:
    _resume(tmp_path, jobs=1)


@pytest.mark.slow
def test_parallel_grid_killed_and_resumed(tmp_path: Path) -> None:
    _resume(tmp_path, jobs=2)

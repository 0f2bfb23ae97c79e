"""kill -9 in the middle of a grid, then run it again: finished runs are kept, the others complete once."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
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


# A plugin (not a trick: it changes no spec) that kills the whole process group, like an OOM killer or a lost
# node, as a run starts once KILL_AFTER runs are ok. Deterministic: the kill always lands after that many
# runs finished and before the run that triggers it does, however loaded the machine is.
KILLER = """
import json, os, signal
import condensekit

@condensekit.hookimpl
def run_started(run):
    after = int(os.environ.get("KILL_AFTER", "0"))
    if not after:
        return
    done = 0
    for path in run.run_dir.parents[3].glob("*/*/*/*/run.json"):
        try:
            done += json.loads(path.read_text())["status"] == "ok"
        except (OSError, ValueError, KeyError):
            pass
    if done >= after:
        os.killpg(os.getpgid(0), signal.SIGKILL)
"""


def _kill_mid_grid(cmd: list[str], grid_root: Path, cwd: Path) -> dict[str, tuple[int, int, str]]:
    """Run the CLI until the killer plugin kills its process group after the first ok run; fingerprint the ok
    runs."""
    env = {**os.environ, "KILL_AFTER": "1"}
    proc = subprocess.run(
        cmd,
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
        timeout=600,
    )
    assert proc.returncode == -signal.SIGKILL, f"the grid was not killed: {proc.stderr.decode()[-2000:]}"
    return {
        str(p.parent.relative_to(grid_root.parent)): _fingerprint(p.parent)
        for p in grid_root.rglob("run.json")
        if _status(p.parent) == "ok"
    }


def _resume(tmp_path: Path, jobs: int) -> None:
    (tmp_path / "killer.py").write_text(KILLER)
    recipe = write_recipe(
        tmp_path, seeds=SEEDS, steps=STEPS, extra=EXECUTOR, plugins='plugins = ["killer.py"]'
    )
    specs = load_specs(recipe)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "condensekit", "run", str(recipe), "--out", str(out), "--jobs", str(jobs)]
    finished = _kill_mid_grid(cmd, out / "grid", tmp_path)
    all_runs = {str(s.rel_dir) for s in specs}
    assert finished and len(finished) < len(all_runs), "the kill must land mid-grid"

    again = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    lines = re.findall(r"\[\d+/\d+\] (\w+) +(\S+)", again.stderr)
    assert sorted(rel for status, rel in lines if status == "skipped") == sorted(finished)
    assert sorted(rel for status, rel in lines if status == "ok") == sorted(all_runs - set(finished))
    assert (
        f"{len(all_runs)} runs: {len(all_runs) - len(finished)} "
        f"ok, 0 diverged, 0 failed, {len(finished)} skipped"
    ) in again.stderr
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

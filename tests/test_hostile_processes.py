"""Defect class 9: processes. Real processes, real signals.

``--jobs`` workers die with their parent, even on ``kill -9``; a run skipped because another process holds
it never counts as done; two concurrent ``condensekit run`` of one grid end with every run done exactly once
and both exit 0; when the other process dies instead, the waiting one exits 1.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hostile import cli_process, run_json, write

pytestmark = pytest.mark.hostile

# A trick that makes each step take a while (so processes overlap) and notes each run start: pid and run.
SLOW = """
import json, os, time
from pydantic import BaseModel, ConfigDict
import condensekit

class SlowParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    seconds: float = 0.02

class Slow:
    def __init__(self, params):
        self.params = params

    @condensekit.hookimpl
    def run_started(self, run):
        with open(run.run_dir.parents[3] / "starts.jsonl", "a") as f:
            f.write(json.dumps({"pid": os.getpid(), "run": run.label}) + "\\n")

    @condensekit.hookimpl
    def after_step(self, run, model, optimizer):
        time.sleep(self.params.seconds)

@condensekit.hookimpl
def register_tricks(register):
    register("slow", Slow, params=SlowParams, summary="test: slow steps, note run starts")
"""


def _recipe(tmp_path: Path, seeds: tuple[int, ...], seconds: float, steps: int = 40) -> Path:
    (tmp_path / "slow.py").write_text(SLOW)
    return write(
        tmp_path,
        seeds=seeds,
        steps=steps,
        top='plugins = ["slow.py"]',
        rest=f"tricks = {{ slow = {{ seconds = {seconds} }} }}\n",
    )


def _starts(out: Path) -> list[dict]:
    path = out / "starts.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _alive(pid: int) -> bool:
    """Running, not a zombie (an orphan's zombie may wait for a reaper that never comes in a container)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def _popen(*args: str | Path) -> subprocess.Popen[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "condensekit", *map(str, args)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads process states from /proc (Linux)")
def test_workers_die_with_their_parent_on_kill_9_and_a_rerun_completes(tmp_path: Path) -> None:
    recipe, out = _recipe(tmp_path, seeds=(0, 1, 2, 3), seconds=0.5, steps=200), tmp_path / "out"
    parent = _popen("run", recipe, "--out", out, "--jobs", "2")
    workers: set[int] = set()
    try:
        deadline = time.monotonic() + 180
        while len({s["pid"] for s in _starts(out)}) < 2:
            assert parent.poll() is None, parent.stderr.read() if parent.stderr else ""
            assert time.monotonic() < deadline, "the workers never started a run"
            time.sleep(0.1)
        workers = {s["pid"] for s in _starts(out)}
        os.kill(parent.pid, signal.SIGKILL)  # the parent only, like the OOM killer: no cleanup code runs
        parent.wait()
        deadline = time.monotonic() + 30
        while any(_alive(pid) for pid in workers):
            assert time.monotonic() < deadline, (
                f"orphaned workers kept running: {[p for p in workers if _alive(p)]}"
            )
            time.sleep(0.1)
    finally:
        os.killpg(parent.pid, signal.SIGKILL) if parent.poll() is None else None
        for pid in workers:  # when the test fails, leave no orphan behind
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        if parent.stderr is not None:
            parent.stderr.close()
    again = cli_process("run", recipe, "--out", out, "--set", "arms[0].tricks.slow.seconds=0.0", timeout=300)
    # (seconds is a parameter of the test trick: changing it is a change of spec, so every run is redone,
    # once)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "being run by another process" not in again.stderr
    assert all(run_json(out / f"h/mlp/base/seed={s}")["status"] == "ok" for s in range(4))


def test_two_concurrent_runs_of_one_grid_do_every_run_exactly_once(tmp_path: Path) -> None:
    recipe, out = _recipe(tmp_path, seeds=(0, 1, 2, 3), seconds=0.05), tmp_path / "out"
    first = _popen("run", recipe, "--out", out)
    second = _popen("run", recipe, "--out", out)
    errors = [p.communicate(timeout=600)[1] for p in (first, second)]
    assert first.returncode == 0 and second.returncode == 0, errors
    starts = _starts(out)
    # each run started once
    assert sorted(s["run"] for s in starts) == [f"mlp/base/seed={s}" for s in range(4)], starts
    for err in errors:
        assert "4 runs:" in err and "0 failed" in err
    assert sum(err.count(" ok       h/mlp") for err in errors) == 4  # each run trained by exactly one of them
    assert all(run_json(out / f"h/mlp/base/seed={s}")["status"] == "ok" for s in range(4))


def test_a_run_held_by_a_process_that_dies_is_not_counted_as_done(tmp_path: Path) -> None:
    recipe, out = _recipe(tmp_path, seeds=(0,), seconds=0.0), tmp_path / "out"
    run_dir = out / "h/mlp/base/seed=0"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; from condensekit.output import RunLock; "
            "assert RunLock(Path(sys.argv[1])).acquire(); print('locked', flush=True); time.sleep(600)",
            str(run_dir),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    waiting = None
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        waiting = _popen("run", recipe, "--out", out)
        assert waiting.stderr is not None
        for line in waiting.stderr:
            if line.startswith("waiting for h/mlp/base/seed=0"):
                break
        else:
            pytest.fail("the second process never waited for the held run")
        holder.kill()  # the holder dies without finishing the run
        rest = waiting.communicate(timeout=120)[1]
    finally:
        holder.kill()
        holder.wait()
        if waiting is not None and waiting.poll() is None:
            waiting.kill()
    assert waiting.returncode == 1
    assert "interrupted h/mlp/base/seed=0" in rest and "did not finish it" in rest and "0 skipped" in rest
    assert cli_process("run", recipe, "--out", out).returncode == 0  # and the next invocation does it


def test_a_lock_file_left_by_a_process_killed_after_finishing_is_tidied(tmp_path: Path) -> None:
    from condensekit.output import LOCK_NAME

    recipe, out = write(tmp_path), tmp_path / "out"
    assert cli_process("run", recipe, "--out", out).returncode == 0
    run_dir = out / "h/mlp/base/seed=0"
    # killed between run.json "ok" and releasing its lock
    (run_dir / LOCK_NAME).write_text("host pid 99999999\n")
    again = cli_process("run", recipe, "--out", out)
    assert again.returncode == 0 and "1 skipped" in again.stderr
    assert not (run_dir / LOCK_NAME).exists()

"""The local executor: --jobs 2 equals a sequential run; dead workers, locks and stale runs are handled."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from executor_grid import PLUGIN, assert_same_runs, load_specs, run_sequential, snapshot, write_recipe
from hostile import cli_process, run_json, trick_plugin, write

from condensekit.defaults.local_executor import LocalExecutor, LocalParams
from condensekit.executing import ExecContext, execute_spec, record_lost_run
from condensekit.output import LOCK_NAME, read_run_json, write_json_atomic


def _pool(jobs: int = 2, threads: int | None = None) -> LocalExecutor:
    return LocalExecutor(LocalParams(jobs=jobs, threads=threads))


@pytest.mark.slow
def test_jobs_2_writes_the_same_run_directories_as_sequential(tmp_path: Path) -> None:
    specs = load_specs(write_recipe(tmp_path))
    assert [o.status for o in run_sequential(specs, tmp_path / "seq")] == ["ok"] * 4
    outcomes = _pool().execute(specs, ExecContext(out_root=tmp_path / "par"))
    # spec order, whatever finished first
    assert [o.rel_dir for o in outcomes] == [str(s.rel_dir) for s in specs]
    assert [o.status for o in outcomes] == ["ok"] * 4
    assert_same_runs(snapshot(tmp_path / "par"), snapshot(tmp_path / "seq"))
    assert not list((tmp_path / "par").rglob(LOCK_NAME))  # locks are released and removed


@pytest.mark.slow
def test_a_dying_worker_fails_only_its_run_and_workers_get_one_gpu_each(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One pool for both checks: spawning workers is the slow part of these tests.
    (tmp_path / "boom.py").write_text(PLUGIN, encoding="utf-8")
    extra = '[tricks]\nrecord_env = {}\nboom = { seed = 1, exit_arm = "mlp", raise_arm = "resmlp" }\n'
    specs = load_specs(write_recipe(tmp_path, plugins='plugins = ["boom.py"]', seeds=(0, 1, 2), extra=extra))
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "5,7")  # never touched as CUDA: the runs are on the CPU
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    seen = []
    context = ExecContext(
        out_root=tmp_path / "out", on_outcome=lambda spec, outcome: seen.append(outcome.rel_dir)
    )
    by_dir = {o.rel_dir: o for o in _pool().execute(specs, context)}
    assert sorted(seen) == sorted(by_dir) and len(seen) == 6  # every run reported once
    died, raised = by_dir["grid/mlp/base/seed=1"], by_dir["grid/resmlp/base/seed=1"]
    assert died.status == "failed" and "worker process died (exit code 3)" in died.error
    assert raised.status == "failed" and "RuntimeError: boom" in raised.error
    # the replacement worker went on
    assert [o.status for d, o in by_dir.items() if "seed=1" not in d] == ["ok"] * 4
    on_disk = read_run_json(tmp_path / "out/grid/mlp/base/seed=1")
    assert on_disk is not None and on_disk["status"] == "failed" and "worker process died" in on_disk["error"]

    gpus_by_pid: dict[int, set[str]] = {}
    for path in (tmp_path / "out/env").glob("*.json"):
        env = json.loads(path.read_text())
        gpus_by_pid.setdefault(env["pid"], set()).add(env["gpus"])
        # a 3x16 MLP: one thread by default (condensekit/threads.py), whatever the cores
        assert env["threads"] == 1
        assert env["omp_wait_policy"] == "PASSIVE"  # idle OpenMP threads sleep in workers
    assert all(len(gpus) == 1 for gpus in gpus_by_pid.values())  # a worker keeps its GPU
    # both workers got a first run at once, one GPU each
    assert set().union(*gpus_by_pid.values()) == {"5", "7"}
    # the parent's are restored
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "5,7" and "OMP_WAIT_POLICY" not in os.environ


def test_a_run_locked_by_a_live_process_is_not_started_twice(tmp_path: Path) -> None:
    spec = load_specs(write_recipe(tmp_path, seeds=(0,)))[0]
    run_dir = tmp_path / "out" / spec.rel_dir
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; from condensekit.output import RunLock; "
            "assert RunLock(Path(sys.argv[1])).acquire(); print('locked', flush=True); time.sleep(60)",
            str(run_dir),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        busy = execute_spec(spec, tmp_path / "out")
        # not done by us: never "skipped"
        assert busy.status == "running" and f"pid {holder.pid}" in busy.error
        assert read_run_json(run_dir) is None  # nothing was written under the other process's feet
    finally:
        os.kill(holder.pid, signal.SIGKILL)  # a killed holder drops its lock: no stale lock to clean up
        holder.wait()
    assert execute_spec(spec, tmp_path / "out").status == "ok"


def test_a_stale_running_run_is_cleared_and_rerun(tmp_path: Path) -> None:
    spec = load_specs(write_recipe(tmp_path, seeds=(0,)))[0]
    run_dir = tmp_path / "out" / spec.rel_dir
    write_json_atomic(run_dir / "run.json", {"status": "running", "spec": spec.to_dict()})
    # cut off mid-line
    (run_dir / "metrics.jsonl").write_text('{"step": 0, "train/loss": 99.0}\n{"step": 1, "tra')
    (run_dir / "events.out.tfevents.stale").write_bytes(b"\0")
    outcome = execute_spec(spec, tmp_path / "out")
    assert outcome.status == "ok"
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert 99.0 not in [r.get("train/loss") for r in rows]
    assert sorted(p.name for p in run_dir.iterdir() if p.name.startswith("events")) != [
        "events.out.tfevents.stale"
    ]
    assert not (run_dir / "events.out.tfevents.stale").exists() and not (run_dir / LOCK_NAME).exists()
    again = execute_spec(spec, tmp_path / "out")
    assert again.status == "skipped" and again.summary == outcome.summary


def test_record_lost_run_keeps_what_the_run_wrote(tmp_path: Path) -> None:
    spec_ok, spec_lost = load_specs(write_recipe(tmp_path, seeds=(0, 1)))[:2]
    assert execute_spec(spec_ok, tmp_path / "out").status == "ok"
    kept = record_lost_run(spec_ok, tmp_path / "out", "job vanished")
    assert kept.status == "ok" and read_run_json(tmp_path / "out" / spec_ok.rel_dir)["status"] == "ok"
    lost = record_lost_run(spec_lost, tmp_path / "out", "job vanished")
    info = read_run_json(tmp_path / "out" / spec_lost.rel_dir)
    assert (
        lost.status == "failed"
        and info is not None
        and info["error"] == "job vanished"
        and info["spec"]["seed"] == 1
    )


# A trick that makes each step take a while (so processes overlap) and notes each run start: pid and run.
SLOW = trick_plugin(
    "slow",
    imports="import json, os, time",
    fields="seconds: float = 0.02",
    hooks="""
        @condensekit.hookimpl
        def run_started(self, run):
            with open(run.run_dir.parents[3] / "starts.jsonl", "a") as f:
                f.write(json.dumps({"pid": os.getpid(), "run": run.label}) + "\\n")

        @condensekit.hookimpl
        def after_step(self, run, model, optimizer):
            time.sleep(self.params.seconds)
    """,
    summary="test: slow steps, note run starts",
)


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


@pytest.mark.hostile
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


@pytest.mark.hostile
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


@pytest.mark.hostile
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


@pytest.mark.hostile
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

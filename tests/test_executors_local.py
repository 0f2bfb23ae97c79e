"""The local executor: --jobs 2 equals a sequential run; dead workers, locks and stale runs are handled."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from executor_grid import PLUGIN, assert_same_runs, load_specs, run_sequential, snapshot, write_recipe

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

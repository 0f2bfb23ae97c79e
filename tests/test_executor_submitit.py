"""The submitit executor: submitit's local executor always; a real Slurm job array where `sinfo` answers."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from executor_grid import assert_same_runs, load_specs, run_sequential, snapshot, write_recipe

from condensekit.errors import CondensekitError
from condensekit.executing import ExecContext
from condensekit.output import read_run_json
from condensekit_plugins.executors.submitit import SubmititExecutor, SubmititParams, _report_job

submitit = pytest.importorskip("submitit")


def _slurm_up() -> bool:
    if shutil.which("sinfo") is None or shutil.which("sbatch") is None:
        return False
    try:
        states = subprocess.run(
            ["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=10
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return any(s.strip().rstrip("*") in ("idle", "mixed", "allocated") for s in states.split())


@pytest.mark.slow
def test_submitit_local_executor_writes_the_same_run_directories_as_sequential(tmp_path: Path) -> None:
    specs = load_specs(write_recipe(tmp_path))
    run_sequential(specs, tmp_path / "seq")
    params = SubmititParams(cluster="local", runs_per_job=2, time_min=10, poll_s=0.2)
    outcomes = SubmititExecutor(params).execute(specs, ExecContext(out_root=tmp_path / "sub"))
    assert [(o.rel_dir, o.status) for o in outcomes] == [(str(s.rel_dir), "ok") for s in specs]
    assert_same_runs(snapshot(tmp_path / "sub"), snapshot(tmp_path / "seq"))
    logs = tmp_path / "sub/grid/submitit"
    assert len(list(logs.glob("*/*_submitted.pkl"))) == 2  # 4 runs packed 2 to a job


@pytest.mark.slow
@pytest.mark.skipif(
    not _slurm_up(), reason="no Slurm cluster here (bash .ci/slurm.sh starts a single-node one)"
)
def test_submitit_slurm_job_array(tmp_path: Path) -> None:
    specs = load_specs(write_recipe(tmp_path))
    run_sequential(specs, tmp_path / "seq")
    params = SubmititParams(cluster="slurm", runs_per_job=2, array_parallelism=2, time_min=10, poll_s=1)
    outcomes = SubmititExecutor(params).execute(specs, ExecContext(out_root=tmp_path / "sub"))
    assert [(o.rel_dir, o.status) for o in outcomes] == [(str(s.rel_dir), "ok") for s in specs]
    assert_same_runs(snapshot(tmp_path / "sub"), snapshot(tmp_path / "seq"))
    tasks = sorted(p.name for p in (tmp_path / "sub/grid/submitit").iterdir() if p.is_dir() and "_" in p.name)
    assert len(tasks) == 2 and tasks[0].endswith("_0") and tasks[1].endswith("_1")  # one array, tasks 0 and 1
    assert len({t.split("_")[0] for t in tasks}) == 1


def test_a_job_that_dies_fails_every_run_it_did_not_finish(tmp_path: Path) -> None:
    specs = load_specs(write_recipe(tmp_path, seeds=(0,)))

    class DeadJob:
        job_id = "7_0"
        paths = SimpleNamespace(stderr=tmp_path / "7_0_0_log.err")

        def result(self) -> None:
            raise submitit.core.utils.UncompletedJobError(
                "Job 7_0 (task: 0) with path ...\nhas not produced any output (state: OUT_OF_MEMORY)"
            )

    context = ExecContext(out_root=tmp_path / "out")
    _report_job(DeadJob(), specs, context)
    for spec in specs:
        outcome = context.outcomes[str(spec.rel_dir)]
        assert (
            outcome.status == "failed"
            and "submitit job 7_0 failed" in outcome.error
            and "OUT_OF_MEMORY" in outcome.error
        )
        info = read_run_json(tmp_path / "out" / spec.rel_dir)
        assert info is not None and info["status"] == "failed"  # on disk, so the next invocation reruns it


def test_slurm_without_sbatch_says_how_to_run_locally(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    specs = load_specs(write_recipe(tmp_path, seeds=(0,)))
    monkeypatch.setenv("PATH", str(tmp_path))  # no sbatch on PATH
    with pytest.raises(CondensekitError, match='cluster = "local"'):
        SubmititExecutor(SubmititParams()).execute(specs, ExecContext(out_root=tmp_path / "out"))


def test_missing_submitit_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    specs = load_specs(write_recipe(tmp_path, seeds=(0,)))
    monkeypatch.setitem(sys.modules, "submitit", None)
    with pytest.raises(CondensekitError, match=r'pip install "condensekit\[slurm\]"'):
        SubmititExecutor(SubmititParams()).execute(specs, ExecContext(out_root=tmp_path / "out"))

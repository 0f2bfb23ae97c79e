"""Executing a grid (:mod:`condensekit.executing`) when the output folder turns against it, and with other
users of the same ``--out``.

An output made read-only in the middle of a grid fails the runs that cannot be written, each with one
line; the grid goes on; nothing is left marked ``running``; no traceback, also not while a lock is given
back. Two processes on one ``--out`` do each run once and leave whole files; a report made while a run
trains says it is running.
"""

from __future__ import annotations

import csv
import errno
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hostile import cli, make_victim, run_json, trick_plugin, untouched, write
from output_tree import condensekit, temporaries, unprivileged

from condensekit.api import open_recipe
from condensekit.executing import ExecContext, RunOutcome, execute_spec, settle_held_runs
from condensekit.run_lock import RunLock
from condensekit.status import RunStatus

pytestmark = pytest.mark.hostile


# A trick that takes the write permission away from the whole output folder when one run starts.
READ_ONLY = trick_plugin(
    "read_only_out",
    imports="import os",
    fields="seed: int = 1",
    hooks="""
        @condensekit.hookimpl
        def run_started(self, run):
            if run.seed == self.params.seed:
                for here, _, _ in os.walk(run.run_dir.parents[2]):
                    os.chmod(here, 0o555)
    """,
    summary="test: the output turns read-only",
)


def test_an_output_made_read_only_mid_grid_fails_those_runs_and_the_grid_goes_on(tmp_path: Path) -> None:
    prefix = unprivileged()
    (tmp_path / "read_only.py").write_text(READ_ONLY)
    recipe = write(
        tmp_path, seeds=(0, 1, 2), top='plugins = ["read_only.py"]', rest="tricks = { read_only_out = {} }\n"
    )
    out = tmp_path / "out"
    try:
        done = condensekit("run", recipe, "--out", out, prefix=prefix, timeout=300)
    finally:
        for here, _, _ in os.walk(out):
            os.chmod(here, 0o755)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert "[1/3] ok" in done.stderr and "[2/3] failed" in done.stderr and "[3/3] failed" in done.stderr
    assert "Permission denied" in done.stderr and "the report could not be written" in done.stderr
    assert run_json(out / "h/mlp/base/seed=1")["status"] == "failed"  # not left "running"
    assert "could not write run.json" in run_json(out / "h/mlp/base/seed=1")["error"]
    assert not (out / "h/mlp/base/seed=2").exists() and not temporaries(out)


def test_waiting_for_a_run_whose_folder_became_unusable_is_one_failed_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = open_recipe(write(tmp_path))[0].specs[0]
    context = ExecContext(out_root=tmp_path / "out")
    context.report(spec, RunOutcome(str(spec.rel_dir), RunStatus.RUNNING, error="held by another"))

    def read_only(self: RunLock, wait: bool = False) -> bool:
        raise OSError(errno.EROFS, "Read-only file system", str(self.path))

    monkeypatch.setattr(RunLock, "acquire", read_only)
    settle_held_runs(context, [spec])
    outcome = context.outcomes[str(spec.rel_dir)]
    assert outcome.status == RunStatus.FAILED and "Read-only file system" in outcome.error


def test_a_failure_record_is_never_written_into_a_linked_folders_target(tmp_path: Path) -> None:
    from condensekit.executing import execute_spec

    spec = open_recipe(write(tmp_path))[0].specs[0]  # h/mlp/base/seed=0
    out, victim = tmp_path / "out", tmp_path / "victim"
    victim.mkdir()
    (out / "h").mkdir(parents=True)
    (out / "h/mlp").symlink_to(victim)  # an executor without the preflight, or a link made since
    outcome = execute_spec(spec, out)
    assert outcome.status == RunStatus.FAILED and "symbolic link" in outcome.error
    assert list(victim.iterdir()) == []


def test_two_runs_of_one_recipe_at_once_do_each_run_once_and_leave_a_whole_report(tmp_path: Path) -> None:
    recipe, out = write(tmp_path, seeds=(0, 1, 2)), tmp_path / "out"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    both = [
        subprocess.Popen(
            [sys.executable, "-m", "condensekit", "run", str(recipe), "--out", str(out)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    errors = [p.communicate(timeout=300)[1] for p in both]
    assert [p.returncode for p in both] == [0, 0], errors
    assert all("Traceback" not in e for e in errors)
    with (out / "h/summary.csv").open(newline="") as f:
        assert [(r["seed"], r["status"]) for r in csv.DictReader(f)] == [
            ("0", "ok"),
            ("1", "ok"),
            ("2", "ok"),
        ]
    assert len(list((out / "h/figures").glob("events.out.tfevents.*"))) == 1 and not temporaries(out)


def test_a_report_made_while_a_run_trains_says_it_is_running(tmp_path: Path) -> None:
    from output_tree import finished

    out = finished(tmp_path)
    run_dir = out / "h/mlp/base/seed=1"
    hold = (
        "import sys, time; from pathlib import Path; from condensekit.run_lock import RunLock; "
        "assert RunLock(Path(sys.argv[1])).acquire(); print('held', flush=True); time.sleep(120)"
    )
    holder = subprocess.Popen([sys.executable, "-c", hold, str(run_dir)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        info = run_json(run_dir)
        info.update(status="running", pid=holder.pid)
        (run_dir / "run.json").write_text(json.dumps(info))
        done = condensekit("report", out / "h")
    finally:
        holder.kill()
        holder.wait()
    assert done.returncode == 0, done.stderr
    report = (out / "h/report.md").read_text()
    assert "| mlp | 1 ok 1 running |" in report and f"being run now ({os.uname().nodename}" in report
    time.sleep(0.1)
    assert condensekit("report", out / "h").returncode == 0  # its process is gone now: interrupted
    assert "| mlp | 1 ok 1 interrupted |" in (out / "h/report.md").read_text()


# A trick that fills the output disk when one run starts, and frees it again when that run ends
# (free = "finish") or never (free = "never"): a disk that fills up mid-grid. Armed by a file "armed" in
# --out.
FILLER = """
from pathlib import Path
from pydantic import BaseModel, ConfigDict
import condensekit
from hostile import fill_up  # tests/hostile.py: this plugin runs in the test's own process

class FillParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    seed: int = 1
    free: str = "finish"

def _fill(run):
    fill_up(run.run_dir.parents[3])

def _free(run):
    (run.run_dir.parents[3] / "filler").unlink(missing_ok=True)

class Fill:
    def __init__(self, params):
        self.params = params

    @condensekit.hookimpl
    def run_started(self, run):
        if run.seed == self.params.seed and (run.run_dir.parents[3] / "armed").exists():
            _fill(run)

    @condensekit.hookimpl
    def run_finished(self, run, status, summary):
        if run.seed == self.params.seed and self.params.free == "finish":
            _free(run)

@condensekit.hookimpl
def register_tricks(register):
    register("fill_disk", Fill, params=FillParams, summary="test: fill the output disk during one run")
"""


@pytest.mark.parametrize("free", ["finish", "never"])
def test_a_disk_filling_up_mid_grid_fails_that_run_and_the_grid_goes_on(
    small_disk: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], free: str
) -> None:
    (tmp_path / "fill.py").write_text(FILLER)
    recipe = write(
        tmp_path,
        seeds=(0, 1, 2),
        top='plugins = ["fill.py"]',
        rest=f'tricks = {{ fill_disk = {{ seed = 1, free = "{free}" }} }}\n',
    )
    (small_disk / "armed").touch()
    code, _, err = cli(capsys, "run", recipe, "--out", small_disk)
    assert "Traceback" not in err  # the event files are written in the run's thread: one line, no thread's
    run_dirs = [small_disk / f"h/mlp/base/seed={s}" for s in (0, 1, 2)]
    assert code == 1 and run_json(run_dirs[0])["status"] == "ok"
    lost = run_json(run_dirs[1])
    # space came back before run.json was written: the failure is on record, the grid goes on
    if free == "finish":
        assert "3 runs: 2 ok, 0 diverged, 1 failed" in err and run_json(run_dirs[2])["status"] == "ok"
        assert lost["status"] == "failed" and "No space left on device" in lost["error"]
    else:
        # nothing more can be written: each run fails with the reason, the report says it could not be written
        assert "[2/3] failed" in err and "[3/3] failed" in err and "could not write run.json" in err
        assert (
            lost["status"] == "failed"
        )  # rewritten in place, not left "running"; the next invocation redoes it
        assert "no space left on the output device" in err and "the report could not be written" in err
        (small_disk / "filler").unlink()
    (small_disk / "armed").unlink()
    code, _, err = cli(capsys, "run", recipe, "--out", small_disk)
    assert code == 0, err
    assert (
        "1 ok, 0 diverged, 0 failed, 2 skipped"
        if free == "finish"
        else "2 ok, 0 diverged, 0 failed, 1 skipped"
    ) in err


def test_execute_spec_refuses_a_linked_run_directory_even_without_the_preflight(tmp_path: Path) -> None:
    victim, out = make_victim(tmp_path), tmp_path / "out"
    spec = open_recipe(write(tmp_path / "r"))[0].specs[0]
    (out / spec.rel_dir).parent.mkdir(parents=True)
    (out / spec.rel_dir).symlink_to(victim)
    outcome = execute_spec(spec, out, force=True)
    assert outcome.status == "failed" and "symbolic link" in outcome.error
    assert untouched(victim)

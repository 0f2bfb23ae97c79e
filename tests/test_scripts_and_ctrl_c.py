"""The Python API in a plain script, and Ctrl-C with workers: real processes, real signals (issue 21).

A script that calls ``run_recipe`` at its top level, without an ``if __name__ == "__main__":`` guard, must
work with worker processes (they must never import it), and a script whose runs failed must not end as if
it had succeeded. Ctrl-C with workers must leave ``interrupted`` runs on disk, say how to resume, and the
rerun must say why it redoes them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hostile import cli_process, ctrl_c_when_ready, run_json, trick_plugin, write

# The README's Python example, pasted at the top level of a script: no main guard, two workers.
SCRIPT = """\
import condensekit

result = condensekit.run_recipe({recipe!r}, overrides=["seeds=[0, 1]", {extra!r}], out={out!r}, jobs=2)
print("RESULT", result)
print("STARTS", open({starts!r}).read().count("start"))
"""

# A trick that notes each run start (to count how often the script's code ran) and can fail a run.
TRICK = trick_plugin(
    "note",
    imports="import os, time",
    fields="""
        fail: bool = False
        seconds: float = 0.0
    """,
    hooks="""
        @condensekit.hookimpl
        def run_started(self, run):
            with open(os.environ["STARTS_FILE"], "a") as f:
                f.write("start\\n")

        @condensekit.hookimpl
        def after_step(self, run, model, optimizer):
            time.sleep(self.params.seconds)
            if self.params.fail and run.step >= 2:
                raise RuntimeError("this run fails\\non purpose, on two lines")
    """,
    summary="test: note run starts, fail on demand",
)


def _script(tmp_path: Path, extra: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "note.py").write_text(TRICK)
    recipe = write(tmp_path, seeds=(0,), top='plugins = ["note.py"]', rest="tricks = { note = {} }\n")
    starts = tmp_path / "starts.txt"
    starts.write_text("")
    script = tmp_path / "my_script.py"
    script.write_text(
        SCRIPT.format(recipe=str(recipe), extra=extra, out=str(tmp_path / "runs"), starts=str(starts))
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1", "STARTS_FILE": str(starts)}
    return subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env
    )


def test_the_readme_example_in_a_script_without_a_main_guard_runs_every_run_with_two_workers(
    tmp_path: Path,
) -> None:
    done = _script(tmp_path, "train.steps=4")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "RESULT GridResult(" in done.stdout and "2 runs, 2 ok" in done.stdout
    assert "STARTS 2" in done.stdout  # each run started once: no worker ran the script again
    assert "local: 2 worker processes" in done.stderr
    assert "bootstrapping phase" not in done.stderr and "Traceback" not in done.stderr


def test_a_script_whose_runs_fail_raises_runs_failed_and_exits_non_zero(tmp_path: Path) -> None:
    done = _script(tmp_path, "tricks.note.fail=true")
    assert done.returncode == 1, done.stdout
    assert "RESULT" not in done.stdout  # run_recipe raised: the script did not go on as if all was well
    assert "condensekit.errors.RunsFailed: h: 2 of 2 runs did not finish" in done.stderr
    # each failed run named with its whole final error on one line, not only the message's last line
    assert "failed: h/mlp/base/seed=0: RuntimeError: this run fails on purpose, on two lines" in done.stderr
    assert "check=False" in done.stderr
    assert (tmp_path / "runs/h/report.md").is_file()  # the report was written before raising


def test_check_false_returns_the_result_with_the_failed_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import condensekit

    (tmp_path / "note.py").write_text(TRICK)
    monkeypatch.setenv("STARTS_FILE", str(tmp_path / "starts.txt"))
    recipe = write(tmp_path, top='plugins = ["note.py"]', rest="tricks = { note = { fail = true } }\n")
    result = condensekit.run_recipe(recipe, out=tmp_path / "runs", quiet=True, check=False)
    assert [row["status"] for row in result.failed] == ["failed"]
    assert result.failed[0]["error"] == "RuntimeError: this run fails on purpose, on two lines"
    try:
        condensekit.run_recipe(recipe, out=tmp_path / "runs", quiet=True)
    except condensekit.RunsFailed as exc:
        assert [row["run_dir"] for row in exc.result.failed] == ["mlp/base/seed=0"] and exc.exit_code == 1
    else:
        raise AssertionError("run_recipe returned although its run failed")


def test_ctrl_c_with_workers_records_interrupted_says_how_to_resume_and_the_rerun_says_why(
    tmp_path: Path,
) -> None:
    (tmp_path / "note.py").write_text(TRICK)
    recipe = write(
        tmp_path,
        seeds=(0, 1),
        steps=400,
        top='plugins = ["note.py"]',
        rest="tricks = { note = { seconds = 0.05 } }\n",
    )
    out, starts = tmp_path / "runs", tmp_path / "starts.txt"
    args = ["run", str(recipe), "--out", str(out), "--jobs", "2"]
    code, err = ctrl_c_when_ready(
        args,
        lambda: starts.exists() and starts.read_text().count("start") >= 2,  # both workers are training
        env={"STARTS_FILE": str(starts)},
    )
    assert code == 130, err[-3000:]
    assert "run the same command again" in err and "finished runs are skipped" in err
    assert f"condensekit run {recipe}" in err  # the command to rerun, as typed
    statuses = [run_json(out / f"h/mlp/base/seed={s}")["status"] for s in (0, 1)]
    assert statuses == ["interrupted", "interrupted"], statuses
    again = cli_process(
        *args[:-2],
        "--set",
        "train.steps=4",
        "--set",
        "tricks.note.seconds=0.0",
        env={"STARTS_FILE": str(starts)},
    )
    assert again.returncode == 0, again.stderr[-3000:]
    assert "rerunning 2 runs: not finished last time (interrupted)" in again.stderr
    assert all(
        json.loads((out / f"h/mlp/base/seed={s}/run.json").read_text())["status"] == "ok" for s in (0, 1)
    )

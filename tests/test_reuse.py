"""Which finished runs are kept (:mod:`condensekit.reuse`), tried as an attacker and a careless user would.

A finished run is trusted by the content of everything it wrote (a SHA-256 of each output in ``run.json``),
never by sizes; a ``run.json`` that says ``ok`` without a summary gives no verdict and is redone; finished
runs of another recipe file of the same name are not replaced without asking.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from hostile import cli, metrics_rows, run_json, write

from condensekit.api import open_recipe
from condensekit.executing import execute_spec
from condensekit.reuse import EXECUTION_KEYS, kept_run, spec_changes

pytestmark = pytest.mark.hostile

pytest_plugins = ["grid_fixtures"]  # the fixtures grid (run once) and root (a copy per test)


SEED1 = Path("mlp/base/seed=1")


def _recipe(root: Path) -> str:
    return str(run_json(root / SEED1)["spec"]["recipe_path"])


def _status(root: Path, run: Path) -> tuple[str, str]:
    with (root / "summary.csv").open(encoding="utf-8", newline="") as f:
        row = next(r for r in csv.DictReader(f) if r["run_dir"] == str(run))
    return row["status"], row["error"]


def test_run_json_records_a_sha256_of_every_output_the_run_wrote(root: Path) -> None:
    run_dir = root / SEED1
    outputs = run_json(run_dir)["outputs"]
    written = {p.name for p in run_dir.iterdir() if p.name != "run.json" and not p.name.startswith(".")}
    assert set(outputs) == written and any(name.startswith("events.out.tfevents") for name in written)
    import hashlib

    for name, recorded in outputs.items():
        assert recorded["sha256"] == hashlib.sha256((run_dir / name).read_bytes()).hexdigest()


def test_an_event_file_overwritten_with_garbage_of_the_same_size_is_not_kept(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = next((root / SEED1).glob("events.out.tfevents*"))
    events.write_bytes(b"\0" * events.stat().st_size)
    assert cli(capsys, "report", root)[0] == 0
    status, error = _status(root, SEED1)
    assert status == "unreadable" and f"{events.name} was changed after the run finished" in error
    code, _, err = cli(capsys, "run", _recipe(root), "--out", root.parent)
    assert code == 0 and "rerunning 1 finished run" in err and "1 ok" in err
    spec = open_recipe(_recipe(root))[0].specs[1]
    assert kept_run(root.parent / spec.rel_dir, spec)[0] is not None


@pytest.mark.parametrize("summary", [{}, None, "missing", {"steps_done": 4}])
def test_a_run_json_edited_to_say_ok_without_a_summary_gives_no_verdict_and_is_redone(
    root: Path, capsys: pytest.CaptureFixture[str], summary: Any
) -> None:
    info = run_json(root / SEED1)
    info["status"] = "ok"
    if summary == "missing":
        del info["summary"]
    else:
        info["summary"] = summary
    (root / SEED1 / "run.json").write_text(json.dumps(info))
    spec = open_recipe(_recipe(root))[0].specs[1]
    assert kept_run(root.parent / spec.rel_dir, spec)[0] is None
    assert cli(capsys, "report", root)[0] == 0
    status, error = _status(root, SEED1)
    assert status == "unreadable" and "summary" in error
    assert "| mlp | 1 ok 1 unreadable |" in (root / "report.md").read_text()
    code, _, err = cli(capsys, "run", _recipe(root), "--out", root.parent)
    assert code == 0 and "1 ok" in err and "1 skipped" in err
    assert run_json(root / SEED1)["summary"]["steps_done"] == 4


def test_finished_runs_of_another_recipe_file_of_that_name_are_not_replaced_silently(
    root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = _recipe(root)
    second = write(tmp_path / "elsewhere", seeds=(0, 1), lr=0.05)  # the same name, another experiment
    before = run_json(root / SEED1)
    code, _, err = cli(capsys, "run", second, "--out", root.parent)
    assert code == 2 and "Traceback" not in err
    assert f"holds 2 finished runs of another recipe file named 'h' ({first})" in err
    assert "mlp/base/seed=0 (train.lr 0.1 \u2192 0.05)" in err
    assert "--out <another folder>, or --set name=<another name>" in err and "--force" in err
    assert run_json(root / SEED1) == before  # nothing was replaced
    code, _, err = cli(capsys, "run", second, "--out", root.parent, "--set", "name=h_lr05")
    assert code == 0 and run_json(root / SEED1) == before  # both kept
    assert run_json(root.parent / "h_lr05" / SEED1)["spec"]["train"]["lr"] == 0.05
    code, _, err = cli(capsys, "run", second, "--out", root.parent, "--force")  # replacing, asked for
    assert code == 0 and run_json(root / SEED1)["spec"]["train"]["lr"] == 0.05


def test_runs_of_a_recipe_file_that_is_gone_are_rerun_as_the_same_recipe_moved(
    root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recipe = _recipe(root)
    for seed in (0, 1):  # as if the recipe had lived elsewhere and been moved here since
        info = run_json(root / f"mlp/base/seed={seed}")
        info["spec"]["recipe_path"] = str(tmp_path / "gone.toml")
        (root / f"mlp/base/seed={seed}/run.json").write_text(json.dumps(info))
    code, _, err = cli(capsys, "run", recipe, "--out", root.parent)
    assert code == 0 and "2 skipped" in err  # the same spec: kept, wherever the recipe file lived
    code, _, err = cli(capsys, "run", recipe, "--out", root.parent, "--set", "train.lr=0.05")
    assert code == 0 and "rerunning 2 finished runs: changed since it finished: train.lr" in err


@pytest.mark.parametrize("planted", ["a link", "a FIFO"])
def test_a_link_or_fifo_planted_in_a_finished_run_folder_makes_it_unreadable(
    root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], planted: str
) -> None:
    target = root / SEED1 / "notes"
    if planted == "a link":
        target.symlink_to(tmp_path)
    else:
        os.mkfifo(target)
    assert cli(capsys, "report", root)[0] == 0
    status, error = _status(root, SEED1)
    assert status == "unreadable" and ("notes is a symbolic link" in error or "notes is a FIFO" in error)


@pytest.mark.parametrize(
    "content",
    [
        "[]",
        "5",
        '"ok"',
        '{"status": ["ok"]}',
        '{"status": "ok", "spec": "x"}',
        '{"status": "ok", "summary": 3}',
    ],
)
def test_run_json_that_is_json_but_not_a_run_record_is_unreadable_and_redone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str
) -> None:
    recipe, out = write(tmp_path), tmp_path / "out"
    run_dir = out / "h/mlp/base/seed=0"
    run_dir.mkdir(parents=True)
    (run_dir / "run.json").write_text(content)
    code, _, err = cli(capsys, "report", out / "h")
    assert code == 0 and "Traceback" not in err and "unreadable" in (out / "h/summary.csv").read_text()
    code, _, err = cli(capsys, "run", recipe, "--out", out)
    assert code == 0 and "1 ok" in err and run_json(run_dir)["status"] == "ok"


RUN = Path("h/mlp/base/seed=0")


def test_changing_lr_reruns_the_finished_run_and_says_which_key_changed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recipe, out = write(tmp_path, lr=0.1), tmp_path / "out"
    assert cli(capsys, "run", recipe, "--out", out)[0] == 0
    first = metrics_rows(out / RUN)
    code, _, err = cli(capsys, "run", recipe, "--out", out, "--set", "train.lr=0.05")
    assert code == 0
    assert "rerunning 1 finished run: changed since it finished: train.lr 0.1 \u2192 0.05" in err
    assert "[1/1] ok       h/mlp/base/seed=0" in err and "[1/1] skipped" not in err
    assert run_json(out / RUN)["spec"]["train"]["lr"] == 0.05
    assert metrics_rows(out / RUN) != first  # new numbers, not the old ones reported as current
    code, _, err = cli(capsys, "run", recipe, "--out", out, "--set", "train.lr=0.05")
    assert code == 0 and "[1/1] skipped  h/mlp/base/seed=0  (finished earlier with this spec" in err


@pytest.mark.parametrize(
    ("change", "key"),
    [
        (["train.steps=5"], "train.steps 4 \u2192 5"),
        (["arms[0].model.width=7"], "model.params.width 6 \u2192 7"),
        (["metrics.condensation.every=every:1"], 'metrics.condensation.every "every:2" \u2192 "every:1"'),
        (["summary.rise=0.2"], "thresholds.rise 0.1 \u2192 0.2"),
        (["data.noise=0.5"], "data.params.noise 1.0 \u2192 0.5"),
    ],
)
def test_every_results_key_counts_as_a_change(tmp_path: Path, change: list[str], key: str) -> None:
    recipe = write(tmp_path)
    before = open_recipe(recipe)[0].specs[0]
    after = open_recipe(recipe, change)[0].specs[0]
    assert spec_changes(before.to_dict(), after) == [key]


def test_where_and_how_a_run_executes_is_not_a_change(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recipe, out = write(tmp_path / "a", top='plugins = ["noop.py"]'), tmp_path / "out"
    (tmp_path / "a/noop.py").write_text("x = 1\n")
    assert cli(capsys, "run", recipe, "--out", out)[0] == 0
    moved = tmp_path / "b"
    # the recipe and its plugin file elsewhere: recipe_path, plugins differ
    shutil.copytree(tmp_path / "a", moved)
    code, _, err = cli(
        capsys,
        "run",
        moved / "h.toml",
        "--out",
        out,
        "--set",
        "executor.threads=2",
        "--set",
        "device=auto",
        "--set",
        "data.root=elsewhere",
        "--jobs",
        "2",
    )
    assert code == 0 and "1 runs: 0 ok, 0 diverged, 0 failed, 1 skipped" in err and "rerunning" not in err
    assert EXECUTION_KEYS == {"recipe_path", "plugins", "device", "data.root"}


def test_a_stored_spec_from_another_version_counts_as_changed(tmp_path: Path) -> None:
    spec = open_recipe(write(tmp_path))[0].specs[0]
    assert spec_changes({**spec.to_dict(), "unknown_key": 1}, spec) == [
        "its stored spec is not readable by this version of condensekit"
    ]


def test_report_says_when_one_arm_mixes_runs_of_different_specs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recipe, out = write(tmp_path, seeds=(0, 1)), tmp_path / "out"
    assert cli(capsys, "run", recipe, "--out", out)[0] == 0
    code, _, err = cli(capsys, "run", recipe, "--out", out, "--set", "seeds=[0]", "--set", "train.lr=0.05")
    assert code == 0
    assert "mlp / base mixes runs of 2 different specs (train.lr: 0.05 (seed 0), 0.1 (seed 1))" in err
    report = (out / "h/report.md").read_text()
    assert "**mlp / base mixes runs of 2 different specs** (train.lr: 0.05 (seed 0), 0.1 (seed 1))" in report


@pytest.mark.parametrize("damage", ["garble", "delete_events", "delete_metrics"])
def test_damaged_outputs_of_an_ok_run_are_detected_and_redone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], damage: str
) -> None:
    recipe, out = write(tmp_path), tmp_path / "out"
    assert cli(capsys, "run", recipe, "--out", out)[0] == 0
    run_dir = out / RUN
    assert set(run_json(run_dir)["outputs"]) == {
        "metrics.jsonl",
        next(p.name for p in run_dir.glob("events.out.tfevents*")),
    }
    if damage == "garble":
        text = (run_dir / "metrics.jsonl").read_text()
        # same size, other content
        (run_dir / "metrics.jsonl").write_text(text.replace('"step": 2', '"step": 3', 1))
    elif damage == "delete_events":
        next(run_dir.glob("events.out.tfevents*")).unlink()
    else:
        (run_dir / "metrics.jsonl").unlink()
    code, _, err = cli(capsys, "report", out / "h")
    assert code == 0 and "unreadable" in (out / "h/summary.csv").read_text()
    assert "rerunning this recipe redoes this run" in (out / "h/report.md").read_text().replace(
        "rerunning the recipe", "rerunning this recipe"
    )
    info, why = kept_run(run_dir, open_recipe(recipe)[0].specs[0])
    assert info is None and ("changed after the run finished" in why or "missing" in why)
    code, _, err = cli(capsys, "run", recipe, "--out", out)
    assert code == 0 and "rerunning 1 finished run" in err and "1 ok" in err
    assert len(metrics_rows(run_dir)) > 0 and list(run_dir.glob("events.out.tfevents*"))


@pytest.mark.parametrize("planted", ["secret.txt", "other.toml"])
def test_a_planted_run_json_cannot_copy_another_files_comments_into_the_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], planted: str
) -> None:
    recipe, out = write(tmp_path), tmp_path / "out"
    recipe.write_text("# Does the tiny MLP condense?\n" + recipe.read_text())
    assert cli(capsys, "run", recipe, "--out", out)[0] == 0
    assert "> Does the tiny MLP condense?" in (out / "h/report.md").read_text()  # the recipe's own question
    secret = tmp_path / planted
    secret.write_text('# password = hunter2\nname = "other"\n')
    info = run_json(out / RUN)
    info["spec"]["recipe_path"] = str(secret)
    fake = out / "h/a_planted/base/seed=0"  # sorts before the real run
    fake.mkdir(parents=True)
    (fake / "run.json").write_text(__import__("json").dumps(info))
    assert cli(capsys, "report", out / "h")[0] == 0
    assert "hunter2" not in (out / "h/report.md").read_text()


def test_a_lost_worker_never_reports_an_older_specs_result_as_this_run(tmp_path: Path) -> None:
    from condensekit.executing import record_lost_run

    recipe, out = write(tmp_path), tmp_path / "out"
    old = open_recipe(recipe)[0].specs[0]
    assert execute_spec(old, out).status == "ok"
    new = open_recipe(recipe, ["train.lr=0.05"])[0].specs[0]
    lost = record_lost_run(new, out, "worker process died")  # its worker died before clearing the old run
    assert lost.status == "failed" and lost.error == "worker process died"
    info = run_json(out / RUN)
    assert info["status"] == "failed" and info["spec"]["train"]["lr"] == 0.05

"""Which finished runs are kept (:mod:`condensekit.reuse`), tried as an attacker and a careless user would.

A finished run is trusted by the content of everything it wrote (a SHA-256 of each output in ``run.json``),
never by sizes; a ``run.json`` that says ``ok`` without a summary gives no verdict and is redone; finished
runs of another recipe file of the same name are not replaced without asking.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any

import pytest
from hostile import cli, run_json, write

from condensekit.api import open_recipe
from condensekit.reuse import kept_run

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

"""The Python API: ``condensekit.run_recipe`` and ``condensekit.load_runs``, from pytest and from
``python -c``."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import condensekit
from condensekit.testing import tiny_recipe


def recipe_dict(**changes: Any) -> dict[str, Any]:
    recipe = tiny_recipe(steps=8, metrics={"condensation": {"every": "every:4"}})
    recipe["seeds"] = [0, 1]
    recipe["arms"].append({"name": "wide", "model": {"use": "mlp", "depth": 3, "width": 24}})
    recipe.update(changes)
    return recipe


def test_run_recipe_from_a_dict_returns_rows_verdict_and_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = condensekit.run_recipe(recipe_dict(), out=tmp_path / "runs", quiet=True)
    assert capsys.readouterr().err == ""  # quiet
    assert isinstance(result, condensekit.GridResult) and result.root == tmp_path / "runs" / "tiny"
    assert result.report_path.read_text().startswith("# condensekit report: tiny")
    with (result.root / "summary.csv").open() as f:
        table = list(csv.DictReader(f))
    assert [r["run_dir"] for r in result.rows] == [r["run_dir"] for r in table]
    for row, csv_row in zip(result.rows, table, strict=True):
        assert list(row) == list(csv_row)  # the summary.csv columns, in order
        assert (
            row["status"] == "ok"
            and isinstance(row["seed"], int)
            and isinstance(row["final_test_acc"], float)
        )
        assert float(csv_row["final_test_acc"]) == pytest.approx(row["final_test_acc"])
    assert set(result.verdict) == {"tiny", "wide"} and result.verdict["wide"]["runs"] == "2 ok"
    assert [o.status for o in result.outcomes] == ["ok"] * 4 and result.failed == []
    assert {p.name for p in result.figures} >= {"curves.png", "per_layer.png"}
    frame = result.to_pandas()
    assert frame.shape == (4, len(table[0])) and set(frame["arm"]) == {"tiny", "wide"}
    assert "4 runs, 4 ok" in repr(result)


def test_run_recipe_takes_toml_text_and_a_path_with_overrides_and_skips_finished_runs(tmp_path: Path) -> None:
    from condensekit.testing import write_recipe

    path = write_recipe(recipe_dict(), tmp_path / "r.toml")
    first = condensekit.run_recipe(path, out=tmp_path / "runs", overrides=["seeds=[0]"], quiet=True)
    assert len(first.rows) == 2
    again = condensekit.run_recipe(
        path.read_text(), out=tmp_path / "runs", overrides=["seeds=[0]"], quiet=True
    )
    assert [o.status for o in again.outcomes] == ["skipped", "skipped"] and again.rows == first.rows
    forced = condensekit.run_recipe(
        path, out=tmp_path / "runs", overrides=["seeds=[0]"], force=True, quiet=True
    )
    assert [o.status for o in forced.outcomes] == ["ok", "ok"]
    both = condensekit.run_recipe(path, out=tmp_path / "runs", quiet=True)  # seeds 0 and 1: seed 0 is skipped
    assert [o.status for o in both.outcomes] == ["skipped", "ok", "skipped", "ok"] and len(both.rows) == 4
    again = condensekit.run_recipe(path, out=tmp_path / "runs", overrides=["seeds=[1]"], quiet=True)
    # the result covers the runs asked for; report.md all of them
    assert {r["seed"] for r in again.rows} == {1}
    assert again.verdict["wide"]["runs"] == "1 ok" and "| 2 ok |" in again.report_path.read_text()


def test_a_bad_recipe_raises_recipe_error_with_every_problem_never_system_exit(tmp_path: Path) -> None:
    bad = recipe_dict(train={"steps": 0, "lr": -1.0})
    bad["arms"][1]["model"]["depth"] = 1
    with pytest.raises(condensekit.RecipeError) as info:
        condensekit.run_recipe(bad, out=tmp_path / "runs", quiet=True)
    keys = {p.key for p in info.value.problems}
    assert {"train.steps", "train.lr", "arms[1].model.depth"} <= keys, keys
    assert isinstance(info.value, condensekit.CondensekitError) and not (tmp_path / "runs").exists()


def test_load_runs_reads_a_grid_back(tmp_path: Path) -> None:
    result = condensekit.run_recipe(recipe_dict(), out=tmp_path / "runs", quiet=True)
    loaded = condensekit.load_runs(tmp_path / "runs" / "tiny")
    assert loaded.rows == result.rows and loaded.verdict == result.verdict and loaded.outcomes == []
    (tmp_path / "empty").mkdir()
    with pytest.raises(condensekit.CondensekitError, match="no runs found"):
        condensekit.load_runs(tmp_path / "empty")
    with pytest.raises(condensekit.CondensekitError, match="no such folder"):
        condensekit.load_runs(tmp_path / "nothing")


def test_to_pandas_without_pandas_says_how_to_get_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result = condensekit.GridResult(tmp_path, [], [])
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(condensekit.CondensekitError, match=r'pip install "condensekit\[pandas\]"'):
        result.to_pandas()


def test_cli_main_returns_its_exit_code(
    tmp_path: Path, write_recipe: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from condensekit.cli import main

    assert main(["--version"]) == 0
    assert (
        main(["run", str(write_recipe()), "--out", str(tmp_path / "runs"), "--set", "train.steps=3", "-q"])
        == 0
    )
    assert main(["validate", str(tmp_path / "missing.toml")]) == 2
    assert "missing.toml" in capsys.readouterr().err


def test_from_a_plain_python_process(tmp_path: Path) -> None:
    from condensekit.testing import write_recipe

    path = write_recipe(recipe_dict(), tmp_path / "r.toml")
    code = (
        "import sys, condensekit\n"
        "assert 'torch' not in sys.modules, 'import condensekit imported torch'\n"
        f"result = condensekit.run_recipe({str(path)!r}, out={str(tmp_path / 'runs')!r}, "
        "overrides=['seeds=[0]'])\nprint(sorted(result.verdict), len(result.rows), "
        "result.report_path.exists())\ntry:\n"
        "    condensekit.run_recipe({'name': 'x'}, out='unused')\n"
        "except condensekit.RecipeError as exc:\n"
        "    print('problems', len(exc.problems))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert "['tiny', 'wide'] 2 True" in done.stdout and "problems" in done.stdout
    assert "[2/2] ok" in done.stderr  # progress lines on stderr (not a terminal)

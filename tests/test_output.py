"""condensekit.output: the output folder checked before training (a file, read-only, full, a path too long,
links on a run's way), run folders cleared without following links, run files written whole and read back."""

from __future__ import annotations

import json
import math
import os
import subprocess
from pathlib import Path

import pytest
from hostile import cli, fill_up, make_victim, untouched, write

from condensekit.api import open_recipe
from condensekit.errors import CondensekitError
from condensekit.executing import execute_spec
from condensekit.output import (
    LOCK_NAME,
    OutputError,
    check_output_root,
    clear_run_dir,
    load_run_json,
    read_metrics,
    read_run_json,
    refuse_links,
    write_json_atomic,
)
from condensekit.report.rows import read_row
from condensekit.reuse import kept_run
from condensekit.status import RunStatus

# ------------------------------------------ found unpinned by the mutation check: each names its mutants


def test_non_finite_numbers_are_written_as_null_in_strict_json(tmp_path: Path) -> None:  # output-01
    write_json_atomic(tmp_path / "run.json", {"summary": {"dS": math.nan, "peak": math.inf, "S0": 0.5}})

    def refuse(name: str) -> None:
        raise ValueError(f"not JSON: {name}")

    assert json.loads((tmp_path / "run.json").read_text(), parse_constant=refuse) == {
        "summary": {"dS": None, "peak": None, "S0": 0.5}
    }


def test_a_garbled_run_json_is_an_unreadable_run_that_is_redone(tmp_path: Path) -> None:
    # was output.run_status (dead code, removed): read_run_json, kept_run and the report's row say it now
    run_dir = tmp_path / "golden_flat" / "mlp" / "base" / "seed=0"
    run_dir.mkdir(parents=True)
    spec = open_recipe(Path(__file__).parent / "golden" / "flat.toml")[0].specs[0]
    assert read_run_json(run_dir) is None and kept_run(run_dir, spec) == (None, "")  # no run.json: no run
    (run_dir / "run.json").write_text('{"status": "ok", ')
    # redone, nothing to explain
    assert read_run_json(run_dir) is None and kept_run(run_dir, spec) == (None, "")
    assert read_row(tmp_path / "golden_flat", run_dir).status == RunStatus.UNREADABLE


@pytest.mark.parametrize(
    "key, value",
    [
        ("status", 1),
        ("spec", []),
        ("summary", "ok"),
        ("error", 3),
        ("outputs", None),
        ("seconds", "9"),
        ("reports", []),
    ],
)
def test_a_run_json_with_a_key_of_the_wrong_type_is_unreadable_not_trusted(
    tmp_path: Path, key: str, value: object
) -> None:
    """A ``run.json`` edited by hand (or by another program) into the wrong shape is no run record: the report
    shows the run as unreadable and says why, instead of failing later on the wrong type."""
    run_dir = tmp_path / "golden_flat" / "mlp" / "base" / "seed=0"
    run_dir.mkdir(parents=True)
    good = {"status": "ok", "spec": {}, "summary": None, "error": None, "outputs": {}, "seconds": 1.5}
    (run_dir / "run.json").write_text(json.dumps(good))
    assert load_run_json(run_dir) == (good, "")
    (run_dir / "run.json").write_text(json.dumps({**good, key: value}))
    assert load_run_json(run_dir) == (None, "run.json is not a run record (a key of the wrong type)")
    assert read_row(tmp_path / "golden_flat", run_dir).status == RunStatus.UNREADABLE


def test_clearing_a_run_directory_keeps_its_lock(tmp_path: Path) -> None:  # output-07
    run_dir = tmp_path / "r"
    (run_dir / "sub").mkdir(parents=True)
    for name in (LOCK_NAME, "metrics.jsonl", "sub/x"):
        (run_dir / name).write_text("x")
    clear_run_dir(run_dir, tmp_path)
    assert [p.name for p in run_dir.iterdir()] == [LOCK_NAME]


def test_a_link_anywhere_between_the_root_and_a_run_is_refused(tmp_path: Path) -> None:  # output-09
    root, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    (elsewhere / "base" / "seed=0").mkdir(parents=True)
    (elsewhere / "base" / "seed=0" / "keep.txt").write_text("mine")
    root.mkdir()
    (root / "arm").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(OutputError, match="symbolic link"):
        refuse_links(root, root / "arm" / "base" / "seed=0")
    with pytest.raises(OutputError):
        clear_run_dir(root / "arm" / "base" / "seed=0", root)
    assert (elsewhere / "base" / "seed=0" / "keep.txt").read_text() == "mine"


def test_a_garbled_metrics_line_loses_only_that_line(tmp_path: Path) -> None:  # output-10
    (tmp_path / "metrics.jsonl").write_text('{"step": 0}\n{"step": 1, "lo\n{"step": 2}\n{"step": 3')
    assert read_metrics(tmp_path) == [{"step": 0}, {"step": 2}]


def test_a_folder_name_of_exactly_name_max_bytes_is_accepted(tmp_path: Path) -> None:  # output-11
    import os

    name_max = os.pathconf(tmp_path, "PC_NAME_MAX")
    check_output_root(tmp_path / "out", "r", [f"r/{'a' * name_max}/base/seed=0"])
    with pytest.raises(OutputError, match="more than this file system takes"):
        check_output_root(tmp_path / "out", "r", [f"r/{'a' * (name_max + 1)}/base/seed=0"])


# mutant: written in place
def test_run_json_is_always_replaced_atomically(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    replaced: list[str] = []
    real = os.replace

    def spy(src: str, dst: str, **folders: int) -> None:  # folders: renamed within a folder's descriptor
        replaced.append(Path(dst).name)
        real(src, dst, **folders)

    monkeypatch.setattr(os, "replace", spy)
    outcome = execute_spec(open_recipe(write(tmp_path))[0].specs[0], tmp_path / "out")
    assert outcome.status == "ok"
    assert replaced.count("run.json") == 2  # "running" at the start, "ok" at the end: each by rename


@pytest.mark.hostile
def test_out_that_is_a_file_is_exit_2_before_training(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "out").write_text("not a folder")
    code, _, err = cli(capsys, "run", write(tmp_path), "--out", tmp_path / "out")
    assert code == 2 and "is a file, not a folder" in err and "Traceback" not in err and "running" not in err
    code, _, err = cli(capsys, "run", write(tmp_path), "--out", tmp_path / "out" / "sub")
    assert code == 2 and "cannot write in" in err and "Traceback" not in err


@pytest.mark.hostile
def test_read_only_out_is_exit_2_before_training(
    small_disk: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    code, _, err = cli(capsys, "run", write(tmp_path), "--out", small_disk)
    assert (
        code == 2 and "cannot write in" in err and "Read-only file system" in err and "Traceback" not in err
    )


@pytest.mark.hostile
def test_full_out_is_exit_2_before_training(
    small_disk: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fill_up(small_disk)
    code, _, err = cli(capsys, "run", write(tmp_path), "--out", small_disk)
    assert code == 2 and "no space left on that device" in err and "Traceback" not in err


@pytest.mark.hostile
def test_a_path_too_long_for_the_file_system_is_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path
    while len(os.fsencode(str(out))) < 3900:
        out = out / ("d" * 200)
    out.mkdir(parents=True)
    code, _, err = cli(capsys, "run", write(tmp_path / "r"), "--out", out)
    assert code == 2 and "too long" in err and "Traceback" not in err


@pytest.mark.hostile
@pytest.mark.parametrize("level", ["h/mlp/base/seed=0", "h/mlp/base", "h/mlp", "h"])
def test_a_linked_folder_on_a_runs_way_is_refused_before_training(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], level: str
) -> None:
    victim, out = make_victim(tmp_path), tmp_path / "out"
    (out / level).parent.mkdir(parents=True, exist_ok=True)
    (out / level).symlink_to(victim)
    code, _, err = cli(capsys, "run", write(tmp_path / "r"), "--out", out, "--force")
    assert code == 2 and "is a symbolic link" in err and "Traceback" not in err and "running" not in err
    assert untouched(victim)


@pytest.mark.hostile
def test_out_itself_may_be_a_link(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    (tmp_path / "runs").symlink_to(scratch)
    code, _, err = cli(capsys, "run", write(tmp_path / "r"), "--out", tmp_path / "runs")
    assert code == 0, err
    assert (scratch / "h/mlp/base/seed=0/run.json").is_file()


@pytest.mark.hostile
def test_clear_run_dir_never_empties_a_links_target(tmp_path: Path) -> None:
    victim = make_victim(tmp_path)
    (tmp_path / "run").symlink_to(victim)
    with pytest.raises(OutputError, match="symbolic link"):
        clear_run_dir(tmp_path / "run")
    assert untouched(victim)
    assert isinstance(OutputError("x"), CondensekitError)


@pytest.mark.hostile
def test_links_inside_a_run_directory_are_removed_not_followed(tmp_path: Path) -> None:
    victim = make_victim(tmp_path)
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.jsonl").symlink_to(victim / "thesis.tex")
    (run / "events").symlink_to(victim)
    clear_run_dir(run)
    assert untouched(victim) and not list(run.iterdir())

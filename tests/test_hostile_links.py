"""Defect class 3: symbolic links below --out are never followed when clearing or writing.

A link where a run directory (or a folder above it, below --out) should be is refused with a clear message
before any run starts; the link's target is left exactly as it was.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hostile import cli, write

from condensekit.api import open_recipe
from condensekit.errors import CondensekitError
from condensekit.executing import execute_spec
from condensekit.output import LOCK_NAME, OutputError, RunLock, clear_run_dir

pytestmark = pytest.mark.hostile


def _victim(tmp_path: Path) -> Path:
    victim = tmp_path / "precious"
    victim.mkdir()
    (victim / "thesis.tex").write_text("years of work")
    (victim / "sub").mkdir()
    (victim / "sub/data.csv").write_text("1,2,3")
    return victim


def _untouched(victim: Path) -> bool:
    return (
        (victim / "thesis.tex").read_text() == "years of work"
        and (victim / "sub/data.csv").read_text() == "1,2,3"
        and len(list(victim.iterdir())) == 2
    )


@pytest.mark.parametrize("level", ["h/mlp/base/seed=0", "h/mlp/base", "h/mlp", "h"])
def test_a_linked_folder_on_a_runs_way_is_refused_before_training(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], level: str
) -> None:
    victim, out = _victim(tmp_path), tmp_path / "out"
    (out / level).parent.mkdir(parents=True, exist_ok=True)
    (out / level).symlink_to(victim)
    code, _, err = cli(capsys, "run", write(tmp_path / "r"), "--out", out, "--force")
    assert code == 2 and "is a symbolic link" in err and "Traceback" not in err and "running" not in err
    assert _untouched(victim)


def test_out_itself_may_be_a_link(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    (tmp_path / "runs").symlink_to(scratch)
    code, _, err = cli(capsys, "run", write(tmp_path / "r"), "--out", tmp_path / "runs")
    assert code == 0, err
    assert (scratch / "h/mlp/base/seed=0/run.json").is_file()


def test_execute_spec_refuses_a_linked_run_directory_even_without_the_preflight(tmp_path: Path) -> None:
    victim, out = _victim(tmp_path), tmp_path / "out"
    spec = open_recipe(write(tmp_path / "r"))[0].specs[0]
    (out / spec.rel_dir).parent.mkdir(parents=True)
    (out / spec.rel_dir).symlink_to(victim)
    outcome = execute_spec(spec, out, force=True)
    assert outcome.status == "failed" and "symbolic link" in outcome.error
    assert _untouched(victim)


def test_clear_run_dir_never_empties_a_links_target(tmp_path: Path) -> None:
    victim = _victim(tmp_path)
    (tmp_path / "run").symlink_to(victim)
    with pytest.raises(OutputError, match="symbolic link"):
        clear_run_dir(tmp_path / "run")
    assert _untouched(victim)
    assert isinstance(OutputError("x"), CondensekitError)


def test_links_inside_a_run_directory_are_removed_not_followed(tmp_path: Path) -> None:
    victim = _victim(tmp_path)
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.jsonl").symlink_to(victim / "thesis.tex")
    (run / "events").symlink_to(victim)
    clear_run_dir(run)
    assert _untouched(victim) and not list(run.iterdir())


def test_a_planted_lock_link_is_not_truncated(tmp_path: Path) -> None:
    victim = _victim(tmp_path)
    run = tmp_path / "run"
    run.mkdir()
    (run / LOCK_NAME).symlink_to(victim / "thesis.tex")
    with pytest.raises(OutputError, match="symbolic link"):
        RunLock(run).acquire()
    assert _untouched(victim)

"""condensekit.recipe.names: names that would escape --out or collide on disk are refused, at validate too."""

from __future__ import annotations

from pathlib import Path

import pytest
from hostile import cli, refusal, write


@pytest.mark.hostile
@pytest.mark.parametrize(
    ("overrides", "key", "words"),
    [
        (['name=".."'], "name", "not a folder name of its own"),
        (['name="."'], "name", "not a folder name of its own"),
        (['name="..."'], "name", "not a folder name of its own"),
        (['arms[0].name=".."'], "arms[0].name", "not a folder name of its own"),
        (
            ['arms[0].name="' + "a" * 256 + '"'],
            "arms[0].name",
            "256 bytes long; a folder name takes at most 255",
        ),
        (['name="' + "n" * 300 + '"'], "name", "300 bytes long"),
        (['grid."train.lr"=[0.001, 1e-3]'], 'grid."train.lr"', "lists the value 0.001 twice"),
        (
            ['grid."data.root"=["d/x", "d_x"]'],
            'grid."data.root"',
            'values "d/x" and "d_x" are written to one folder name',
        ),
        (
            ['grid."data.root"=[true, "true"]'],
            'grid."data.root"',
            "written to one folder name 'data.root=true'",
        ),
        (['grid."data.root"=["a\\nb"]'], 'grid."data.root"', "control character"),
        (['grid."data.root"=["' + "x" * 260 + '"]'], "grid", "folder name is 270 bytes long"),
        (
            ['grid."data.root"=["x,data.use=y", "x"]', 'grid."data.use"=["z", "y,data.use=z"]'],
            "grid",
            "are written to one folder name",
        ),
    ],
)
def test_names_that_would_escape_or_collide_are_refused(
    tmp_path: Path, overrides: list[str], key: str, words: str
) -> None:
    text = refusal(write(tmp_path), *overrides)
    assert any(line.split(": ", 2)[1] == key and words in line for line in text.splitlines()), text


@pytest.mark.hostile
def test_dot_names_never_reach_the_file_system(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "report.md").write_text("mine")
    code, _, err = cli(capsys, "run", write(tmp_path / "r"), "--out", tmp_path / "out", "--set", 'name=".."')
    assert code == 2 and "Traceback" not in err and (tmp_path / "report.md").read_text() == "mine"
    assert not (tmp_path / "out").exists()


@pytest.mark.hostile
def test_validate_reports_the_problem_too(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "validate", write(tmp_path), "--set", 'arms[0].name=".."')
    assert code == 2 and "arms[0].name" in err and "Traceback" not in err

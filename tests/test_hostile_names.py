"""Defect classes 2 (names escaping --out), 6 (memory and recursion) and 11 (small input traps), at validate
time.

Every case is refused by `condensekit validate` with one clear message (exit 2) before anything runs.
"""

from __future__ import annotations

import tracemalloc
import warnings
from pathlib import Path

import pytest
from hostile import cli, write

from condensekit.api import open_recipe
from condensekit.errors import RecipeError
from condensekit.recipe import RunList

pytestmark = pytest.mark.hostile


def _problems(recipe: Path, *overrides: str) -> str:
    with pytest.raises(RecipeError) as info:
        open_recipe(recipe, list(overrides))
    return str(info.value)


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
    text = _problems(write(tmp_path), *overrides)
    assert any(line.split(": ", 2)[1] == key and words in line for line in text.splitlines()), text


def test_dot_names_never_reach_the_file_system(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "report.md").write_text("mine")
    code, _, err = cli(capsys, "run", write(tmp_path / "r"), "--out", tmp_path / "out", "--set", 'name=".."')
    assert code == 2 and "Traceback" not in err and (tmp_path / "report.md").read_text() == "mine"
    assert not (tmp_path / "out").exists()


def test_validate_reports_the_problem_too(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "validate", write(tmp_path), "--set", 'arms[0].name=".."')
    assert code == 2 and "arms[0].name" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("overrides", "line"),
    [
        (["train.steps=1e12"], "train.steps: must be <= 10000000"),
        (["train.steps=true"], "train.steps: must be a whole number, got true"),
        (["arms[0].model.width=false"], "arms[0].model.width: must be a whole number, got false"),
        # a bare nan on the command line is a word
        (["train.lr=nan"], 'train.lr: must be > 0.0, got "nan"'),
        (["train.max_loss=inf"], "train.max_loss: must be a finite number, got inf"),
        (["tricks.init.scale=nan"], "tricks.init.scale"),
    ],
)
def test_absurd_numbers_are_refused(tmp_path: Path, overrides: list[str], line: str) -> None:
    recipe = write(tmp_path, rest="")
    recipe.write_text(recipe.read_text().replace("[[arms]]", "[tricks]\ninit = {}\n\n[[arms]]"))
    assert line in _problems(recipe, *overrides)


def test_nan_written_in_a_recipe_is_refused(tmp_path: Path) -> None:
    recipe = write(tmp_path)
    recipe.write_text(recipe.read_text().replace("lr = 0.1", "lr = 0.1\nmax_loss = nan"))
    assert "train.max_loss: must be" in _problems(recipe)


@pytest.mark.parametrize("how", ["file", "set", "dict"])
def test_deep_nesting_is_a_clear_error_not_a_recursion_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], how: str
) -> None:
    deep = "[" * 500 + "]" * 500
    if how == "file":
        path = tmp_path / "deep.toml"
        path.write_text(f'name = "d"\nx = {deep}\n')
        code, _, err = cli(capsys, "validate", path)
        assert code == 2 and "nest more than 24 levels deep" in err and "Traceback" not in err
    elif how == "set":
        code, _, err = cli(capsys, "validate", write(tmp_path), "--set", f"train.lr={deep}")
        assert code == 2 and "Traceback" not in err
    else:
        value: list = []
        for _ in range(500):
            value = [value]
        with pytest.raises(RecipeError, match="nest more than 24"):
            open_recipe({"name": "d", "x": value})


def test_a_million_run_grid_validates_in_linear_time_and_little_memory(tmp_path: Path) -> None:
    lrs, scales = (
        [round(0.001 * (i + 1), 6) for i in range(1000)],
        [round(0.01 * (i + 1), 4) for i in range(1000)],
    )
    recipe = write(
        tmp_path, rest=f'[tricks]\ninit = {{}}\n[grid]\n"train.lr" = {lrs}\n"tricks.init.scale" = {scales}\n'
    )
    open_recipe(write(tmp_path / "warm"))  # plugins imported: measure the grid, not the imports
    tracemalloc.start()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            recipe_obj = open_recipe(recipe)[0]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    specs = recipe_obj.specs
    assert isinstance(specs, RunList) and len(specs) == 1_000_000
    assert peak < 100 * 2**20, f"validating took {peak / 2**20:.0f} MB"  # the specs are built on demand
    assert any("1000000 runs" in str(w.message) for w in caught)
    last = specs[-1]
    assert (
        last.grid == {"train.lr": 1.0, "tricks.init.scale": 10.0}
        and last.train.lr == 1.0
        and last.tricks["init"]["scale"] == 10.0
    )
    assert specs[1001].grid == {"train.lr": 0.002, "tricks.init.scale": 0.02} and str(
        specs[1001].rel_dir
    ).endswith("scale=0.02/seed=0")


def test_the_run_list_equals_the_specs_built_one_by_one(tmp_path: Path) -> None:
    recipe = write(tmp_path, seeds=(0, 3), rest='[grid]\n"train.lr" = [0.1, 0.2]\n')
    recipe.write_text(
        recipe.read_text() + '[[arms]]\nname = "res"\nmodel = { use = "resmlp", depth = 3, width = 6 }\n'
    )
    specs = open_recipe(recipe)[0].specs
    listed = list(specs)
    assert (
        [str(s.rel_dir) for s in listed]
        == list(specs.rel_dirs())
        == [
            f"h/{arm}/train.lr={lr}/seed={seed}"
            for arm in ("mlp", "res")
            for lr in (0.1, 0.2)
            for seed in (0, 3)
        ]
    )
    assert [specs[i] for i in range(len(specs))] == listed == specs[:] and specs[-1] == listed[-1]
    from condensekit.spec import RunSpec

    assert all(RunSpec.from_dict(s.to_dict()) == s for s in listed)

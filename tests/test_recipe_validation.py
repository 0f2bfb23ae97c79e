"""Recipe validation refuses what would give a silently wrong result or an endless run, and says so briefly.

Seeds that would repeat another seed bit for bit (torch and numpy keep a seed's low 32 bits) or fail in torch
are refused at ``seeds[i]`` with the range; data whose ``info`` has fewer than two classes is refused at
``data``; plugin code that calls ``sys.exit()`` while the recipe is validated is a problem, not the end of
the process; every value a message quotes is shortened, with its length, and escaped for the terminal.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from hostile import cli, refusal, write

from condensekit import RecipeError
from condensekit.api import open_recipe
from condensekit.recipe.seeds import MAX_SEED
from condensekit.testing import tiny_recipe

pytestmark = pytest.mark.hostile


def _problems(recipe: dict, overrides: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    with pytest.raises(RecipeError) as info:
        open_recipe(recipe, overrides)
    return [(p.key, p.message) for p in info.value.problems]


# ---------------------------------------------------------------------------------------------------------
# seeds
# ---------------------------------------------------------------------------------------------------------


def test_the_seed_range_is_what_torch_tells_apart() -> None:
    """Why the range is [0, 2^32 - 1]: outside it torch repeats a seed inside it; inside, seeds differ."""

    def draw(seed: int) -> torch.Tensor:
        torch.manual_seed(seed)
        return torch.randn(4)

    assert torch.equal(draw(7), draw(2**32 + 7)) and torch.equal(draw(-1), draw(2**63 - 1))
    assert not torch.equal(draw(0), draw(MAX_SEED)) and not torch.equal(draw(MAX_SEED), draw(MAX_SEED - 1))
    with pytest.raises((ValueError, RuntimeError, OverflowError)):
        torch.manual_seed(2**64)


@pytest.mark.parametrize(
    ("seed", "words"),
    [
        (2**32 + 7, ["the run of seed 7", "low 32 bits"]),
        (2**63 - 1, ["the run of seed 4294967295"]),
        (-1, ["the run of seed 4294967295"]),
        (2**64, ["too large for torch"]),
        (10**30, ["too large for torch"]),
    ],
)
def test_a_seed_that_aliases_another_or_fails_in_torch_is_refused_with_the_range(
    seed: int, words: list[str]
) -> None:
    [(key, message)] = _problems({**tiny_recipe(), "seeds": [7, seed]})
    assert key == "seeds[1]"
    for word in words:
        assert word in message


def test_seeds_inside_the_range_validate_and_name_their_runs() -> None:
    loaded, _ = open_recipe({**tiny_recipe(), "seeds": [0, 7, MAX_SEED]})
    assert [spec.seed for spec in loaded.specs] == [0, 7, MAX_SEED]


def test_the_command_line_refuses_an_aliasing_seed_with_exit_2_naming_the_file_key_and_range(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recipe = write(tmp_path, seeds=(7, 2**32 + 7))
    code, _, err = cli(capsys, "validate", recipe)
    assert code == 2 and f"{recipe}: seeds[1]:" in err and "from 0 to 4294967295" in err
    assert "Traceback" not in err


def test_two_hundred_thousand_bad_seeds_are_a_few_lines_not_one_each() -> None:
    problems = _problems({**tiny_recipe(), "seeds": list(range(-200_000, 0))})
    assert len(problems) <= 5 and any("199,997 more seeds" in message for _, message in problems)


# ---------------------------------------------------------------------------------------------------------
# data that cannot answer the question, and plugin code that exits while the recipe is validated
# ---------------------------------------------------------------------------------------------------------

PLUGIN = """
import sys
import condensekit
from pydantic import BaseModel, ConfigDict


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid")
    classes: int = 1


def make(params, root):
    raise AssertionError("validation must not build the data")


def info(params):
    return condensekit.DataInfo((8,), params.classes, "one_class")


def exits(params, info):
    sys.exit(4)


@condensekit.hookimpl
def register_datasets(register):
    register("one_class", make, params=Params, summary="test: one class", info=info)


@condensekit.hookimpl
def register_models(register):
    register("exits", exits, params=Params, summary="test: its factory calls sys.exit")
"""


def _with_plugin(tmp_path: Path, **changes: object) -> dict:
    (tmp_path / "odd_plugin.py").write_text(PLUGIN)
    return {**tiny_recipe(), "plugins": [str(tmp_path / "odd_plugin.py")], **changes}


def test_a_dataset_whose_info_has_one_class_is_refused_at_validation_naming_it(tmp_path: Path) -> None:
    recipe = _with_plugin(tmp_path, data={"use": "one_class", "batch_size": 4})
    [(key, message)] = _problems(recipe)
    assert key == "data" and "'one_class' has 1 class" in message and "at least 2" in message


def test_a_model_factory_calling_sys_exit_at_validation_is_a_problem_not_the_end(tmp_path: Path) -> None:
    recipe = _with_plugin(tmp_path)
    recipe["arms"][0]["model"] = {"use": "exits"}
    [(key, message)] = _problems(recipe)
    assert key == "arms[0].model" and "SystemExit: 4" in message and "odd_plugin.py" in message


def test_a_plugin_file_calling_sys_exit_on_import_is_a_problem_not_the_end(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "quits.py").write_text("import sys\nsys.exit(5)\n")
    code, _, err = cli(capsys, "validate", write(tmp_path, top='plugins = ["quits.py"]'))
    assert code == 2 and "quits.py" in err and "SystemExit" in err


# ---------------------------------------------------------------------------------------------------------
# messages quote values briefly
# ---------------------------------------------------------------------------------------------------------

HUGE = 50_000_000


@pytest.mark.parametrize(
    "where",
    ["value", "key", "set_value", "set_key", "schedule", "model_name"],
)
def test_a_50_mb_value_is_quoted_in_a_few_dozen_characters_with_its_length(where: str) -> None:
    huge = "x" * HUGE
    recipe, overrides = tiny_recipe(), ()
    if where == "value":
        recipe["train"]["lr"] = huge
    elif where == "key":
        recipe["train"][huge] = 1
    elif where == "set_value":
        overrides = (f"train.steps={huge}",)
    elif where == "set_key":
        overrides = (f"{huge}.x=1",)
    elif where == "schedule":
        recipe["metrics"] = {"condensation": {"every": huge}}
    else:
        recipe["arms"][0]["model"]["use"] = huge
    with pytest.raises(RecipeError) as info:
        open_recipe(recipe, overrides)
    text = str(info.value)
    assert len(text) < 3000, text[:300]
    assert re.search(r"\(50,0\d\d,\d\d\d characters\)", text), text  # the value's length (quoted: + 2)


def test_control_characters_in_a_value_are_escaped_not_sent_to_the_terminal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recipe = write(tmp_path)
    code, _, err = cli(capsys, "validate", recipe, "--set", 'train.lr="\\u001b[2J\\u001b]0;pwned\\u0007"')
    assert code == 2 and "\x1b" not in err and "\x07" not in err and "\\x1b[2J" in err


def test_undecodable_bytes_in_a_set_item_are_shown_as_the_bytes_typed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    odd = b"name=\xff\xfe".decode("utf-8", "surrogateescape")  # as Python receives a non-UTF-8 argument
    code, _, err = cli(capsys, "validate", write(tmp_path), "--set", odd)
    assert code == 2 and "'\\xff\\xfe'" in err and "\\udc" not in err


@pytest.mark.parametrize("where", ["file", "set"])
def test_a_number_of_more_than_4300_digits_is_a_problem_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], where: str
) -> None:
    digits = "1" + "0" * 5000
    recipe = write(tmp_path)
    if where == "file":
        recipe.write_text(recipe.read_text().replace("steps = 4", f"steps = {digits}"))
    code, _, err = cli(
        capsys, "validate", recipe, *(["--set", f"train.steps={digits}"] if where == "set" else [])
    )
    assert code == 2 and "Traceback" not in err and len(err) < 1000
    assert ("more than 4300 digits" in err) if where == "file" else ("must be a whole number" in err)


def test_an_option_value_click_refuses_is_quoted_briefly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = cli(capsys, "run", write(tmp_path), "--jobs", "9" * 100_000)
    assert code == 2 and len(err) < 3000 and "100,0" in err


# ---------------------------------------------------------------------------------------------------------
# environment variables
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "allowed"), [("0", True), ("", True), ("1", False), ("maybe", False)])
def test_condensekit_no_plugin_files_reads_0_as_off_and_refuses_an_unknown_value_saying_so(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    value: str,
    allowed: bool,
) -> None:
    (tmp_path / "fine.py").write_text("")
    monkeypatch.setenv("CONDENSEKIT_NO_PLUGIN_FILES", value)
    code, _, err = cli(capsys, "validate", write(tmp_path, top='plugins = ["fine.py"]'))
    assert (code == 0) == allowed, err
    if value == "maybe":
        assert "CONDENSEKIT_NO_PLUGIN_FILES='maybe' is neither 1 nor 0" in err


def test_a_grid_value_of_undecodable_bytes_is_refused_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    odd = b'grid."model.activation"=["\xff", "relu"]'.decode("utf-8", "surrogateescape")
    code, _, err = cli(capsys, "validate", write(tmp_path), "--set", odd)
    assert code == 2 and "Traceback" not in err and "not UTF-8 text" in err


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
    assert line in refusal(recipe, *overrides)


def test_nan_written_in_a_recipe_is_refused(tmp_path: Path) -> None:
    recipe = write(tmp_path)
    recipe.write_text(recipe.read_text().replace("lr = 0.1", "lr = 0.1\nmax_loss = nan"))
    assert "train.max_loss: must be" in refusal(recipe)


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


@pytest.mark.parametrize(
    ("model", "data", "words"),
    [
        ('{ use = "timm", name = "resnet18" }', '{ use = "digits" }', "needs image inputs"),
        ('{ use = "cnn" }', '{ use = "synthetic" }', "needs image inputs"),
        (
            '{ use = "timm", name = "vit_tiny_patch16_224" }',
            '{ use = "digits", image = true }',
            "cannot take inputs of shape (1, 8, 8)",
        ),
    ],
)
def test_a_model_that_cannot_take_the_data_fails_validate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], model: str, data: str, words: str
) -> None:
    code, _, err = cli(
        capsys, "validate", write(tmp_path), "--set", f"arms[0].model={model}", "--set", f"data={data}"
    )
    assert code == 2 and "arms[0].model: model" in err and "cannot take the data" in err and words in err, err


def test_models_that_fit_their_data_pass_validate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(
        capsys,
        "validate",
        write(tmp_path),
        "--set",
        'arms[0].model={ use = "cnn" }',
        "--set",
        'data={ use = "digits", image = true }',
    )
    assert code == 0, err

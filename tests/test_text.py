"""condensekit.text: one way to write a value as TOML and one way to write it as a label."""

from __future__ import annotations

import math
import tomllib
from pathlib import Path

import pytest

from condensekit.api import open_recipe
from condensekit.text import grid_label, is_utf8, quoted, shorten, shown, toml_text, value_label


@pytest.mark.parametrize(
    "value",
    [True, 3, 0.1, -2.5e-8, 'a "quoted" \\ text\n', [1, "x", False], {"a": 1, "b c": [0.5]}, {"": 2}],
)
def test_toml_text_reads_back_as_the_same_value(value) -> None:
    assert tomllib.loads(f"v = {toml_text(value)}")["v"] == value


def test_toml_text_writes_non_finite_floats_and_paths_as_toml_does() -> None:
    assert [toml_text(v) for v in (math.nan, math.inf, -math.inf)] == ["nan", "inf", "-inf"]
    assert toml_text(Path("a/b")) == '"a/b"'


def test_a_value_label_has_no_quotes_spaces_or_slashes() -> None:
    assert value_label(True) == "true" and value_label(False) == "false"
    assert value_label("xavier_normal") == "xavier_normal" and value_label(1.0) == "1.0"
    assert value_label([1, "a b"]) == "[1,ab]"
    assert value_label({"k": "x/y", "n": [False]}) == "{k=x_y,n=[false]}"


def test_a_grid_label_names_each_key_once_and_base_without_a_grid() -> None:
    assert grid_label({}) == "base"
    assert grid_label({"tricks.init.scale": 0.5, "model.depth": 4}) == "tricks.init.scale=0.5,model.depth=4"


def test_shorten_keeps_a_short_text_and_cuts_a_long_one_saying_how_long_it_was() -> None:
    assert shorten("lr") == "lr"
    cut = shorten("a" * 100 + "b" * 50_000_000 + "z", limit=40)
    assert cut.startswith("a" * 26 + "…") and cut.endswith("bz (50,000,101 characters)") and len(cut) < 80


def test_shorten_escapes_what_would_act_on_a_terminal_and_shows_undecodable_bytes_as_typed() -> None:
    assert shorten("a\x1b[2Jb\nc\td") == "a\\x1b[2Jb\\x0ac\td"
    assert shorten(b"x\xff".decode("utf-8", "surrogateescape")) == "x\\xff"
    assert shorten("\ud800") == "\\ud800" and shorten("réglé") == "réglé"


def test_shown_and_quoted_write_values_and_names_briefly() -> None:
    assert shown("x") == '"x"' and shown([1, 2]) == "[1, 2]" and quoted("lr") == "'lr'" and quoted(3) == "3"
    assert shown(10**5000).startswith("0x") and "characters)" in shown(10**5000)
    assert len(shown(list(range(1_000_000)))) < 200


def test_is_utf8_tells_undecodable_command_line_bytes() -> None:
    assert is_utf8("réglé") and not is_utf8(b"\xff".decode("utf-8", "surrogateescape"))


REPO = Path(__file__).resolve().parent.parent


def test_grid_labels_are_written_one_way(tmp_path: Path) -> None:
    # the folder name and the report's label of a list-valued grid point are the same text
    recipe = (REPO / "tests" / "golden" / "flat.toml").read_text().replace("seeds = [0, 1]", "seeds = [0]")
    recipe += '\n[grid]\n"metrics.condensation.layers" = [["layer1", "layer2"]]\n"train.lr" = [0.05]\n'
    spec = open_recipe(recipe)[0].specs[0]
    assert (
        spec.grid_label
        == grid_label(spec.grid)
        == "metrics.condensation.layers=[layer1,layer2],train.lr=0.05"
    )
    assert spec.rel_dir.parent.name == spec.grid_label

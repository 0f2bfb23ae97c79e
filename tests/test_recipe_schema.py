"""The recipe's ``[summary]`` table: one flat table as users write it, two sections of a run's spec."""

from __future__ import annotations

from typing import Any

import pytest

from condensekit.api import open_recipe
from condensekit.errors import RecipeError
from condensekit.phases import Thresholds
from condensekit.spec import SummaryOptions

RECIPE: dict[str, Any] = {
    "name": "tiny",
    "seeds": [0],
    "device": "cpu",
    "data": {"use": "synthetic", "dim": 6, "num_classes": 3, "train_per_class": 10, "test_per_class": 5},
    "train": {"steps": 3},
    "metrics": {"condensation": {"every": "every:1"}},
    "arms": [
        {"name": "mlp", "model": {"use": "mlp", "depth": 3, "width": 8}},
        {"name": "resmlp", "model": {"use": "resmlp", "depth": 3, "width": 8}},
    ],
}


def test_the_summary_table_splits_into_thresholds_and_summary_options() -> None:
    summary = {"rise": 0.2, "collapsed": 0.8, "series": "condensation/feat_intra", "reference": "resmlp"}
    spec = open_recipe({**RECIPE, "summary": summary})[0].specs[0]
    assert spec.thresholds == Thresholds(rise=0.2, collapsed=0.8)
    assert spec.summary_options == SummaryOptions(series="condensation/feat_intra", reference="resmlp")
    assert "series" not in Thresholds.model_fields and "rise" not in SummaryOptions.model_fields
    # without a [summary] table: the default thresholds, and the first metric's headline as the series
    default = open_recipe(RECIPE)[0].specs[0]
    assert default.thresholds == Thresholds()
    assert default.summary_options == SummaryOptions(series="condensation/feat_inter")


@pytest.mark.parametrize(
    ("summary", "where", "words"),
    [
        ({"rise": -0.1}, "summary.rise", "must be >= 0.0, got -0.1"),
        ({"series": 3}, "summary.series", "string"),
        ({"reference": "mpl"}, "summary.reference", "names no arm"),
        ({"serie": "condensation/feat_inter"}, "summary.serie", "unknown key"),
    ],
)
def test_a_bad_summary_key_is_named_as_the_user_wrote_it(
    summary: dict[str, Any], where: str, words: str
) -> None:
    with pytest.raises(RecipeError) as caught:
        open_recipe({**RECIPE, "summary": summary})
    assert any(where in problem and words in problem for problem in map(str, caught.value.problems)), str(
        caught.value
    )

"""condensekit.data.check_answerable: data that cannot answer the question is refused before training.

One class (the loss is 0 from the start and the verdict would read "it never leaves its plateau"), NaN or
infinite inputs (a "divergence" with an empty error), labels outside ``[0, num_classes)`` (a cryptic
IndexError, or a device-side assert on CUDA), an empty split (a test accuracy of 0): each is one error naming
the dataset, and the run is ``failed``, never ``ok`` with a verdict or ``diverged``.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from torch.utils.data import Dataset

from condensekit.data import DataBundle, DataInfo, check_answerable
from condensekit.errors import DataError
from condensekit.testing import run_tiny, tiny_recipe

pytestmark = pytest.mark.hostile


def _bundle(train_labels: list[int], classes: int = 3, test_labels: list[int] | None = None) -> DataBundle:
    test_labels = [0, 1] if test_labels is None else test_labels
    return DataBundle(
        train=(torch.randn(len(train_labels), 4), torch.tensor(train_labels)),
        test=(torch.randn(len(test_labels), 4), torch.tensor(test_labels, dtype=torch.long)),
        info=DataInfo((4,), classes, "odd"),
    )


def test_data_with_two_classes_and_finite_inputs_passes() -> None:
    check_answerable(_bundle([0, 1, 2, 0]), "odd")


@pytest.mark.parametrize(
    ("bundle", "words"),
    [
        (_bundle([2, 2, 2, 2]), ["every training sample has label 2", "at least 2 classes"]),
        (_bundle([0, 1], classes=1), ["num_classes = 1", "at least 2"]),
        (_bundle([0, 1, 5]), ["training split has labels outside 0..2 (e.g. 5)"]),
        (_bundle([0, 1], test_labels=[0, -1]), ["test split has labels outside 0..2 (e.g. -1)"]),
        (_bundle([0, 1], test_labels=[]), ["the test split holds no samples"]),
        (_bundle([]), ["the training split holds no samples"]),
    ],
    ids=[
        "one_class",
        "info_one_class",
        "train_label_too_big",
        "test_label_negative",
        "empty_test",
        "empty_train",
    ],
)
def test_data_that_cannot_answer_is_one_error_naming_the_dataset(
    bundle: DataBundle, words: list[str]
) -> None:
    with pytest.raises(DataError) as info:
        check_answerable(bundle, "odd")
    assert str(info.value).startswith("dataset 'odd': ")
    for word in words:
        assert word in str(info.value)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("split", ["train", "test"])
def test_non_finite_inputs_are_an_error_naming_the_split_and_the_first_sample(bad: float, split: str) -> None:
    bundle = _bundle([0, 1, 2, 0, 1], test_labels=[0, 1, 2, 0, 1])
    getattr(bundle, split).tensors[0][3, 1] = bad
    if split == "test":
        bundle.test.tensors[0][1, 0] = bad
    with pytest.raises(DataError) as info:
        check_answerable(bundle, "odd")
    expected = (
        "1 sample of the training split (the first: 3)" if split == "train" else "2 samples of the test"
    )
    assert expected in str(info.value) and "NaN or infinite" in str(info.value)


class Streamed(Dataset):
    """A dataset that is not tensors in memory (read sample by sample, like image files)."""

    def __init__(self, inputs: torch.Tensor, labels: torch.Tensor):
        self.inputs, self.targets = inputs, labels

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.inputs[i], int(self.targets[i])


def test_a_streamed_dataset_has_its_first_samples_checked_for_non_finite_inputs() -> None:
    inputs = torch.randn(10, 4)
    inputs[2, 0] = math.nan
    bundle = DataBundle(
        Streamed(inputs, torch.arange(10) % 2),
        Streamed(torch.randn(4, 4), torch.arange(4) % 2),
        DataInfo((4,), 2, "files"),
    )
    with pytest.raises(DataError, match="the first: 2"):
        check_answerable(bundle, "files")


# A dataset plugin: one class, or NaN in one input, or labels beyond num_classes.
PLUGIN = """
import torch, condensekit
from pydantic import BaseModel, ConfigDict


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid")
    how: str = "one_class"


def make(params, root):
    from condensekit.data import DataBundle, DataInfo

    x = torch.randn(30, 8, generator=torch.Generator().manual_seed(0))
    y = torch.arange(3).repeat_interleave(10)
    if params.how == "one_class":
        y = torch.zeros(30, dtype=torch.long)
    elif params.how == "nan":
        x[4, 2] = float("nan")
    elif params.how == "labels":
        y = y + 5
    return DataBundle(train=(x, y), test=(x[::3], y[::3]), info=DataInfo((8,), 3, "odd"))


@condensekit.hookimpl
def register_datasets(register):
    register("odd", make, params=Params, summary="test: data that cannot answer")
"""


@pytest.mark.parametrize(
    ("how", "words"),
    [
        ("one_class", ["every training sample has label 0"]),
        ("nan", ["(the first: 4)", "NaN or infinite"]),
        ("labels", ["labels outside 0..2"]),
    ],
)
def test_a_run_on_data_that_cannot_answer_fails_naming_the_dataset_never_ok_or_diverged(
    tmp_path: Path, how: str, words: list[str]
) -> None:
    (tmp_path / "odd.py").write_text(PLUGIN)
    recipe = {**tiny_recipe(data="odd", data_params={"how": how}), "plugins": [str(tmp_path / "odd.py")]}
    recipe["metrics"] = {"condensation": {"every": "every:1"}}
    result = run_tiny(recipe, tmp_path / "out", check=False)
    run = result.runs[0]
    assert run.status == "failed" and run.summary == {}
    last = run.error.strip().splitlines()[-1]
    assert last.startswith("condensekit.errors.DataError: dataset 'odd': ")
    for word in words:
        assert word in last


def test_a_built_in_dataset_whose_params_overflow_to_infinity_fails_before_training(tmp_path: Path) -> None:
    recipe = tiny_recipe(
        data_params={
            "num_classes": 3,
            "dim": 8,
            "train_per_class": 16,
            "test_per_class": 4,
            "noise": 1e308,
            "separation": 1e308,
        }
    )
    run = run_tiny(recipe, tmp_path / "out", check=False).runs[0]
    assert run.status == "failed" and "dataset 'synthetic'" in run.error and "NaN or infinite" in run.error

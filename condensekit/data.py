"""What a dataset plugin returns (:class:`DataInfo` and :class:`DataBundle`), and the checks that the data can
answer the question before a run trains on it (:func:`check_answerable`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch.utils.data import Dataset, TensorDataset

from condensekit.errors import DataError


@dataclass(frozen=True)
class DataInfo:
    """What a model factory needs to know about the data.

    Attributes:
        input_shape: the shape of one sample, e.g. ``(64,)`` or ``(3, 32, 32)``.
        num_classes: the number of classes; labels are integers in ``[0, num_classes)``.
        name: the dataset's name, for logs.
        extra: anything else a dataset wants models to know (mean/std, class names).
    """

    input_shape: tuple[int, ...]
    num_classes: int
    name: str = ""
    extra: dict[str, Any] = field(default_factory=dict, compare=False)


@dataclass
class DataBundle:
    """A dataset's train and test splits plus its :class:`DataInfo`.

    ``train`` and ``test`` are torch ``Dataset`` objects yielding ``(input, label)``. Pass plain
    tensors ``(inputs, labels)`` and they are wrapped in a ``TensorDataset``. Datasets whose samples
    all fit in memory as tensors (``TensorDataset``) are moved to the run's device once and batched
    by indexing, without a DataLoader; any other Dataset is streamed through a DataLoader.
    """

    train: Dataset[Any]
    test: Dataset[Any]
    info: DataInfo

    def __post_init__(self) -> None:
        self.train = as_dataset(self.train)
        self.test = as_dataset(self.test)


def as_dataset(data: Any) -> Dataset[Any]:
    """Wrap an ``(inputs, labels)`` tensor pair in a ``TensorDataset``; pass Datasets through."""
    if isinstance(data, tuple) and len(data) == 2 and all(isinstance(t, torch.Tensor) for t in data):
        inputs, labels = data
        return TensorDataset(inputs.float(), labels.long())
    if isinstance(data, Dataset):
        return data
    raise TypeError(f"expected a torch Dataset or an (inputs, labels) tensor pair, got {type(data).__name__}")


def labels_of(dataset: Dataset[Any]) -> torch.Tensor:
    """All labels of a dataset as a 1-D long tensor (fast for TensorDataset and torchvision datasets)."""
    if isinstance(dataset, TensorDataset):
        return dataset.tensors[1].long()
    for attr in ("targets", "labels"):
        value = getattr(dataset, attr, None)
        if value is not None:
            return torch.as_tensor(value).long()
    return torch.tensor([int(dataset[i][1]) for i in range(len(dataset))], dtype=torch.long)  # type: ignore[arg-type]


def standardize(
    train: torch.Tensor, test: torch.Tensor, dims: tuple[int, ...] = (0,)
) -> tuple[torch.Tensor, torch.Tensor]:
    """Standardize features with the train split's mean and std over ``dims`` (per feature by default).

    A feature that is constant on the train split (std 0, e.g. a border pixel that is 0 in every training
    image) is only centred: it is divided by 1, not by its zero std. Clamping the std at a tiny value
    instead would turn a test value that differs from the constant into a huge input (0 -> 1 becomes 10^6).
    """
    mean = train.mean(dims, keepdim=True)
    std = train.std(dims, keepdim=True)
    scale = torch.where(std > 0, std, torch.ones_like(std))
    return (train - mean) / scale, (test - mean) / scale


STREAMED_CHECKED = 256
"""Samples per split whose inputs are checked for NaN and infinity when a dataset is not held as tensors in
memory (those are checked whole): checking every image of a dataset read from files would cost an epoch."""


def check_answerable(bundle: DataBundle, name: str) -> None:
    """Raise :class:`~condensekit.errors.DataError` unless the data can answer the question a run asks of it.

    Checked before training, so that data without an answer is one clear error naming the dataset, never a
    run that ends ``ok`` with a verdict (one class: the loss is 0 from the start, "it never leaves its
    plateau") or ``diverged`` (NaN inputs): both splits hold samples; every label lies in
    ``[0, num_classes)``; the training split, where the probe is drawn, holds at least two classes (the
    probe takes samples of each); the inputs are finite (all of them for tensors in memory, the first
    :data:`STREAMED_CHECKED` of each split otherwise).

    Args:
        bundle: what the dataset plugin returned.
        name: the dataset's name in the recipe (``data.use``), for the message.
    """
    where = f"dataset {name!r}"
    classes = bundle.info.num_classes
    if classes < 2:
        raise DataError(
            f"{where}: its DataInfo says num_classes = {classes}; condensation compares samples of different "
            "classes, so at least 2 are needed; fix the dataset plugin's DataInfo or use other data"
        )
    for split, dataset in (("training", bundle.train), ("test", bundle.test)):
        size = len(dataset)  # type: ignore[arg-type]
        if size == 0:
            raise DataError(
                f"{where}: the {split} split holds no samples; give it samples (check its params)"
            )
        labels = labels_of(dataset)
        outside = labels[(labels < 0) | (labels >= classes)]
        if len(outside):
            raise DataError(
                f"{where}: the {split} split has labels outside 0..{classes - 1} (e.g. {int(outside[0])}); "
                "labels must be 0 to num_classes - 1: fix the labels or DataInfo.num_classes"
            )
        if split == "training" and len(present := labels.unique()) < 2:
            raise DataError(
                f"{where}: every training sample has label {int(present[0])}; the probe is drawn from the "
                "training split and compares classes, so it needs samples of at least 2 classes; use data "
                "with two or more classes"
            )
        bad, first = _non_finite_inputs(dataset)
        if bad:
            raise DataError(
                f"{where}: {bad:,} sample{'s' if bad > 1 else ''} of the {split} split (the first: {first}) "
                "hold NaN or infinite inputs, which make the loss NaN, not a result; clean the data or fix "
                "the dataset plugin"
            )


def _non_finite_inputs(dataset: Dataset[Any]) -> tuple[int, int]:
    """``(how many samples have a NaN or infinite input, the first one's index)``; ``(0, -1)`` when none."""
    if isinstance(dataset, TensorDataset):
        inputs = dataset.tensors[0]
        bad = ~inputs.reshape(len(inputs), -1).isfinite().all(dim=1)
    else:
        count = min(len(dataset), STREAMED_CHECKED)  # type: ignore[arg-type]
        bad = torch.tensor([not _finite(dataset[i][0]) for i in range(count)], dtype=torch.bool)
    found = bad.nonzero().flatten()
    return len(found), int(found[0]) if len(found) else -1


def _finite(sample: Any) -> bool:
    """Whether one sample's input is finite; an input that is no tensor or array (a PIL image, whose pixels
    are bytes) counts as finite."""
    try:
        return bool(torch.as_tensor(sample).isfinite().all())
    except (TypeError, ValueError, RuntimeError):
        return True

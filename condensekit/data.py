"""What a dataset plugin returns: :class:`DataInfo` and :class:`DataBundle`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch.utils.data import Dataset, TensorDataset


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

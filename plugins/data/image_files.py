"""A torch Dataset over image files on disk, decoded on access (used by ``tiny_imagenet``).

It lives in its own module, importable by path, so that DataLoader worker processes can unpickle it;
plugin modules themselves must not import torch at import time.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset


def decode_image(path: str, size: int | None) -> torch.Tensor:
    """One image file as a float ``(3, H, W)`` tensor in [0, 1], resized to ``size`` x ``size`` if given."""
    from PIL import Image

    with Image.open(path) as img:
        rgb = img.convert("RGB")  # a few Tiny-ImageNet images are grayscale
        if size is not None and rgb.size != (size, size):
            rgb = rgb.resize((size, size), Image.Resampling.BILINEAR)
        array = np.asarray(rgb, dtype=np.uint8)
    return torch.from_numpy(array.copy()).permute(2, 0, 1).float().div_(255.0)


class ImageFileDataset(Dataset[tuple[torch.Tensor, int]]):
    """Images read from ``paths`` with integer ``labels``, normalized per channel and optionally flattened.

    Attributes:
        targets: the labels (``condensekit.data.labels_of`` reads them without decoding any image).
    """

    def __init__(
        self,
        paths: Sequence[str],
        labels: Sequence[int],
        mean: Sequence[float],
        std: Sequence[float],
        size: int | None = None,
        flatten: bool = False,
    ):
        self.paths = list(paths)
        self.targets = list(labels)
        self.mean = torch.tensor(mean, dtype=torch.float32).view(-1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(-1, 1, 1)
        self.size = size
        self.flatten = flatten

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        x = (decode_image(self.paths[index], self.size) - self.mean) / self.std
        return (x.flatten() if self.flatten else x), self.targets[index]

    def to_tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Decode every image once: ``(inputs, labels)`` for the core's in-memory path."""
        inputs = torch.stack([self[i][0] for i in range(len(self))]) if self.paths else torch.empty(0)
        return inputs, torch.tensor(self.targets, dtype=torch.long)

"""The minibatch stream of a run: endless shuffled batches whose position can be saved and restored.

A replay (:mod:`condensekit.replay`) re-runs training steps from a snapshot, so the stream must hand out the
same batches again: :meth:`BatchStream.state` is everything that decides the next batch (the shuffling
generator, the current epoch's order, the position in it) and :meth:`BatchStream.restore` puts it back.

The batches are those of the loops this class replaces, bit for bit: a ``TensorDataset`` is moved to the
device once and indexed with ``torch.randperm`` orders (the last partial batch of an epoch is dropped); any
other Dataset is batched as a shuffled ``torch.utils.data.DataLoader`` without workers batches it (the same
draws from the generator per epoch: the iterator's base seed, the order, and the sampler's discarded
second order; the same ``default_collate``), so runs recorded before keep their numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch.utils.data import Dataset, TensorDataset, default_collate


@dataclass(frozen=True)
class BatchState:
    """Where a :class:`BatchStream` stands: its generator's state, the epoch's order and the next position."""

    generator: torch.Tensor
    order: torch.Tensor | None
    position: int


class BatchStream:
    """Endless shuffled minibatches of ``dataset`` on ``device``, reproducible from ``seed``.

    Args:
        dataset: the training split.
        batch_size: samples per batch (a ``TensorDataset`` smaller than that gives one batch of all).
        device: where batches are put.
        seed: the run's seed; the shuffling generator is seeded with ``seed + 1``.
    """

    def __init__(self, dataset: Dataset[Any], batch_size: int, device: torch.device, seed: int):
        self.dataset, self.device = dataset, device
        self.generator = torch.Generator().manual_seed(seed + 1)
        self.tensors: tuple[torch.Tensor, torch.Tensor] | None = None
        if isinstance(dataset, TensorDataset):
            x, y = (t.to(device) for t in dataset.tensors)
            self.tensors = (x, y)
            self.size = len(y)
            self.batch_size = min(batch_size, self.size)
            self.drop_last = True
        else:
            self.size = len(dataset)  # type: ignore[arg-type]
            self.batch_size = batch_size
            self.drop_last = self.size >= batch_size
        self.order: torch.Tensor | None = None
        self.position = 0  # index of the next batch's first sample in ``order``

    def __iter__(self) -> BatchStream:
        return self

    def __next__(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self.order is None or self._epoch_done():
            self._new_epoch()
        assert self.order is not None
        start, self.position = self.position, min(self.position + self.batch_size, self.size)
        idx = self.order[start : self.position]
        if self.tensors is not None:
            x, y = self.tensors
            return x[idx], y[idx].long()
        indices = idx.tolist()
        many = getattr(self.dataset, "__getitems__", None)  # as the DataLoader's fetcher reads a batch
        items = many(indices) if many else [self.dataset[i] for i in indices]
        x, y = default_collate(items)
        return x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True).long()

    def _epoch_done(self) -> bool:
        left = self.size - self.position
        return left == 0 or (self.drop_last and left < self.batch_size)

    def _new_epoch(self) -> None:
        if self.tensors is not None:
            self.order = torch.randperm(self.size, generator=self.generator).to(self.device)
        else:
            if self.order is not None:  # RandomSampler draws a second, unused order at the end of each epoch
                torch.randperm(self.size, generator=self.generator)
            torch.empty((), dtype=torch.int64).random_(generator=self.generator)  # the iterator's base seed
            self.order = torch.randperm(self.size, generator=self.generator)
        self.position = 0

    def state(self) -> BatchState:
        """Everything that decides the batches to come (the order tensor is shared: it is never changed)."""
        return BatchState(self.generator.get_state(), self.order, self.position)

    def restore(self, state: BatchState) -> None:
        """Continue from ``state`` (from :meth:`state` of this stream)."""
        self.generator.set_state(state.generator)
        self.order, self.position = state.order, state.position

"""The batch stream: the batches of the loops it replaced, and a state that replays them."""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader, Dataset, TensorDataset

from condensekit.batches import BatchStream

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from data_path import WrappedDataset as Wrapped  # noqa: E402  (the benchmark's: not a TensorDataset)

CPU = torch.device("cpu")


def _data(n: int) -> TensorDataset:
    return TensorDataset(torch.arange(n * 3, dtype=torch.float32).reshape(n, 3), torch.arange(n) % 4)


def _tensor_reference(dataset: TensorDataset, batch_size: int, seed: int):
    """The trainer's former in-memory loop."""
    generator = torch.Generator().manual_seed(seed + 1)
    x, y = dataset.tensors
    size = min(batch_size, len(y))
    while True:
        order = torch.randperm(len(y), generator=generator)
        for i in range(0, len(y) - size + 1, size):
            yield x[order[i : i + size]], y[order[i : i + size]].long()


def _loader_reference(dataset: Dataset, batch_size: int, seed: int):
    """The trainer's former DataLoader loop."""
    loader = DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=True,
        drop_last=len(dataset) >= batch_size,  # type: ignore[arg-type]
        generator=torch.Generator().manual_seed(seed + 1),
    )
    while True:
        for x, y in loader:
            yield x, y.long()


@pytest.mark.parametrize(("n", "batch"), [(23, 5), (20, 5), (3, 5)])
@pytest.mark.parametrize("kind", ["tensors", "dataloader"])
def test_the_stream_gives_the_batches_of_the_loops_it_replaced(kind: str, n: int, batch: int):
    data = _data(n)
    if kind == "tensors":
        stream, reference = BatchStream(data, batch, CPU, 7), _tensor_reference(data, batch, 7)
    else:
        stream, reference = (
            BatchStream(Wrapped(data), batch, CPU, 7),
            _loader_reference(Wrapped(data), batch, 7),
        )
    for (x, y), (rx, ry) in zip(itertools.islice(stream, 30), itertools.islice(reference, 30), strict=True):
        assert torch.equal(x, rx) and torch.equal(y, ry)
        assert y.dtype == torch.long


@pytest.mark.parametrize("kind", ["tensors", "dataloader"])
def test_a_restored_state_gives_the_same_batches_again_across_epoch_ends(kind: str):
    data = _data(23) if kind == "tensors" else Wrapped(_data(23))
    stream = BatchStream(data, 5, CPU, 0)
    for _ in range(3):
        next(stream)
    saved = stream.state()
    first = [next(stream) for _ in range(12)]  # several epochs of 4 batches
    stream.restore(saved)
    again = [next(stream) for _ in range(12)]
    assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(first, again, strict=True))
    assert not torch.equal(first[0][0], first[4][0])  # a new epoch is shuffled anew


def test_a_state_taken_before_the_first_batch_restores_to_the_beginning():
    stream = BatchStream(_data(10), 4, CPU, 3)
    saved = stream.state()
    first = next(stream)
    next(stream)
    stream.restore(saved)
    assert torch.equal(next(stream)[0], first[0])

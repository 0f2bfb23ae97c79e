"""condensekit.snapshots: a restored snapshot trains on exactly as the run did."""

from __future__ import annotations

import random

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import TensorDataset

from condensekit.batches import BatchStream
from condensekit.snapshots import TrainingState


class Counting:
    """A trick with state of its own: a step counter and a running norm."""

    def __init__(self) -> None:
        self.steps, self.norms = 0, [0.0]

    def after_step(self, model: nn.Module) -> None:
        self.steps += 1
        self.norms.append(float(sum(p.detach().norm() for p in model.parameters())))


class WithStateDict:
    """A trick that says how to save itself."""

    def __init__(self) -> None:
        self.seen = torch.zeros(3)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {"seen": self.seen}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.seen = state["seen"]


def setup():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 3))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    data = TensorDataset(torch.randn(40, 5), torch.arange(40) % 3)
    batches = BatchStream(data, 8, torch.device("cpu"), 0)
    tricks = {"counting": Counting(), "saved": WithStateDict()}
    return model, optimizer, batches, tricks


def step(model, optimizer, batches, tricks) -> float:
    x, y = next(batches)
    noise = random.random() + float(np.random.rand())  # Python's and NumPy's generators are part of the state
    loss = F.cross_entropy(model(x), y) * (1 + 1e-3 * noise)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    tricks["counting"].after_step(model)
    tricks["saved"].seen += 1
    return float(loss.detach())


def test_a_restored_snapshot_gives_the_same_steps_bit_for_bit():
    model, optimizer, batches, tricks = setup()
    state = TrainingState(model, optimizer, tricks, batches)
    for _ in range(7):  # momentum buffers, BatchNorm statistics, an epoch boundary ahead
        step(model, optimizer, batches, tricks)
    snapshot = state.capture(7)
    first = [step(model, optimizer, batches, tricks) for _ in range(9)]
    after = {k: v.clone() for k, v in model.state_dict().items()}
    counted, seen = tricks["counting"].steps, tricks["saved"].seen.clone()
    state.restore(snapshot)
    assert tricks["counting"].steps == 7 and tricks["saved"].seen.tolist() == [7.0] * 3
    again = [step(model, optimizer, batches, tricks) for _ in range(9)]
    assert again == first
    assert all(torch.equal(after[k], v) for k, v in model.state_dict().items())
    assert tricks["counting"].steps == counted and torch.equal(tricks["saved"].seen, seen)
    state.restore(snapshot)  # a snapshot restores more than once: restoring copied it
    assert [step(model, optimizer, batches, tricks) for _ in range(9)] == first


def test_restoring_the_model_alone_leaves_the_optimizer_and_the_stream_as_they_are():
    model, optimizer, batches, tricks = setup()
    state = TrainingState(model, optimizer, tricks, batches)
    snapshot = state.capture(0)
    step(model, optimizer, batches, tricks)
    position = batches.state().position
    state.restore_model(snapshot)
    assert all(torch.equal(snapshot.tensors[name], p) for name, p in model.named_parameters())
    assert batches.state().position == position and tricks["counting"].steps == 1
    assert snapshot.nbytes >= sum(p.numel() * 4 for p in model.parameters())


def test_a_snapshot_taken_into_a_released_ones_memory_is_a_copy_of_now_and_restores_exactly() -> None:
    model, optimizer, batches, tricks = setup()
    state = TrainingState(model, optimizer, tricks, batches)
    old = state.capture(0)
    kept = {name: t.clone() for name, t in old.tensors.items()}
    for _ in range(3):
        step(model, optimizer, batches, tricks)
    state.release(old)  # its memory goes to the next capture
    now = state.capture(3)
    assert all(now.tensors[n].data_ptr() == old.tensors[n].data_ptr() for n in now.tensors)  # reused
    live = dict(model.named_parameters())
    assert all(
        torch.equal(now.tensors[n], t) and now.tensors[n].data_ptr() != t.data_ptr() for n, t in live.items()
    )
    assert any(not torch.equal(now.tensors[n], kept[n]) for n in live)  # not the released values
    losses = [step(model, optimizer, batches, tricks) for _ in range(4)]
    state.restore(now)
    assert [step(model, optimizer, batches, tricks) for _ in range(4)] == losses


def test_the_modules_are_walked_once_but_a_replaced_tensor_is_followed() -> None:
    model, optimizer, batches, tricks = setup()
    state = TrainingState(model, optimizer, tricks, batches)
    state.capture(0)
    model[1].running_mean = torch.full((16,), 7.0)  # a module replaces a buffer with a new tensor
    snapshot = state.capture(1)
    assert torch.equal(snapshot.tensors["buffer:1.running_mean"], torch.full((16,), 7.0))

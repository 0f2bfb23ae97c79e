"""In-memory snapshots of a run's whole training state, for deterministic replay (:mod:`condensekit.replay`).

A snapshot holds everything the training steps after it read: the model's parameters and buffers, the
optimizer's state (with its parameter groups: a trick may change the learning rate), the state of the run's
tricks that act during a step, the random number generators (torch, CUDA, Python, NumPy) and the position
of the minibatch stream. Restoring it and running the same steps again gives the same numbers, bit for bit
on the CPU with a fixed thread count.

A trick's state is its instance attributes, deep-copied; references to the model, its modules, parameters
and buffers and to the optimizer are kept as references (they are restored separately). A trick that keeps
state a deep copy cannot handle gives itself ``state_dict()`` and ``load_state_dict(state)`` methods, which
are used instead.
"""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from condensekit.batches import BatchState, BatchStream

SPARE_BYTES = 256 * 2**20
"""At most this much memory of released snapshots is kept for later captures to copy into."""


_ATOMS = (int, float, bool, str, type(None))


def _clone_tree(value: Any) -> Any:
    """A copy of nested dicts/lists/tuples in which every tensor is cloned (an optimizer's state dict)."""
    if isinstance(value, _ATOMS):  # most of an optimizer's param_groups: nothing to copy
        return value
    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    if isinstance(value, dict):
        return {key: _clone_tree(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_clone_tree(item) for item in value)
    return copy.copy(value)


def _tensor_bytes(value: Any) -> int:
    if isinstance(value, _ATOMS):
        return 0
    if isinstance(value, torch.Tensor):
        return value.nbytes
    if isinstance(value, dict):
        return sum(_tensor_bytes(item) for item in value.values())
    if isinstance(value, list | tuple):
        return sum(_tensor_bytes(item) for item in value)
    return 0


@dataclass
class Snapshot:
    """The training state after ``step`` optimizer steps (see :class:`TrainingState`)."""

    step: int
    tensors: dict[str, torch.Tensor]
    optimizer: dict[str, Any]
    components: dict[str, Any]
    rng: tuple[Any, ...]
    batches: BatchState
    nbytes: int


class TrainingState:
    """Takes and restores :class:`Snapshot` s of one run's training state.

    Args:
        model: the model being trained.
        optimizer: its optimizer.
        components: ``name -> object`` of the run's components whose state a training step may change
            (tricks with ``before_step``, ``after_step`` or ``extra_loss``).
        batches: the run's minibatch stream.
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        components: dict[str, Any],
        batches: BatchStream,
    ):
        self.model, self.optimizer, self.components, self.batches = model, optimizer, components, batches
        self.cuda = any(t.is_cuda for t in model.parameters())
        kept: list[Any] = [model, optimizer, *model.modules(), *model.parameters(), *model.buffers()]
        self._memo = {id(obj): obj for obj in kept}  # what a trick's deep copy keeps as a reference
        self._spare: list[dict[str, torch.Tensor]] = []
        self._slots: list[tuple[str, dict[str, Any], str]] | None = (
            None  # tensors of released snapshots, to copy into
        )

    def _named_tensors(self) -> dict[str, torch.Tensor]:
        """Every parameter and buffer (persistent or not) by name (the modules are walked once; each
        module's entry is read anew, so a tensor a module replaces is followed)."""
        if self._slots is None:
            modules = list(self.model.named_modules(remove_duplicate=False))
            self._slots = [
                (_dotted(name, key), module._parameters, key)
                for name, module in modules
                for key in module._parameters
            ]
            self._slots += [
                ("buffer:" + _dotted(name, key), module._buffers, key)
                for name, module in modules
                for key in module._buffers
            ]
        return {name: t for name, d, key in self._slots if (t := d.get(key)) is not None}

    def capture(self, step: int) -> Snapshot:
        """A snapshot of the state after ``step`` steps."""
        named = {name: t.detach() for name, t in self._named_tensors().items()}
        tensors = self._spare.pop() if self._spare else None
        if tensors is not None and all(
            name in tensors and tensors[name].shape == t.shape and tensors[name].dtype == t.dtype
            for name, t in named.items()
        ):  # into a released snapshot's memory: fresh memory is slower to write than to copy
            torch._foreach_copy_([tensors[name] for name in named], list(named.values()))
            tensors = {name: tensors[name] for name in named}
        else:
            tensors = {name: t.clone() for name, t in named.items()}
        optimizer = _clone_tree(self.optimizer.state_dict())
        components = {name: self._component_state(obj) for name, obj in self.components.items()}
        rng = (
            torch.get_rng_state(),
            torch.cuda.get_rng_state_all() if self.cuda else None,
            random.getstate(),
            _numpy_state(),
        )
        nbytes = sum(t.nbytes for t in tensors.values()) + _tensor_bytes(optimizer)
        return Snapshot(step, tensors, optimizer, components, rng, self.batches.state(), nbytes)

    def release(self, snapshot: Snapshot) -> None:
        """``snapshot`` is no longer needed: its memory may be reused by a later :meth:`capture`."""
        if (len(self._spare) + 1) * snapshot.nbytes <= SPARE_BYTES:
            self._spare.append(snapshot.tensors)

    def restore_model(self, snapshot: Snapshot) -> None:
        """Put back the model's parameters and buffers only (enough to measure at ``snapshot.step``)."""
        with torch.no_grad():
            for name, t in self._named_tensors().items():
                t.copy_(snapshot.tensors[name])

    def restore(self, snapshot: Snapshot) -> None:
        """Put back the whole training state: training goes on from ``snapshot.step`` as it did then."""
        self.restore_model(snapshot)
        self.optimizer.load_state_dict(_clone_tree(snapshot.optimizer))  # a copy: the snapshot stays intact
        for name, obj in self.components.items():
            self._restore_component(obj, snapshot.components[name])
        torch_state, cuda_states, python_state, numpy_state = snapshot.rng
        torch.set_rng_state(torch_state)
        if cuda_states is not None:
            torch.cuda.set_rng_state_all(cuda_states)
        random.setstate(python_state)
        if numpy_state is not None:
            import numpy as np

            np.random.set_state(numpy_state)
        self.batches.restore(snapshot.batches)

    def _component_state(self, obj: Any) -> Any:
        if callable(getattr(obj, "state_dict", None)) and callable(getattr(obj, "load_state_dict", None)):
            return _clone_tree(obj.state_dict())
        return copy.deepcopy(vars(obj), dict(self._memo))

    def _restore_component(self, obj: Any, state: Any) -> None:
        if callable(getattr(obj, "state_dict", None)) and callable(getattr(obj, "load_state_dict", None)):
            obj.load_state_dict(_clone_tree(state))
            return
        fresh = copy.deepcopy(state, dict(self._memo))  # a copy: the snapshot may be restored again
        vars(obj).clear()
        vars(obj).update(fresh)


def _dotted(module: str, key: str) -> str:
    return f"{module}.{key}" if module else key


def _numpy_state() -> Any:
    try:
        import numpy as np
    except ImportError:  # numpy is optional for the loop itself
        return None
    return np.random.get_state()

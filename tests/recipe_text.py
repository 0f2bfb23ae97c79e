"""Pieces of the tests' recipes written once: a short run on the small synthetic dataset that most end-to-end
tests train on."""

from __future__ import annotations


def synthetic_training(
    steps: int, lr: float, eval_every: str, train_per_class: int = 30, probe_per_class: int = 5
) -> str:
    """The ``[data]``, ``[train]`` and ``[probe]`` tables of a short run on a 3-class, 8-dimensional synthetic
    dataset, with a blank line on each side."""
    return f"""
[data]
use = "synthetic"
num_classes = 3
dim = 8
train_per_class = {train_per_class}
test_per_class = 10
batch_size = 30

[train]
steps = {steps}
lr = {lr}
eval_every = "{eval_every}"

[probe]
per_class = {probe_per_class}

"""

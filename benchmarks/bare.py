"""The bare PyTorch training loop that the benchmarks compare condensekit with (one copy, shared).

``sgd_steps`` runs ``steps`` SGD steps on tensors already on ``device``: shuffled batches, cross-entropy,
losses kept on the device and read back once at the end, as a careful hand-written loop would.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn


def sgd_steps(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    batch: int,
    steps: int,
    lr: float,
    clock: Callable[[], float] = time.perf_counter,
    generator: torch.Generator | None = None,
) -> float:
    """Seconds (by ``clock``) for ``steps`` SGD steps of ``model`` on ``(x, y)``, batches of ``batch``."""
    device = x.device
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    losses = []
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = clock()
    step = 0
    while step < steps:
        order = torch.randperm(len(y), generator=generator).to(device)
        for i in range(0, len(y) - batch + 1, batch):
            idx = order[i : i + batch]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(loss.detach())
            step += 1
            if step == steps:
                break
    torch.stack(losses).cpu()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return clock() - start

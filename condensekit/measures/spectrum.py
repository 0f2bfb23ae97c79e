"""The spectrum of a matrix: the strength of its common direction (``rho1``) and its effective rank.

Both come from one set of singular values. The matrix is a layer's features (samples x features), a
weight gradient or a weight update; higher-rank tensors are flattened to ``(rows, -1)``.
"""

from __future__ import annotations

import math

import torch


def spectrum(m: torch.Tensor, rank: bool = True) -> dict[str, torch.Tensor]:
    """From one set of singular values of ``m`` (rows, -1): ``rho1 = sigma_1^2 / ||M||_F^2`` and, with
    ``rank``, ``erank = exp(-sum p_k log p_k)``, ``p_k = sigma_k / sum sigma`` (Roy & Vetterli 2007), as 0-d
    float64 tensors.

    No host sync, and no exception: a zero matrix gives NaN, and so does a non-finite one (its SVD is not
    attempted; a zero matrix stands in for it).
    """
    m = m.reshape(m.shape[0], -1).double()
    finite = torch.isfinite(m).all()
    s = torch.linalg.svdvals(torch.where(finite, m, 0.0))
    energy = s.square().sum()
    nan = torch.tensor(math.nan, dtype=torch.float64, device=m.device)
    out = {"rho1": torch.where(finite & (energy > 0), s[0].square() / energy, nan)}
    if rank:
        p = s / s.sum()
        entropy = -torch.where(p > 0, p * p.log(), 0.0).sum()
        out["erank"] = torch.where(finite & (energy > 0), entropy.exp(), nan)
    return out


def common_direction_strength(m: torch.Tensor) -> float:
    """``sigma_1^2 / ||M||_F^2`` of a matrix (higher-rank tensors are flattened to (rows, -1)); NaN for a zero
    or non-finite matrix."""
    return float(spectrum(m, rank=False)["rho1"])


def effective_rank(m: torch.Tensor) -> float:
    """``exp(-sum p_k log p_k)`` with ``p_k = sigma_k / sum sigma`` (Roy & Vetterli 2007); NaN for a zero or
    non-finite matrix."""
    return float(spectrum(m)["erank"])

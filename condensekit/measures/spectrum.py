"""The spectrum of a matrix: the strength of its common direction (``rho1``) and its effective rank.

Both come from one set of singular values. The matrix is a layer's features (samples x features), a
weight gradient or a weight update; higher-rank tensors are flattened to ``(rows, -1)``.

The singular values are read from the eigenvalues of the smaller Gram matrix (``M M^T`` or ``M^T M``,
``sigma_k^2 = lambda_k``), formed and decomposed in float64, for a whole stack of same-shaped matrices at
once (:func:`spectra`): a symmetric eigenvalue problem costs about half an SVD of the same size, and one
batched call replaces one call per layer. The largest eigenvalue, hence ``rho1``, is as accurate as the
SVD's (relative error near float64 rounding). Eigenvalues below ``n * eps * lambda_max`` (``n`` the Gram's
size, ``eps`` float64's rounding) are rounding noise of the Gram product and are counted as zero: singular
values below about ``1e-7 sigma_1``, the size of float32's own rounding of the features, so ``erank``
agrees with the SVD's within ``1e-5`` relative, and a rank-deficient float64 matrix has the effective rank
of its rank (``tests/test_measures.py`` checks both against ``torch.linalg.svdvals`` on random,
rank-deficient and ill-conditioned matrices).
"""

from __future__ import annotations

import math

import torch

_EPS64 = torch.finfo(torch.float64).eps


def spectra(m: torch.Tensor, rank: bool = True) -> dict[str, torch.Tensor]:
    """``rho1 = sigma_1^2 / ||M||_F^2`` and, with ``rank``, ``erank = exp(-sum p_k log p_k)``,
    ``p_k = sigma_k / sum sigma`` (Roy & Vetterli 2007), of each matrix of a stack ``m`` (B, rows, ...), as
    (B,) float64 tensors.

    No host sync, and no exception: a zero matrix gives NaN, and so does a non-finite one (its spectrum is
    not computed; a zero matrix stands in for it).
    """
    m = m.reshape(m.shape[0], m.shape[1], -1).double()
    finite = torch.isfinite(m).all(dim=(1, 2))
    m = torch.where(finite[:, None, None], m, 0.0)
    gram = m @ m.transpose(1, 2) if m.shape[1] <= m.shape[2] else m.transpose(1, 2) @ m
    eigenvalues = torch.linalg.eigvalsh(gram)  # ascending
    largest = eigenvalues[:, -1:]
    noise = gram.shape[-1] * _EPS64 * largest
    squares = torch.where(eigenvalues > noise, eigenvalues, 0.0)  # sigma_k^2
    energy = m.square().sum(dim=(1, 2))  # ||M||_F^2, read from M itself
    usable = finite & (energy > 0)
    nan = torch.full_like(energy, math.nan)
    out = {"rho1": torch.where(usable, largest[:, 0] / energy, nan)}  # 0/0 of a zero matrix: masked
    if rank:
        sigma = squares.sqrt()
        p = sigma / sigma.sum(-1, keepdim=True)
        entropy = -torch.where(p > 0, p * p.log(), 0.0).sum(-1)
        out["erank"] = torch.where(usable, entropy.exp(), nan)
    return out


def spectrum(m: torch.Tensor, rank: bool = True) -> dict[str, torch.Tensor]:
    """:func:`spectra` of one matrix ``m`` (rows, ...): ``rho1`` and, with ``rank``, ``erank`` as 0-d float64
    tensors (no host sync; NaN for a zero or non-finite matrix)."""
    return {key: value[0] for key, value in spectra(m[None], rank).items()}


def common_direction_strength(m: torch.Tensor) -> float:
    """``sigma_1^2 / ||M||_F^2`` of a matrix (higher-rank tensors are flattened to (rows, -1)); NaN for a zero
    or non-finite matrix."""
    return float(spectrum(m, rank=False)["rho1"])


def effective_rank(m: torch.Tensor) -> float:
    """``exp(-sum p_k log p_k)`` with ``p_k = sigma_k / sum sigma`` (Roy & Vetterli 2007); NaN for a zero or
    non-finite matrix."""
    return float(spectrum(m)["erank"])

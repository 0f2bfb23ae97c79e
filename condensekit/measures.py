"""Pure tensor functions behind the metrics (docs/metrics.md). No nn.Module state, no hooks.

Each function here takes one feature matrix (or tensor ``(N, ...)``, flattened per sample) and returns
Python floats; third-party metrics are welcome to reuse them. They share one implementation with the
batched, tensor-valued versions in :mod:`condensekit.batched_measures` (many layers at once, no host
sync), which the shipped ``condensation`` metric uses. Pair statistics never loop over pairs and never
form an N x N matrix where class sums suffice. float64 input is computed in float64; float32 input in
float32 where a sum is short, in float64 where it needs it (within 1e-6 of float64 either way).
Non-finite input gives NaN, never an exception. The neural-collapse measures live in
:mod:`condensekit.collapse` and the weight-gradient similarities in :mod:`condensekit.weight_grads`;
both are re-exported here.
"""

from __future__ import annotations

import math

import torch

from condensekit.batched_measures import (
    ClassIndex,
    flatten,
    is_finite,
    linear_wgrad_inter,
    similarity_statistics,
    spectrum,
)
from condensekit.collapse import (
    NC_SB_RTOL,
    class_means,
    nc1_within_between,
    nc2_simplex,
    nc3_self_duality,
    nc4_ncc_mismatch,
)
from condensekit.weight_grads import conv_weight_grad_similarity

__all__ = [
    "EPS",
    "NC_SB_RTOL",
    "centered",
    "class_means",
    "classmean_similarity",
    "common_direction_strength",
    "conv_weight_grad_similarity",
    "cosine_gram",
    "dead_fraction",
    "effective_rank",
    "energy_shares",
    "flatten",
    "is_finite",
    "linear_weight_grad_similarity",
    "masked_mean",
    "mean_norm",
    "nc1_within_between",
    "nc2_simplex",
    "nc3_self_duality",
    "nc4_ncc_mismatch",
    "pair_masks",
    "pair_means",
    "pair_similarity",
]

EPS = 1e-12


def _stack_of_one(x: torch.Tensor) -> torch.Tensor:
    """(N, ...) -> (1, N, D), in the input's floating dtype (a view when possible)."""
    x = x if x.is_floating_point() else x.double()
    return x.reshape(1, x.shape[0], -1)


def cosine_gram(x: torch.Tensor) -> torch.Tensor:
    """Matrix of ``cos(x_i, x_j)`` for the rows of ``x`` (any shape ``(N, ...)``), float64."""
    x = flatten(x)
    norms = x.norm(dim=1)
    return (x @ x.T) / (norms[:, None] * norms[None, :] + EPS)


def pair_masks(labels: torch.Tensor) -> dict[str, torch.Tensor]:
    """Boolean (N, N) masks of the pairs i < j: ``inter`` (different class), ``intra`` (same), ``all``."""
    n = labels.shape[0]
    upper = torch.ones(n, n, dtype=torch.bool, device=labels.device).triu(diagonal=1)
    same = labels[:, None] == labels[None, :]
    return {"inter": upper & ~same, "intra": upper & same, "all": upper}


def masked_mean(matrix: torch.Tensor, mask: torch.Tensor) -> float:
    """Mean of ``matrix`` over ``mask``; NaN when the mask is empty."""
    count = int(mask.sum())
    return float(matrix[mask].sum() / count) if count else math.nan


def pair_means(gram: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    """Means of a symmetric pair matrix over inter-class, intra-class and all pairs i < j.

    Uses block sums instead of masks: with one-hot ``Y``, the same-class total is ``trace(Y^T G Y)``;
    removing the diagonal and halving gives the sum over pairs i < j.
    """
    classes = ClassIndex.of(labels)
    gram, onehot = gram.double(), classes.onehot
    sums = {
        "all": (gram.sum() - gram.diagonal().sum()) / 2,
        "intra": ((onehot.T @ gram @ onehot).trace() - gram.diagonal().sum()) / 2,
    }
    sums["inter"] = sums["all"] - sums["intra"]
    return {
        k: float(sums[k] / classes.pairs[k]) if classes.pairs[k] else math.nan
        for k in ("inter", "intra", "all")
    }


def pair_similarity(x: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    """Mean ``cos(x_i, x_j)`` over inter-class, intra-class and all pairs i < j.

    The Gram matrix of the unit rows is never formed: its total is ``|sum_i u_i|^2`` and its
    same-class total ``sum_c |sum_{i in c} u_i|^2``, which costs O(N D) instead of O(N^2 D).
    """
    stats = similarity_statistics(_stack_of_one(x), ClassIndex.of(labels))
    return {k: float(stats[k][0]) for k in ("inter", "intra", "all")}


def energy_shares(x: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    """Energy decomposition of the unit-normalised features ``u_i = h_i / |h_i|`` (zero features dropped).

    With ``ubar`` the mean of the ``u_i`` and ``ubar_c`` the class means, ``1 = mean_i |u_i|^2`` splits into
    ``share_common = |ubar|^2`` (a direction shared by all samples),
    ``share_class = mean_i |ubar_{y_i} - ubar|^2`` (what tells the classes apart) and
    ``share_sample = mean_i |u_i - ubar_{y_i}|^2`` (what is left to each sample). They sum to 1. With N
    samples and no zero feature, ``feat_all = (N share_common - 1) / (N - 1)``. All three are NaN when every
    feature is zero. Returned as ``{"common", "class", "sample"}``.
    """
    stats = similarity_statistics(_stack_of_one(x), ClassIndex.of(labels), shares=True)
    return {k: float(stats[f"share_{k}"][0]) for k in ("common", "class", "sample")}


def centered(x: torch.Tensor) -> torch.Tensor:
    """Subtract the mean over samples (rows), in float64."""
    x = flatten(x)
    return x - x.mean(0, keepdim=True)


def classmean_similarity(x: torch.Tensor, labels: torch.Tensor) -> float:
    """Mean over class pairs c < c' of ``cos(mu_c, mu_c')`` of the class-mean features (NaN for one class)."""
    return float(
        similarity_statistics(_stack_of_one(x), ClassIndex.of(labels), class_means=True)["classmean"][0]
    )


def linear_weight_grad_similarity(
    g: torch.Tensor, a: torch.Tensor, labels: torch.Tensor, bias: bool = True
) -> float:
    """Inter-class mean cosine of per-sample weight gradients of a linear layer.

    The per-sample gradient of ``[W, b]`` is ``g_i [a_i, 1]^T``; its cosine with sample j's is
    ``cos(g_i, g_j) * cos(a_i', a_j')`` (``a'`` with the trailing 1 when ``bias``), so the per-sample
    gradients are never formed.

    Args:
        g: feature gradients ``d loss_i / d h_i``, shape (N, out).
        a: layer inputs, shape (N, in).
        labels: (N,) class labels.
        bias: whether the layer has a bias (it is part of the parameter vector).
    """
    return float(linear_wgrad_inter(_stack_of_one(g), _stack_of_one(a), ClassIndex.of(labels), bias)[0])


def common_direction_strength(m: torch.Tensor) -> float:
    """``sigma_1^2 / ||M||_F^2`` of a matrix (higher-rank tensors are flattened to (rows, -1)); NaN for a zero
    or non-finite matrix."""
    return float(spectrum(m, rank=False)["rho1"])


def effective_rank(m: torch.Tensor) -> float:
    """``exp(-sum p_k log p_k)`` with ``p_k = sigma_k / sum sigma`` (Roy & Vetterli 2007); NaN for a zero or
    non-finite matrix."""
    return float(spectrum(m)["erank"])


def mean_norm(x: torch.Tensor) -> float:
    """Mean over samples of the per-sample Euclidean norm."""
    return float(flatten(x).norm(dim=1).mean())


def dead_fraction(pre_activation: torch.Tensor) -> float:
    """Fraction of units (flattened features) that are <= 0 on every sample: dead for ReLU-like layers.

    NaN when a feature is not finite.
    """
    x = flatten(pre_activation)
    return float((x <= 0).all(dim=0).double().mean()) if is_finite(x) else math.nan

"""Pure tensor functions behind the metrics (METRICS.md). No nn.Module state, no hooks.

All pair statistics are computed from row-normalised Gram matrices in float64; no loop over pairs.
Third-party metrics are welcome to reuse these.
"""

from __future__ import annotations

import math

import torch

EPS = 1e-12


def flatten(x: torch.Tensor) -> torch.Tensor:
    """(N, ...) -> (N, D) in float64."""
    return x.reshape(x.shape[0], -1).double()


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


def _class_onehot(labels: torch.Tensor) -> torch.Tensor:
    """(N, K) float64 one-hot of the classes present in ``labels``."""
    _, index = labels.unique(return_inverse=True)
    return torch.nn.functional.one_hot(index).double()


def pair_means(gram: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    """Means of a symmetric pair matrix over inter-class, intra-class and all pairs i < j.

    Uses block sums instead of masks: with one-hot ``Y``, the same-class total is ``trace(Y^T G Y)``;
    removing the diagonal and halving gives the sum over pairs i < j.
    """
    onehot = _class_onehot(labels)
    n = gram.shape[0]
    sizes = onehot.sum(0)
    diag = gram.diagonal().sum()
    total_pairs = (gram.sum() - diag) / 2
    intra_pairs = ((onehot.T @ gram @ onehot).trace() - diag) / 2
    counts = {"all": n * (n - 1) / 2, "intra": float((sizes * (sizes - 1) / 2).sum())}
    counts["inter"] = counts["all"] - counts["intra"]
    sums = {"all": total_pairs, "intra": intra_pairs, "inter": total_pairs - intra_pairs}
    return {k: float(sums[k] / counts[k]) if counts[k] else math.nan for k in ("inter", "intra", "all")}


def _unit_rows(x: torch.Tensor) -> torch.Tensor:
    x = flatten(x)
    return x / (x.norm(dim=1, keepdim=True) + EPS)


def pair_similarity(x: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    """Mean ``cos(x_i, x_j)`` over inter-class, intra-class and all pairs i < j.

    The Gram matrix of the unit rows is never formed: its total is ``|sum_i u_i|^2`` and its
    same-class total ``sum_c |sum_{i in c} u_i|^2``, which costs O(N D) instead of O(N^2 D).
    """
    u = _unit_rows(x)
    onehot = _class_onehot(labels)
    n = u.shape[0]
    sizes = onehot.sum(0)
    diag = (u * u).sum()
    total_pairs = (u.sum(0).square().sum() - diag) / 2
    intra_pairs = ((onehot.T @ u).square().sum() - diag) / 2
    counts = {"all": n * (n - 1) / 2, "intra": float((sizes * (sizes - 1) / 2).sum())}
    counts["inter"] = counts["all"] - counts["intra"]
    sums = {"all": total_pairs, "intra": intra_pairs, "inter": total_pairs - intra_pairs}
    return {k: float(sums[k] / counts[k]) if counts[k] else math.nan for k in ("inter", "intra", "all")}


def centered(x: torch.Tensor) -> torch.Tensor:
    """Subtract the mean over samples (rows)."""
    x = flatten(x)
    return x - x.mean(0, keepdim=True)


def classmean_similarity(x: torch.Tensor, labels: torch.Tensor) -> float:
    """Mean over class pairs c < c' of ``cos(mu_c, mu_c')`` of the class-mean features."""
    onehot = _class_onehot(labels)
    means = (onehot.T @ flatten(x)) / onehot.sum(0)[:, None]
    k = means.shape[0]
    if k < 2:
        return math.nan
    u = _unit_rows(means)
    return float((u.sum(0).square().sum() - (u * u).sum()) / (k * (k - 1)))


def _with_bias_column(a: torch.Tensor, bias: bool, dim: int) -> torch.Tensor:
    if not bias:
        return a
    shape = list(a.shape)
    shape[dim] = 1
    return torch.cat([a, a.new_ones(shape)], dim=dim)


def linear_weight_grad_similarity(g: torch.Tensor, a: torch.Tensor, labels: torch.Tensor, bias: bool = True) -> float:
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
    a = _with_bias_column(flatten(a), bias, dim=1)
    gram = cosine_gram(g) * cosine_gram(a)
    return pair_means(gram, labels)["inter"]


def conv_weight_grad_similarity(
    g: torch.Tensor, cols: torch.Tensor, labels: torch.Tensor, bias: bool = True, chunk: int = 16
) -> float:
    """Inter-class mean cosine of per-sample weight gradients of a convolution, via the Gram identity.

    The per-sample gradient is ``G_i = sum_p g_ip a_ip^T`` over output positions p, so
    ``<G_i, G_j> = sum_pq (g_ip . g_jq)(a_ip . a_jq)``. Computed in blocks of ``chunk`` samples to
    bound memory at ``chunk^2 * P^2`` numbers; per-sample gradients are never formed.

    Args:
        g: feature gradients at the conv output, shape (N, C_out, P) (P = output positions).
        cols: unfolded layer inputs (``torch.nn.functional.unfold``), shape (N, C_in*kh*kw, P).
        labels: (N,) class labels.
        bias: whether the conv has a bias (adds a constant 1 row to ``cols``).
        chunk: block size.
    """
    g = g.double()
    cols = _with_bias_column(cols.double(), bias, dim=1)
    n = g.shape[0]
    inner = torch.empty(n, n, dtype=torch.float64, device=g.device)
    for i0 in range(0, n, chunk):
        gi, ai = g[i0 : i0 + chunk], cols[i0 : i0 + chunk]
        for j0 in range(i0, n, chunk):
            gj, aj = g[j0 : j0 + chunk], cols[j0 : j0 + chunk]
            gg = torch.einsum("icp,jcq->ijpq", gi, gj)
            aa = torch.einsum("ikp,jkq->ijpq", ai, aj)
            block = (gg * aa).sum(dim=(2, 3))
            inner[i0 : i0 + chunk, j0 : j0 + chunk] = block
            inner[j0 : j0 + chunk, i0 : i0 + chunk] = block.T
    norms = inner.diagonal().clamp_min(0).sqrt()
    cos = inner / (norms[:, None] * norms[None, :] + EPS)
    return pair_means(cos, labels)["inter"]


def common_direction_strength(m: torch.Tensor) -> float:
    """``sigma_1^2 / ||M||_F^2`` of a matrix (higher-rank tensors are flattened to (rows, -1))."""
    m = m.reshape(m.shape[0], -1).double() if m.dim() != 2 else m.double()
    total = float((m * m).sum())
    if total <= 0.0:
        return math.nan
    top = float(torch.linalg.matrix_norm(m, ord=2)) ** 2
    return top / total


def effective_rank(m: torch.Tensor) -> float:
    """``exp(-sum p_k log p_k)`` with ``p_k = sigma_k / sum sigma`` (Roy & Vetterli 2007)."""
    m = m.reshape(m.shape[0], -1).double()
    s = torch.linalg.svdvals(m)
    total = float(s.sum())
    if total <= 0.0:
        return math.nan
    p = s / total
    p = p[p > 0]
    return float(torch.exp(-(p * p.log()).sum()))


def mean_norm(x: torch.Tensor) -> float:
    """Mean over samples of the per-sample Euclidean norm."""
    return float(flatten(x).norm(dim=1).mean())


def dead_fraction(pre_activation: torch.Tensor) -> float:
    """Fraction of units (flattened features) that are <= 0 on every sample: dead for ReLU-like layers."""
    x = flatten(pre_activation)
    return float((x <= 0).all(dim=0).double().mean())

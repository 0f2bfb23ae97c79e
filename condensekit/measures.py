"""Pure tensor functions behind the metrics (docs/metrics.md). No nn.Module state, no hooks.

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
    return _means_from_totals(gram.sum(), (onehot.T @ gram @ onehot).trace(), gram.diagonal().sum(), onehot)


def _means_from_totals(total: torch.Tensor, same_class: torch.Tensor, diag: torch.Tensor, onehot: torch.Tensor) -> dict[str, float]:
    """Pair means from the totals of a symmetric pair matrix over all entries and over same-class blocks."""
    n = onehot.shape[0]
    sizes = onehot.sum(0)
    total_pairs = (total - diag) / 2
    intra_pairs = (same_class - diag) / 2
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
    return _means_from_totals(u.sum(0).square().sum(), (onehot.T @ u).square().sum(), (u * u).sum(), onehot)


def energy_shares(x: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    """Energy decomposition of the unit-normalised features ``u_i = h_i / |h_i|`` (zero features dropped).

    With ``ubar`` the mean of the ``u_i`` and ``ubar_c`` the class means, ``1 = mean_i |u_i|^2`` splits into
    ``share_common = |ubar|^2`` (a direction shared by all samples), ``share_class = mean_i |ubar_{y_i} - ubar|^2``
    (what tells the classes apart) and ``share_sample = mean_i |u_i - ubar_{y_i}|^2`` (what is left to each
    sample). They sum to 1. With N samples and no zero feature, ``feat_all = (N share_common - 1) / (N - 1)``.
    All three are NaN when every feature is zero.
    """
    x = flatten(x)
    norms = x.norm(dim=1)
    keep = norms > 0
    u, y = x[keep] / norms[keep, None], labels[keep]
    n = u.shape[0]
    if n == 0:
        return {"common": math.nan, "class": math.nan, "sample": math.nan}
    onehot = _class_onehot(y)
    sums = onehot.T @ u  # (K, D): per-class sums of the unit features
    common = (sums.sum(0) / n).square().sum()
    within = (sums.square().sum(1) / onehot.sum(0)).sum() / n  # mean_i |ubar_{y_i}|^2
    return {"common": float(common), "class": float(within - common), "sample": float(1.0 - within)}


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
    g: torch.Tensor,
    cols: torch.Tensor,
    labels: torch.Tensor,
    bias: bool = True,
    chunk: int = 16,
    method: str = "auto",
    max_bytes: int = 2**28,
) -> float:
    """Inter-class mean cosine of per-sample weight gradients of a convolution (or a token-wise linear layer).

    The per-sample gradient is ``G_i = sum_p g_ip a_ip^T`` over output positions p. Two exact routes to
    the pair inner products ``<G_i, G_j>``:

    * ``"gram"``: the Gram identity ``sum_pq (g_ip . g_jq)(a_ip . a_jq)``, costing ``P^2 (C_out + K)``
      per pair; per-sample gradients are never formed.
    * ``"blocks"``: form ``G_i`` (``C_out x K`` numbers each) for a block of samples at a time and take
      inner products, costing ``C_out K`` per pair.

    ``"auto"`` picks the cheaper one: for small layers with many positions (a conv on 28x28 inputs has
    P = 784, so P^2 = 614,656 while C_out K is a few thousand) the Gram identity is hundreds of times
    slower and needs ``chunk^2 P^2`` memory. The blocks route keeps all ``G_i`` only while they fit in
    ``max_bytes`` and otherwise recomputes them block by block.

    Args:
        g: feature gradients at the layer output, shape (N, C_out, P) (P = output positions or tokens).
        cols: unfolded layer inputs (``torch.nn.functional.unfold``), shape (N, K, P), K = C_in*kh*kw.
        labels: (N,) class labels.
        bias: whether the layer has a bias (adds a constant 1 row to ``cols``).
        chunk: block size in samples.
        method: ``"auto"``, ``"gram"`` or ``"blocks"``.
        max_bytes: memory budget for holding every per-sample gradient at once (blocks route).
    """
    g = g.double()
    cols = _with_bias_column(cols.double(), bias, dim=1)
    n, c_out, positions = g.shape
    k = cols.shape[1]
    if method == "auto":
        method = "blocks" if c_out * k <= positions * positions * (c_out + k) else "gram"
    if method == "blocks":
        inner = _inner_products_by_blocks(g, cols, chunk, max_bytes)
    elif method == "gram":
        inner = _inner_products_by_gram(g, cols, chunk)
    else:
        raise ValueError(f"method must be 'auto', 'gram' or 'blocks', got {method!r}")
    norms = inner.diagonal().clamp_min(0).sqrt()
    cos = inner / (norms[:, None] * norms[None, :] + EPS)
    return pair_means(cos, labels)["inter"]


def _inner_products_by_gram(g: torch.Tensor, cols: torch.Tensor, chunk: int) -> torch.Tensor:
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
    return inner


def _inner_products_by_blocks(g: torch.Tensor, cols: torch.Tensor, chunk: int, max_bytes: int) -> torch.Tensor:
    n, c_out, _ = g.shape

    def grads(start: int) -> torch.Tensor:  # per-sample gradients of one block, flattened
        return torch.einsum("icp,ikp->ick", g[start : start + chunk], cols[start : start + chunk]).reshape(-1, c_out * cols.shape[1])

    if n * c_out * cols.shape[1] * 8 <= max_bytes:
        flat = torch.cat([grads(i0) for i0 in range(0, n, chunk)])
        return flat @ flat.T
    inner = torch.empty(n, n, dtype=torch.float64, device=g.device)
    for i0 in range(0, n, chunk):
        gi = grads(i0)
        for j0 in range(i0, n, chunk):
            block = gi @ grads(j0).T
            inner[i0 : i0 + chunk, j0 : j0 + chunk] = block
            inner[j0 : j0 + chunk, i0 : i0 + chunk] = block.T
    return inner


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


# ----------------------------------------------------------------------------------------------
# Neural collapse (Papyan, Han & Donoho 2020, "Prevalence of neural collapse ...", PNAS)
# ----------------------------------------------------------------------------------------------

NC_SB_RTOL = 1e-10  # relative cut-off of Sb's pseudo-inverse (Sb has rank <= C - 1)


def class_means(x: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Class means ``mu_c`` (K, D), the global mean ``mu_G`` (D,) of all samples, and the sorted classes (K,)."""
    x = flatten(x)
    classes, index = labels.unique(return_inverse=True)
    onehot = torch.nn.functional.one_hot(index, len(classes)).double()
    means = (onehot.T @ x) / onehot.sum(0)[:, None]
    return means, x.mean(0), classes


def nc1_within_between(x: torch.Tensor, labels: torch.Tensor) -> float:
    """NC1 = ``tr(Sw Sb^+) / C``: within-class variability relative to the spread of the class means.

    ``Sw = 1/N sum_i (h_i - mu_{y_i})(h_i - mu_{y_i})^T``, ``Sb = 1/C sum_c (mu_c - mu_G)(mu_c - mu_G)^T``.
    With ``M`` the (D, C) matrix of centered class means, ``Sb^+ = C (M^+)^T M^+``, so
    ``tr(Sw Sb^+) = C/N ||M^+ E^T||_F^2`` with ``E`` the (N, D) within-class deviations: no D x D matrix is
    formed, which keeps wide (flattened conv) features cheap. Goes to 0 under collapse.
    """
    x = flatten(x)
    means, mu_g, classes = class_means(x, labels)
    k = len(classes)
    if k < 2:
        return math.nan
    index = torch.searchsorted(classes, labels)
    deviations = x - means[index]
    m = (means - mu_g).T  # (D, C)
    m_pinv = torch.linalg.pinv(m, rtol=math.sqrt(NC_SB_RTOL))  # Sb's eigenvalues are M's singular values squared / C
    # tr(Sw Sb^+) / C = (C/N ||M^+ E^T||^2) / C
    return float((m_pinv @ deviations.T).square().sum() / x.shape[0])


def _pair_cosines(rows: torch.Tensor) -> torch.Tensor:
    """Cosines of all pairs c != c' of the rows (flattened off-diagonal), float64."""
    u = rows.double() / (rows.double().norm(dim=1, keepdim=True) + EPS)
    gram = u @ u.T
    off = ~torch.eye(len(rows), dtype=torch.bool, device=rows.device)
    return gram[off]


def nc2_simplex(vectors: torch.Tensor) -> dict[str, float]:
    """NC2 on the rows of ``vectors`` (centered class means, or classifier rows), K >= 2.

    Returns:
        ``equinorm``: std / mean of the row norms; ``equiangular``: std of the pairwise cosines;
        ``maxangle``: mean of ``|cos + 1/(K-1)|`` (0 for a simplex equiangular tight frame).
        All three go to 0 under collapse.
    """
    v = vectors.double()
    k = v.shape[0]
    if k < 2:
        return {"equinorm": math.nan, "equiangular": math.nan, "maxangle": math.nan}
    norms = v.norm(dim=1)
    cos = _pair_cosines(v)
    return {
        "equinorm": float(norms.std(unbiased=False) / (norms.mean() + EPS)),
        "equiangular": float(cos.std(unbiased=False)),
        "maxangle": float((cos + 1.0 / (k - 1)).abs().mean()),
    }


def nc3_self_duality(weight: torch.Tensor, centered_means: torch.Tensor) -> float:
    """NC3 = ``|| W / ||W||_F - M / ||M||_F ||_F^2`` with classifier rows ``W`` (K, D) and centered means ``M`` (K, D)."""
    w, m = weight.double(), centered_means.double()
    return float((w / (w.norm() + EPS) - m / (m.norm() + EPS)).square().sum())


def nc4_ncc_mismatch(x: torch.Tensor, labels: torch.Tensor, predictions: torch.Tensor) -> float:
    """NC4: share of samples whose nearest class mean (Euclidean) is not the network's predicted class.

    0 means the network classifies exactly like a nearest-class-centre rule on these features.
    """
    x = flatten(x)
    means, _, classes = class_means(x, labels)
    nearest = classes[torch.cdist(x, means).argmin(dim=1)]
    return float((nearest != predictions).double().mean())

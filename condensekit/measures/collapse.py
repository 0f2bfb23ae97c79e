"""Neural-collapse measures (Papyan, Han & Donoho 2020, "Prevalence of neural collapse ...", PNAS).

Each returns NaN, never raises, when its input is not finite or when it is undefined (fewer than two
classes).
"""

from __future__ import annotations

import math

import torch

from condensekit.measures.pairs import EPS, flatten, is_finite

NC_SB_RTOL = 1e-10  # relative cut-off of Sb's pseudo-inverse (Sb has rank <= C - 1)


def class_means(x: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Class means ``mu_c`` (K, D), the global mean ``mu_G`` (D,) of all samples, and the sorted classes
    (K,)."""
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
    if k < 2 or not is_finite(x):
        return math.nan  # undefined for one class; an SVD of non-finite values would raise
    index = torch.searchsorted(classes, labels)
    deviations = x - means[index]
    m = (means - mu_g).T  # (D, C)
    # Sb's eigenvalues are M's singular values squared / C
    m_pinv = torch.linalg.pinv(m, rtol=math.sqrt(NC_SB_RTOL))
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
    """NC3 = ``|| W / ||W||_F - M / ||M||_F ||_F^2`` with classifier rows ``W`` (K, D) and centered means
    ``M`` (K, D).

    NaN for fewer than two classes: the one centered mean is zero, so there is no direction to compare.
    """
    w, m = weight.double(), centered_means.double()
    if m.shape[0] < 2:
        return math.nan
    return float((w / (w.norm() + EPS) - m / (m.norm() + EPS)).square().sum())


def nc4_ncc_mismatch(x: torch.Tensor, labels: torch.Tensor, predictions: torch.Tensor) -> float:
    """NC4: share of samples whose nearest class mean (Euclidean) is not the network's predicted class.

    0 means the network classifies exactly like a nearest-class-centre rule on these features.
    """
    x = flatten(x)
    means, _, classes = class_means(x, labels)
    if not is_finite(x):
        return math.nan
    nearest = classes[torch.cdist(x, means).argmin(dim=1)]
    return float((nearest != predictions).double().mean())

"""The similarity measures of METRICS.md for many layers at once, as tensors: no host sync, bounded memory.

:mod:`condensekit.measures` returns Python floats for one feature matrix at a time; the functions here
take a stack of same-shaped layers ``(L, N, D)`` and return one ``(L,)`` float64 tensor per quantity,
on the features' device, so a metric reads every number back with one ``.tolist()`` at the end.

Numerics. Every quantity is a sum over feature columns of a column-local contribution, given the
per-sample norms, so the columns are processed in blocks of at most ``max_bytes`` (two passes: norms,
then sums): the memory does not grow with the width D (a ViT-B/16 block output flattens to
D = 197 x 768). Features in float32 are normalised and summed per class in float32, where a sum runs
over at most N unit vectors; the class sums are then read in float64. Centering is done in float64:
features that have nearly condensed have a mean much larger than their spread, and subtracting it in
float32 would cost digits. The results stay within 1e-6 of an all-float64 computation
(``tests/test_measure_precision.py``). Float64 input is computed in float64 throughout.

Non-finite features give NaN, never an exception and never a silently dropped sample.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

MAX_BYTES = 2**26
"""Default memory budget of one block of columns (64 MiB)."""


@dataclass(frozen=True)
class ClassIndex:
    """The class structure of a probe batch, computed once per measurement.

    Attributes:
        onehot: (N, K) float64 one-hot of the classes present.
        sizes: (K,) float64 class sizes.
        pairs: number of pairs i < j over ``all``, ``intra`` (same class) and ``inter`` (different classes).
    """

    onehot: torch.Tensor
    sizes: torch.Tensor
    pairs: dict[str, float]
    cache: dict[object, torch.Tensor] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def of(cls, labels: torch.Tensor) -> ClassIndex:
        """The class index of ``labels`` (N,)."""
        _, index = labels.unique(return_inverse=True)
        onehot = torch.nn.functional.one_hot(index).double()
        sizes = onehot.sum(0)
        n = float(labels.shape[0])
        intra = float((sizes * (sizes - 1) / 2).sum())  # one host read per measurement, not per layer
        return cls(onehot, sizes, {"all": n * (n - 1) / 2, "intra": intra, "inter": n * (n - 1) / 2 - intra})

    def inter_mask(self, dtype: torch.dtype) -> torch.Tensor:
        """(N, N) 1 for pairs of different classes, 0 elsewhere, in ``dtype`` (computed once)."""
        if ("inter", dtype) not in self.cache:
            self.cache["inter", dtype] = (1.0 - self.onehot @ self.onehot.T).to(dtype)
        return self.cache["inter", dtype]


def flatten(x: torch.Tensor) -> torch.Tensor:
    """(N, ...) -> (N, D) in float64."""
    return x.reshape(x.shape[0], -1).double()


def is_finite(*tensors: torch.Tensor) -> bool:
    """Whether every entry of every tensor is finite (one host read)."""
    return bool(torch.stack([torch.isfinite(t).all() for t in tensors]).all())


def work_dtype(x: torch.Tensor) -> torch.dtype:
    """float64 for float64 input, float32 otherwise (half and bfloat16 features are widened)."""
    return torch.float64 if x.dtype == torch.float64 else torch.float32


def _column_blocks(x: torch.Tensor, max_bytes: int) -> list[slice]:
    per_column = x.shape[0] * x.shape[1] * 8  # a float64 copy of one column of every layer
    width = max(1, max_bytes // max(1, per_column))
    return [slice(d, d + width) for d in range(0, x.shape[2], width)]


def _inverse_norms(squares: torch.Tensor) -> torch.Tensor:
    """``1 / |x_i|``, 0 for a zero feature (dropped), NaN for a non-finite one (reported, not hidden)."""
    return torch.where(squares == 0, torch.zeros_like(squares), squares.rsqrt())


def _pair_means(
    total: torch.Tensor, same: torch.Tensor, diag: torch.Tensor, classes: ClassIndex
) -> dict[str, torch.Tensor]:
    """Means over pairs i < j from the totals of a symmetric pair matrix (all entries, same-class blocks,
    diagonal)."""
    sums = {"all": (total - diag) / 2, "intra": (same - diag) / 2}
    sums["inter"] = sums["all"] - sums["intra"]
    return {
        k: sums[k] / classes.pairs[k] if classes.pairs[k] else torch.full_like(total, math.nan)
        for k in ("inter", "intra", "all")
    }


def similarity_statistics(
    x: torch.Tensor,
    classes: ClassIndex,
    *,
    centered: bool = False,
    class_means: bool = False,
    shares: bool = False,
    dead: bool = False,
    norms: bool = False,
    max_bytes: int = MAX_BYTES,
) -> dict[str, torch.Tensor]:
    """Pair-similarity statistics of each layer of a stack ``x`` (L, N, D), as (L,) float64 tensors.

    Always ``inter``, ``intra``, ``all``: the mean ``cos(x_i, x_j)`` over inter-class, intra-class and all
    pairs i < j, from the class sums of the unit rows (``|sum_i u_i|^2`` and ``sum_c |sum_{i in c} u_i|^2``),
    never from an N x N matrix. On request:

    * ``centered``: ``inter_centered``, the inter-class mean after subtracting the mean over samples;
    * ``class_means``: ``classmean``, the mean over class pairs of the cosine of the class-mean features;
    * ``shares``: ``share_common``, ``share_class``, ``share_sample`` (see
      :func:`condensekit.measures.energy_shares`);
    * ``dead``: ``dead_frac``, the share of columns that are <= 0 on every sample;
    * ``norms``: ``mean_norm``, the mean over samples of ``|x_i|``.
    """
    layers, n, width = x.shape
    # centering needs float64 (see the module docstring); the rest reads float32 features in float32
    dtype = torch.float64 if centered or x.dtype == torch.float64 else torch.float32
    oh = classes.onehot.T.to(dtype)  # (K, N)
    k = oh.shape[0]
    blocks = _column_blocks(x, max_bytes)
    squares = x.new_zeros(layers, n, dtype=torch.float64)  # |x_i|^2
    dot_mean = x.new_zeros(layers, n, dtype=torch.float64)  # x_i . m, m = the mean feature
    mean_squared = x.new_zeros(layers, 1, dtype=torch.float64)  # |m|^2
    dead_cols = x.new_zeros(layers, dtype=torch.float64)
    held: tuple[torch.Tensor, torch.Tensor | None] | None = None
    for cols in blocks:  # pass 1: norms of the rows and of the centered rows, dead columns
        part = x[..., cols].to(dtype)
        if dtype == torch.float64:
            squares += torch.linalg.vector_norm(part, dim=-1).square()
        else:  # a cascade sum: vector_norm or an einsum here lose digits in float32
            squares += part.square().sum(-1).double()
        mean = part.mean(1, keepdim=True) if centered else None
        if mean is not None:
            dot_mean += (part @ mean.transpose(1, 2)).squeeze(-1)
            mean_squared += mean.square().sum(-1)
        if dead:
            dead_cols += (x[..., cols].amax(dim=1) <= 0).sum(-1).double()  # <= 0 on every sample
        held = (part, mean) if len(blocks) == 1 else None
    # |x_i - m|^2 = |x_i|^2 - 2 x_i.m + |m|^2, in float64: features close to their mean lose few digits
    squares_centered = squares - 2 * dot_mean + mean_squared
    # below float64 rounding of the terms (features equal to their mean): a zero row, as subtracting would
    # give
    squares_centered = torch.where(squares_centered > 1e-14 * squares, squares_centered, 0.0)
    inv, inv_centered = _inverse_norms(squares).to(dtype), _inverse_norms(squares_centered).to(dtype)
    weights = [oh * inv[:, None, :]]  # class sums of the unit rows
    if centered:  # class sums of the centered unit rows, less their share of the mean (below)
        weights.append(oh * inv_centered[:, None, :])
    if class_means:
        weights.append(oh.expand(layers, k, n))  # raw class sums: their cosines are those of the class means
    weight = torch.cat(weights, dim=1)
    total, total_c, same_c = (x.new_zeros(layers, dtype=torch.float64) for _ in range(3))
    class_squares = x.new_zeros(layers, k, dtype=torch.float64)  # |sum_{i in c} u_i|^2
    mean_gram = x.new_zeros(layers, k, k, dtype=torch.float64)
    for cols in blocks:  # pass 2: the class sums, one column block at a time
        part, mean = held if held is not None else (x[..., cols].to(dtype), None)
        sums = (weight @ part).double()  # (L, 2K or 3K, d)
        units = sums[:, :k]
        total += units.sum(1).square().sum(-1)
        class_squares += units.square().sum(-1)
        if centered:
            mean = part.mean(1, keepdim=True) if mean is None else mean
            units_c = sums[:, k : 2 * k] - weights[1].sum(-1)[..., None] * mean  # (L, K, d)
            total_c += units_c.sum(1).square().sum(-1)
            same_c += units_c.square().sum((1, 2))
        if class_means:
            raw = sums[:, -k:]
            mean_gram += raw @ raw.transpose(1, 2)
    kept = (squares > 0).double()  # zero rows: unit vector 0, left out of the shares
    out = _pair_means(total, class_squares.sum(1), kept.sum(1), classes)
    if centered:
        out["inter_centered"] = _pair_means(total_c, same_c, (squares_centered > 0).double().sum(1), classes)[
            "inter"
        ]
    if class_means:
        out["classmean"] = _classmean_from_gram(mean_gram)
    if shares:
        out.update(_shares(total, class_squares, kept, classes))
    if dead:
        out["dead_frac"] = torch.where(torch.isfinite(squares).all(1), dead_cols / width, math.nan)
    if norms:
        out["mean_norm"] = squares.sqrt().mean(1)
    return out


def _shares(
    total: torch.Tensor, class_squares: torch.Tensor, kept: torch.Tensor, classes: ClassIndex
) -> dict[str, torch.Tensor]:
    """The energy shares from ``|sum u|^2``, ``|S_c|^2`` and the non-zero rows ``kept`` (L, N)."""
    n = kept.sum(1)
    counts = kept @ classes.onehot  # (L, K) non-zero rows per class
    common = total / n.square()
    # mean_i |ubar_{y_i}|^2
    within = torch.where(counts > 0, class_squares / counts.clamp_min(1), 0.0).sum(1) / n
    return {"share_common": common, "share_class": within - common, "share_sample": 1.0 - within}


def _classmean_from_gram(gram: torch.Tensor) -> torch.Tensor:
    """Mean over class pairs c != c' of the cosine of the class sums, from their Gram matrices (L, K, K)."""
    k = gram.shape[1]
    if k < 2:
        return gram.new_full(gram.shape[:1], math.nan)
    diag = gram.diagonal(dim1=1, dim2=2)
    inv = _inverse_norms(diag)
    cos = gram * inv[:, :, None] * inv[:, None, :]
    return (cos.sum((1, 2)) - cos.diagonal(dim1=1, dim2=2).sum(1)) / (k * (k - 1))


def linear_wgrad_inter(g: torch.Tensor, a: torch.Tensor, classes: ClassIndex, bias: bool) -> torch.Tensor:
    """Inter-class mean cosine of per-sample weight gradients of linear layers, (L,) float64.

    ``g`` (L, N, out) are the output gradients and ``a`` (L, N, in) the inputs of L linear layers of one
    shape. The per-sample gradient ``g_i [a_i, 1]^T`` has inner product ``(g_i . g_j)(a_i . a_j + 1)`` with
    sample j's (the 1 is the bias) and norm ``|g_i| |a_i'|``, so with ``w_i = 1 / (|g_i| |a_i'|)`` the sum of
    the cosines over inter-class pairs is ``w^T (M * (G_g * G_a')) w / 2`` (M: the inter-class mask): two
    N x N Gram matrices per layer and no per-sample gradient.
    """
    dtype = work_dtype(g)
    g, a = g.to(dtype), a.to(dtype)
    gram_g, gram_a = g @ g.transpose(1, 2), a @ a.transpose(1, 2)
    if bias:
        gram_a = gram_a + 1.0
    weights = _inverse_norms(
        gram_g.diagonal(dim1=1, dim2=2).double() * gram_a.diagonal(dim1=1, dim2=2).double().clamp_min(0)
    )
    products = gram_g.mul_(gram_a).mul_(classes.inter_mask(dtype))  # in place: no third N x N matrix
    w = weights.to(dtype)
    sums = torch.einsum("ln,lnm,lm->l", w, products, w).double() / 2
    return sums / classes.pairs["inter"] if classes.pairs["inter"] else sums.fill_(math.nan)


def inter_mean_of_inner_products(inner: torch.Tensor, classes: ClassIndex) -> torch.Tensor:
    """Inter-class mean cosine from inner products ``<G_i, G_j>`` (L, N, N), as (L,) float64."""
    inner = inner.double()
    inv = _inverse_norms(inner.diagonal(dim1=1, dim2=2).clamp_min(0))
    return _inter_mean(inner * inv[:, :, None] * inv[:, None, :], classes)


def _inter_mean(cos: torch.Tensor, classes: ClassIndex) -> torch.Tensor:
    """Mean over inter-class pairs of a stack of symmetric pair matrices (L, N, N) float64."""
    oh = classes.onehot
    same = torch.einsum("nk,lnm,mk->l", oh, cos, oh)
    return _pair_means(cos.sum((1, 2)), same, cos.diagonal(dim1=1, dim2=2).sum(1), classes)["inter"]


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

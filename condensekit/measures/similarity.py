"""Similarity statistics of METRICS.md: mean cosines over pairs of samples, energy shares, class-mean cosines.

:func:`similarity_statistics` measures many layers at once: it takes a stack of same-shaped layers
``(L, N, D)`` and returns one ``(L,)`` float64 tensor per quantity, on the features' device, so a metric
reads every number back with one ``.tolist()`` at the end (no host sync per layer). The one-layer functions
below it (:func:`pair_similarity`, :func:`energy_shares`, ...) take one feature matrix and return Python
floats; they are the same computation on a stack of one.

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

import torch

from condensekit.measures.pairs import (
    ClassIndex,
    flatten,
    inverse_norms,
    is_finite,
    one_layer_stack,
    pair_means_from_sums,
)

COLUMN_BLOCK_BYTES = 2**26
"""Memory budget of one block of feature columns (64 MiB). Each column is read once per pass whatever the
block size, so a larger budget saves no work; it only needs to be large enough for efficient matrix
products (compare :data:`condensekit.measures.weight_grads.GRADIENT_BLOCK_BYTES`)."""


def _column_blocks(x: torch.Tensor, max_bytes: int) -> list[slice]:
    per_column = x.shape[0] * x.shape[1] * 8  # a float64 copy of one column of every layer
    width = max(1, max_bytes // max(1, per_column))
    return [slice(d, d + width) for d in range(0, x.shape[2], width)]


def similarity_statistics(
    x: torch.Tensor,
    classes: ClassIndex,
    *,
    centered: bool = False,
    class_means: bool = False,
    shares: bool = False,
    dead: bool = False,
    norms: bool = False,
    max_bytes: int = COLUMN_BLOCK_BYTES,
) -> dict[str, torch.Tensor]:
    """Pair-similarity statistics of each layer of a stack ``x`` (L, N, D), as (L,) float64 tensors.

    Always ``inter``, ``intra``, ``all``: the mean ``cos(x_i, x_j)`` over inter-class, intra-class and all
    pairs i < j, from the class sums of the unit rows (``|sum_i u_i|^2`` and ``sum_c |sum_{i in c} u_i|^2``),
    never from an N x N matrix. On request:

    * ``centered``: ``inter_centered``, the inter-class mean after subtracting the mean over samples;
    * ``class_means``: ``classmean``, the mean over class pairs of the cosine of the class-mean features;
    * ``shares``: ``share_common``, ``share_class``, ``share_sample`` (see
      :func:`energy_shares`);
    * ``dead``: ``dead_frac``, the share of columns that are <= 0 on every sample;
    * ``norms``: ``mean_norm``, the mean over samples of ``|x_i|``.

    Each quantity's sums are computed the same way whatever else is asked for (the centered ones in float64,
    the others in the features' precision), so ``inter`` alone comes out bit for bit as in a call that asks
    for everything: a refined measurement (``probe.wanted``) equals a scheduled one.
    """
    layers, n, width = x.shape
    dtype = torch.float64 if x.dtype == torch.float64 else torch.float32  # the unit rows' sums
    oh = classes.onehot.T.to(dtype)  # (K, N)
    k = oh.shape[0]
    blocks = _column_blocks(x, max_bytes)
    squares = x.new_zeros(layers, n, dtype=torch.float64)  # |x_i|^2
    centering = _Centering(x, n) if centered else None
    dead_cols = x.new_zeros(layers, dtype=torch.float64)
    held = x.to(dtype) if len(blocks) == 1 else None
    for cols in blocks:  # pass 1: norms of the rows (and of the centered rows), dead columns
        part = held if held is not None else x[..., cols].to(dtype)
        if dtype == torch.float64:
            squares += torch.linalg.vector_norm(part, dim=-1).square()
        else:  # a cascade sum: vector_norm or an einsum here lose digits in float32
            squares += part.square().sum(-1).double()
        if centering is not None:
            centering.add_norms(x[..., cols])
        if dead:
            dead_cols += (x[..., cols].amax(dim=1) <= 0).sum(-1).double()  # <= 0 on every sample
    unit_weight = oh * inverse_norms(squares).to(dtype)[:, None, :]  # class sums of the unit rows
    if centering is not None:
        centering.weigh(classes)
    total = x.new_zeros(layers, dtype=torch.float64)
    class_squares = x.new_zeros(layers, k, dtype=torch.float64)  # |sum_{i in c} u_i|^2
    mean_gram = x.new_zeros(layers, k, k, dtype=torch.float64)
    for cols in blocks:  # pass 2: the class sums, one column block at a time
        part = held if held is not None else x[..., cols].to(dtype)
        units = (unit_weight @ part).double()  # (L, K, d)
        total += units.sum(1).square().sum(-1)
        class_squares += units.square().sum(-1)
        if centering is not None:
            centering.add_sums(x[..., cols])
        if class_means:  # raw class sums: their cosines are those of the class means
            raw = (oh @ part).double()
            mean_gram += raw @ raw.transpose(1, 2)
    kept = (squares > 0).double()  # zero rows: unit vector 0, left out of the shares
    out = pair_means_from_sums(total, class_squares.sum(1), kept.sum(1), classes)
    if centering is not None:
        out["inter_centered"] = centering.inter(classes)
    if class_means:
        out["classmean"] = _classmean_from_gram(mean_gram)
    if shares:
        out.update(_shares(total, class_squares, kept, classes))
    if dead:
        out["dead_frac"] = torch.where(torch.isfinite(squares).all(1), dead_cols / width, math.nan)
    if norms:
        out["mean_norm"] = squares.sqrt().mean(1)
    return out


class _Centering:
    """The inter-class mean cosine of the centered rows ``x_i - m``, in float64 throughout: features that have
    nearly condensed have a mean much larger than their spread, and float32 would lose the spread's digits.

    Fed column block by column block, like :func:`similarity_statistics`: first :meth:`add_norms` (the
    norms of the rows, their products with the mean and the mean's norm), then :meth:`weigh`, then
    :meth:`add_sums` (the class sums of the centered unit rows).
    """

    def __init__(self, x: torch.Tensor, n: int):
        layers = x.shape[0]
        self.squares = x.new_zeros(layers, n, dtype=torch.float64)  # |x_i|^2
        self.dot_mean = x.new_zeros(layers, n, dtype=torch.float64)  # x_i . m
        self.mean_squared = x.new_zeros(layers, 1, dtype=torch.float64)  # |m|^2
        self.total = x.new_zeros(layers, dtype=torch.float64)
        self.same = x.new_zeros(layers, dtype=torch.float64)
        self.weight = torch.empty(0)

    def add_norms(self, block: torch.Tensor) -> None:
        part = block.double()
        mean = part.mean(1, keepdim=True)
        self.squares += torch.linalg.vector_norm(part, dim=-1).square()
        self.dot_mean += (part @ mean.transpose(1, 2)).squeeze(-1)
        self.mean_squared += mean.square().sum(-1)

    def weigh(self, classes: ClassIndex) -> None:
        # |x_i - m|^2 = |x_i|^2 - 2 x_i.m + |m|^2, in float64: features close to their mean lose few digits
        squares = self.squares - 2 * self.dot_mean + self.mean_squared
        # below float64 rounding of the terms (features equal to their mean): a zero row, as subtracting gives
        self.squares = torch.where(squares > 1e-14 * self.squares, squares, 0.0)
        self.weight = classes.onehot.T.double() * inverse_norms(self.squares)[:, None, :]

    def add_sums(self, block: torch.Tensor) -> None:
        part = block.double()
        mean = part.mean(1, keepdim=True)
        # the class sums of the centered unit rows: of the rows, less their share of the mean
        units = self.weight @ part - self.weight.sum(-1)[..., None] * mean  # (L, K, d)
        self.total += units.sum(1).square().sum(-1)
        self.same += units.square().sum((1, 2))

    def inter(self, classes: ClassIndex) -> torch.Tensor:
        return pair_means_from_sums(self.total, self.same, (self.squares > 0).double().sum(1), classes)[
            "inter"
        ]


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
    inv = inverse_norms(diag)
    cos = gram * inv[:, :, None] * inv[:, None, :]
    return (cos.sum((1, 2)) - cos.diagonal(dim1=1, dim2=2).sum(1)) / (k * (k - 1))


# ----------------------------------------------------------------------------------------------
# One layer at a time, as Python floats
# ----------------------------------------------------------------------------------------------


def pair_similarity(x: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    """Mean ``cos(x_i, x_j)`` over inter-class, intra-class and all pairs i < j.

    The Gram matrix of the unit rows is never formed: its total is ``|sum_i u_i|^2`` and its
    same-class total ``sum_c |sum_{i in c} u_i|^2``, which costs O(N D) instead of O(N^2 D).
    """
    stats = similarity_statistics(one_layer_stack(x), ClassIndex.of(labels))
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
    stats = similarity_statistics(one_layer_stack(x), ClassIndex.of(labels), shares=True)
    return {k: float(stats[f"share_{k}"][0]) for k in ("common", "class", "sample")}


def classmean_similarity(x: torch.Tensor, labels: torch.Tensor) -> float:
    """Mean over class pairs c < c' of ``cos(mu_c, mu_c')`` of the class-mean features (NaN for one class)."""
    stats = similarity_statistics(one_layer_stack(x), ClassIndex.of(labels), class_means=True)
    return float(stats["classmean"][0])


def mean_norm(x: torch.Tensor) -> float:
    """Mean over samples of the per-sample Euclidean norm."""
    return float(flatten(x).norm(dim=1).mean())


def dead_fraction(pre_activation: torch.Tensor) -> float:
    """Fraction of units (flattened features) that are <= 0 on every sample: dead for ReLU-like layers.

    NaN when a feature is not finite.
    """
    x = flatten(pre_activation)
    return float((x <= 0).all(dim=0).double().mean()) if is_finite(x) else math.nan

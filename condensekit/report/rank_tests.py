"""The rank statistics of the report, from SciPy: superiority and its permutation test, Holm's adjustment,
a distribution-free interval for the shift between two arms, Spearman's rho.

* :func:`superiority`: ``P(X > Y) + P(X = Y) / 2`` over all pairs (the Mann-Whitney ``U`` over the pairs);
* :func:`permutation_p`: its two-sided permutation p-value, ``scipy.stats.permutation_test`` of
  ``|P - 1/2|`` over every relabeling of the pooled values (exact up to :data:`EXACT_LIMIT` relabelings);
* :func:`holm`: Holm's step-down adjustment of a family of p-values;
* :func:`shift_interval`: the Hodges-Lehmann shift ``x - y`` and its distribution-free confidence interval,
  the inversion of the same rank test (an equivalence bound: a difference outside it is not compatible with
  the data at that level);
* :func:`spearman`: ``scipy.stats.spearmanr``, NaN for constant input.

SciPy is imported when a function runs, not when the report is imported.
"""

from __future__ import annotations

import math
import statistics
import warnings
from collections.abc import Sequence
from functools import cache
from typing import Any

EXACT_LIMIT = 200_000  # C(20, 10) = 184,756: up to 10 against 10 seeds the p-value is exact
RESAMPLES = 100_000


def superiority(x: Sequence[float], y: Sequence[float]) -> float:
    """P(X > Y) + P(X = Y) / 2 over all pairs of one value of ``x`` and one of ``y``."""
    wins = sum(1.0 if a > b else 0.5 if a == b else 0.0 for a in x for b in y)
    return wins / (len(x) * len(y))


def _distance_from_half(x: Any, y: Any, axis: int = -1) -> Any:
    """``|P - 1/2|`` of :func:`superiority`, vectorised over the leading axes (SciPy's relabelings)."""
    import numpy as np

    a, b = np.moveaxis(np.asarray(x), axis, -1), np.moveaxis(np.asarray(y), axis, -1)
    left, right = a[..., :, None], b[..., None, :]
    share = ((left > right) + 0.5 * (left == right)).mean(axis=(-2, -1))
    return np.abs(share - 0.5)


def permutation_p(x: Sequence[float], y: Sequence[float], seed: int = 0) -> tuple[float, bool]:
    """Two-sided permutation p-value of :func:`superiority`, and whether it is exact.

    ``scipy.stats.permutation_test`` with ``permutation_type="independent"``: every split of the pooled values
    into groups of ``len(x)`` and ``len(y)`` is one relabeling, and the p-value is the share of relabelings
    whose ``|P - 1/2|`` is at least the observed one (itself included). Exact (every relabeling enumerated)
    up to :data:`EXACT_LIMIT` relabelings; beyond, :data:`RESAMPLES` random relabelings drawn from ``seed``
    give ``(hits + 1) / (RESAMPLES + 1)``.
    """
    from scipy.stats import permutation_test

    if min(len(x), len(y)) < 2:  # SciPy wants two values a side; one value: n relabelings, each counted
        return _single_value_p([float(v) for v in x], [float(v) for v in y]), True
    exact = math.comb(len(x) + len(y), len(x)) <= EXACT_LIMIT
    result = permutation_test(
        ([float(v) for v in x], [float(v) for v in y]),
        _distance_from_half,
        permutation_type="independent",
        vectorized=True,
        n_resamples=math.inf if exact else RESAMPLES,
        alternative="greater",
        rng=seed,
    )
    return float(result.pvalue), exact


def _single_value_p(x: list[float], y: list[float]) -> float:
    """The exact p-value of :func:`permutation_p` when one side has a single value: each pooled value in
    turn is that side's."""
    pooled, single_x = [*x, *y], len(x) == 1
    observed = float(_distance_from_half(x, y))
    splits = [(pooled[i : i + 1], pooled[:i] + pooled[i + 1 :]) for i in range(len(pooled))]
    stats = [float(_distance_from_half(*(one, rest) if single_x else (rest, one))) for one, rest in splits]
    return sum(1 for v in stats if v >= observed - 1e-12) / len(stats)


def smallest_p(n_x: int, n_y: int) -> float:
    """The smallest two-sided p-value any data can give with these group sizes (no ties): 2 / C(n, k)."""
    return min(1.0, 2 / math.comb(n_x + n_y, n_x))


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the order given.

    With the ``m`` finite p-values sorted, ``p_(1) <= ... <= p_(m)``, the adjusted ``p_(i)`` is
    ``max_{j <= i} min(1, (m - j + 1) p_(j))``: a test is rejected at ``alpha`` when its adjusted p-value is
    at most ``alpha``, which bounds the chance of any false rejection in the family by ``alpha``. A NaN
    (no test) stays NaN and does not count in ``m``.
    """
    order = sorted((i for i, p in enumerate(p_values) if math.isfinite(p)), key=lambda i: p_values[i])
    out = [math.nan] * len(p_values)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(order) - rank) * p_values[i]))
        out[i] = running
    return out


@cache
def _u_counts(n_x: int, n_y: int) -> tuple[int, ...]:
    """How many of the ``C(n_x + n_y, n_x)`` relabelings give each Mann-Whitney ``U`` (no ties)."""
    if n_x == 0 or n_y == 0:
        return (1,)
    fewer_x, fewer_y = _u_counts(n_x - 1, n_y), _u_counts(n_x, n_y - 1)
    # the largest pooled value is an x (it beats every y: U grows by n_y) or a y (U unchanged)
    counts = [0] * (n_x * n_y + 1)
    for u, c in enumerate(fewer_x):
        counts[u + n_y] += c
    for u, c in enumerate(fewer_y):
        counts[u] += c
    return tuple(counts)


def shift_interval(
    x: Sequence[float], y: Sequence[float], confidence: float = 0.95
) -> tuple[float, float, float, float] | None:
    """The shift between two groups, ``x - y``: the Hodges-Lehmann estimate and a distribution-free
    confidence interval, ``(estimate, low, high, achieved confidence)``; None when the groups are too small
    for that confidence.

    The estimate is the median of the ``len(x) * len(y)`` differences ``x_i - y_j``. With those differences
    sorted, ``d_(1) <= ... <= d_(N)``, the interval is ``[d_(c), d_(N + 1 - c)]`` with the largest ``c`` for
    which ``P(U < c) <= (1 - confidence) / 2`` under the exact null distribution of the Mann-Whitney ``U``:
    the shifts the rank test of :func:`permutation_p` would not reject (Lehmann, Nonparametrics, 1975, ch.
    2). Its confidence, ``1 - 2 P(U < c)``, is at least ``confidence`` when the two groups differ by a shift
    (exactly so for continuous values; ties make it approximate).
    """
    diffs = sorted(a - b for a in x for b in y)
    if not diffs:
        return None
    counts = _u_counts(len(x), len(y))
    total, tail, c = sum(counts), 0, 0
    while c < len(counts) and (tail + counts[c]) / total <= (1 - confidence) / 2:
        tail += counts[c]
        c += 1  # P(U < c) = tail / total
    if c == 0:
        return None
    return statistics.median(diffs), diffs[c - 1], diffs[len(diffs) - c], 1 - 2 * tail / total


def ranks(values: Sequence[float]) -> list[float]:
    """1-based ranks; tied values share the mean of their ranks (``scipy.stats.rankdata``)."""
    from scipy.stats import rankdata

    return [float(r) for r in rankdata(list(values), method="average")] if len(values) else []


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rank correlation (``scipy.stats.spearmanr``: the Pearson correlation of the tie-averaged
    ranks); NaN with fewer than two pairs or when either side is constant."""
    from scipy.stats import spearmanr

    if len(x) < 2 or len(set(x)) < 2 or len(set(y)) < 2:
        return math.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a constant input is NaN here, said once by the caller
        return float(spearmanr(list(x), list(y)).statistic)

"""The report's rank statistics from SciPy give the numbers the hand-written ones gave; Holm's adjustment and
the shift's interval against textbook values and the rank test they invert."""

from __future__ import annotations

import itertools
import math
import random
import statistics

import pytest

from condensekit.report.rank_tests import (
    _u_counts,
    holm,
    permutation_p,
    ranks,
    shift_interval,
    spearman,
    superiority,
)

# ---------------------------------------------------------------- the implementations SciPy replaced


def old_ranks(values: list[float]) -> list[float]:
    """report/sweeps.py before SciPy: 1-based ranks, ties sharing the mean of their ranks."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    out = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            out[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return out


def old_spearman(x: list[float], y: list[float]) -> float:
    """report/sweeps.py before SciPy: the Pearson correlation of the tie-averaged ranks."""
    if len(x) < 2:
        return math.nan
    rx, ry = old_ranks(x), old_ranks(y)
    mx, my = statistics.fmean(rx), statistics.fmean(ry)
    sxy = sum((a - mx) * (b - my) for a, b in zip(rx, ry, strict=True))
    sxx, syy = sum((a - mx) ** 2 for a in rx), sum((b - my) ** 2 for b in ry)
    return sxy / math.sqrt(sxx * syy) if sxx > 0 and syy > 0 else math.nan


def old_permutation_p(x: list[float], y: list[float]) -> float:
    """report/compare.py before SciPy, exact branch: every relabeling, superiority from the rank sum."""
    pooled_ranks = old_ranks([*x, *y])
    n, k, m = len(pooled_ranks), len(x), len(y)
    offset, pairs = k * (k + 1) / 2, k * m
    observed = abs(superiority(x, y) - 0.5) - 1e-9
    hits = total = 0
    for chosen in itertools.combinations(range(n), k):
        total += 1
        hits += abs((sum(pooled_ranks[i] for i in chosen) - offset) / pairs - 0.5) >= observed
    return hits / total


def samples(seed: int, count: int) -> list[tuple[list[float], list[float]]]:
    """Group pairs of 1 to 7 values each, half of them with many ties (values on a coarse grid)."""
    rng = random.Random(seed)
    out = []
    for i in range(count):
        coarse = i % 2 == 0
        draw = (lambda: float(rng.randint(0, 4))) if coarse else (lambda: round(rng.gauss(0, 1), 3))
        out.append(([draw() for _ in range(rng.randint(1, 7))], [draw() for _ in range(rng.randint(1, 7))]))
    return out


def test_the_exact_p_values_are_the_old_ones() -> None:
    for x, y in samples(5, 80):
        p, exact = permutation_p(x, y)
        assert exact and p == pytest.approx(old_permutation_p(x, y), rel=1e-12), (x, y)


def test_pinned_p_values_of_the_published_sizes() -> None:
    """Values the old code gave on fixed inputs (5 against 5 seeds, as every published comparison)."""
    assert permutation_p([1, 2, 3, 4, 5], [6, 7, 8, 9, 10])[0] == pytest.approx(2 / 252)
    assert permutation_p([1, 2, 3, 4, 6], [5, 7, 8, 9, 10])[0] == pytest.approx(4 / 252)
    assert permutation_p([0.1, 0.1, 0.2, 0.3, 0.4], [0.1, 0.2, 0.2, 0.5, 0.6])[0] == pytest.approx(
        old_permutation_p([0.1, 0.1, 0.2, 0.3, 0.4], [0.1, 0.2, 0.2, 0.5, 0.6])
    )
    assert permutation_p([0.9] * 5, [0.9] * 5) == (1.0, True)


def test_spearman_and_ranks_are_the_old_ones() -> None:
    rng = random.Random(6)
    for n in range(0, 12):
        x = [float(rng.randint(0, 3)) for _ in range(n)]
        y = [rng.choice([1.0, 2.0, rng.random()]) for _ in range(n)]
        assert ranks(x) == old_ranks(x)
        old, new = old_spearman(x, y), spearman(x, y)
        assert (math.isnan(old) and math.isnan(new)) or new == pytest.approx(old, abs=1e-12), (x, y)
    assert spearman([0.5, 1.0], [3.0, 2.0]) == pytest.approx(-1.0)  # two points: rho is +-1 by construction
    assert math.isnan(spearman([1.0, 2.0, 3.0], [4.0, 4.0, 4.0]))  # constant: no correlation defined


# ---------------------------------------------------------------- Holm


def test_holm_against_a_worked_example() -> None:
    # Holm (1979)-style example: m = 4; sorted 0.01, 0.02, 0.03, 0.04 -> 0.04, 0.06, 0.06, 0.06
    assert holm([0.03, 0.01, 0.04, 0.02]) == pytest.approx([0.06, 0.04, 0.06, 0.06])
    # capped at 1, monotone in the sorted order, NaN left alone and not counted
    adjusted = holm([0.5, math.nan, 0.001, 0.6])
    assert adjusted[2] == pytest.approx(0.003) and adjusted[0] == adjusted[3] == pytest.approx(1.0)
    assert math.isnan(adjusted[1])
    assert holm([]) == []


# ---------------------------------------------------------------- the shift and its interval


def test_u_counts_are_the_null_distribution_of_u() -> None:
    for n_x, n_y in [(1, 1), (2, 3), (4, 4), (5, 5), (3, 6)]:
        brute = [0] * (n_x * n_y + 1)
        for chosen in itertools.combinations(range(n_x + n_y), n_x):  # positions of the x among the ranks
            rest = [i for i in range(n_x + n_y) if i not in chosen]
            brute[sum(1 for a in chosen for b in rest if a > b)] += 1
        assert list(_u_counts(n_x, n_y)) == brute


def test_the_interval_holds_the_shifts_the_rank_test_does_not_reject() -> None:
    """Inverting the test: for a shift d inside the interval, x - d against y is not rejected at 5% by the
    exact two-sided Mann-Whitney test; just outside, it is."""
    from scipy.stats import mannwhitneyu

    rng = random.Random(7)
    for n_x, n_y in [(5, 5), (4, 6), (8, 7)]:
        x = [rng.gauss(1.0, 1) for _ in range(n_x)]
        y = [rng.gauss(0.0, 1) for _ in range(n_y)]
        estimate, low, high, level = shift_interval(x, y)  # type: ignore[misc]
        diffs = sorted(a - b for a in x for b in y)
        assert estimate == pytest.approx(statistics.median(diffs)) and level >= 0.95

        def p_at(d: float, x: list[float] = x, y: list[float] = y) -> float:
            return float(mannwhitneyu([a - d for a in x], y, method="exact").pvalue)

        eps = 1e-9
        assert p_at(low + eps) > 0.05 and p_at(high - eps) > 0.05 and p_at(estimate) > 0.05
        assert p_at(low - eps) <= 0.05 and p_at(high + eps) <= 0.05
    # 5 against 5: the 3rd smallest and the 3rd largest of the 25 differences, confidence 1 - 8/252
    x, y = [1.0, 2.0, 3.0, 4.0, 5.0], [0.0, 0.0, 0.0, 0.0, 0.0]
    assert shift_interval(x, y) == pytest.approx((3.0, 1.0, 5.0, 1 - 8 / 252))
    assert shift_interval([1.0, 2.0], [0.0, 0.5]) is None  # 2 against 2: no 95% interval exists

"""Each arm against the recipe's reference arm: probability of superiority and an exact permutation p-value.

For each quantity the table of quantities marks ``compared`` (T1, the rise dS of the layer-mean
similarity, the test accuracy) with values ``x`` of an arm's seeds and ``y`` of the reference arm's seeds
(the same grid point):

* ``P(arm > ref)``, the probability of superiority: over all ``len(x) * len(y)`` seed pairs, the share in
  which the arm's value is larger, ties counting one half (the Mann-Whitney U divided by the pairs);
* ``p``: the two-sided permutation p-value of that statistic: the share of all ways to relabel the pooled
  seeds into groups of the same sizes whose ``|P - 1/2|`` is at least the observed one. It is exact (every
  relabeling is enumerated) up to :data:`EXACT_LIMIT` relabelings; beyond, it is estimated from
  :data:`RESAMPLES` random relabelings drawn with a fixed seed, as ``(hits + 1) / (RESAMPLES + 1)``, and the
  table says so.

Both use only the order of the values, so a stuck run's T1, which is only known to be later than the run's
last step, enters as ``steps + 1`` (later than any T1 that was observed) without inventing a number.
With few seeds no p-value can be small: with 2 against 2 seeds there are 6 relabelings and the smallest
two-sided p is 1/3. Such rows say plainly that ``n`` is too small to conclude.
"""

from __future__ import annotations

import itertools
import math
import random
import statistics
from collections.abc import Sequence
from typing import Any

from condensekit import quantities
from condensekit.report.model import ReportInput
from condensekit.report.sweeps import ranks, sweep_value

EXACT_LIMIT = 200_000  # C(20, 10) = 184,756: up to 10 against 10 seeds the p-value is exact
RESAMPLES = 100_000
ALPHA = 0.05


def superiority(x: Sequence[float], y: Sequence[float]) -> float:
    """P(X > Y) + P(X = Y) / 2 over all pairs of one value of ``x`` and one of ``y``."""
    wins = sum(1.0 if a > b else 0.5 if a == b else 0.0 for a in x for b in y)
    return wins / (len(x) * len(y))


def permutation_p(x: Sequence[float], y: Sequence[float], seed: int = 0) -> tuple[float, bool]:
    """Two-sided permutation p-value of :func:`superiority` and whether it is exact.

    Every split of the pooled values into groups of ``len(x)`` and ``len(y)`` is one relabeling; the
    p-value is the share of relabelings at least as far from 1/2 as the observed one (itself included).
    The superiority of a relabeling comes from the tie-averaged ranks of the pooled values (the
    Mann-Whitney identity ``U = rank sum - k (k + 1) / 2``), so each one costs ``len(x)`` additions.
    """
    pooled_ranks = ranks([*x, *y])
    n, k, m = len(pooled_ranks), len(x), len(y)
    offset, pairs = k * (k + 1) / 2, k * m
    observed = abs(superiority(x, y) - 0.5) - 1e-9  # a tolerance for float sums of halves

    def extreme(chosen: Sequence[int]) -> bool:
        return abs((sum(pooled_ranks[i] for i in chosen) - offset) / pairs - 0.5) >= observed

    if math.comb(n, k) <= EXACT_LIMIT:
        total = hits = 0
        for chosen in itertools.combinations(range(n), k):
            total += 1
            hits += extreme(chosen)
        return hits / total, True
    rng = random.Random(seed)
    hits = sum(1 for _ in range(RESAMPLES) if extreme(rng.sample(range(n), k)))
    return (hits + 1) / (RESAMPLES + 1), False


def smallest_p(n_x: int, n_y: int) -> float:
    """The smallest two-sided p-value any data can give with these group sizes (no ties): 2 / C(n, k)."""
    return min(1.0, 2 / math.comb(n_x + n_y, n_x))


def compare_values(x: Sequence[float], y: Sequence[float]) -> dict[str, Any]:
    """Superiority, p-value, exactness and whether these sample sizes can conclude anything at ``ALPHA``."""
    if not x or not y:
        return {"P": math.nan, "p": math.nan, "exact": True, "too_few": True}
    p, exact = permutation_p(x, y)
    return {"P": superiority(x, y), "p": p, "exact": exact, "too_few": smallest_p(len(x), len(y)) > ALPHA}


def comparisons(report: ReportInput) -> list[dict[str, Any]]:
    """Each non-reference arm against the reference arm at the same grid point, per compared quantity.

    Only runs that finished ok enter. Each entry holds ``arm``, ``grid``, ``reference``, ``key`` and
    ``quantity`` (the quantity's key and header), ``x`` / ``y`` (the values), ``P``, ``p``, ``exact`` and
    ``too_few``.
    """
    ref = report.reference
    out: list[dict[str, Any]] = []
    if ref is None:
        return out
    for group in report.groups:
        against = report.group(ref, group.grid)
        if group.arm == ref or against is None or not group.ok or not against.ok:
            continue
        for quantity in (q for q in quantities.QUANTITIES if q.compared):
            x = [v for v in (sweep_value(r, quantity.key) for r in group.ok) if v is not None]
            y = [v for v in (sweep_value(r, quantity.key) for r in against.ok) if v is not None]
            out.append(
                {
                    "arm": group.arm,
                    "grid": group.grid,
                    "reference": ref,
                    "quantity": quantity.header,
                    "key": quantity.key,
                    "x": x,
                    "y": y,
                    **compare_values(x, y),
                }
            )
    return out


def _p_text(entry: dict[str, Any]) -> str:
    if not math.isfinite(entry["p"]):
        return "-"
    return f"{entry['p']:.3g}" + ("" if entry["exact"] else " (100k random relabelings)")


def _verdict_text(entry: dict[str, Any]) -> str:
    n = f"{len(entry['x'])} vs {len(entry['y'])} seeds"
    if not entry["x"] or not entry["y"]:
        return "no values"
    if entry["too_few"]:
        return (
            f"too few seeds to conclude ({n}: the smallest possible p "
            f"is {smallest_p(len(entry['x']), len(entry['y'])):.2g})"
        )
    if entry["p"] <= ALPHA:
        return f"{'higher' if entry['P'] > 0.5 else 'lower'} than {entry['reference']} (p <= {ALPHA:g})"
    return f"no difference shown at p <= {ALPHA:g}"


def comparison_table(report: ReportInput) -> list[dict[str, str]]:
    """The comparisons as table rows: medians, ``P(arm > ref)``, the p-value and what it allows to say."""
    table = []
    for e in comparisons(report):
        med = lambda v: quantities.median_range([statistics.median(v)]) if v else "-"  # noqa: E731
        table.append(
            {
                "arm": e["arm"],
                "grid": e["grid"],
                "vs": e["reference"],
                "quantity": e["quantity"],
                "median arm": med(e["x"]),
                "median ref": med(e["y"]),
                "P(arm > ref)": "-" if not math.isfinite(e["P"]) else f"{e['P']:.2f}",
                "p (two-sided)": _p_text(e),
                "reading": _verdict_text(e),
            }
        )
    if table and all(r["grid"] == "base" for r in table):
        for r in table:
            del r["grid"]
    return table

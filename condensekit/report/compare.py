"""Each arm against the recipe's reference arm: probability of superiority, exact permutation p-values with
Holm's adjustment over the report's comparisons, and a confidence interval for the shift.

For each quantity the table of quantities marks ``compared`` (T1, the rise dS of the layer-mean
similarity, the test accuracy) with values ``x`` of an arm's seeds and ``y`` of the reference arm's seeds
(the same grid point), the statistics of :mod:`condensekit.report.rank_tests`:

* ``P(arm > ref)``, the probability of superiority: over all ``len(x) * len(y)`` seed pairs, the share in
  which the arm's value is larger, ties counting one half (the Mann-Whitney U divided by the pairs);
* ``p``: the two-sided permutation p-value of that statistic (``scipy.stats.permutation_test``): the share of
  all ways to relabel the pooled seeds into groups of the same sizes whose ``|P - 1/2|`` is at least the
  observed one. Exact up to :data:`EXACT_LIMIT` relabelings; beyond, estimated from :data:`RESAMPLES`
  random relabelings drawn with a fixed seed, and the table says so;
* ``p (Holm)``: the p-values adjusted by Holm's method over the **family of every comparison of one
  report** (every arm, grid point and quantity): "higher" or "lower" is read from the adjusted value, so
  the chance of any false "higher/lower" in the report stays at most :data:`ALPHA`;
* ``shift [95% CI]``: the Hodges-Lehmann shift ``arm - ref`` and its distribution-free confidence
  interval (the shifts the same rank test does not reject). Where no difference is shown, the interval is
  the equivalence bound: differences outside it are not compatible with the data; a claim of "no effect"
  needs the whole interval inside a margin the reader states.

p and P use only the order of the values, so a stuck run's T1, which is only known to be later than the
run's last step, enters as ``steps + 1`` (later than any T1 that was observed) without inventing a number;
the shift is a difference of values, so it is not given when a T1 is censored. With few seeds no p-value can
be small: with 2 against 2 seeds there are 6 relabelings and the smallest two-sided p is 1/3. Such rows say
plainly that ``n`` is too small to conclude. p > alpha reads "no difference shown", never "no difference".
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Any

from condensekit import quantities
from condensekit.report.model import ReportInput
from condensekit.report.rank_tests import EXACT_LIMIT as EXACT_LIMIT
from condensekit.report.rank_tests import RESAMPLES as RESAMPLES
from condensekit.report.rank_tests import (
    holm,
    permutation_p,
    shift_interval,
    smallest_p,
    superiority,
)
from condensekit.report.sweeps import sweep_value

ALPHA = 0.05
CONFIDENCE = 0.95
FAMILY = "every comparison of this report"
"""The family Holm's adjustment runs over (the report's comparison table says it)."""
__all__ = ["ALPHA", "comparison_table", "comparisons", "compare_values", "permutation_p", "superiority"]


def compare_values(x: Sequence[float], y: Sequence[float], censored: bool = False) -> dict[str, Any]:
    """Superiority, p-value, exactness, whether these sample sizes can conclude anything at ``ALPHA``, and
    the shift ``x - y`` with its confidence interval (``shift``: ``(estimate, low, high, confidence)``, None
    when the sizes are too small for :data:`CONFIDENCE` or a value is ``censored``)."""
    if not x or not y:
        return {"P": math.nan, "p": math.nan, "exact": True, "too_few": True, "shift": None}
    p, exact = permutation_p(x, y)
    return {
        "P": superiority(x, y),
        "p": p,
        "exact": exact,
        "too_few": smallest_p(len(x), len(y)) > ALPHA,
        "shift": None if censored else shift_interval(x, y, CONFIDENCE),
    }


def comparisons(report: ReportInput) -> list[dict[str, Any]]:
    """Each non-reference arm against the reference arm at the same grid point, per compared quantity.

    Only runs that finished ok enter. Each entry holds ``arm``, ``grid``, ``reference``, ``key`` and
    ``quantity`` (the quantity's key and header), ``x`` / ``y`` (the values), ``P``, ``p``, ``exact``,
    ``too_few``, ``shift`` (:func:`compare_values`) and ``p_holm``, the p-value adjusted over every entry
    of the list (the report's family of comparisons).
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
            censored = any(r.value(quantity.key) is None for r in (*group.ok, *against.ok))
            out.append(
                {
                    "arm": group.arm,
                    "grid": group.grid,
                    "reference": ref,
                    "quantity": quantity.header,
                    "key": quantity.key,
                    "x": x,
                    "y": y,
                    **compare_values(x, y, censored=censored and quantity.key == "phase1_end"),
                }
            )
    for entry, adjusted in zip(out, holm([e["p"] for e in out]), strict=True):
        entry["p_holm"] = adjusted
    return out


def _p_text(p: float, exact: bool = True) -> str:
    if not math.isfinite(p):
        return "-"
    return f"{p:.3g}" + ("" if exact else " (100k random relabelings)")


def _shift_text(entry: dict[str, Any]) -> str:
    if entry["shift"] is None:
        return "-"
    estimate, low, high, _ = entry["shift"]
    return f"{estimate:+.3g} [{low:+.3g}, {high:+.3g}]"


def _verdict_text(entry: dict[str, Any]) -> str:
    n = f"{len(entry['x'])} vs {len(entry['y'])} seeds"
    if not entry["x"] or not entry["y"]:
        return "no values"
    if entry["too_few"]:
        return (
            f"too few seeds to conclude ({n}: the smallest possible p "
            f"is {smallest_p(len(entry['x']), len(entry['y'])):.2g})"
        )
    if entry["p_holm"] <= ALPHA:
        return f"{'higher' if entry['P'] > 0.5 else 'lower'} than {entry['reference']} (Holm p <= {ALPHA:g})"
    if entry["p"] <= ALPHA:
        return f"no difference shown after Holm's adjustment (raw p <= {ALPHA:g})"
    return f"no difference shown at p <= {ALPHA:g}"


def comparison_table(report: ReportInput) -> list[dict[str, str]]:
    """The comparisons as table rows: medians, ``P(arm > ref)``, the raw and Holm-adjusted p-values, the
    shift with its confidence interval, and what they allow to say."""
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
                "p (two-sided)": _p_text(e["p"], e["exact"]),
                "p (Holm)": _p_text(e["p_holm"]),
                f"shift arm - ref [{CONFIDENCE:.0%} CI]": _shift_text(e),
                "reading": _verdict_text(e),
            }
        )
    if table and all(r["grid"] == "base" for r in table):
        for r in table:
            del r["grid"]
    return table

"""Sweeps: the Spearman correlation of each swept quantity with a numeric grid value, per arm.

The quantities are those the table marks ``swept`` (:mod:`condensekit.quantities`); rho is
``scipy.stats.spearmanr`` (:func:`condensekit.report.rank_tests.spearman`). A stuck run's T1, only known to
be later than its last step, enters as ``steps + 1``: after every T1 that was observed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from condensekit import quantities
from condensekit.report.model import ReportInput
from condensekit.report.rank_tests import ranks as ranks
from condensekit.report.rank_tests import spearman
from condensekit.report.rows import RunRow


def sweep_value(row: RunRow, key: str) -> float | None:
    """A run's value of a quantity for ranking: stuck runs rank T1 after every run that left the plateau."""
    value = row.value(key)
    if key == "phase1_end" and value is None and row.ok and row.summary is not None:
        value = row.summary.steps_done + 1  # censored: "not within the run"
    if isinstance(value, bool):
        return float(value)
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else None


def _numeric_grid_keys(rows: Sequence[RunRow]) -> list[str]:
    keys: list[str] = []
    for row in rows:
        for k, v in row.grid_values.items():
            if k not in keys and isinstance(v, int | float) and not isinstance(v, bool):
                keys.append(k)
    return [k for k in keys if len({r.grid_values.get(k) for r in rows}) >= 2]


def sweep_table(report: ReportInput) -> list[dict[str, str]]:
    """For each arm and numeric grid key: Spearman rho of each swept quantity with the swept value.

    ``rho`` pools every ok run of the arm (all seeds, all other grid values); ``seeds agree`` says whether
    the rho computed within each seed alone has the pooled rho's sign for every seed.
    """
    table = []
    ok = [r for g in report.groups for r in g.ok]
    for arm in dict.fromkeys(r.arm for r in ok):
        runs = [r for r in ok if r.arm == arm]
        for key in _numeric_grid_keys(runs):
            for quantity in (q for q in quantities.QUANTITIES if q.swept):
                pairs: list[tuple[float, float, Any]] = []
                for r in runs:
                    y = sweep_value(r, quantity.key)
                    if key in r.grid_values and y is not None:
                        pairs.append((float(r.grid_values[key]), y, r.seed))
                rho = spearman([p[0] for p in pairs], [p[1] for p in pairs])
                per_seed = [
                    spearman([x for x, _, s in pairs if s == seed], [y for _, y, s in pairs if s == seed])
                    for seed in sorted({p[2] for p in pairs})
                ]
                table.append(
                    {
                        "arm": arm,
                        "swept": key,
                        "quantity": quantity.header,
                        "rho": _fmt(rho),
                        "n": str(len(pairs)),
                        "per seed": " ".join(_fmt(v) for v in per_seed),
                        "seeds agree": _agree(rho, per_seed),
                    }
                )
    return table


def _fmt(value: float) -> str:
    return "-" if not math.isfinite(value) else f"{value:+.2f}"


def _agree(rho: float, per_seed: Sequence[float]) -> str:
    if not math.isfinite(rho) or rho == 0 or not per_seed:
        return "-"
    return "yes" if all(math.isfinite(v) and v != 0 and (v > 0) == (rho > 0) for v in per_seed) else "no"

"""The report's tables: the verdict per arm, Spearman sweeps over numeric grid keys, per-layer peaks.

Each table is a list of rows (column -> text) built from the run rows of :mod:`condensekit.report.rows`,
rendered for the terminal or as Markdown. Cells are median [min, max] over the seeds that finished ok.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from typing import Any

from condensekit.phases import has_first_phase
from condensekit.status import REPORT_ORDER, RunStatus

# per-run quantities correlated with a swept grid value: (column label, row key)
SWEEP_QUANTITIES = (
    ("T1", "phase1_end"),
    ("rise dS", "dS"),
    ("peak S*", "peak"),
    ("test acc", "final_test_acc"),
    ("condensed", "condensed"),
)


def _finite(values: Iterable[Any]) -> list[float]:
    return [
        float(v)
        for v in values
        if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
    ]


def median_range(values: Iterable[Any], digits: int = 3) -> str:
    """``median [min, max]`` of the finite values, or ``-``; whole numbers (steps) are written out, not as
    1e+03."""
    vals = _finite(values)
    if not vals:
        return "-"
    whole = all(v.is_integer() for v in vals)  # steps: 1000, not 1e+03

    def fmt(v: float) -> str:
        return (f"{v:.0f}" if v.is_integer() else f"{v:.1f}") if whole else f"{v:.{digits}g}"

    med = fmt(statistics.median(vals))
    return med if len(vals) == 1 else f"{med} [{fmt(min(vals))}, {fmt(max(vals))}]"


def _grid_key(values: dict[str, Any]) -> tuple[tuple[int, float, str], ...]:
    """Sort key of a grid point: numbers by value (4 before 10), anything else by its text."""
    key = []
    for v in values.values():
        numeric = isinstance(v, int | float) and not isinstance(v, bool)
        key.append((0, float(v), "") if numeric else (1, 0.0, str(v)))
    return tuple(key)


def grouped(rows: Iterable[dict[str, Any]]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Rows by (arm, grid point): arms in the order they were run (the recipe's), grid points by value."""
    rows = list(rows)
    first_start: dict[str, float] = {}
    for row in rows:
        started = row.get("started")
        started = float(started) if isinstance(started, int | float) else math.inf
        first_start[row["arm"]] = min(first_start.get(row["arm"], math.inf), started)
    order = sorted(
        rows, key=lambda r: (first_start[r["arm"]], r["arm"], _grid_key(r.get("grid_values") or {}))
    )
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in order:
        groups.setdefault((row["arm"], row["grid"]), []).append(row)
    return groups


def verdict(rows: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Per arm and grid point, across seeds: T1, the layer mean's rise, peak and when it peaks, accuracy,
    verdicts.

    Cells are median [min, max] over the runs that finished ``ok``; the ``runs`` column counts every status.
    ``rise dS``, ``peak S*`` and ``peak t*`` are those of the mean over the hidden layers
    (``summary["mean"]``), ``peak in`` says in how many seeds that peak came during phase 1 (at or before T1)
    or after it.
    """
    table = []
    for (arm, grid), runs in grouped(rows).items():
        ok = [r for r in runs if r["status"] == RunStatus.OK]
        stuck = sum(1 for r in ok if r.get("phase1_end") is None)
        t1 = median_range(r.get("phase1_end") for r in ok)
        if stuck:
            t1 = f"{t1} ({stuck} stuck)" if t1 != "-" else f"stuck ({stuck})"
        statuses = {
            s: sum(1 for r in runs if r["status"] == s) for s in {*REPORT_ORDER, *(r["status"] for r in runs)}
        }
        table.append(
            {
                "arm": arm,
                "grid": grid,
                "runs": " ".join(
                    f"{statuses[s]} {s}" for s in sorted(statuses, key=_status_order) if statuses[s]
                ),
                "T1 (phase-1 end)": t1,
                "rise dS": median_range(r.get("dS") for r in ok),
                "peak S*": median_range(r.get("peak") for r in ok),
                "peak t*": median_range(r.get("peak_step") for r in ok),
                "peak in": phase_counts(ok),
                "test acc": median_range(r.get("final_test_acc") for r in ok),
                "condensed": _count(ok, "condensed"),
                "collapsed": _count(ok, "collapsed_at_init"),
            }
        )
    if all(r["grid"] == "base" for r in table):
        for r in table:
            del r["grid"]
    return table


def _count(ok: Sequence[dict[str, Any]], key: str) -> str:
    return f"{sum(1 for r in ok if r.get(key))}/{len(ok)}" if ok else "-"


def phase_counts(runs: Sequence[dict[str, Any]], key: str = "peak_phase") -> str:
    """``phase1 3/3`` or ``phase1 1/3, phase2 2/3``: where the peak fell against T1, over the runs that have
    one.

    A run row (it has ``smoothing_window``) whose loss had no first phase counts as ``no phase 1``: a peak
    "before T1" means nothing when T1 only marks a loss that fell from the start.
    """
    phases = []
    for r in runs:
        if (
            "smoothing_window" in r
            and r.get("status") is not None
            and not has_first_phase(r.get("phase1_end"), int(r["smoothing_window"] or 20))
        ):
            phases.append("no phase 1")
        elif r.get(key) in ("phase1", "phase2"):
            phases.append(r[key])
    if not phases:
        return "-"
    return ", ".join(
        f"{p} {phases.count(p)}/{len(runs)}" for p in ("phase1", "phase2", "no phase 1") if p in phases
    )


def _status_order(status: str) -> int:
    return REPORT_ORDER.index(status) if status in REPORT_ORDER else len(REPORT_ORDER)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------------------------
# Sweeps: Spearman correlation of each quantity with a swept grid value
# ----------------------------------------------------------------------------------------------


def ranks(values: Sequence[float]) -> list[float]:
    """1-based ranks; tied values share the mean of their ranks."""
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


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rank correlation (Pearson correlation of the tie-averaged ranks); NaN if either is
    constant."""
    if len(x) < 2:
        return math.nan
    rx, ry = ranks(x), ranks(y)
    mx, my = statistics.fmean(rx), statistics.fmean(ry)
    sxy = sum((a - mx) * (b - my) for a, b in zip(rx, ry, strict=True))
    sxx, syy = sum((a - mx) ** 2 for a in rx), sum((b - my) ** 2 for b in ry)
    return sxy / math.sqrt(sxx * syy) if sxx > 0 and syy > 0 else math.nan


def sweep_value(row: dict[str, Any], key: str) -> float | None:
    """A run's value of a quantity for correlation: stuck runs rank T1 after every run that left the
    plateau."""
    value = row.get(key)
    if key == "phase1_end" and value is None and row.get("status") == RunStatus.OK:
        value = (row.get("steps_done") or 0) + 1  # censored: "not within the run"
    if isinstance(value, bool):
        return float(value)
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else None


def _numeric_grid_keys(rows: Sequence[dict[str, Any]]) -> list[str]:
    keys: list[str] = []
    for row in rows:
        for k, v in row.get("grid_values", {}).items():
            if k not in keys and isinstance(v, int | float) and not isinstance(v, bool):
                keys.append(k)
    return [k for k in keys if len({r["grid_values"].get(k) for r in rows}) >= 2]


def sweep_table(rows: list[dict[str, Any]]) -> list[dict[str, str]]:
    """For each arm and numeric grid key: Spearman rho of each quantity with the swept value.

    ``rho`` pools every ok run of the arm (all seeds, all other grid values); ``seeds agree`` says whether
    the rho computed within each seed alone has the pooled rho's sign for every seed.
    """
    table = []
    ok = [r for r in rows if r["status"] == RunStatus.OK]
    for arm in dict.fromkeys(arm for arm, _ in grouped(ok)):
        runs = [r for r in ok if r["arm"] == arm]
        for key in _numeric_grid_keys(runs):
            for label, quantity in SWEEP_QUANTITIES:
                pairs: list[tuple[float, float, Any]] = []
                for r in runs:
                    y = sweep_value(r, quantity)
                    if key in r["grid_values"] and y is not None:
                        pairs.append((float(r["grid_values"][key]), y, r["seed"]))
                rho = spearman([p[0] for p in pairs], [p[1] for p in pairs])
                per_seed = [
                    spearman([x for x, _, s in pairs if s == seed], [y for _, y, s in pairs if s == seed])
                    for seed in sorted({p[2] for p in pairs})
                ]
                table.append(
                    {
                        "arm": arm,
                        "swept": key,
                        "quantity": label,
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


def layer_table(rows: list[dict[str, Any]]) -> list[dict[str, str]]:
    """When and how high each hidden layer peaks, and its verdicts: per group and layer, over the ok seeds."""
    table = []
    for (arm, grid), runs in grouped(r for r in rows if r["status"] == RunStatus.OK).items():
        layers = list(dict.fromkeys(name for r in runs for name in r.get("layers", {})))
        for name in layers:
            per = [r["layers"][name] for r in runs if name in r.get("layers", {})]
            table.append(
                {
                    "arm": arm,
                    "grid": grid,
                    "layer": name,
                    "peak step t*": median_range(p.get("peak_step") for p in per),
                    "S0": median_range(p.get("S0") for p in per),
                    "peak S*": median_range(p.get("peak") for p in per),
                    "final": median_range(p.get("final") for p in per),
                    "peak in": phase_counts(per),
                    "condensed": _count(per, "condensed"),
                    "collapsed": _count(per, "collapsed_at_init"),
                }
            )
    return table


# ----------------------------------------------------------------------------------------------
# Rendering
# ----------------------------------------------------------------------------------------------


def render_text(table: list[dict[str, str]]) -> str:
    """A fixed-width text table for the terminal."""
    if not table:
        return "(no runs)"
    cols = list(table[0])
    widths = {c: max(len(c), *(len(r[c]) for r in table)) for c in cols}
    line = "  ".join(c.ljust(widths[c]) for c in cols)
    rule = "  ".join("-" * widths[c] for c in cols)
    body = ["  ".join(r[c].ljust(widths[c]) for c in cols) for r in table]
    return "\n".join([line, rule, *body])


def render_markdown(table: list[dict[str, str]]) -> str:
    if not table:
        return "_no runs_\n"
    cols = list(table[0])
    out = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    out += ["| " + " | ".join(r[c].replace("|", "\\|") for c in cols) + " |" for r in table]
    return "\n".join(out) + "\n"

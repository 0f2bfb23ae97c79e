"""Numbers for the prose of docs/findings.md, and claims that are checked against them.

Every sentence of a reading is built from these numbers (``arm.cell("phase1_end")`` is the verdict table's
T1 cell; quantities are named by their stable keys)
and states a claim that the script checks on the runs it just read: a sentence whose claim no longer holds
is written with a visible marker and makes ``scripts/findings.py`` exit with status 1, so the prose cannot
silently drift from the tables.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from condensekit import quantities
from condensekit.phases import SeriesSummary, layer_mean
from condensekit.report import RunRow, comparisons, median_range
from condensekit.report.compare import ALPHA, compare_values
from condensekit.report.model import ReportInput
from condensekit.report.rank_tests import holm
from condensekit.report.sweeps import sweep_table, sweep_value


@dataclass
class Arm:
    """The ok runs of one arm at one grid point; quantities are named by their stable keys
    (:mod:`condensekit.quantities`: ``phase1_end``, ``dS``, ``peak_step``, ``final_test_acc``, ...)."""

    name: str
    runs: list[RunRow]
    total: int = 0

    @property
    def n(self) -> int:
        return len(self.runs)

    def values(self, key: str) -> list[float]:
        return quantities.finite(r.value(key) for r in self.runs)

    def cell(self, key: str, digits: int = 3) -> str:
        """``median [min, max]`` over the seeds, as in the verdict table (T1 of stuck seeds is left out)."""
        return median_range(self.values(key), digits)

    def median(self, key: str) -> float:
        values = self.values(key)
        return statistics.median(values) if values else float("nan")

    def lo(self, key: str) -> float:
        return min(self.values(key), default=float("nan"))

    def hi(self, key: str) -> float:
        return max(self.values(key), default=float("nan"))

    def count(self, key: str, value: Any = True) -> int:
        return sum(1 for r in self.runs if r.value(key) == value)

    @property
    def stuck(self) -> int:
        return sum(1 for r in self.runs if r.value("phase1_end") is None)

    @property
    def first_phase(self) -> int:
        return sum(1 for r in self.runs if r.summary is not None and r.summary.first_phase)

    @property
    def condensed(self) -> int:
        return self.count("condensed")

    @property
    def collapsed(self) -> int:
        return self.count("collapsed_at_init")

    def peaks_in(self, phase: str) -> int:
        """Seeds with a first phase whose peak came in ``phase`` (as the verdict's ``peak in`` counts
        them)."""
        return sum(
            1
            for r in self.runs
            if r.summary is not None and r.summary.peak_phase == phase and r.summary.first_phase
        )

    def of(self, k: int) -> str:
        return f"{k}/{self.n}"

    @property
    def failed(self) -> int:
        return self.total - self.n

    def top_layers(self) -> list[tuple[str, SeriesSummary]]:
        """Per seed, the hidden layer with the largest rise of the summary series (``dS_max_layer``: a layer
        the mean averages, never a point of another group), and its summary."""
        return [
            (r.summary.dS_max_layer, r.summary.layers[r.summary.dS_max_layer])
            for r in self.runs
            if r.summary is not None and r.summary.dS_max_layer is not None
        ]

    def layer_values(self, layer: str, key: str) -> list[Any]:
        """One hidden layer's value of a quantity (``peak_step``, ``dS``, ``S0`` ...) in each seed."""
        return [
            getattr(r.summary.layers[layer], key)
            for r in self.runs
            if r.summary is not None and layer in r.summary.layers
        ]

    def layer_cell(self, layer: str, key: str) -> str:
        return median_range(self.layer_values(layer, key))


@dataclass
class Stats:
    """One section's runs, by arm (and grid point), with its comparisons and sweeps."""

    report: ReportInput
    failures: list[str] = field(default_factory=list)

    @property
    def rows(self) -> tuple[RunRow, ...]:
        return self.report.rows

    @property
    def root(self) -> Path | None:
        return self.report.root

    def share(self, arm: str, share: str, at: str, grid: str = "base") -> float:
        """Median over seeds of a layer-mean energy share ``at`` "0", "T1" or "end"."""
        return self.logged(arm, f"condensation/mean/{share}", at, grid)

    def share_course(self, arm: str, share: str, grid: str = "base") -> str:
        """``"<x> at step 0, <y> at T1, <z> at the end"``: a layer-mean energy share's medians over seeds."""
        at = [f"{self.share(arm, share, a, grid):.2f}" for a in ("0", "T1", "end")]
        return f"{at[0]} at step 0, {at[1]} at T1, {at[2]} at the end"

    def logged(self, arm: str, tag: str, at: str, grid: str = "base") -> float:
        """Median over seeds of a logged scalar ``at`` "0", "T1" or "end" (see :func:`at_t1`)."""
        assert self.root is not None
        runs = self.arm(arm, grid).runs
        index = {"0": 0, "T1": 1, "end": 2}[at]
        return statistics.median(at_t1(self.root, r, tag)[index] for r in runs)

    def arm(self, name: str, grid: str = "base") -> Arm:
        group = self.report.group(name, grid)
        runs = group.rows if group is not None else ()
        return Arm(name, [r for r in runs if r.ok], total=len(runs))

    def arms(self) -> list[tuple[str, str]]:
        return [(g.arm, g.grid) for g in self.report.groups]

    def compared(self, arm: str, key: str, grid: str = "base") -> dict[str, Any]:
        """The comparison of one quantity (by key: ``phase1_end``, ``dS``, ``final_test_acc``)."""
        for c in comparisons(self.report):
            if c["arm"] == arm and c["key"] == key and c["grid"] == grid:
                return c
        raise KeyError(f"no comparison of {arm} {key} at {grid}")

    def p(self, arm: str, key: str, grid: str = "base") -> str:
        """``P(arm > plain) = 0.00, p = 0.0079, Holm p = 0.21, shift -240 [-300, -180]`` for a sentence: the
        raw and the Holm-adjusted p-value (family: every comparison of the section's report), and the
        Hodges-Lehmann shift with its 95% interval where there is one."""
        c = self.compared(arm, key, grid)
        text = f"P(arm > {c['reference']}) = {c['P']:.2f}, p = {c['p']:.2g}, Holm p = {c['p_holm']:.2g}"
        if c["shift"] is not None:
            estimate, low, high, _ = c["shift"]
            text += f", shift {estimate:+.3g} [{low:+.3g}, {high:+.3g}]"
        return text

    def extra(self, arm: str, other: str, key: str, grid: str = "base") -> dict[str, Any]:
        """One more comparison, ``arm`` against ``other`` (not the reference), with its p-value adjusted by
        Holm over the section's family plus this test: ``word`` (higher / lower / not shown) and ``text``."""
        runs = self.arm(arm, grid).runs, self.arm(other, grid).runs
        x, y = ([v for v in (sweep_value(r, key) for r in group) if v is not None] for group in runs)
        censored = any(r.value(key) is None for group in runs for r in group)
        entry = compare_values(x, y, censored=censored)
        family = [c["p"] for c in comparisons(self.report)] + [entry["p"]]
        adjusted = holm(family)[-1]
        text = f"P({arm} > {other}) = {entry['P']:.2f}, p = {entry['p']:.2g}, Holm p = {adjusted:.2g}"
        if entry["shift"] is not None:
            estimate, low, high, _ = entry["shift"]
            text += f", shift {estimate:+.3g} [{low:+.3g}, {high:+.3g}]"
        word = "not shown" if not adjusted <= ALPHA else ("higher" if entry["P"] > 0.5 else "lower")
        return {"word": word, "text": text, "p_holm": adjusted, **entry}

    def shown(self, arm: str, key: str, grid: str = "base") -> str:
        """``higher`` or ``lower`` (than the reference) when the Holm-adjusted p-value is at most 0.05, else
        ``not shown``: the word a sentence may use."""
        c = self.compared(arm, key, grid)
        if c["p_holm"] <= ALPHA:
            return "higher" if c["P"] > 0.5 else "lower"
        return "not shown"

    def within(self, arm: str, key: str, margin: float, grid: str = "base") -> bool:
        """Whether the whole 95% interval of the shift lies inside ``[-margin, margin]``: the only ground on
        which a sentence may say that an arm does not differ (an equivalence bound, stated with it)."""
        shift = self.compared(arm, key, grid)["shift"]
        return shift is not None and -margin <= shift[1] and shift[2] <= margin

    def rho(self, arm: str, swept: str, key: str) -> tuple[str, str]:
        """The sweep table's rho and its 'seeds agree' cell for one quantity (by key)."""
        header = quantities.by_key()[key].header
        for r in sweep_table(self.report):
            if r["arm"] == arm and r["swept"] == swept and r["quantity"] == header:
                return r["rho"], r["seeds agree"]
        raise KeyError(f"no sweep of {key} over {swept} for {arm}")

    def claim(self, holds: bool, text: str) -> str:
        """``text`` when ``holds``; else the text with a marker, recorded as a failure."""
        if holds:
            return text
        self.failures.append(text)
        return f"**[This statement no longer holds for the numbers below; rewrite it:]** {text}"


SHARES = ("share_common", "share_class", "share_sample")


def logged_series(root: Path, row: RunRow, tag: str) -> tuple[list[int], list[float]]:
    """A logged scalar of one run over its steps; a tag ``metric/*/quantity`` is the mean over the run's
    hidden layers (:func:`condensekit.phases.layer_mean`, the verdict's rule)."""
    from condensekit.report.series import finite_points, load_series

    series = load_series(root / row.run_dir)
    if "/*/" in tag:
        head, _, quantity = tag.partition("/*/")
        return finite_points(layer_mean(series, row.hidden_layers, head, quantity))
    return finite_points(series.get(tag, ([], [])))


def at_t1(root: Path, row: RunRow, tag: str) -> tuple[float, float, float]:
    """A logged scalar of one run at step 0, at T1 (the last value logged at or before it; the end if stuck),
    at the end."""
    steps, values = logged_series(root, row, tag)
    if not steps:
        return (math.nan,) * 3
    t1 = row.value("phase1_end")
    before = [v for step, v in zip(steps, values, strict=True) if t1 is None or step <= t1]
    return values[0], before[-1], values[-1]


def shares_table(
    report: ReportInput, tags: dict[str, str] | None = None, digits: int = 2
) -> list[dict[str, str]]:
    """Per arm: logged scalars at step 0, at T1 and at the end (medians over seeds); by default the layer-mean
    energy shares.

    Args:
        tags: column label -> tag (``metric/*/quantity`` averages over the hidden layers).
    """
    assert report.root is not None
    root = report.root
    tags = tags or {share: f"condensation/mean/{share}" for share in SHARES}
    table = []
    for group in report.groups:
        runs = group.ok
        if not runs:
            continue
        line = {"arm": group.arm, "grid": group.grid}
        for label, tag in tags.items():
            points = [at_t1(root, r, tag) for r in runs]
            line[f"{label}: 0 / T1 / end"] = " / ".join(
                f"{statistics.median(p[k] for p in points):.{digits}g}" for k in range(3)
            )
        table.append(line)
    if table and all(r["grid"] == "base" for r in table):
        for r in table:
            del r["grid"]
    return table


def none_failed(stats: Stats, names: Sequence[str]) -> bool:
    return all(stats.arm(n).failed == 0 for n in names)


def accuracy_table(stats: Stats) -> list[dict[str, str]]:
    """Per arm (and grid point): how many seeds finished, the final train and test accuracy (median [min,
    max]) and how many seeds are still on their plateau at the end: whether an arm trains at all."""
    table = []
    for name, grid in stats.arms():
        arm = stats.arm(name, grid)
        table.append(
            {
                "arm": name,
                "grid": grid,
                "finished": f"{arm.n}/{arm.total}",
                "train acc": arm.cell("final_train_acc"),
                "test acc": arm.cell("final_test_acc"),
                "stuck": arm.of(arm.stuck),
            }
        )
    if table and all(r["grid"] == "base" for r in table):
        for r in table:
            del r["grid"]
    return table

"""Numbers for the prose of docs/findings.md, and claims that are checked against them.

Every sentence of a reading is built from these numbers (``arm.cell("T1")`` is the verdict table's cell)
and states a claim that the script checks on the runs it just read: a sentence whose claim no longer holds
is written with a visible marker and makes ``scripts/findings.py`` exit with status 1, so the prose cannot
silently drift from the tables.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from condensekit.phases import has_first_phase
from condensekit.report import comparisons, median_range
from condensekit.report.tables import grouped, sweep_table
from condensekit.status import RunStatus

KEYS = {
    "T1": "phase1_end",
    "dS": "dS",
    "peak": "peak",
    "t*": "peak_step",
    "acc": "final_test_acc",
    "S0": "S0",
    "final": "S_final",
    "dS_max": "dS_max",
    "peak_max": "peak_max",
    "train acc": "final_train_acc",
}


@dataclass
class Arm:
    """The ok runs of one arm at one grid point."""

    name: str
    runs: list[dict[str, Any]]
    total: int = 0

    @property
    def n(self) -> int:
        return len(self.runs)

    def values(self, quantity: str) -> list[float]:
        key = KEYS.get(quantity, quantity)
        return [
            float(r[key])
            for r in self.runs
            if isinstance(r.get(key), int | float) and not isinstance(r.get(key), bool)
        ]

    def cell(self, quantity: str, digits: int = 3) -> str:
        """``median [min, max]`` over the seeds, as in the verdict table (T1 of stuck seeds is left out)."""
        return median_range(self.values(quantity), digits)

    def median(self, quantity: str) -> float:
        values = self.values(quantity)
        return statistics.median(values) if values else float("nan")

    def lo(self, quantity: str) -> float:
        return min(self.values(quantity), default=float("nan"))

    def hi(self, quantity: str) -> float:
        return max(self.values(quantity), default=float("nan"))

    def count(self, key: str, value: Any = True) -> int:
        return sum(1 for r in self.runs if r.get(key) == value)

    @property
    def stuck(self) -> int:
        return sum(1 for r in self.runs if r.get("phase1_end") is None)

    @property
    def first_phase(self) -> int:
        return sum(
            1 for r in self.runs if has_first_phase(r.get("phase1_end"), int(r.get("smoothing_window") or 20))
        )

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
            if r.get("peak_phase") == phase
            and has_first_phase(r.get("phase1_end"), int(r.get("smoothing_window") or 20))
        )

    def of(self, k: int) -> str:
        return f"{k}/{self.n}"

    @property
    def failed(self) -> int:
        return self.total - self.n

    def top_layers(self) -> list[tuple[str, dict[str, Any]]]:
        """Per seed, the hidden layer with the largest rise of the summary series, and its summary."""
        out = []
        for r in self.runs:
            layers = r.get("layers") or {}
            if layers:
                name = max(
                    layers,
                    key=lambda k: layers[k].get("rise") if isinstance(layers[k].get("rise"), float) else -1.0,
                )
                out.append((name, layers[name]))
        return out

    def layer_cell(self, layer: str, key: str) -> str:
        return median_range([r["layers"][layer][key] for r in self.runs if layer in (r.get("layers") or {})])


@dataclass
class Stats:
    """One section's runs, by arm (and grid point), with its comparisons and sweeps."""

    rows: list[dict[str, Any]]
    root: Path | None = None
    failures: list[str] = field(default_factory=list)

    def share(self, arm: str, share: str, at: str, grid: str = "base") -> float:
        """Median over seeds of a layer-mean energy share ``at`` "0", "T1" or "end"."""
        return self.logged(arm, f"condensation/mean/{share}", at, grid)

    def logged(self, arm: str, tag: str, at: str, grid: str = "base") -> float:
        """Median over seeds of a logged scalar ``at`` "0", "T1" or "end" (see :func:`at_t1`)."""
        assert self.root is not None
        runs = self.arm(arm, grid).runs
        index = {"0": 0, "T1": 1, "end": 2}[at]
        return statistics.median(at_t1(self.root, r, tag)[index] for r in runs)

    def arm(self, name: str, grid: str = "base") -> Arm:
        groups = grouped(self.rows)
        runs = groups.get((name, grid), [])
        return Arm(name, [r for r in runs if r["status"] == RunStatus.OK], total=len(runs))

    def arms(self) -> list[tuple[str, str]]:
        return list(grouped(self.rows))

    def compared(self, arm: str, quantity: str, grid: str = "base") -> dict[str, Any]:
        for c in comparisons(self.rows):
            if c["arm"] == arm and c["quantity"] == quantity and c["grid"] == grid:
                return c
        raise KeyError(f"no comparison of {arm} {quantity} at {grid}")

    def p(self, arm: str, quantity: str, grid: str = "base") -> str:
        """``P(arm > ref) = 0.00, p = 0.008`` for a sentence."""
        c = self.compared(arm, quantity, grid)
        return f"P(arm > {c['reference']}) = {c['P']:.2f}, p = {c['p']:.2g}"

    def rho(self, arm: str, swept: str, quantity: str) -> tuple[str, str]:
        """The sweep table's rho and its 'seeds agree' cell."""
        for r in sweep_table(self.rows):
            if r["arm"] == arm and r["swept"] == swept and r["quantity"] == quantity:
                return r["rho"], r["seeds agree"]
        raise KeyError(f"no sweep of {quantity} over {swept} for {arm}")

    def claim(self, holds: bool, text: str) -> str:
        """``text`` when ``holds``; else the text with a marker, recorded as a failure."""
        if holds:
            return text
        self.failures.append(text)
        return f"**[This statement no longer holds for the numbers below; rewrite it:]** {text}"


SHARES = ("share_common", "share_class", "share_sample")


def _value(values: dict[str, Any], tag: str) -> float | None:
    """``values[tag]``; a tag ``metric/*/quantity`` is the mean over the layers that logged the quantity."""
    if "/*/" not in tag:
        value = values.get(tag)
        return None if value is None else float(value)
    head, _, quantity = tag.partition("/*/")
    found = [
        float(v)
        for k, v in values.items()
        if k.startswith(head + "/")
        and k.endswith("/" + quantity)
        and v is not None
        and k.count("/") == 2
        and not k.split("/")[1].startswith(("mean", "logits"))
    ]
    return sum(found) / len(found) if found else None


def at_t1(root: Path, row: dict[str, Any], tag: str) -> tuple[float, float, float]:
    """A logged scalar of one run at step 0, at T1 (the last value logged at or before it; the end if stuck),
    at the end."""
    points = []
    for line in (root / row["run_dir"] / "metrics.jsonl").read_text(encoding="utf-8").splitlines():
        values = json.loads(line)
        value = _value(values, tag)
        if value is not None:
            points.append((values["step"], value))
    if not points:
        return (float("nan"),) * 3
    t1 = row.get("phase1_end")
    before = [v for step, v in points if t1 is None or step <= t1]
    return points[0][1], before[-1], points[-1][1]


def shares_table(
    root: Path, rows: list[dict[str, Any]], tags: dict[str, str] | None = None, digits: int = 2
) -> list[dict[str, str]]:
    """Per arm: logged scalars at step 0, at T1 and at the end (medians over seeds); by default the layer-mean
    energy shares.

    Args:
        tags: column label -> tag (``metric/*/quantity`` averages over the hidden layers).
    """
    tags = tags or {share: f"condensation/mean/{share}" for share in SHARES}
    table = []
    for (arm, grid), runs in grouped(r for r in rows if r["status"] == RunStatus.OK).items():
        line = {"arm": arm, "grid": grid}
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

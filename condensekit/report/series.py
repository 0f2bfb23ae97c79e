"""The curves the report's figures draw, read back from the run directories' ``metrics.jsonl``.

One :class:`Group` per arm at one grid point holds its seeds' curves; :func:`band` reduces them to the median
and the min-max band at every step; :func:`layer_mean` is a per-layer series averaged over the hidden layers
(or the metric's own ``<metric>/mean/<quantity>`` when it logs one).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from condensekit.output import read_metrics
from condensekit.phases import running_median

LOSS_TAG = "train/loss"

Series = tuple[list[int], list[float]]


def load_series(run_dir: Path) -> dict[str, Series]:
    """tag -> (steps, values) from a run's ``metrics.jsonl``; missing and non-finite values are dropped."""
    out: dict[str, Series] = {}
    for row in read_metrics(run_dir):
        step = row.get("step")
        if not isinstance(step, int):
            continue
        for tag, value in row.items():
            if tag == "step" or not isinstance(value, int | float) or not math.isfinite(value):
                continue
            steps, values = out.setdefault(tag, ([], []))
            steps.append(step)
            values.append(float(value))
    return out


def layer_mean(series: dict[str, Series], metric: str, quantity: str, layers: Sequence[str] | None) -> Series:
    """``<metric>/<quantity>`` (or ``<metric>/mean/<quantity>``) when logged as such, else the mean of
    ``<metric>/<layer>/<quantity>`` over ``layers`` (all layers that logged it when ``layers`` is None or none
    of them did), at the steps where all were logged."""
    for tag in (f"{metric}/{quantity}", f"{metric}/mean/{quantity}"):
        if tag in series:
            return series[tag]
    logged = [
        t for t in series if t.startswith(f"{metric}/") and t.endswith(f"/{quantity}") and t.count("/") == 2
    ]
    chosen = [t for t in logged if t.split("/")[1] in (layers or ())] or logged
    if not chosen:
        return [], []
    per_tag = [dict(zip(*series[t], strict=True)) for t in chosen]
    steps = sorted(set.intersection(*(set(d) for d in per_tag)))
    return steps, [statistics.fmean(d[s] for d in per_tag) for s in steps]


def smoothed_loss(series: dict[str, Series], window: int = 20) -> Series:
    steps, values = series.get(LOSS_TAG, ([], []))
    return list(steps), running_median(values, window) if values else []


@dataclass
class Group:
    """The seeds of one arm at one grid point, with what the figures need from each run."""

    label: str
    runs: list[dict[str, Series]] = field(default_factory=list)
    hidden: list[list[str]] = field(default_factory=list)
    t1: list[float] = field(default_factory=list)

    @property
    def layers(self) -> list[str]:
        """The hidden layers of the deepest run (all seeds of a group normally share them)."""
        return max(self.hidden, key=len) if self.hidden else []


def band(curves: Sequence[Series]) -> tuple[list[int], list[float], list[float], list[float]]:
    """Median, min and max over curves at every step that at least one curve has."""
    by_step: dict[int, list[float]] = {}
    for steps, values in curves:
        for s, v in zip(steps, values, strict=True):
            by_step.setdefault(s, []).append(v)
    steps = sorted(by_step)
    return (
        steps,
        [statistics.median(by_step[s]) for s in steps],
        [min(by_step[s]) for s in steps],
        [max(by_step[s]) for s in steps],
    )


def build_groups(root: Path, rows: Sequence[dict[str, Any]]) -> list[Group]:
    """One :class:`Group` per (arm, grid point), in the order of ``rows``; runs without metrics are left
    out."""
    groups: dict[str, Group] = {}
    for row in rows:
        label = row["arm"] if row["grid"] == "base" else f"{row['arm']} [{row['grid']}]"
        group = groups.setdefault(label, Group(label))
        series = load_series(root / row["run_dir"])
        if not series:
            continue
        group.runs.append(series)
        group.hidden.append(list(row.get("hidden_layers") or []))
        if isinstance(row.get("phase1_end"), int | float):
            group.t1.append(float(row["phase1_end"]))
    return [g for g in groups.values() if g.runs]


def split_series(series: str) -> tuple[str, str]:
    """``condensation/feat_inter`` -> ``("condensation", "feat_inter")``."""
    metric, _, quantity = series.partition("/")
    return metric, quantity


def summary_curves(group: Group, series: str) -> list[Series]:
    """The summary series' mean over each run's hidden layers."""
    metric, quantity = split_series(series)
    return [layer_mean(s, metric, quantity, h) for s, h in zip(group.runs, group.hidden, strict=True)]


def layer_grid(group: Group, series: str) -> tuple[list[str], list[int], list[list[float]]]:
    """The summary series of every hidden layer (median over seeds) on one step grid:
    ``(layers, steps, values)``.

    ``values[i][j]`` is layer ``i`` at ``steps[j]``; NaN where no seed logged it.
    """
    metric, quantity = split_series(series)
    layers = group.layers
    medians = {}
    for layer in layers:
        tag = f"{metric}/{layer}/{quantity}"
        steps, med, _, _ = band([s[tag] for s in group.runs if tag in s])
        medians[layer] = dict(zip(steps, med, strict=True))
    grid = sorted({s for m in medians.values() for s in m})
    return layers, grid, [[medians[layer].get(s, math.nan) for s in grid] for layer in layers]

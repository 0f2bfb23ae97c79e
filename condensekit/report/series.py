"""The curves the report's figures draw, read back from the run directories' ``metrics.jsonl``.

:func:`load_series` reads one run's scalars; :func:`summary_curve` and :func:`panel_curve` are the curves
drawn for one run (the layer means use :func:`condensekit.phases.layer_mean`, the rule the verdict uses);
:func:`band` reduces the runs of a group to the median and the min-max band at the steps they share.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path

from condensekit.output import read_metrics
from condensekit.phases import LOSS_TAG, Series, layer_mean, smoothed_loss

Curve = tuple[list[int], list[float]]


def load_series(run_dir: Path) -> dict[str, Series]:
    """tag -> (steps, values) from a run's ``metrics.jsonl``; a value written as ``null`` (not finite) is
    NaN."""
    out: dict[str, tuple[list[int], list[float]]] = {}
    for row in read_metrics(run_dir):
        step = row.get("step")
        if not isinstance(step, int):
            continue
        for tag, value in row.items():
            if tag == "step" or not (value is None or isinstance(value, int | float)):
                continue
            steps, values = out.setdefault(tag, ([], []))
            steps.append(step)
            values.append(math.nan if value is None else float(value))
    return dict(out)


def finite_points(series: Series) -> Curve:
    """The points of a series whose value is finite."""
    kept = [(s, v) for s, v in zip(*series, strict=True) if math.isfinite(v)]
    return [s for s, _ in kept], [v for _, v in kept]


def split_series(series: str) -> tuple[str, str]:
    """``condensation/feat_inter`` -> ``("condensation", "feat_inter")``."""
    metric, _, quantity = series.partition("/")
    return metric, quantity


def summary_curve(series: Mapping[str, Series], hidden: Sequence[str], summary_series: str) -> Curve:
    """The summary series' mean over a run's hidden layers, as drawn (its finite points): the curve the
    verdict's ``S0``, ``S*``, ``t*`` and ``dS`` are read from."""
    metric, quantity = split_series(summary_series)
    return finite_points(layer_mean(series, hidden, metric, quantity))


def panel_curve(series: Mapping[str, Series], hidden: Sequence[str], metric: str, key: str) -> Curve:
    """One run's curve of a metric's declared panel: ``<metric>/<key>`` when logged as such (an exact key,
    ``penultimate/nc1``), else the layer mean of the per-layer quantity ``key``."""
    tag = f"{metric}/{key}"
    return finite_points(series[tag] if tag in series else layer_mean(series, hidden, metric, key))


def loss_curve(series: Mapping[str, Series], window: int) -> Curve:
    """The training loss, smoothed as the phase detector smooths it (the run's own window)."""
    return smoothed_loss(series.get(LOSS_TAG, ([], [])), window)


def band(curves: Sequence[Series]) -> tuple[list[int], list[float], list[float], list[float]]:
    """Median, min and max over curves at the steps that every curve still running there measured.

    A curve counts at the steps from its first to its last finite value (a seed that stopped early counts
    only up to where it stopped). Steps measured by some of those curves only, such as the extra steps a
    run's summary series was refined at around its own peak, are left out: a median over whichever seeds
    happened to measure a step would jump from seed to seed.
    """
    by_step: dict[int, list[float]] = {}
    spans = []
    for steps, values in curves:
        finite = [(s, v) for s, v in zip(steps, values, strict=True) if math.isfinite(v)]
        for s, v in finite:
            by_step.setdefault(s, []).append(v)
        if finite:
            spans.append((min(s for s, _ in finite), max(s for s, _ in finite)))
    steps = [s for s in sorted(by_step) if len(by_step[s]) == sum(lo <= s <= hi for lo, hi in spans)]
    return (
        steps,
        [statistics.median(by_step[s]) for s in steps],
        [min(by_step[s]) for s in steps],
        [max(by_step[s]) for s in steps],
    )


def layer_grid(
    runs: Sequence[Mapping[str, Series]], layers: Sequence[str], summary_series: str
) -> tuple[list[int], list[list[float]]]:
    """The summary series of every hidden layer (median over the runs) on one step grid: ``(steps, values)``.

    ``values[i][j]`` is layer ``i`` at ``steps[j]``; NaN where no run logged it.
    """
    metric, quantity = split_series(summary_series)
    medians = {}
    for layer in layers:
        tag = f"{metric}/{layer}/{quantity}"
        steps, med, _, _ = band([s[tag] for s in runs if tag in s])
        medians[layer] = dict(zip(steps, med, strict=True))
    grid = sorted({s for m in medians.values() for s in m})
    return grid, [[medians[layer].get(s, math.nan) for s in grid] for layer in layers]

"""The arm summaries of the dashboard, computed from every seed's curves (see
:mod:`condensekit.dashboard_arms`).

For each group (an arm at one grid point) and each chart of the dashboard's arms section, the curve each
finished seed shows in the figures (:mod:`condensekit.report.series`: the loss's running median, the layer
means by the one rule, test accuracy as logged) is reduced to the median and the min-max band at every
step, by :func:`~condensekit.report.series.band`, the reduction ``curves.png`` draws.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from condensekit.dashboard_arms import (
    PLATEAU,
    ArmChart,
    Band,
    arm_run_files,
    plateau_marker,
    thinned,
    write_arm_runs,
)
from condensekit.phases import LOSS_TAG
from condensekit.report.model import Group, ReportInput, RunCurves
from condensekit.report.series import Curve, band, finite_points, loss_curve, panel_curve


def run_curve(run: RunCurves, source: str) -> Curve:
    """The curve one run shows for a chart's ``source``: the loss's running median (its own window), a
    layer mean (``<metric>/mean/<quantity>``, by the one rule), or the tag's finite points as logged."""
    if source == LOSS_TAG:
        return loss_curve(run.series, run.summary.smoothing_window)
    metric, middle, quantity = source.split("/", 2) if source.count("/") == 2 else ("", "", "")
    if middle == "mean":
        return panel_curve(run.series, run.summary.hidden_layers, metric, quantity)
    return finite_points(run.series.get(source, ([], [])))


def plateau_curves(runs: Sequence[RunCurves]) -> list[Curve]:
    """Each run's T1 marker on one step grid: the evenly spaced steps and every seed's T1 and the step
    before, so that the median at a step is taken over every seed that got that far."""
    t1s = [t for r in runs if isinstance(t := r.summary.phase1_end, int)]
    also = [s for t in t1s for s in (t - 1, t)]
    longest = max((r.summary.steps_done for r in runs), default=0)
    grid = plateau_marker(longest, None, also)[0]
    return [
        plateau_marker(
            r.summary.steps_done, r.summary.phase1_end, [s for s in grid if s <= r.summary.steps_done]
        )
        for r in runs
    ]


def group_bands(group: Group, charts: Sequence[ArmChart]) -> dict[ArmChart, Band]:
    """A chart -> the group's band (median, min, max over its finished seeds); charts no seed has
    a point for are left out."""
    out = {}
    for chart in charts:
        if chart.source == PLATEAU:
            curves = plateau_curves(group.curves)
        else:
            curves = [run_curve(run, chart.source) for run in group.curves]
        reduced = band([c for c in curves if c[0]])
        if reduced[0]:
            out[chart] = thinned(reduced)
    return out


def arm_folder(group: Group) -> str:
    """The group's folder below the recipe's (``mlp/base``): the parent of its runs' folders."""
    return Path(group.rows[0].run_dir).parent.as_posix()


def arm_bands(report: ReportInput, charts: Sequence[ArmChart]) -> dict[str, dict[ArmChart, Band]]:
    """Each group with curves: its folder below ``figures/arms/`` -> its bands."""
    return {arm_folder(g): bands for g in report.groups if g.curves and (bands := group_bands(g, charts))}


def arm_summary_files(report: ReportInput, charts: Sequence[ArmChart]) -> dict[str, bytes]:
    """One TensorBoard run per group with curves: path relative to the recipe's folder -> bytes, to be
    written with the report's other files (:func:`condensekit.dashboard_arms.arm_run_files`)."""
    return arm_run_files(arm_bands(report, charts))


def write_arm_summaries(root: Path, report: ReportInput, charts: Sequence[ArmChart]) -> list[Path]:
    """Write one TensorBoard run per group with curves, below ``root/figures/arms/``; return its files."""
    return write_arm_runs(root, arm_bands(report, charts))

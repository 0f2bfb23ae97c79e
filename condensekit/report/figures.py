"""Figures of the cross-run report: PNG files for ``report.md`` and the same figures in TensorBoard.

Everything is read back from the run directories (``metrics.jsonl``, and the figure declarations each
metric wrote into ``run.json``), so a report can be redrawn without re-running anything and without the
plugins installed. matplotlib (Agg backend) is imported only when figures are drawn.

One line (or panel) per group = arm at one grid point, median over seeds with a min-max band. The core
draws two figures from the recipe's summary series (``[summary] series``, e.g. ``condensation/feat_inter``):

* ``curves.png``: smoothed training loss and the series' mean over the hidden layers, against the step;
* ``per_layer.png``: the series of every hidden layer, one panel per group, with the median T1 marked.

Every other figure is declared by a metric (:class:`condensekit.MetricReport`) and drawn by
:func:`figure_panels`.
"""

from __future__ import annotations

import io
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from condensekit.metric_report import Figure, MetricReport
from condensekit.output import read_metrics
from condensekit.phases import running_median
from condensekit.report.rows import thresholds_in_force
from condensekit.status import RunStatus

LOSS_TAG = "train/loss"
MAX_PANELS = 12  # per_layer.png: more groups than this are left to TensorBoard


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
    """``<metric>/<quantity>`` when logged as such, else the mean of ``<metric>/<layer>/<quantity>`` over ``layers``
    (all layers that logged it when ``layers`` is None or none of them did), at the steps where all were logged."""
    if f"{metric}/{quantity}" in series:
        return series[f"{metric}/{quantity}"]
    logged = [t for t in series if t.startswith(f"{metric}/") and t.endswith(f"/{quantity}") and t.count("/") == 2]
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


def band(curves: Sequence[Series]) -> tuple[list[int], list[float], list[float], list[float]]:
    """Median, min and max over curves at every step that at least one curve has."""
    by_step: dict[int, list[float]] = {}
    for steps, values in curves:
        for s, v in zip(steps, values, strict=True):
            by_step.setdefault(s, []).append(v)
    steps = sorted(by_step)
    return (steps, [statistics.median(by_step[s]) for s in steps], [min(by_step[s]) for s in steps], [max(by_step[s]) for s in steps])


def build_groups(root: Path, rows: Sequence[dict[str, Any]]) -> list[Group]:
    """One :class:`Group` per (arm, grid point), in the order of ``rows``; runs without metrics are left out."""
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


def _plot_band(ax: Any, curves: Sequence[Series], label: str, color: Any, style: str = "-") -> None:
    steps, med, lo, hi = band([c for c in curves if c[0]])
    if not steps:
        return
    ax.plot(steps, med, style, color=color, label=label, lw=1.4)
    if len(curves) > 1:
        ax.fill_between(steps, lo, hi, color=color, alpha=0.18, lw=0)


def _colors(n: int) -> list[Any]:
    import matplotlib

    cmap = matplotlib.colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]


def _finish(ax: Any, ylabel: str) -> None:
    ax.set_xscale("symlog", linthresh=10)
    ax.set_xlim(left=0)
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)


def _grid_margins(fig: Any, rows: int, cols: int) -> None:
    """Fixed margins for a grid of panels (constrained layout is slow: it measures every label)."""
    height = fig.get_figheight()
    fig.subplots_adjust(left=0.3 / cols, right=0.98, bottom=0.45 / height, top=1 - 0.45 / height, wspace=0.3, hspace=0.45)


def _split(series: str) -> tuple[str, str]:
    metric, _, quantity = series.partition("/")
    return metric, quantity


def summary_curves(group: Group, series: str) -> list[Series]:
    """The summary series' mean over each run's hidden layers."""
    metric, quantity = _split(series)
    return [layer_mean(s, metric, quantity, h) for s, h in zip(group.runs, group.hidden, strict=True)]


def figure_curves(groups: Sequence[Group], series: str) -> Any:
    """Loss and the summary series (mean over hidden layers) over steps, one band per group."""
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_sim) = plt.subplots(1, 2, figsize=(11, 4))
    for group, color in zip(groups, _colors(len(groups)), strict=True):
        _plot_band(ax_loss, [smoothed_loss(s) for s in group.runs], group.label, color)
        _plot_band(ax_sim, summary_curves(group, series), group.label, color)
    _finish(ax_loss, "training loss (running median)")
    _finish(ax_sim, f"{_split(series)[1]} (mean over hidden layers)")
    ax_sim.legend(fontsize=7, loc="best")
    fig.suptitle(f"Loss and {series} (median over seeds, band: min-max)", fontsize=10)
    fig.subplots_adjust(left=0.07, right=0.98, bottom=0.13, top=0.9, wspace=0.22)
    return fig


def figure_per_layer(groups: Sequence[Group], series: str) -> Any:
    """The summary series of each hidden layer over time (median over seeds), one panel per group."""
    import matplotlib
    import matplotlib.pyplot as plt

    metric, quantity = _split(series)
    shown = list(groups)[:MAX_PANELS]
    cols = min(3, len(shown))
    rows = math.ceil(len(shown) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False, sharey=True)
    cmap = matplotlib.colormaps["viridis"]
    for ax, group in zip(axes.flat, shown, strict=False):
        layers = max(group.hidden, key=len)
        for i, layer in enumerate(layers):
            tag = f"{metric}/{layer}/{quantity}"
            steps, med, _, _ = band([s[tag] for s in group.runs if tag in s])
            ax.plot(steps, med, color=cmap(i / max(1, len(layers) - 1)), lw=1.1, label=layer if i in (0, len(layers) - 1) else None)
        if group.t1:
            ax.axvline(statistics.median(group.t1), color="k", ls="--", lw=0.8, label="T1 (median)")
        ax.set_title(group.label, fontsize=9)
        _finish(ax, quantity)
        ax.legend(fontsize=6, loc="best")
    for ax in list(axes.flat)[len(shown) :]:
        ax.set_visible(False)
    fig.suptitle(f"{quantity} per hidden layer (dark: first, yellow: last)", fontsize=9)
    _grid_margins(fig, rows, cols)
    return fig


def figure_panels(groups: Sequence[Group], metric: str, figure: Figure, series: str | None) -> Any:
    """A metric's declared figure: its panels over steps, one band per group; None when nothing was logged."""
    import matplotlib.pyplot as plt

    present = [p for p in figure.panels if any(layer_mean(s, metric, p.key, h)[0] for g in groups for s, h in zip(g.runs, g.hidden, strict=True))]
    if not present:
        return None
    lead = figure.lead_with_summary and series is not None
    cols = min(3, len(present) + lead)
    rows = math.ceil((len(present) + lead) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
    flat = list(axes.flat)
    for group, color in zip(groups, _colors(len(groups)), strict=True):
        if lead:
            _plot_band(flat[0], summary_curves(group, series), group.label, color)  # type: ignore[arg-type]
        for ax, panel in zip(flat[lead:], present, strict=False):
            _plot_band(ax, [layer_mean(s, metric, panel.key, h) for s, h in zip(group.runs, group.hidden, strict=True)], group.label, color)
    if lead:
        _finish(flat[0], f"{_split(series)[1]} (mean over hidden layers)")  # type: ignore[arg-type]
    for ax, panel in zip(flat[lead:], present, strict=False):
        _finish(ax, panel.label or panel.key)
        if panel.log:
            ax.set_yscale("log")
    flat[0].legend(fontsize=7, loc="best")
    for ax in flat[len(present) + lead :]:
        ax.set_visible(False)
    fig.suptitle(figure.title or f"metric {metric}", fontsize=10)
    _grid_margins(fig, rows, cols)
    return fig


def declared_figures(rows: Sequence[dict[str, Any]]) -> list[tuple[str, Figure]]:
    """``(metric, figure)`` for every figure the runs' metrics declared (first declaration of a name wins)."""
    out: dict[str, tuple[str, Figure]] = {}
    for row in rows:
        for metric, report in (row.get("reports") or {}).items():
            try:
                declared = MetricReport.model_validate(report)
            except ValueError:  # written by a plugin version this one cannot read: skip its figures
                continue
            for figure in declared.figures:
                out.setdefault(figure.name, (metric, figure))
    return list(out.values())


def write_figures(root: Path, rows: Sequence[dict[str, Any]]) -> tuple[list[tuple[str, str, str]], list[str], dict[str, bytes], list[Group]]:
    """Draw every figure into ``root/figures/*.png``.

    Returns:
        ``([(name, path relative to root, caption)], problems, name -> PNG bytes, groups)``; a figure that
        cannot be drawn is a problem line, never an exception, so a report is always written.
    """
    try:
        import matplotlib

        matplotlib.use("Agg", force=True)
        import matplotlib.pyplot as plt
    except ImportError as exc:
        return [], [f"figures not drawn: matplotlib is missing ({exc}); pip install matplotlib"], {}, []
    finished = [r for r in rows if r["status"] in (RunStatus.OK, RunStatus.DIVERGED)]
    groups = build_groups(root, finished)
    if not groups:
        return [], ["figures not drawn: no finished run has metrics.jsonl"], {}, []
    series = thresholds_in_force(finished)[0].series
    draw: list[tuple[str, str, Any]] = []
    if series is not None:
        draw.append(("curves", f"Training loss (running median) and `{series}`, mean over hidden layers.", lambda: figure_curves(groups, series)))
        draw.append(("per_layer", f"Each hidden layer's `{series}` (median over seeds); dashed: median T1.", lambda: figure_per_layer(groups, series)))
    for metric, figure in declared_figures(finished):
        draw.append((figure.name, figure.caption, lambda m=metric, f=figure: figure_panels(groups, m, f, series)))  # type: ignore[misc]
    (root / "figures").mkdir(exist_ok=True)
    written: list[tuple[str, str, str]] = []
    problems: list[str] = []
    pngs: dict[str, bytes] = {}
    for name, caption, make in draw:
        try:
            fig = make()
            if fig is None:  # a declared figure none of whose keys any run logged
                continue
            buffer = io.BytesIO()
            fig.savefig(buffer, format="png", dpi=90)
            plt.close(fig)
            (root / "figures" / f"{name}.png").write_bytes(buffer.getvalue())
            pngs[name] = buffer.getvalue()
            written.append((name, f"figures/{name}.png", caption))
        except Exception as exc:  # one bad figure must not cost the report
            plt.close("all")
            problems.append(f"figure {name} not drawn: {type(exc).__name__}: {exc}")
    return written, problems, pngs, groups

"""Figures of the cross-run report: PNG files for ``report.md`` and the same figures in TensorBoard.

Everything is read back from the run directories (``metrics.jsonl``, and the figure declarations each
metric wrote into ``run.json``), through the report's input (:mod:`condensekit.report.model`), so a report
can be redrawn without re-running anything and without the plugins installed. matplotlib (Agg backend) is
imported only when figures are drawn. Every layer mean drawn is :func:`condensekit.phases.layer_mean`, the
rule the verdict uses.

One line (or panel) per group = arm at one grid point, median over seeds with a min-max band. The core
draws three figures from the recipe's summary series (``[summary] series``, e.g. ``condensation/feat_inter``):

* ``curves.png``: smoothed training loss and the series' mean over the hidden layers, against the step;
* ``heatmap.png``: per group, the series of every hidden layer (rows) against the step (columns), with
  the median T1 marked: where and when the features condense, at a glance;
* ``per_layer.png``: the same as lines, one panel per group, coloured by depth with a labelled colour bar.

Every other figure is declared by a metric (:class:`condensekit.MetricReport`) and drawn by
:func:`figure_panels`. Sizes are chosen so that labels stay readable at the figure's own size (11 pt
ticks, 100 dpi).
"""

from __future__ import annotations

import io
import math
import re
import statistics
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from condensekit.metric_report import Figure
from condensekit.phases import Series
from condensekit.report.figure_text import fit_text
from condensekit.report.model import Group, ReportInput
from condensekit.report.series import (
    Curve,
    band,
    layer_grid,
    loss_curve,
    panel_curve,
    split_series,
    summary_curve,
)

MAX_PANELS = 12  # heatmap.png / per_layer.png: more groups than this are left to TensorBoard
DPI = 100
STYLE: dict[str, Any] = {
    "font.size": 11,
    "axes.titlesize": 12,
    "axes.labelsize": 11,
    "xtick.labelsize": 10,
    "ytick.labelsize": 10,
    "legend.fontsize": 10,
}


def summary_curves(group: Group, series: str) -> list[Curve]:
    """The summary series' mean over each run's hidden layers (see :func:`.series.summary_curve`)."""
    return [summary_curve(c.series, c.summary.hidden_layers, series) for c in group.curves]


def _plot_band(ax: Any, curves: Sequence[Curve], label: str, color: Any, style: str = "-") -> None:
    steps, med, lo, hi = band([c for c in curves if c[0]])
    if not steps:
        return
    ax.plot(steps, med, style, color=color, label=label, lw=1.8)
    if len(curves) > 1:
        ax.fill_between(steps, lo, hi, color=color, alpha=0.18, lw=0)


def _colors(n: int) -> list[Any]:
    import matplotlib

    cmap = matplotlib.colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]


def _step_axis(ax: Any) -> None:
    ax.set_xscale("symlog", linthresh=10)
    ax.set_xlim(left=0)
    ax.set_xlabel("step (linear to 10, then log)")


def _finish(ax: Any, ylabel: str) -> None:
    _step_axis(ax)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)


def _panels(n: int, width: float, height: float, **kwargs: Any) -> tuple[Any, list[Any]]:
    """A figure with ``n`` panels, at most 3 per row, each ``width`` x ``height`` inches; unused panels
    hidden."""
    import matplotlib.pyplot as plt

    cols = max(1, min(3, n))
    rows = max(1, math.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False, **kwargs)
    flat = list(axes.flat)
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat


def _margins(
    fig: Any, right: float = 0.98, top_inches: float = 0.6, bottom_inches: float = 0.65, wspace: float = 0.35
) -> None:
    """Fixed margins for a grid of panels (constrained layout is slow: it measures every label)."""
    width, height = fig.get_figwidth(), fig.get_figheight()
    fig.subplots_adjust(
        left=1.0 / width,
        right=right,
        bottom=bottom_inches / height,
        top=1 - top_inches / height,
        wspace=wspace,
        hspace=0.5,
    )


def figure_curves(groups: Sequence[Group], series: str) -> Any:
    """Loss and the summary series (mean over hidden layers) over steps, one band per group."""
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_sim) = plt.subplots(1, 2, figsize=(13, 4.8))
    peaks = []  # each group's highest median loss
    for group, color in zip(groups, _colors(len(groups)), strict=True):
        losses = [loss_curve(c.series, c.summary.smoothing_window) for c in group.curves]
        _plot_band(ax_loss, losses, group.label, color)
        peaks += [max(med)] if (med := band([c for c in losses if c[0]])[1]) else []
        _plot_band(ax_sim, summary_curves(group, series), group.label, color)
        if group.t1:
            ax_loss.axvline(statistics.median(group.t1), color=color, ls=":", lw=1.5)
    _finish(ax_loss, "training loss (running median)")
    _finish(ax_sim, f"{split_series(series)[1]}, mean over hidden layers")
    ax_loss.set_title("training loss; dotted: median T1")
    top = 1.2 * statistics.median(peaks) if peaks else 0.0
    if peaks and max(peaks) > 2 * top > 0:  # a diverging group would flatten every other curve
        ax_loss.set_ylim(bottom=0, top=top)
        ax_loss.set_title(f"training loss; dotted: median T1; cut at {top:.3g} (diverging runs go higher)")
    ax_sim.set_title(series)
    ax_sim.legend(loc="best")
    fig.suptitle("median over seeds; band: min to max", fontsize=10, color="0.35")
    fig.subplots_adjust(left=0.07, right=0.98, bottom=0.14, top=0.86, wspace=0.25)
    return fit_text(fig)


def _mark_t1(ax: Any, group: Group, color: str = "k") -> None:
    if group.t1:
        ax.axvline(statistics.median(group.t1), color=color, ls="--", lw=1.2)


def figure_heatmap(groups: Sequence[Group], series: str, change: bool = False) -> Any:
    """Per group, a layer x step heatmap of the summary series (median over seeds); dashed: the median T1.

    With ``change``, each cell is the change since the layer's first measurement (step 0), the median over
    seeds of each seed's own change, on a diverging colour map centred on 0 (red: higher than at step 0,
    blue: lower): a rise over time shows even where the layers differ far more from each other than in
    time, which the absolute map's colour range is set by.
    """
    import matplotlib
    import numpy as np

    quantity = split_series(series)[1]
    shown = _heatmap_grids(groups, series, change)
    if not shown:
        return None
    finite = [v for *_, values in shown for row in values for v in row if math.isfinite(v)]
    reach = max((abs(v) for v in finite), default=0.0) or 1.0  # the change map: centred on 0
    low, high = (-reach, reach) if change else (min(finite), max(finite))
    norm = matplotlib.colors.Normalize(low, high)
    fig, axes = _panels(
        len(shown),
        5.4 if len(shown) == 1 else 4.6,
        1.3 + 0.28 * max(len(layers) for _, layers, _, _ in shown),
        sharex=False,
    )
    for ax, (group, layers, steps, values) in zip(axes, shown, strict=False):
        edges = _edges(steps)
        mesh = ax.pcolormesh(
            edges,
            np.arange(len(layers) + 1),
            np.ma.masked_invalid(np.array(values)),
            norm=norm,
            cmap="RdBu_r" if change else "viridis",
            shading="flat",
        )
        ax.set_yticks(np.arange(len(layers)) + 0.5, layers, fontsize=8 if len(layers) > 12 else 10)
        ax.invert_yaxis()  # the first hidden layer on top
        _step_axis(ax)
        ax.set_xlim(edges[0], edges[-1])
        _mark_t1(ax, group, "k" if change else "white")  # white vanishes in the diverging map's middle
        ax.set_title(group.label + (f"  (T1 {statistics.median(group.t1):g})" if group.t1 else "  (stuck)"))
    width = fig.get_figwidth()  # the colour bar and its label get a fixed 1.3 inches on the right
    _margins(fig, right=1 - 1.3 / width, bottom_inches=0.75)
    bar = fig.colorbar(mesh, cax=fig.add_axes((1 - 1.05 / width, 0.15, 0.15 / width, 0.7)))
    bar.set_label(f"{quantity} minus its value at step 0" if change else quantity)
    what = f"change of {quantity} since step 0" if change else quantity
    fig.suptitle(f"{what} per hidden layer (median over seeds); dashed: median T1", fontsize=11)
    return fit_text(fig)


def _heatmap_grids(
    groups: Sequence[Group], series: str, change: bool
) -> list[tuple[Group, tuple[str, ...], list[int], list[list[float]]]]:
    """``(group, its layers, steps, values[layer][step])`` of each group drawn (those with any value)."""
    shown = []
    for group in groups[:MAX_PANELS]:
        runs = [_since_start(c.series, series) if change else c.series for c in group.curves]
        steps, values = layer_grid(runs, group.layers, series)
        if steps:
            shown.append((group, group.layers, steps, values))
    return shown


def _since_start(series: Mapping[str, Series], summary_series: str) -> dict[str, Series]:
    """A run's per-layer tags of the summary series as changes since each layer's first measurement."""
    metric, quantity = split_series(summary_series)
    out: dict[str, Series] = {}
    for tag, (steps, values) in series.items():
        if values and tag.startswith(f"{metric}/") and tag.endswith(f"/{quantity}"):
            out[tag] = (steps, [v - values[0] for v in values])
    return out


def _edges(steps: Sequence[int]) -> list[float]:
    """Cell edges around each measured step (midpoints), for a heatmap whose columns are unevenly spaced
    steps."""
    if len(steps) == 1:
        return [steps[0] - 0.5, steps[0] + 0.5]
    mids = [(a + b) / 2 for a, b in zip(steps, steps[1:], strict=False)]
    return [max(0.0, steps[0] - (mids[0] - steps[0])), *mids, steps[-1] + (steps[-1] - mids[-1])]


def figure_per_layer(groups: Sequence[Group], series: str) -> Any:
    """The summary series of each hidden layer over time (median over seeds), one panel per group.

    Lines are coloured by depth (dark: first hidden layer, yellow: last); each panel's colour bar names its
    layers, so arms with different layer names and depths read alike.
    """
    import matplotlib

    metric, quantity = split_series(series)
    shown = list(groups)[:MAX_PANELS]
    fig, axes = _panels(len(shown), 7.0 if len(shown) == 1 else 6.0, 4.0, sharey=True)
    cmap = matplotlib.colormaps["viridis"]
    for ax, group in zip(axes, shown, strict=False):
        layers = group.layers
        norm = matplotlib.colors.Normalize(0, max(1, len(layers) - 1))
        for i, layer in enumerate(layers):
            tag = f"{metric}/{layer}/{quantity}"
            steps, med, _, _ = band([c.series[tag] for c in group.curves if tag in c.series])
            ax.plot(steps, med, color=cmap(norm(i)), lw=1.5)
        _mark_t1(ax, group)
        ax.set_title(group.label)
        _finish(ax, quantity)
        ax.tick_params(labelleft=True)
        every = max(1, math.ceil(len(layers) / 20))
        bar = fig.colorbar(matplotlib.cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, fraction=0.06, pad=0.02)
        bar.set_ticks(
            range(0, len(layers), every), labels=list(layers[::every]), fontsize=8 if len(layers) > 10 else 9
        )
        bar.ax.invert_yaxis()  # the first hidden layer on top, as in heatmap.png
    _margins(fig, right=1 - 1.1 / fig.get_figwidth(), wspace=0.55)
    fig.suptitle(
        f"{quantity} per hidden layer, coloured by depth (median over seeds); dashed: median T1", fontsize=11
    )
    return fit_text(fig)


def figure_panels(groups: Sequence[Group], metric: str, figure: Figure, series: str | None) -> Any:
    """A metric's declared figure: its panels over steps, one band per group; None when nothing was logged."""

    def curves(group: Group, key: str) -> list[Curve]:
        return [panel_curve(c.series, c.summary.hidden_layers, metric, key) for c in group.curves]

    present = [p for p in figure.panels if any(c[0] for g in groups for c in curves(g, p.key))]
    if not present:
        return None
    lead = figure.lead_with_summary and series is not None
    fig, flat = _panels(len(present) + lead, 4.6, 3.6)
    for group, color in zip(groups, _colors(len(groups)), strict=True):
        if lead:
            _plot_band(flat[0], summary_curves(group, series), group.label, color)  # type: ignore[arg-type]
        for ax, panel in zip(flat[lead:], present, strict=False):
            _plot_band(ax, curves(group, panel.key), group.label, color)
    if lead:
        _finish(flat[0], f"{split_series(series)[1]}, layer mean")  # type: ignore[arg-type]
    for ax, panel in zip(flat[lead:], present, strict=False):
        _finish(ax, panel.label or panel.key)
        if panel.log:
            ax.set_yscale("log")
    flat[0].legend(loc="best", fontsize=9)
    fig.suptitle(figure.title or f"metric {metric}", fontsize=12)
    _margins(fig)
    return fit_text(fig)


def declared_figures(report: ReportInput) -> list[tuple[str, Figure]]:
    """``(metric, figure)`` for every figure the runs' metrics declared (first declaration of a name wins)."""
    out: dict[str, tuple[str, Figure]] = {}
    for row in report.rows:
        for metric, declared in row.reports.items():
            for figure in declared.figures:
                out.setdefault(figure.name, (metric, figure))
    return list(out.values())


def figures_to_draw(report: ReportInput, groups: Sequence[Group]) -> list[tuple[str, str, Callable[[], Any]]]:
    """``(name, caption, draw)`` of every figure: the three of the summary series, then the metrics' own."""
    series = report.series
    draw: list[tuple[str, str, Callable[[], Any]]] = []
    if series is not None:
        draw += [
            (
                "curves",
                f"Training loss (running median) and `{series}`, mean over hidden layers.",
                lambda: figure_curves(groups, series),
            ),
            (
                "heatmap",
                f"`{series}` of every hidden layer (rows, first on top) over the steps, median over seeds; "
                "dashed: median T1.",
                lambda: figure_heatmap(groups, series),
            ),
            (
                "heatmap_change",
                f"Change of `{series}` since step 0 in every hidden layer (rows, first on top), the median "
                "over seeds of each seed's change; red: above its value at step 0, blue: below; dashed: "
                "median T1.",
                lambda: figure_heatmap(groups, series, change=True),
            ),
            (
                "per_layer",
                f"Each hidden layer's `{series}` (median over seeds), coloured by depth; dashed: median T1.",
                lambda: figure_per_layer(groups, series),
            ),
        ]
    for metric, figure in declared_figures(report):
        draw.append(
            (figure.name, figure.caption, lambda m=metric, f=figure: figure_panels(groups, m, f, series))  # type: ignore[misc]
        )
    return draw


FIGURE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
"""A figure's name becomes ``figures/<name>.png``: a plain file name, whatever a ``run.json`` declares."""


def draw_figures(report: ReportInput) -> tuple[list[tuple[str, str, str]], list[str], dict[str, bytes]]:
    """Draw every figure as PNG bytes (the report writes them into ``figures/``).

    Returns:
        ``([(name, path relative to the report's folder, caption)], problems, name -> PNG bytes)``; a figure
        that cannot be drawn, or whose declared name is no plain file name (a ``run.json`` may say
        ``../../x``) or is taken, is a problem line, never an exception, so a report is always written.
    """
    try:
        import matplotlib

        matplotlib.use("Agg", force=True)
        import matplotlib.pyplot as plt
    except ImportError as exc:
        return [], [f"figures not drawn: matplotlib is missing ({exc}); pip install matplotlib"], {}
    groups = [g for g in report.groups if g.curves]
    if not groups:
        return [], ["figures not drawn: no finished run has metrics.jsonl"], {}
    drawn: list[tuple[str, str, str]] = []
    problems: list[str] = []
    pngs: dict[str, bytes] = {}
    taken: set[str] = set()
    for name, caption, make in figures_to_draw(report, groups):
        if not FIGURE_NAME.fullmatch(name) or name in taken:
            why = "is taken" if name in taken else "is not a plain file name (letters, digits, _ - .)"
            problems.append(f"figure {name[:100]!r} not drawn: its name {why}")
            continue
        taken.add(name)
        try:
            with plt.rc_context(STYLE):  # type: ignore[arg-type]
                fig = make()
            if fig is None:  # a declared figure none of whose keys any run logged
                continue
            buffer = io.BytesIO()
            fig.savefig(buffer, format="png", dpi=DPI)
            plt.close(fig)
            pngs[name] = buffer.getvalue()
            drawn.append((name, f"figures/{name}.png", caption))
        except Exception as exc:  # one bad figure must not cost the report
            plt.close("all")
            problems.append(f"figure {name} not drawn: {type(exc).__name__}: {exc}")
    return drawn, problems, pngs

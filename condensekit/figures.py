"""Figures of the cross-run report: PNG files for ``report.md`` and the same figures in TensorBoard.

Everything is read back from the run directories (``metrics.jsonl``), so a report can be redrawn
without re-running anything. matplotlib (Agg backend) is imported only when figures are drawn.

Figures, one line (or panel) per group = arm at one grid point, median over seeds with a min-max band:

* ``curves.png``: smoothed training loss and inter-class feature similarity (``feat_inter``, mean over
  the hidden layers) against the step.
* ``centered.png``: the same similarity uncentered beside centered (``feat_inter_centered``): a rise of the
  uncentered value alone is a shared offset (residual streams, ReLU outputs), not condensation.
* ``per_layer.png``: ``feat_inter`` of every hidden layer over time, one panel per group, with the
  median phase-1 end ``T1`` marked.
"""

from __future__ import annotations

import io
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from condensekit.output import read_metrics
from condensekit.phases import running_median

LOSS_TAG = "train/loss"
SIMILARITY = "feat_inter"
SIMILARITY_CENTERED = "feat_inter_centered"
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


def layer_tag(layer: str, quantity: str) -> str:
    return f"condensation/{layer}/{quantity}"


def hidden_layers_of(series: dict[str, Series], hidden: Sequence[str] | None) -> list[str]:
    """Hidden layers with a ``feat_inter`` series: the run's own list when known, else every layer but logits."""
    logged = [t.split("/")[1] for t in series if t.startswith("condensation/") and t.endswith(f"/{SIMILARITY}") and t.count("/") == 2]
    if hidden:
        return [name for name in hidden if name in logged]
    return [name for name in logged if name != "logits"]


def layer_mean(series: dict[str, Series], layers: Sequence[str], quantity: str) -> Series:
    """Mean over ``layers`` of a per-layer quantity, at the steps where every one of them was logged."""
    per_layer = [dict(zip(*series[layer_tag(name, quantity)], strict=True)) for name in layers if layer_tag(name, quantity) in series]
    if not per_layer:
        return [], []
    steps = sorted(set.intersection(*(set(d) for d in per_layer)))
    return steps, [statistics.fmean(d[s] for d in per_layer) for s in steps]


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
        group.hidden.append(hidden_layers_of(series, row.get("hidden_layers")))
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


def figure_curves(groups: Sequence[Group]) -> Any:
    """Loss and mean hidden-layer ``feat_inter`` over steps, one band per group."""
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_sim) = plt.subplots(1, 2, figsize=(11, 4))
    for group, color in zip(groups, _colors(len(groups)), strict=True):
        _plot_band(ax_loss, [smoothed_loss(s) for s in group.runs], group.label, color)
        sims = [layer_mean(s, h, SIMILARITY) for s, h in zip(group.runs, group.hidden, strict=True)]
        _plot_band(ax_sim, sims, group.label, color)
    _finish(ax_loss, "training loss (running median)")
    _finish(ax_sim, "feat_inter (mean over hidden layers)")
    ax_sim.legend(fontsize=7, loc="best")
    fig.suptitle("Loss and inter-class feature similarity (median over seeds, band: min-max)", fontsize=10)
    fig.subplots_adjust(left=0.07, right=0.98, bottom=0.13, top=0.9, wspace=0.22)
    return fig


def figure_centered(groups: Sequence[Group]) -> Any:
    """Uncentered beside centered inter-class similarity, one band per group."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for group, color in zip(groups, _colors(len(groups)), strict=True):
        for ax, quantity in zip(axes, (SIMILARITY, SIMILARITY_CENTERED), strict=True):
            curves = [layer_mean(s, h, quantity) for s, h in zip(group.runs, group.hidden, strict=True)]
            _plot_band(ax, curves, group.label, color)
    _finish(axes[0], "feat_inter (uncentered)")
    _finish(axes[1], "feat_inter_centered")
    axes[1].legend(fontsize=7, loc="best")
    fig.suptitle("Uncentered vs centered inter-class similarity (mean over hidden layers)", fontsize=10)
    fig.subplots_adjust(left=0.07, right=0.98, bottom=0.13, top=0.9, wspace=0.08)
    return fig


def figure_per_layer(groups: Sequence[Group]) -> Any:
    """``feat_inter`` of each hidden layer over time (median over seeds), one panel per group."""
    import matplotlib
    import matplotlib.pyplot as plt

    shown = list(groups)[:MAX_PANELS]
    cols = min(3, len(shown))
    rows = math.ceil(len(shown) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False, sharey=True)
    cmap = matplotlib.colormaps["viridis"]
    for ax, group in zip(axes.flat, shown, strict=False):
        layers = max(group.hidden, key=len)
        for i, layer in enumerate(layers):
            curves = [(list(s[layer_tag(layer, SIMILARITY)][0]), list(s[layer_tag(layer, SIMILARITY)][1])) for s in group.runs if layer_tag(layer, SIMILARITY) in s]
            steps, med, _, _ = band(curves)
            ax.plot(steps, med, color=cmap(i / max(1, len(layers) - 1)), lw=1.1, label=layer if i in (0, len(layers) - 1) else None)
        if group.t1:
            ax.axvline(statistics.median(group.t1), color="k", ls="--", lw=0.8, label="T1 (median)")
        ax.set_title(group.label, fontsize=9)
        _finish(ax, "feat_inter")
        ax.legend(fontsize=6, loc="best")
    for ax in list(axes.flat)[len(shown) :]:
        ax.set_visible(False)
    fig.suptitle("feat_inter per hidden layer (dark: first, yellow: last)", fontsize=9)
    _grid_margins(fig, rows, cols)
    return fig


def metric_mean(series: dict[str, Series], prefix: str, quantity: str) -> Series:
    """``<prefix>/<quantity>`` if logged, else the mean over layers of ``<prefix>/<layer>/<quantity>``."""
    if f"{prefix}/{quantity}" in series:
        return series[f"{prefix}/{quantity}"]
    tags = [t for t in series if t.startswith(f"{prefix}/") and t.endswith(f"/{quantity}") and t.count("/") == 2]
    if not tags:
        return [], []
    per_tag = [dict(zip(*series[t], strict=True)) for t in tags]
    steps = sorted(set.intersection(*(set(d) for d in per_tag)))
    return steps, [statistics.fmean(d[s] for d in per_tag) for s in steps]


# optional panels: (metric prefix, quantity, y label, log scale); drawn when some run logged them
NC_PANELS = [("neural_collapse/penultimate", q, f"{q} (penultimate)", log) for q, log in
             (("nc1", True), ("nc2_equinorm", False), ("nc2_maxangle", False), ("nc3", False), ("nc4", False))]  # fmt: skip
HEALTH_PANELS = [("gradient_health", "grad_ratio_first_last", "|dL/dW| first / last layer", True),
                 ("gradient_health", "wgrad_norm", "|dL/dW| (mean over layers)", True),
                 ("gradient_health", "dead_frac", "dead units (mean over hidden layers)", False),
                 ("gradient_health", "rel_change", "|W - W0| / |W0| (mean over layers)", False)]  # fmt: skip


def figure_panels(groups: Sequence[Group], panels: Sequence[tuple[str, str, str, bool]], title: str) -> Any:
    """feat_inter beside metric quantities over steps, one band per group; None when nothing was logged."""
    import matplotlib.pyplot as plt

    present = [p for p in panels if any(metric_mean(s, p[0], p[1])[0] for g in groups for s in g.runs)]
    if not present:
        return None
    cols = 3
    rows = math.ceil((len(present) + 1) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
    flat = list(axes.flat)
    for group, color in zip(groups, _colors(len(groups)), strict=True):
        _plot_band(flat[0], [layer_mean(s, h, SIMILARITY) for s, h in zip(group.runs, group.hidden, strict=True)], group.label, color)
        for ax, (prefix, quantity, _, _) in zip(flat[1:], present, strict=False):
            _plot_band(ax, [metric_mean(s, prefix, quantity) for s in group.runs], group.label, color)
    _finish(flat[0], "feat_inter (mean over hidden layers)")
    flat[0].legend(fontsize=7, loc="best")
    for ax, (_, _, label, log) in zip(flat[1:], present, strict=False):
        _finish(ax, label)
        if log:
            ax.set_yscale("log")
    for ax in flat[len(present) + 1 :]:
        ax.set_visible(False)
    fig.suptitle(title, fontsize=10)
    _grid_margins(fig, rows, cols)
    return fig


FIGURES = {
    "curves": figure_curves,
    "centered": figure_centered,
    "per_layer": figure_per_layer,
    "neural_collapse": lambda groups: figure_panels(groups, NC_PANELS, "Neural collapse on the penultimate features (all -> 0 under collapse)"),
    "gradient_health": lambda groups: figure_panels(groups, HEALTH_PANELS, "Gradient health: vanishing gradients, dead units, weight change"),
}


def write_figures(root: Path, rows: Sequence[dict[str, Any]]) -> tuple[dict[str, str], list[str]]:
    """Draw every figure into ``root/figures/*.png`` and into TensorBoard (``root/report``).

    Returns:
        ``(name -> path relative to root, problems)``; a figure that cannot be drawn is a problem
        line, never an exception, so a report is always written.
    """
    try:
        import matplotlib

        matplotlib.use("Agg", force=True)
        import matplotlib.pyplot as plt
    except ImportError as exc:
        return {}, [f"figures not drawn: matplotlib is missing ({exc}); pip install matplotlib"]
    groups = build_groups(root, [r for r in rows if r["status"] in ("ok", "diverged")])
    if not groups:
        return {}, ["figures not drawn: no finished run has metrics.jsonl"]
    (root / "figures").mkdir(exist_ok=True)
    written: dict[str, str] = {}
    problems: list[str] = []
    pngs: dict[str, bytes] = {}
    for name, draw in FIGURES.items():
        try:
            fig = draw(groups)
            if fig is None:  # an optional figure whose metric no run logged
                continue
            buffer = io.BytesIO()
            fig.savefig(buffer, format="png", dpi=90)
            plt.close(fig)
            (root / "figures" / f"{name}.png").write_bytes(buffer.getvalue())
            pngs[name] = buffer.getvalue()
            written[name] = f"figures/{name}.png"
        except Exception as exc:  # one bad figure must not cost the report
            plt.close("all")
            problems.append(f"figure {name} not drawn: {type(exc).__name__}: {exc}")
    try:
        write_tensorboard(root / "report", pngs, groups)
    except Exception as exc:
        problems.append(f"TensorBoard figures not written: {type(exc).__name__}: {exc}")
    return written, problems


def custom_scalar_layout(groups: Sequence[Group]) -> dict[str, dict[str, list[Any]]]:
    """TensorBoard custom-scalars layout: charts whose lines are the runs (arms, grid points, seeds) overlaid."""
    layers: list[str] = []
    for group in groups:
        for hidden in group.hidden:
            layers += [name for name in hidden if name not in layers]
    overview = {
        "training loss": ["Multiline", [r"^train/loss$"]],
        "test accuracy": ["Multiline", [r"^test/accuracy$"]],
        "train accuracy": ["Multiline", [r"^train/accuracy$"]],
    }
    per_layer = {f"{name}: feat_inter": ["Multiline", [f"^{_regex(layer_tag(name, SIMILARITY))}$"]] for name in layers}
    centered = {f"{name}: feat_inter_centered": ["Multiline", [f"^{_regex(layer_tag(name, SIMILARITY_CENTERED))}$"]] for name in layers}
    return {"arms overlaid": overview, "feat_inter per layer": per_layer, "feat_inter_centered per layer": centered}


def _regex(text: str) -> str:
    import re

    return re.escape(text)


def write_tensorboard(log_dir: Path, pngs: dict[str, bytes], groups: Sequence[Group]) -> None:
    """The figures as TensorBoard images and the custom-scalars layout, in one fresh event file in ``log_dir``.

    Written with tensorboard's own event writer and protos: the PNGs are stored as they are (not drawn a
    second time) and ``condensekit report`` does not need to import torch.
    """
    from tensorboard.compat.proto.summary_pb2 import Summary
    from tensorboard.plugins.custom_scalar import layout_pb2
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    log_dir.mkdir(parents=True, exist_ok=True)
    for old in log_dir.glob("events.out.tfevents.*"):  # a rebuilt report replaces the previous one
        old.unlink()
    writer = EventFileWriter(str(log_dir))
    try:
        for name, png in pngs.items():
            width, height = _png_size(png)
            image = Summary.Image(encoded_image_string=png, height=height, width=width, colorspace=4)
            writer.add_event(_event(Summary(value=[Summary.Value(tag=f"report/{name}", image=image)])))
        layout = layout_pb2.Layout(category=[
            layout_pb2.Category(title=title, chart=[
                layout_pb2.Chart(title=chart, multiline=layout_pb2.MultilineChartContent(tag=tags))
                for chart, (_, tags) in charts.items()
            ])
            for title, charts in custom_scalar_layout(groups).items()
        ])  # fmt: skip
        writer.add_event(_event(_layout_summary(layout)))
    finally:
        writer.close()


def _layout_summary(layout: Any) -> Any:
    """The custom-scalars plugin's config summary: the serialized layout as a string tensor under its fixed tag.

    (``tensorboard.plugins.custom_scalar.summary.pb`` builds the same but imports TensorFlow.)
    """
    from tensorboard.compat.proto.summary_pb2 import Summary, SummaryMetadata
    from tensorboard.compat.proto.tensor_pb2 import TensorProto
    from tensorboard.compat.proto.tensor_shape_pb2 import TensorShapeProto

    metadata = SummaryMetadata(plugin_data=SummaryMetadata.PluginData(plugin_name="custom_scalars"))
    tensor = TensorProto(dtype="DT_STRING", string_val=[layout.SerializeToString()], tensor_shape=TensorShapeProto())
    return Summary(value=[Summary.Value(tag="custom_scalars__config__", tensor=tensor, metadata=metadata)])


def _event(summary: Any) -> Any:
    import time

    from tensorboard.compat.proto.event_pb2 import Event

    return Event(wall_time=time.time(), step=0, summary=summary)


def _png_size(png: bytes) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk."""
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")

"""The TensorBoard dashboard of a recipe, built for comparing arms: its layout, tags and HParams protos.

``tensorboard --logdir runs/<recipe>`` shows every run of the recipe. What it shows is decided here; who
writes it is elsewhere: the TensorBoard writer plugin (:mod:`condensekit.defaults.tensorboard`) writes the
per-run parts into each run's event file, and the API (before the runs) and the report (after them) write
the recipe-wide parts into ``runs/<recipe>/figures/`` with :func:`write_dashboard_config`:

* **Custom Scalars** opens with the arms (:mod:`condensekit.dashboard_arms`, written by the report): per
  arm the median over seeds with its min-max band, one colour per arm. Then every run overlaid: loss,
  test accuracy, the summary series' mean over hidden layers (``condensation/mean/feat_inter``), the layer
  means a metric declares in ``MetricReport.compare`` (e.g. the energy shares), and ``on the loss plateau``
  (1 until the run's T1, then 0: the T1 marker). Then the summary series *by relative depth*: the first,
  25%, 50%, 75% and last hidden layer, so arms of different depths and layer names overlay. Then every
  other layer mean, and the per-layer detail (closed).
* **Time Series / Scalars**: every scalar under its own name (the keys of ``metrics.jsonl``), plus the
  headline copied into the groups ``Compare`` and ``Compare_by_depth``, whose names sort before every
  metric's group, so the headline comes first and opens first.
* **HParams**: arm, seed, status, the tricks with their parameters and the grid values as hyperparameters
  (five or fewer, so TensorBoard ticks them all), with discrete domains; the per-run verdict (the quantities
  with an HParams tag in :mod:`condensekit.quantities`: T1, dS, peak in phase 1, test acc, condensed, then
  the per-layer answers) as metrics. The configuration is written once for the recipe (``figures/``)
  before the first run trains, and again by the report.
* **Images and Text**, run ``figures``: the report's figures at their full size, and ``report.md``.

The per-depth copies are written by the runs themselves, while they train, because only a run knows its
hidden layers; that keeps one event file per run and the dashboard live. Everything here uses
tensorboard's own protos, without torch or TensorFlow.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from condensekit import quantities
from condensekit.dashboard_arms import arms_category
from condensekit.event_files import PREFIX as EVENT_FILE_PREFIX
from condensekit.metric_report import MetricReport
from condensekit.phases import LOSS_TAG, RunSummary
from condensekit.text import grid_label, value_label

COMPARE = "Compare"
EVERY_RUN = "Compare runs: every seed of every arm (one colour per run)"
BY_DEPTH = "Compare_by_depth"
ON_PLATEAU = f"{COMPARE}/on_plateau"
FIGURES = "figures"
DASHBOARD_STALE = {FIGURES: EVENT_FILE_PREFIX}
"""Written with the dashboard's file: the previous event files of ``figures/`` are removed."""
DEPTHS = (("first", 0.0), ("25%", 0.25), ("50%", 0.5), ("75%", 0.75), ("last", 1.0))


def depth_layers(hidden: Sequence[str]) -> list[tuple[int, str, str]]:
    """``(position index, position name, layer)`` of the first, 25%, 50%, 75% and last hidden layer.

    The layer at relative depth ``p`` is ``hidden[round(p * (n - 1))]``, in the order the model lists its
    probe points (a shallow net repeats a layer).
    """
    if not hidden:
        return []
    return [(i, name, hidden[round(p * (len(hidden) - 1))]) for i, (name, p) in enumerate(DEPTHS)]


def depth_tag(quantity: str, index: int, name: str) -> str:
    """``Compare_by_depth/feat_inter/2_50%``: one shared tag per relative depth (one summary series per
    run)."""
    return f"{BY_DEPTH}/{quantity}/{index}_{name}"


def compare_quantities(series: str | None, reports: Mapping[str, MetricReport]) -> list[tuple[str, str]]:
    """``(metric, quantity)`` whose layer means the compare section overlays: the series first, then declared
    ones."""
    out: list[tuple[str, str]] = []
    if series:
        metric, _, quantity = series.partition("/")
        out.append((metric, quantity))
    for metric, report in reports.items():
        out += [(metric, q) for q in report.compare if (metric, q) not in out]
    return out


def headline_tags(series: str | None, reports: Mapping[str, MetricReport]) -> list[tuple[str, str, str]]:
    """``(chart title, tag, its copy under Compare/)`` of the compare section, in order (the T1 marker
    excluded).

    The copies are numbered (``Compare/1_train_loss``, ``Compare/3_feat_inter_mean``) so that TensorBoard,
    which sorts cards by name, shows them in this order.
    """
    quantities = compare_quantities(series, reports)
    repeated = {q for _, q in quantities if sum(1 for _, other in quantities if other == q) > 1}
    items = [
        (title, tag, name)
        for title, tag, name in (
            ("training loss", LOSS_TAG, "train_loss"),
            ("test accuracy", "test/accuracy", "test_accuracy"),
            *(
                (
                    f"{q}, mean over hidden layers ({m})",
                    f"{m}/mean/{q}",
                    f"{m}.{q}_mean" if q in repeated else f"{q}_mean",
                )
                for m, q in quantities
            ),
        )
    ]
    digits = len(str(len(items)))
    return [
        (title, tag, f"{COMPARE}/{i:0{digits}d}_{name}")
        for i, (title, tag, name) in enumerate(items, start=1)
    ]


def dashboard_layout(
    series: str | None,
    reports: Mapping[str, MetricReport],
    hidden: Sequence[str],
    tags: Iterable[str],
    groups: Mapping[str, Sequence[str]] | None = None,
) -> Any:
    """The custom-scalars layout of one run (TensorBoard merges the runs' layouts by section title).

    Args:
        series: the summary series ``<metric>/<quantity>`` (None: no similarity series).
        reports: metric name -> its MetricReport, for the declared ``compare`` quantities.
        hidden: the run's hidden layers (the points the layer mean averages), in order.
        tags: scalar tags the run logs (for the layer-means section).
        groups: the other groups of points, label -> points (outside the mean): a closed section each.
    """
    from tensorboard.plugins.custom_scalar import layout_pb2

    def chart(title: str, tag: str) -> Any:
        return layout_pb2.Chart(
            title=title, multiline=layout_pb2.MultilineChartContent(tag=[f"^{re.escape(tag)}$"])
        )

    headline = headline_tags(series, reports)
    compare = [chart(title, tag) for title, tag, _ in headline]
    compare.append(chart("on the loss plateau (1) until T1 (0)", ON_PLATEAU))
    categories = [arms_category(headline), layout_pb2.Category(title=EVERY_RUN, chart=compare)]
    if series:
        metric, _, quantity = series.partition("/")
        depth = [
            chart(
                f"{quantity}: {name} hidden layer"
                if name in ("first", "last")
                else f"{quantity}: {name} deep",
                depth_tag(quantity, i, name),
            )
            for i, (name, _) in enumerate(DEPTHS)
        ]
        categories.append(
            layout_pb2.Category(
                title=f"{quantity} by relative depth (first, 25%, 50%, 75%, last hidden layer)", chart=depth
            )
        )
        shown = {tag for _, tag, _ in headline}
        means = sorted(t for t in tags if t.count("/") == 2 and t.split("/")[1] == "mean" and t not in shown)
        if means:
            categories.append(
                layout_pb2.Category(
                    title="Layer means (mean over hidden layers)",
                    chart=[chart(t, t) for t in means],
                    closed=True,
                )
            )
        details = [(f"{quantity} per layer (detail)", hidden)]  # then each other group, outside the mean
        details += [
            (f"{quantity}, group {g} (outside the layer mean)", ps) for g, ps in (groups or {}).items()
        ]
        for title, points in details:
            charts = [chart(f"{point}: {quantity}", f"{metric}/{point}/{quantity}") for point in points]
            categories.append(layout_pb2.Category(title=title, chart=charts, closed=True))
    return layout_pb2.Layout(category=categories)


def layout_summary(layout: Any) -> Any:
    """The custom-scalars plugin's config summary: the serialized layout as a string tensor under its fixed
    tag.

    (``tensorboard.plugins.custom_scalar.summary.pb`` builds the same but imports TensorFlow.)
    """
    from tensorboard.compat.proto.summary_pb2 import Summary, SummaryMetadata

    metadata = SummaryMetadata(plugin_data=SummaryMetadata.PluginData(plugin_name="custom_scalars"))
    return Summary(
        value=[
            Summary.Value(
                tag="custom_scalars__config__",
                tensor=_string_tensor(layout.SerializeToString()),
                metadata=metadata,
            )
        ]
    )


# ----------------------------------------------------------------------------------------------
# HParams
# ----------------------------------------------------------------------------------------------


def tricks_text(tricks: Mapping[str, Mapping[str, Any]]) -> str:
    """``init(scale=1.0, scheme=xavier_normal) + momentum(beta=0.5)``; ``none`` without tricks."""
    parts = []
    for name in sorted(tricks):
        params = ", ".join(f"{k}={value_label(v)}" for k, v in sorted(tricks[name].items()))
        parts.append(f"{name}({params})" if params else name)
    return " + ".join(parts) or "none"


def run_hparams(
    arm: str, seed: int, grid: Mapping[str, Any], tricks: Mapping[str, Mapping[str, Any]], status: str
) -> dict[str, Any]:
    """The HParams of a run: arm, seed, status, tricks, and the grid (its value when one key is swept, else
    its label).

    At most five, so that TensorBoard ticks every one of them.
    """
    out: dict[str, Any] = {
        "arm": arm,
        "seed": str(seed),
        "status": str(status),
        "tricks": tricks_text(tricks),
    }
    if len(grid) == 1:
        key, value = next(iter(grid.items()))
        out[f"grid.{key}"] = value if isinstance(value, int | float | str | bool) else grid_label(dict(grid))
    elif grid:
        out["grid"] = grid_label(dict(grid))
    return out


def as_float(quantity: quantities.Quantity, value: Any) -> float | None:
    """One value as a number (TensorBoard): a flag as 1/0, a phase as 1 for ``phase1`` and 0 for ``phase2``;
    None when missing or not finite."""
    if quantity.kind == "phase":
        return {"phase1": 1.0, "phase2": 0.0}.get(value) if isinstance(value, str) else None
    if isinstance(value, bool):
        return float(value)
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else None


def hparams_metrics(context: quantities.Context) -> list[tuple[str, str, str]]:
    """``(tag, display name, description)`` of every HParams metric, in table order."""
    out = []
    for q in quantities.QUANTITIES:
        if q.hparams is not None:
            encoded = (
                " (1: phase1, 0: phase2)"
                if q.kind == "phase"
                else " (1: yes, 0: no)"
                if q.kind == "flag"
                else ""
            )
            out.append((q.hparams, q.header, q.describe(context) + encoded))
    return out


def hparams_values(summary: RunSummary) -> dict[str, float]:
    """A finished run's HParams metrics, tag -> value (missing ones are left out: TensorBoard shows them
    empty)."""
    out = {}
    for q in quantities.QUANTITIES:
        if q.hparams is not None and (value := as_float(q, q.of(summary))) is not None:
            out[q.hparams] = value
    return out


def _value(value: Any) -> Any:
    from google.protobuf import struct_pb2

    if isinstance(value, bool):
        return struct_pb2.Value(bool_value=value)
    if isinstance(value, int | float):
        return struct_pb2.Value(number_value=float(value))
    return struct_pb2.Value(string_value=str(value))


def _hparams_summary(tag: str, **data: Any) -> Any:
    from tensorboard.compat.proto.summary_pb2 import Summary
    from tensorboard.plugins.hparams import metadata, plugin_data_pb2

    content = plugin_data_pb2.HParamsPluginData(**data)
    return Summary(value=[Summary.Value(tag=tag, metadata=metadata.create_summary_metadata(content))])


def experiment_summary(runs: Sequence[Mapping[str, Any]], context: quantities.Context) -> Any:
    """The recipe's HParams configuration: every hparam with its discrete domain, and the verdict metrics
    (described in the words of ``context``: the thresholds in force, the summary series)."""
    from google.protobuf import struct_pb2
    from tensorboard.plugins.hparams import api_pb2, metadata

    infos = []
    for name in dict.fromkeys(k for run in runs for k in run):
        values = list(dict.fromkeys(run[name] for run in runs if name in run))
        if all(isinstance(v, bool) for v in values):
            kind = "DATA_TYPE_BOOL"
        elif all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
            kind, values = "DATA_TYPE_FLOAT64", sorted(values)
        else:
            kind, values = "DATA_TYPE_STRING", sorted({str(v) for v in values})
        if name == "status":  # every status a run may end with, so the filter works before the runs end
            values = sorted({*values, "ok", "diverged", "failed", "interrupted"})
        domain = struct_pb2.ListValue(values=[_value(v) for v in values])
        infos.append(
            api_pb2.HParamInfo(
                name=name, type=api_pb2.DataType.Value(kind), domain_discrete=domain, differs=len(values) > 1
            )
        )
    metrics = [
        api_pb2.MetricInfo(name=api_pb2.MetricName(tag=tag), display_name=shown, description=text)
        for tag, shown, text in hparams_metrics(context)
    ]
    experiment = api_pb2.Experiment(hparam_infos=infos, metric_infos=metrics)
    return _hparams_summary(metadata.EXPERIMENT_TAG, experiment=experiment)


def session_summaries(hparams: Mapping[str, Any], status: str, started: float) -> list[Any]:
    """A run's HParams session: its start (the hparam values) and its end (success or failure)."""
    from tensorboard.plugins.hparams import api_pb2, metadata, plugin_data_pb2

    start = plugin_data_pb2.SessionStartInfo(start_time_secs=started)
    for key, value in hparams.items():
        start.hparams[key].CopyFrom(_value(value))
    end = plugin_data_pb2.SessionEndInfo(
        status=api_pb2.Status.Value("STATUS_SUCCESS" if status in ("ok", "diverged") else "STATUS_FAILURE")
    )
    return [
        _hparams_summary(metadata.SESSION_START_INFO_TAG, session_start_info=start),
        _hparams_summary(metadata.SESSION_END_INFO_TAG, session_end_info=end),
    ]


# ----------------------------------------------------------------------------------------------
# The recipe's own TensorBoard run: figures/
# ----------------------------------------------------------------------------------------------


def write_dashboard_config(
    root: Path,
    runs: Sequence[Mapping[str, Any]],
    context: quantities.Context,
    pngs: Mapping[str, bytes] | None = None,
    report: str | None = None,
    layout: Any = None,
) -> Path:
    """Write ``root/figures/``'s one event file (see :func:`dashboard_file`), replacing the previous one.

    The file is written aside and renamed: complete or not at all, never through a link below ``root``.
    """
    from condensekit.safe_files import write_files

    write_files(root, dict([dashboard_file(runs, context, pngs, report, layout)]), DASHBOARD_STALE)
    return root / FIGURES


def dashboard_file(
    runs: Sequence[Mapping[str, Any]],
    context: quantities.Context,
    pngs: Mapping[str, bytes] | None = None,
    report: str | None = None,
    layout: Any = None,
) -> tuple[str, bytes]:
    """The recipe's TensorBoard run ``figures``: one event file holding the HParams configuration, a layout,
    the figures, ``report.md``; as ``(path relative to the recipe's folder, bytes)``.

    Args:
        runs: the HParams of every run (:func:`run_hparams`).
        context: what the HParams metrics' descriptions refer to (thresholds, the summary series).
        pngs: figure name -> PNG bytes, shown in TensorBoard's Images at full size.
        report: the text of ``report.md``, shown in TensorBoard's Text tab.
        layout: a custom-scalars layout for the whole recipe (TensorBoard merges it with the runs' own, so
            runs written before the dashboard existed get one too).

    Write it with :data:`DASHBOARD_STALE` as the files to remove, so that it replaces the previous one.
    """
    from tensorboard.compat.proto.summary_pb2 import Summary, SummaryMetadata

    from condensekit.event_files import event_file_bytes, event_file_name

    summaries = [experiment_summary(runs, context)] if runs else []
    if layout is not None:
        summaries.append(layout_summary(layout))
    for name, png in (pngs or {}).items():
        width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")  # the PNG's IHDR
        image = Summary.Image(encoded_image_string=png, height=height, width=width, colorspace=4)
        summaries.append(Summary(value=[Summary.Value(tag=f"figure/{name}", image=image)]))
    if report:
        metadata = SummaryMetadata(plugin_data=SummaryMetadata.PluginData(plugin_name="text"))
        text = _string_tensor(report.encode("utf-8", "backslashreplace"))
        summaries.append(Summary(value=[Summary.Value(tag="report.md", tensor=text, metadata=metadata)]))
    return f"{FIGURES}/{event_file_name()}", event_file_bytes(summaries)


def _string_tensor(data: bytes) -> Any:
    from tensorboard.compat.proto.tensor_pb2 import TensorProto
    from tensorboard.compat.proto.tensor_shape_pb2 import TensorShapeProto

    return TensorProto(dtype="DT_STRING", string_val=[data], tensor_shape=TensorShapeProto())

"""Cross-run report built from what is on disk: ``summary.csv``, the verdict table, ``report.md``, figures.

Nothing is re-run: every number comes from the runs' ``run.json`` (summaries, specs, the metrics' report
declarations) and ``metrics.jsonl`` (curves). Failed, diverged, interrupted and unreadable runs are listed,
never fatal. :func:`write_report` reads every run once into a typed row and builds one
:class:`ReportInput`, which every part below reads:

* :mod:`~condensekit.report.rows`: one :class:`RunRow` per run directory; ``summary.csv``;
* :mod:`~condensekit.report.model`: the report's input: rows in order, groups, thresholds, reference arm;
* :mod:`~condensekit.report.tables`: the verdict and the per-layer table; text and Markdown rendering;
* :mod:`~condensekit.report.sweeps`: Spearman correlations over numeric grid keys;
* :mod:`~condensekit.report.answer`: one sentence per arm, from the numbers;
* :mod:`~condensekit.report.compare`: each arm against the reference arm (superiority, permutation p,
  Holm's adjustment, the shift's interval), with the statistics of :mod:`~condensekit.report.rank_tests`;
* :mod:`~condensekit.report.markdown`: ``report.md`` with its legend;
* :mod:`~condensekit.report.figures`: PNGs; the same figures, HParams and layout go to TensorBoard through
  :mod:`condensekit.dashboard`.

The names of the quantities, their columns and formats come from :mod:`condensekit.quantities`.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from condensekit.metric_report import MetricReport
from condensekit.output import write_text_atomic
from condensekit.quantities import median_range
from condensekit.report.answer import answer
from condensekit.report.compare import comparison_table, comparisons, permutation_p, superiority
from condensekit.report.consistency import mixed_spec_notes
from condensekit.report.markdown import description_context, report_markdown
from condensekit.report.model import Group, ReportInput, group_label
from condensekit.report.rank_tests import holm, ranks, shift_interval, spearman
from condensekit.report.rows import RunRow, collect, summary_csv
from condensekit.report.sweeps import sweep_table
from condensekit.report.tables import fit_table, layer_table, render_markdown, render_text, verdict

__all__ = [
    "Group",
    "ReportInput",
    "RunRow",
    "answer",
    "collect",
    "comparison_table",
    "comparisons",
    "fit_table",
    "group_label",
    "holm",
    "layer_table",
    "median_range",
    "permutation_p",
    "ranks",
    "read_report",
    "render_markdown",
    "render_text",
    "spearman",
    "superiority",
    "shift_interval",
    "sweep_table",
    "verdict",
    "write_report",
]


def read_report(root: Path) -> ReportInput:
    """Every run below ``root`` (a recipe's output folder) read once, as the report's input."""
    return ReportInput.of(collect(root), root)


def write_report(root: Path, figures: bool = True) -> ReportInput:
    """Write ``summary.csv``, ``report.md`` and the figures into a recipe's output folder; return the input
    they were made from.

    Args:
        root: the recipe's output folder (``runs/<recipe name>``).
        figures: draw the PNG and TensorBoard figures (off: tables only).
    """
    report = read_report(root)
    write_text_atomic(root / "summary.csv", summary_csv(report.rows))
    drawn: list[tuple[str, str, str]] = []
    notes: list[str] = []
    pngs: dict[str, bytes] = {}
    mixed = mixed_spec_notes(report)  # never pool runs of different specs without saying so
    for note in mixed:
        warnings.warn(f"{root}: {note.replace('**', '')}", stacklevel=2)
    if figures and report.rows:
        from condensekit.report.figures import write_figures

        drawn, notes, pngs = write_figures(root, report)
        for note in notes:
            warnings.warn(f"{root}: {note}", stacklevel=2)
    text = report_markdown(root, report, verdict(report), drawn, [*mixed, *notes])
    write_text_atomic(root / "report.md", text)
    if figures and report.rows:
        try:  # TensorBoard's run `figures`: the HParams configuration, a layout, the figures, report.md
            _write_dashboard(root, report, pngs, text)
        except Exception as exc:  # the report is written whatever TensorBoard's writer thinks
            warnings.warn(
                f"{root}: TensorBoard dashboard not written: {type(exc).__name__}: {exc}", stacklevel=2
            )
    return report


def _write_dashboard(root: Path, report: ReportInput, pngs: dict[str, bytes], text: str) -> None:
    """The recipe's TensorBoard run ``figures/``: every run's HParams (from its spec), a layout of the whole
    recipe (every run's hidden layers, the keys each arm's runs logged), the figures and ``report.md``."""
    from condensekit.dashboard import dashboard_layout, run_hparams, write_dashboard_config

    hparams = []
    for row in report.rows:
        tricks = row.spec.tricks if row.spec is not None else {}
        hparams.append(run_hparams(row.arm, row.seed or 0, row.grid_values, tricks, str(row.status)))
    hidden = list(dict.fromkeys(layer for row in report.rows for layer in row.hidden_layers))
    declared: dict[str, MetricReport] = {}
    tags: set[str] = set()
    for group in report.groups:
        for row in group.rows[:1]:
            declared.update({m: r for m, r in row.reports.items() if m not in declared})
        tags.update(tag for curves in group.curves[:1] for tag in curves.series)
    others: dict[str, list[str]] = {}
    for row in report.rows:
        for label, points in (row.summary.groups if row.summary is not None else {}).items():
            others.setdefault(label, []).extend(p for p in points if p not in others[label])
    layout = dashboard_layout(report.series, declared, hidden, sorted(tags), others)
    write_dashboard_config(root, hparams, description_context(report), pngs, text, layout)

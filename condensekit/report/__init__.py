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

from condensekit.dashboard import DASHBOARD_STALE
from condensekit.metric_report import MetricReport
from condensekit.output import ReportNotWritten
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
from condensekit.safe_files import disk_error_fix, disk_error_words, write_files

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
    """Write ``summary.csv``, ``report.md``, the figures and the dashboard's event file into a recipe's
    output folder; return the input they were made from.

    Nothing is written when the folder holds no run (the caller says so). All files are written in one go
    (:func:`condensekit.safe_files.write_files`): each complete, never through a link below ``root``, and
    when the disk refuses one, every file of the previous report is left as it was.

    Args:
        root: the recipe's output folder (``runs/<recipe name>``).
        figures: draw the PNG and TensorBoard figures (off: tables only).

    Raises:
        OutputError: a link or a folder where an output goes (nothing is written).
        ReportNotWritten: the disk refused (full, read-only, a file-size limit); nothing is replaced.
    """
    report = read_report(root)
    if not report.rows:
        return report
    drawn: list[tuple[str, str, str]] = []
    notes: list[str] = []
    pngs: dict[str, bytes] = {}
    mixed = mixed_spec_notes(report)  # never pool runs of different specs without saying so
    for note in mixed:
        warnings.warn(f"{root}: {note.replace('**', '')}", stacklevel=2)
    if figures:
        from condensekit.report.figures import draw_figures

        drawn, notes, pngs = draw_figures(report)
        for note in notes:
            warnings.warn(f"{root}: {note}", stacklevel=2)
    text = report_markdown(root, report, verdict(report), drawn, [*mixed, *notes])
    files = {"summary.csv": _utf8(summary_csv(report.rows)), "report.md": _utf8(text)}
    files.update({path: pngs[name] for name, path, _ in drawn})
    dashboard = _dashboard_file(root, report, pngs, text) if figures else None
    arms = _arm_files(root, report) if dashboard is not None else None
    if dashboard is not None:
        files[dashboard[0]] = dashboard[1]
    files.update(arms or {})
    try:
        write_files(root, files, DASHBOARD_STALE if dashboard is not None else None)
    except OSError as exc:
        raise ReportNotWritten(
            f"{root}: the report could not be written ({disk_error_words(exc)}); the previous report files "
            f"are left as they were; {disk_error_fix(exc)}, then: condensekit report {root}"
        ) from None
    if arms is not None:
        _remove_old_arms(root, arms)
    return report


def _arm_files(root: Path, report: ReportInput) -> dict[str, bytes] | None:
    """One TensorBoard run per arm below ``figures/arms/`` (its median over seeds with the min-max band), as
    files to write with the report's others; None (with a warning) when they cannot be made."""
    from condensekit.dashboard import headline_tags
    from condensekit.dashboard_arms import arm_charts
    from condensekit.report.arm_series import arm_summary_files

    try:
        return arm_summary_files(report, arm_charts(headline_tags(report.series, _declared(report))))
    except Exception as exc:  # the report is written whatever happens to the arm summaries
        warnings.warn(
            f"{root}: TensorBoard arm summaries not written: {type(exc).__name__}: {exc}", stacklevel=3
        )
        return None


def _remove_old_arms(root: Path, written: dict[str, bytes]) -> None:
    """The arm runs' older versions and those of arms gone from the report removed (a failure is a warning:
    the report is complete)."""
    from condensekit.dashboard_arms import remove_old_arm_runs

    try:
        remove_old_arm_runs(root, written)
    except OSError as exc:
        warnings.warn(f"{root}: old TensorBoard arm runs not removed: {exc}", stacklevel=3)


def _utf8(text: str) -> bytes:
    """The text as UTF-8; a name that is no UTF-8 on disk (``seed=\\xff``) is written escaped."""
    return text.encode("utf-8", "backslashreplace")


def _dashboard_file(
    root: Path, report: ReportInput, pngs: dict[str, bytes], text: str
) -> tuple[str, bytes] | None:
    """The recipe's TensorBoard run ``figures/`` (path, bytes), or None (with a warning) when it cannot be
    made: every run's HParams (from its spec), a layout of the whole recipe (every run's hidden layers, the
    keys each arm's runs logged), the figures and ``report.md``."""
    try:
        return _dashboard(report, pngs, text)
    except Exception as exc:  # the report is written whatever TensorBoard's protos think
        warnings.warn(f"{root}: TensorBoard dashboard not written: {type(exc).__name__}: {exc}", stacklevel=3)
        return None


def _dashboard(report: ReportInput, pngs: dict[str, bytes], text: str) -> tuple[str, bytes]:
    from condensekit.dashboard import dashboard_file, dashboard_layout, run_hparams

    hparams = []
    for row in report.rows:
        tricks = row.spec.tricks if row.spec is not None else {}
        hparams.append(run_hparams(row.arm, row.seed or 0, row.grid_values, tricks, str(row.status)))
    hidden = list(dict.fromkeys(layer for row in report.rows for layer in row.hidden_layers))
    tags = {tag for group in report.groups for curves in group.curves[:1] for tag in curves.series}
    others: dict[str, list[str]] = {}  # the groups of probe points other than the hidden layers
    for row in report.rows:
        for label, points in (row.summary.groups if row.summary is not None else {}).items():
            others.setdefault(label, []).extend(p for p in points if p not in others[label])
    layout = dashboard_layout(report.series, _declared(report), hidden, sorted(tags), others)
    return dashboard_file(hparams, description_context(report), pngs, text, layout)


def _declared(report: ReportInput) -> dict[str, MetricReport]:
    """Each metric's report as the first run of a group that logged it declares it."""
    declared: dict[str, MetricReport] = {}
    for group in report.groups:
        for row in group.rows[:1]:
            declared.update({m: r for m, r in row.reports.items() if m not in declared})
    return declared

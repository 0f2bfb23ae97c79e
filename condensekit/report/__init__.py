"""Cross-run report built from what is on disk: ``summary.csv``, the verdict table, ``report.md``, figures.

Nothing is re-run: every number comes from the runs' ``run.json`` (summaries, thresholds, the metrics'
figure declarations) and ``metrics.jsonl`` (curves). Failed, diverged, interrupted and unreadable runs are
listed, never fatal.

* :mod:`~condensekit.report.rows`: one row per run directory; ``summary.csv``;
* :mod:`~condensekit.report.tables`: verdict, sweeps, per-layer peaks; text and Markdown rendering;
* :mod:`~condensekit.report.answer`: one sentence per arm, from the numbers;
* :mod:`~condensekit.report.compare`: each arm against the reference arm (superiority, permutation p);
* :mod:`~condensekit.report.markdown`: ``report.md`` with its legend;
* :mod:`~condensekit.report.figures` and :mod:`~condensekit.report.tensorboard`: PNGs and the TensorBoard
  dashboard.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from condensekit.output import write_text_atomic
from condensekit.report.answer import answer
from condensekit.report.compare import (
    comparison_table,
    comparisons,
    permutation_p,
    reference_arm,
    superiority,
)
from condensekit.report.consistency import mixed_spec_notes
from condensekit.report.markdown import report_markdown
from condensekit.report.rows import SUMMARY_COLUMNS, collect, summary_csv
from condensekit.report.tables import (
    grouped,
    layer_table,
    median_range,
    ranks,
    render_markdown,
    render_text,
    spearman,
    sweep_table,
    verdict,
)

__all__ = [
    "SUMMARY_COLUMNS",
    "answer",
    "collect",
    "comparison_table",
    "comparisons",
    "layer_table",
    "permutation_p",
    "reference_arm",
    "superiority",
    "median_range",
    "ranks",
    "render_markdown",
    "render_text",
    "spearman",
    "sweep_table",
    "verdict",
    "write_report",
]


def write_report(root: Path, figures: bool = True) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """Write ``summary.csv``, ``report.md`` and the figures into a recipe's output folder; return rows and
    verdict.

    Args:
        root: the recipe's output folder (``runs/<recipe name>``).
        figures: draw the PNG and TensorBoard figures (off: tables only).
    """
    rows = collect(root)
    write_text_atomic(root / "summary.csv", summary_csv(rows))
    table = verdict(rows)
    drawn: list[tuple[str, str, str]] = []
    notes: list[str] = []
    pngs: dict[str, bytes] = {}
    mixed = mixed_spec_notes(rows)  # never pool runs of different specs without saying so
    for note in mixed:
        warnings.warn(f"{root}: {note.replace('**', '')}", stacklevel=2)
    if figures and rows:
        from condensekit.report.figures import write_figures

        ordered = [r for runs in grouped(rows).values() for r in runs]
        drawn, notes, pngs, _ = write_figures(root, ordered)
        for note in notes:
            warnings.warn(f"{root}: {note}", stacklevel=2)
    text = report_markdown(root, rows, table, drawn, [*mixed, *notes])
    write_text_atomic(root / "report.md", text)
    if figures and rows:
        from condensekit.report.rows import thresholds_in_force
        from condensekit.report.tensorboard import recipe_layout, row_hparams, write_dashboard_config

        try:  # TensorBoard's run `figures`: the HParams configuration, a layout, the figures, report.md
            layout = recipe_layout(root, rows, thresholds_in_force(rows)[0].series)
            write_dashboard_config(root, row_hparams(root, rows), pngs, text, layout)
        except Exception as exc:  # the report is written whatever TensorBoard's writer thinks
            warnings.warn(
                f"{root}: TensorBoard dashboard not written: {type(exc).__name__}: {exc}", stacklevel=2
            )
    return rows, table

"""The report's tables of quantities: the verdict per arm and grid point, the per-layer table; and how any
table is rendered (terminal, fitted to its width, or Markdown).

A table is a list of rows (column -> text). The verdict's and the per-layer table's quantity columns are
keyed by the quantities' stable keys (:mod:`condensekit.quantities`) and rendered under their headers.
Cells are summed up over the seeds that finished ok, as each quantity's kind says.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from condensekit import quantities
from condensekit.layer_groups import HIDDEN
from condensekit.report.model import Group, ReportInput
from condensekit.status import REPORT_ORDER


def _status_order(status: str) -> int:
    return REPORT_ORDER.index(status) if status in REPORT_ORDER else len(REPORT_ORDER)  # type: ignore[arg-type]


def runs_cell(group: Group) -> str:
    """``5 ok`` or ``2 ok 1 failed``: how many runs of the group ended how."""
    counts: dict[str, int] = {}
    for row in group.rows:
        counts[row.status] = counts.get(row.status, 0) + 1
    return " ".join(f"{counts[s]} {s}" for s in sorted(counts, key=_status_order))


def verdict(report: ReportInput) -> list[dict[str, str]]:
    """Per arm and grid point, across seeds: every quantity of :func:`condensekit.quantities.in_verdict`.

    Cells are summed up over the runs that finished ``ok``; the ``runs`` column counts every status. The
    ``grid`` column is left out when there is no grid.
    """
    table = []
    for group in report.groups:
        summaries = [r.summary for r in group.ok if r.summary is not None]
        row = {"arm": group.arm, "grid": group.grid, "runs": runs_cell(group)}
        row.update({q.key: quantities.run_cell(q, summaries) for q in quantities.in_verdict()})
        table.append(row)
    if all(r["grid"] == "base" for r in table):
        for r in table:
            del r["grid"]
    return table


def layer_table(report: ReportInput) -> list[dict[str, str]]:
    """When and how high each probe point peaks, and its verdicts: per group and point, over the ok seeds.

    The hidden layers (the points the layer mean averages, group ``hidden``) come first, then the points of
    the model's other groups (a residual block's branch, a ViT's class token ...), each row naming its
    group. A peak's phase is counted under the run's first-phase rule, as in the verdict.
    """
    table = []
    for group in report.groups:
        summaries = [r.summary for r in group.ok if r.summary is not None]
        hidden = {key: HIDDEN for s in summaries for key in s.hidden_layers if key in s.layers}
        named = {key: label for s in summaries for label, keys in s.groups.items() for key in keys}
        for name, label in {**hidden, **{k: v for k, v in named.items() if k not in hidden}}.items():
            runs = [s for s in summaries if name in s.layers]
            row = {"arm": group.arm, "grid": group.grid, "group": label, "layer": name}
            per = [s.layers[name] for s in runs]
            row.update({q.key: quantities.layer_cell(q, per, runs) for q in quantities.per_layer()})
            table.append(row)
    return table


# ----------------------------------------------------------------------------------------------
# Rendering
# ----------------------------------------------------------------------------------------------


def _columns(table: list[dict[str, str]], headers: Mapping[str, str]) -> list[tuple[str, str]]:
    """``(key, header)`` of each column (a column without a header is shown under its key)."""
    return [(key, headers.get(key, key)) for key in table[0]]


def render_text(table: list[dict[str, str]], headers: Mapping[str, str] | None = None) -> str:
    """A fixed-width text table for the terminal; a column is named by ``headers`` (key -> header), else by
    its key."""
    if not table:
        return "(no runs)"
    cols = _columns(table, headers or {})
    widths = {key: max(len(head), *(len(r[key]) for r in table)) for key, head in cols}
    line = "  ".join(head.ljust(widths[key]) for key, head in cols)
    rule = "  ".join("-" * widths[key] for key, _ in cols)
    body = ["  ".join(r[key].ljust(widths[key]) for key, _ in cols) for r in table]
    return "\n".join([line, rule, *body])


def render_markdown(table: list[dict[str, str]], headers: Mapping[str, str] | None = None) -> str:
    """A Markdown table; a column is named by ``headers`` (key -> header), else by its key."""
    if not table:
        return "_no runs_\n"
    cols = _columns(table, headers or {})
    out = ["| " + " | ".join(head for _, head in cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    out += ["| " + " | ".join(r[key].replace("|", "\\|") for key, _ in cols) + " |" for r in table]
    return "\n".join(out) + "\n"


_RANGE = re.compile(r" \[[^\]]*\]")
SHORT_WORDS = (("no phase 1", "none"), ("phase1", "p1"), ("phase2", "p2"))  # the ``peak in`` cells


def _compact(value: str) -> str:
    value = _RANGE.sub("", value)
    for long, short in SHORT_WORDS:
        value = value.replace(long, short)
    return value


def fit_table(table: list[dict[str, str]], width: int | None) -> tuple[str, bool]:
    """The verdict as text no wider than ``width`` (None: no limit); True when it was shortened.

    Full when it fits. Otherwise the compact table: medians only (the ``[min, max]`` across seeds stay in
    ``report.md``), the quantities in the compact verdict under their short headers; when even that is too
    wide, rich wraps the cells at spaces.
    """
    full = render_text(table, quantities.headers())
    if width is None or not table or max(len(line) for line in full.splitlines()) <= width:
        return full, False
    shown = {"arm", "grid", "runs", *(q.key for q in quantities.in_verdict(compact=True))}
    compact = [{k: _compact(v) for k, v in row.items() if k in shown} for row in table]
    short = quantities.headers(compact=True)
    text = render_text(compact, short)
    if max(len(line) for line in text.splitlines()) <= width:
        return text, True
    return _wrapped(compact, short, width), True


def _wrapped(table: list[dict[str, str]], headers: Mapping[str, str], width: int) -> str:
    """The table drawn by rich in ``width`` columns, cells wrapped at spaces."""
    import io

    from rich.box import SIMPLE_HEAD
    from rich.console import Console
    from rich.table import Table

    wrapped = Table(box=SIMPLE_HEAD, pad_edge=False, show_edge=False)
    for key in table[0]:
        wrapped.add_column(headers.get(key, key), overflow="fold")
    for row in table:
        wrapped.add_row(*row.values())
    buffer = io.StringIO()
    Console(file=buffer, width=width, no_color=True, force_terminal=False).print(wrapped)
    return "\n".join(line.rstrip() for line in buffer.getvalue().splitlines())

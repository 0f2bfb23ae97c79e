"""How a :class:`condensekit.GridResult` shows itself in a notebook: the verdict table and the figures.

Jupyter calls ``GridResult._repr_html_``, which returns :func:`grid_html`: a heading with the run counts,
the verdict table (one row per arm and grid point, as ``report.md`` has it), the runs that did not finish
with their errors, and the report's figures inline (PNG embedded as base64, so the notebook keeps them
when saved). Only the standard library is used; nothing here imports torch.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any

__all__ = ["grid_html"]

MAX_FIGURE_BYTES = 5_000_000
"""Figures larger than this are linked by path instead of embedded (a notebook stays small)."""


def grid_html(result: Any) -> str:
    """The HTML of a grid result: counts, verdict table, unfinished runs, figures."""
    parts = [
        f"<div><p><b>{html.escape(repr(result))}</b><br>report: <code>"
        f"{html.escape(str(result.report_path))}</code></p>",
        _table(result.verdict_table),
        _unfinished(result.rows),
        *(_figure(path) for path in result.figures),
        "</div>",
    ]
    return "\n".join(part for part in parts if part)


def _table(rows: list[dict[str, str]]) -> str:
    if not rows:
        return "<p>(no verdict: no run finished)</p>"
    from condensekit.quantities import headers

    shown = headers()  # a column is keyed by its quantity's stable key and headed as in report.md
    columns = list(rows[0])
    head = "".join(f"<th>{html.escape(shown.get(c, c))}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(row.get(c, '')))}</td>" for c in columns) + "</tr>"
        for row in rows
    )
    return f'<table class="condensekit-verdict"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _unfinished(rows: list[dict[str, Any]]) -> str:
    missed = [row for row in rows if row.get("status") not in ("ok", "diverged")]
    if not missed:
        return ""
    items = "".join(
        f"<li>{html.escape(str(row.get('status')))}: <code>{html.escape(str(row.get('run_dir')))}</code> "
        f"{html.escape(str(row.get('error') or ''))}</li>"
        for row in missed
    )
    return f"<p>Runs that did not finish:</p><ul>{items}</ul>"


def _figure(path: Path) -> str:
    caption = f"<figcaption><code>{html.escape(path.name)}</code></figcaption>"
    try:
        data = path.read_bytes()
    except OSError as exc:
        return f"<p>{html.escape(path.name)}: not readable ({html.escape(str(exc))})</p>"
    if len(data) > MAX_FIGURE_BYTES:
        return f"<p>{html.escape(str(path))} ({len(data) // 1_000_000} MB, not embedded)</p>"
    encoded = base64.b64encode(data).decode("ascii")
    return (
        f'<figure><img src="data:image/png;base64,{encoded}" alt="{html.escape(path.name)}" '
        f'style="max-width:100%">{caption}</figure>'
    )

"""A finished grid, in Python: :class:`GridResult` and :func:`load_runs`.

``condensekit.run_recipe(...)`` returns a :class:`GridResult`; ``condensekit.load_runs("runs/<recipe>")``
reads one back from disk, without running anything. Both are built from the run directories (the same
rows as ``summary.csv``), so a result read back equals the one returned when the grid ran.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from condensekit.errors import CondensekitError

__all__ = ["GridResult", "load_runs"]


@dataclass
class GridResult:
    """The runs of one recipe and their verdict.

    Attributes:
        root: the recipe's output folder (``runs/<recipe name>``).
        rows: one dict per run with the ``summary.csv`` columns (``arm``, ``grid``, ``seed``, ``status``,
            ``phase1_end``, ``dS_max``, ``condensed``, ``final_test_acc``, ...), numbers as numbers and a
            missing value as None.
        verdict_table: the verdict table as printed, one dict per arm and grid point (column -> text).
        outcomes: what became of each run of this invocation (empty when read back with :func:`load_runs`).
    """

    root: Path
    rows: list[dict[str, Any]]
    verdict_table: list[dict[str, str]]
    outcomes: list[Any] = field(default_factory=list)

    @property
    def report_path(self) -> Path:
        """``report.md``: the verdict with its legend, the figures, per-layer peaks."""
        return self.root / "report.md"

    @property
    def figures(self) -> list[Path]:
        """The report's PNG figures."""
        return sorted((self.root / "figures").glob("*.png"))

    @property
    def verdict(self) -> dict[str, dict[str, str]]:
        """The verdict per arm: ``{"mlp": {"T1 (phase-1 end)": "420 [380, 460]", "condensed": "3/3", ...}}``.

        With a grid, the key is ``"arm [grid point]"``.
        """
        out = {}
        for row in self.verdict_table:
            grid = row.get("grid")
            out[row["arm"] if grid in (None, "base") else f"{row['arm']} [{grid}]"] = dict(row)
        return out

    @property
    def failed(self) -> list[dict[str, Any]]:
        """The rows of runs that failed."""
        return [r for r in self.rows if r["status"] == "failed"]

    def to_pandas(self) -> Any:
        """The rows as a ``pandas.DataFrame`` (``pip install "condensekit[pandas]"``)."""
        try:
            import pandas as pd
        except ImportError:
            raise CondensekitError('to_pandas() needs pandas: pip install "condensekit[pandas]"') from None
        from condensekit.report import SUMMARY_COLUMNS

        return pd.DataFrame(self.rows, columns=SUMMARY_COLUMNS)

    def _repr_html_(self) -> str:
        """What a notebook shows: run counts, the verdict table, unfinished runs and the figures inline."""
        from condensekit.notebook import grid_html

        return grid_html(self)

    def __repr__(self) -> str:
        counts: dict[str, int] = {}
        for row in self.rows:
            counts[row["status"]] = counts.get(row["status"], 0) + 1
        return (
            f"GridResult({str(self.root)!r}: {len(self.rows)} runs, "
            + ", ".join(f"{n} {s}" for s, n in counts.items())
            + ")"
        )


def summary_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The report's run rows cut to the ``summary.csv`` columns, with plain values (status as text, NaN as
    None)."""
    from condensekit.report import SUMMARY_COLUMNS

    def plain(value: Any) -> Any:
        if isinstance(value, float) and not math.isfinite(value):
            return None
        return str(value) if hasattr(value, "value") and isinstance(value, str) else value

    return [{k: plain(r.get(k)) for k in SUMMARY_COLUMNS} for r in rows]


def load_runs(path: str | Path) -> GridResult:
    """Read a finished (or partly finished) grid back from its output folder, e.g. ``runs/resmlp_vs_mlp``.

    Nothing is run or written. Raises CondensekitError when no run is found below ``path``.
    """
    from condensekit.report import collect, verdict

    root = Path(path)
    if not root.is_dir():
        raise CondensekitError(
            f"{root}: no such folder; give a recipe's output folder, e.g. runs/resmlp_vs_mlp"
        )
    rows = collect(root)  # in the order of summary.csv
    if not rows:
        raise CondensekitError(f"{root}: no runs found (no run.json below it); give a recipe's output folder")
    return GridResult(root, summary_rows(rows), verdict(rows))

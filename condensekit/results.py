"""A finished grid, in Python: :class:`GridResult` and :func:`load_runs`.

``condensekit.run_recipe(...)`` returns a :class:`GridResult`; ``condensekit.load_runs("runs/<recipe>")``
reads one back from disk, without running anything. Both are built from the report's input (the same rows
as ``summary.csv``), so a result read back equals the one returned when the grid ran. Rows and verdict
cells are keyed by the quantities' stable keys (:mod:`condensekit.quantities`): ``phase1_end``, ``dS``,
``final_test_acc``, ...
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from condensekit import quantities
from condensekit.errors import CondensekitError
from condensekit.status import RunStatus

if TYPE_CHECKING:
    from condensekit.report import ReportInput

__all__ = ["GridResult", "VerdictCells", "load_runs"]


class VerdictCells(dict[str, str]):
    """One verdict row: column -> text, keyed by the quantities' stable keys (``"phase1_end"``, ``"dS"``).

    The display headers used as keys before (``"T1 (phase-1 end)"``, ``"rise dS"``) still work for one
    release, with a ``DeprecationWarning`` naming the key to use.
    """

    def __missing__(self, key: str) -> str:
        new = _old_header_key(key)
        if new is None or new not in self:
            raise KeyError(key)
        warnings.warn(
            f"verdict[{key!r}] is deprecated: the verdict is keyed by the quantities' keys; use "
            f"verdict[{new!r}]",
            DeprecationWarning,
            stacklevel=2,
        )
        return self[new]

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        try:
            return self[key]
        except KeyError:
            return default


def _old_header_key(header: str) -> str | None:
    """The stable key of a quantity whose display header was used as a key."""
    return next(
        (q.key for q in quantities.QUANTITIES if header in (q.header, q.short) and q.key != header), None
    )


@dataclass
class GridResult:
    """The runs of one recipe and their verdict.

    Attributes:
        root: the recipe's output folder (``runs/<recipe name>``).
        rows: one dict per run with the ``summary.csv`` columns (``arm``, ``grid``, ``seed``, ``status``,
            ``phase1_end``, ``dS_max``, ``condensed``, ``final_test_acc``, ...), numbers as numbers and a
            missing value as None.
        verdict_table: the verdict table, one :class:`VerdictCells` per arm and grid point (``arm``,
            ``grid`` when there is a grid, ``runs``, then the verdict's quantities by key).
        outcomes: what became of each run of this invocation (empty when read back with :func:`load_runs`).
        answer: the answer in words, one sentence per arm and grid point (as in ``report.md``).
    """

    root: Path
    rows: list[dict[str, Any]]
    verdict_table: list[dict[str, str]]
    outcomes: list[Any] = field(default_factory=list)
    answer: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.verdict_table = [VerdictCells(row) for row in self.verdict_table]

    @property
    def report_path(self) -> Path:
        """``report.md``: the verdict with its legend, the figures, per-layer peaks."""
        return self.root / "report.md"

    @property
    def figures(self) -> list[Path]:
        """The report's PNG figures."""
        return sorted((self.root / "figures").glob("*.png"))

    @property
    def verdict(self) -> dict[str, VerdictCells]:
        """The verdict per arm: ``{"mlp": {"phase1_end": "420 [380, 460]", "condensed": "3/3", ...}}``.

        With a grid, the key is ``"arm [grid point]"``.
        """
        from condensekit.report.model import group_label

        return {group_label(r["arm"], r.get("grid", "base")): VerdictCells(r) for r in self.verdict_table}

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
        return pd.DataFrame(self.rows, columns=quantities.csv_columns())

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


def grid_result(report: ReportInput, outcomes: list[Any] | None = None) -> GridResult:
    """The :class:`GridResult` of a report's input: its rows with the ``summary.csv`` columns, its verdict
    and answer."""
    from condensekit.report import answer, verdict

    def plain(value: Any) -> Any:
        if isinstance(value, float) and not math.isfinite(value):
            return None
        return str(value) if isinstance(value, RunStatus) else value

    rows = [{k: plain(v) for k, v in row.values().items()} for row in report.rows]
    assert report.root is not None
    return GridResult(report.root, rows, verdict(report), outcomes or [], answer(report))


def load_runs(path: str | Path) -> GridResult:
    """Read a finished (or partly finished) grid back from its output folder, e.g. ``runs/resmlp_vs_mlp``.

    Nothing is run or written. Raises CondensekitError when no run is found below ``path``.
    """
    from condensekit.report import read_report

    root = Path(path)
    if not root.is_dir():
        raise CondensekitError(
            f"{root}: no such folder; give a recipe's output folder, e.g. runs/resmlp_vs_mlp"
        )
    report = read_report(root)
    if not report.rows:
        raise CondensekitError(f"{root}: no runs found (no run.json below it); give a recipe's output folder")
    return grid_result(report)

"""The table of reported quantities: every number a run reports, named once; every surface derives from it.

Each :class:`Quantity` has a stable ``key`` (its ``summary.csv`` column, its key in the Python API's rows
and verdict, and the name code uses for it), a ``header`` (``report.md`` and the full terminal verdict), a
``short`` header (the compact terminal verdict), an optional TensorBoard HParams tag, a ``kind`` that says
how one value is written and how the seeds of an arm are summed up (``median [min, max]``, a count ``k/n``
or phase counts), a one-line ``description`` (the report's legend and the HParams description), which
surfaces show it, and its computation from a run's typed summary (``run``) and, for the per-layer table,
from one layer's summary (``layer``).

Adding a quantity is one entry in :data:`QUANTITIES` plus its computation; ``summary.csv`` (new columns
go last), the verdict, its legend, the compact table, HParams, the progress line, the Python API and the
per-layer table all read this table when they are written. Every reader goes through the functions below,
which read :data:`QUANTITIES` at call time. docs/metrics.md ("Adding a reported quantity") has an example.

Importing this module does not import torch.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from condensekit.phases import DEFAULT_THRESHOLDS, RunSummary, SeriesSummary, Thresholds

Kind = Literal["number", "step", "flag", "phase"]
"""How a value is written and summed up over seeds: ``number`` and ``step`` (a whole number) as
``median [min, max]``, ``flag`` (true/false) as a count ``k/n``, ``phase`` (``phase1`` / ``phase2``) as phase
counts."""

NO_FIRST_PHASE = "no phase 1"
PHASES = ("phase1", "phase2", NO_FIRST_PHASE)
"""What a phase count counts: where the peak fell against T1, or a loss without a first phase."""


@dataclass(frozen=True)
class Quantity:
    """One reported quantity (see the module's docstring).

    Attributes:
        key: stable name: the ``summary.csv`` column and the Python API key.
        kind: how values are written and summed up over seeds (:data:`Kind`).
        description: one line for the legend and HParams; ``{th.<threshold>}``, ``{series}`` (what the summary
            series is) and ``{window}`` (the smoothing window) are filled in.
        header: the column in ``report.md`` and the full terminal verdict (default: the key).
        short: the column in the compact terminal verdict and the label on the progress line (default: the
            header).
        run: the run's value from its summary (None: not a per-run quantity).
        layer: one hidden layer's value from its series summary (None: not in the per-layer table).
        verdict: a column of the verdict (``report.md``, the terminal, ``GridResult.verdict``).
        compact: also in the compact terminal verdict (when in the verdict).
        hparams: the TensorBoard tag of the run's HParams metric (None: not one).
        progress: on the line printed for a finished run (``T1=420  dS=0.31 ...``).
        compared: compared between each arm and the reference arm.
        swept: correlated with a swept grid value.
        missing: what a missing (None) value means, counted in the verdict cell (``stuck`` for T1).
    """

    key: str
    kind: Kind
    description: str
    header: str = ""
    short: str = ""
    run: Callable[[RunSummary], Any] | None = None
    layer: Callable[[SeriesSummary], Any] | None = None
    verdict: bool = False
    compact: bool = True
    hparams: str | None = None
    progress: bool = False
    compared: bool = False
    swept: bool = False
    missing: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "header", self.header or self.key)
        object.__setattr__(self, "short", self.short or self.header)

    def of(self, summary: RunSummary | None) -> Any:
        """The run's value (None without a summary, or when not a per-run quantity)."""
        return self.run(summary) if summary is not None and self.run is not None else None

    def describe(self, context: Context) -> str:
        """The description with the thresholds, the summary series and the smoothing window filled in."""
        return self.description.format(th=context.thresholds, series=context.series, window=context.window)


@dataclass(frozen=True)
class Context:
    """What a description refers to: the thresholds in force, the summary series in words, the window."""

    thresholds: Thresholds = DEFAULT_THRESHOLDS
    series: str = "the summary series"
    window: str = "max(20, steps per epoch / 20) steps"


Q = Quantity
QUANTITIES: tuple[Quantity, ...] = (
    Q(
        "phase1_end",
        "step",
        "first step where the training loss, smoothed by a running median over {window}, falls below "
        "L0 - max({th.plateau_drop_rel:g} L0, {th.plateau_drop_abs:g}), L0 being the median of its first "
        "window (`stuck`: never within the run). The answer calls it a first phase when the run is stuck or "
        "T1 >= 2 windows",
        header="T1 (phase-1 end)",
        short="T1",
        run=lambda s: s.phase1_end,
        verdict=True,
        hparams="verdict/T1",
        progress=True,
        compared=True,
        swept=True,
        missing="stuck",
    ),
    Q("S0", "number", "the first value of {series}", run=lambda s: s.mean.S0, layer=lambda s: s.S0),
    Q(
        "dS",
        "number",
        "the rise of the mean over the hidden layers of {series}: its peak minus its first value",
        header="rise dS",
        short="dS",
        run=lambda s: s.mean.dS,
        verdict=True,
        hparams="verdict/dS",
        progress=True,
        compared=True,
        swept=True,
    ),
    Q(
        "peak",
        "number",
        "the peak of that mean (of the layer's own series in the per-layer table)",
        header="peak S*",
        short="S*",
        run=lambda s: s.mean.peak,
        layer=lambda s: s.peak,
        verdict=True,
        swept=True,
    ),
    Q(
        "peak_step",
        "step",
        "the step of that peak",
        header="peak t*",
        short="t*",
        run=lambda s: s.mean.peak_step,
        layer=lambda s: s.peak_step,
        verdict=True,
    ),
    Q(
        "S_final",
        "number",
        "the last value of that series",
        run=lambda s: s.mean.S_final,
        layer=lambda s: s.S_final,
    ),
    Q(
        "peak_phase",
        "phase",
        "where that peak came: during phase 1 (at or before T1, or the run is stuck) or after T1; "
        "`no phase 1`: the loss had no first phase to compare with",
        header="peak in",
        short="in",
        run=lambda s: s.peak_phase,
        layer=lambda s: s.peak_phase,
        verdict=True,
        hparams="verdict/peak_in_phase1",
    ),
    Q(
        "final_loss",
        "number",
        "the last training loss",
        short="loss",
        run=lambda s: s.final_loss,
        progress=True,
    ),
    Q(
        "final_test_acc",
        "number",
        "final test accuracy",
        header="test acc",
        short="acc",
        run=lambda s: s.final_test_acc,
        verdict=True,
        hparams="verdict/test_acc",
        progress=True,
        compared=True,
        swept=True,
    ),
    Q(
        "final_train_acc",
        "number",
        "final training accuracy",
        header="train acc",
        run=lambda s: s.final_train_acc,
    ),
    Q(
        "condensed",
        "flag",
        "a rise dS >= {th.rise:g}, then a final value at most S* - {th.fall_fraction:g} dS (the similarity "
        "came back down; a dip that recovers does not count), or a run still stuck at its end",
        short="cond",
        run=lambda s: s.condensed,
        layer=lambda s: s.condensed,
        verdict=True,
        hparams="verdict/condensed",
        swept=True,
    ),
    Q(
        "collapsed_at_init",
        "flag",
        "collapsed at init, alike from step 0: more than half of the hidden layers start at or above "
        "{th.collapsed:g} and never rise by {th.rise:g}, and their mean does not rise by {th.rise:g}. Never "
        "counted as condensed",
        header="collapsed",
        short="coll",
        run=lambda s: s.collapsed_at_init,
        layer=lambda s: s.collapsed_at_init,
        verdict=True,
    ),
    Q("dS_max", "number", "the largest rise of a single hidden layer's series", run=lambda s: s.dS_max),
    Q("peak_max", "number", "the largest peak of a single hidden layer's series", run=lambda s: s.peak_max),
    Q("plateau_loss", "number", "L0, the loss plateau's level", run=lambda s: s.plateau_loss),
    Q("stuck", "flag", "the loss never left its plateau", run=lambda s: s.stuck),
    Q("steps_done", "step", "optimizer steps taken", run=lambda s: s.steps_done),
    Q(
        "smoothing_window",
        "step",
        "the window of the loss's running median",
        run=lambda s: s.smoothing_window,
    ),
)
"""Every reported quantity; the display order of the verdict, the per-layer table and the progress line."""

ROW_COLUMNS = ("arm", "grid", "seed", "status", "seconds", "run_dir", "error")
"""Columns of ``summary.csv`` that say which run a row is (attributes of the report's run row)."""

CSV_ORDER = tuple(
    "arm grid seed status phase1_end dS_max peak_max condensed final_train_acc final_test_acc final_loss "
    "plateau_loss seconds run_dir stuck steps_done error collapsed_at_init peak_phase peak_step S0 dS peak "
    "S_final smoothing_window".split()
)
"""The order of ``summary.csv``'s columns as published; later quantities follow in table order, so a column
never moves."""


def by_key() -> dict[str, Quantity]:
    """Every quantity by its key."""
    return {q.key: q for q in QUANTITIES}


def per_run() -> list[Quantity]:
    """The quantities a run has (its ``summary.csv`` columns and Python API keys), in table order."""
    return [q for q in QUANTITIES if q.run is not None]


def per_layer() -> list[Quantity]:
    """The columns of the per-layer table, in table order."""
    return [q for q in QUANTITIES if q.layer is not None]


def in_verdict(compact: bool = False) -> list[Quantity]:
    """The verdict's quantity columns (the compact table's when ``compact``), in table order."""
    return [q for q in QUANTITIES if q.verdict and (q.compact or not compact)]


def csv_columns() -> list[str]:
    """The columns of ``summary.csv`` (and of ``GridResult.rows``): which run, then every per-run quantity."""
    keys = {q.key for q in per_run()}
    published = [c for c in CSV_ORDER if c in ROW_COLUMNS or c in keys]
    return published + [q.key for q in per_run() if q.key not in published]


def headers(compact: bool = False) -> dict[str, str]:
    """key -> the column it is shown under (the short header when ``compact``)."""
    return {q.key: q.short if compact else q.header for q in QUANTITIES}


# ----------------------------------------------------------------------------------------------
# One value as text, as a number, over seeds
# ----------------------------------------------------------------------------------------------


def finite(values: Iterable[Any]) -> list[float]:
    """The values that are finite numbers (not booleans, not None), as floats."""
    return [
        float(v)
        for v in values
        if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
    ]


def median_range(values: Iterable[Any], digits: int = 3) -> str:
    """``median [min, max]`` of the finite values, or ``-``; whole numbers (steps) are written out, not as
    1e+03."""
    vals = finite(values)
    if not vals:
        return "-"
    whole = all(v.is_integer() for v in vals)  # steps: 1000, not 1e+03

    def fmt(v: float) -> str:
        return (f"{v:.0f}" if v.is_integer() else f"{v:.1f}") if whole else f"{v:.{digits}g}"

    med = fmt(statistics.median(vals))
    return med if len(vals) == 1 else f"{med} [{fmt(min(vals))}, {fmt(max(vals))}]"


def phase_counts(phases: Sequence[str | None]) -> str:
    """``phase1 3/3`` or ``phase1 1/3, phase2 2/3``: where the peak fell, out of every value given (None:
    no peak)."""
    if not any(p in PHASES for p in phases):
        return "-"
    return ", ".join(f"{p} {phases.count(p)}/{len(phases)}" for p in PHASES if p in phases)


def cell(quantity: Quantity, values: Sequence[Any]) -> str:
    """The values of some seeds summed up as the quantity's kind says: ``median [min, max]`` (with the count
    of missing ones when they mean something, ``(1 stuck)``), ``k/n`` or phase counts."""
    if quantity.kind == "flag":
        return f"{sum(1 for v in values if v)}/{len(values)}" if values else "-"
    if quantity.kind == "phase":
        return phase_counts(values)
    text = median_range(values)
    missing = sum(1 for v in values if v is None)
    if quantity.missing and missing:
        return f"{text} ({missing} {quantity.missing})" if text != "-" else f"{quantity.missing} ({missing})"
    return text


def run_cell(quantity: Quantity, summaries: Sequence[RunSummary]) -> str:
    """:func:`cell` of the runs' values; a run whose loss had no first phase counts as ``no phase 1`` in a
    phase count (a peak "before T1" means nothing when T1 only marks a loss that fell from the start)."""
    values = [quantity.of(s) for s in summaries]
    if quantity.kind == "phase":
        values = [v if s.first_phase else NO_FIRST_PHASE for v, s in zip(values, summaries, strict=True)]
    return cell(quantity, values)


def layer_cell(quantity: Quantity, layers: Sequence[SeriesSummary]) -> str:
    """:func:`cell` of some seeds' values of one hidden layer."""
    return cell(quantity, [quantity.layer(s) for s in layers] if quantity.layer is not None else [])


def number(value: Any) -> str:
    """One value for a line of text: 3 significant digits, ``-`` when missing."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return "nan" if not math.isfinite(value) else f"{value:.3g}"
    return str(value)


def value_text(quantity: Quantity, value: Any) -> str:
    """One value as the progress line shows it (``stuck`` for a missing T1)."""
    return quantity.missing if value is None and quantity.missing else number(value)


def csv_text(value: Any) -> Any:
    """One value as ``summary.csv`` writes it: empty when missing or not finite, ``true``/``false``."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, int | float) else str(value)

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

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from condensekit.cells import NO_FIRST_PHASE as NO_FIRST_PHASE
from condensekit.cells import PHASES as PHASES
from condensekit.cells import cell as cell
from condensekit.cells import csv_text as csv_text
from condensekit.cells import finite as finite
from condensekit.cells import layer_cell as layer_cell
from condensekit.cells import median_range as median_range
from condensekit.cells import number as number
from condensekit.cells import phase_counts as phase_counts
from condensekit.cells import run_cell as run_cell
from condensekit.cells import value_text as value_text
from condensekit.phases import DEFAULT_THRESHOLDS, RunSummary, SeriesSummary, Thresholds

Kind = Literal["number", "step", "flag", "phase", "name"]
"""How a value is written and summed up over seeds (:mod:`condensekit.cells`): ``number`` and ``step`` (a
whole number) as ``median [min, max]``, ``flag`` (true/false) as a count ``k/n``, ``phase`` (``phase1`` /
``phase2``) as phase counts, ``name`` (a layer's name) as how many seeds name each one."""


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
    Q(
        "S0",
        "number",
        "the value of {series} at the first measured step (step 0); `-` when that value is not finite",
        run=lambda s: s.mean.S0,
        layer=lambda s: s.S0,
    ),
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
        "peak_loss_drop",
        "number",
        "the share of the smoothed loss's total drop done at that peak, (L0 - Ls(t*)) / (L0 - Ls(end)) "
        "clipped to [0, 1]: 0 while the loss is on its plateau, 1 at its final level, no threshold involved "
        "(`-`: the loss never drops)",
        header="loss drop at t*",
        short="drop@t*",
        run=lambda s: s.mean.peak_loss_drop,
        layer=lambda s: s.peak_loss_drop,
        verdict=True,
        compact=False,
        hparams="verdict/peak_loss_drop",
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
    Q(
        "layers_condensed",
        "step",
        "how many hidden layers are condensed on their own (each layer's own series meets the rule above; "
        "the answer names them)",
        header="layers condensed",
        short="layers",
        run=lambda s: s.layers_condensed,
        verdict=True,
        hparams="verdict/layers_condensed",
    ),
    Q(
        "dS_max",
        "number",
        "the largest rise of a single hidden layer's series",
        header="max layer dS",
        short="dSmax",
        run=lambda s: s.dS_max,
        verdict=True,
        compact=False,
        hparams="verdict/dS_max",
    ),
    Q(
        "dS_max_layer",
        "name",
        "the hidden layer holding that largest rise, with the number of seeds in which it does",
        header="max-dS layer",
        short="at",
        run=lambda s: s.dS_max_layer,
        verdict=True,
        compact=False,
    ),
    Q(
        "dS_max_depth",
        "number",
        "the relative depth of the layer holding the largest rise among the hidden layers (0: the first, "
        "1: the last)",
        run=lambda s: relative_depth(s.dS_max_layer, s.hidden_layers),
        hparams="verdict/dS_max_depth",
    ),
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


def relative_depth(layer: str | None, hidden: tuple[str, ...]) -> float | None:
    """The position of ``layer`` among ``hidden`` from 0 (the first) to 1 (the last); None when it is not
    one of them, 0 when it is the only one."""
    if layer is None or layer not in hidden:
        return None
    return hidden.index(layer) / (len(hidden) - 1) if len(hidden) > 1 else 0.0


ROW_COLUMNS = ("arm", "grid", "seed", "status", "seconds", "run_dir", "error")
"""Columns of ``summary.csv`` that say which run a row is (attributes of the report's run row)."""

CSV_ORDER = tuple(
    "arm grid seed status phase1_end dS_max peak_max condensed final_train_acc final_test_acc final_loss "
    "plateau_loss seconds run_dir stuck steps_done error collapsed_at_init peak_phase peak_step S0 dS peak "
    "S_final smoothing_window peak_loss_drop layers_condensed dS_max_layer dS_max_depth".split()
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

"""One reported value as text, and the values of some seeds summed up in one table cell.

How a quantity of :mod:`condensekit.quantities` is written depends on its ``kind``: ``number`` and ``step``
as ``median [min, max]``, ``flag`` as a count ``k/n``, ``phase`` as phase counts, ``name`` (a layer's name)
as how many seeds name each one. One rule decides what a phase count counts, for runs and layers alike: a
seed whose loss had no first phase (:func:`condensekit.phases.has_first_phase`) counts as ``no phase 1``.

Importing this module does not import torch.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from condensekit.phases import RunSummary, SeriesSummary

NO_FIRST_PHASE = "no phase 1"
PHASES = ("phase1", "phase2", NO_FIRST_PHASE)
"""What a phase count counts: where the peak fell against T1, or a loss without a first phase."""


class Quantity(Protocol):
    """What a cell reads of a reported quantity: :class:`condensekit.quantities.Quantity` is one (this
    module sits below the table of quantities, which writes its cells with it)."""

    @property
    def kind(self) -> str: ...

    @property
    def missing(self) -> str: ...

    @property
    def layer(self) -> Callable[[SeriesSummary], Any] | None: ...

    def of(self, summary: RunSummary | None) -> Any: ...


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


def name_counts(names: Sequence[str | None]) -> str:
    """``layer7 3/5, layer6 2/5``: how many of the values name each name, the most named first (then in the
    order first met); None values count in ``n`` only."""
    counted = [n for n in names if n is not None]
    if not counted:
        return "-"
    order = {name: i for i, name in reversed(list(enumerate(counted)))}
    ranked = sorted(set(counted), key=lambda name: (-counted.count(name), order[name]))
    return ", ".join(f"{name} {counted.count(name)}/{len(names)}" for name in ranked)


def cell(quantity: Quantity, values: Sequence[Any]) -> str:
    """The values of some seeds summed up as the quantity's kind says: ``median [min, max]`` (with the count
    of missing ones when they mean something, ``(1 stuck)``), ``k/n``, phase counts or name counts."""
    if quantity.kind == "flag":
        return f"{sum(1 for v in values if v)}/{len(values)}" if values else "-"
    if quantity.kind == "phase":
        return phase_counts(values)
    if quantity.kind == "name":
        return name_counts(values)
    text = median_range(values)
    missing = sum(1 for v in values if v is None)
    if quantity.missing and missing:
        return f"{text} ({missing} {quantity.missing})" if text != "-" else f"{quantity.missing} ({missing})"
    return text


def first_phase_rule(phases: Sequence[Any], runs: Sequence[RunSummary]) -> list[Any]:
    """Each peak phase as the tables count it: ``no phase 1`` for a seed whose loss had no first phase (a
    peak "before T1" means nothing when T1 only marks a loss that fell from the start), for the run's
    peak and for each layer's alike."""
    return [v if run.first_phase else NO_FIRST_PHASE for v, run in zip(phases, runs, strict=True)]


def run_cell(quantity: Quantity, summaries: Sequence[RunSummary]) -> str:
    """:func:`cell` of the runs' values (phase counts under :func:`first_phase_rule`)."""
    values = [quantity.of(s) for s in summaries]
    if quantity.kind == "phase":
        values = first_phase_rule(values, summaries)
    return cell(quantity, values)


def layer_cell(quantity: Quantity, layers: Sequence[SeriesSummary], runs: Sequence[RunSummary]) -> str:
    """:func:`cell` of some seeds' values of one layer; ``runs[i]`` is the run of ``layers[i]`` (phase
    counts under :func:`first_phase_rule`, as for the runs)."""
    if quantity.layer is None:
        return cell(quantity, [])
    values = [quantity.layer(s) for s in layers]
    if quantity.kind == "phase":
        values = first_phase_rule(values, runs)
    return cell(quantity, values)


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

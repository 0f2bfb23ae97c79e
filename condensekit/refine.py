"""Where to measure densely: the gaps between measured steps that may still hide the peak of a watched series.

The verdict reads the peak ``S*`` of a series and its step ``t*`` (for every hidden layer and their mean),
so those must not depend on where the schedule happened to measure. :class:`WatchedSeries` keeps the
values of the summary series at every measured step; :func:`candidate_gaps` says which gaps between two
measured steps could hold a value above the series' highest one, and so must be measured inside.

A gap ``[a, b]`` of series ``X`` is a candidate when ``max(X(a), X(b)) + E_X >= max X``, where ``E_X`` is
how far ``X`` was seen to rise above the higher of the two ends of a gap (its *excursion*) in the refined
gaps near ``[a, b]`` (the gap it was split from and its neighbours, at least half as wide); where none is
near, a prior margin. The allowance is local because a series is smooth in one part of a run and jagged
in another (after the loss drops, single steps jump by a few hundredths). A gap is also a candidate when it
holds the summit, at or above the top, of the parabola through a measured local maximum and its two
neighbours (the peak of a smooth hump that fell between two measurements), and when an end comes within
twice the series' local step-to-step noise of the top (a flat top). Refining a gap measures inside it,
which both narrows the gaps and tells how jagged the series is; the search stops when no gap can hide a
higher value. A smooth series converges on its peak in a few halvings; a jagged one, whose steps jump by
more than the gap between its top values, is measured at every step across its top.

:class:`Retention` decides, while the run trains, which snapshots of the training state can still matter:
those inside the gaps whose ends come within a generous margin of a series' running maximum.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

LAYER_MEAN = "(layer mean)"
"""The name of the watched series that is the mean over hidden layers (computed here: a third-party metric
need not log one)."""


TIE_NOISE = 2.0
"""A gap's ends within this many times the series' step-to-step noise near the gap (the median change
between consecutive steps measured less than one gap width away) of its top count as reaching it: on a
flat top the highest step is decided by that noise, so every gap along the top is measured inside."""


Tolerance = tuple[int, float]
"""``(steps, value)``: how far the peak's step and height may be from the dense one's (see
:func:`candidate_gaps`)."""


@dataclass(frozen=True)
class Gap:
    """Two consecutive measured steps ``a < b`` with unmeasured steps between them; ``rank`` orders the
    gaps to refine first (lower first: the layer mean, then the gaps closest to their series' top)."""

    a: int
    b: int
    rank: float


@dataclass
class WatchedSeries:
    """The summary series (``<metric>/<point>/<quantity>`` of every point, and their mean over ``hidden``)
    at every step it was measured, and the excursions seen inside refined gaps.

    Args:
        metric: the summary metric's name.
        quantity: the per-point quantity the summary reads (``feat_inter``).
        hidden: the run's hidden layers, whose mean is watched as :data:`LAYER_MEAN`.
    """

    metric: str
    quantity: str
    hidden: Sequence[str]
    steps: list[int] = field(default_factory=list)
    values: dict[str, dict[int, float]] = field(default_factory=dict)
    excursions: dict[str, list[tuple[int, int, float]]] = field(default_factory=dict)  # sorted by start
    largest: dict[str, float] = field(default_factory=dict)  # the largest excursion of each series
    spans: dict[str, int] = field(default_factory=dict)  # the widest refined gap of each series
    added: dict[str, list[tuple[int, int, float]]] = field(default_factory=dict)  # excursions, as added
    nearest: dict[tuple[str, int, int], tuple[int, float]] = field(default_factory=dict, repr=False)
    """``(name, a, b) -> (excursions looked at, the largest near)``: :meth:`allowance` looks only at the
    excursions added since it last judged that gap."""

    def watched(self, scalars: Mapping[str, float]) -> dict[str, float]:
        """The watched values among one measurement's ``scalars`` (``tag -> value``): every
        ``<metric>/<point>/<quantity>`` and the mean over the hidden layers (NaN when one is missing or not
        finite, as :func:`condensekit.phases.layer_mean` has it)."""
        prefix, suffix = f"{self.metric}/", f"/{self.quantity}"
        out = {tag: float(v) for tag, v in scalars.items() if tag.startswith(prefix) and tag.endswith(suffix)}
        layers = [out.get(f"{prefix}{layer}{suffix}", math.nan) for layer in self.hidden]
        if layers:
            out[LAYER_MEAN] = sum(layers) / len(layers)
        return out

    def add(self, step: int, scalars: Mapping[str, float]) -> None:
        """Record a measurement at ``step`` (a step measured twice keeps its first values)."""
        if self.measured(step):
            return
        for name, value in self.watched(scalars).items():
            self.values.setdefault(name, {})[step] = value
        bisect.insort(self.steps, step)

    def measured(self, step: int) -> bool:
        """Whether the series were measured at ``step``."""
        i = bisect.bisect_left(self.steps, step)
        return i < len(self.steps) and self.steps[i] == step

    def add_refined(self, measured: Mapping[int, Mapping[str, float]]) -> None:
        """Record measurements inside gaps, and the excursion each gap showed (per series)."""
        split: dict[tuple[int, int], list[int]] = {}
        for step in measured:
            i = bisect.bisect_left(self.steps, step)
            if 0 < i < len(self.steps) and self.steps[i] != step:
                split.setdefault((self.steps[i - 1], self.steps[i]), []).append(step)
        for step, scalars in measured.items():
            self.add(step, scalars)
        for (a, b), inside in split.items():
            for name, series in self.values.items():
                ends = [v for v in (series.get(a, math.nan), series.get(b, math.nan)) if math.isfinite(v)]
                middle = [v for s in inside if math.isfinite(v := series.get(s, math.nan))]
                if ends and middle:
                    excursion = max(0.0, max(middle) - max(ends))
                    bisect.insort(self.excursions.setdefault(name, []), (a, b, excursion))
                    self.added.setdefault(name, []).append((a, b, excursion))
                    self.spans[name] = max(b - a, self.spans.get(name, 0))
                    self.largest[name] = max(excursion, self.largest.get(name, 0.0))

    def changes(self, name: str) -> list[tuple[int, float]]:
        """``(step, |X(step + 1) - X(step)|)`` of a series over the pairs of consecutive steps measured."""
        series = self.values.get(name, {})
        return [
            (a, abs(series[b] - series[a]))
            for a, b in zip(self.steps, self.steps[1:], strict=False)
            if b == a + 1
            and math.isfinite(series.get(a, math.nan))
            and math.isfinite(series.get(b, math.nan))
        ]

    def top(self, name: str) -> float:
        """The highest finite value of a series (NaN without one)."""
        finite = [v for v in self.values.get(name, {}).values() if math.isfinite(v)]
        return max(finite) if finite else math.nan

    def allowance(self, name: str, a: int, b: int, prior: float) -> float:
        """``E``: how far the series may rise inside the gap ``[a, b]`` above its ends, judged by the refined
        gaps near it (those at least half as wide, less than one width away: the gap it was split from, its
        neighbours), and by ``prior`` where none is near."""
        width = b - a
        added = self.added.get(name, [])
        looked, best = self.nearest.get((name, a, b), (0, -math.inf))
        for ga, gb, excursion in added[looked:]:
            if excursion > best and ga <= b + width and gb >= a - width and 2 * (gb - ga) >= width:
                best = excursion
        self.nearest[(name, a, b)] = (len(added), best)
        return best if best > -math.inf else prior


def candidate_gaps(book: WatchedSeries, prior: float, tolerance: Tolerance = (0, 0.0)) -> list[Gap]:
    """The gaps that may hide a value above a watched series' top (see the module's rules), best first.

    ``prior``: the excursion allowed for where no refined gap is near, as a share of the series' spread
    (its top less its lowest value). ``tolerance``: ``(steps, value)``: a gap that lies within ``steps`` of
    a series' highest step matters to it only if it may hide a value ``value`` above the top (the peak's
    step can then move by no more than ``steps``, its height by no more than ``value``)."""
    out: dict[tuple[int, int], float] = {}
    steps = book.steps
    wide = [(i, a, b) for i, (a, b) in enumerate(zip(steps, steps[1:], strict=False)) if b - a >= 2]
    names = sorted(book.values, key=lambda name: name != LAYER_MEAN)  # the mean first: its rank is lowest
    near_steps, near_value = tolerance
    for name in names:
        series = book.values[name]
        top = book.top(name)
        if not math.isfinite(top):
            continue
        at = min(step for step, v in series.items() if v == top)
        spread = max(top - min(v for v in series.values() if math.isfinite(v)), 1e-12)
        guess = prior * spread
        changes = book.changes(name)
        starts = [step for step, _ in changes]
        most_tie = TIE_NOISE * max((c for _, c in changes), default=0.0)
        most_allowed = max(guess, book.largest.get(name, 0.0))  # no allowance is larger
        widest = max(most_allowed, most_tie)
        values = [v if math.isfinite(v := series.get(step, math.nan)) else math.nan for step in steps]
        summits = _summits(values)
        for i, a, b in wide:
            left, right = values[i], values[i + 1]
            high = right if left != left else (left if right != right else max(left, right))
            if high != high or high + widest < top:  # no finite end, or too low to matter
                continue
            rank = -1.0 if name == LAYER_MEAN else (top - high) / spread
            if out.get((a, b), math.inf) <= rank:  # a candidate already, ranked as well or better
                continue
            need = top + near_value if at - near_steps <= a and b <= at + near_steps else top
            reaches = high >= need
            if not reaches and high >= need - most_tie:
                near = [
                    c
                    for _, c in changes[
                        bisect.bisect_left(starts, 2 * a - b) : bisect.bisect_right(starts, 2 * b - a)
                    ]
                ]
                reaches = high >= need - (TIE_NOISE * sorted(near)[len(near) // 2] if near else 0.0)
            if not reaches and high + most_allowed >= need:
                reaches = high + book.allowance(name, a, b, guess) >= need
            if reaches or ((i in summits or i + 1 in summits) and _vertex_reaches(steps, values, i, need)):
                out[(a, b)] = rank
    return sorted((Gap(a, b, rank) for (a, b), rank in out.items()), key=lambda g: (g.rank, g.a))


def _summits(values: Sequence[float]) -> set[int]:
    """The indices of the measured local maxima: finite values at least as high as both (finite)
    neighbours (where :func:`_vertex_reaches` can find a parabola's summit)."""
    return {
        j
        for j in range(1, len(values) - 1)
        if values[j] >= values[j - 1] and values[j] >= values[j + 1]  # False for any NaN
    }


def _vertex_reaches(steps: Sequence[int], values: Sequence[float], i: int, top: float) -> bool:
    """Whether gap ``i`` (between ``steps[i]`` and ``steps[i + 1]``) lies beside a measured local maximum
    whose parabola through it and its two neighbours peaks inside the gap at ``top`` or above: a smooth
    hump whose summit fell between two measurements (as in Brent's method)."""
    for j in (i, i + 1):  # the gap's left end, then its right end, as the middle of three points
        if j < 1 or j + 1 >= len(steps):
            continue
        (x0, x1, x2), (v0, v1, v2) = steps[j - 1 : j + 2], values[j - 1 : j + 2]
        if not (math.isfinite(v0) and math.isfinite(v1) and math.isfinite(v2)) or v1 < max(v0, v2):
            continue
        d0, d2 = x1 - x0, x2 - x1
        curve = (d0 * (v2 - v1) + d2 * (v0 - v1)) / (d0 * d2 * (d0 + d2))
        if curve >= 0:
            continue
        slope = (v2 - v1 - curve * d2 * d2) / d2
        summit, height = x1 - slope / (2 * curve), v1 - slope * slope / (4 * curve)
        inside = steps[i] < summit < steps[i + 1]
        if inside and height >= top:
            return True
    return False


@dataclass
class Retention:
    """Which snapshot steps to keep while the run trains.

    A snapshot at step ``s`` serves the gap between the measured steps around it. A gap is kept while one
    of its ends is within ``margin(X) = max(absolute, relative * (running max - running min))`` of a
    watched series' running maximum: a later, higher value only ever removes gaps from that set, and the
    margin is wider than the excursions the final search allows for, so the snapshots it will ask for are
    kept. Snapshots after the last measured step are always kept (their gap is not closed yet).
    """

    absolute: float = 0.0001
    relative: float = 0.25

    def gap_ranks(self, book: WatchedSeries) -> dict[tuple[int, int], float]:
        """``(a, b) -> rank`` of the gaps worth keeping snapshots for (rank in [-1, 0]: 0 at a series' top,
        in [1, 2] for the layer mean's gaps, which the verdict reads; lower ranks go first when memory runs
        short)."""
        out: dict[tuple[int, int], float] = {}
        steps = book.steps
        for name, series in book.values.items():
            finite = [v for v in series.values() if math.isfinite(v)]
            if not finite:
                continue
            top = max(finite)
            margin = self.absolute + self.relative * (top - min(finite))
            for a, b in zip(steps, steps[1:], strict=False):
                ends = [v for v in (series.get(a, math.nan), series.get(b, math.nan)) if math.isfinite(v)]
                if ends and max(ends) >= top - margin:
                    rank = (max(ends) - top) / margin + (2.0 if name == LAYER_MEAN else 0.0)
                    out[(a, b)] = max(rank, out.get((a, b), -math.inf))
        return out


def steps_in(gaps: Iterable[tuple[int, int]], candidates: Iterable[int]) -> set[int]:
    """The ``candidates`` that lie in ``[a, b)`` of one of ``gaps``."""
    spans = sorted(gaps)
    starts = [a for a, _ in spans]
    out = set()
    for s in candidates:
        i = bisect.bisect_right(starts, s) - 1
        if i >= 0 and spans[i][0] <= s < spans[i][1]:
            out.add(s)
    return out

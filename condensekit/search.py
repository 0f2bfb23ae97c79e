"""The search for the peaks of the watched series: which step to measure next, and in which gaps.

:func:`search` measures inside the candidate gaps of :func:`condensekit.refine.candidate_gaps` until none is
left or its budget is spent. Inside a gap it measures first the step whose training loss stands out most
from its neighbours (:func:`loss_spikes`), for what that step costs to reach from the last kept snapshot:
the similarity's sharpest peaks are single steps at which the minibatch loss jumps too (docs/metrics.md).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from condensekit.refine import Gap, Tolerance, WatchedSeries, candidate_gaps


@dataclass
class SearchReport:
    """What a :func:`search` did (it goes to ``run.json`` under ``refinement``)."""

    rounds: int = 0
    from_snapshots: int = 0  # measurements at kept snapshots: no training step run again
    replays: int = 0
    replayed_steps: int = 0  # training steps run again
    replay_measurements: int = 0
    unreachable: int = 0  # candidate gaps without a kept snapshot at or before them
    truncated: bool = False  # the budget ran out with candidate gaps left

    @property
    def cost(self) -> int:
        """Measurements plus training steps run again."""
        return self.from_snapshots + self.replayed_steps + self.replay_measurements


Measurements = dict[int, dict[str, float]]

PER_ROUND = 4
"""Gaps measured inside per round of :func:`search`, best first: the budget goes to the best gaps, each
round re-ranking them with what the last one found."""

SPIKE_WINDOW = 5
""":func:`loss_spikes` compares a step's loss with the median of this many steps on each side."""


def loss_spikes(losses: Sequence[float], window: int = SPIKE_WINDOW) -> list[float]:
    """How far each step's training loss stands above the median of its ``window`` neighbours on each side
    (``-inf`` where the loss is not finite).

    The summary series' sharpest peaks are single steps at which the features of different classes are, for
    a moment, most alike, so the logits too, and the minibatch loss of that step jumps: a loss that stands
    out from its neighbours points to the steps most worth measuring inside a gap. It is free (the loss of
    every step is logged), and only orders the search: which steps count as measured is never decided by
    it."""
    out = []
    for step, value in enumerate(losses):
        near = [v for v in losses[max(0, step - window) : step + window + 1] if math.isfinite(v)]
        if not math.isfinite(value) or len(near) < 2:
            out.append(-math.inf if not math.isfinite(value) else 0.0)
            continue
        near.remove(value)
        near.sort()
        mid = len(near) // 2
        median = near[mid] if len(near) % 2 else (near[mid - 1] + near[mid]) / 2
        out.append(value - median)
    return out


def _pick(gap: Gap, priority: Sequence[float] | None, snapshots: Sequence[int]) -> tuple[float, int]:
    """The step inside ``gap`` to measure next, and its worth: the step whose loss stands out most
    (:func:`loss_spikes`) for what it costs to reach (one measurement plus the steps replayed from the last
    snapshot before it); among equals the cheapest, then the one nearest the middle (a halving where the
    loss says nothing)."""

    def key(step: int) -> tuple[float, int, int, int]:
        spike = priority[step] if priority is not None and step < len(priority) else 0.0
        i = bisect.bisect_right(snapshots, step) - 1
        cost = 1 + (step - snapshots[i] if i >= 0 else 0)
        return (-max(spike, 0.0) / cost, cost, abs(2 * step - gap.a - gap.b), step)

    best = min(range(gap.a + 1, gap.b), key=key)
    return -key(best)[0], best


def search(
    book: WatchedSeries,
    snapshots: Sequence[int],
    prior: float,
    budget: int,
    measure_at: Callable[[list[int]], Measurements],
    replay: Callable[[int, list[int]], Measurements],
    tolerance: Tolerance = (0, 0.0),
    priority: Sequence[float] | None = None,
    reach: int | None = None,
) -> SearchReport:
    """Measure inside candidate gaps until none is left (or ``budget`` measurements plus replayed training
    steps are spent), recording every measurement in ``book``.

    Each round takes the :data:`PER_ROUND` best candidate gaps (the layer mean's first, then by the worth of
    the step :func:`_pick` chooses inside, then those whose ends come closest to their series' top) and
    measures that step in each: at a kept
    snapshot with ``measure_at(steps)`` (no training), else by ``replay(start, steps)``, which re-runs
    training from the last kept snapshot ``start`` before them and measures at ``steps``. Measuring splits
    the gap; the search goes on until no gap can hide a higher value: with budget enough it finds every
    series' highest step exactly, and with less it has spent what it had where a peak was likeliest.

    Args:
        book: the watched series.
        snapshots: the steps with a kept snapshot, sorted.
        prior: the excursion allowed for where none was seen near, as a share of a series' spread.
        budget: the most measurements plus replayed training steps to spend.
        measure_at: measures at snapshot steps.
        replay: re-runs training from a snapshot and measures at the given later steps.
        tolerance: see :func:`candidate_gaps` (default: find the highest step exactly).
        priority: per step, how much it is worth measuring first (:func:`loss_spikes`; None: halve gaps).
        reach: the most training steps one measurement may replay (None: any); a gap whose steps all lie
            farther from a kept snapshot is left, and counted as ``unreachable``.
    """
    report, skipped = SearchReport(), set()
    kept = set(snapshots)
    while True:
        gaps = [g for g in candidate_gaps(book, prior, tolerance) if (g.a, g.b) not in skipped]
        if not gaps:
            break
        picks = {(g.a, g.b): _pick(g, priority, snapshots) for g in gaps}
        gaps.sort(key=lambda g: (g.rank >= 0, -picks[(g.a, g.b)][0], g.rank, g.a))  # the mean's first
        report.rounds += 1
        cheap: list[int] = []
        runs: dict[int, list[int]] = {}  # snapshot -> the steps a replay from it measures
        taken = 0
        for gap in gaps:
            if taken == PER_ROUND:
                break
            step = picks[(gap.a, gap.b)][1]
            i = bisect.bisect_right(snapshots, step) - 1
            if step in kept:
                cost = 1
            elif i >= 0 and (reach is None or step - snapshots[i] <= reach):
                start = snapshots[i]
                reach = max([step, *runs.get(start, [])])
                cost = (reach - max([start, *runs.get(start, [])])) + 1
            else:
                skipped.add((gap.a, gap.b))
                report.unreachable += 1
                continue
            if report.cost + cost > budget:  # left unmeasured: a cheaper gap may still fit
                report.truncated = True
                skipped.add((gap.a, gap.b))
                continue
            taken += 1
            if step in kept:
                cheap.append(step)
                report.from_snapshots += 1
            else:
                start = snapshots[i]
                before = max([start, *runs.get(start, [])])
                runs.setdefault(start, []).append(step)
                report.replayed_steps += max(0, step - before)
                report.replay_measurements += 1
        if not cheap and not runs:
            continue
        measured = measure_at(sorted(cheap)) if cheap else {}
        for start, steps in runs.items():
            report.replays += 1
            measured.update(replay(start, sorted(steps)))
        book.add_refined(measured)
    return report

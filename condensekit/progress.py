"""Live progress of runs, from the process that trains to the one that displays.

The training process produces small events (plain dicts, so they cross a pipe unchanged):

* ``{"kind": "start", "run": label, "total": steps}`` when a run starts;
* ``{"kind": "step", "run": label, "step": n, "total": steps, "loss": float | None, "t1": int | None}``
  at most every :data:`MIN_INTERVAL` seconds while it trains;
* ``{"kind": "end", "run": label, "status": status}`` when it ends.

The built-in console plugin (:mod:`condensekit.defaults.console`) makes them from the run hooks without
a host sync: ``after_step`` counts steps, the loss arrives through ``log_scalars`` in the chunks the
trainer flushes. It hands them to this process's *sink*: the command line's display when runs train in
its own process, the pipe to the parent in a ``--jobs`` worker (:func:`set_sink`). With no sink (a Slurm
job, a Ray task, a bare :func:`condensekit.executing.execute_spec`) the plugin prints a plain line per
run instead, so logs stay readable.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Mapping
from typing import Any

from condensekit import quantities
from condensekit.phases import RunSummary

MIN_INTERVAL = 0.2
"""Seconds between two step events of one run (the display refreshes a few times a second)."""

Event = dict[str, Any]
Sink = Callable[[Event], None]

_sink: Sink | None = None


def set_sink(sink: Sink | None) -> Sink | None:
    """Send this process's progress events to ``sink`` (None: nobody listens); return the previous sink."""
    global _sink
    previous, _sink = _sink, sink
    return previous


def listening() -> bool:
    """Whether a sink takes this process's progress events."""
    return _sink is not None


def emit(event: Event) -> None:
    """Pass one event to the sink. A failing sink (a closed pipe) is dropped: progress never stops a run."""
    global _sink
    if _sink is None:
        return
    try:
        _sink(event)
    except (OSError, ValueError, EOFError):
        _sink = None


class PlateauWatch:
    """A live estimate of the phase-1 end ``T1`` from the losses as they arrive.

    The same rule as :func:`condensekit.phases.phase1_end` (plateau level ``L0`` = median of the first
    ``window`` losses; ``T1`` = first step whose centered running median is below ``L0 - max(rel L0, abs)``),
    checked incrementally: each step is judged once its whole window has arrived, so the cost per loss is
    one median of ``window`` values. The run's summary computes the official ``T1`` at the end (with the
    dataset's own smoothing window); this one is for the progress display.
    """

    def __init__(self, rel: float, abs_: float, window: int = 20):
        self.rel, self.abs, self.window = rel, abs_, max(1, window)
        self.losses: list[float] = []
        self.threshold: float | None = None
        self.t1: int | None = None
        self._next = 0  # the first step not yet judged

    def add(self, value: float) -> int | None:
        """Add the next step's loss; return ``T1`` once the loss has left the plateau."""
        if self.t1 is not None or not math.isfinite(value):
            return self.t1
        self.losses.append(value)
        n, half = len(self.losses), self.window // 2
        if self.threshold is None:
            if n < self.window:
                return None
            level = statistics.median(self.losses[: self.window])
            self.threshold = level - max(self.rel * level, self.abs)
        while self._next + half < n:
            i = self._next
            if statistics.median(self.losses[max(0, i - half) : i + half + 1]) < self.threshold:
                self.t1 = i
                self.losses = []
                break
            self._next += 1
        return self.t1


def result_text(summary: Mapping[str, Any], sep: str = "  ") -> str:
    """``T1=420  dS=0.31  loss=0.12  acc=0.91``: a finished run's headline numbers (``T1=stuck``), the
    quantities the table marks ``progress`` (:mod:`condensekit.quantities`), under their short names.

    ``summary`` is the run's summary as ``run.json`` stores it (empty for a run that has none).
    """
    typed = RunSummary.from_dict(summary) if summary else None
    shown = [q for q in quantities.QUANTITIES if q.progress]
    return sep.join(f"{q.short}={quantities.value_text(q, q.of(typed))}" for q in shown)


def phase_text(t1: int | None, short: bool = False) -> str:
    """``plateau`` while the loss stalls, ``left plateau at T1`` after (``T1 420`` when short)."""
    if t1 is None:
        return "plateau"
    return f"T1 {t1}" if short else f"left plateau at {t1}"

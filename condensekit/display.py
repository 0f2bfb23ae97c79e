"""What ``condensekit run`` shows while a grid trains: live bars on a terminal, plain lines in a log.

* :class:`GridProgress` holds the state: runs done, failed, the steps of each running run, the rate and ETA.
  It is fed by progress events (:mod:`condensekit.progress`) and by each run's outcome.
* :class:`LiveDisplay` (a terminal): a grid bar (runs done/total, failures, elapsed, ETA) and one bar per
  running run (step/total, steps/s, the last loss, ``plateau`` or ``left plateau at T1``), redrawn a few
  times a second by ``rich``, with one line per finished run printed above them.
* :class:`PlainDisplay` (stderr is not a terminal: a log file, a Slurm output): one line per finished run,
  and a status line per running run every ``interval`` seconds.
* :class:`QuietDisplay` (``--quiet``): nothing.

``rich`` honours ``NO_COLOR``; :func:`make_display` picks the display.
"""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass
from typing import IO, Any

from condensekit.progress import Event, phase_text, result_text
from condensekit.quantities import number
from condensekit.status import RunStatus

_STYLE = {"ok": "green", "diverged": "yellow", "failed": "bold red", "interrupted": "red", "skipped": "dim"}


@dataclass
class RunState:
    """One running run, as the last progress event described it."""

    label: str
    total: int
    step: int = 0
    loss: float | None = None
    t1: int | None = None
    first: tuple[float, int] | None = None  # (time, step) of the first step event: the rate excludes start-up
    rate: float = 0.0


class GridProgress:
    """Runs done and running, and the grid's rate, from progress events and outcomes (thread-safe)."""

    def __init__(self, name: str, total_runs: int, total_steps: int):
        self.name, self.total_runs, self.total_steps = name, total_runs, total_steps
        self.running: dict[str, RunState] = {}
        self.done = self.failed = self.steps_done = 0
        self.started = time.monotonic()
        self.first_step: float | None = None
        self.lock = threading.Lock()

    def event(self, event: Event) -> RunState | None:
        """Apply one progress event; return the run it concerns (None for an end event)."""
        with self.lock:
            label = str(event.get("run"))
            if event.get("kind") == "end":
                self.running.pop(label, None)
                return None
            run = self.running.setdefault(label, RunState(label, int(event.get("total") or 0)))
            if event.get("kind") == "step":
                now, step = time.monotonic(), int(event.get("step") or 0)
                run.step, run.loss, run.t1 = step, event.get("loss"), event.get("t1")
                if run.first is None:
                    run.first = (now, step)
                    self.first_step = self.first_step or now
                elif now > run.first[0]:
                    run.rate = (step - run.first[1]) / (now - run.first[0])
            return run

    def outcome(self, label: str, status: str, steps: int, skipped: bool) -> int:
        """Count a finished run; return how many are done. A skipped run's steps leave the total."""
        with self.lock:
            self.running.pop(label, None)
            self.done += 1
            self.failed += status == RunStatus.FAILED
            if skipped:
                self.total_steps -= steps
            else:
                self.steps_done += steps
            return self.done

    def eta(self) -> float | None:
        """Seconds left at the rate of the steps trained so far in this invocation (None before any)."""
        with self.lock:
            if self.first_step is None:
                return None
            done = self.steps_done + sum(r.step for r in self.running.values())
            elapsed = time.monotonic() - self.first_step
            if done <= 0 or elapsed <= 0:
                return None
            return max(0.0, (self.total_steps - done) / (done / elapsed))

    def snapshot(self) -> list[RunState]:
        with self.lock:
            return [RunState(**vars(r)) for r in self.running.values()]


def clock(seconds: float | None) -> str:
    """``1:02:03`` / ``2:03`` / ``-``."""
    if seconds is None:
        return "-"
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def rate_text(rate: float) -> str:
    """Steps per second: ``412``, ``38.5``, ``0.42``; ``-`` before there is a rate."""
    return "-" if rate <= 0 else f"{rate:.0f}" if rate >= 100 else f"{rate:.3g}"


def outcome_text(spec: Any, outcome: Any, sep: str = "  ") -> str:
    """What a finished run's line says after its status and name (``sep`` between the numbers)."""
    if outcome.status == RunStatus.SKIPPED:
        return f"({outcome.error or 'finished earlier with this spec; --force reruns it'})"
    if outcome.status == RunStatus.RUNNING:  # held by another process: not done by us; waited for at the end
        return f"({outcome.error}; waited for at the end)"
    if outcome.status in (RunStatus.FAILED, RunStatus.INTERRUPTED):
        return f"{outcome.error or 'see run.json'}"
    return f"{result_text(outcome.summary, sep)}{sep}({outcome.seconds:.1f}s)"


class Display:
    """The interface every display has; the base class shows nothing (``--quiet``)."""

    def __init__(self, grid: GridProgress):
        self.grid = grid

    def __enter__(self) -> Display:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def message(self, text: str) -> None:
        """A line of the command's own (the grid's header, an executor's note)."""

    def progress(self, event: Event) -> None:
        self.grid.event(event)
        if event.get("kind") == "end" and event.get("status") == RunStatus.INTERRUPTED:
            self.message(f"  interrupted {event.get('run')}")  # Ctrl-C: no outcome follows, so say it here

    def outcome(self, spec: Any, outcome: Any) -> None:
        if outcome.status != RunStatus.RUNNING:  # a run another process holds is counted when it is settled
            self.grid.outcome(
                spec.label, outcome.status, spec.train.steps, outcome.status == RunStatus.SKIPPED
            )

    def close(self) -> None:
        """Stop redrawing (the live display leaves only its finished lines)."""


QuietDisplay = Display


class PlainDisplay(Display):
    """Line-oriented progress for logs: one line per finished run, running runs every ``interval`` seconds."""

    def __init__(self, grid: GridProgress, stream: IO[str], interval: float = 30.0):
        super().__init__(grid)
        self.stream, self.interval = stream, interval
        self.last_status = time.monotonic()

    def _print(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def message(self, text: str) -> None:
        self._print(text)

    def progress(self, event: Event) -> None:
        super().progress(event)
        now = time.monotonic()
        if event.get("kind") == "step" and now - self.last_status >= self.interval:
            self.last_status = now
            for run in self.grid.snapshot():
                self._print(
                    f"  ...      {run.label}  step {run.step}/{run.total}  {rate_text(run.rate)} "
                    f"steps/s  loss {number(run.loss)}  {phase_text(run.t1)}"
                )
            self._print(
                f"  ...      {self.grid.done}/{self.grid.total_runs} runs done, ETA {clock(self.grid.eta())}"
            )

    def outcome(self, spec: Any, outcome: Any) -> None:
        super().outcome(spec, outcome)
        self._print(
            f"  [{self.grid.done}/{self.grid.total_runs}] {outcome.status:8s} "
            f"{spec.rel_dir}  {outcome_text(spec, outcome)}"
        )


class LiveDisplay(Display):
    """Bars redrawn in place on a terminal by ``rich``; finished runs print one line each above them."""

    def __init__(self, grid: GridProgress, console: Any):
        from rich.live import Live

        super().__init__(grid)
        self.console = console
        self.live = Live(
            _Board(grid), console=console, refresh_per_second=4, transient=True, redirect_stdout=False
        )
        self.live.start()

    def message(self, text: str) -> None:
        self.console.print(text, markup=False, highlight=False)

    def outcome(self, spec: Any, outcome: Any) -> None:
        from rich.text import Text

        super().outcome(spec, outcome)
        line = Text()
        line.append(f"[{self.grid.done}/{self.grid.total_runs}] ", style="dim")
        line.append(f"{outcome.status} ", style=_STYLE.get(str(outcome.status), ""))
        line.append(f"{spec.label}  ", style="bold")
        line.append(outcome_text(spec, outcome, sep=" "))  # one 80-column line for a typical run
        self.console.print(line)

    def close(self) -> None:
        self.live.stop()


class _Board:
    """The live part: the grid's bar and one bar per running run, each fitted to the terminal's width."""

    def __init__(self, grid: GridProgress):
        self.grid = grid

    def __rich_console__(self, console: Any, options: Any) -> Any:
        width = options.max_width
        grid = self.grid
        failed = f"  {grid.failed} failed" if grid.failed else "  0 failed"
        elapsed = clock(time.monotonic() - grid.started)
        yield _bar_line(
            grid.name,
            grid.done / max(1, grid.total_runs),
            f"{grid.done}/{grid.total_runs} runs{failed}  {elapsed} elapsed  ETA {clock(grid.eta())}",
            width,
            "bold",
        )
        for run in grid.snapshot():
            stats = (
                f"{run.step}/{run.total}  {rate_text(run.rate)} "
                f"steps/s  loss {number(run.loss)}  {phase_text(run.t1)}"
            )
            if len(run.label) + len(stats) + 12 > width:
                stats = (
                    f"{run.step}/{run.total} {rate_text(run.rate)}/s loss "
                    f"{number(run.loss)} {phase_text(run.t1, short=True)}"
                )
            yield _bar_line("  " + run.label, run.step / max(1, run.total), stats, width, "")


def _bar_line(label: str, fraction: float, stats: str, width: int, style: str) -> Any:
    """``label ━━━━━━──── stats`` in ``width`` columns: the bar takes what is left (none when too little)."""
    from rich.text import Text

    label = label if len(label) <= 34 else label[:17] + "…" + label[-16:]  # keep the seed in sight
    room = width - len(label) - len(stats) - 2
    line = Text()
    line.append(label, style=style)
    if room >= 6:
        filled = round(min(1.0, max(0.0, fraction)) * min(room, 40))
        line.append(" ")
        line.append("━" * filled, style="green")
        line.append("─" * (min(room, 40) - filled), style="grey37")
    line.append(" " + stats)
    line.truncate(width, overflow="ellipsis")
    return line


def make_display(
    grid: GridProgress, stream: IO[str] | None = None, quiet: bool = False, console: Any = None
) -> Display:
    """The display for ``stream`` (default stderr): quiet, live on a terminal, plain lines otherwise.

    ``console``: a ``rich.console.Console`` to draw on (tests pass one with ``force_terminal=True``).
    """
    if quiet:
        return QuietDisplay(grid)
    stream = stream if stream is not None else sys.stderr
    if console is None and _is_terminal(stream):
        from rich.console import Console

        console = Console(file=stream)
    if console is not None and console.is_terminal:
        return LiveDisplay(grid, console)
    return PlainDisplay(grid, stream)


def _is_terminal(stream: IO[str]) -> bool:
    import os

    try:
        return stream.isatty() and os.environ.get("TERM", "") != "dumb"
    except (AttributeError, ValueError):
        return False

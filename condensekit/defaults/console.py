"""Console progress of a run: events for the live display, or plain lines where nobody displays them.

When this process has a progress sink (:mod:`condensekit.progress`: the command line's display, or the pipe
of a ``--jobs`` worker), the plugin sends it a start event, a step event at most every
:data:`condensekit.progress.MIN_INTERVAL` seconds (counted in ``after_step``, no host sync) with the last
loss flushed through ``log_scalars`` and a live ``T1`` estimate, and an end event; the display prints the
one line per finished run. Without a sink (a Slurm job, a Ray task) it prints a line when a run starts and
one when it ends, into the job's log.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import condensekit
from condensekit import progress
from condensekit.phases import LOSS_TAG

KEY = "condensekit.console"


@dataclass
class _Live:
    watch: progress.PlateauWatch
    loss: float | None = None
    last_sent: float = field(default=-math.inf)


@condensekit.hookimpl
def run_started(run: condensekit.Run) -> None:
    th = run.spec.thresholds
    run.state[KEY] = _Live(progress.PlateauWatch(th.plateau_drop_rel, th.plateau_drop_abs))
    if progress.listening():
        progress.emit({"kind": "start", "run": run.label, "total": run.total_steps})
    else:
        print(f"  running {run.label} on {run.device} ({run.total_steps} steps)", file=sys.stderr, flush=True)


@condensekit.hookimpl
def after_step(run: condensekit.Run) -> None:
    live = run.state.get(KEY)
    if live is None or not progress.listening():
        return
    now = time.monotonic()
    if now - live.last_sent >= progress.MIN_INTERVAL:
        live.last_sent = now
        progress.emit(
            {
                "kind": "step",
                "run": run.label,
                "step": run.step + 1,
                "total": run.total_steps,
                "loss": live.loss,
                "t1": live.watch.t1,
            }
        )


@condensekit.hookimpl
def log_scalars(run: condensekit.Run, scalars: dict[str, float]) -> None:
    live = run.state.get(KEY)
    value = scalars.get(LOSS_TAG)
    if live is not None and value is not None:
        live.loss = float(value)
        live.watch.add(float(value))


@condensekit.hookimpl
def run_finished(run: condensekit.Run, status: str, summary: dict[str, Any]) -> None:
    run.state.pop(KEY, None)
    if progress.listening():
        progress.emit({"kind": "end", "run": run.label, "status": str(status)})
    else:
        print(f"  {status:8s} {run.label}  {progress.result_text(summary)}", file=sys.stderr, flush=True)

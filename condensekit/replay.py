"""Measuring densely where it matters, by deterministic replay from in-memory snapshots (docs/metrics.md).

During training, :class:`Refinement` takes a snapshot of the whole training state
(:class:`~condensekit.snapshots.TrainingState`) every ``every`` steps and at each measurement of the summary
series, and keeps only those that can still matter (:class:`~condensekit.refine.Retention`): near the
running top of the summary series of each probe point and of the layer mean, and around the loss's exit
from its plateau (the live ``T1`` estimate). When the run has ended, :meth:`Refinement.finish` measures the
summary series at the kept snapshots around ``T1``, then searches the gaps that may hide a higher value
(:func:`~condensekit.search.search`): at a kept snapshot (no training), or by replaying the training steps
of a gap from the snapshot before it and measuring every step. Only the run's own tricks and the summary
metric see the replayed steps; the process's plugins (console, TensorBoard, jsonl) see the refined values
through ``log_scalars``, at their (earlier) steps, after the run's last step.

The replay checks itself: every replayed training loss is compared with the one logged in the run, and
the end of every replayed gap, measured before, is measured again. On the CPU with a fixed thread count
both are bit-identical; on CUDA, kernels that sum in a varying order (atomics in some backward passes,
cuDNN's algorithm choice) can make them differ by rounding. The check is recorded in ``run.json``
(``refinement.check``) and a difference is warned about, never hidden.
"""

from __future__ import annotations

import bisect
import dataclasses
import math
import time
import warnings
from collections.abc import Callable
from typing import Any

import torch

from condensekit.measuring import Recorder, measure_wanted
from condensekit.phases import phase1_end
from condensekit.probe import Probe
from condensekit.progress import PlateauWatch
from condensekit.refine import Retention, WatchedSeries, steps_in
from condensekit.run import Run
from condensekit.run_hooks import RunHooks
from condensekit.search import Measurements, loss_spikes, search
from condensekit.snapshots import Snapshot, TrainingState

PRIOR = 0.2
"""Where no refined gap is near, a gap may hide a value this share of the series' spread above its ends."""
MIN_EVERY, MAX_EVERY = 2, 64
"""Bounds of the snapshot spacing (at least 2, so that some steps are replayed and checked)."""
REACH = 8
"""A measurement replays at most this many snapshot spacings: a gap whose snapshots were all dropped (it
seemed unable to matter while the run trained) is not worth a long replay."""
OPEN_SPAN = 16
"""Snapshots taken at one spacing in the gap after the last measurement before the spacing doubles."""
KEPT_SHARE = 8
"""The snapshots are spaced as if one in this many were kept at once: :class:`~condensekit.refine.Retention`
drops those that can no longer matter as the run goes, and the memory bound drops the least useful first."""


@dataclasses.dataclass
class Stepper:
    """One training step of a run, as the loop and a replay take it."""

    hooks: RunHooks
    run: Run
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    take: Callable[[RunHooks], torch.Tensor]  # one optimizer step with these hooks; the loss (detached)


@dataclasses.dataclass
class Check:
    """The replay's self-check: what was compared and the largest difference found."""

    losses: int = 0
    loss_diff: float = 0.0
    values: int = 0
    value_diff: float = 0.0

    def to_dict(self, device: torch.device) -> dict[str, Any]:
        identical = self.loss_diff == 0.0 and self.value_diff == 0.0
        return {
            "device": str(device),
            "threads": torch.get_num_threads(),
            "losses_compared": self.losses,
            "loss_max_abs_diff": self.loss_diff,
            "values_compared": self.values,
            "value_max_abs_diff": self.value_diff,
            "identical": identical,
        }


class Refinement:
    """Snapshots while a run trains, then the search for the peaks of its summary series (module docstring).

    Args:
        stepper: the run's training step (its hooks are replaced by the replay's own).
        state: takes and restores snapshots.
        probe_batch: the probe's inputs and labels; ``points``: the probe points.
        series: the summary series, ``<metric>/<quantity>``.
        recorder: the run's recorder (its losses; the refined values are emitted through it).
        window: the run's smoothing window (``T1``'s).
        memory: the most bytes the kept snapshots may take.
        budget: the most measurements plus replayed training steps, per training step of the run.
    """

    def __init__(
        self,
        stepper: Stepper,
        state: TrainingState,
        probe_batch: tuple[torch.Tensor, torch.Tensor],
        points: dict[str, torch.nn.Module],
        series: str,
        recorder: Recorder,
        window: int,
        memory: int,
        budget: float,
    ):
        self.metric, _, quantity = series.partition("/")
        self.wanted = frozenset({quantity})
        self.stepper, self.state, self.probe_batch, self.points = stepper, state, probe_batch, points
        self.recorder, self.window, self.memory, self.budget = recorder, window, memory, budget
        self.replay_hooks = stepper.hooks.without_plugins(metrics=[self.metric])
        self.book = WatchedSeries(self.metric, quantity, list(stepper.run.hidden_layers))
        self.retention = Retention()
        self.snapshots: dict[int, Snapshot] = {}
        self._bytes = 0  # of the kept snapshots
        self.ranks: dict[tuple[int, int], float] = {}
        self.fed = 0  # losses given to the live T1 estimate
        self.plateau = PlateauWatch(
            stepper.run.spec.thresholds.plateau_drop_rel, stepper.run.spec.thresholds.plateau_drop_abs, window
        )
        first = state.capture(0)
        total = stepper.run.total_steps
        spacing = math.ceil(total * first.nbytes / max(1, KEPT_SHARE * memory))
        self.every = max(MIN_EVERY, min(MAX_EVERY, spacing))
        self.usable = first.nbytes * 4 <= memory
        if not self.usable:
            warnings.warn(
                f"run {stepper.run.label}: a snapshot of the training state takes "
                f"{first.nbytes / 2**20:.0f} MiB, too much for [probe] refine_memory = "
                f"{memory / 2**20:.0f} MiB: the summary series is measured on its schedule only; raise "
                "refine_memory to refine it",
                stacklevel=2,
            )

    @property
    def kept_bytes(self) -> int:
        return self._bytes

    def _drop(self, step: int) -> None:
        snapshot = self.snapshots.pop(step)
        self._bytes -= snapshot.nbytes
        self.state.release(snapshot)

    def observe(self, step: int, scalars: dict[str, float]) -> None:
        """A scheduled measurement of the summary metric at ``step``: watch it, and drop the snapshots that
        can no longer matter."""
        self.book.add(step, scalars)
        for value in self.recorder.losses[self.fed :]:
            self.plateau.add(value)
        self.fed = len(self.recorder.losses)
        self.ranks = self.retention.gap_ranks(self.book)
        self._prune(step)

    def keep(self, step: int) -> None:
        """Before training step ``step``: snapshot the state when it is due: every ``every`` steps after the
        last measurement, then, as the gap since it grows, at twice that spacing every :data:`OPEN_SPAN`
        snapshots (a long gap of a log schedule would otherwise fill the memory before it is judged)."""
        last = (self.book.steps or [0])[-1]
        spacing = self.every * 2 ** ((step - last) // self.every // OPEN_SPAN).bit_length()
        if not self.usable or (step - last) % spacing:
            return
        if step in self.snapshots:
            self._drop(step)
        self.snapshots[step] = self.state.capture(step)
        self._bytes += self.snapshots[step].nbytes
        if self.kept_bytes > self.memory:
            self._prune(step)

    def _protected(self, now: int) -> set[int]:
        """Snapshot steps never dropped: after the last measurement (their gap is open) and around ``T1``."""
        last = self.book.steps[-1] if self.book.steps else 0
        protect = {s for s in self.snapshots if s >= last}
        t1 = self.plateau.t1
        if t1 is None:  # the live estimate lags: keep what a T1 found later may still need
            lag = 50 + 2 * self.window
            protect |= {s for s in self.snapshots if s >= now - lag}
        else:
            protect |= {s for s in self.snapshots if abs(s - t1) <= 2 * self.window}
        return protect

    def _prune(self, now: int) -> None:
        keep = steps_in(self.ranks, self.snapshots) | self._protected(now) | {0}
        for step in [s for s in self.snapshots if s not in keep]:
            self._drop(step)
        if self.kept_bytes <= self.memory:
            return
        spans = sorted(self.ranks, key=lambda gap: (self.ranks[gap], gap[0]))  # lowest rank first
        protected = self._protected(now) | {0}
        for gap in spans:
            for step in sorted(steps_in([gap], self.snapshots) - protected):
                self._drop(step)
            if self.kept_bytes <= self.memory:
                return

    def finish(self, losses: list[float], device: torch.device) -> dict[str, Any]:
        """After the run's last step: measure where the peaks may be, log the refined values, and return the
        record for ``run.json``."""
        started = time.process_time()
        run, total = self.stepper.run, self.stepper.run.total_steps
        final = self.state.capture(total)
        check, refined = Check(), {}
        report = None
        try:
            _, t1 = phase1_end(losses, self.window, run.spec.thresholds)
            snaps = sorted(self.snapshots)
            budget = int(self.budget * total)
            if (
                t1 is not None and budget >= 4
            ):  # around the loss's exit from its plateau, a window's width each side
                near = [s for s in snaps if abs(s - t1) <= self.window and not self.book.measured(s)]
                stride = max(1, math.ceil(len(near) / max(1, budget // 4)))  # a quarter of the budget at most
                refined.update(self._at_snapshots(near[::stride]))
                self.book.add_refined(refined)
                budget -= len(refined)

            def at_snapshots(steps: list[int]) -> Measurements:
                found = self._at_snapshots(steps)
                refined.update(found)
                return found

            def replay(start: int, steps: list[int]) -> Measurements:
                found = self._replay(start, steps, losses, check)
                refined.update(found)
                return found

            report = search(
                self.book,
                snaps,
                PRIOR,
                budget,
                at_snapshots,
                replay,
                priority=loss_spikes(losses),
                reach=REACH * self.every,
            )
        finally:
            self.state.restore(final)
            run.step = total
        for step in sorted(refined):
            self.recorder.emit(step, refined[step])
        record = {
            "every": self.every,
            "budget": self.budget,
            "snapshots_kept": len(self.snapshots),
            "snapshot_mib": round(self.kept_bytes / 2**20, 1),
            "measured_steps": len(refined),
            **dataclasses.asdict(report),
            "cpu_seconds": round(time.process_time() - started, 3),
            "check": check.to_dict(device),
        }
        if not record["check"]["identical"]:
            warnings.warn(_difference(run, record["check"]), stacklevel=2)
        return record

    def _probe(self, step: int) -> dict[str, float]:
        """The summary metric's wanted quantities at ``step`` on the current model."""
        self.stepper.run.step = step
        probe = Probe(self.stepper.model, *self.probe_batch, self.points, step, wanted=self.wanted)
        return measure_wanted(self.replay_hooks, self.stepper.run, probe, self.metric)

    def _at_snapshots(self, steps: list[int]) -> Measurements:
        out = {}
        for step in steps:
            self.state.restore_model(self.snapshots[step])
            out[step] = self._probe(step)
        return out

    def _replay(self, start: int, steps: list[int], losses: list[float], check: Check) -> Measurements:
        """Re-run training from the snapshot at ``start`` up to the last of ``steps`` (sorted, after
        ``start``), measuring at each of them. The first replay of a run that can goes on to the next step
        measured before (the end of its gap) and measures it again, for the check."""
        self.state.restore(self.snapshots[start])
        i = bisect.bisect_right(self.book.steps, steps[-1])
        end = self.book.steps[i] if i < len(self.book.steps) else None
        again = end if check.values == 0 and end is not None and end - steps[-1] <= 2 * self.every else None
        out, replayed, wanted = {}, [], set(steps)
        for step in range(start, again if again is not None else steps[-1]):
            if step in wanted and step > start:
                out[step] = self._probe(step)
            self.stepper.run.step = step
            replayed.append(self.stepper.take(self.replay_hooks))
        if again is None:
            out[steps[-1]] = self._probe(steps[-1])
        else:
            for name, value in self.book.watched(self._probe(again)).items():
                original = self.book.values.get(name, {}).get(again, math.nan)
                check.values += 1
                check.value_diff = max(check.value_diff, _difference_of(value, original))
        for step, loss in zip(
            range(start, start + len(replayed)), torch.stack(replayed).tolist(), strict=True
        ):
            check.losses += 1
            check.loss_diff = max(check.loss_diff, _difference_of(loss, losses[step]))
        return out


def _difference_of(a: float, b: float) -> float:
    """``|a - b|``, 0 for two NaNs, inf for one."""
    if math.isnan(a) and math.isnan(b):
        return 0.0
    return abs(a - b) if math.isfinite(a) and math.isfinite(b) else math.inf


def _difference(run: Run, check: dict[str, Any]) -> str:
    where = (
        "on CUDA, kernels that sum in a varying order"
        if check["device"].startswith("cuda")
        else ("a trick whose state is not in its attributes, or a thread count that changed")
    )
    return (
        f"run {run.label}: the replay that refined the summary series is not bit-identical to the run "
        f"(losses differ by up to {check['loss_max_abs_diff']:.3g}, measured values by up to "
        f"{check['value_max_abs_diff']:.3g}; likely cause: {where}); the refined points are kept, "
        "see refinement.check in run.json; set [probe] refine = false to measure on the schedule only"
    )

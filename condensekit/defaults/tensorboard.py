"""Writes a run's TensorBoard event file: its scalars, the dashboard's shared tags, layout and HParams
session.

One event file in the run directory (no stray sub-runs), written in the run's own thread
(:class:`condensekit.event_files.EventFile`), so a full disk fails the run with one line, not a traceback
from a writer thread; in step order: the points a refinement logs for earlier steps after the run's last one
are sorted in when the run ends. Besides every scalar under its own name, the run writes what makes runs
comparable in TensorBoard (see :mod:`condensekit.dashboard`):

* copies of the headline (loss, test accuracy, the summary series' layer mean and the layer means its
  metric declares in ``MetricReport.compare``) under ``Compare/``, a group that sorts first;
* the summary series at the first, 25%, 50%, 75% and last hidden layer under shared tags
  ``Compare_by_depth/<quantity>/<k>_<position>``, so arms of different depths overlay;
* the custom-scalars layout (TensorBoard merges the runs' layouts), once the first measurement shows which
  keys the run logs;
* at the end: ``Compare/on_plateau`` (1 until the run's T1, then 0: the T1 marker), the verdict metrics (the
  quantities with an HParams tag, :func:`condensekit.dashboard.hparams_values`) and the HParams session
  (arm, seed, status, tricks with their parameters, grid values).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import condensekit
from condensekit import dashboard
from condensekit.dashboard_arms import plateau_marker
from condensekit.event_files import EventFile
from condensekit.layer_groups import HIDDEN
from condensekit.phases import RunSummary
from condensekit.safe_files import write_files

KEY = "condensekit.tensorboard"


@dataclass
class _Writer:
    writer: EventFile
    started: float
    aliases: dict[str, list[str]] = field(default_factory=dict)  # tag -> the shared tags it is copied to
    layout_written: bool = False
    last_step: dict[str, int] = field(default_factory=dict)  # tag -> the last step written
    late: bool = False  # a tag got a step before its last one (a refinement's points)


@condensekit.hookimpl
def run_started(run: condensekit.Run) -> None:
    # written in this thread (not TensorBoard's writer thread): a full disk fails the run with one line
    run.state[KEY] = _Writer(EventFile(run.run_dir, flush_secs=10), time.time())


def _aliases(run: condensekit.Run) -> dict[str, list[str]]:
    """tag -> shared tags: the headline copied under ``Compare/``, the series' layers under
    ``Compare_by_depth/``."""
    series = run.spec.summary_options.series
    out: dict[str, list[str]] = {}
    for _, tag, copy in dashboard.headline_tags(series, run.reports):
        out.setdefault(tag, []).append(copy)
    if series:
        metric, _, quantity = series.partition("/")
        for index, name, layer in dashboard.depth_layers(run.hidden_layers):
            out.setdefault(f"{metric}/{layer}/{quantity}", []).append(
                dashboard.depth_tag(quantity, index, name)
            )
    return out


@condensekit.hookimpl
def log_scalars(run: condensekit.Run, step: int, scalars: dict[str, float]) -> None:
    state = run.state.get(KEY)
    if state is None:
        return
    if (
        not state.layout_written
        and run.hidden_layers
        and any(tag.partition("/")[0] in run.spec.metrics for tag in scalars)
    ):
        # the first measurement: the hidden layers and the metrics' keys are known
        _write_layout(run, state, scalars)
    # one event holding every scalar of the step (and its aliases), not one event per scalar (add_scalar): a
    # measurement logs hundreds of values at once, and TensorBoard reads a multi-value summary the same way
    from tensorboard.compat.proto.summary_pb2 import Summary

    values = []
    for tag, value in scalars.items():
        state.late = state.late or step < state.last_step.get(tag, -1)
        state.last_step[tag] = max(step, state.last_step.get(tag, -1))
        values.append(Summary.Value(tag=tag, simple_value=float(value)))
        values += [
            Summary.Value(tag=alias, simple_value=float(value)) for alias in state.aliases.get(tag, ())
        ]
    state.writer.add_summary(Summary(value=values), step)


def _write_layout(run: condensekit.Run, state: _Writer, tags: Any) -> None:
    state.aliases = _aliases(run)
    others = {label: points for label, points in run.probe_groups.items() if label != HIDDEN}
    layout = dashboard.dashboard_layout(
        run.spec.summary_options.series, run.reports, run.hidden_layers, tags, others
    )
    state.writer.add_summary(dashboard.layout_summary(layout))
    state.layout_written = True


@condensekit.hookimpl
def run_finished(run: condensekit.Run, status: str, summary: dict[str, Any]) -> None:
    state = run.state.pop(KEY, None)
    if state is None:
        return
    try:
        if not state.layout_written:
            _write_layout(run, state, ())
        if summary:  # a failed run has none
            typed = RunSummary.from_dict(summary)
            _write_plateau_marker(state.writer, typed)
            for tag, value in dashboard.hparams_values(typed).items():
                state.writer.add_scalar(tag, value, run.step)
        hparams = dashboard.run_hparams(run.spec.arm, run.seed, run.spec.grid, run.spec.tricks, str(status))
        for item in dashboard.session_summaries(hparams, str(status), state.started):
            state.writer.add_summary(item)
    finally:
        state.writer.close()
    if state.late:
        _sort_by_step(state.writer)


def _sort_by_step(writer: EventFile) -> None:
    """Rewrite the run's event file with its events in step order
    (:meth:`condensekit.event_files.EventFile.in_step_order`): in place of the old one, whole or not at all,
    never through a link."""
    write_files(writer.path.parent, {writer.path.name: writer.in_step_order()})


def _write_plateau_marker(writer: EventFile, summary: RunSummary) -> None:
    """``Compare/on_plateau``: 1 while the run is on its initial loss plateau, 0 from T1 on (all 1 when
    stuck), as a dense step curve (:func:`condensekit.dashboard_arms.plateau_marker`), so that TensorBoard's
    smoothing keeps the drop sharp."""
    for step, value in zip(*plateau_marker(summary.steps_done, summary.phase1_end), strict=True):
        writer.add_scalar(dashboard.ON_PLATEAU, value, step)

"""Writes scalars and hparams to a TensorBoard event file in the run directory (no stray sub-runs)."""

from __future__ import annotations

import math
from typing import Any

import condensekit

KEY = "condensekit.tensorboard"
HPARAM_METRICS = ("phase1_end", "dS_max", "peak_max", "final_train_acc", "final_test_acc")


@condensekit.hookimpl
def run_started(run: condensekit.Run) -> None:
    from torch.utils.tensorboard import SummaryWriter

    run.state[KEY] = SummaryWriter(log_dir=str(run.run_dir), flush_secs=30)


@condensekit.hookimpl
def log_scalars(run: condensekit.Run, step: int, scalars: dict[str, float]) -> None:
    writer = run.state.get(KEY)
    if writer is None:
        return
    for tag, value in scalars.items():
        writer.add_scalar(tag, value, global_step=step)


@condensekit.hookimpl
def run_finished(run: condensekit.Run, status: str, summary: dict[str, Any]) -> None:
    writer = run.state.pop(KEY, None)
    if writer is None:
        return
    try:
        _write_hparams(writer, run, status, summary)
    finally:
        writer.close()


def hparams_of(run: condensekit.Run) -> dict[str, Any]:
    """Flat hyper-parameters of a run: arm, seed, grid values, model params, tricks."""
    spec = run.spec
    out: dict[str, Any] = {"arm": spec.arm, "seed": spec.seed, "model": spec.model.use, "data": spec.data.use}
    out.update({f"model.{k}": v for k, v in spec.model.params.items()})
    out.update({f"grid.{k}": v for k, v in spec.grid.items()})
    out["tricks"] = ",".join(sorted(spec.tricks)) or "none"
    out["lr"] = spec.train.lr
    return {k: v if isinstance(v, bool | int | float | str) else str(v) for k, v in out.items()}


def _write_hparams(writer: Any, run: condensekit.Run, status: str, summary: dict[str, Any]) -> None:
    # SummaryWriter.add_hparams would open a second sub-run; write the three hparam summaries into
    # this run's own event file instead, so TensorBoard's HParams tab sees one run per directory.
    from torch.utils.tensorboard.summary import hparams

    metrics = {}
    for key in HPARAM_METRICS:
        value = summary.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            metrics[f"summary/{key}"] = float(value)
    experiment, session_start, session_end = hparams({**hparams_of(run), "status": status}, metrics)
    for item in (experiment, session_start, session_end):
        writer.file_writer.add_summary(item)
    for tag, value in metrics.items():
        writer.add_scalar(tag, value, global_step=run.step)

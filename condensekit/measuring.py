"""Measuring at a step: the metrics due are called on one shared probe, and what they return is logged.

:class:`Recorder` passes scalars to the ``log_scalars`` hook and keeps them for the run's summary;
:func:`measure` calls ``collect_metrics`` on the metrics due (a scheduled measurement); :func:`measure_wanted`
calls one metric for the quantities a refinement wants (:mod:`condensekit.replay`). Both treat non-finite
weights, features or gradients as the run's divergence.
"""

from __future__ import annotations

import math
import numbers
import reprlib
from collections.abc import Mapping
from typing import Any

import torch

from condensekit.errors import PluginError
from condensekit.phases import LOSS_TAG
from condensekit.probe import Probe
from condensekit.run import Run
from condensekit.run_hooks import RunHooks
from condensekit.schedules import BoundSchedule


class Recorder:
    """Passes scalars to the ``log_scalars`` hook and keeps them in memory for the run's summary."""

    def __init__(self, hooks: RunHooks, run: Run):
        self.hooks, self.run = hooks, run
        self.max_loss = run.spec.train.max_loss
        self.history: dict[str, tuple[list[int], list[float]]] = {}
        self.losses: list[float] = []

    def emit(self, step: int, scalars: dict[str, float]) -> None:
        if not scalars:
            return
        for tag, value in scalars.items():
            steps, values = self.history.setdefault(tag, ([], []))
            steps.append(step)
            values.append(float(value))
        self.hooks.call("log_scalars", run=self.run, step=step, scalars=scalars)

    def sorted_history(self) -> dict[str, tuple[list[int], list[float]]]:
        """:attr:`history` with each series in step order (a refinement logs earlier steps last)."""
        out = {}
        for tag, (steps, values) in self.history.items():
            pairs = sorted(zip(steps, values, strict=True), key=lambda p: p[0])  # stable: the first of a step
            out[tag] = ([s for s, _ in pairs], [v for _, v in pairs])
        return out

    def flush_losses(self, losses: torch.Tensor, upto: int) -> bool:
        """Log the losses of the steps before ``upto`` not yet logged; False when one is not finite or above
        ``train.max_loss``.

        ``losses`` is a ring buffer of ``LOSS_FLUSH_EVERY`` entries indexed by ``step % LOSS_FLUSH_EVERY``:
        the loop flushes it every ``LOSS_FLUSH_EVERY`` steps, so it holds exactly the steps not yet logged.
        """
        values = losses.tolist()
        for step in range(len(self.losses), upto):
            value = values[step % len(values)]
            self.losses.append(value)
            self.emit(step, {LOSS_TAG: value})
            if not math.isfinite(value) or value > self.max_loss:
                return False
        return True


def measure(
    hooks: RunHooks, probe: Probe, due: Mapping[str, BoundSchedule], recorder: Recorder
) -> dict[str, float] | None:
    """Call ``collect_metrics`` on the metrics due now (and on plugins that are not catalogue metrics).

    Returns the scalars logged; None, without calling a metric, when the weights or the probe's features or
    logits are not finite, and None when a metric fails or returns non-finite values on non-finite feature
    gradients: the run has diverged at this step. A metric that returns something other than numbers fails
    the run with an error naming the metric and the key.
    """
    weights = [p.detach() for p in probe.model.parameters()]
    if not_finite(weights, list(probe.features.values()), [probe.logits]):
        return None
    run = recorder.run
    scalars: dict[str, float] = {}
    try:
        now = [name for name, steps in due.items() if run.step in steps]
        for source, prefix, result in hooks.collect_metrics(now, run=run, probe=probe):
            scalars.update(metric_numbers(source, prefix, result))
    except Exception:
        if not_finite(list(probe.feature_grads.values())):  # the metric met non-finite gradients: divergence
            return None
        raise
    if not all(math.isfinite(v) for v in scalars.values()) and not_finite(list(probe.feature_grads.values())):
        return None
    recorder.emit(run.step, scalars)
    return scalars


def not_finite(*groups: list[torch.Tensor]) -> bool:
    """Whether any tensor of the groups holds a NaN or an infinity (one device sync for all of them).

    First the cheap test: the sum of each tensor (a NaN or an infinity makes it non-finite). Only when one sum
    is not finite, which finite values can also give by overflowing, is every element looked at."""
    tensors = [
        t for group in groups for t in group if t.numel() and (t.is_floating_point() or t.is_complex())
    ]
    if not tensors:
        return False
    sums = [
        t.sum(dtype=torch.float32) if t.element_size() < 4 and not t.is_complex() else t.sum()
        for t in tensors
    ]
    if bool(
        torch.stack([torch.view_as_real(s).sum() if s.is_complex() else s for s in sums]).isfinite().all()
    ):
        return False
    return not bool(torch.stack([t.isfinite().all() for t in tensors]).all())


def metric_numbers(source: str, prefix: str, result: Any) -> dict[str, float]:
    """``{prefix/key: float}`` of what a ``collect_metrics`` returned; a PluginError naming the source
    otherwise."""
    if result is None:
        return {}
    if not isinstance(result, dict):
        raise PluginError(
            f"{source}: collect_metrics returned {type(result).__name__} "
            f"{reprlib.repr(result)}; it must return a dict of key -> number, or None"
        )
    out = {}
    for key, value in result.items():
        if isinstance(value, torch.Tensor) and value.numel() == 1:
            value = value.item()
        if not isinstance(value, numbers.Real):
            raise PluginError(
                f"{source}: collect_metrics returned {type(value).__name__} "
                f"{reprlib.repr(value)} for key {key!r}; every value must be a number (a float)"
            )
        out[f"{prefix}/{key}"] = float(value)
    return out


def measure_wanted(hooks: RunHooks, run: Run, probe: Probe, metric: str) -> dict[str, float]:
    """What ``metric`` measures of the quantities ``probe.wanted``, as ``<metric>/<key> -> value``: the keys
    it returns whose last part is wanted (a metric that ignores ``wanted`` computes everything; the rest is
    dropped). Empty when the probe's features or logits are not finite."""
    wanted = probe.wanted or frozenset()
    if not_finite(list(probe.features.values()), [probe.logits]):
        return {}
    out: dict[str, float] = {}
    for source, prefix, result in hooks.collect_metrics([metric], run=run, probe=probe):
        if prefix == metric:
            out.update(metric_numbers(source, prefix, result))
    return {tag: value for tag, value in out.items() if tag.rpartition("/")[2] in wanted}

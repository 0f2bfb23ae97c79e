"""Loss-plateau / phase detector and the per-run condensation summary (METRICS.md, "Phases")."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Thresholds(BaseModel):
    """Every threshold of the phase detector and the ``condensed`` rule: a recipe's ``[summary]`` table.

    One type for the recipe table, the resolved run spec and the summary code; ``run.json`` records the
    values a run used, and the report's legend prints them.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    plateau_drop_rel: float = Field(0.05, ge=0, description="T1: the smoothed loss must fall below L0 by this share of L0 ...")
    plateau_drop_abs: float = Field(0.02, ge=0, description="... or by this much, whichever is larger")
    rise: float = Field(0.1, ge=0, description="condensed: the series must rise by at least this much")
    peak: float = Field(0.9, ge=-1, le=1, description="condensed: or peak at or above this")
    fall_fraction: float = Field(0.5, ge=0, le=1, description="condensed: and fall back by this share of the rise (unless stuck)")
    series: str | None = Field(
        None,
        description="the per-layer series the summary reads, '<metric>/<quantity>' (default: the headline series of the first metric that declares one)",
    )


DEFAULT_THRESHOLDS = Thresholds()


def smoothing_window(steps_per_epoch: int) -> int:
    """``max(20, steps_per_epoch / 20)``."""
    return max(20, steps_per_epoch // 20)


def running_median(values: Sequence[float], window: int) -> list[float]:
    """Centered running median; the window shrinks at the ends."""
    half = window // 2
    n = len(values)
    return [statistics.median(values[max(0, i - half) : min(n, i + half + 1)]) for i in range(n)]


def phase1_end(losses: Sequence[float], window: int, th: Thresholds = DEFAULT_THRESHOLDS) -> tuple[float, int | None]:
    """Plateau level ``L0`` and phase-1 end ``T1`` (None when the loss never leaves the plateau).

    ``L0`` is the median of the first ``window`` losses; ``T1`` is the first step where the
    running-median-smoothed loss is below ``L0 - max(rel * L0, abs)``.
    """
    finite = [v for v in losses if math.isfinite(v)]
    if not finite:
        return math.nan, None
    level = statistics.median(finite[:window])
    threshold = level - max(th.plateau_drop_rel * level, th.plateau_drop_abs)
    for step, value in enumerate(running_median(finite, window)):
        if value < threshold:
            return level, step
    return level, None


def layer_summary(steps: Sequence[int], values: Sequence[float]) -> dict[str, Any]:
    """S0, peak S* and its step t*, rise dS = S* - S0, the final value and the lowest value after t*."""
    pairs = [(s, v) for s, v in zip(steps, values, strict=True) if math.isfinite(v)]
    if not pairs:
        return {"S0": math.nan, "peak": math.nan, "peak_step": None, "rise": math.nan, "final": math.nan, "min_after_peak": math.nan}
    s0 = pairs[0][1]
    peak_index = max(range(len(pairs)), key=lambda i: pairs[i][1])
    peak_step, peak = pairs[peak_index]
    return {
        "S0": s0,
        "peak": peak,
        "peak_step": peak_step,
        "rise": peak - s0,
        "final": pairs[-1][1],
        "min_after_peak": min(v for _, v in pairs[peak_index:]),
    }


def is_condensed(layer: dict[str, Any], stuck: bool, th: Thresholds = DEFAULT_THRESHOLDS) -> bool:
    """The METRICS.md rule: a big enough rise (or a high peak) that falls back by half the rise, or a stuck run."""
    rise, peak = layer["rise"], layer["peak"]
    if not (math.isfinite(rise) and math.isfinite(peak)):
        return False
    risen = rise >= th.rise or peak >= th.peak
    fell = peak - layer["min_after_peak"] >= th.fall_fraction * rise
    return bool(risen and (fell or stuck))


def summarize_run(
    losses: Sequence[float],
    layer_series: dict[str, tuple[Sequence[int], Sequence[float]]],
    window: int,
    th: Thresholds = DEFAULT_THRESHOLDS,
) -> dict[str, Any]:
    """The per-run summary: plateau, phase-1 end and the condensation of each hidden layer.

    Args:
        losses: per-step minibatch loss (index = step).
        layer_series: hidden layer -> (steps, values) of ``th.metric`` (e.g. ``feat_inter``).
        window: smoothing window (see :func:`smoothing_window`).
        th: thresholds.
    """
    level, t1 = phase1_end(losses, window, th)
    stuck = t1 is None
    layers = {name: layer_summary(*series) for name, series in layer_series.items()}
    for summary in layers.values():
        summary["condensed"] = is_condensed(summary, stuck, th)
    rises = [s["rise"] for s in layers.values() if math.isfinite(s["rise"])]
    peaks = [s["peak"] for s in layers.values() if math.isfinite(s["peak"])]
    return {
        "plateau_loss": level,
        "phase1_end": t1,
        "stuck": stuck,
        "dS_max": max(rises) if rises else math.nan,
        "peak_max": max(peaks) if peaks else math.nan,
        "condensed": any(s["condensed"] for s in layers.values()),
        "layers": layers,
    }

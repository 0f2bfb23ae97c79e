"""Loss-plateau / phase detector and the per-run condensation summary (docs/metrics.md, "Phases").

The summary reads one per-layer series (the recipe's ``[summary] series``, by default the headline of the
first metric that declares one, e.g. ``condensation/feat_inter``) and the per-step training loss:

* the loss gives the plateau level ``L0`` and the phase-1 end ``T1`` (``None``: stuck, never left);
* each hidden layer's series gives ``S0``, the peak ``S*`` at step ``t*``, the rise ``dS = S* - S0``, the
  final value, and three verdicts: ``condensed``, ``collapsed_at_init`` and ``peak_phase``;
* the mean of the series over the hidden layers (computed here, step by step, from the per-layer series)
  gets the same quantities; they are the run's verdict (``summary["mean"]``, ``summary["condensed"]`` ...).

The rules, with the thresholds of :class:`Thresholds`:

* ``condensed``: a real rise, ``dS >= rise``, and then either the *final* value is at most
  ``S* - fall_fraction * dS`` (the similarity came back down, a temporary condensation) or the run is
  stuck (still in phase 1 when it ended). A high peak alone is not enough, and a dip after the peak that
  recovers is not a fall.
* ``collapsed_at_init``: the series starts at or above ``collapsed`` and never rises by ``rise`` (e.g. a
  sigmoid MLP whose features are all alike from step 0). A different failure; never ``condensed``. A *run*
  is collapsed at init when more than half of its hidden layers are and their mean does not rise by
  ``rise``: the first hidden layer is a linear map of the input and keeps the inputs' own similarity, so
  the layer mean of a network that is otherwise alike from step 0 can sit below ``collapsed``.
* ``peak_phase``: ``"phase1"`` when the peak comes at or before ``T1`` or the run is stuck (the whole run
  is phase 1), ``"phase2"`` when it comes after ``T1``; ``None`` when the series has no finite value.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Thresholds(BaseModel):
    """Every threshold of the phase detector and the verdict rules: a recipe's ``[summary]`` table.

    One type for the recipe table, the resolved run spec and the summary code; ``run.json`` records the
    values a run used, and the report's legend prints them.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    plateau_drop_rel: float = Field(
        0.05, ge=0, description="T1: the smoothed loss must fall below L0 by this share of L0 ..."
    )
    plateau_drop_abs: float = Field(0.02, ge=0, description="... or by this much, whichever is larger")
    rise: float = Field(
        0.1, ge=0, description="condensed: the series must rise by at least this much above its first value"
    )
    fall_fraction: float = Field(
        0.5,
        ge=0,
        le=1,
        description="condensed: and end at least this share of the rise below its peak (unless stuck)",
    )
    collapsed: float = Field(
        0.9,
        ge=-1,
        le=1,
        description="collapsed_at_init: the series starts at or above this and never rises by `rise`",
    )
    series: str | None = Field(
        None,
        description=(
            "the per-layer series the summary reads, '<metric>/<quantity>' "
            "(default: the headline series of the first metric that declares one)"
        ),
    )
    reference: str | None = Field(
        None, description="the arm the report compares every other arm against (default: the first arm)"
    )


DEFAULT_THRESHOLDS = Thresholds()
SERIES_KEYS = ("S0", "peak", "peak_step", "rise", "final")


def smoothing_window(steps_per_epoch: int) -> int:
    """``max(20, steps_per_epoch / 20)``."""
    return max(20, steps_per_epoch // 20)


def running_median(values: Sequence[float], window: int) -> list[float]:
    """Centered running median; the window shrinks at the ends."""
    half = window // 2
    n = len(values)
    return [statistics.median(values[max(0, i - half) : min(n, i + half + 1)]) for i in range(n)]


def phase1_end(
    losses: Sequence[float], window: int, th: Thresholds = DEFAULT_THRESHOLDS
) -> tuple[float, int | None]:
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


def series_summary(steps: Sequence[int], values: Sequence[float]) -> dict[str, Any]:
    """``S0`` (first value), peak ``S*`` and its step ``t*`` (the first one if tied), rise ``dS = S* - S0``,
    final value.

    Non-finite values are left out; with none left every number is NaN and ``peak_step`` is None.
    """
    pairs = [(s, v) for s, v in zip(steps, values, strict=True) if math.isfinite(v)]
    if not pairs:
        return {"S0": math.nan, "peak": math.nan, "peak_step": None, "rise": math.nan, "final": math.nan}
    s0 = pairs[0][1]
    peak_step, peak = max(pairs, key=lambda p: p[1])  # max() keeps the first of equal values
    return {"S0": s0, "peak": peak, "peak_step": peak_step, "rise": peak - s0, "final": pairs[-1][1]}


def is_condensed(series: Mapping[str, Any], stuck: bool, th: Thresholds = DEFAULT_THRESHOLDS) -> bool:
    """A real rise (``dS >= rise``), then the final value at most ``S* - fall_fraction * dS``, or a stuck
    run."""
    rise, peak, final = series["rise"], series["peak"], series["final"]
    if not (math.isfinite(rise) and math.isfinite(peak) and math.isfinite(final)):
        return False
    if rise < th.rise:
        return False
    return bool(stuck or final <= peak - th.fall_fraction * rise)


def is_collapsed_at_init(series: Mapping[str, Any], th: Thresholds = DEFAULT_THRESHOLDS) -> bool:
    """Starts at or above ``collapsed`` and never rises by ``rise``: alike from step 0, not condensed."""
    s0, rise = series["S0"], series["rise"]
    return bool(math.isfinite(s0) and math.isfinite(rise) and s0 >= th.collapsed and rise < th.rise)


def peak_phase(peak_step: int | None, t1: int | None) -> str | None:
    """``"phase1"`` when the peak is at or before ``T1`` or the run is stuck (``T1`` None), else
    ``"phase2"``."""
    if peak_step is None:
        return None
    return "phase1" if t1 is None or peak_step <= t1 else "phase2"


def has_first_phase(t1: int | None, window: int) -> bool:
    """Whether the loss stayed on its plateau long enough to call it a first phase: stuck, or
    ``T1 >= 2 window``.

    A loss that falls from the first step is detected near ``window / 2`` (the centered running median
    needs half a window of lower values), so a ``T1`` within two windows is not told apart from no plateau.
    """
    return t1 is None or t1 >= 2 * window


def judged(series: dict[str, Any], t1: int | None, th: Thresholds) -> dict[str, Any]:
    """A :func:`series_summary` with its verdicts added: ``condensed``, ``collapsed_at_init``,
    ``peak_phase``."""
    series["condensed"] = is_condensed(series, t1 is None, th)
    series["collapsed_at_init"] = is_collapsed_at_init(series, th)
    series["peak_phase"] = peak_phase(series["peak_step"], t1)
    return series


def layer_mean(
    layer_series: Mapping[str, tuple[Sequence[int], Sequence[float]]],
) -> tuple[list[int], list[float]]:
    """The mean over layers, step by step: at each step every layer logged, the mean of their values.

    Steps some layer did not log are left out (the layers of one metric are measured together, so this only
    drops a step when a layer is missing from it). A NaN in one layer makes that step's mean NaN, as in the
    metric's own ``mean/<quantity>`` (it is not hidden); :func:`series_summary` then skips the step.
    """
    if not layer_series:
        return [], []
    by_layer = [dict(zip(steps, values, strict=True)) for steps, values in layer_series.values()]
    common = sorted(set.intersection(*(set(d) for d in by_layer)))
    return common, [sum(d[step] for d in by_layer) / len(by_layer) for step in common]


def run_collapsed_at_init(
    layers: Mapping[str, Mapping[str, Any]], mean: Mapping[str, Any], th: Thresholds
) -> bool:
    """More than half of the hidden layers collapsed at init, and their mean does not rise by ``rise``."""
    collapsed = sum(1 for s in layers.values() if s["collapsed_at_init"])
    rise = mean["rise"]
    return bool(layers) and 2 * collapsed > len(layers) and math.isfinite(rise) and rise < th.rise


def summarize_run(
    losses: Sequence[float],
    layer_series: dict[str, tuple[Sequence[int], Sequence[float]]],
    window: int,
    th: Thresholds = DEFAULT_THRESHOLDS,
) -> dict[str, Any]:
    """The per-run summary: plateau, phase-1 end, each hidden layer, and the layer mean that gives the
    verdict.

    Args:
        losses: per-step minibatch loss (index = step).
        layer_series: hidden layer -> (steps, values) of the summary series (e.g. ``feat_inter``).
        window: smoothing window (see :func:`smoothing_window`).
        th: thresholds.

    Returns:
        ``plateau_loss``, ``smoothing_window``, ``phase1_end``, ``stuck``; ``layers`` (per layer:
        :data:`SERIES_KEYS`, ``condensed``, ``collapsed_at_init``, ``peak_phase``); ``mean``, the same for the
        mean over the layers; the run's ``condensed`` and ``peak_phase`` (the mean's) and
        ``collapsed_at_init`` (more than half of the layers, and no rise of the mean); ``dS_max`` /
        ``peak_max``, the largest rise and peak of a single layer.
    """
    level, t1 = phase1_end(losses, window, th)
    layers = {name: judged(series_summary(*series), t1, th) for name, series in layer_series.items()}
    mean = judged(series_summary(*layer_mean(layer_series)), t1, th)
    rises = [s["rise"] for s in layers.values() if math.isfinite(s["rise"])]
    peaks = [s["peak"] for s in layers.values() if math.isfinite(s["peak"])]
    return {
        "plateau_loss": level,
        "smoothing_window": window,
        "phase1_end": t1,
        "stuck": t1 is None,
        "dS_max": max(rises) if rises else math.nan,
        "peak_max": max(peaks) if peaks else math.nan,
        "condensed": mean["condensed"],
        "collapsed_at_init": run_collapsed_at_init(layers, mean, th),
        "peak_phase": mean["peak_phase"],
        "mean": mean,
        "layers": layers,
    }

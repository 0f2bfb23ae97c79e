"""Loss-plateau / phase detector, the layer mean, and the typed per-run summary (docs/metrics.md, "Phases").

The summary reads one per-layer series (the recipe's ``[summary] series``, by default the headline of the
first metric that declares one, e.g. ``condensation/feat_inter``) and the per-step training loss:

* the loss gives the plateau level ``L0`` and the phase-1 end ``T1`` (``None``: stuck, never left);
* each hidden layer's series gives ``S0``, the peak ``S*`` (``peak``) at step ``t*`` (``peak_step``), the
  rise ``dS = S* - S0``, the final value ``S_final``, and three verdicts: ``condensed``,
  ``collapsed_at_init`` and ``peak_phase`` (:class:`SeriesSummary`);
* :func:`layer_mean` of the series over the hidden layers gets the same quantities; they are the run's
  verdict (:class:`RunSummary`: ``summary.mean``, ``summary.condensed`` ...).

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

A value that could not be measured (a series without a finite value, a loss that never was finite) is
``None``, in memory as in ``run.json``, so a summary read back from ``run.json`` equals the one written.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

LOSS_TAG = "train/loss"
"""The tag under which the trainer logs the per-step minibatch loss that the phase detector reads."""

Series = tuple[Sequence[int], Sequence[float]]
"""``(steps, values)`` of one logged quantity."""

PeakPhase = Literal["phase1", "phase2"]


class Thresholds(BaseModel):
    """Every threshold of the phase detector and the verdict rules (from the recipe's ``[summary]`` table).

    ``run.json`` records the values a run used (``spec.thresholds``), and the report's legend prints them.
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


DEFAULT_THRESHOLDS = Thresholds()
_SUMMARY = ConfigDict(extra="forbid", frozen=True)


class SeriesSummary(BaseModel):
    """One series (a hidden layer's, or their mean) summarised: its numbers and its verdicts."""

    model_config = _SUMMARY
    S0: float | None = None
    peak: float | None = None
    peak_step: int | None = None
    dS: float | None = None
    S_final: float | None = None
    condensed: bool = False
    collapsed_at_init: bool = False
    peak_phase: PeakPhase | None = None


class RunSummary(BaseModel):
    """The summary of one finished run: its loss phases, its hidden layers' series and their mean, its end.

    ``condensed``, ``collapsed_at_init`` and ``peak_phase`` are the run's verdict (those of :attr:`mean`,
    except ``collapsed_at_init``: see the module's rules); ``dS_max`` / ``peak_max`` are the largest rise and
    peak of a single hidden layer. :meth:`to_dict` is what ``run.json`` stores and the ``run_finished``
    hook receives; :meth:`from_dict` reads it back equal.
    """

    model_config = _SUMMARY
    plateau_loss: float | None
    smoothing_window: int
    phase1_end: int | None
    stuck: bool
    dS_max: float | None
    peak_max: float | None
    condensed: bool
    collapsed_at_init: bool
    peak_phase: PeakPhase | None
    mean: SeriesSummary
    layers: dict[str, SeriesSummary] = Field(default_factory=dict)
    hidden_layers: tuple[str, ...] = ()
    final_loss: float | None = None
    final_train_acc: float | None = None
    final_test_acc: float | None = None
    steps_done: int = 0
    seconds: float | None = None

    @property
    def first_phase(self) -> bool:
        """Whether the loss had a first phase (:func:`has_first_phase` with this run's smoothing window)."""
        return has_first_phase(self.phase1_end, self.smoothing_window)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data (``run.json``'s ``summary``)."""
        return self.model_dump(mode="json")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunSummary:
        """Read a summary back from :meth:`to_dict`'s data; raises ``pydantic.ValidationError`` when it is
        not one (another version's, or hand-edited)."""
        return cls.model_validate(data)


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def smoothing_window(steps_per_epoch: int) -> int:
    """``max(20, steps_per_epoch / 20)``."""
    return max(20, steps_per_epoch // 20)


def running_median(values: Sequence[float], window: int) -> list[float]:
    """Centered running median; the window shrinks at the ends."""
    half = window // 2
    n = len(values)
    return [statistics.median(values[max(0, i - half) : min(n, i + half + 1)]) for i in range(n)]


def smoothed_loss(losses: Series, window: int) -> tuple[list[int], list[float]]:
    """The finite losses, smoothed by :func:`running_median`, at their steps: the curve T1 is read from."""
    kept = [(s, v) for s, v in zip(*losses, strict=True) if math.isfinite(v)]
    return [s for s, _ in kept], running_median([v for _, v in kept], window)


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


def is_condensed(
    dS: float, peak: float, final: float, stuck: bool, th: Thresholds = DEFAULT_THRESHOLDS
) -> bool:
    """A real rise (``dS >= rise``), then the final value at most ``S* - fall_fraction * dS``, or a stuck
    run."""
    if dS < th.rise:
        return False
    return bool(stuck or final <= peak - th.fall_fraction * dS)


def is_collapsed_at_init(s0: float, dS: float, th: Thresholds = DEFAULT_THRESHOLDS) -> bool:
    """Starts at or above ``collapsed`` and never rises by ``rise``: alike from step 0, not condensed."""
    return bool(s0 >= th.collapsed and dS < th.rise)


def peak_phase(peak_step: int | None, t1: int | None) -> PeakPhase | None:
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


def series_summary(
    steps: Sequence[int], values: Sequence[float], t1: int | None = None, th: Thresholds = DEFAULT_THRESHOLDS
) -> SeriesSummary:
    """``S0`` (first value), peak ``S*`` and its step ``t*`` (the first one if tied), rise ``dS = S* - S0``,
    final value, and the verdicts against ``T1`` (``t1``; None: stuck) and the thresholds.

    Non-finite values are left out; with none left every number is None and nothing is condensed.
    """
    pairs = [(s, v) for s, v in zip(steps, values, strict=True) if math.isfinite(v)]
    if not pairs:
        return SeriesSummary()
    s0 = pairs[0][1]
    peak_step, peak = max(pairs, key=lambda p: p[1])  # max() keeps the first of equal values
    final, dS = pairs[-1][1], peak - s0
    return SeriesSummary(
        S0=s0,
        peak=peak,
        peak_step=peak_step,
        dS=dS,
        S_final=final,
        condensed=is_condensed(dS, peak, final, t1 is None, th),
        collapsed_at_init=is_collapsed_at_init(s0, dS, th),
        peak_phase=peak_phase(peak_step, t1),
    )


def layer_mean(
    series: Mapping[str, Series], hidden: Sequence[str], metric: str | None, quantity: str
) -> tuple[list[int], list[float]]:
    """The mean of a per-layer quantity over the hidden layers, step by step: the one rule of the layer mean.

    The points are the ``hidden`` layers that logged ``<metric>/<layer>/<quantity>`` (``<layer>/<quantity>``
    when ``metric`` is None); a layer that never logs the quantity is none of its points. A step that one
    of them did not log is left out (the layers of one metric are measured together, so this only drops a
    step when a layer is missing from it). A non-finite value in one layer makes that step's mean
    non-finite: it is never averaged over fewer layers, and :func:`series_summary` then skips the step.

    Args:
        series: tag -> (steps, values), e.g. everything a run logged.
        hidden: the run's hidden layers, in order (``summary.hidden_layers``).
        metric: the metric's name, the first part of the tags; None when the tags have no metric part.
        quantity: the per-layer quantity, e.g. ``feat_inter``.
    """
    prefix = f"{metric}/" if metric is not None else ""
    points = [
        dict(zip(*series[tag], strict=True))
        for layer in hidden
        if (tag := f"{prefix}{layer}/{quantity}") in series
    ]
    if not points:
        return [], []
    common = sorted(set.intersection(*(set(p) for p in points)))
    return common, [sum(p[step] for p in points) / len(points) for step in common]


def run_collapsed_at_init(layers: Sequence[SeriesSummary], mean: SeriesSummary, th: Thresholds) -> bool:
    """More than half of the hidden layers collapsed at init, and their mean does not rise by ``rise``."""
    collapsed = sum(1 for s in layers if s.collapsed_at_init)
    return bool(layers) and 2 * collapsed > len(layers) and mean.dS is not None and mean.dS < th.rise


def summarize_run(
    losses: Sequence[float],
    series: Mapping[str, Series],
    hidden: Sequence[str],
    summary_series: str | None,
    window: int,
    th: Thresholds = DEFAULT_THRESHOLDS,
) -> RunSummary:
    """The per-run summary: plateau, phase-1 end, each hidden layer, and the layer mean that gives the
    verdict (the fields of the run's end, ``final_loss``, accuracies, ``steps_done``, are left empty).

    Args:
        losses: per-step minibatch loss (index = step).
        series: tag -> (steps, values) of what the run logged (``<metric>/<layer>/<quantity>``).
        hidden: the run's hidden layers, in order.
        summary_series: the series the summary reads, ``<metric>/<quantity>`` (None: no series).
        window: smoothing window (see :func:`smoothing_window`).
        th: thresholds.
    """
    level, t1 = phase1_end(losses, window, th)
    layers: dict[str, SeriesSummary] = {}
    mean = SeriesSummary()
    if summary_series is not None:
        metric, _, quantity = summary_series.partition("/")
        layers = {
            layer: series_summary(*series[tag], t1, th)
            for layer in hidden
            if (tag := f"{metric}/{layer}/{quantity}") in series
        }
        mean = series_summary(*layer_mean(series, hidden, metric, quantity), t1, th)
    rises = [s.dS for s in layers.values() if s.dS is not None]
    peaks = [s.peak for s in layers.values() if s.peak is not None]
    return RunSummary(
        plateau_loss=_finite_or_none(level),
        smoothing_window=window,
        phase1_end=t1,
        stuck=t1 is None,
        dS_max=max(rises) if rises else None,
        peak_max=max(peaks) if peaks else None,
        condensed=mean.condensed,
        collapsed_at_init=run_collapsed_at_init(list(layers.values()), mean, th),
        peak_phase=mean.peak_phase,
        mean=mean,
        layers=layers,
        hidden_layers=tuple(hidden),
    )

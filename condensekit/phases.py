"""Loss-plateau / phase detector, the layer mean, and the typed per-run summary (docs/metrics.md, "Phases").

The summary reads one per-layer series (the recipe's ``[summary] series``, by default the headline of the
first metric that declares one, e.g. ``condensation/feat_inter``) and the per-step training loss:

* the loss gives the plateau level ``L0`` and the phase-1 end ``T1`` (``None``: stuck, never left);
* each hidden layer's series gives ``S0`` (its value at the first measured step, step 0), the peak ``S*``
  (``peak``) at step ``t*`` (``peak_step``), the rise ``dS = S* - S0``, the final value ``S_final``, the
  share of the loss's drop done at the peak (``peak_loss_drop``), and three verdicts: ``condensed``,
  ``collapsed_at_init`` and ``peak_phase`` (:class:`SeriesSummary`); so does every probe point of the
  model's other groups (:mod:`condensekit.layer_groups`), outside the mean;
* :func:`layer_mean` of the series over the hidden layers (the points of the model's ``hidden`` group)
  gets the same quantities; they are the run's verdict (:class:`RunSummary`: ``summary.mean``,
  ``summary.condensed`` ...), beside the per-layer answers ``layers_condensed``, ``dS_max`` and
  ``dS_max_layer``.

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
  is phase 1), ``"phase2"`` when it comes after ``T1``; ``None`` when the series has no finite value. The
  tables count a seed without a first phase (:func:`has_first_phase`) as ``no phase 1`` instead, for the
  run and for each layer alike.
* ``peak_loss_drop``: ``(L0 - Ls(t*)) / (L0 - Ls(end))`` clipped to [0, 1], ``Ls`` the smoothed loss: 0 while
  the loss is on its plateau, 1 at its final level; ``None`` when the loss never drops (``Ls(end) >= L0``).

A value that could not be measured (a series without a finite value, a loss that never was finite) is
``None``, in memory as in ``run.json``, so a summary read back from ``run.json`` equals the one written.
"""

from __future__ import annotations

import math
import statistics
from bisect import bisect_right
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from condensekit.layer_groups import HIDDEN, Series, logged_keys, resolved_groups
from condensekit.layer_groups import layer_mean as layer_mean  # the one layer mean, where it always was

LOSS_TAG = "train/loss"
"""The tag under which the trainer logs the per-step minibatch loss that the phase detector reads."""

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
    peak_loss_drop: float | None = None


class RunSummary(BaseModel):
    """The summary of one finished run: its loss phases, its hidden layers' series and their mean, its end.

    ``condensed``, ``collapsed_at_init`` and ``peak_phase`` are the run's verdict (those of :attr:`mean`,
    except ``collapsed_at_init``: see the module's rules); ``dS_max`` / ``peak_max`` are the largest rise and
    peak of a single hidden layer, ``dS_max_layer`` the layer of that rise, ``layers_condensed`` how many
    hidden layers are condensed on their own (None: no layer has a series). ``hidden_layers`` are the
    points the layer mean of the summary series averaged (the model's ``hidden`` group, in order, as far
    as they logged it; the group as declared when nothing did); ``groups`` the other groups that logged
    the summary series (label -> points), whose summaries are in ``layers`` too; ``initialisation``
    module -> how its weights were initialised (empty: the model's own initialisation). :meth:`to_dict`
    is what ``run.json`` stores and the ``run_finished`` hook receives; :meth:`from_dict` reads it back
    equal.
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
    groups: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    layers_condensed: int | None = None
    dS_max_layer: str | None = None
    initialisation: dict[str, str] = Field(default_factory=dict)
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

    ``L0`` is the median of the first ``window`` finite losses; ``T1`` is the first step where the
    running-median-smoothed finite losses are below ``L0 - max(rel * L0, abs)``. ``losses[i]`` is the loss
    of step ``i``; a non-finite loss is left out of the smoothing, and ``T1`` stays a step.
    """
    steps, smoothed = smoothed_loss((range(len(losses)), losses), window)
    if not steps:
        return math.nan, None
    level = statistics.median([losses[s] for s in steps[:window]])
    threshold = level - max(th.plateau_drop_rel * level, th.plateau_drop_abs)
    return level, next((step for step, value in zip(steps, smoothed, strict=True) if value < threshold), None)


LossDrop = Callable[[int], float | None]
"""Step -> the share of the smoothed loss's total drop done by that step (:func:`loss_drop`)."""


def loss_drop(losses: Sequence[float], window: int, level: float) -> LossDrop:
    """The share of the smoothed loss's total drop done at a step: ``(L0 - Ls(t)) / (L0 - Ls(end))`` clipped
    to [0, 1].

    ``Ls(t)`` is the smoothed loss (:func:`smoothed_loss`) at the last step at or before ``t`` that had a
    finite loss, ``Ls(end)`` its last value and ``L0`` the plateau level ``level``. The share is None when the
    loss never drops (``Ls(end) >= L0``) or ``t`` comes before the first finite loss.
    """
    steps, smoothed = smoothed_loss((range(len(losses)), losses), window)
    total = level - smoothed[-1] if steps else math.nan

    def at(step: int) -> float | None:
        i = bisect_right(steps, step) - 1
        if not total > 0 or i < 0:
            return None
        return min(1.0, max(0.0, (level - smoothed[i]) / total))

    return at


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
    steps: Sequence[int],
    values: Sequence[float],
    t1: int | None = None,
    th: Thresholds = DEFAULT_THRESHOLDS,
    drop: LossDrop | None = None,
) -> SeriesSummary:
    """``S0`` (the value at the first measured step), peak ``S*`` and its step ``t*`` (the first one if
    tied), rise ``dS = S* - S0``, final value, the share of the loss's drop done at ``t*`` (``drop``, see
    :func:`loss_drop`), and the verdicts against ``T1`` (``t1``; None: stuck) and the thresholds.

    The peak and the final value are read from the finite values; with none left every number is None and
    nothing is condensed. A series whose first value is not finite has no ``S0``, hence no rise: it is
    neither condensed nor collapsed at init (never the first *finite* value in its place).
    """
    pairs = [(s, v) for s, v in zip(steps, values, strict=True) if math.isfinite(v)]
    if not pairs:
        return SeriesSummary()
    s0 = _finite_or_none(values[0])
    peak_step, peak = max(pairs, key=lambda p: p[1])  # max() keeps the first of equal values
    final = pairs[-1][1]
    dS = None if s0 is None else peak - s0
    return SeriesSummary(
        S0=s0,
        peak=peak,
        peak_step=peak_step,
        dS=dS,
        S_final=final,
        condensed=dS is not None and is_condensed(dS, peak, final, t1 is None, th),
        collapsed_at_init=s0 is not None and dS is not None and is_collapsed_at_init(s0, dS, th),
        peak_phase=peak_phase(peak_step, t1),
        peak_loss_drop=drop(peak_step) if drop is not None else None,
    )


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
    groups: Mapping[str, Sequence[str]] | None = None,
) -> RunSummary:
    """The per-run summary: plateau, phase-1 end, each hidden layer, the layer mean that gives the verdict,
    and the points of the other groups (the fields of the run's end, ``final_loss``, accuracies,
    ``steps_done``, are left empty).

    Args:
        losses: per-step minibatch loss (index = step).
        series: tag -> (steps, values) of what the run logged (``<metric>/<layer>/<quantity>``).
        hidden: the run's hidden layers, in order: the points the layer mean averages.
        summary_series: the series the summary reads, ``<metric>/<quantity>`` (None: no series).
        window: smoothing window (see :func:`smoothing_window`).
        th: thresholds.
        groups: the model's groups, label -> series keys (:func:`condensekit.layer_groups.declared_groups`);
            their ``hidden`` group is ``hidden``.
    """
    level, t1 = phase1_end(losses, window, th)
    drop = loss_drop(losses, window, level)
    layers: dict[str, SeriesSummary] = {}
    others: dict[str, tuple[str, ...]] = {}
    mean, in_mean = SeriesSummary(), list(hidden)
    if summary_series is not None:
        metric, _, quantity = summary_series.partition("/")
        in_mean, found = resolved_groups(
            {**(groups or {}), HIDDEN: list(hidden)}, logged_keys(series, metric, quantity)
        )
        others = {label: tuple(keys) for label, keys in found.items()}
        layers = {
            key: series_summary(*series[f"{metric}/{key}/{quantity}"], t1, th, drop)
            for key in [*in_mean, *(k for keys in others.values() for k in keys)]
        }
        mean = series_summary(*layer_mean(series, in_mean, metric, quantity), t1, th, drop)
    return RunSummary(
        plateau_loss=_finite_or_none(level),
        smoothing_window=window,
        phase1_end=t1,
        stuck=t1 is None,
        condensed=mean.condensed,
        collapsed_at_init=run_collapsed_at_init([layers[k] for k in in_mean if k in layers], mean, th),
        peak_phase=mean.peak_phase,
        mean=mean,
        layers=layers,
        hidden_layers=tuple(in_mean or hidden),
        groups=others,
        **per_layer_answers({k: layers[k] for k in in_mean if k in layers}),
    )


def per_layer_answers(hidden: Mapping[str, SeriesSummary]) -> dict[str, Any]:
    """What the hidden layers say one by one: ``layers_condensed`` (None without any layer), ``dS_max`` and
    ``dS_max_layer`` (the first layer holding it, if tied), ``peak_max``."""
    rises = {key: s.dS for key, s in hidden.items() if s.dS is not None}
    peaks = [s.peak for s in hidden.values() if s.peak is not None]
    top = max(rises, key=lambda key: rises[key]) if rises else None  # max() keeps the first of equal rises
    return {
        "layers_condensed": sum(1 for s in hidden.values() if s.condensed) if hidden else None,
        "dS_max": rises[top] if top is not None else None,
        "dS_max_layer": top,
        "peak_max": max(peaks) if peaks else None,
    }

"""How a metric declares its part of the report: figures, the series the summary may read, and its headline.

A metric passes a :class:`MetricReport` when it registers::

    register("orthogonality", Orthogonality, params=OrthogonalityParams, summary="...",
             report=condensekit.MetricReport(figures=[condensekit.Figure(
                 name="orthogonality", title="Weight orthogonality", caption="...",
                 panels=[condensekit.Panel("ortho_err", "|W W^T - I| (mean over layers)", log=True)])]))

The declaration is written into every run's ``run.json`` (under ``reports``), so ``condensekit report``
draws the figures from what is on disk, without the plugin installed. Built-in metrics declare theirs the
same way: the core names no metric.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from pydantic.dataclasses import dataclass


@dataclass(frozen=True, config=ConfigDict(extra="forbid"))
class Panel:
    """One panel of a figure: one quantity of the metric over the steps, a band per arm.

    ``label`` is the y-axis label (default: the key), ``log`` a log-scale y axis. ``key`` is a key the metric
    logs, without the metric's name: an exact key (``penultimate/nc1``, ``grad_ratio_first_last``) or a
    per-layer quantity (``dead_frac``), which is averaged over the layers that logged it
    (``<layer>/dead_frac``), the run's hidden layers when they are known.
    """

    key: str
    label: str = ""
    log: bool = False


@dataclass(frozen=True, config=ConfigDict(extra="forbid"))
class Figure:
    """A figure of the report: PNG in ``figures/``, the same image in TensorBoard, a caption in ``report.md``.

    Attributes:
        name: file name without ``.png``; unique within the report.
        title: the figure's title.
        caption: the sentence under it in ``report.md``.
        panels: one panel per quantity.
        lead_with_summary: put the summary series (mean over hidden layers) in a first panel, for comparison.
    """

    name: str
    title: str = ""
    caption: str = ""
    panels: tuple[Panel, ...] = ()
    lead_with_summary: bool = True


class MetricReport(BaseModel):
    """Everything a metric contributes to the report.

    Attributes:
        figures: figures drawn from the metric's keys.
        series: the per-layer quantities (``<layer>/<quantity>``) a recipe's ``[summary] series`` may name;
            empty means any.
        headline: the series the summary reads when a recipe names none; the first metric of a recipe that
            declares a headline provides it.
        describe: quantity -> a few words, used by the report's legend (``feat_inter``: "inter-class feature
            similarity").
        compare: per-layer quantities whose layer means (``<metric>/mean/<quantity>``, logged by the metric)
            the dashboard's first sections show after the summary series, per arm and for every run (e.g.
            the energy shares ``share_common``, ``share_class``, ``share_sample``).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    figures: tuple[Figure, ...] = ()
    series: tuple[str, ...] = ()
    headline: str | None = None
    describe: dict[str, str] = Field(default_factory=dict)
    compare: tuple[str, ...] = ()

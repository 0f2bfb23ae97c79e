"""Metric ``neural_collapse``: NC1-NC4 of Papyan, Han & Donoho (2020) on the probe batch.

Keys, per measured layer ``<layer>`` (``penultimate`` is the input of the classifier, i.e. of the probe
point ``logits``, or of the model's last probe point when it has no ``logits``):

* ``<layer>/nc1``: ``tr(Sw Sb^+) / C`` (within-class over between-class variability).
* ``<layer>/nc2_equinorm``, ``nc2_equiangular``, ``nc2_maxangle``: of the centered class means
  (std/mean of norms; std of pairwise cosines; mean ``|cos + 1/(C-1)|``).
* ``penultimate/nc2w_equinorm`` .. ``nc2w_maxangle``: the same for the classifier's rows.
* ``penultimate/nc3``: ``|| W/|W| - M/|M| ||_F^2``, classifier rows against centered class means.
* ``<layer>/nc4``: share of probe samples whose nearest class mean differs from the network's prediction.

Every quantity goes to 0 under neural collapse. The formulas live in :mod:`condensekit.measures`.
Other probe points (``layers = ["layer3"]``) are measured on their outputs; NC3 needs the classifier
and is reported for ``penultimate`` only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

import condensekit

if TYPE_CHECKING:
    from condensekit.hookspecs import Register

PENULTIMATE = "penultimate"


class NeuralCollapseParams(BaseModel):
    """Which layers to measure."""

    model_config = ConfigDict(extra="forbid")
    layers: list[str] = Field(
        default_factory=lambda: [PENULTIMATE],
        description="'penultimate' (the classifier's input) and/or probe point names (their outputs)",
    )


def classifier_point(points: dict[str, Any]) -> str:
    """The probe point holding the classifier: ``logits``, else the last probe point."""
    return "logits" if "logits" in points else list(points)[-1]


def nc_of_features(x: Any, labels: Any, predictions: Any) -> dict[str, float]:
    """NC1, NC2 (of the centered class means) and NC4 of one feature matrix."""
    from condensekit import measures

    means, mu_g, _ = measures.class_means(x, labels)
    out = {"nc1": measures.nc1_within_between(x, labels)}
    out.update({f"nc2_{k}": v for k, v in measures.nc2_simplex(means - mu_g).items()})
    out["nc4"] = measures.nc4_ncc_mismatch(x, labels, predictions)
    return out


def nc_of_classifier(x: Any, labels: Any, weight: Any) -> dict[str, float]:
    """NC2 of the classifier rows and NC3 (self-duality), for the classes present in ``labels``."""
    from condensekit import measures

    means, mu_g, classes = measures.class_means(x, labels)
    flat = measures.flatten(x)
    if (
        weight is None
        or weight.dim() != 2
        or weight.shape[1] != flat.shape[1]
        or int(classes.max()) >= weight.shape[0]
    ):
        return {}  # not a plain linear classifier over these features
    rows = weight.detach().double()[classes]
    out = {f"nc2w_{k}": v for k, v in measures.nc2_simplex(rows).items()}
    out["nc3"] = measures.nc3_self_duality(rows, means - mu_g)
    return out


class NeuralCollapse:
    """Computes NC1-NC4 on the probe batch at the scheduled steps."""

    def __init__(self, params: NeuralCollapseParams):
        self.params = params

    @condensekit.hookimpl
    def collect_metrics(self, run: Any, probe: Any) -> dict[str, float]:
        labels = probe.labels
        predictions = probe.logits.argmax(dim=1)
        out: dict[str, float] = {}
        for layer in self.params.layers:
            if layer == PENULTIMATE:
                head = classifier_point(probe.points)
                x = probe.layer_inputs.get(head)
                if x is None:
                    continue
                values = nc_of_features(x, labels, predictions)
                values.update(nc_of_classifier(x, labels, getattr(probe.points[head], "weight", None)))
            elif layer in probe.features:
                values = nc_of_features(probe.features[layer], labels, predictions)
            else:
                raise condensekit.CondensekitError(
                    f"metric 'neural_collapse': no probe point {layer!r}; "
                    f"available: {PENULTIMATE}, {', '.join(probe.points)}"
                )
            out.update({f"{layer}/{k}": v for k, v in values.items()})
        return out


REPORT = condensekit.MetricReport(
    figures=[
        condensekit.Figure(
            name="neural_collapse",
            title="Neural collapse on the penultimate features (all -> 0 under collapse)",
            caption=(
                "Condensation (first panel) beside NC1-NC4 of the "
                "penultimate features (metric `neural_collapse`)."
            ),
            panels=[
                condensekit.Panel(f"{PENULTIMATE}/nc1", "nc1 (penultimate)", log=True),
                condensekit.Panel(f"{PENULTIMATE}/nc2_equinorm", "nc2_equinorm (penultimate)"),
                condensekit.Panel(f"{PENULTIMATE}/nc2_maxangle", "nc2_maxangle (penultimate)"),
                condensekit.Panel(f"{PENULTIMATE}/nc3", "nc3 (penultimate)"),
                condensekit.Panel(f"{PENULTIMATE}/nc4", "nc4 (penultimate)"),
            ],
        )
    ],
    series=["nc1", "nc2_equinorm", "nc2_equiangular", "nc2_maxangle", "nc4"],
)


@condensekit.hookimpl
def register_metrics(register: Register) -> None:
    register(
        "neural_collapse",
        NeuralCollapse,
        params=NeuralCollapseParams,
        summary="NC1-NC4 (Papyan et al. 2020) on the penultimate features or chosen layers",
        report=REPORT,
    )

"""Metric ``condensation``: similarities of features, feature gradients and weight gradients
(docs/metrics.md).

Per probe point ``<layer>`` it logs ``<layer>/feat_inter``, ``feat_intra``, ``feat_all``,
``feat_inter_centered``, ``feat_classmean``, the energy shares ``share_common``, ``share_class``,
``share_sample``, ``grad_inter``, ``grad_intra``, ``grad_norm``, ``wgrad_inter`` (Linear on inputs of any
rank, Conv1d and Conv2d with any padding, padding mode and groups; another layer with a weight matrix is
skipped with a warning, once per run) and ``dead_frac`` (only for points followed by a ReLU-like activation,
read from that activation's input, i.e. after a normalization between them: ``probe.activation_inputs``).
Features with spatial or token axes are also reported with those axes averaged, as
``<layer>@mean/...``; for models with a class token (``model.cls_token_index``), the class token alone as
``<layer>@cls/...``. At every measured step it also logs the layer means ``mean/<quantity>`` (the mean of
``<layer>/<quantity>`` over the run's hidden layers, logits excluded) and, for the variants,
``mean@mean/<quantity>`` and ``mean@cls/<quantity>``, so arms with different layer names overlay in one
chart. With batch-coupled layers (BatchNorm) the feature gradient is that of the summed probe loss, not a
per-sample gradient. Non-finite features give NaN values, never an exception.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

import condensekit

if TYPE_CHECKING:
    from condensekit.hookspecs import Register


class CondensationParams(BaseModel):
    """Which parts of the condensation measurement to compute."""

    model_config = ConfigDict(extra="forbid")
    layers: list[str] | None = Field(None, description="probe points to measure (default: all)")
    gradients: bool = Field(True, description="feature-gradient similarities and gradient norms")
    weight_gradients: bool = Field(True, description="per-sample weight-gradient similarity (wgrad_inter)")
    variants: bool = Field(True, description="also report spatial/token-mean and class-token variants")


def feature_variants(
    name: str, x: Any, g: Any, cls_index: int | None, prefix_tokens: int = 0, channels_last: bool = False
) -> list[tuple[str, Any, Any]]:
    """(name, features, grads) for the flattened tensor and its mean / class-token variants.

    Token features ``(N, T, D)`` are averaged over the patch tokens only (the first ``prefix_tokens``,
    class and register tokens, are left out, as timm's average pooling does). Images ``(N, C, H, W)`` are
    averaged over positions; with ``channels_last`` (the output of a linear layer, ``(N, H, W, C)``) too.
    """
    out = [(name, x, g)]
    if x.dim() == 4:  # average over positions
        dims = (1, 2) if channels_last else (2, 3)
        out.append((f"{name}@mean", x.mean(dim=dims), None if g is None else g.mean(dim=dims)))
    elif x.dim() == 3:  # (N, T, D): average over patch tokens
        start = prefix_tokens if x.shape[1] > prefix_tokens else 0
        out.append(
            (f"{name}@mean", x[:, start:].mean(dim=1), None if g is None else g[:, start:].mean(dim=1))
        )
        if cls_index is not None:
            out.append((f"{name}@cls", x[:, cls_index], None if g is None else g[:, cls_index]))
    return out


class Condensation:
    """Computes the per-layer similarity measures on the probe.

    All layers of one shape are measured together (:func:`condensekit.measures.similarity_statistics`) and
    every number is read back from the device once, at the end.
    """

    def __init__(self, params: CondensationParams):
        self.params = params
        self.warned: set[str] = set()  # layers whose wgrad_inter was skipped (warned once per run)
        # (labels, their ClassIndex): the probe batch is fixed per run
        self.classes: tuple[Any, Any] | None = None

    @condensekit.hookimpl
    def collect_metrics(self, run: Any, probe: Any) -> dict[str, float]:
        from torch import nn

        from condensekit.measures import ClassIndex
        from condensekit.probe import hidden_layer_names

        if self.classes is None or self.classes[0] is not probe.labels:
            self.classes = (probe.labels, ClassIndex.of(probe.labels))
        classes = self.classes[1]
        wanted = getattr(probe, "wanted", None)  # a refinement asks for the summary series only
        features = probe.features
        asks_grads = self.params.gradients and asks(wanted, *GRAD_KEYS.values())
        grads = probe.feature_grads if asks_grads else {}
        dead_inputs = probe.activation_inputs
        names = [n for n in features if self.params.layers is None or n in self.params.layers]
        cls_index = getattr(probe.model, "cls_token_index", None)
        prefix_tokens = int(getattr(probe.model, "num_prefix_tokens", 0) or 0)
        rows: list[Row] = []
        for layer in names:
            x, g = features[layer], grads.get(layer)
            linear = isinstance(probe.points[layer], nn.Linear)
            variants = (
                feature_variants(layer, x, g, cls_index, prefix_tokens, linear)
                if self.params.variants
                else [(layer, x, g)]
            )
            rows += [Row(key, xv, gv) for key, xv, gv in variants]
            dead = dead_inputs.get(layer)
            if dead is not None and same_storage(dead, x):
                rows[-len(variants)].dead = True  # the activation reads the feature itself: one pass for both
            elif dead is not None:
                rows.append(Row(layer, dead, None, only_dead=True))
        found = Found()
        measure_rows(rows, classes, found, wanted)
        if self.params.weight_gradients and asks(wanted, "wgrad_inter"):
            self.weight_grad_values([n for n in names if n in grads], probe, grads, classes, found)
        out = found.read()  # one host read for every number
        hidden = getattr(run, "hidden_layers", None) or hidden_layer_names(probe.model, probe.points)
        out.update(layer_means(out, hidden))
        if wanted is not None:
            out = {key: value for key, value in out.items() if key.rpartition("/")[2] in wanted}
        return out

    def weight_grad_values(
        self, names: list[str], probe: Any, grads: dict[str, Any], classes: Any, found: Found
    ) -> None:
        """``<layer>/wgrad_inter`` of the Linear/Conv points (2-D linear layers of one shape together)."""
        from torch import nn

        from condensekit.measures import inter_mean_of_inner_products, module_weight_grad_inner

        inputs = probe.layer_inputs
        plain: dict[tuple[Any, ...], list[str]] = {}
        for layer in names:
            module, a, g = probe.points[layer], inputs.get(layer), grads[layer]
            if isinstance(module, nn.Linear) and g.dim() == 2 and a is not None:
                plain.setdefault((tuple(g.shape), tuple(a.shape), module.bias is not None), []).append(layer)
                continue
            weight = getattr(module, "weight", None)
            if weight is None or not hasattr(weight, "dim") or weight.dim() < 2:
                continue  # a block or a layer without a weight matrix: no single weight gradient to compare
            inner = module_weight_grad_inner(module, a, g)
            if isinstance(inner, str):
                self.warn_skipped(layer, inner)
            else:
                found.add([f"{layer}/wgrad_inter"], inter_mean_of_inner_products(inner[None], classes))
        linear_wgrad_values(plain, inputs, grads, classes, found)

    def warn_skipped(self, layer: str, reason: str) -> None:
        """Say once per run that a layer's wgrad_inter is not measured, and why."""
        if layer not in self.warned:
            self.warned.add(layer)
            warnings.warn(
                f"metric 'condensation': no wgrad_inter for probe point {layer!r}: {reason}", stacklevel=2
            )


def same_storage(a: Any, b: Any) -> bool:
    """Whether two tensors are views of the same numbers (same shape, same memory)."""
    return bool(
        a.shape == b.shape
        and a.dtype == b.dtype
        and a.data_ptr() == b.data_ptr()
        and a.stride() == b.stride()
    )


@dataclass
class Row:
    """One feature matrix to measure: ``key`` (a layer or a variant), features and their gradients (or None).

    ``dead``: also its dead fraction; ``only_dead``: only that (``x`` is an activation's input, not a
    feature).
    """

    key: str
    x: Any
    g: Any
    dead: bool = False
    only_dead: bool = False


class Found:
    """The numbers found so far, kept on the device as (L,) tensors until :meth:`read`."""

    def __init__(self) -> None:
        self.keys: list[str] = []
        self.parts: list[Any] = []

    def add(self, keys: list[str], values: Any) -> None:
        self.keys += keys
        self.parts.append(values.reshape(-1))

    def read(self) -> dict[str, float]:
        import torch

        numbers = torch.cat(self.parts).tolist() if self.parts else []
        return dict(zip(self.keys, numbers, strict=True))


STACK_BYTES = 2**26  # layers of one shape are stacked while the stack stays below this size
FEATURE_KEYS = {
    "inter": "feat_inter",
    "intra": "feat_intra",
    "all": "feat_all",
    "inter_centered": "feat_inter_centered",
    "classmean": "feat_classmean",
    "share_common": "share_common",
    "share_class": "share_class",
    "share_sample": "share_sample",
}
GRAD_KEYS = {"inter": "grad_inter", "intra": "grad_intra", "mean_norm": "grad_norm"}


def stack(tensors: list[Any]) -> Any:
    """``torch.stack``, or a view when there is one tensor (a wide layer is not copied)."""
    import torch

    return tensors[0][None] if len(tensors) == 1 else torch.stack(tensors)


def asks(wanted: Any, *quantities: str) -> bool:
    """Whether any of ``quantities`` is wanted (``probe.wanted``; None: everything is)."""
    return wanted is None or any(q in wanted for q in quantities)


def measure_rows(rows: list[Row], classes: Any, found: Found, wanted: Any = None) -> None:
    """Every feature quantity of every row (those ``wanted``, see :func:`asks`), computing same-shaped rows as
    one stack.

    The rows and stacks are the same whatever is wanted (and each quantity's sums its own, see
    :func:`condensekit.measures.similarity_statistics`), so that a refined ``feat_inter`` equals a
    scheduled one bit for bit.
    """

    from condensekit.measures import similarity_statistics

    groups: dict[tuple[Any, ...], list[Row]] = {}
    for row in rows:
        flat = row.x.reshape(row.x.shape[0], -1)
        groups.setdefault((flat.shape, flat.dtype, row.g is not None, row.dead, row.only_dead), []).append(
            row
        )
    for (shape, _, with_grads, dead, only_dead), members in groups.items():
        per_stack = max(1, STACK_BYTES // max(1, shape[0] * shape[1] * 4))
        for start in range(0, len(members), per_stack):
            part = members[start : start + per_stack]
            x = stack([r.x.reshape(shape) for r in part])
            if only_dead:
                found.add(
                    [f"{r.key}/dead_frac" for r in part],
                    similarity_statistics(x, classes, dead=True)["dead_frac"],
                )
                continue
            stats = similarity_statistics(
                x,
                classes,
                centered=asks(wanted, "feat_inter_centered"),
                class_means=asks(wanted, "feat_classmean"),
                shares=asks(wanted, "share_common", "share_class", "share_sample"),
                dead=dead,
            )
            names = {**FEATURE_KEYS, "dead_frac": "dead_frac"} if dead else FEATURE_KEYS
            for name, key in names.items():
                if name in stats:
                    found.add([f"{r.key}/{key}" for r in part], stats[name])
            if with_grads:
                gstats = similarity_statistics(stack([r.g.reshape(shape) for r in part]), classes, norms=True)
                for name, key in GRAD_KEYS.items():
                    found.add([f"{r.key}/{key}" for r in part], gstats[name])


def linear_wgrad_values(
    groups: dict[tuple[Any, ...], list[str]],
    inputs: dict[str, Any],
    grads: dict[str, Any],
    classes: Any,
    found: Found,
) -> None:
    """``wgrad_inter`` of 2-D linear layers, one stack per shape."""

    from condensekit.measures import linear_wgrad_inter

    for (_, _, bias), layers in groups.items():
        per_stack = max(1, STACK_BYTES // max(1, 4 * grads[layers[0]].shape[0] ** 2))
        for start in range(0, len(layers), per_stack):
            part = layers[start : start + per_stack]
            g = stack([grads[layer] for layer in part])
            a = stack([inputs[layer] for layer in part])
            found.add([f"{layer}/wgrad_inter" for layer in part], linear_wgrad_inter(g, a, classes, bias))


def layer_means(values: dict[str, float], hidden: list[str]) -> dict[str, float]:
    """``mean/<quantity>``: the mean of ``<layer>/<quantity>`` over the hidden layers
    (:func:`condensekit.phases.layer_mean`, the rule of the verdict and the figures).

    Likewise ``mean@mean/<quantity>`` and ``mean@cls/<quantity>`` over the hidden layers' ``@mean`` and
    ``@cls`` variants. A NaN in one layer makes the mean NaN: it is not hidden.
    """
    from condensekit.phases import layer_mean

    series = {key: ([0], [value]) for key, value in values.items()}  # this step's values
    out = {}
    for variant in ("", "@mean", "@cls"):
        points = [f"{layer}{variant}" for layer in hidden]
        known = set(points)
        logged = dict.fromkeys(key.rpartition("/")[2] for key in values if key.rpartition("/")[0] in known)
        for quantity in logged:
            _, mean = layer_mean(series, points, None, quantity)
            out[f"mean{variant}/{quantity}"] = mean[0]
    return out


QUANTITIES = {
    "feat_inter": (
        "inter-class feature similarity (mean cosine between features of samples of different classes)"
    ),
    "feat_intra": "intra-class feature similarity",
    "feat_all": "feature similarity over all pairs",
    "feat_inter_centered": "inter-class similarity of centered features",
    "feat_classmean": "similarity of the class-mean features",
    "share_common": "energy share of the direction common to all samples (|mean unit feature|^2)",
    "share_class": "energy share of the class means around the common direction (class information)",
    "share_sample": "energy share left to each sample around its class mean",
    "grad_inter": "inter-class feature-gradient similarity",
    "grad_intra": "intra-class feature-gradient similarity",
    "wgrad_inter": "inter-class per-sample weight-gradient similarity",
    "grad_norm": "mean feature-gradient norm",
    "dead_frac": "share of units inactive on every probe sample",
}
REPORT = condensekit.MetricReport(
    figures=[
        condensekit.Figure(
            name="centered",
            title="Uncentered vs centered inter-class similarity (mean over hidden layers)",
            caption="Uncentered (left) beside centered (right) inter-class similarity: condensation is the "
            "rise that comes with the stalled loss; a shared offset raises only the uncentered value.",
            panels=[
                condensekit.Panel("feat_inter", "feat_inter (uncentered)"),
                condensekit.Panel("feat_inter_centered", "feat_inter_centered"),
            ],
            lead_with_summary=False,
        ),
        condensekit.Figure(
            name="shares",
            title="Energy shares of the unit features (mean over hidden layers)",
            caption="Where the unit features' energy sits: common to all samples, in the class means, or "
            "left to each sample (they sum to 1). Condensation is share_common rising while share_class "
            "falls; a shared offset that leaves share_class intact is not a loss of class information.",
            panels=[
                condensekit.Panel("share_common", "share_common"),
                condensekit.Panel("share_class", "share_class"),
                condensekit.Panel("share_sample", "share_sample"),
            ],
            lead_with_summary=False,
        ),
    ],
    series=list(QUANTITIES),
    headline="feat_inter",
    describe=QUANTITIES,
    # the dashboard overlays their layer means across arms
    compare=("share_common", "share_class", "share_sample"),
)


@condensekit.hookimpl
def register_metrics(register: Register) -> None:
    register(
        "condensation",
        Condensation,
        params=CondensationParams,
        summary="feature / feature-gradient / weight-gradient similarity per layer",
        default=True,
        report=REPORT,
    )

"""Which probe points the mean over hidden layers averages, and the labelled groups of all the others.

The mean over hidden layers averages **one kind of point per model family** (docs/metrics.md, "Which points
enter the layer mean"): the pre-activations of a plain MLP, the residual stream of a residual net, the token
mean of a ViT's block outputs. Every other probe point (a residual block's branch output, a ViT's MLP
pre-activation, a class-token or spatial-mean variant, the logits) is reported in its own labelled group,
outside the mean.

A model says which is which with an optional method next to ``probe_points``::

    def probe_groups(self) -> dict[str, list[str]]:
        return {"hidden": ["stem", "block1", "block2"], "branch": ["block1.fc", "block2.fc"],
                "logits": ["logits"]}

Group label -> the series keys in it: probe point names, or a point's variant ``<point>@mean`` /
``<point>@cls`` (what the condensation metric logs for token and spatial features). The group labelled
:data:`HIDDEN` is what the mean averages, in depth order. Without the method (:func:`declared_groups`),
``hidden`` holds every probe point but the logits (the point named ``logits``, or the last point of a
model without ``probe_points``), and ``logits`` the rest.

When a run is summarised, :func:`resolved_groups` keeps the keys that logged the summary series and puts each
logged variant that no group names (``conv1@mean``) into a group of its own, named after its point's group
and the variant (``hidden@mean``). Importing this module does not import torch.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from condensekit.errors import CondensekitError

HIDDEN = "hidden"
"""The group label of the points the mean over hidden layers averages."""
LOGITS = "logits"
"""The default group of the classifier's output."""
OTHER = "other"
"""Where a model's probe points go that its ``probe_groups()`` leaves out."""

Series = tuple[Sequence[int], Sequence[float]]
"""``(steps, values)`` of one logged quantity."""


def base_point(key: str) -> str:
    """The probe point of a series key: ``block1@mean`` -> ``block1``."""
    return key.partition("@")[0]


def declared_groups(model: Any, points: Sequence[str]) -> dict[str, list[str]]:
    """The model's groups (its ``probe_groups()``, checked), or the default; ``hidden`` first.

    Args:
        model: the model (anything with the optional ``probe_points`` / ``probe_groups`` methods).
        points: its probe points' names, in order.

    Raises:
        CondensekitError: ``probe_groups()`` names a key that is no probe point or variant of one, or declares
            no ``hidden`` group.
    """
    method = getattr(model, "probe_groups", None)
    if not callable(method):
        declares_points = callable(getattr(model, "probe_points", None))
        hidden = [p for p in points if p != LOGITS] if declares_points else list(points)[:-1]
        rest = [p for p in points if p not in hidden]
        return {HIDDEN: hidden, **({LOGITS: rest} if rest else {})}
    groups = {str(label): [str(key) for key in keys] for label, keys in dict(method()).items()}
    where = f"model {type(model).__name__}: probe_groups()"
    known = set(points)
    for label, keys in groups.items():
        for key in keys:
            if base_point(key) not in known:
                raise CondensekitError(
                    f"{where} puts {key!r} in group {label!r}, but it is not a probe point "
                    f"(probe points: {', '.join(points)}); a group lists probe points or their variants "
                    "'<point>@mean' / '<point>@cls'"
                )
    if not groups.get(HIDDEN):
        raise CondensekitError(
            f"{where} declares no {HIDDEN!r} group: name the points the mean over hidden layers averages, "
            f"e.g. {{'{HIDDEN}': [{', '.join(repr(p) for p in points[:2])}, ...]}}"
        )
    named = {base_point(key) for keys in groups.values() for key in keys}
    left = [p for p in points if p not in named]
    if left:
        groups[OTHER] = [*groups.get(OTHER, []), *left]
    return {HIDDEN: groups.pop(HIDDEN), **groups}


def mean_points(hidden: Sequence[str], logged: Collection[str]) -> list[str]:
    """The points a layer mean averages: the ``hidden`` keys that ``logged`` holds, in order.

    When none of them is logged but their probe points are (a metric that logs no ``@mean`` / ``@cls``
    variants, read for a model whose hidden group is a variant), the probe points instead: a metric
    without variants still gets the mean over the same layers.
    """
    points = [key for key in hidden if key in logged]
    if points:
        return points
    bases = list(dict.fromkeys(base_point(key) for key in hidden))
    return [key for key in bases if key in logged]


def resolved_groups(
    groups: Mapping[str, Sequence[str]], logged: Collection[str]
) -> tuple[list[str], dict[str, list[str]]]:
    """The mean's points and the other groups, as far as ``logged`` (the series keys of one quantity) holds
    them.

    Returns:
        ``(hidden, others)``: the mean's points (:func:`mean_points`) and label -> keys of every other group
        that logged anything: the declared ones in their order, then one group per variant nobody named,
        ``<group of its point>@<variant>``.
    """
    hidden = mean_points(groups.get(HIDDEN, ()), logged)
    named = {key for keys in groups.values() for key in keys} | set(hidden)
    others: dict[str, list[str]] = {}
    for label, keys in groups.items():
        kept = [key for key in keys if key in logged and key not in hidden]
        if label != HIDDEN and kept:
            others[label] = kept
    group_of = {key: label for label, keys in groups.items() for key in keys if "@" not in key}
    for key in sorted(set(logged) - named, key=_in_order(groups)):
        base, _, variant = key.partition("@")
        if variant and base in group_of:
            others.setdefault(f"{group_of[base]}@{variant}", []).append(key)
    return hidden, others


def _in_order(groups: Mapping[str, Sequence[str]]) -> Any:
    """Sort key of a variant: its probe point's position among the groups' keys, then the variant."""
    order = {key: i for i, key in enumerate(k for keys in groups.values() for k in keys)}
    return lambda key: (order.get(base_point(key), len(order)), key)


def group_of_layer(hidden: Iterable[str], others: Mapping[str, Iterable[str]]) -> dict[str, str]:
    """Series key -> its group label (``hidden`` for the mean's points)."""
    out = {key: HIDDEN for key in hidden}
    for label, keys in others.items():
        out.update({key: label for key in keys if key not in out})
    return out


def layer_mean(
    series: Mapping[str, Series], hidden: Sequence[str], metric: str | None, quantity: str
) -> tuple[list[int], list[float]]:
    """The mean of a per-layer quantity over the hidden layers, step by step: the one rule of the layer mean.

    The points are the ``hidden`` keys that logged ``<metric>/<key>/<quantity>`` (``<key>/<quantity>`` when
    ``metric`` is None), as :func:`mean_points` chooses them (a point that never logs
    the quantity is none of its points; a metric without the ``@mean`` variant of a ViT's hidden keys gets
    their probe points). A step that one of them did not log is left out (the layers of one metric are
    measured together, so this only drops a step when a layer is missing from it). A non-finite value in
    one layer makes that step's mean non-finite: it is never averaged over fewer layers, and
    :func:`condensekit.phases.series_summary` then skips the step.

    Args:
        series: tag -> (steps, values), e.g. everything a run logged.
        hidden: the run's hidden layers, in order (``summary.hidden_layers``).
        metric: the metric's name, the first part of the tags; None when the tags have no metric part.
        quantity: the per-layer quantity, e.g. ``feat_inter``.
    """
    prefix = f"{metric}/" if metric is not None else ""
    candidates = {*hidden, *(base_point(key) for key in hidden)}  # not every tag: this runs at every step
    keys = mean_points(hidden, {key for key in candidates if f"{prefix}{key}/{quantity}" in series})
    points = [dict(zip(*series[f"{prefix}{key}/{quantity}"], strict=True)) for key in keys]
    if not points:
        return [], []
    common = sorted(set.intersection(*(set(p) for p in points)))
    return common, [sum(p[step] for p in points) / len(points) for step in common]


def logged_keys(series: Mapping[str, Series], metric: str | None, quantity: str) -> set[str]:
    """The series keys (probe points, variants, ``mean``) that logged ``<metric>/<key>/<quantity>``."""
    prefix, suffix = (f"{metric}/" if metric is not None else ""), f"/{quantity}"
    return {
        tag[len(prefix) : -len(suffix)]
        for tag in series
        if tag.startswith(prefix) and tag.endswith(suffix) and len(tag) > len(prefix) + len(suffix)
    }

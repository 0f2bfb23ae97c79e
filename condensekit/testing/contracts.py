"""Contract checks for plugin authors: ``check_model``, ``check_trick``, ``check_metric``, ``check_dataset``.

Each raises ``AssertionError`` naming what is wrong; a passing check returns something useful to assert on
further (the built model, the trick's hooks, the metric's scalars, the dataset's bundle).
"""

from __future__ import annotations

import math
import tempfile
import types
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import condensekit
from condensekit.testing.recipes import tiny_recipe, write_recipe

SUBJECT = "contract_subject"  # the name a component passed as a class/factory is registered under


def _resolve(kind: str, component: Any, params: Any, params_model: Any, pm: Any) -> tuple[Any, str, Any, Any]:
    """Return ``(plugin manager, name, factory, validated params)`` for a registered name or a raw
    component."""
    from condensekit.catalogue import NoParams
    from condensekit.manager import get_plugin_manager

    pm = pm if pm is not None else get_plugin_manager()
    if isinstance(component, str):
        entry = pm.catalogue.get(kind, component)
        name, factory, model_cls = component, entry.factory, entry.params
    else:
        name, factory, model_cls = SUBJECT, component, params_model or NoParams

        def register(register: Any) -> None:
            register(SUBJECT, component, params=params_model, summary="component under contract test")

        plugin = types.ModuleType(f"condensekit_contract_{kind}")  # hashable, unlike a SimpleNamespace
        setattr(plugin, f"register_{kind}", condensekit.hookimpl(register))
        pm.register(plugin, name=f"contract:{kind}")
        pm.reset_catalogue()  # rebuilt with the subject in it
    _check_params_model(model_cls, name)
    if isinstance(params, model_cls):
        validated = params
    else:
        validated = model_cls.model_validate(dict(params or {}))
    # specs are JSON: validated params must survive the round trip a run.json makes
    again = model_cls.model_validate(validated.model_dump(mode="json"))
    assert again == validated, f"{name}: params do not survive a JSON round trip: {validated!r} -> {again!r}"
    return pm, name, factory, validated


def _check_params_model(model_cls: Any, name: str) -> None:
    from pydantic import BaseModel

    assert isinstance(model_cls, type) and issubclass(model_cls, BaseModel), (
        f"{name}: params must be a pydantic BaseModel class"
    )
    # pydantic's default ("ignore") drops misspelled keys silently; "allow" is a deliberate pass-through
    assert model_cls.model_config.get("extra") in ("forbid", "allow"), (
        f"{name}: params model {model_cls.__name__} must set model_config "
        "= ConfigDict(extra='forbid') so typos in recipes are errors"
    )
    undocumented = [f for f, info in model_cls.model_fields.items() if not info.description]
    assert not undocumented, (
        f"{name}: give these params a Field(description=...) "
        f"for `condensekit list`: {', '.join(undocumented)}"
    )


def _seeded(factory: Callable[[], Any], seed: int) -> Any:
    import torch

    torch.manual_seed(seed)
    return factory()


def check_model(
    model: str | Callable[..., Any],
    params: Mapping[str, Any] | Any = None,
    *,
    params_model: Any = None,
    info: Any = None,
    batch_size: int = 4,
    pm: Any = None,
) -> Any:
    """Check a model against the contract the trainer and the probe rely on; return the built model.

    ``factory(params, info)`` returns an ``nn.Module`` mapping ``(N, *info.input_shape)`` to finite
    logits ``(N, info.num_classes)``, in train and eval mode; gradients reach its parameters and are
    finite; building it twice under one seed gives the same weights; its probe points are its own
    submodules, its ``probe_groups()`` (if any) names only probe points and a ``hidden`` group, and the
    probe reads features and feature gradients with a batch dimension at each.

    Args:
        model: a registered model name, or the factory itself.
        params: parameters (a dict, or an instance of the params model).
        params_model: the pydantic params class when ``model`` is a factory.
        info: the :class:`condensekit.DataInfo` to build for (default: 1x8x8 inputs, 3 classes).
    """
    import torch
    import torch.nn.functional as F
    from torch import nn

    from condensekit.data import DataInfo
    from condensekit.errors import CondensekitError
    from condensekit.layer_groups import declared_groups
    from condensekit.probe import Probe, probe_points

    _, name, factory, validated = _resolve("models", model, params, params_model, pm)
    info = info or DataInfo(input_shape=(1, 8, 8), num_classes=3, name="contract")
    net = _seeded(lambda: factory(validated, info), 0)
    assert isinstance(net, nn.Module), (
        f"{name}: the factory must return an nn.Module, got {type(net).__name__}"
    )
    twin = _seeded(lambda: factory(validated, info), 0)
    for (key, a), b in zip(net.state_dict().items(), twin.state_dict().values(), strict=True):
        assert torch.equal(a, b), (
            f"{name}: two builds under the same torch seed differ "
            f"at {key!r}; draw weights from torch's RNG only"
        )
    x = torch.randn(batch_size, *info.input_shape, generator=torch.Generator().manual_seed(0))
    y = torch.arange(batch_size) % info.num_classes
    net.train()
    logits = net(x)
    assert isinstance(logits, torch.Tensor), (
        f"{name}: forward must return a tensor of logits, got {type(logits).__name__}"
    )
    assert tuple(logits.shape) == (batch_size, info.num_classes), (
        f"{name}: inputs {tuple(x.shape)} gave logits "
        f"{tuple(logits.shape)}, expected {(batch_size, info.num_classes)}"
    )
    assert torch.isfinite(logits).all(), f"{name}: non-finite logits at initialisation"
    F.cross_entropy(logits, y).backward()
    grads = {n: p.grad for n, p in net.named_parameters() if p.requires_grad}
    assert any(g is not None for g in grads.values()), f"{name}: no parameter received a gradient"
    bad = [n for n, g in grads.items() if g is not None and not torch.isfinite(g).all()]
    assert not bad, f"{name}: non-finite gradients in {bad}"
    net.zero_grad(set_to_none=True)
    net.eval()
    with torch.no_grad():
        assert tuple(net(x[:1]).shape) == (1, info.num_classes), (
            f"{name}: eval-mode forward of one sample has the wrong shape"
        )
    net.train()
    points = probe_points(net)
    assert points, f"{name}: no probe points; define probe_points() or use nn.Linear / nn.Conv2d layers"
    own = {id(m) for m in net.modules()}
    strangers = [p for p, m in points.items() if id(m) not in own]
    assert not strangers, (
        f"{name}: probe_points() returned modules that are not part of the model: {strangers}"
    )
    try:  # the groups name probe points, and some are the layer mean's (probe_groups(), or the default)
        declared_groups(net, list(points))
    except CondensekitError as exc:
        raise AssertionError(str(exc)) from None
    probe = Probe(net, x, y, points, step=0)
    for point in points:
        for what, tensors in (("features", probe.features), ("feature gradients", probe.feature_grads)):
            t = tensors.get(point)
            assert t is not None and t.shape[0] == batch_size, (
                f"{name}: probe point {point!r}: {what} need a batch dimension of {batch_size}"
            )
    return net


def _check_hookimpls(obj: Any, name: str, required: str | None = None) -> list[str]:
    """The run hooks ``obj`` implements, checked the way a run checks them (hook names, arguments); sorted."""
    from condensekit.errors import PluginError
    from condensekit.run_hooks import hook_methods

    try:
        hooks = sorted(hook_methods(obj, name))
    except PluginError as exc:
        raise AssertionError(str(exc)) from None
    assert hooks, f"{name}: implements no hook; mark its methods with @condensekit.hookimpl"
    if required is not None:
        assert required in hooks, f"{name}: must implement {required}(run, probe) with @condensekit.hookimpl"
    return hooks


class _ScalarSink:
    """Collects every logged scalar of a run."""

    def __init__(self) -> None:
        self.rows: list[tuple[int, dict[str, float]]] = []

    @condensekit.hookimpl
    def log_scalars(self, run: Any, step: int, scalars: dict[str, float]) -> None:
        self.rows.append((step, dict(scalars)))


def _run_in(pm: Any, recipe: dict[str, Any]) -> tuple[list[tuple[int, dict[str, float]]], Any]:
    """Train a tiny recipe with ``pm`` in a temporary folder; return the logged scalars and the spec."""
    from condensekit.output import clear_run_dir
    from condensekit.recipe import load_recipe
    from condensekit.trainer import train

    sink = _ScalarSink()
    with tempfile.TemporaryDirectory(prefix="condensekit-contract-") as tmp:
        loaded = load_recipe(write_recipe(recipe, Path(tmp) / "recipe.toml"), pm.catalogue)
        spec = loaded.specs[0]
        run_dir = Path(tmp) / "runs" / spec.rel_dir
        clear_run_dir(run_dir)
        pm.register(sink, name="contract:scalars")
        try:
            status, _ = train(spec, run_dir, pm)
        finally:
            pm.unregister(sink)
    assert status == "ok", f"a tiny run ended {status!r}"
    losses = [s["train/loss"] for _, s in sink.rows if "train/loss" in s]
    assert losses and all(math.isfinite(v) for v in losses), f"non-finite training loss: {losses}"
    return sink.rows, spec


def check_trick(
    trick: str | type,
    params: Mapping[str, Any] | Any = None,
    *,
    params_model: Any = None,
    recipe: Mapping[str, Any] | None = None,
    pm: Any = None,
) -> list[str]:
    """Check a trick: valid params, valid hook implementations, and a tiny run with it that finishes ``ok``.

    Args:
        trick: a registered trick name, or its class.
        params: its parameters (dict or params instance).
        params_model: the pydantic params class when ``trick`` is a class.
        recipe: keyword arguments of :func:`tiny_recipe` for the run (default: a small MLP on synthetic data).

    Returns:
        The names of the hooks the trick implements.
    """
    pm, name, cls, validated = _resolve("tricks", trick, params, params_model, pm)
    hooks = _check_hookimpls(cls(validated), name)
    recipe_dict = tiny_recipe(**{**dict(recipe or {}), "tricks": {name: validated.model_dump(mode="json")}})
    _run_in(pm, recipe_dict)
    return hooks


def check_metric(
    metric: str | type,
    params: Mapping[str, Any] | Any = None,
    *,
    params_model: Any = None,
    recipe: Mapping[str, Any] | None = None,
    pm: Any = None,
) -> dict[str, float]:
    """Check a metric: it logs finite floats under its name in a tiny run, and leaves the model alone.

    ``collect_metrics`` is called at every step of a 2-step run; then once more, directly, on a probe
    while the model's ``.grad`` holds a sentinel, to check that the metric changes neither the
    parameters, the buffers nor the gradients of training (use the :class:`condensekit.Probe`).

    Returns:
        The scalars of the last step, keyed ``<metric name>/<key>``.
    """
    pm, name, cls, validated = _resolve("metrics", metric, params, params_model, pm)
    _check_hookimpls(cls(validated), name, required="collect_metrics")
    table = {name: {"every": "every:1", **validated.model_dump(mode="json")}}
    rows, spec = _run_in(pm, tiny_recipe(**{"steps": 2, **dict(recipe or {}), "metrics": table}))
    mine = [(step, {k: v for k, v in s.items() if k.startswith(f"{name}/")}) for step, s in rows]
    mine = [(step, s) for step, s in mine if s]
    assert mine, f"{name}: collect_metrics returned nothing in a run where it was due at every step"
    bad = sorted({k for _, s in mine for k, v in s.items() if not math.isfinite(v)})
    assert not bad, f"{name}: non-finite values for {bad}"
    _check_no_side_effects(pm, name, cls(validated), spec)
    return mine[-1][1]


def _check_no_side_effects(pm: Any, name: str, obj: Any, spec: Any) -> None:
    import torch

    from condensekit.probe import Probe, hidden_layer_names, make_probe_batch, probe_points
    from condensekit.run import Run

    cat = pm.catalogue
    with tempfile.TemporaryDirectory(prefix="condensekit-contract-") as tmp:
        bundle = cat.get("datasets", spec.data.use).build(spec.data.params, Path(tmp))
        net = _seeded(lambda: cat.get("models", spec.model.use).build(spec.model.params, bundle.info), 0)
        points = probe_points(net)
        run = Run(
            spec=spec,
            name=spec.arm,
            seed=0,
            device=torch.device("cpu"),
            run_dir=Path(tmp),
            info=bundle.info,
            step=0,
            hidden_layers=hidden_layer_names(net, points),
        )
        x, y = make_probe_batch(bundle.train, 4, 64, 0, torch.device("cpu"))
        for p in net.parameters():
            p.grad = torch.full_like(p, 0.5)
        before = {k: v.clone() for k, v in net.state_dict().items()}
        result = obj.collect_metrics(run=run, probe=Probe(net, x, y, points, 0))
    assert result is None or isinstance(result, Mapping), (
        f"{name}: collect_metrics must return a dict or None"
    )
    for key, value in (result or {}).items():
        assert isinstance(key, str) and key and not key.startswith("/"), f"{name}: bad key {key!r}"
        float(value)  # raises for values that are not numbers
    changed = [k for k, v in net.state_dict().items() if not torch.equal(v, before[k])]
    assert not changed, f"{name}: collect_metrics changed the model's parameters/buffers: {changed}"
    touched = [n for n, p in net.named_parameters() if p.grad is None or not bool((p.grad == 0.5).all())]
    assert not touched, (
        f"{name}: collect_metrics changed the training gradients (.grad) of {touched}; use probe.weight_grads"
    )


def check_dataset(
    dataset: str | Callable[..., Any],
    params: Mapping[str, Any] | Any = None,
    *,
    params_model: Any = None,
    root: str | Path | None = None,
    samples: int = 8,
    pm: Any = None,
) -> Any:
    """Check a dataset: a :class:`condensekit.DataBundle` whose samples match its ``DataInfo``; return it.

    Checks ``info.input_shape`` and ``num_classes``, both splits non-empty, the first ``samples``
    inputs of each split have ``input_shape`` and a float dtype, labels are integers in range with at
    least two classes present in the train split, and the data does not depend on torch's global RNG
    (runs of different seeds see the same data).

    Args:
        dataset: a registered dataset name, or the factory itself.
        params: its parameters (dict or params instance).
        params_model: the pydantic params class when ``dataset`` is a factory.
        root: the data root (default: an empty temporary folder).
    """
    import torch

    from condensekit.data import DataBundle, DataInfo, labels_of

    _, name, factory, validated = _resolve("datasets", dataset, params, params_model, pm)
    with tempfile.TemporaryDirectory(prefix="condensekit-contract-") as tmp:
        where = Path(root) if root is not None else Path(tmp)
        bundle = _seeded(lambda: factory(validated, where), 1)
        again = _seeded(lambda: factory(validated, where), 2)
    assert isinstance(bundle, DataBundle), (
        f"{name}: the factory must return a condensekit.DataBundle, got {type(bundle).__name__}"
    )
    info = bundle.info
    assert isinstance(info, DataInfo), f"{name}: bundle.info must be a condensekit.DataInfo"
    assert isinstance(info.input_shape, tuple) and all(
        isinstance(d, int) and d > 0 for d in info.input_shape
    ), f"{name}: info.input_shape must be a tuple of positive ints, got {info.input_shape!r}"
    assert isinstance(info.num_classes, int) and info.num_classes >= 2, (
        f"{name}: info.num_classes must be an int >= 2"
    )
    for split in ("train", "test"):
        data = getattr(bundle, split)
        assert len(data) > 0, f"{name}: the {split} split is empty"
        for i in range(min(samples, len(data))):
            x, y = data[i]
            x = torch.as_tensor(x)
            assert tuple(x.shape) == info.input_shape, (
                f"{name}: {split}[{i}] has shape {tuple(x.shape)}, info says {info.input_shape}"
            )
            assert x.is_floating_point(), (
                f"{name}: {split}[{i}] has dtype {x.dtype}; inputs must be floating point"
            )
            assert 0 <= int(y) < info.num_classes and int(y) == y, (
                f"{name}: {split}[{i}] has label {y!r}, outside [0, {info.num_classes})"
            )
    labels = labels_of(bundle.train)
    assert labels.min() >= 0 and labels.max() < info.num_classes, (
        f"{name}: train labels outside [0, {info.num_classes})"
    )
    assert labels.unique().numel() >= 2, f"{name}: the train split has fewer than two classes"
    train: Any = bundle.train
    assert len(again.train) == len(train) and torch.equal(
        torch.as_tensor(again.train[0][0]), torch.as_tensor(train[0][0])
    ), (
        f"{name}: the data changes with torch's global seed; seed "
        "your own torch.Generator so every run sees the same data"
    )
    return bundle

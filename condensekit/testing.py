"""Test helpers for plugin authors, shipped as a pytest plugin (entry point ``pytest11: condensekit``).

Fixtures (available in any pytest session once condensekit is installed):

* ``plugin_manager``: a fresh plugin manager with the built-ins and every installed plugin loaded.
* ``tiny_run``: ``tiny_run(recipe, steps=3)`` runs a recipe (a dict or a ``.toml`` path) for a few steps
  on the CPU in the test's ``tmp_path`` and returns a :class:`TinyRun` (run dirs, status, summary, scalars).

Contract checks, one line each in a plugin's tests (they raise ``AssertionError`` naming what is wrong)::

    from condensekit.testing import check_model, check_trick, check_metric, check_dataset

    def test_contract():
        check_model("my_model")          # a registered name, or the factory itself
        check_trick(MyTrick, params_model=MyTrickParams)

This module is imported by every pytest session in an environment where condensekit is installed, so
it imports nothing heavy at module level: torch and the framework modules are imported inside functions.
"""

from __future__ import annotations

import json
import math
import tempfile
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import condensekit

__all__ = [
    "RunResult",
    "TinyRun",
    "check_dataset",
    "check_metric",
    "check_model",
    "check_trick",
    "run_recipe",
    "tiny_recipe",
    "write_recipe",
]

SUBJECT = "contract_subject"  # the name a component passed as a class/factory is registered under


# ----------------------------------------------------------------------------------------------
# Recipes as dicts, and tiny runs
# ----------------------------------------------------------------------------------------------


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str | Path):
        return json.dumps(str(value))  # JSON string escapes are valid TOML basic-string escapes
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        # None has no TOML spelling; leaving the key out gives the parameter its default
        return "{ " + ", ".join(f"{json.dumps(str(k))} = {_toml_value(v)}" for k, v in value.items() if v is not None) + " }"
    raise TypeError(f"cannot write {value!r} ({type(value).__name__}) to a TOML recipe; TOML has no null")


def write_recipe(recipe: Mapping[str, Any], path: str | Path) -> Path:
    """Write a recipe dict as a TOML file (local ``plugins`` paths are made absolute; None values are left out)."""
    path = Path(path)
    data = dict(recipe)
    if "plugins" in data:
        data["plugins"] = [str(Path(p).resolve()) for p in data["plugins"]]
    path.write_text("".join(f"{json.dumps(str(k))} = {_toml_value(v)}\n" for k, v in data.items()), encoding="utf-8")
    return path


def tiny_recipe(
    *,
    model: str = "mlp",
    model_params: Mapping[str, Any] | None = None,
    data: str = "synthetic",
    data_params: Mapping[str, Any] | None = None,
    tricks: Mapping[str, Any] | None = None,
    metrics: Mapping[str, Any] | None = None,
    steps: int = 3,
) -> dict[str, Any]:
    """A one-arm, one-seed recipe dict on tiny shapes, for tests. The defaults train in well under a second."""
    if data == "synthetic" and data_params is None:
        data_params = {"num_classes": 3, "dim": 8, "train_per_class": 16, "test_per_class": 4}
    if model == "mlp" and model_params is None:
        model_params = {"depth": 3, "width": 16}
    return {
        "name": "tiny",
        "seeds": [0],
        "device": "cpu",
        "data": {"use": data, "batch_size": 16, **(data_params or {})},
        "train": {"steps": steps, "lr": 0.05, "eval_every": f"at:0,{steps}"},
        "probe": {"per_class": 4},
        "metrics": dict(metrics or {}),
        "arms": [{"name": "tiny", "model": {"use": model, **(model_params or {})}, "tricks": dict(tricks or {})}],
    }


@dataclass
class RunResult:
    """One finished run of a tiny recipe."""

    run_dir: Path
    status: str
    summary: dict[str, Any]
    error: str = ""

    @property
    def scalars(self) -> list[dict[str, Any]]:
        """The rows of the run's ``metrics.jsonl`` (``{"step": n, tag: value, ...}``)."""
        from condensekit.output import read_metrics

        return read_metrics(self.run_dir)

    def tags(self) -> set[str]:
        """Every scalar tag the run logged."""
        return {k for row in self.scalars for k in row if k != "step"}


@dataclass
class TinyRun:
    """What :func:`run_recipe` (and the ``tiny_run`` fixture) returns."""

    out_dir: Path
    recipe_path: Path
    runs: list[RunResult] = field(default_factory=list)

    @property
    def summary(self) -> dict[str, Any]:
        """The summary of the first run (most tiny recipes have exactly one)."""
        return self.runs[0].summary

    @property
    def run_dirs(self) -> list[Path]:
        return [r.run_dir for r in self.runs]


def run_recipe(
    recipe: Mapping[str, Any] | str | Path,
    out_dir: str | Path,
    *,
    steps: int | None = 3,
    overrides: list[str] | tuple[str, ...] = (),
    check: bool = True,
) -> TinyRun:
    """Run every run of a recipe in this process, the way ``condensekit run`` does, into ``out_dir``.

    Args:
        recipe: a recipe dict (written to ``out_dir/recipe.toml``) or the path of a TOML recipe.
        out_dir: output root; runs go below ``out_dir/runs``.
        steps: ``train.steps`` override (None keeps the recipe's). The device is always the CPU.
        overrides: more ``--set`` style overrides, e.g. ``["seeds=[0]"]``.
        check: raise ``AssertionError`` (with the run's traceback) when a run did not finish ``ok``.
    """
    from condensekit import executing
    from condensekit.output import read_run_json
    from condensekit.recipe import load_recipe

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = write_recipe(recipe, out_dir / "recipe.toml") if isinstance(recipe, Mapping) else Path(recipe)
    sets = ["device=cpu", *([f"train.steps={steps}"] if steps is not None else []), *overrides]
    loaded = load_recipe(path, sets)
    # execute_spec caches plugin managers per process; a test may have installed or disabled plugins since.
    executing._PM_CACHE.clear()
    result = TinyRun(out_dir=out_dir, recipe_path=path)
    for spec in loaded.specs:
        outcome = executing.execute_spec(spec, out_dir / "runs", force=True)
        run_dir = out_dir / "runs" / spec.rel_dir
        error = (read_run_json(run_dir) or {}).get("error", "") or outcome.error
        result.runs.append(RunResult(run_dir, outcome.status, outcome.summary, error))
        if check and outcome.status != "ok":
            raise AssertionError(f"run {spec.rel_dir} ended {outcome.status!r}:\n{error}")
    return result


# ----------------------------------------------------------------------------------------------
# Fixtures
# ----------------------------------------------------------------------------------------------


@pytest.fixture
def plugin_manager() -> Any:
    """A fresh :class:`condensekit.manager.PluginManager` (built-ins and installed plugins)."""
    from condensekit.manager import get_plugin_manager

    return get_plugin_manager()


@pytest.fixture
def tiny_run(tmp_path: Path) -> Callable[..., TinyRun]:
    """``tiny_run(recipe, steps=3, overrides=(), check=True)``: :func:`run_recipe` into ``tmp_path``."""
    counter = iter(range(1_000_000))

    def run(recipe: Mapping[str, Any] | str | Path, **kwargs: Any) -> TinyRun:
        return run_recipe(recipe, tmp_path / f"tiny_run{next(counter)}", **kwargs)

    return run


# ----------------------------------------------------------------------------------------------
# Contract checks
# ----------------------------------------------------------------------------------------------


def _resolve(kind: str, component: Any, params: Any, params_model: Any, pm: Any) -> tuple[Any, str, Any, Any]:
    """Return ``(plugin manager, name, factory, validated params)`` for a registered name or a raw component."""
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
        pm._catalogue = None  # rebuilt with the subject in it
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

    assert isinstance(model_cls, type) and issubclass(model_cls, BaseModel), f"{name}: params must be a pydantic BaseModel class"
    # pydantic's default ("ignore") drops misspelled keys silently; "allow" is a deliberate pass-through
    assert model_cls.model_config.get("extra") in ("forbid", "allow"), (
        f"{name}: params model {model_cls.__name__} must set model_config = ConfigDict(extra='forbid') so typos in recipes are errors"
    )
    undocumented = [f for f, info in model_cls.model_fields.items() if not info.description]
    assert not undocumented, f"{name}: give these params a Field(description=...) for `condensekit list`: {', '.join(undocumented)}"


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
    submodules, and the probe reads features and feature gradients with a batch dimension at each.

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
    from condensekit.probe import Probe, probe_points

    _, name, factory, validated = _resolve("models", model, params, params_model, pm)
    info = info or DataInfo(input_shape=(1, 8, 8), num_classes=3, name="contract")
    net = _seeded(lambda: factory(validated, info), 0)
    assert isinstance(net, nn.Module), f"{name}: the factory must return an nn.Module, got {type(net).__name__}"
    twin = _seeded(lambda: factory(validated, info), 0)
    for (key, a), b in zip(net.state_dict().items(), twin.state_dict().values(), strict=True):
        assert torch.equal(a, b), f"{name}: two builds under the same torch seed differ at {key!r}; draw weights from torch's RNG only"
    x = torch.randn(batch_size, *info.input_shape, generator=torch.Generator().manual_seed(0))
    y = torch.arange(batch_size) % info.num_classes
    net.train()
    logits = net(x)
    assert isinstance(logits, torch.Tensor), f"{name}: forward must return a tensor of logits, got {type(logits).__name__}"
    assert tuple(logits.shape) == (batch_size, info.num_classes), (
        f"{name}: inputs {tuple(x.shape)} gave logits {tuple(logits.shape)}, expected {(batch_size, info.num_classes)}"
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
        assert tuple(net(x[:1]).shape) == (1, info.num_classes), f"{name}: eval-mode forward of one sample has the wrong shape"
    net.train()
    points = probe_points(net)
    assert points, f"{name}: no probe points; define probe_points() or use nn.Linear / nn.Conv2d layers"
    own = {id(m) for m in net.modules()}
    strangers = [p for p, m in points.items() if id(m) not in own]
    assert not strangers, f"{name}: probe_points() returned modules that are not part of the model: {strangers}"
    probe = Probe(net, x, y, points, step=0)
    for point in points:
        for what, tensors in (("features", probe.features), ("feature gradients", probe.feature_grads)):
            t = tensors.get(point)
            assert t is not None and t.shape[0] == batch_size, f"{name}: probe point {point!r}: {what} need a batch dimension of {batch_size}"
    return net


def _check_hookimpls(obj: Any, name: str, required: str | None = None) -> list[str]:
    """Register ``obj`` on a bare manager (pluggy validates names and arguments); return its run hooks."""
    import pluggy

    from condensekit import hookspecs

    bare = pluggy.PluginManager("condensekit")
    bare.add_hookspecs(hookspecs)
    try:
        bare.register(obj, name=name)
        bare.check_pending()
    except pluggy.PluginValidationError as exc:
        raise AssertionError(f"{name}: {exc}") from None
    hooks = sorted(h.name for h in bare.get_hookcallers(obj) or [])
    catalogue_hooks = [h for h in hooks if h.startswith("register_")]
    assert not catalogue_hooks, f"{name}: a per-run object must not implement catalogue hooks: {catalogue_hooks}"
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
    from condensekit.output import prepare_run_dir
    from condensekit.recipe import load_recipe
    from condensekit.trainer import train

    sink = _ScalarSink()
    with tempfile.TemporaryDirectory(prefix="condensekit-contract-") as tmp:
        loaded = load_recipe(write_recipe(recipe, Path(tmp) / "recipe.toml"), pm=pm)
        spec = loaded.specs[0]
        run_dir = Path(tmp) / "runs" / spec.rel_dir
        prepare_run_dir(run_dir)
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
    run_recipe_dict = tiny_recipe(**{**dict(recipe or {}), "tricks": {name: validated.model_dump(mode="json")}})
    _run_in(pm, run_recipe_dict)
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
    data = cat.get("datasets", spec.data["use"])
    with tempfile.TemporaryDirectory(prefix="condensekit-contract-") as tmp:
        bundle = data.factory(data.params.model_validate(spec.data["params"]), Path(tmp))
        entry = cat.get("models", spec.model["use"])
        net = _seeded(lambda: entry.factory(entry.params.model_validate(spec.model["params"]), bundle.info), 0)
        points = probe_points(net)
        run = Run(spec=spec, name=spec.arm, seed=0, device=torch.device("cpu"), run_dir=Path(tmp), info=bundle.info,
                  step=0, total_steps=spec.train["steps"], hidden_layers=hidden_layer_names(net, points))  # fmt: skip
        x, y = make_probe_batch(bundle.train, 4, 64, 0, torch.device("cpu"))
        for p in net.parameters():
            p.grad = torch.full_like(p, 0.5)
        before = {k: v.clone() for k, v in net.state_dict().items()}
        result = obj.collect_metrics(run=run, probe=Probe(net, x, y, points, 0))
    assert result is None or isinstance(result, Mapping), f"{name}: collect_metrics must return a dict or None"
    for key, value in (result or {}).items():
        assert isinstance(key, str) and key and not key.startswith("/"), f"{name}: bad key {key!r}"
        float(value)  # raises for values that are not numbers
    changed = [k for k, v in net.state_dict().items() if not torch.equal(v, before[k])]
    assert not changed, f"{name}: collect_metrics changed the model's parameters/buffers: {changed}"
    touched = [n for n, p in net.named_parameters() if p.grad is None or not bool((p.grad == 0.5).all())]
    assert not touched, f"{name}: collect_metrics changed the training gradients (.grad) of {touched}; use probe.weight_grads"


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
    assert isinstance(bundle, DataBundle), f"{name}: the factory must return a condensekit.DataBundle, got {type(bundle).__name__}"
    info = bundle.info
    assert isinstance(info, DataInfo), f"{name}: bundle.info must be a condensekit.DataInfo"
    assert isinstance(info.input_shape, tuple) and all(isinstance(d, int) and d > 0 for d in info.input_shape), (
        f"{name}: info.input_shape must be a tuple of positive ints, got {info.input_shape!r}"
    )
    assert isinstance(info.num_classes, int) and info.num_classes >= 2, f"{name}: info.num_classes must be an int >= 2"
    for split in ("train", "test"):
        data = getattr(bundle, split)
        assert len(data) > 0, f"{name}: the {split} split is empty"
        for i in range(min(samples, len(data))):
            x, y = data[i]
            x = torch.as_tensor(x)
            assert tuple(x.shape) == info.input_shape, f"{name}: {split}[{i}] has shape {tuple(x.shape)}, info says {info.input_shape}"
            assert x.is_floating_point(), f"{name}: {split}[{i}] has dtype {x.dtype}; inputs must be floating point"
            assert 0 <= int(y) < info.num_classes and int(y) == y, f"{name}: {split}[{i}] has label {y!r}, outside [0, {info.num_classes})"
    labels = labels_of(bundle.train)
    assert labels.min() >= 0 and labels.max() < info.num_classes, f"{name}: train labels outside [0, {info.num_classes})"
    assert labels.unique().numel() >= 2, f"{name}: the train split has fewer than two classes"
    train: Any = bundle.train
    assert len(again.train) == len(train) and torch.equal(torch.as_tensor(again.train[0][0]), torch.as_tensor(train[0][0])), (
        f"{name}: the data changes with torch's global seed; seed your own torch.Generator so every run sees the same data"
    )
    return bundle

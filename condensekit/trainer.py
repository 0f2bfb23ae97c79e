"""The training loop. Every hook call is visible here, in the order a run makes them."""

from __future__ import annotations

import math
import numbers
import random
import reprlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset

from condensekit.data import DataBundle, check_answerable
from condensekit.errors import CondensekitError, PluginError, is_interruption
from condensekit.layer_groups import HIDDEN, declared_groups
from condensekit.manager import PluginManager
from condensekit.phases import LOSS_TAG, smoothing_window, summarize_run
from condensekit.probe import Probe, make_probe_batch, probe_points
from condensekit.run import Run
from condensekit.run_hooks import RunHooks
from condensekit.schedules import BoundSchedule
from condensekit.spec import RunSpec
from condensekit.status import RunStatus

LOSS_FLUSH_EVERY = 50  # read losses back from the device in chunks, not every step (no per-step sync)


def train(spec: RunSpec, run_dir: Path, pm: PluginManager) -> tuple[RunStatus, dict[str, Any]]:
    """Train one run and return ``(status, summary)``; ``run_finished`` is called in every case, with the true
    status."""
    _seed_everything(spec.seed)
    device = resolve_device(spec.device)
    bundle: DataBundle = pm.catalogue.get("datasets", spec.data.use).build(
        spec.data.params, Path(spec.data.root).expanduser()
    )
    check_answerable(bundle, spec.data.use)  # two classes, labels in range, finite inputs: before training
    reports = metric_reports(pm, spec)
    run = Run(spec, spec.arm, spec.seed, device, run_dir, info=bundle.info, reports=reports)
    hooks = RunHooks.for_run(pm, spec)  # this run's tricks and metrics, called directly, then the plugins
    status, summary = RunStatus.FAILED, {}
    try:
        hooks.call("run_started", run=run)
        model = _build_model(hooks, run)  # model_overrides, then the model's factory
        hooks.call("model_built", run=run, model=model)
        model.to(device)
        optimizer = hooks.first_result(  # options: optimizer_overrides merged into train.lr
            "make_optimizer", run=run, params=trainable(model), options=_optimizer_options(hooks, run)
        )
        points = probe_points(model)
        run.probe_groups = declared_groups(model, list(points))
        run.hidden_layers = run.probe_groups[HIDDEN]
        probe_x, probe_y = make_probe_batch(
            bundle.train, spec.probe.per_class, spec.probe.max_samples, spec.seed, device
        )
        recorder, total = Recorder(hooks, run), spec.train.steps
        due = {name: metric.every.bind(total) for name, metric in spec.metrics.items()}
        eval_steps = spec.train.eval_every.bind(total)
        test_only = spec.train.test_schedule(len(bundle.test), spec.data.batch_size)  # type: ignore[arg-type]
        test_steps = test_only.bind(total)  # more test accuracy between evaluations: smoothing-proof curves
        batches = batch_stream(bundle.train, spec.data.batch_size, device, spec.seed)
        losses = torch.full((LOSS_FLUSH_EVERY,), math.nan, device=device)  # the last steps' losses
        diverged, started, modules = False, time.perf_counter(), list(model.modules())
        for step in range(total + 1):
            run.step = step
            if any(step in steps for steps in due.values()):  # collect_metrics of those due, one shared probe
                probe = Probe(model, probe_x, probe_y, points, step)  # losses first: no stale loss check
                if not recorder.flush_losses(losses, upto=step) or not _measure(hooks, probe, due, recorder):
                    diverged = True  # a non-finite loss, weight, feature or gradient: diverged at this step
                    break
            if step in eval_steps or step in test_steps:  # train accuracy at eval_every only
                recorder.emit(step, evaluate(model, bundle, device, train=step in eval_steps))  # log_scalars
            if step % LOSS_FLUSH_EVERY == 0 or step == total:  # log_scalars of train/loss, a chunk at a time
                if diverged := not recorder.flush_losses(losses, upto=step):
                    break
            if step == total:
                break
            x, y = next(batches)
            if not all(m.training for m in modules):  # model.train() walks every module: only when needed
                model.train()
            outputs = model(x)
            loss = F.cross_entropy(outputs, y)
            extra = hooks.call("extra_loss", run=run, model=model, batch=(x, y), outputs=outputs)
            optimizer.zero_grad(set_to_none=True)
            (loss + sum(extra) if extra else loss).backward()
            hooks.call("before_step", run=run, model=model, optimizer=optimizer)
            optimizer.step()
            hooks.call("after_step", run=run, model=model, optimizer=optimizer)
            losses[step % LOSS_FLUSH_EVERY] = loss.detach()
        summary = _summarize(recorder, run, bundle, spec, time.perf_counter() - started, diverged)
        status = RunStatus.DIVERGED if diverged else RunStatus.OK
        return status, summary
    except BaseException as exc:
        status = RunStatus.INTERRUPTED if is_interruption(exc) else RunStatus.FAILED
        raise
    finally:
        hooks.call("run_finished", run=run, status=status, summary=summary)


class Recorder:
    """Passes scalars to the ``log_scalars`` hook and keeps them in memory for the run's summary."""

    def __init__(self, hooks: RunHooks, run: Run):
        self.hooks, self.run = hooks, run
        self.max_loss = run.spec.train.max_loss
        self.history: dict[str, tuple[list[int], list[float]]] = {}
        self.losses: list[float] = []

    def emit(self, step: int, scalars: dict[str, float]) -> None:
        if not scalars:
            return
        for tag, value in scalars.items():
            steps, values = self.history.setdefault(tag, ([], []))
            steps.append(step)
            values.append(float(value))
        self.hooks.call("log_scalars", run=self.run, step=step, scalars=scalars)

    def flush_losses(self, losses: torch.Tensor, upto: int) -> bool:
        """Log the losses of the steps before ``upto`` not yet logged; False when one is not finite or above
        ``train.max_loss``.

        ``losses`` is a ring buffer of ``LOSS_FLUSH_EVERY`` entries indexed by ``step % LOSS_FLUSH_EVERY``:
        the loop flushes it every ``LOSS_FLUSH_EVERY`` steps, so it holds exactly the steps not yet logged.
        """
        values = losses.tolist()
        for step in range(len(self.losses), upto):
            value = values[step % len(values)]
            self.losses.append(value)
            self.emit(step, {LOSS_TAG: value})
            if not math.isfinite(value) or value > self.max_loss:
                return False
        return True


def metric_reports(pm: PluginManager, spec: RunSpec) -> dict[str, Any]:
    """The MetricReport each of the run's metrics declared (for ``Run.reports``)."""
    return {
        name: report
        for name in spec.metrics
        if (report := pm.catalogue.get("metrics", name).report) is not None
    }


def trainable(model: nn.Module) -> list[nn.Parameter]:
    """The parameters the optimizer updates."""
    return [p for p in model.parameters() if p.requires_grad]


def _build_model(hooks: RunHooks, run: Run) -> nn.Module:
    """Call ``model_overrides`` on every trick and plugin, then build the model with the merged parameters."""
    entry = hooks.pm.catalogue.get("models", run.spec.model.use)
    overrides, _ = hooks.merged("model_overrides", "model parameter", run=run)
    unknown = sorted(set(overrides) - set(entry.params.model_fields))
    if unknown:
        raise CondensekitError(
            f"model {entry.name!r} has no parameter(s) {', '.join(unknown)} "
            "asked for by a trick; remove that trick from the arm"
        )
    assert run.info is not None
    return entry.build({**run.spec.model.params, **overrides}, run.info)


def _optimizer_options(hooks: RunHooks, run: Run) -> dict[str, Any]:
    """``{"lr": train.lr}`` with every trick's and plugin's ``optimizer_overrides`` merged in.

    The learning rate is the recipe's: a trick or plugin that asks for another one is a conflict, not a
    silent replacement (the run.json, the report and the TensorBoard HParams would show ``train.lr``).
    """
    lr = run.spec.train.lr
    options, owner = hooks.merged("optimizer_overrides", "optimizer option", run=run)
    if "lr" in options and options["lr"] != lr:
        raise PluginError(
            f"optimizer option 'lr' is set to {options['lr']!r} by {owner['lr']} but to {lr!r} by the "
            f"recipe's train.lr; to train with lr = {options['lr']!r}, set train.lr = {options['lr']!r} and "
            f"drop lr from {owner['lr']}; to keep train.lr, remove {owner['lr']} or its lr setting"
        )
    return {"lr": lr} | {key: value for key, value in options.items() if key != "lr"}


def _measure(hooks: RunHooks, probe: Probe, due: dict[str, BoundSchedule], recorder: Recorder) -> bool:
    """Call ``collect_metrics`` on the metrics due now (and on plugins that are not catalogue metrics).

    Returns False, without calling a metric, when the weights or the probe's features or logits are not
    finite, and False when a metric fails or returns non-finite values on non-finite feature gradients:
    the run has diverged at this step. A metric that returns something other than numbers fails the run
    with an error naming the metric and the key.
    """
    weights = [p.detach() for p in probe.model.parameters()]
    if _not_finite(weights, list(probe.features.values()), [probe.logits]):
        return False
    run = recorder.run
    scalars: dict[str, float] = {}
    try:
        now = [name for name, steps in due.items() if run.step in steps]
        for source, prefix, result in hooks.collect_metrics(now, run=run, probe=probe):
            scalars.update(_numbers(source, prefix, result))
    except Exception:
        if _not_finite(list(probe.feature_grads.values())):  # the metric met non-finite gradients: divergence
            return False
        raise
    if not all(math.isfinite(v) for v in scalars.values()) and _not_finite(
        list(probe.feature_grads.values())
    ):
        return False
    recorder.emit(run.step, scalars)
    return True


def _not_finite(*groups: list[torch.Tensor]) -> bool:
    """Whether any tensor of the groups holds a NaN or an infinity (one device sync for all of them)."""
    checks = [t.isfinite().all() for group in groups for t in group if t.numel()]
    return bool(checks) and not bool(torch.stack(checks).all())


def _numbers(source: str, prefix: str, result: Any) -> dict[str, float]:
    """``{prefix/key: float}`` of what a ``collect_metrics`` returned; a PluginError naming the source
    otherwise."""
    if result is None:
        return {}
    if not isinstance(result, dict):
        raise PluginError(
            f"{source}: collect_metrics returned {type(result).__name__} "
            f"{reprlib.repr(result)}; it must return a dict of key -> number, or None"
        )
    out = {}
    for key, value in result.items():
        if isinstance(value, torch.Tensor) and value.numel() == 1:
            value = value.item()
        if not isinstance(value, numbers.Real):
            raise PluginError(
                f"{source}: collect_metrics returned {type(value).__name__} "
                f"{reprlib.repr(value)} for key {key!r}; every value must be a number (a float)"
            )
        out[f"{prefix}/{key}"] = float(value)
    return out


@torch.no_grad()
def accuracy(
    model: nn.Module, dataset: Dataset[Any], device: torch.device, limit: int = 10_000, batch_size: int = 1000
) -> float:
    """Accuracy on (the first ``limit`` samples of) a dataset, in eval mode."""
    was_training = model.training
    model.eval()
    correct = seen = 0
    for x, y in _eval_batches(dataset, device, limit, batch_size):
        correct += int((model(x).argmax(1) == y).sum())
        seen += len(y)
    model.train(was_training)
    return correct / max(1, seen)


def evaluate(
    model: nn.Module, bundle: DataBundle, device: torch.device, train: bool = True
) -> dict[str, float]:
    """Test accuracy, and train accuracy unless ``train`` is False (the test split alone is cheap)."""
    out = {"train/accuracy": accuracy(model, bundle.train, device)} if train else {}
    return {**out, "test/accuracy": accuracy(model, bundle.test, device)}


def _eval_batches(
    dataset: Dataset[Any], device: torch.device, limit: int, batch_size: int
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    if isinstance(dataset, TensorDataset):
        x, y = dataset.tensors
        for i in range(0, min(limit, len(y)), batch_size):
            yield x[i : i + batch_size].to(device), y[i : i + batch_size].to(device)
        return
    seen = 0
    for x, y in DataLoader(dataset, batch_size=batch_size):
        yield x.to(device), y.to(device)
        seen += len(y)
        if seen >= limit:
            return


def batch_stream(
    dataset: Dataset[Any], batch_size: int, device: torch.device, seed: int
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Endless shuffled minibatches. In-memory tensors live on the device and are indexed directly."""
    generator = torch.Generator().manual_seed(seed + 1)
    if isinstance(dataset, TensorDataset):
        x, y = (t.to(device) for t in dataset.tensors)
        n = len(y)
        size = min(batch_size, n)
        while True:
            order = torch.randperm(n, generator=generator).to(device)
            for i in range(0, n - size + 1, size):
                idx = order[i : i + size]
                yield x[idx], y[idx].long()
    loader = DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=True,
        drop_last=len(dataset) >= batch_size,  # type: ignore[arg-type]
        generator=generator,
    )
    while True:
        for x, y in loader:
            yield x.to(device, non_blocking=True), y.to(device, non_blocking=True).long()


def _summarize(
    recorder: Recorder, run: Run, bundle: DataBundle, spec: RunSpec, seconds: float, diverged: bool
) -> dict[str, Any]:
    """The per-run summary (:class:`condensekit.phases.RunSummary`) as ``run.json`` stores it: the loss
    phases, the hidden layers' ``[summary] series``, and how the run ended."""
    per_epoch = math.ceil(len(bundle.train) / spec.data.batch_size)  # type: ignore[arg-type]
    summary = summarize_run(
        recorder.losses,
        recorder.history,
        run.hidden_layers,
        spec.summary_options.series,
        smoothing_window(per_epoch),
        spec.thresholds,
        groups=run.probe_groups,
    )
    last_loss = recorder.losses[-1] if recorder.losses else math.nan
    end: dict[str, Any] = {
        "final_loss": last_loss if math.isfinite(last_loss) else None,
        "steps_done": run.step,
        "seconds": seconds,
        "initialisation": dict(run.initialisation),
    }
    if not diverged:
        for key, tag in (("final_train_acc", "train/accuracy"), ("final_test_acc", "test/accuracy")):
            values = recorder.history.get(tag, ([], []))[1]
            end[key] = values[-1] if values else None
    return summary.model_copy(update=end).to_dict()


def resolve_device(device: str) -> torch.device:
    """``auto`` picks CUDA when present; asking for CUDA without it is a clear error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise CondensekitError(
            f'device {device!r} was asked for but CUDA is not available here; use device = "auto" or "cpu"'
        )
    return torch.device(device)


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)
    try:
        import numpy as np

        np.random.seed(seed % 2**32)
    except ImportError:  # numpy is optional for the loop itself
        pass

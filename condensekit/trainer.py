"""The training loop. Every hook call is visible here, in the order a run makes them."""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset

from condensekit.batches import BatchStream
from condensekit.data import DataBundle, check_answerable
from condensekit.errors import CondensekitError, PluginError, is_interruption
from condensekit.layer_groups import HIDDEN, declared_groups
from condensekit.manager import PluginManager
from condensekit.measuring import Recorder, measure
from condensekit.phases import smoothing_window, summarize_run
from condensekit.probe import Probe, make_probe_batch, probe_points
from condensekit.replay import Refinement, Stepper
from condensekit.run import Run
from condensekit.run_hooks import RunHooks
from condensekit.snapshots import TrainingState
from condensekit.spec import RunSpec
from condensekit.status import RunStatus

LOSS_FLUSH_EVERY = 50  # read losses back from the device in chunks, not every step (no per-step sync)


def train(
    spec: RunSpec, run_dir: Path, pm: PluginManager, notes: dict[str, Any] | None = None
) -> tuple[RunStatus, dict[str, Any]]:
    """Train one run and return ``(status, summary)``; ``run_finished`` is called in every case, with the true
    status. ``notes`` (``run.json``'s record) receives what the refinement of the summary series did."""
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
        probe_batch = make_probe_batch(
            bundle.train, spec.probe.per_class, spec.probe.max_samples, spec.seed, device
        )
        batches = BatchStream(bundle.train, spec.data.batch_size, device, spec.seed)
        stepper = Stepper(hooks, run, model, optimizer, _step_taker(run, model, optimizer, batches))
        recorder, started = Recorder(hooks, run), time.perf_counter()
        refinement = _refinement(stepper, batches, probe_batch, points, recorder, bundle)
        diverged = _loop(stepper, recorder, bundle, probe_batch, points, refinement)
        if refinement is not None and not diverged:
            record = refinement.finish(recorder.losses, device)
            if notes is not None:
                notes["refinement"] = record
        summary = _summarize(recorder, run, bundle, spec, time.perf_counter() - started, diverged)
        status = RunStatus.DIVERGED if diverged else RunStatus.OK
        return status, summary
    except BaseException as exc:
        status = RunStatus.INTERRUPTED if is_interruption(exc) else RunStatus.FAILED
        raise
    finally:
        hooks.call("run_finished", run=run, status=status, summary=summary)


def _loop(
    stepper: Stepper,
    recorder: Recorder,
    bundle: DataBundle,
    probe_batch: tuple[torch.Tensor, torch.Tensor],
    points: dict[str, nn.Module],
    refinement: Refinement | None,
) -> bool:
    """The training loop: measure what is due, evaluate, log the losses, take a step. True when the run
    diverged (a non-finite loss, weight, feature or gradient)."""
    run, model, hooks = stepper.run, stepper.model, stepper.hooks
    total = run.total_steps
    due = {name: metric.every.bind(total) for name, metric in run.spec.metrics.items()}
    watched = due.get(refinement.metric) if refinement is not None else None
    eval_steps = run.spec.train.eval_every.bind(total)
    test_only = run.spec.train.test_schedule(len(bundle.test), run.spec.data.batch_size)  # type: ignore[arg-type]
    test_steps = test_only.bind(total)  # more test accuracy between evaluations: smoothing-proof curves
    losses = torch.full((LOSS_FLUSH_EVERY,), math.nan, device=run.device)  # the last steps' losses
    for step in range(total + 1):
        run.step = step
        if any(step in steps for steps in due.values()):  # collect_metrics of those due, one shared probe
            probe = Probe(model, *probe_batch, points, step)  # losses first: no stale loss check
            if not recorder.flush_losses(losses, upto=step):
                return True
            scalars = measure(hooks, probe, due, recorder)
            if scalars is None:
                return True
            if refinement is not None and watched is not None and step in watched:
                refinement.observe(step, scalars)
        if step in eval_steps or step in test_steps:  # train accuracy at eval_every only
            recorder.emit(step, evaluate(model, bundle, run.device, train=step in eval_steps))  # log_scalars
        if step % LOSS_FLUSH_EVERY == 0 or step == total:  # log_scalars of train/loss, a chunk at a time
            if not recorder.flush_losses(losses, upto=step):
                return True
        if step == total:
            return False
        if refinement is not None:
            refinement.keep(step)  # the state after `step` steps, before the next one
        losses[step % LOSS_FLUSH_EVERY] = stepper.take(hooks)
    return False


def _step_taker(
    run: Run, model: nn.Module, optimizer: torch.optim.Optimizer, batches: BatchStream
) -> Callable[[RunHooks], torch.Tensor]:
    """One optimizer step on the next minibatch, calling the training hooks on ``hooks`` (the run's, or a
    replay's own); returns the minibatch loss, detached (no host sync)."""
    modules = list(model.modules())

    def take(hooks: RunHooks) -> torch.Tensor:
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
        return loss.detach()

    return take


def _refinement(
    stepper: Stepper,
    batches: BatchStream,
    probe_batch: tuple[torch.Tensor, torch.Tensor],
    points: dict[str, nn.Module],
    recorder: Recorder,
    bundle: DataBundle,
) -> Refinement | None:
    """The refinement of the summary series (``[probe] refine``), or None: off, or no summary series."""
    spec = stepper.run.spec
    series = spec.summary_options.series
    if not spec.probe.refine or series is None or series.partition("/")[0] not in spec.metrics:
        return None
    step_hooks = {"before_step", "after_step", "extra_loss"}
    tricks = {
        c.name: c.obj for c in stepper.hooks.components if c.kind == "trick" and step_hooks & set(c.methods)
    }
    state = TrainingState(stepper.model, stepper.optimizer, tricks, batches)
    window = smoothing_window(math.ceil(len(bundle.train) / spec.data.batch_size))  # type: ignore[arg-type]
    refinement = Refinement(
        stepper,
        state,
        probe_batch,
        points,
        series,
        recorder,
        window,
        spec.probe.refine_memory * 2**20,
        spec.probe.refine_budget,
    )
    return refinement if refinement.usable else None


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


def _summarize(
    recorder: Recorder, run: Run, bundle: DataBundle, spec: RunSpec, seconds: float, diverged: bool
) -> dict[str, Any]:
    """The per-run summary (:class:`condensekit.phases.RunSummary`) as ``run.json`` stores it: the loss
    phases, the hidden layers' ``[summary] series``, and how the run ended."""
    per_epoch = math.ceil(len(bundle.train) / spec.data.batch_size)  # type: ignore[arg-type]
    summary = summarize_run(
        recorder.losses,
        recorder.sorted_history(),
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

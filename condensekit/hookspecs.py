"""Every hook condensekit calls, grouped by phase.

Catalogue hooks run once per process, when the plugin manager is built, and receive a ``register``
callback. Run hooks run inside one training run; ``run`` (a :class:`condensekit.Run`) is always their
first argument, so new context is added to ``Run`` rather than to every signature.

Run hooks are called on the trick and metric objects of the current run *and* on the plugins installed in
the process. The run's objects come first, called directly (:mod:`condensekit.run_hooks`): the last one the
recipe lists first, each method with the arguments it names. They may not ask for ``tryfirst``,
``trylast`` or to wrap. The plugins come next, through pluggy and in its order (``tryfirst``, then the last
registered first, then ``trylast``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

import pluggy

if TYPE_CHECKING:
    import click
    import torch
    from torch import nn

    from condensekit.probe import Probe
    from condensekit.run import Run

hookspec = pluggy.HookspecMarker("condensekit")


class Register(Protocol):
    """The ``register`` callback handed to the catalogue hooks.

    ``register(name, factory, params=ParamsModel, summary="...", default=False, report=None)``: ``default``
    makes the component the one used when a recipe names none of its kind (one dataset, one executor; every
    default metric is measured when a recipe has no ``[metrics]``); ``report`` is a metric's
    :class:`condensekit.MetricReport`.
    """

    def __call__(
        self,
        name: str,
        factory: Any,
        params: Any = None,
        summary: str = "",
        *,
        default: bool = False,
        report: Any = None,
    ) -> None: ...


# --------------------------------------------------------------------------------------------
# Catalogue hooks: called once per process.
# --------------------------------------------------------------------------------------------


@hookspec
def register_models(register: Register) -> None:
    """Add models to the catalogue.

    Called once per process, when the plugin manager's catalogue is first used (validating a recipe,
    ``condensekit list``), one plugin at a time: a plugin that raises here is reported by name and skipped.

    Args:
        register: call ``register(name, factory, params=ParamsModel, summary="...")`` for each
            model. ``factory(params, info)`` receives the validated pydantic ``params`` and a
            :class:`condensekit.DataInfo` and returns an ``nn.Module`` mapping a batch of inputs of
            shape ``(N, *info.input_shape)`` to logits ``(N, info.num_classes)``. The module may
            define ``probe_points() -> dict[str, nn.Module]``; without it every ``nn.Linear`` and
            ``nn.Conv2d`` leaf is a probe point. ``params`` is a pydantic v2 model with
            ``extra="forbid"``; its field descriptions are what ``condensekit list`` prints.

    A name registered twice is an error that names both plugins.
    """


@hookspec
def register_tricks(register: Register) -> None:
    """Add training tricks to the catalogue.

    Called once per process, with the other catalogue hooks.

    Args:
        register: call ``register(name, cls, params=ParamsModel, summary="...")``. For each run
            that uses the trick, ``cls(params)`` is instantiated when the run starts, and its
            ``@condensekit.hookimpl`` methods (any run hook, with any subset of its arguments) are called
            in that run.
    """


@hookspec
def register_metrics(register: Register) -> None:
    """Add metrics to the catalogue.

    Called once per process, with the other catalogue hooks.

    Args:
        register: call ``register(name, cls, params=ParamsModel, summary="...", report=MetricReport(...))``.
            ``cls(params)`` is instantiated per run like a trick and implements :func:`collect_metrics`. Every
            metric accepts the core parameter ``every`` (a schedule: ``"every:50"``, ``"log:200"``,
            ``"at:0,10,100"``), which is removed before ``params`` is validated. ``report`` (optional)
            declares the metric's figures in the report and the per-layer series a recipe's ``[summary]``
            may read (see :class:`condensekit.MetricReport`).
    """


@hookspec
def register_datasets(register: Register) -> None:
    """Add datasets to the catalogue.

    Called once per process, with the other catalogue hooks.

    Args:
        register: call ``register(name, factory, params=ParamsModel, summary="...")``.
            ``factory(params, root)`` receives the validated params and the data root directory
            (a ``pathlib.Path``) and returns a :class:`condensekit.DataBundle`. Optionally
            ``info=function``: ``info(params) -> DataInfo`` says the input shape and the number of classes
            without loading anything, so that ``condensekit validate`` builds each model of a recipe once
            (on PyTorch's meta device) and reports a model that cannot take the data before any run starts.
            Optionally ``prepare=function``: ``prepare(params, root) -> None`` makes the files available on
            this machine (a download, done once) or raises an error saying what is missing and how to get
            it; ``validate`` and ``run`` call it once per distinct data table before any run starts, when
            the runs execute on this machine (the ``local`` executor), so data that cannot be had fails
            there, once, and not in every run.
    """


@hookspec
def register_executors(register: Register) -> None:
    """Add executors: places where a list of runs is executed.

    Called once per process, with the other catalogue hooks.

    Args:
        register: call ``register(name, cls, params=ParamsModel, summary="...")``.
            ``cls(params)`` must have ``execute(specs, context) -> list[RunOutcome]`` where
            ``specs`` is a list of :class:`condensekit.RunSpec` and ``context`` an
            :class:`condensekit.executing.ExecContext`. The executor API is documented in
            :mod:`condensekit.executing`: runs are executed by :func:`~condensekit.executing.execute_spec`
            (in this process) or :func:`~condensekit.executing.run_specs_in_worker` (in a worker).
    """


@hookspec
def register_commands(cli: click.Group) -> None:
    """Add click subcommands to the ``condensekit`` command.

    Called once per ``condensekit`` invocation, before the command line is parsed.

    Args:
        cli: the root click group; call ``cli.add_command(...)`` or use ``@cli.command()``.
    """


# --------------------------------------------------------------------------------------------
# Run hooks: called inside one training run, in this order.
# --------------------------------------------------------------------------------------------


@hookspec
def run_started(run: Run) -> None:
    """A run begins: its directory exists, the data is loaded, nothing is built yet.

    Called once per run, first of the run hooks.

    Args:
        run: the run context (``run.spec``, ``run.seed``, ``run.device``, ``run.run_dir``, ``run.info``).
    """


@hookspec
def model_overrides(run: Run) -> dict[str, Any] | None:
    """Ask for model parameters to be changed before the model is built.

    Called once per run, after :func:`run_started`, on every plugin (each one's answer separately). Also
    called once at validation time with ``run=None`` on each trick, so that an override the model does not
    take fails before training; an implementation that needs the run may raise then. Used by tricks such as
    ``batchnorm`` (``{"norm": "batch"}``). The merged overrides are validated against the model's params; a
    key the model does not have is a clear error, and two plugins asking for different values of the same key
    is an error naming both.

    Args:
        run: the run context.

    Returns:
        A dict of model parameter overrides, or None.
    """


@hookspec
def model_built(run: Run, model: nn.Module) -> None:
    """The model is constructed, still on the CPU, before ``.to(run.device)``.

    Called once per run, right after the model's factory. Implementations may re-initialise parameters in
    place (the ``init`` trick does).

    Args:
        run: the run context.
        model: the freshly built model.
    """


@hookspec
def optimizer_overrides(run: Run) -> dict[str, Any] | None:
    """Ask for optimizer options (``momentum``, ``weight_decay``, ...).

    Called once per run, after :func:`model_built` and before :func:`make_optimizer`, on every plugin
    (each one's answer separately). The options start as ``{"lr": train.lr}``; the dicts returned are
    merged in. Two plugins giving different values for the same key is an error naming both; so is an
    ``lr`` other than the recipe's ``train.lr`` (the learning rate is the recipe's: change it per step in
    :func:`before_step`, as the ``warmup`` trick does).

    Args:
        run: the run context (``run.spec.train`` holds the recipe's training settings).

    Returns:
        A dict of optimizer options, or None.
    """


@hookspec(firstresult=True)
def make_optimizer(  # type: ignore[empty-body]
    run: Run, params: list[torch.nn.Parameter], options: dict[str, Any]
) -> torch.optim.Optimizer:
    """Build the optimizer. The first non-None result wins: the run's tricks are asked first, then the
    plugins; the built-in SGD is ``trylast``.

    Called once per run, after :func:`optimizer_overrides`, with the model already on ``run.device``.

    Args:
        run: the run context.
        params: the model's trainable parameters.
        options: merged optimizer options (at least ``lr``).

    Returns:
        A ``torch.optim.Optimizer``.
    """


@hookspec
def extra_loss(
    run: Run, model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor], outputs: torch.Tensor
) -> torch.Tensor | None:
    """Add a term to the training loss.

    Called every step, after the forward pass and before ``backward()``.

    Args:
        run: the run context (``run.step`` is the current step).
        model: the model.
        batch: ``(inputs, labels)`` on ``run.device``.
        outputs: the model's logits for ``inputs``.

    Returns:
        A scalar tensor summed into the loss, or None.
    """


@hookspec
def before_step(run: Run, model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
    """Called every step between ``backward()`` and ``optimizer.step()``: the gradients are in ``.grad``.

    The place to clip or rescale gradients (``grad_clip``, ``layer_normalized_updates``) or to set the
    learning rate of the step about to be taken (``warmup``). The run's tricks run first, the last one the
    recipe lists first, then the plugins in pluggy's order; two tricks that both rescale gradients compose in
    that order.

    Args:
        run: the run context; ``run.step`` is the step about to be taken (0-based).
        model: the model, its parameters' ``.grad`` filled for this step.
        optimizer: the optimizer; its ``param_groups`` may be changed (e.g. ``lr``).
    """


@hookspec
def after_step(run: Run, model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
    """Called every step right after ``optimizer.step()``.

    Args:
        run: the run context; ``run.step`` is the step just taken (0-based).
        model: the model.
        optimizer: the optimizer.
    """


@hookspec
def collect_metrics(run: Run, probe: Probe) -> dict[str, float] | None:
    """Measure something on the probe batch.

    Called at the start of a step (before that step's update; ``run.step`` optimizer steps have been taken),
    when any metric is due. The core calls a metric's implementation only at the steps its ``every`` schedule
    makes due (step 0 and the last step are always due). Installed plugins are called whenever any metric is
    due and should return None when they have nothing to say; a run's tricks are not asked. Keys are
    logged as ``<metric name>/<key>``; per-layer keys are written ``<layer>/<quantity>``.

    Args:
        run: the run context; ``run.step`` is the number of optimizer steps taken so far.
        probe: the shared, lazily computed :class:`condensekit.Probe` for this step.

    Returns:
        A dict mapping key to float, or None.
    """


@hookspec
def log_scalars(run: Run, step: int, scalars: dict[str, float]) -> None:
    """Scalars were produced (loss, accuracy, metrics). Writers (TensorBoard, console, jsonl) listen.

    Called whenever scalars are produced: after each measurement (metrics), each evaluation
    (``train/accuracy``, ``test/accuracy``) and each loss flush. ``train/loss`` arrives in chunks: the loop
    reads the losses back from the device every 50 steps (no host sync per step), so a call with
    ``{"train/loss": ...}`` for ``step`` comes up to 50 steps after that step, while ``run.step`` is already
    further on. Use ``step``, not ``run.step``, to place a scalar.

    Args:
        run: the run context.
        step: the step the scalars belong to.
        scalars: tag -> value, e.g. ``{"train/loss": 2.3}`` or ``{"condensation/fc1/feat_inter": 0.4}``.
    """


@hookspec
def run_finished(run: Run, status: str, summary: dict[str, Any]) -> None:
    """The run ended.

    Called once per run, last of the run hooks, in every case: after a normal end, a divergence, an
    exception (``failed``) or Ctrl-C (``interrupted``). ``status`` is the true outcome.

    Args:
        run: the run context.
        status: a :class:`condensekit.RunStatus`: ``ok``, ``diverged``, ``failed`` or ``interrupted``.
        summary: the per-run summary (phase-1 end, similarity rise, accuracies; see docs/metrics.md).
    """

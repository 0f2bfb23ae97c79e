"""Every hook condensekit calls, grouped by phase.

Catalogue hooks run once per process, when the plugin manager is built, and receive a ``register``
callback. Run hooks run inside one training run; ``run`` (a :class:`condensekit.Run`) is always their
first argument, so new context is added to ``Run`` rather than to every signature.

Run hooks are called on the plugins installed in the process *and* on the trick and metric objects
active in the current run (they are registered for the duration of that run only).
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
    """The ``register`` callback handed to the catalogue hooks."""

    def __call__(self, name: str, factory: Any, params: Any = None, summary: str = "") -> None: ...


# --------------------------------------------------------------------------------------------
# Catalogue hooks: called once per process.
# --------------------------------------------------------------------------------------------


@hookspec
def register_models(register: Register) -> None:
    """Add models to the catalogue.

    Called once, when the plugin manager is first used.

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

    Args:
        register: call ``register(name, cls, params=ParamsModel, summary="...")``. For each run
            that uses the trick, ``cls(params)`` is instantiated and registered as a plugin for the
            duration of that run, so its ``@condensekit.hookimpl`` methods (any run hook) are called.
    """


@hookspec
def register_metrics(register: Register) -> None:
    """Add metrics to the catalogue.

    Args:
        register: call ``register(name, cls, params=ParamsModel, summary="...")``. ``cls(params)``
            is instantiated per run like a trick and implements :func:`collect_metrics`. Every
            metric accepts the core parameter ``every`` (a schedule: ``"every:50"``, ``"log:200"``,
            ``"at:0,10,100"``), which is removed before ``params`` is validated.
    """


@hookspec
def register_datasets(register: Register) -> None:
    """Add datasets to the catalogue.

    Args:
        register: call ``register(name, factory, params=ParamsModel, summary="...")``.
            ``factory(params, root)`` receives the validated params and the data root directory
            (a ``pathlib.Path``) and returns a :class:`condensekit.DataBundle`.
    """


@hookspec
def register_executors(register: Register) -> None:
    """Add executors: places where a list of runs is executed.

    Args:
        register: call ``register(name, cls, params=ParamsModel, summary="...")``.
            ``cls(params)`` must have ``execute(specs, context) -> list[RunOutcome]`` where
            ``specs`` is a list of :class:`condensekit.recipe.RunSpec` and ``context`` an
            :class:`condensekit.executing.ExecContext`. Each run is executed by calling
            :func:`condensekit.executing.execute_spec` wherever the executor likes.
    """


@hookspec
def register_commands(cli: click.Group) -> None:
    """Add click subcommands to the ``condensekit`` command.

    Args:
        cli: the root click group; call ``cli.add_command(...)`` or use ``@cli.command()``.
    """


# --------------------------------------------------------------------------------------------
# Run hooks: called inside one training run, in this order.
# --------------------------------------------------------------------------------------------


@hookspec
def run_started(run: Run) -> None:
    """A run begins: its directory exists, the data is loaded, nothing is built yet.

    Args:
        run: the run context (``run.spec``, ``run.seed``, ``run.device``, ``run.run_dir``, ``run.info``).
    """


@hookspec
def model_overrides(run: Run) -> dict[str, Any] | None:
    """Ask for model parameters to be changed before the model is built.

    Used by tricks such as ``batchnorm`` (``{"norm": "batch"}``). The merged overrides are validated
    against the model's params; a key the model does not have is a clear error, and two plugins
    asking for different values of the same key is an error naming both.

    Args:
        run: the run context.

    Returns:
        A dict of model parameter overrides, or None.
    """


@hookspec
def model_built(run: Run, model: nn.Module) -> None:
    """The model is constructed, still on the CPU, before ``.to(run.device)``.

    Implementations may re-initialise parameters in place (the ``init`` trick does).

    Args:
        run: the run context.
        model: the freshly built model.
    """


@hookspec
def optimizer_overrides(run: Run) -> dict[str, Any] | None:
    """Ask for optimizer options (``momentum``, ``weight_decay``, ...).

    The options start as ``{"lr": train.lr}``; the dicts returned are merged in. Two plugins giving
    different values for the same key is an error naming both.

    Returns:
        A dict of optimizer options, or None.
    """


@hookspec(firstresult=True)
def make_optimizer(run: Run, params: list[torch.nn.Parameter], options: dict[str, Any]) -> torch.optim.Optimizer:  # type: ignore[empty-body]
    """Build the optimizer. The first non-None result wins; the built-in SGD is ``trylast``.

    Args:
        run: the run context.
        params: the model's trainable parameters.
        options: merged optimizer options (at least ``lr``).

    Returns:
        A ``torch.optim.Optimizer``.
    """


@hookspec
def extra_loss(run: Run, model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor], outputs: torch.Tensor) -> torch.Tensor | None:
    """Add a term to the training loss, every step.

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
    learning rate of the step about to be taken (``warmup``). Implementations run in pluggy's order
    (last registered first); two tricks that both rescale gradients compose in that order.

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

    The core calls a metric's implementation only at the steps its ``every`` schedule makes due
    (step 0 and the last step are always due). Plugins that are not catalogue metrics are called
    whenever any metric is due and should return None when they have nothing to say. Keys are
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

    Args:
        run: the run context.
        step: the step the scalars belong to.
        scalars: tag -> value, e.g. ``{"train/loss": 2.3}`` or ``{"condensation/fc1/feat_inter": 0.4}``.
    """


@hookspec
def run_finished(run: Run, status: str, summary: dict[str, Any]) -> None:
    """The run ended; always called, also on failure or divergence.

    Args:
        run: the run context.
        status: ``"ok"``, ``"failed"`` or ``"diverged"``.
        summary: the per-run summary (phase-1 end, similarity rise, accuracies; see METRICS.md).
    """

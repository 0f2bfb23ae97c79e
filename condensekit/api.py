"""The Python API, and the steps behind ``condensekit run`` and ``validate``.

:func:`run_recipe` is ``condensekit run`` for notebooks and scripts: it takes a path, TOML text or a dict and
returns a :class:`condensekit.GridResult`; a bad recipe raises :class:`condensekit.RecipeError` with every
problem in ``.problems`` (never ``SystemExit``). Underneath, as functions: open a recipe, build its executor,
execute it. The command line and :func:`run_recipe` both go through here, so each owns exactly one plugin
manager for the process: :func:`open_recipe` builds it (with the recipe's local plugin files) and returns it
beside the validated recipe; everything after receives it.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from condensekit import progress
from condensekit.errors import CondensekitError, RunsFailed, os_error_line
from condensekit.executing import ExecContext, RunOutcome, settle_held_runs
from condensekit.manager import PluginManager, recipe_plugin_manager
from condensekit.output import ReportNotWritten, check_output_root
from condensekit.recipe import Recipe, RecipeSource, load_recipe, plugin_paths
from condensekit.results import GridResult, grid_result
from condensekit.reuse import refuse_other_recipe_runs
from condensekit.spec import RunSpec

RecipeInput = str | Path | Mapping[str, Any] | RecipeSource


def recipe_source(recipe: RecipeInput, overrides: list[str] | tuple[str, ...] = ()) -> RecipeSource:
    """A :class:`RecipeSource` from a path, TOML text, a dict or a source (``overrides`` applied)."""
    if isinstance(recipe, RecipeSource):
        recipe.apply(overrides)
        return recipe
    if isinstance(recipe, Mapping):
        return RecipeSource.from_dict(recipe, overrides)
    # TOML text (a file name has no newline; a long text is no path)
    if isinstance(recipe, str) and "\n" in recipe:
        return RecipeSource.from_text(recipe, overrides)
    return RecipeSource.from_file(recipe, overrides)


def open_recipe(
    recipe: RecipeInput,
    overrides: list[str] | tuple[str, ...] = (),
    plugin_manager: PluginManager | None = None,
    *,
    check_machine: bool = True,
) -> tuple[Recipe, PluginManager]:
    """Read and validate a recipe; return it with the plugin manager it was validated against.

    Args:
        recipe: a path, TOML text, a dict, or a :class:`RecipeSource`.
        overrides: ``--set`` items.
        plugin_manager: the process's manager, to which the recipe's local plugin files are added (the
            command line passes its own); a new one when None.
        check_machine: also check, when the runs execute here, that this machine has the recipe's device
            and its data (downloading it once when allowed); False checks the recipe alone.

    Raises:
        RecipeError: every problem of the recipe (and of its local plugin files), at once.
    """
    source = recipe_source(recipe, overrides)
    pm, problems = recipe_plugin_manager(plugin_paths(source), plugin_manager)
    source.problems.extend(problems)
    return load_recipe(source, pm.catalogue, check_machine=check_machine), pm


def make_executor(
    recipe: Recipe, pm: PluginManager, name: str | None = None, jobs: int | None = None
) -> tuple[Any, str, list[str]]:
    """The executor a recipe asks for (or ``name``), with ``jobs`` worker processes where it takes them.

    Returns:
        ``(executor, its name, notes for the user)``.
    """
    use = name or recipe.executor.use
    entry = pm.catalogue.get("executors", use)
    params = dict(recipe.executor.params) if use == recipe.executor.use else {}
    notes = []
    if jobs is not None:
        if "jobs" in entry.params.model_fields:
            params["jobs"] = jobs
        else:
            notes.append(
                "note: --jobs applies to executors with worker processes; "
                f"{use} sizes its own workers (see docs/scaling.md)"
            )
    try:
        return entry.build(params), use, notes
    except ValueError as exc:  # pydantic's ValidationError: a bad --jobs or a param of another executor
        raise CondensekitError(f"executor {use!r}: {exc}") from None


def execute(
    recipe: Recipe,
    pm: PluginManager,
    out: Path,
    *,
    force: bool = False,
    executor: Any = None,
    on_outcome: Callable[[RunSpec, RunOutcome], None] | None = None,
    on_message: Callable[[str], None] | None = None,
    on_progress: progress.Sink | None = None,
) -> list[RunOutcome]:
    """Execute every run of a recipe into ``out`` and return the outcomes in the recipe's order.

    ``on_progress`` receives the live progress events of the runs (:mod:`condensekit.progress`): directly
    from runs in this process, through the executor from its workers where it forwards them.

    Raises:
        OutputError: ``out`` cannot hold the runs (a file, read-only, full, a link on the way, names too
            long), or holds finished runs of another recipe file of this name that this one would replace
            (without ``force``); checked before any run starts.
    """
    check_output_root(Path(out), recipe.name, recipe.specs.rel_dirs())
    if not force:  # finished runs of another recipe file of this name are not replaced without asking
        refuse_other_recipe_runs(Path(out), recipe.specs, recipe.specs.rel_dirs())
    executor = executor if executor is not None else make_executor(recipe, pm)[0]
    context = ExecContext(
        out_root=out, force=force, plugin_manager=pm, on_outcome=on_outcome, on_progress=on_progress
    )
    if on_message is not None:
        context.on_message = on_message
    _start_dashboard(Path(out) / recipe.name, recipe.specs)
    previous = progress.set_sink(on_progress) if on_progress is not None else None
    try:
        for spec, outcome in zip(recipe.specs, executor.execute(recipe.specs, context), strict=False):
            # an executor that returned without reporting
            context.outcomes.setdefault(str(spec.rel_dir), outcome)
        # runs another process was executing: wait, then say what became of them
        settle_held_runs(context, recipe.specs)
        return context.results(recipe.specs)
    finally:
        if on_progress is not None:
            progress.set_sink(previous)


def _start_dashboard(root: Path, specs: Sequence[RunSpec]) -> None:
    """Write the TensorBoard HParams configuration before the first run, so the dashboard is right while it
    trains."""
    from condensekit.dashboard import write_dashboard_config
    from condensekit.quantities import Context

    first = specs[0] if len(specs) else None
    series = first.summary_options.series if first is not None else None
    context = Context(first.thresholds, f"`{series}`" if series else "no series") if first else Context()
    try:
        write_dashboard_config(root, [spec_hparams(s) for s in specs], context)
    except Exception as exc:  # the dashboard never stops a grid
        warnings.warn(
            f"{root}: TensorBoard HParams configuration not written: {type(exc).__name__}: {exc}",
            stacklevel=3,
        )


def spec_hparams(spec: RunSpec) -> dict[str, Any]:
    """The HParams of a run before it ran (its status is not known yet)."""
    from condensekit.dashboard import run_hparams

    return run_hparams(spec.arm, spec.seed, spec.grid, spec.tricks, "running")


def grid_header(recipe: Recipe, out: Path, executor: str) -> str:
    """``name: 6 runs (2 arms x 1 grid points x 3 seeds) -> runs/name [executor: local]``."""
    specs = recipe.specs
    counts = " x ".join(
        _count(n, word)
        for n, word in (
            (len({s.arm for s in specs}), "arm"),
            (len({s.grid_label for s in specs}), "grid point"),
            (len({s.seed for s in specs}), "seed"),
        )
    )
    return (
        f"{recipe.name}: {_count(len(specs), 'run')} ({counts}) -> {out / recipe.name} [executor: {executor}]"
    )


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def run_recipe(
    recipe: RecipeInput,
    *,
    out: str | Path = "runs",
    overrides: Sequence[str] = (),
    force: bool = False,
    jobs: int | None = None,
    executor: str | None = None,
    quiet: bool = False,
    stream: IO[str] | None = None,
    plugin_manager: PluginManager | None = None,
    check: bool = True,
) -> GridResult:
    """Train every run of a recipe, write its report, and return the results: ``condensekit run`` as a
    function.

    Works in a plain script without an ``if __name__ == "__main__":`` guard: worker processes
    (``jobs > 1``) never import the calling script. When a run does not finish (it failed, was
    interrupted, or another process that held it did not finish it), every other run still goes on, the
    report is written, and then :class:`condensekit.RunsFailed` is raised naming each such run, so a
    script does not end as if it had succeeded; ``check=False`` returns the result instead (look at
    ``result.failed``). The command line's exit code 1 is the same rule.

    Example::

        import condensekit
        result = condensekit.run_recipe("recipes/resmlp_vs_mlp.toml", overrides=["train.steps=300"])
        result.verdict["mlp"]["phase1_end"]   # '212 [180, 230]' (the verdict's T1 column)
        result.to_pandas()                         # one row per run (needs pandas)

    Args:
        recipe: a path, TOML text (a string with a newline) or a dict with the recipe's keys.
        out: the output root; the runs go to ``out/<recipe name>/``.
        overrides: ``key=value`` items, as ``--set`` takes them (``"train.steps=100"``, ``"seeds=[0]"``).
        force: rerun runs that finished before (otherwise they are skipped and read back).
        jobs: worker processes of the local executor (default: the recipe's, else 1).
        executor: an executor name (default: the recipe's ``[executor]``, else ``local``).
        quiet: print nothing while it runs (default: progress on ``stream``).
        stream: where progress goes (default: stderr; live bars when it is a terminal, lines otherwise).
        plugin_manager: the process's plugin manager (default: a new one, with the recipe's local plugins).
        check: raise :class:`condensekit.RunsFailed` when a run did not finish (default); False returns
            the result whatever became of the runs.

    Returns:
        A :class:`condensekit.GridResult` of the runs this recipe (with its overrides) asked for: ``.rows``
        (one dict per run, the ``summary.csv`` columns), ``.verdict`` (per arm, keyed by the quantities'
        keys), ``.answer``, ``.outcomes``, ``.to_pandas()``; ``.report_path`` is ``report.md``, which covers
        every run in the folder.

    Raises:
        RecipeError: the recipe is invalid; ``.problems`` lists every problem (where, what, how to fix).
        OutputError: ``out`` cannot hold the runs (checked before any run starts).
        RunsFailed: ``check`` is true and a run did not finish; ``.result`` holds the GridResult.
        ReportNotWritten: the runs ran, but the disk refused the report (exit code 1 on the command line).
        CondensekitError: any other user error (an unknown executor, a broken plugin the recipe needs).
    """
    from condensekit.display import GridProgress, make_display
    from condensekit.report import write_report

    out = Path(out)
    loaded, pm = open_recipe(recipe, tuple(overrides), plugin_manager=plugin_manager)
    runner, use, notes = make_executor(loaded, pm, executor, jobs)
    grid = GridProgress(loaded.name, len(loaded.specs), sum(s.train.steps for s in loaded.specs))
    with make_display(grid, stream, quiet) as display:
        display.message(grid_header(loaded, out, use))
        for note in notes:
            display.message(f"  {note}")
        outcomes = execute(
            loaded,
            pm,
            out,
            force=force,
            executor=runner,
            on_outcome=display.outcome,
            on_message=display.message,
            on_progress=display.progress,
        )
    try:
        report = write_report(out / loaded.name)  # report.md covers every run in the folder
    except ReportNotWritten as exc:  # a full or read-only disk at the very end: the runs are on disk
        raise ReportNotWritten(f"the runs are done, but {exc}") from None
    except OSError as exc:  # the runs could not be read back
        raise ReportNotWritten(
            f"the runs are done, but the report could not be made in {out / loaded.name}: "
            f"{os_error_line(exc)}; then: condensekit report {out / loaded.name}"
        ) from None
    # the result covers the runs asked for
    result = grid_result(report.only(spec.label for spec in loaded.specs), outcomes)
    if check:
        raise_unless_done(result)
    return result


def raise_unless_done(result: GridResult) -> None:
    """Raise :class:`RunsFailed` when a run of ``result`` did not finish, naming each with its error."""
    from condensekit.executing import DONE

    missed = [o for o in result.outcomes if o.status not in DONE]
    if not missed:
        return
    lines = [f"  {o.status}: {o.rel_dir}: {o.error or 'not done'}" for o in missed[:10]]
    if len(missed) > 10:
        lines.append(f"  ... and {len(missed) - 10} more")
    raise RunsFailed(
        f"{result.root.name}: {len(missed)} of {len(result.outcomes)} runs did not finish:\n"
        + "\n".join(lines)
        + f"\ntracebacks in each run's run.json below {result.root}; the report covers the others. Run "
        "again to redo these runs (finished ones are skipped), or pass check=False to get the result",
        result,
    )

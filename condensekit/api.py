"""The steps behind ``condensekit run`` and ``validate``, as functions: open a recipe, build its executor, execute it.

The command line and the Python API both go through here, so each owns exactly one plugin manager for the
process: :func:`open_recipe` builds it (with the recipe's local plugin files) and returns it beside the
validated recipe; everything after receives it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from condensekit.errors import CondensekitError
from condensekit.executing import ExecContext, RunOutcome
from condensekit.manager import PluginManager, recipe_plugin_manager
from condensekit.recipe import Recipe, RecipeSource, load_recipe, plugin_paths
from condensekit.spec import RunSpec

RecipeInput = str | Path | Mapping[str, Any] | RecipeSource


def recipe_source(recipe: RecipeInput, overrides: list[str] | tuple[str, ...] = ()) -> RecipeSource:
    """A :class:`RecipeSource` from a path, TOML text, a dict or a source (``overrides`` applied)."""
    if isinstance(recipe, RecipeSource):
        recipe.apply(overrides)
        return recipe
    if isinstance(recipe, Mapping):
        return RecipeSource.from_dict(recipe, overrides)
    if isinstance(recipe, str) and "\n" in recipe and not Path(recipe).exists():
        return RecipeSource.from_text(recipe, overrides)
    return RecipeSource.from_file(recipe, overrides)


def open_recipe(
    recipe: RecipeInput, overrides: list[str] | tuple[str, ...] = (), plugin_manager: PluginManager | None = None
) -> tuple[Recipe, PluginManager]:
    """Read and validate a recipe; return it with the plugin manager it was validated against.

    Args:
        recipe: a path, TOML text, a dict, or a :class:`RecipeSource`.
        overrides: ``--set`` items.
        plugin_manager: the process's manager, to which the recipe's local plugin files are added (the
            command line passes its own); a new one when None.

    Raises:
        RecipeError: every problem of the recipe (and of its local plugin files), at once.
    """
    source = recipe_source(recipe, overrides)
    pm, problems = recipe_plugin_manager(plugin_paths(source), plugin_manager)
    source.problems.extend(problems)
    return load_recipe(source, pm.catalogue), pm


def make_executor(recipe: Recipe, pm: PluginManager, name: str | None = None, jobs: int | None = None) -> tuple[Any, str, list[str]]:
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
            notes.append(f"note: --jobs applies to executors with worker processes; {use} sizes its own workers (see docs/scaling.md)")
    try:
        return entry.build(params), use, notes
    except ValueError as exc:  # pydantic's ValidationError: a bad --jobs or a param of another executor
        raise CondensekitError(f"executor {use!r}: {exc}") from None


def execute(
    recipe: Recipe, pm: PluginManager, out: Path, *, force: bool = False, executor: Any = None,
    on_outcome: Callable[[RunSpec, RunOutcome], None] | None = None, on_message: Callable[[str], None] | None = None,
) -> list[RunOutcome]:  # fmt: skip
    """Execute every run of a recipe into ``out`` and return the outcomes in the recipe's order."""
    executor = executor if executor is not None else make_executor(recipe, pm)[0]
    context = ExecContext(out_root=out, force=force, plugin_manager=pm, on_outcome=on_outcome)
    if on_message is not None:
        context.on_message = on_message
    return list(executor.execute(recipe.specs, context))

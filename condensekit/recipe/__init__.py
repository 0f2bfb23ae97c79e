"""Recipes: TOML (or text, or a dict) -> validated recipe -> list of RunSpec (arms x grid x seeds).

Four steps, one module each:

* :mod:`~condensekit.recipe.source`: the raw data, from a file, text or a dict, with ``--set`` overrides;
* :mod:`~condensekit.recipe.schema`: the top level (name, seeds, device, plugins, probe, summary, executor,
  the shape of the arms and the grid);
* :mod:`~condensekit.recipe.expand`: arms x grid points x seeds, each run's components validated against
  the catalogue;
* :mod:`~condensekit.recipe.problems`: what is wrong and how to fix it, keyed where the user wrote it.

Every problem is reported at once, in one :class:`condensekit.RecipeError`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

from condensekit.catalogue import Catalogue
from condensekit.errors import RecipeError
from condensekit.recipe.expand import Expander
from condensekit.recipe.problems import Problems
from condensekit.recipe.runlist import RunList
from condensekit.recipe.schema import plugin_paths, read_top_level
from condensekit.recipe.source import RecipeSource
from condensekit.spec import Component, RunSpec

__all__ = ["Recipe", "RecipeSource", "RunList", "RunSpec", "load_recipe", "plugin_paths"]

LARGE_GRID = 10_000
"""Above this many runs, validating warns: a grid this size is more often a typo than a plan."""


@dataclass
class Recipe:
    """A validated recipe.

    Attributes:
        name: the recipe's name (its output folder below ``--out``).
        source: where it came from (file, text or dict) and its raw data.
        specs: every run, arms in order, then grid points, then seeds (a sequence of RunSpecs built on
            demand from the validated sections: a large grid does not hold every spec in memory).
        executor: the ``[executor]`` table, validated against the executor's params.
        plugins: local plugin files the recipe names, resolved.
    """

    name: str
    source: RecipeSource
    specs: RunList
    executor: Component
    plugins: list[str]

    @property
    def path(self) -> Path | None:
        """The recipe file, when it came from one."""
        return self.source.path


def load_recipe(
    source: RecipeSource | str | Path,
    catalogue: Catalogue,
    overrides: list[str] | tuple[str, ...] = (),
    *,
    check_machine: bool = True,
) -> Recipe:
    """Validate and expand a recipe against a catalogue; raise RecipeError listing every problem found.

    Args:
        source: a :class:`RecipeSource`, or the path of a TOML recipe (``overrides`` then apply).
        catalogue: the components to validate against (``plugin_manager.catalogue``); it must already hold
            the recipe's local plugins (see :func:`condensekit.api.open_recipe`, which does both).
        overrides: ``--set`` items, when ``source`` is a path.
        check_machine: also check that this machine can run it, when its runs execute here (the device
            exists, the data is here or downloads: :mod:`condensekit.recipe.machine`); False checks the
            recipe alone (a recipe written for another machine).
    """
    if not isinstance(source, RecipeSource):
        source = RecipeSource.from_file(source, overrides)
    problems = Problems(source.problems)
    top = read_top_level(source, catalogue, problems)
    recipe_path = str(source.path.resolve()) if source.path is not None else ""
    specs = Expander(top, catalogue, problems, recipe_path, check_machine).specs()
    if problems:
        raise RecipeError(source.label, list(problems))
    if len(specs) > LARGE_GRID:
        counts = " x ".join(
            str(n) for n in (len(top.arms), *(len(v) for v in top.grid.values()), len(top.seeds))
        )
        warnings.warn(
            (
                f"{source.label}: {len(specs)} runs ({counts} arms x "
                "grid values x seeds); check the grid is what you meant"
            ),
            stacklevel=2,
        )
    return Recipe(name=top.name, source=source, specs=specs, executor=top.executor, plugins=top.plugins)

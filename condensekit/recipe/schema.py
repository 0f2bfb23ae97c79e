"""The recipe's top level: which keys exist, and the checks of the values that are the same for every run.

``name``, ``seeds``, ``device``, ``plugins``, ``[probe]``, ``[summary]``, ``[executor]`` and the shape of
``[[arms]]`` and ``[grid]`` are read here, once per recipe. The tables whose values may differ between
runs (``[data]``, ``[train]``, ``[tricks]``, ``[metrics]`` and each arm's ``model``) are only checked for
shape here; :mod:`condensekit.recipe.expand` validates them per run against the catalogue.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ConfigDict

from condensekit.catalogue import Catalogue, did_you_mean
from condensekit.environment import flag
from condensekit.manager import env_list
from condensekit.phases import Thresholds
from condensekit.recipe.names import name_problem
from condensekit.recipe.problems import Problems, validate
from condensekit.recipe.seeds import read_seeds
from condensekit.recipe.source import RecipeSource, key_path
from condensekit.spec import Component, ProbeSection, SummaryOptions
from condensekit.text import quoted, shown

TOP_KEYS = {
    "name",
    "seeds",
    "device",
    "plugins",
    "data",
    "train",
    "metrics",
    "tricks",
    "arms",
    "grid",
    "executor",
    "probe",
    "summary",
}
ARM_KEYS = {"name", "model", "tricks", "train"}
GRID_SECTIONS = ("model", "tricks", "train", "data", "metrics")
NAME = re.compile(r"^[A-Za-z0-9_.+=-]+$")
DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


class SummaryTable(Thresholds, SummaryOptions):
    """The recipe's ``[summary]`` table as users write it: the thresholds and the summary options in one flat
    table (problems are named ``summary.<key>``), split into the two sections of a run's spec."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    def sections(self) -> tuple[Thresholds, SummaryOptions]:
        """``(thresholds, summary options)``."""
        values = self.model_dump()
        return (
            Thresholds(**{k: values[k] for k in Thresholds.model_fields}),
            SummaryOptions(**{k: values[k] for k in SummaryOptions.model_fields}),
        )


@dataclass
class Arm:
    """One ``[[arms]]`` entry, shape-checked: its model table, its own tricks and train overrides."""

    index: int
    name: str
    model: dict[str, Any]
    tricks: dict[str, dict[str, Any]]
    train: dict[str, Any]


@dataclass
class TopLevel:
    """Everything of a recipe that is the same for every run, read once."""

    name: str
    seeds: list[int]
    device: str
    plugins: list[str]
    probe: ProbeSection
    thresholds: Thresholds
    summary_options: SummaryOptions
    executor: Component
    data: dict[str, Any]
    train: dict[str, Any]
    tricks: dict[str, dict[str, Any]]
    metrics: dict[str, dict[str, Any]]
    arms: list[Arm]
    grid: dict[str, list[Any]]


def read_top_level(source: RecipeSource, catalogue: Catalogue, problems: Problems) -> TopLevel:
    """Check the recipe's top level; problems go to ``problems`` and safe defaults stand in for bad values."""
    raw = source.data
    for key in sorted(set(raw) - TOP_KEYS):
        problems.add(
            key,
            f"unknown key {quoted(key)}{did_you_mean(key, sorted(TOP_KEYS))}",
            f"allowed top-level keys: {', '.join(sorted(TOP_KEYS))}",
        )
    stem = source.path.stem if source.path is not None else "my_recipe"
    name = raw.get("name")
    if not isinstance(name, str) or not NAME.match(name):
        problems.add(
            "name",
            f"must be a non-empty name of letters, digits, '_', '-', '.', got {quoted(name)}",
            f'e.g. name = "{stem}"',
        )
        name = stem
    elif wrong := name_problem(name):
        problems.add("name", f"{wrong}; it is the recipe's folder below --out", f'e.g. name = "{stem}"')
        name = stem
    device = raw.get("device", "auto")
    if not isinstance(device, str) or not DEVICE.match(device):
        problems.add(
            "device",
            f"must be auto, cpu, cuda, cuda:N or mps, got {quoted(device)}",
            'e.g. device = "auto"',
        )
        device = "auto"

    def section(model: Any, key: str) -> Any:
        return validate(
            model, raw.get(key, {}), lambda loc, msg, fix: problems.add(key_path([key, *loc]), msg, fix), key
        )

    thresholds, summary_options = (section(SummaryTable, "summary") or SummaryTable()).sections()
    return TopLevel(
        name=name,
        seeds=read_seeds(raw.get("seeds", [0]), problems),
        device=device,
        plugins=_plugins(source, problems),
        probe=section(ProbeSection, "probe") or ProbeSection(),
        thresholds=thresholds,
        summary_options=summary_options,
        executor=_executor(raw.get("executor", {}), catalogue, problems),
        data=_table(raw.get("data", {}), "data", 'write [data] with use = "digits"', problems),
        train=_table(raw.get("train", {}), "train", "write [train] with keys", problems),
        tricks=_tables(raw.get("tricks", {}), ["tricks"], problems),
        metrics=_tables(
            raw.get("metrics", {name: {} for name in catalogue.defaults("metrics")}), ["metrics"], problems
        ),
        arms=_arms(raw.get("arms"), problems),
        grid=_grid(raw.get("grid", {}), problems),
    )


def plugin_paths(source: RecipeSource) -> list[Path]:
    """The recipe's local plugin files that may be imported: resolved against its folder, inside it, not
    disabled.

    Empty when ``plugins`` is malformed. The policy (:func:`plugin_file_problem`) is applied here, before
    anything is imported, so ``validate`` never runs code the policy refuses.
    """
    plugins = source.data.get("plugins", [])
    if not isinstance(plugins, list) or not all(isinstance(p, str) for p in plugins):
        return []
    return [
        path
        for item in plugins
        if not plugin_file_problem(source, item)[0] and (path := (source.folder / item).resolve()).is_file()
    ]


def plugin_file_problem(source: RecipeSource, item: str) -> tuple[str, str]:
    """``(what is wrong, fix)`` with one ``plugins`` entry under the local plugin file policy (``("", "")``
    when allowed).

    A recipe that names plugin files runs their code, on ``validate`` too. So a recipe *file* may name
    only files inside its own folder, given relative to it (links followed): it can run only code shipped
    beside it, never ``../../x.py`` or ``/tmp/x.py``. A recipe handed over by Python code (a dict or TOML
    text, e.g. in a test) may name files anywhere: the code handing it over already runs.
    ``CONDENSEKIT_NO_PLUGIN_FILES=1`` refuses every plugin file (for recipes from others; ``0`` or unset
    allows them, any other value refuses them with an error that says so);
    ``CONDENSEKIT_DISABLE_PLUGINS`` names a file by its file name (``my_plugin.py``) as it names a package.
    (``CONDENSEKIT_LOAD_PLUGINS`` is the allow-list of installed packages only.)
    """
    refused = flag("CONDENSEKIT_NO_PLUGIN_FILES")
    if refused is None:  # a value that is neither on nor off: refuse, and say why
        value = quoted(os.environ.get("CONDENSEKIT_NO_PLUGIN_FILES", ""))
        return (
            f"plugin files are refused: CONDENSEKIT_NO_PLUGIN_FILES={value} is neither 1 nor 0",
            "set CONDENSEKIT_NO_PLUGIN_FILES=1 to refuse plugin files, or 0 (or unset it) to allow them",
        )
    if refused:
        return (
            "plugin files are refused here (CONDENSEKIT_NO_PLUGIN_FILES is set)",
            "install the plugin as a package, or unset CONDENSEKIT_NO_PLUGIN_FILES",
        )
    path = Path(item)
    folder = source.folder.resolve()
    if not source.from_code and (path.is_absolute() or not (folder / path).resolve().is_relative_to(folder)):
        return (
            (
                f"{quoted(item)} is outside the recipe's folder {folder}; a "
                "recipe may only run plugin files inside its own folder"
            ),
            "copy the file next to the recipe and name it ./<file>.py, or install it as a package",
        )
    if path.name in set(env_list("CONDENSEKIT_DISABLE_PLUGINS") or []):
        return (
            f"{quoted(item)} is not loaded: CONDENSEKIT_DISABLE_PLUGINS names it",
            "remove it from plugins, or from CONDENSEKIT_DISABLE_PLUGINS",
        )
    return "", ""


def _plugins(source: RecipeSource, problems: Problems) -> list[str]:
    plugins = source.data.get("plugins", [])
    if not isinstance(plugins, list) or not all(isinstance(p, str) for p in plugins):
        problems.add(
            "plugins",
            f"must be a list of file paths, got {shown(plugins)}",
            'e.g. plugins = ["./my_plugin.py"]',
        )
        return []
    paths = []
    for i, item in enumerate(plugins):
        wrong, fix = plugin_file_problem(source, item)
        if wrong:
            problems.add(f"plugins[{i}]", wrong, fix)
            continue
        full = (source.folder / item).resolve()
        if not full.is_file():
            problems.add(
                f"plugins[{i}]", f"plugin file not found: {full}", "paths are relative to the recipe's folder"
            )
        paths.append(str(full))
    return paths


def _table(value: Any, key: str, fix: str, problems: Problems) -> dict[str, Any]:
    if not isinstance(value, dict):
        problems.add(key, f"must be a table, got {shown(value)}", fix)
        return {}
    return dict(value)


def _tables(value: Any, prefix: list[Any], problems: Problems) -> dict[str, dict[str, Any]]:
    """A table of name -> params table (``[tricks]``, ``[metrics]``, an arm's ``tricks``)."""
    what = "metric" if prefix == ["metrics"] else "trick"
    if not isinstance(value, dict):
        problems.add(
            key_path(prefix),
            f"must be a table of {what} name -> params, got {shown(value)}",
            f"e.g. {prefix[-1]} = {{ <{what} name> = {{}} }}",
        )
        return {}
    out = {}
    for name, params in value.items():
        if not isinstance(params, dict):
            problems.add(
                key_path([*prefix, name]),
                f"must be a table of params, got {shown(params)}",
                f"e.g. {name} = {{}}",
            )
            continue
        out[name] = dict(params)
    return out


def _executor(value: Any, catalogue: Catalogue, problems: Problems) -> Component:
    table = _table(value, "executor", 'e.g. [executor] use = "local"', problems)
    use = table.pop("use") if "use" in table else next(iter(catalogue.defaults("executors")), "")
    if not isinstance(use, str) or use not in catalogue.entries["executors"]:
        msg, fix = catalogue.unknown_message("executors", str(use))
        problems.add("executor.use", msg, fix)
        return Component(use=str(use))
    params = validate(
        catalogue.get("executors", use).params,
        table,
        lambda loc, msg, fix: problems.add(key_path(["executor", *loc]), msg, fix),
        "executor",
    )
    return Component(use=use, params=params.model_dump(mode="json") if params is not None else {})


def _arms(arms: Any, problems: Problems) -> list[Arm]:
    if not isinstance(arms, list) or not arms:
        problems.add(
            "arms",
            "no arms: a recipe compares at least one arm",
            'add [[arms]] with name = "..." and model = { use = "mlp" }',
        )
        return []
    out, names = [], set()
    for i, arm in enumerate(arms):
        where = f"arms[{i}]"
        if not isinstance(arm, dict):
            problems.add(where, "must be a table", "write it as [[arms]]")
            continue
        for key in sorted(set(arm) - ARM_KEYS):
            problems.add(
                f"{where}.{key}",
                f"unknown key {quoted(key)}{did_you_mean(key, sorted(ARM_KEYS))}",
                f"allowed keys: {', '.join(sorted(ARM_KEYS))}",
            )
        name = arm.get("name")
        if not isinstance(name, str) or not NAME.match(name):
            problems.add(
                f"{where}.name",
                f"must be a name of letters, digits, '_', '-', '.', '+', got {quoted(name)}",
                'e.g. name = "mlp"',
            )
        elif wrong := name_problem(name):
            problems.add(f"{where}.name", f"{wrong}; it is the arm's folder", 'e.g. name = "mlp"')
        elif name in names:
            problems.add(f"{where}.name", f"duplicate arm name {name!r}", "give every arm its own name")
        names.add(name)
        model = arm.get("model")
        if not isinstance(model, dict) or "use" not in model:
            problems.add(
                f"{where}.model",
                f"must be a table with 'use', got {shown(model)}",
                'e.g. model = { use = "mlp", depth = 10 }',
            )
            continue
        train = arm.get("train", {})
        if not isinstance(train, dict):
            problems.add(
                f"{where}.train", f"must be a table, got {shown(train)}", "e.g. train = { lr = 0.1 }"
            )
            train = {}
        tricks = _tables(arm.get("tricks", {}), [where, "tricks"], problems)
        out.append(Arm(i, str(name), dict(model), tricks, dict(train)))
    return out


def _grid(grid: Any, problems: Problems) -> dict[str, list[Any]]:
    if not isinstance(grid, dict):
        problems.add(
            "grid",
            f"must be a table of dotted key -> list of values, got {shown(grid)}",
            'e.g. [grid] then "tricks.init.scale" = [0.5, 1.0]',
        )
        return {}
    out = {}
    for key, values in grid.items():
        if not isinstance(values, list) or not values:
            problems.add(
                f'grid."{key}"',
                f"must be a non-empty list of values, got {shown(values)}",
                f'e.g. "{key}" = [1, 2]',
            )
            continue
        parts = key.split(".")
        if parts[0] not in GRID_SECTIONS or len(parts) < 2:
            problems.add(
                f'grid."{key}"',
                "matches nothing",
                f'a grid key starts with one of {", ".join(GRID_SECTIONS)}, e.g. "model.depth"',
            )
            continue
        out[key] = values
    return out

"""Expansion: arms x grid points x seeds -> RunSpecs, each component validated against the catalogue.

Each arm gets a configuration (model, tricks, train, data, metrics) built from the recipe's tables and its
own. Every grid key sets a value inside one *section* of it (``model``, ``train``, ``data``,
``tricks.<name>``, ``metrics.<name>``), so each section is validated once per distinct combination of the
grid values inside it, not once per run: validation grows with the number of distinct values, and the runs
are built on demand from the validated sections (:class:`~condensekit.recipe.runlist.RunList`).
:class:`~condensekit.recipe.problems.Origins` remembers which recipe key put each value there, so a problem
is reported at the key the user wrote.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from condensekit.catalogue import Catalogue, did_you_mean
from condensekit.errors import PLUGIN_FAILURES
from condensekit.recipe.builds import check_data_classes, check_model_builds
from condensekit.recipe.machine import RUNS_HERE, check_data, check_device
from condensekit.recipe.names import check_grid_labels
from condensekit.recipe.problems import Origins, Path_, Problems, validate
from condensekit.recipe.runlist import ArmPlan, Common, RunList, Section
from condensekit.recipe.schema import Arm, TopLevel
from condensekit.run_hooks import hook_methods, invoke
from condensekit.schedules import DEFAULT_METRIC_SCHEDULE, HELP, Schedule
from condensekit.spec import CORE_DATA_KEYS, Component, DataSection, MetricSpec, SummaryOptions, TrainSection
from condensekit.text import quoted, shown, toml_text

Report = Callable[[Path_, str, str], None]


def section_of(key: str) -> Section:
    """The section a grid key sets a value in: ``tricks.init.scale`` -> ``("tricks", "init")``."""
    parts = key.split(".")
    return tuple(parts[:2]) if parts[0] in ("tricks", "metrics") else (parts[0],)


class Expander:
    """Builds the RunSpecs of a recipe whose top level has been read."""

    def __init__(
        self,
        top: TopLevel,
        catalogue: Catalogue,
        problems: Problems,
        recipe_path: str,
        check_machine: bool = True,
    ):
        self.top, self.cat, self.problems, self.recipe_path = top, catalogue, problems, recipe_path
        self.check_machine = check_machine
        # (kind, name, params as TOML) -> params
        self.validated: dict[tuple[str, str, str], dict[str, Any]] = {}
        # (trick, params as TOML) -> model keys it sets
        self.overrides: dict[tuple[str, str], list[str] | None] = {}

    def specs(self) -> RunList:
        """Every run of the recipe, arms in order, then grid points, then seeds; empty when there are
        problems."""
        plans = [plan for arm in self.top.arms if (plan := self.plan(arm)) is not None]
        check_grid_labels(self.top.grid, self.problems)
        runs_here = self.check_machine and self.top.executor.use == RUNS_HERE
        if runs_here:
            check_device(self.top.device, self.problems)
        if not self.problems:
            check_data_classes(plans, self.cat, self.problems)
        if not self.problems:
            check_model_builds(plans, self.cat, self.problems)
        if not self.problems and runs_here:
            check_data(plans, self.cat, self.problems)
        if self.problems:
            return RunList()
        common = Common(
            self.top.name, self.recipe_path, self.top.device, self.top.probe, self.top.plugins, self.top.seeds
        )
        return RunList(common, plans)

    def plan(self, arm: Arm) -> ArmPlan | None:
        """Validate every section of one arm at every distinct combination of the grid values inside it."""
        config, origins = self.arm_config(arm)
        plan = ArmPlan(arm, list(self.top.grid), [self.top.grid[k] for k in self.top.grid])
        plan.sections = {("model",): [], ("train",): [], ("data",): []}
        plan.sections.update({("tricks", name): [] for name in config["tricks"]})
        plan.sections.update({("metrics", name): [] for name in config["metrics"]})
        for i, key in enumerate(plan.keys):
            section = section_of(key)
            if section not in plan.sections:
                if len(key.split(".")) > 2:  # a value inside a trick or metric the arm does not have
                    self.no_match(key, 1, sorted(config[section[0]]))
                    continue
                # the grid sets the whole table: the section exists at every point
                plan.sections[section] = []
            plan.sections[section].append(i)
        ok = True
        for section, key_indices in plan.sections.items():
            section_origins = self.section_origins(origins, plan, key_indices)
            for sub in plan.section_values(section):
                table = self.section_table(config, plan, section, key_indices, sub)
                value = None if table is None else self.validate_section(section, table, section_origins)
                plan.validated[(section, sub)] = value
                ok = ok and value is not None
        if not ok:
            return None
        options = self.summary_options([s[1] for s in plan.sections if s[0] == "metrics"])
        if options is None:
            return None
        plan.thresholds, plan.summary_options = self.top.thresholds, options
        self.check_model_overrides(plan)
        return plan

    def arm_config(self, arm: Arm) -> tuple[dict[str, Any], Origins]:
        """The arm's configuration before the grid, and where each of its values came from."""
        top, where = self.top, f"arms[{arm.index}]"
        origins = Origins(arm=arm.name)
        origins.note_table(("model",), f"{where}.model", arm.model)
        origins.note_table(("train",), "train", top.train)
        for key in arm.train:
            origins.note(("train", key), f"{where}.train.{key}")
        origins.note_table(("data",), "data", top.data)
        origins.note(("metrics",), "metrics")
        for name, params in top.metrics.items():
            origins.note_table(("metrics", name), f"metrics.{name}", params)
        tricks: dict[str, dict[str, Any]] = {}
        origins.note(("tricks",), "tricks")
        for name, params in top.tricks.items():
            tricks[name] = dict(params)
            origins.note_table(("tricks", name), f"tricks.{name}", params)
        for name, params in arm.tricks.items():
            if name not in tricks:
                origins.note(("tricks", name), f"{where}.tricks.{name}")
            tricks[name] = {**tricks.get(name, {}), **params}
            for key in params:
                origins.note(("tricks", name, key), f"{where}.tricks.{name}.{key}")
        config = {
            "model": dict(arm.model),
            "tricks": tricks,
            "train": {**top.train, **arm.train},
            "data": dict(top.data),
            "metrics": copy.deepcopy(top.metrics),
        }
        return config, origins

    def no_match(self, key: str, i: int, have: list[str]) -> None:
        """A grid key whose ``i``-th part names nothing in the arm's configuration."""
        parts = key.split(".")
        fix = f"keys there: {', '.join(have) or '(none)'}"
        if parts[0] == "tricks" and i == 1:  # varying a trick's parameter needs the trick switched on
            fix = (
                f"add {parts[i]} = {{}} to [tricks] or to the arm's "
                f"tricks, so the grid has a trick to vary; {fix}"
            )
        self.problems.add(
            f'grid."{key}"',
            f"matches nothing: no {quoted('.'.join(parts[: i + 1]))} in this arm"
            + did_you_mean(parts[i], have),
            fix,
        )

    @staticmethod
    def section_origins(origins: Origins, plan: ArmPlan, key_indices: list[int]) -> Origins:
        """The arm's origins with the grid keys inside one section noted (the same for all their values)."""
        if not key_indices:
            return origins
        out = Origins(dict(origins.keys), set(origins.from_grid), origins.arm)
        for i in key_indices:
            out.note_grid(tuple(plan.keys[i].split(".")), plan.keys[i])
        return out

    def section_table(
        self,
        config: dict[str, Any],
        plan: ArmPlan,
        section: Section,
        key_indices: list[int],
        sub: tuple[int, ...],
    ) -> Any:
        """The section's raw table with the grid values ``sub`` set in it; None (and a problem) when a key
        matches nothing."""
        node: Any = config[section[0]] if len(section) == 1 else config[section[0]].get(section[1])
        table = copy.deepcopy(node) if key_indices else node
        for i, value_index in zip(key_indices, sub, strict=True):
            parts, value = plan.keys[i].split("."), copy.deepcopy(plan.values[i][value_index])
            inner = parts[len(section) :]
            if not inner:
                table = value
                continue
            node = table
            for depth, part in enumerate(inner[:-1]):
                if not isinstance(node, dict) or part not in node:
                    self.no_match(
                        plan.keys[i], len(section) + depth, sorted(node) if isinstance(node, dict) else []
                    )
                    return None
                node = node[part]
            if not isinstance(node, dict):
                self.no_match(plan.keys[i], len(parts) - 1, [])
                return None
            node[inner[-1]] = value
        return table

    def validate_section(self, section: Section, table: Any, origins: Origins) -> Any:
        """One section validated: a Component, TrainSection, DataSection, trick params or MetricSpec; None
        when wrong."""

        def at(path: Path_, per_arm: bool = False) -> Report:
            return lambda loc, message, fix: origins.add(
                self.problems, (*path, *loc), message, fix, per_arm=per_arm
            )

        if len(section) == 2 and not isinstance(table, dict):
            at(section)((), f"must be a table of params, got {shown(table)}", f"e.g. {section[1]} = {{}}")
            return None
        if section == ("model",):
            table = dict(table)
            use = table.pop("use")
            params = self.params("models", use, table, ("use",), at(("model",), per_arm=True))
            return None if params is None else Component(use=use, params=params)
        if section == ("train",):
            return validate(TrainSection, table, at(("train",)), "train")
        if section == ("data",):
            return self.data(table, at)
        if section[0] == "tricks":
            return self.params("tricks", section[1], table, (), at(section))
        return self.metric(section[1], table, at)

    def params(
        self, kind: str, name: Any, params: dict[str, Any], name_loc: Path_, report: Report
    ) -> dict[str, Any] | None:
        """A component's params validated by its params model (defaults filled in, JSON values), or None.

        Args:
            name_loc: where the component's name is, relative to ``report``'s table (``("use",)`` for a
                model or dataset; ``()`` for a trick or metric, whose table is named by it).
        """
        if not isinstance(name, str) or name not in self.cat.entries[kind]:
            report(name_loc, *self.cat.unknown_message(kind, str(name)))
            return None
        key = (kind, name, toml_text(params))
        if key not in self.validated:
            checked = validate(self.cat.get(kind, name).params, params, report, kind)
            if checked is None:
                return None
            self.validated[key] = checked.model_dump(mode="json")
        return self.validated[key]

    def data(self, table: dict[str, Any], at: Callable[..., Report]) -> DataSection | None:
        table = dict(table)
        use = table.pop("use") if "use" in table else next(iter(self.cat.defaults("datasets")), "")
        core = {key: table.pop(key) for key in CORE_DATA_KEYS if key in table}
        params = self.params("datasets", use, table, ("use",), at(("data",)))
        section = validate(DataSection, {**core, "use": use}, at(("data",)), "data")
        if params is None or section is None:
            return None
        return section.model_copy(update={"params": params})

    def metric(self, name: str, table: dict[str, Any], at: Callable[..., Report]) -> MetricSpec | None:
        table = dict(table)
        every = table.pop("every", DEFAULT_METRIC_SCHEDULE)
        report = at(("metrics", name))

        def with_every(loc: Path_, message: str, fix: str) -> None:  # `every` is a key of every metric too
            report(
                loc,
                message,
                fix.replace("allowed keys: ", "allowed keys: every, ")
                if fix.startswith("allowed keys")
                else fix,
            )

        params = self.params("metrics", name, table, (), with_every)
        try:
            schedule = Schedule.parse(every)
        except ValueError as exc:
            report(("every",), str(exc), getattr(exc, "fix", HELP))
            return None
        return MetricSpec(every=schedule, params=params) if params is not None else None

    def summary_options(self, metrics: list[str]) -> SummaryOptions | None:
        """The recipe's summary options with the summary series resolved: named, or the first declared
        headline."""
        options = self.top.summary_options
        arms = [arm.name for arm in self.top.arms]
        if options.reference is not None and options.reference not in arms:
            self.problems.add(
                "summary.reference",
                f"names no arm of this recipe: {quoted(options.reference)}",
                f"arms: {', '.join(arms)}",
            )
            return None
        if options.series is None:
            for name in metrics:
                report = self.cat.get("metrics", name).report
                if report is not None and report.headline:
                    return options.model_copy(update={"series": f"{name}/{report.headline}"})
            return options
        metric, _, quantity = options.series.partition("/")
        if not quantity or metric not in metrics:
            measured = ", ".join(metrics) or "none"
            self.problems.add(
                "summary.series",
                "must be '<metric>/<quantity>' of a metric this recipe measures, "
                f"got {quoted(options.series)}",
                f'metrics measured: {measured}; e.g. series = "<metric>/<quantity>"',
            )
            return None
        declared = self.cat.get("metrics", metric).report
        if declared is not None and declared.series and quantity not in declared.series:
            self.problems.add(
                "summary.series",
                f"metric {metric!r} has no per-layer series {quoted(quantity)}",
                f"available: {', '.join(declared.series)}",
            )
            return None
        return options

    def check_model_overrides(self, plan: ArmPlan) -> None:
        """Ask each trick for its model overrides now, so a trick the model cannot take fails validation.

        Each distinct trick value is asked once, and checked against each distinct model of the arm.
        """
        where = f"arms[{plan.arm.index}]"
        models = {plan.validated[(("model",), sub)].use for sub in plan.section_values(("model",))}
        for section in (s for s in plan.sections if s[0] == "tricks"):
            name = section[1]
            for sub in plan.section_values(section):
                for key in self.trick_overrides(name, plan.validated[(section, sub)], where) or []:
                    for model in sorted(models):
                        if key not in self.cat.get("models", model).params.model_fields:
                            self.problems.add(
                                f"{where}.tricks.{name}",
                                (
                                    f"trick {name!r} sets model parameter "
                                    f"{key!r}, which model {model!r} does not have"
                                ),
                                (
                                    "remove the trick from this arm or use a model "
                                    f"with '{key}' (see `condensekit list models`)"
                                ),
                            )

    def trick_overrides(self, name: str, params: dict[str, Any], where: str) -> list[str] | None:
        """The model parameters a trick with these params overrides (None when it needs a live run to say)."""
        cache_key = (name, toml_text(params))
        if cache_key in self.overrides:
            return self.overrides[cache_key]
        entry = self.cat.get("tricks", name)
        keys: list[str] | None = None
        try:
            hook = hook_methods(entry.build(params), f"trick {name!r}").get("model_overrides")
        except PLUGIN_FAILURES as exc:  # a broken trick class is its plugin's fault: name it
            self.problems.add(
                f"{where}.tricks.{name}",
                f"trick {name!r} of plugin {entry.plugin!r} failed to start: {type(exc).__name__}: {exc}",
                "fix or update that plugin",
            )
            return None
        try:
            keys = list(invoke(hook, {"run": None}) or {}) if hook is not None else []
        except PLUGIN_FAILURES:  # needs the live run: checked again when the run starts
            keys = None
        self.overrides[cache_key] = keys
        return keys

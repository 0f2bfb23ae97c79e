"""Expansion: arms x grid points x seeds -> RunSpecs, each component validated against the catalogue.

Each arm gets a configuration (model, tricks, train, data, metrics) built from the recipe's tables and its
own; each grid point sets dotted keys in a copy of it; the result is validated once into a
:class:`condensekit.RunSpec`, and every seed gets a copy. :class:`~condensekit.recipe.problems.Origins`
remembers which recipe key put each value there, so a problem is reported at the key the user wrote.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable
from typing import Any

from condensekit.catalogue import Catalogue, did_you_mean
from condensekit.phases import Thresholds
from condensekit.recipe.problems import Origins, Path_, Problems, validate
from condensekit.recipe.schema import Arm, TopLevel
from condensekit.recipe.source import toml_text
from condensekit.schedules import DEFAULT_METRIC_SCHEDULE, HELP, Schedule
from condensekit.spec import CORE_DATA_KEYS, Component, DataSection, MetricSpec, RunSpec, TrainSection

Report = Callable[[Path_, str, str], None]


class Expander:
    """Builds the RunSpecs of a recipe whose top level has been read."""

    def __init__(self, top: TopLevel, catalogue: Catalogue, problems: Problems, recipe_path: str):
        self.top, self.cat, self.problems, self.recipe_path = top, catalogue, problems, recipe_path
        self.validated: dict[tuple[str, str, str], dict[str, Any]] = {}  # (kind, name, params as TOML) -> params

    def specs(self) -> list[RunSpec]:
        """Every run of the recipe, arms in order, then grid points, then seeds; [] when there are problems."""
        out: list[RunSpec] = []
        keys = list(self.top.grid)
        for arm in self.top.arms:
            config, origins = self.arm_config(arm)
            for values in itertools.product(*(self.top.grid[k] for k in keys)):
                point = dict(zip(keys, values, strict=True))
                run_config, run_origins = copy.deepcopy(config), copy.deepcopy(origins)
                if not all(self.apply_grid(run_config, run_origins, k, v) for k, v in point.items()):
                    continue
                spec = self.resolve(run_config, run_origins, arm, point)
                if spec is not None:
                    out.extend(spec.model_copy(update={"seed": seed}) for seed in self.top.seeds)
        return [] if self.problems else out

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
            "model": dict(arm.model), "tricks": tricks, "train": {**top.train, **arm.train},
            "data": dict(top.data), "metrics": copy.deepcopy(top.metrics),
        }  # fmt: skip
        return config, origins

    def apply_grid(self, config: dict[str, Any], origins: Origins, key: str, value: Any) -> bool:
        """Set one grid key in an arm's configuration; False (and a problem) when it matches nothing."""
        parts = key.split(".")
        node: Any = config
        for i, part in enumerate(parts[:-1]):
            if not isinstance(node, dict) or part not in node:
                have = sorted(node) if isinstance(node, dict) else []
                fix = f"keys there: {', '.join(have) or '(none)'}"
                if parts[0] == "tricks" and i == 1:  # varying a trick's parameter needs the trick switched on
                    fix = f"add {part} = {{}} to [tricks] or to the arm's tricks, so the grid has a trick to vary; {fix}"
                self.problems.add(f'grid."{key}"', f"matches nothing: no {'.'.join(parts[: i + 1])!r} in this arm{did_you_mean(part, have)}", fix)
                return False
            node = node[part]
        node[parts[-1]] = copy.deepcopy(value)
        origins.note_grid(tuple(parts), key)
        return True

    def resolve(self, config: dict[str, Any], origins: Origins, arm: Arm, point: dict[str, Any]) -> RunSpec | None:
        """Validate one configuration into a RunSpec (seed 0); None when something is wrong."""

        def at(path: Path_, per_arm: bool = False) -> Report:
            return lambda loc, message, fix: origins.add(self.problems, (*path, *loc), message, fix, per_arm=per_arm)

        model_table = dict(config["model"])
        use = model_table.pop("use")
        model = self.params("models", use, model_table, ("use",), at(("model",), per_arm=True))
        tricks = {name: self.params("tricks", name, params, (), at(("tricks", name))) for name, params in config["tricks"].items()}
        train = validate(TrainSection, config["train"], at(("train",)), "train")
        data = self.data(config["data"], at)
        metrics = {name: self.metric(name, params, at) for name, params in config["metrics"].items()}
        if model is None or train is None or data is None or any(v is None for v in (*tricks.values(), *metrics.values())):
            return None
        resolved_metrics: dict[str, MetricSpec] = {k: v for k, v in metrics.items() if v is not None}
        thresholds = self.thresholds(resolved_metrics)
        self.check_model_overrides(use, model, tricks, arm)  # type: ignore[arg-type]
        if thresholds is None or self.problems:
            return None
        return RunSpec(
            recipe_name=self.top.name, recipe_path=self.recipe_path, arm=arm.name, grid=point, seed=0, device=self.top.device,
            data=data, model=Component(use=use, params=model), train=train, tricks=tricks,  # type: ignore[arg-type]
            metrics=resolved_metrics, probe=self.top.probe, thresholds=thresholds, plugins=self.top.plugins,
        )  # fmt: skip

    def params(self, kind: str, name: Any, params: dict[str, Any], name_loc: Path_, report: Report) -> dict[str, Any] | None:
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
            report(loc, message, fix.replace("allowed keys: ", "allowed keys: every, ") if fix.startswith("allowed keys") else fix)

        params = self.params("metrics", name, table, (), with_every)
        try:
            schedule = Schedule.parse(every)
        except ValueError as exc:
            report(("every",), str(exc), HELP)
            return None
        return MetricSpec(every=schedule, params=params) if params is not None else None

    def thresholds(self, metrics: dict[str, MetricSpec]) -> Thresholds | None:
        """The recipe's thresholds with the summary series resolved: named, or the first declared headline."""
        th = self.top.thresholds
        arms = [arm.name for arm in self.top.arms]
        if th.reference is not None and th.reference not in arms:
            self.problems.add("summary.reference", f"names no arm of this recipe: {th.reference!r}", f"arms: {', '.join(arms)}")
            return None
        if th.series is None:
            for name in metrics:
                report = self.cat.get("metrics", name).report
                if report is not None and report.headline:
                    return th.model_copy(update={"series": f"{name}/{report.headline}"})
            return th
        metric, _, quantity = th.series.partition("/")
        if not quantity or metric not in metrics:
            measured = ", ".join(metrics) or "none"
            self.problems.add("summary.series", f"must be '<metric>/<quantity>' of a metric this recipe measures, got {th.series!r}",
                              f"metrics measured: {measured}; e.g. series = \"<metric>/<quantity>\"")  # fmt: skip
            return None
        declared = self.cat.get("metrics", metric).report
        if declared is not None and declared.series and quantity not in declared.series:
            self.problems.add("summary.series", f"metric {metric!r} has no per-layer series {quantity!r}", f"available: {', '.join(declared.series)}")
            return None
        return th

    def check_model_overrides(self, model: str, params: dict[str, Any], tricks: dict[str, dict[str, Any]], arm: Arm) -> None:
        """Ask each trick for its model overrides now, so a trick the model cannot take fails validation."""
        fields = self.cat.get("models", model).params.model_fields
        where = f"arms[{arm.index}]"
        for name, trick_params in tricks.items():
            entry = self.cat.get("tricks", name)
            try:
                trick = entry.build(trick_params)
            except Exception as exc:  # a broken trick class is its plugin's fault: name it
                self.problems.add(f"{where}.tricks.{name}", f"trick {name!r} of plugin {entry.plugin!r} failed to start: {type(exc).__name__}: {exc}", "fix or update that plugin")
                continue
            hook = getattr(trick, "model_overrides", None)
            try:
                overrides = hook(run=None) if hook is not None else None
            except Exception:  # needs the live run: checked again when the run starts
                continue
            for key in overrides or {}:
                if key not in fields:
                    self.problems.add(
                        f"{where}.tricks.{name}", f"trick {name!r} sets model parameter {key!r}, which model {model!r} does not have",
                        f"remove the trick from this arm or use a model with '{key}' (see `condensekit list models`)",
                    )  # fmt: skip

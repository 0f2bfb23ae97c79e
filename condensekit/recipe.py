"""TOML recipe -> validated recipe -> list of RunSpec (arms x grid x seeds). Every problem is reported at once."""

from __future__ import annotations

import copy
import itertools
import re
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from condensekit.catalogue import Catalogue, did_you_mean
from condensekit.errors import Problem, RecipeError
from condensekit.phases import Thresholds
from condensekit.recipe_input import _key, _toml, _validate, apply_overrides, read_toml
from condensekit.schedules import HELP as SCHEDULE_HELP
from condensekit.schedules import parse_schedule

DEFAULT_METRIC_SCHEDULE = "log:100"
_NAME = re.compile(r"^[A-Za-z0-9_.+=-]+$")
_DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


class TrainSection(BaseModel):
    """``[train]``: the training loop."""

    model_config = ConfigDict(extra="forbid")
    steps: int = Field(1000, ge=1, description="number of optimizer steps")
    lr: float = Field(0.01, gt=0, description="learning rate")
    eval_every: str = Field("log:20", description="schedule of train/test accuracy evaluation")
    max_loss: float = Field(1e6, gt=0, description="a loss above this (or not finite) marks the run diverged")


class ProbeSection(BaseModel):
    """``[probe]``: the fixed class-balanced probe batch."""

    model_config = ConfigDict(extra="forbid")
    per_class: int = Field(20, ge=1, description="probe samples per class")
    max_samples: int = Field(512, ge=2, description="cap on the probe batch size")


class SummarySection(BaseModel):
    """``[summary]``: thresholds of the phase detector and the condensed rule (METRICS.md)."""

    model_config = ConfigDict(extra="forbid")
    plateau_drop_rel: float = Field(0.05, ge=0)
    plateau_drop_abs: float = Field(0.02, ge=0)
    rise: float = Field(0.1, ge=0)
    peak: float = Field(0.9, ge=-1, le=1)
    fall_fraction: float = Field(0.5, ge=0, le=1)
    metric: str = Field("feat_inter")


TOP_KEYS = {
    "name", "seeds", "device", "plugins", "data", "train", "metrics", "tricks", "arms", "grid",
    "executor", "probe", "summary",
}  # fmt: skip
ARM_KEYS = {"name", "model", "tricks", "train"}
DATA_CORE_KEYS = {"use", "batch_size", "root"}


@dataclass
class RunSpec:
    """One fully resolved run: an arm at one grid point with one seed. Plain data, JSON-serialisable."""

    recipe_name: str
    recipe_path: str
    arm: str
    grid: dict[str, Any]
    seed: int
    device: str
    data: dict[str, Any]
    model: dict[str, Any]
    train: dict[str, Any]
    tricks: dict[str, dict[str, Any]]
    metrics: dict[str, dict[str, Any]]
    probe: dict[str, Any]
    summary: dict[str, Any]
    plugins: list[str] = field(default_factory=list)

    @property
    def grid_label(self) -> str:
        if not self.grid:
            return "base"
        return ",".join(f"{k}={_label_value(v)}" for k, v in self.grid.items())

    @property
    def rel_dir(self) -> Path:
        """Where the run lives below the output root: ``<recipe>/<arm>/<grid point>/seed=<n>``."""
        return Path(self.recipe_name) / self.arm / self.grid_label / f"seed={self.seed}"

    @property
    def thresholds(self) -> Thresholds:
        return Thresholds(**self.summary)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunSpec:
        return cls(**data)


@dataclass
class Recipe:
    """A validated recipe: its name, source, settings and the expanded run list."""

    name: str
    path: Path
    raw: dict[str, Any]
    specs: list[RunSpec]
    executor: dict[str, Any]
    plugins: list[str]


def _label_value(value: Any) -> str:
    return str(value).replace("/", "_").replace(" ", "")


def load_recipe(path: str | Path, overrides: list[str] | None = None, pm: Any = None) -> Recipe:
    """Read, validate and expand a recipe. Raises RecipeError listing every problem found.

    Args:
        path: the recipe file.
        overrides: ``--set`` items.
        pm: a plugin manager to validate against; built (with the recipe's local plugins) when None.
    """
    path = Path(path)
    source = str(path)
    raw = read_toml(path)
    problems: list[Problem] = []
    raw = apply_overrides(raw, overrides or [], problems)
    plugins = _check_plugins(raw, path, problems)
    if pm is None:
        pm = _plugin_manager(plugins, problems, source)
    specs, executor = _expand(raw, path, plugins, pm.catalogue, problems)
    if problems:
        raise RecipeError(source, problems)
    return Recipe(name=str(raw.get("name")), path=path.resolve(), raw=raw, specs=specs, executor=executor, plugins=plugins)


def _check_plugins(raw: dict[str, Any], path: Path, problems: list[Problem]) -> list[str]:
    plugins = raw.get("plugins", [])
    if not isinstance(plugins, list) or not all(isinstance(p, str) for p in plugins):
        problems.append(Problem("plugins", f"must be a list of file paths, got {plugins!r}", 'e.g. plugins = ["./my_plugin.py"]'))
        return []
    resolved = []
    for i, item in enumerate(plugins):
        full = (path.parent / item).resolve()
        if not full.is_file():
            problems.append(Problem(f"plugins[{i}]", f"plugin file not found: {full}", "paths are relative to the recipe's folder"))
        resolved.append(str(full))
    return resolved


def _plugin_manager(plugins: list[str], problems: list[Problem], source: str) -> Any:
    """A plugin manager with the local plugin files that import; the others become problems, not crashes."""
    from condensekit.manager import get_plugin_manager, load_plugin_file

    usable, broken = [], {}
    for i, item in enumerate(plugins):
        if not Path(item).is_file():
            continue  # already reported by _check_plugins
        try:
            load_plugin_file(Path(item))
        except Exception as exc:  # the user's code: report where it failed, keep validating the rest
            reason = _import_failure(Path(item), exc)
            broken[item] = reason
            problems.append(Problem(f"plugins[{i}]", f"{item} failed to import: {reason}", "fix the plugin file or remove it from plugins"))
            continue
        usable.append(item)
    try:
        pm = get_plugin_manager(usable)
    except Exception as exc:  # e.g. a hook implementation with the wrong signature
        problems.append(Problem("plugins", f"a local plugin could not be registered: {type(exc).__name__}: {exc}", "fix the plugin file or remove it from plugins"))
        raise RecipeError(source, problems) from None
    pm.load_errors.update(broken)  # so "unknown model" names the file that would have registered it
    return pm


def _import_failure(path: Path, exc: BaseException) -> str:
    """``RuntimeError: boom (line 3)``: the error and the last line of the plugin file it passed through."""
    cause = exc.__cause__ or exc
    if isinstance(cause, SyntaxError):  # its message already names the file and line
        return f"SyntaxError: {cause}"
    line = None
    for frame in traceback.extract_tb(cause.__traceback__):
        if Path(frame.filename).resolve() == path.resolve():
            line = frame.lineno
    text = f"{type(cause).__name__}: {cause}"
    return f"{text} (line {line})" if line else text


def _expand(raw: dict[str, Any], path: Path, plugins: list[str], cat: Catalogue, problems: list[Problem]) -> tuple[list[RunSpec], dict[str, Any]]:
    for key in sorted(set(raw) - TOP_KEYS):
        problems.append(Problem(key, f"unknown key {key!r}{did_you_mean(key, sorted(TOP_KEYS))}", f"allowed top-level keys: {', '.join(sorted(TOP_KEYS))}"))
    name = raw.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        problems.append(Problem("name", f"must be a non-empty name of letters, digits, '_', '-', '.', got {name!r}", f'e.g. name = "{path.stem}"'))
        name = path.stem
    seeds = raw.get("seeds", [0])
    if not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds):
        problems.append(Problem("seeds", f"must be a non-empty list of integers, got {seeds!r}", "e.g. seeds = [0, 1, 2]"))
        seeds = [0]
    elif len(set(seeds)) != len(seeds):
        problems.append(Problem("seeds", f"has duplicates: {seeds}", "list each seed once"))
    device = raw.get("device", "auto")
    if not isinstance(device, str) or not _DEVICE.match(device):
        problems.append(Problem("device", f"must be auto, cpu, cuda, cuda:N or mps, got {device!r}", 'e.g. device = "auto"'))
    train = _validate(TrainSection, raw.get("train", {}), ["train"], problems)
    probe = _validate(ProbeSection, raw.get("probe", {}), ["probe"], problems)
    summary = _validate(SummarySection, raw.get("summary", {}), ["summary"], problems)
    if isinstance(train, TrainSection):
        _check_schedule(train.eval_every, "train.eval_every", problems)
    data = _data_config(raw.get("data", {}), cat, problems)
    metrics = _metrics_config(raw.get("metrics", {"condensation": {}}), cat, problems)
    base_tricks = _tricks_table(raw.get("tricks", {}), ["tricks"], problems)
    executor = _executor_config(raw.get("executor", {}), cat, problems)
    arms = _arms(raw.get("arms"), base_tricks, problems)
    grid = _grid(raw.get("grid", {}), problems)
    specs: list[RunSpec] = []
    # Go on expanding even when problems were found above, so component problems are reported too;
    # an invalid [train] falls back to defaults here (its own problems are already listed).
    base_train = train.model_dump() if isinstance(train, TrainSection) else TrainSection.model_validate({}).model_dump()
    keys = list(grid)
    for arm in arms:
        for values in itertools.product(*(grid[k] for k in keys)):
            point = dict(zip(keys, values, strict=True))
            config = {
                "model": copy.deepcopy(arm["model"]),
                "tricks": copy.deepcopy(arm["tricks"]),
                "train": {**base_train, **arm.get("train", {})},
                "own_tricks": arm["own_tricks"],
                "data": copy.deepcopy(data),
                "metrics": copy.deepcopy(metrics),
            }
            where = f"arms[{arm['index']}]"
            ok = all(_apply_grid(config, k, v, problems) for k, v in point.items())
            if not ok:
                continue
            before = len(problems)
            resolved = _resolve_components(config, cat, where, point, problems)
            _rekey_grid_problems(problems[before:], where, arm["name"], point)
            if resolved is None or problems:
                continue
            for seed in seeds:
                specs.append(RunSpec(
                    recipe_name=name, recipe_path=str(path.resolve()), arm=arm["name"], grid=point, seed=seed,
                    device=str(device), data=resolved["data"], model=resolved["model"], train=resolved["train"],
                    tricks=resolved["tricks"], metrics=resolved["metrics"], probe=probe.model_dump(),  # type: ignore[union-attr]
                    summary=summary.model_dump(), plugins=plugins,  # type: ignore[union-attr]
                ))  # fmt: skip
    _dedupe_problems(problems)
    return (specs if not problems else []), executor


def _rekey_grid_problems(new: list[Problem], where: str, arm: str, point: dict[str, Any]) -> None:
    """A bad value (or unknown key) that a grid key put there is fixed in [grid]: report it there."""
    suffix = f" (at grid point {point})"
    for problem in new:
        for key in point:
            if problem.key not in (f"{where}.{key}", key):  # arm-level, or [data]/[metrics]/[tricks]-level
                continue
            per_arm = problem.key != key  # a [data]/[metrics]/[tricks] value is the same in every arm
            problem.key = f'grid."{key}"'
            message = problem.message.replace(suffix, "")
            if message.startswith("unknown key"):
                problem.message = f"matches nothing: {message}"
            else:
                problem.message = f"{message} (in arm {arm!r})" if per_arm else message


def _dedupe_problems(problems: list[Problem]) -> None:
    seen, unique = set(), []
    for p in problems:
        if (p.key, p.message) not in seen:
            seen.add((p.key, p.message))
            unique.append(p)
    problems[:] = unique


def _check_schedule(text: Any, key: str, problems: list[Problem]) -> None:
    try:
        parse_schedule(text)
    except ValueError as exc:
        problems.append(Problem(key, str(exc), SCHEDULE_HELP))


def _data_config(data: Any, cat: Catalogue, problems: list[Problem]) -> dict[str, Any]:
    if not isinstance(data, dict):
        problems.append(Problem("data", f"must be a table, got {data!r}", 'write [data] with use = "digits"'))
        return {"use": "digits", "params": {}, "batch_size": 100, "root": "data"}
    use = data.get("use", "digits")
    batch_size = data.get("batch_size", 100)
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        problems.append(Problem("data.batch_size", f"must be an integer >= 1, got {batch_size!r}", "e.g. batch_size = 100"))
    root = data.get("root", "data")
    if not isinstance(root, str):
        problems.append(Problem("data.root", f"must be a path string, got {root!r}", 'e.g. root = "data"'))
    if not isinstance(use, str) or use not in cat.entries["datasets"]:
        msg, fix = cat.unknown_message("datasets", str(use))
        problems.append(Problem("data.use", msg, fix))
    params = {k: v for k, v in data.items() if k not in DATA_CORE_KEYS}
    return {"use": use, "params": params, "batch_size": batch_size, "root": root}


def _metrics_config(metrics: Any, cat: Catalogue, problems: list[Problem]) -> dict[str, dict[str, Any]]:
    if not isinstance(metrics, dict):
        problems.append(Problem("metrics", f"must be a table of metric name -> params, got {metrics!r}", "e.g. [metrics] condensation = {}"))
        return {}
    out = {}
    for name, params in metrics.items():
        if not isinstance(params, dict):
            problems.append(Problem(f"metrics.{name}", f"must be a table of params, got {params!r}", f"e.g. {name} = {{}}"))
            continue
        params = dict(params)
        every = params.pop("every", DEFAULT_METRIC_SCHEDULE)
        _check_schedule(every, f"metrics.{name}.every", problems)
        out[name] = {"every": every, **params}
    return out


def _tricks_table(tricks: Any, prefix: list[Any], problems: list[Problem]) -> dict[str, dict[str, Any]]:
    if not isinstance(tricks, dict):
        problems.append(Problem(_key(prefix), f"must be a table of trick name -> params, got {tricks!r}", "e.g. tricks = { batchnorm = {} }"))
        return {}
    out = {}
    for name, params in tricks.items():
        if not isinstance(params, dict):
            problems.append(Problem(_key([*prefix, name]), f"must be a table of params, got {params!r}", f"e.g. {name} = {{}}"))
            continue
        out[name] = dict(params)
    return out


def _executor_config(executor: Any, cat: Catalogue, problems: list[Problem]) -> dict[str, Any]:
    if not isinstance(executor, dict):
        problems.append(Problem("executor", f"must be a table, got {executor!r}", 'e.g. [executor] use = "local"'))
        return {"use": "local", "params": {}}
    use = executor.get("use", "local")
    params = {k: v for k, v in executor.items() if k != "use"}
    if use not in cat.entries["executors"]:
        msg, fix = cat.unknown_message("executors", str(use))
        problems.append(Problem("executor.use", msg, fix))
    else:
        _validate(cat.get("executors", use).params, params, ["executor"], problems)
    return {"use": use, "params": params}


def _arms(arms: Any, base_tricks: dict[str, dict[str, Any]], problems: list[Problem]) -> list[dict[str, Any]]:
    if not isinstance(arms, list) or not arms:
        problems.append(Problem("arms", "no arms: a recipe compares at least one arm", 'add [[arms]] with name = "..." and model = { use = "mlp" }'))
        return []
    out, names = [], set()
    for i, arm in enumerate(arms):
        where = f"arms[{i}]"
        if not isinstance(arm, dict):
            problems.append(Problem(where, "must be a table", "write it as [[arms]]"))
            continue
        for key in sorted(set(arm) - ARM_KEYS):
            problems.append(Problem(f"{where}.{key}", f"unknown key {key!r}{did_you_mean(key, sorted(ARM_KEYS))}", f"allowed keys: {', '.join(sorted(ARM_KEYS))}"))
        name = arm.get("name")
        if not isinstance(name, str) or not _NAME.match(name):
            problems.append(Problem(f"{where}.name", f"must be a name of letters, digits, '_', '-', '.', '+', got {name!r}", 'e.g. name = "mlp"'))
        elif name in names:
            problems.append(Problem(f"{where}.name", f"duplicate arm name {name!r}", "give every arm its own name"))
        names.add(name)
        model = arm.get("model")
        if not isinstance(model, dict) or "use" not in model:
            problems.append(Problem(f"{where}.model", f"must be a table with 'use', got {model!r}", 'e.g. model = { use = "mlp", depth = 10 }'))
            continue
        tricks = {**copy.deepcopy(base_tricks)}
        own = _tricks_table(arm.get("tricks", {}), [where, "tricks"], problems)
        for tname, params in own.items():
            tricks[tname] = {**tricks.get(tname, {}), **params}
        train = arm.get("train", {})
        if not isinstance(train, dict):
            problems.append(Problem(f"{where}.train", f"must be a table, got {train!r}", "e.g. train = { lr = 0.1 }"))
            train = {}
        _validate(TrainSection, train, [where, "train"], problems)
        out.append({"index": i, "name": name, "model": dict(model), "tricks": tricks, "train": train, "own_tricks": {t: sorted(p) for t, p in own.items()}})
    return out


def _grid(grid: Any, problems: list[Problem]) -> dict[str, list[Any]]:
    if not isinstance(grid, dict):
        problems.append(Problem("grid", f"must be a table of dotted key -> list of values, got {_toml(grid)}", 'e.g. [grid] then "tricks.init.scale" = [0.5, 1.0]'))
        return {}
    out = {}
    for key, values in grid.items():
        if not isinstance(values, list) or not values:
            problems.append(Problem(f'grid."{key}"', f"must be a non-empty list of values, got {values!r}", f'e.g. "{key}" = [1, 2]'))
            continue
        out[key] = values
    return out


GRID_SECTIONS = ("model", "tricks", "train", "data", "metrics")


def _apply_grid(config: dict[str, Any], key: str, value: Any, problems: list[Problem]) -> bool:
    parts = key.split(".")
    where = f'grid."{key}"'
    if parts[0] not in GRID_SECTIONS or len(parts) < 2:
        problems.append(Problem(where, "matches nothing", f"a grid key starts with one of {', '.join(GRID_SECTIONS)}, e.g. \"model.depth\""))
        return False
    node = config
    for i, part in enumerate(parts[:-1]):
        if not isinstance(node, dict) or part not in node:
            have = sorted(node) if isinstance(node, dict) else []
            fix = f"keys there: {', '.join(have) or '(none)'}"
            if parts[0] == "tricks" and i == 1:  # varying a trick's parameter needs the trick switched on
                fix = f"add {part} = {{}} to [tricks] or to the arm's tricks, so the grid has a trick to vary; {fix}"
            problems.append(Problem(where, f"matches nothing: no {'.'.join(parts[: i + 1])!r} in this arm{did_you_mean(part, have)}", fix))
            return False
        node = node[part]
    if parts[0] == "data" and len(parts) == 2 and parts[-1] not in DATA_CORE_KEYS:
        node = node["params"]  # "data.dim" is a dataset parameter, like dim in [data]
    node[parts[-1]] = value
    return True


def _resolve_components(config: dict[str, Any], cat: Catalogue, where: str, point: dict[str, Any], problems: list[Problem]) -> dict[str, Any] | None:
    """Validate every component's params; return plain dicts of validated params (defaults filled in)."""
    suffix = f" (at grid point {point})" if point else ""

    def check(kind: str, name: str, params: dict[str, Any], key: list[Any], name_key: list[Any]) -> dict[str, Any] | None:
        if not isinstance(name, str) or name not in cat.entries[kind]:
            msg, fix = cat.unknown_message(kind, str(name))
            problems.append(Problem(_key(name_key), msg + suffix, fix))
            return None
        before = len(problems)
        model = _validate(cat.get(kind, name).params, params, key, problems)
        for p in problems[before:]:
            p.message += suffix
        return model.model_dump(mode="json") if model is not None else None

    model_cfg = dict(config["model"])
    use = model_cfg.pop("use")
    model_params = check("models", use, model_cfg, [where, "model"], [where, "model", "use"])
    tricks = {}
    for tname, params in config["tricks"].items():
        before = len(problems)
        tricks[tname] = check("tricks", tname, params, [where, "tricks", tname], [where, "tricks", tname])
        _blame_recipe_tricks(problems[before:], f"{where}.tricks.{tname}", config["own_tricks"].get(tname))
    metrics = {}
    for mname, params in config["metrics"].items():
        params = dict(params)
        every = params.pop("every")
        checked = check("metrics", mname, params, ["metrics", mname], ["metrics", mname])
        metrics[mname] = {"every": every, "params": checked}
    data = config["data"]
    data_params = check("datasets", data["use"], data["params"], ["data"], ["data", "use"])
    train = _validate(TrainSection, config["train"], [where, "train"], problems)
    if model_params is None or data_params is None or train is None or any(v is None for v in tricks.values()):
        return None
    _check_model_overrides(use, model_params, tricks, cat, where, problems)
    return {
        "model": {"use": use, "params": model_params},
        "tricks": tricks,
        "metrics": metrics,
        "data": {**data, "params": data_params},
        "train": train.model_dump(),  # type: ignore[union-attr]
    }


def _blame_recipe_tricks(new: list[Problem], arm_key: str, own: list[str] | None) -> None:
    """Report a problem with a value from the recipe's [tricks] once, at tricks.<name>, not under every arm."""
    for problem in new:
        rest = problem.key[len(arm_key):]
        field = re.split(r"[.\[]", rest.lstrip("."))[0]
        if problem.key.startswith(arm_key) and (own is None or (field and field not in own)):
            problem.key = arm_key.split(".", 1)[1] + rest


def _check_model_overrides(model: str, params: dict[str, Any], tricks: dict[str, Any], cat: Catalogue, where: str, problems: list[Problem]) -> None:
    """Ask each trick for its model overrides now, so a trick the model cannot take fails validation."""
    entry = cat.get("models", model)
    for tname, tparams in tricks.items():
        trick_entry = cat.get("tricks", tname)
        try:
            obj = trick_entry.factory(trick_entry.params.model_validate(tparams))
        except Exception as exc:  # a broken trick class is its plugin's fault: name it
            problems.append(Problem(f"{where}.tricks.{tname}", f"trick {tname!r} of plugin {trick_entry.plugin!r} failed to start: {type(exc).__name__}: {exc}", "fix or update that plugin"))
            continue
        hook = getattr(obj, "model_overrides", None)
        if hook is None:
            continue
        try:
            overrides = hook(run=None)
        except Exception:  # needs the live run: checked again when the run starts
            continue
        for key in overrides or {}:
            if key not in entry.params.model_fields:
                problems.append(Problem(
                    f"{where}.tricks.{tname}", f"trick {tname!r} sets model parameter {key!r}, which model {model!r} does not have",
                    f"remove the trick from this arm or use a model with '{key}' (see `condensekit list models`)",
                ))  # fmt: skip

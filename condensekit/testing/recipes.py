"""Recipes as dicts, and tiny runs of them, for tests: :func:`tiny_recipe` (a small shipped ``mlp`` on the
shipped ``synthetic`` data, by default), :func:`write_recipe`, :func:`run_tiny`."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from condensekit.text import toml_text


def _without_none(value: Any) -> Any:
    """TOML has no null: a None value is left out, which gives the parameter its default."""
    if isinstance(value, Mapping):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_without_none(v) for v in value]
    return value


def write_recipe(recipe: Mapping[str, Any], path: str | Path) -> Path:
    """Write a recipe dict as a TOML file (local ``plugins`` paths are made absolute; None values are left
    out)."""
    path = Path(path)
    data = _without_none(dict(recipe))
    if "plugins" in data:
        data["plugins"] = [str(Path(p).resolve()) for p in data["plugins"]]
    path.write_text(
        "".join(f"{toml_text(str(k))} = {toml_text(v)}\n" for k, v in data.items()), encoding="utf-8"
    )
    return path


def tiny_recipe(
    *,
    model: str = "mlp",
    model_params: Mapping[str, Any] | None = None,
    data: str = "synthetic",
    data_params: Mapping[str, Any] | None = None,
    tricks: Mapping[str, Any] | None = None,
    metrics: Mapping[str, Any] | None = None,
    steps: int = 3,
) -> dict[str, Any]:
    """A one-arm, one-seed recipe dict on tiny shapes, for tests. The defaults train in well under a
    second."""
    if data == "synthetic" and data_params is None:
        data_params = {"num_classes": 3, "dim": 8, "train_per_class": 16, "test_per_class": 4}
    if model == "mlp" and model_params is None:
        model_params = {"depth": 3, "width": 16}
    return {
        "name": "tiny",
        "seeds": [0],
        "device": "cpu",
        "data": {"use": data, "batch_size": 16, **(data_params or {})},
        "train": {"steps": steps, "lr": 0.05, "eval_every": f"at:0,{steps}"},
        "probe": {"per_class": 4},
        "metrics": dict(metrics or {}),
        "arms": [
            {"name": "tiny", "model": {"use": model, **(model_params or {})}, "tricks": dict(tricks or {})}
        ],
    }


@dataclass
class RunResult:
    """One finished run of a tiny recipe."""

    run_dir: Path
    status: str
    summary: dict[str, Any]
    error: str = ""

    @property
    def scalars(self) -> list[dict[str, Any]]:
        """The rows of the run's ``metrics.jsonl`` (``{"step": n, tag: value, ...}``)."""
        from condensekit.output import read_metrics

        return read_metrics(self.run_dir)

    def tags(self) -> set[str]:
        """Every scalar tag the run logged."""
        return {k for row in self.scalars for k in row if k != "step"}


@dataclass
class TinyRun:
    """What :func:`run_tiny` (and the ``tiny_run`` fixture) returns."""

    out_dir: Path
    recipe_path: Path
    runs: list[RunResult] = field(default_factory=list)

    @property
    def summary(self) -> dict[str, Any]:
        """The summary of the first run (most tiny recipes have exactly one)."""
        return self.runs[0].summary

    @property
    def run_dirs(self) -> list[Path]:
        return [r.run_dir for r in self.runs]


def run_tiny(
    recipe: Mapping[str, Any] | str | Path,
    out_dir: str | Path,
    *,
    steps: int | None = 3,
    overrides: list[str] | tuple[str, ...] = (),
    check: bool = True,
) -> TinyRun:
    """Run every run of a recipe in this process, on the CPU, for a few steps, into ``out_dir``: for tests.

    Unlike :func:`condensekit.run_recipe` (``condensekit run`` as a function), it reruns finished runs, writes
    no report, and fails the test with the run's traceback when a run does not end ``ok``.

    Args:
        recipe: a recipe dict (written to ``out_dir/recipe.toml``) or the path of a TOML recipe.
        out_dir: output root; runs go below ``out_dir/runs``.
        steps: ``train.steps`` override (None keeps the recipe's). The device is always the CPU.
        overrides: more ``--set`` style overrides, e.g. ``["seeds=[0]"]``.
        check: raise ``AssertionError`` (with the run's traceback) when a run did not finish ``ok``.
    """
    from condensekit.api import open_recipe
    from condensekit.executing import execute_spec
    from condensekit.output import read_run_json
    from condensekit.recipe import RecipeSource

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = write_recipe(recipe, out_dir / "recipe.toml") if isinstance(recipe, Mapping) else Path(recipe)
    sets = ["device=cpu", *([f"train.steps={steps}"] if steps is not None else []), *overrides]
    # A dict comes from the test's own code: open it as such, so its plugin files may lie anywhere.
    source = RecipeSource.from_dict(recipe, folder=out_dir) if isinstance(recipe, Mapping) else path
    # a fresh plugin manager: a test may have installed or disabled plugins
    loaded, pm = open_recipe(source, sets)
    result = TinyRun(out_dir=out_dir, recipe_path=path)
    for spec in loaded.specs:
        outcome = execute_spec(spec, out_dir / "runs", force=True, plugin_manager=pm)
        run_dir = out_dir / "runs" / spec.rel_dir
        error = (read_run_json(run_dir) or {}).get("error", "") or outcome.error
        result.runs.append(RunResult(run_dir, outcome.status, outcome.summary, error))
        if check and outcome.status != "ok":
            raise AssertionError(f"run {spec.rel_dir} ended {outcome.status!r}:\n{error}")
    return result


def run_recipe(*args: Any, **kwargs: Any) -> TinyRun:
    """Deprecated: the old name of :func:`run_tiny`, easily mistaken for :func:`condensekit.run_recipe`."""
    warnings.warn(
        "condensekit.testing.run_recipe is now condensekit.testing.run_tiny (condensekit.run_recipe is "
        "`condensekit run` as a function); the old name will be removed in the next release",
        DeprecationWarning,
        stacklevel=2,
    )
    return run_tiny(*args, **kwargs)

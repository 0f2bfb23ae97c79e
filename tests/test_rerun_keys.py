"""condensekit.reuse: which changes of the spec redo a finished run, generated from the spec's own fields.

Every key of a run's spec changes what the run computes (train, model, data params, tricks, metrics and their
schedules, probe, summary thresholds and options, seed, ...), except the keys that say where or how it runs
(:data:`~condensekit.reuse.EXECUTION_KEYS`: ``recipe_path``, ``plugins``, ``device``, ``data.root``). The
keys are read off ``RunSpec`` itself, so a field added to the spec later is covered without editing this
file; and the executor, ``--jobs``, threads and ``--out``, which are not in the spec, never redo a run.
"""

from __future__ import annotations

import copy
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hostile import cli, write
from pydantic import BaseModel
from report_rows import summary

from condensekit.api import open_recipe
from condensekit.reuse import EXECUTION_KEYS, kept_run
from condensekit.spec import RunSpec
from condensekit.testing import tiny_recipe

# A recipe that sets a value in every section, so that every field of the spec has a leaf to change.
RECIPE = {
    **tiny_recipe(
        tricks={"init": {"scheme": "xavier_normal", "scale": 1.0}, "momentum": {"beta": 0.5}},
        metrics={"condensation": {"every": "every:2"}, "common_direction": {"every": "at:0,3"}},
    ),
    "grid": {"train.lr": [0.05, 0.1]},
    "summary": {"series": "condensation/feat_inter", "reference": "tiny"},
}
RECIPE["train"] = {**RECIPE["train"], "test_every": "every:2"}


def _leaves(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    """Every value of a stored spec with its path: dict entries are walked, anything else is a leaf."""
    if isinstance(value, dict) and value:
        for key, item in value.items():
            yield from _leaves(item, (*path, key))
    else:
        yield path, value


def _field_paths(model: type[BaseModel], path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """The path of every field of a spec model, into the sections that are models themselves."""
    for name, info in model.model_fields.items():
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from _field_paths(annotation, (*path, name))
        else:
            yield (*path, name)


def _other_values(value: Any) -> list[Any]:
    """Values of the same kind as ``value`` but different, most plausible first."""
    if isinstance(value, bool):
        return [not value]
    if isinstance(value, int):
        return [value + 1, value - 1]
    if isinstance(value, float):
        return [value * 0.5, value * 2 + 1, value + 0.01, value - 0.01, 0.5]
    if isinstance(value, str):
        return (
            ["at:0,1", "every:3", f"{value}_other", "other"] if ":" in value else [f"{value}_other", "auto"]
        )
    if isinstance(value, list):
        return [[*value, value[0]] if value else ["./x.py"], value[:-1]]
    if value is None:
        return ["other", 0.5, 1]
    return [{"other": 1}]


def _changed(stored: dict, path: tuple[Any, ...]) -> dict:
    """``stored`` with the value at ``path`` changed to the first other value the spec still accepts."""
    node = stored
    for key in path[:-1]:
        node = node[key]
    for other in _other_values(node[path[-1]]):
        if other == node[path[-1]]:
            continue
        candidate = copy.deepcopy(stored)
        target = candidate
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = other
        try:
            RunSpec.from_dict(candidate)
        except ValueError:
            continue
        return candidate
    raise AssertionError(f"no other valid value for {'.'.join(map(str, path))}")


def _finished(run_dir: Path, stored: dict) -> Path:
    run_dir.mkdir(parents=True, exist_ok=True)
    info = {"status": "ok", "spec": stored, "outputs": {}, "summary": summary().to_dict()}
    (run_dir / "run.json").write_text(json.dumps(info))
    return run_dir


WHERE_OR_HOW = {"recipe_path", "plugins", "device", "data.root"}
"""The only spec keys that may change without redoing a run (stated here, not read from the code tested)."""

SPEC = open_recipe(RECIPE, check_machine=False)[0].specs[0]
LEAVES = [path for path, _ in _leaves(SPEC.to_dict())]
EXECUTION = [path for path in LEAVES if ".".join(map(str, path)) in WHERE_OR_HOW]
RESULTS = [path for path in LEAVES if path not in EXECUTION]


def test_the_keys_that_never_redo_a_run_are_the_where_and_how_keys_alone() -> None:
    assert EXECUTION_KEYS == WHERE_OR_HOW
    assert {".".join(map(str, path)) for path in EXECUTION} == WHERE_OR_HOW


def test_the_recipe_reaches_every_field_of_the_spec() -> None:
    """So that the two tests below cover every section: a new field of the spec gets a leaf here."""
    for field in _field_paths(RunSpec):
        assert any(path[: len(field)] == field for path in LEAVES), f"no value at {'.'.join(field)}"
    sections = {path[0] for path in RESULTS}
    assert {
        "probe",
        "tricks",
        "train",
        "model",
        "metrics",
        "thresholds",
        "summary_options",
        "data",
        "seed",
    } <= sections


@pytest.mark.parametrize("path", RESULTS, ids=lambda path: ".".join(map(str, path)))
def test_changing_a_results_relevant_key_redoes_the_finished_run_naming_the_key(
    tmp_path: Path, path: tuple[Any, ...]
) -> None:
    run_dir = _finished(tmp_path / "run", _changed(SPEC.to_dict(), path))
    info, why = kept_run(run_dir, SPEC)
    assert info is None and why.startswith("changed since it finished: ")
    assert ".".join(map(str, path)) in why


@pytest.mark.parametrize("path", EXECUTION, ids=lambda path: ".".join(map(str, path)))
def test_changing_where_or_how_a_run_executes_keeps_the_finished_run(
    tmp_path: Path, path: tuple[Any, ...]
) -> None:
    info, why = kept_run(_finished(tmp_path / "run", _changed(SPEC.to_dict(), path)), SPEC)
    assert info is not None and why == ""


def test_the_executor_jobs_threads_out_and_the_recipes_place_never_redo_a_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recipe = write(tmp_path, seeds=(0, 1))
    code, _, err = cli(capsys, "run", recipe, "--out", tmp_path / "out")
    assert code == 0, err
    shutil.move(tmp_path / "out", tmp_path / "moved")
    moved = tmp_path / "elsewhere" / "h.toml"
    moved.parent.mkdir()
    shutil.copy(recipe, moved)
    args = [
        "--out",
        tmp_path / "moved",
        "--jobs",
        "2",
        "--set",
        "executor.threads=2",
        "--set",
        'device="auto"',
    ]
    code, _, err = cli(capsys, "run", moved, *args)
    assert code == 0 and "2 skipped" in err and "rerunning" not in err, err

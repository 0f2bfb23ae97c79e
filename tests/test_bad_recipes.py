"""Bad recipes: every kind gives exit code 2 and one clear message (file, key, fix), no traceback.

Each case is checked through ``condensekit validate`` and ``condensekit run`` (in-process, through
``condensekit.cli.main`` with an argv, as the console script calls it). ``run`` gets an output folder that
already holds a finished-looking run, which must be left exactly as it was.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest

from condensekit.cli import main

BASE: dict[str, Any] = {
    "name": "tiny",
    "seeds": [0],
    "device": "cpu",
    "data": {"use": "synthetic", "dim": 6, "num_classes": 3, "train_per_class": 10, "test_per_class": 5},
    "train": {"steps": 3, "eval_every": "every:1"},
    "metrics": {"condensation": {"every": "every:1"}},
    "tricks": {"init": {"scheme": "xavier_normal"}},
    "arms": [
        {"name": "mlp", "model": {"use": "mlp", "depth": 3, "width": 8}},
        {"name": "resmlp", "model": {"use": "resmlp", "depth": 3, "width": 8}},
    ],
}

RAISING_PLUGIN = """\
import condensekit


def _read_settings():
    raise RuntimeError("settings file missing")


_read_settings()
"""

NO_NORM_PLUGIN = """\
from pydantic import BaseModel, ConfigDict, Field

import condensekit


class LinearParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    scale: float = Field(1.0, gt=0, description="unused")


def build_linear(params, info):
    import math

    import torch

    return torch.nn.Sequential(
        torch.nn.Flatten(), torch.nn.Linear(math.prod(info.input_shape), info.num_classes)
    )


@condensekit.hookimpl
def register_models(register):
    register("linear_nonorm", build_linear, params=LinearParams, summary="a model without a norm parameter")
"""


# ----------------------------------------------------------------------------------------------
# A tiny TOML writer, so each case states its change as data
# ----------------------------------------------------------------------------------------------


def _key(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else json.dumps(name)


def _inline(value: Any) -> str:
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_inline(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(_inline(v) for v in value) + "]"
    return json.dumps(value)  # str, int, float, bool are written the same in TOML


def to_toml(recipe: dict[str, Any]) -> str:
    """Scalars and inline values first, then [tables], then [[arrays of tables]]."""
    lines, tables = [], []
    for key, value in recipe.items():
        if isinstance(value, dict):
            tables.append(f"\n[{key}]\n" + "".join(f"{_key(k)} = {_inline(v)}\n" for k, v in value.items()))
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            for item in value:
                tables.append(
                    f"\n[[{key}]]\n" + "".join(f"{_key(k)} = {_inline(v)}\n" for k, v in item.items())
                )
        else:
            lines.append(f"{_key(key)} = {_inline(value)}\n")
    return "".join(lines) + "".join(tables)


def changed(**edits: Any) -> dict[str, Any]:
    """BASE with edits; keys are paths split by ``__`` (``train__steps``, ``arms__1__model__depth``); None
    deletes."""
    recipe = json.loads(json.dumps(BASE))
    for path, value in edits.items():
        *parents, last = path.split("__")
        node: Any = recipe
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        last_key: Any = int(last) if isinstance(node, list) else last
        if value is None:
            del node[last_key]
        else:
            node[last_key] = value
    return recipe


# ----------------------------------------------------------------------------------------------
# Cases: (id, recipe dict or raw text, --set items, expected key, words the message must contain)
# ----------------------------------------------------------------------------------------------

CASES: list[tuple[str, Any, list[str], str, list[str]]] = [
    ("bad_toml", 'name = "tiny"\n[train\nsteps = 3\n', [], "line 2", ["invalid TOML", "[train"]),
    (
        "bad_toml_unclosed",
        'name = "tiny"\nseeds = [0, 1\n',
        [],
        "end of file",
        ["invalid TOML", "close the last ["],
    ),
    (
        "bad_toml_value",
        'name = "tiny"\nseeds = [0]\ndevice = cpu\n',
        [],
        "line 3",
        ["invalid TOML", "device = cpu", "quotes"],
    ),
    (
        "unknown_top_key",
        changed(trian={"steps": 3}),
        [],
        "trian",
        ["did you mean 'train'", "allowed top-level keys"],
    ),
    (
        "unknown_train_key",
        changed(train__stesp=3),
        [],
        "train.stesp",
        ["did you mean 'steps'", "allowed keys"],
    ),
    (
        "unknown_arm_key",
        changed(arms__0__modle={"use": "mlp"}),
        [],
        "arms[0].modle",
        ["did you mean 'model'"],
    ),
    (
        "unknown_model",
        changed(arms__0__model__use="mpl"),
        [],
        "arms[0].model.use",
        ["unknown model 'mpl'", "did you mean 'mlp'", "available:"],
    ),
    (
        "unknown_model_param",
        changed(arms__0__model__widht=8),
        [],
        "arms[0].model.widht",
        ["did you mean 'width'"],
    ),
    (
        "unknown_dataset",
        changed(data={"use": "synthetc"}),
        [],
        "data.use",
        ["did you mean 'synthetic'", "available:"],
    ),
    ("unknown_dataset_param", changed(data__dims=6), [], "data.dims", ["did you mean 'dim'"]),
    (
        "unknown_trick",
        changed(tricks={"batchnrom": {}}),
        [],
        "tricks.batchnrom",
        ["did you mean 'batchnorm'", "available:"],
    ),
    (
        "unknown_arm_trick",
        changed(arms__1__tricks={"momentm": {}}),
        [],
        "arms[1].tricks.momentm",
        ["did you mean 'momentum'"],
    ),
    (
        "unknown_metric",
        changed(metrics={"condensaton": {}}),
        [],
        "metrics.condensaton",
        ["did you mean 'condensation'"],
    ),
    ("unknown_executor", changed(executor={"use": "locl"}), [], "executor.use", ["did you mean 'local'"]),
    (
        "wrong_type_int",
        changed(train__steps="ten"),
        [],
        "train.steps",
        ["must be a whole number", '"ten"', "e.g. steps ="],
    ),
    (
        "wrong_type_float",
        changed(arms__0__model__width=1.5),
        [],
        "arms[0].model.width",
        ["must be a whole number", "1.5"],
    ),
    (
        "wrong_type_number",
        changed(tricks__init__scale="big"),
        [],
        "tricks.init.scale",
        ["must be a number", "e.g. scale = 1.0"],
    ),
    (
        "wrong_type_bool",
        changed(arms__0__model__bias=[1]),
        [],
        "arms[0].model.bias",
        ["must be true or false"],
    ),
    ("wrong_type_table", changed(train=5), [], "train", ["must be a table"]),
    ("model_not_table", changed(arms__0__model="mlp"), [], "arms[0].model", ["must be a table with 'use'"]),
    (
        "bad_choice",
        changed(tricks__init__scheme="xavier"),
        [],
        "tricks.init.scheme",
        ["must be one of", "xavier_normal"],
    ),
    (
        "out_of_range_depth",
        changed(arms__1__model__depth=1),
        [],
        "arms[1].model.depth",
        ["must be >= 3", "got 1"],
    ),
    ("out_of_range_lr", changed(train__lr=0), [], "train.lr", ["must be > 0"]),
    ("out_of_range_batch", changed(data__batch_size=0), [], "data.batch_size", [">= 1"]),
    ("schedule_log0", changed(train__eval_every="log:0"), [], "train.eval_every", ["'log:0'", "every:N"]),
    (
        "schedule_every_x",
        changed(metrics__condensation__every="every:x"),
        [],
        "metrics.condensation.every",
        ["'every:x'", "log:N"],
    ),
    (
        "schedule_word",
        changed(metrics__condensation__every="sometimes"),
        [],
        "metrics.condensation.every",
        ["'sometimes'", "at:0,10,100"],
    ),
    (
        "schedule_not_string",
        changed(metrics__condensation__every=5),
        [],
        "metrics.condensation.every",
        ["must be a string"],
    ),
    ("empty_arms", changed(arms=[]), [], "arms", ["no arms", "[[arms]]"]),
    ("missing_arms", changed(arms=None), [], "arms", ["no arms"]),
    ("duplicate_arm", changed(arms__1__name="mlp"), [], "arms[1].name", ["duplicate arm name 'mlp'"]),
    ("bad_arm_name", changed(arms__1__name="a/b"), [], "arms[1].name", ["letters, digits"]),
    ("bad_recipe_name", changed(name=""), [], "name", ["e.g. name ="]),
    (
        "grid_section_nothing",
        changed(grid={"foo.bar": [1, 2]}),
        [],
        'grid."foo.bar"',
        ["matches nothing", "model.depth"],
    ),
    (
        "grid_param_nothing",
        changed(grid={"model.dpth": [3, 4]}),
        [],
        'grid."model.dpth"',
        ["matches nothing", "did you mean 'depth'"],
    ),
    (
        "grid_trick_absent",
        changed(grid={"tricks.momentum.beta": [0.9]}),
        [],
        'grid."tricks.momentum.beta"',
        ["matches nothing", "add momentum = {}"],
    ),
    ("grid_empty_list", changed(grid={"model.depth": []}), [], 'grid."model.depth"', ["non-empty list"]),
    ("grid_not_table", changed(grid=[1]), [], "grid", ["must be a table"]),
    (
        "grid_bad_value",
        changed(grid={"model.depth": [3, 2]}),
        [],
        'grid."model.depth"',
        ["must be >= 3, got 2", "arm 'resmlp'"],
    ),
    (
        "plugin_missing",
        changed(plugins=["./nowhere.py"]),
        [],
        "plugins[0]",
        ["not found", "nowhere.py", "relative to the recipe"],
    ),
    (
        "plugin_raises",
        changed(plugins=["./raising.py"]),
        [],
        "plugins[0]",
        ["raising.py", "RuntimeError: settings file missing", "(line 5)"],
    ),
    ("plugins_not_list", changed(plugins="./x.py"), [], "plugins", ["must be a list"]),
    (
        "trick_needs_norm",
        changed(
            plugins=["./nonorm.py"],
            arms__0__model={"use": "linear_nonorm"},
            arms__0__tricks={"batchnorm": {}},
        ),
        [],
        "arms[0].tricks.batchnorm",
        ["'norm'", "'linear_nonorm' does not have", "remove the trick"],
    ),
    (
        "summary_reference_no_arm",
        changed(summary={"reference": "mpl"}),
        [],
        "summary.reference",
        ["names no arm", "'mpl'", "arms: mlp, resmlp"],
    ),
    (
        "summary_unknown_key",
        changed(summary={"peak": 0.9}),
        [],
        "summary.peak",
        ["unknown key", "allowed keys"],
    ),
    ("bad_device", changed(device="gpu"), [], "device", ["'gpu'", "cuda"]),
    ("bad_device_type", changed(device=0), [], "device", ["auto, cpu"]),
    ("seeds_empty", changed(seeds=[]), [], "seeds", ["non-empty list of integers", "e.g. seeds"]),
    ("seeds_float", changed(seeds=[0.5]), [], "seeds", ["integers"]),
    ("seeds_not_list", changed(seeds=3), [], "seeds", ["list"]),
    ("seeds_duplicate", changed(seeds=[1, 1]), [], "seeds", ["duplicates"]),
    ("set_no_equals", BASE, ["train.steps"], "--set train.steps", ["KEY=VALUE", "e.g. --set"]),
    ("set_empty_key", BASE, ["=3"], "--set =3", ["KEY=VALUE"]),
    ("set_bad_path", BASE, ["arms[x].name=a"], "--set arms[x].name=a", ["not a key path"]),
    ("set_double_dot", BASE, ["train..steps=3"], "--set train..steps=3", ["not a key path"]),
    ("set_index_range", BASE, ["arms[7].name=a"], "--set arms[7].name", ["arms has 2 entries", "[7]"]),
    ("set_into_scalar", BASE, ["train.steps.max=3"], "--set train.steps.max", ["not a table"]),
    ("set_unknown_key", BASE, ["train.stpes=3"], "train.stpes", ["did you mean 'steps'"]),
    ("set_bad_value", BASE, ["arms[1].model.depth=1"], "arms[1].model.depth", ["must be >= 3"]),
]


def write_case(folder: Path, recipe: Any) -> Path:
    (folder / "raising.py").write_text(RAISING_PLUGIN)
    (folder / "nonorm.py").write_text(NO_NORM_PLUGIN)
    path = folder / "bad.toml"
    path.write_text(recipe if isinstance(recipe, str) else to_toml(recipe))
    return path


def call(
    argv: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> tuple[int, str, str]:
    """Run ``condensekit ARGV`` in-process; return (exit code, stdout, stderr)."""
    # Installed third-party plugins (another test may be installing some) must not change messages here.
    monkeypatch.setenv("CONDENSEKIT_LOAD_PLUGINS", "")
    monkeypatch.setattr(warnings, "showwarning", warnings.showwarning)  # main() replaces it
    code = main(argv)  # returns the exit code; only the console script exits
    out, err = capsys.readouterr()
    return code, out, err


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {
        str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def existing_runs(folder: Path) -> Path:
    """An output folder holding a finished-looking run of the same recipe name."""
    run_dir = folder / "runs" / "tiny" / "mlp" / "base" / "seed=0"
    run_dir.mkdir(parents=True)
    (run_dir / "run.json").write_text('{"status": "ok"}')
    (folder / "runs" / "tiny" / "summary.csv").write_text("arm,seed,status\nmlp,0,ok\n")
    return folder / "runs"


def problem_lines(err: str, path: Path) -> list[str]:
    return [
        line for line in err.splitlines() if line.replace("condensekit: error: ", "").startswith(f"{path}:")
    ]


def test_base_recipe_is_valid(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every case below is BASE plus one change, so BASE itself must pass.
    path = write_case(tmp_path, BASE)
    code, out, err = call(["validate", str(path)], capsys, monkeypatch)
    assert code == 0, err
    assert "ok, 2 runs" in out


@pytest.mark.parametrize("command", ["validate", "run"])
@pytest.mark.parametrize(
    ("recipe", "overrides", "key", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_recipe_gives_one_clear_message(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    command: str,
    recipe: Any,
    overrides: list[str],
    key: str,
    words: list[str],
) -> None:
    path = write_case(tmp_path, recipe)
    argv = [command, str(path), *(arg for item in overrides for arg in ("--set", item))]
    if command == "run":
        out_root = existing_runs(tmp_path)
        before = snapshot(out_root)
        argv += ["--out", str(out_root)]
    code, out, err = call(argv, capsys, monkeypatch)
    assert code == 2, (out, err)
    assert "Traceback" not in err and "Traceback" not in out
    assert err.startswith("condensekit: error:"), err
    lines = problem_lines(err, path)
    assert len(lines) == 1, f"expected one problem, got:\n{err}"
    assert lines[0].replace("condensekit: error: ", "").startswith(f"{path}: {key}"), lines[0]
    assert "; " in lines[0], f"no fix given: {lines[0]}"  # Problem.render puts the fix after '; '
    for word in words:
        assert word in lines[0], f"{word!r} not in {lines[0]!r}"
    if command == "run":
        assert snapshot(out_root) == before, "a failed run must not touch the output folder"


def test_every_problem_is_reported_at_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    recipe = changed(
        seeds=[],
        device="gpu",
        train__lr=0,
        tricks__init__scheme="xavier",
        arms__1__model__depth=1,
        metrics__condensation__every="sometimes",
        grid={"model.dpth": [3]},
        plugins=["./raising.py"],
    )
    path = write_case(tmp_path, recipe)
    for command in ("validate", "run"):
        code, _, err = call(
            [command, str(path), "--set", "arms[0].model.use=mpl", "--set", "oops"], capsys, monkeypatch
        )
        assert code == 2
        keys = [line.split(": ")[1] for line in problem_lines(err, path)]
        expected = [
            "--set oops",
            "plugins[0]",
            "seeds",
            "device",
            "train.lr",
            "metrics.condensation.every",
            "tricks.init.scheme",
            "arms[0].model.use",
            "arms[1].model.depth",
        ]
        for key in expected:
            assert key in keys, f"{key} missing from:\n{err}"
        assert "Traceback" not in err


def test_unknown_component_names_the_plugin_that_failed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The model may be the one the broken plugin would have registered: say so next to "unknown model".
    path = write_case(tmp_path, changed(plugins=["./raising.py"], arms__0__model={"use": "fancy"}))
    code, _, err = call(["validate", str(path)], capsys, monkeypatch)
    assert code == 2
    line = next(line for line in problem_lines(err, path) if "arms[0].model.use" in line)
    assert "unknown model 'fancy'" in line and "raising.py" in line and "settings file missing" in line


@pytest.mark.parametrize("command", ["validate", "run"])
def test_recipe_path_problems(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    write_case(tmp_path, BASE)
    cases = [
        (tmp_path / "nothere.toml", ["no such recipe file", "check the path"]),
        (tmp_path / "bda.toml", ["no such recipe file", "did you mean 'bad.toml'"]),
        (tmp_path, ["is a folder, not a recipe file", "bad.toml"]),
    ]
    for path, words in cases:
        code, _, err = call([command, str(path)], capsys, monkeypatch)
        assert code == 2, err
        assert err.startswith(f"condensekit: error: {path}: "), err
        assert "Traceback" not in err
        for word in words:
            assert word in err, err


def test_not_utf8(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "binary.toml"
    path.write_bytes(b"\xff\xfe name")
    code, _, err = call(["validate", str(path)], capsys, monkeypatch)
    assert code == 2 and "UTF-8" in err and "Traceback" not in err


def test_console_script_prints_no_traceback(tmp_path: Path) -> None:
    # The real entry point in a fresh process: stderr is the message alone, stdout is empty.
    path = write_case(tmp_path, changed(arms__1__model__depth=1))
    env = {**os.environ, "CONDENSEKIT_LOAD_PLUGINS": ""}
    proc = subprocess.run(
        [sys.executable, "-m", "condensekit", "validate", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert (
        proc.stderr.strip()
        == f"condensekit: error: {path}: arms[1].model.depth: must be >= 3, got 1; use a value >= 3"
    )

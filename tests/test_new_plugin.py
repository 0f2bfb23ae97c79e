"""``condensekit new-plugin``: the package it writes installs, passes its own tests, and works in a recipe."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from condensekit.manager import get_plugin_manager
from condensekit.scaffold import KINDS, PluginNames
from condensekit.testing import check_dataset, check_metric, check_model, check_trick

CHECKS = {"model": check_model, "trick": check_trick, "metric": check_metric, "dataset": check_dataset}


def test_names_follow_the_condensekit_prefix_convention() -> None:
    names = PluginNames.from_name("condensekit-Grad-Noise")
    assert (names.component, names.distribution, names.module, names.camel) == (
        "grad_noise",
        "condensekit-grad-noise",
        "condensekit_grad_noise",
        "GradNoise",
    )


def test_refuses_to_overwrite_an_existing_folder(cli_run: Any, tmp_path: Path) -> None:
    folder = tmp_path / "condensekit-mine"
    folder.mkdir()
    (folder / "keep.txt").write_text("mine")
    code, _, err = cli_run("new-plugin", "mine", "--dir", str(tmp_path))
    assert code == 2 and "already exists" in err and "Traceback" not in err
    assert [p.name for p in folder.iterdir()] == ["keep.txt"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["9lives"], "invalid name"),
        (["momentum", "--kind", "trick"], "already exists (from plugin"),
        (["x", "--kind", "loss"], "Invalid value"),
    ],
)
def test_bad_names_and_kinds_are_user_errors(
    cli_run: Any, tmp_path: Path, args: list[str], message: str
) -> None:
    code, _, err = cli_run("new-plugin", *args, "--dir", str(tmp_path))
    assert code == 2 and message in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("kind", KINDS)
def test_generated_plugin_passes_its_contract_in_process(
    cli_run: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    name = f"gen_{kind}"
    code, out, _ = cli_run("new-plugin", name, "--kind", kind, "--dir", str(tmp_path))
    assert code == 0, out
    folder = tmp_path / f"condensekit-gen-{kind}"
    expected = {
        "pyproject.toml",
        "README.md",
        "example.toml",
        f"condensekit_{name}/__init__.py",
        f"tests/test_{name}.py",
    }
    assert expected <= {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}
    assert (
        f'[project.entry-points.condensekit]\n{name} = "condensekit_{name}"'
        in (folder / "pyproject.toml").read_text()
    )
    monkeypatch.syspath_prepend(str(folder))
    module = importlib.import_module(f"condensekit_{name}")
    monkeypatch.delitem(sys.modules, module.__name__)
    code = f"import sys, condensekit_{name}; print('torch' in sys.modules)"
    # not cwd: tox sets PYTHONSAFEPATH, which keeps cwd off sys.path
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(p for p in (str(folder), os.environ.get("PYTHONPATH", "")) if p),
    }
    imported = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert imported.stdout.strip() == "False", "loading the plugin must not import torch"
    pm = get_plugin_manager()
    pm.register(module, name=f"condensekit_{name}")
    assert name in pm.catalogue.names(f"{kind}s")
    CHECKS[kind](name, pm=pm)


def _combined_recipe(path: Path) -> Path:
    path.write_text(
        'name = "generated"\nseeds = [0]\ndevice = "cpu"\n'
        '[data]\nuse = "e2e_dataset"\nnum_classes = 3\ntrain_per_class = 20\ntest_per_class = 5\n'
        'batch_size = 20\n[train]\nsteps = 4\n[metrics]\ne2e_metric = { every = "every:2" }\n'
        '[[arms]]\nname = "gen"\nmodel = { use = "e2e_model", width = 8 }\n'
        "tricks = { e2e_trick = { strength = 0.001 } }\n",
        encoding="utf-8",
    )
    return path


@pytest.mark.slow
def test_generated_plugins_install_pass_their_own_tests_and_run_in_a_recipe(tmp_path: Path) -> None:
    # One package per kind, installed together into a private site folder put on PYTHONPATH of the
    # subprocesses: the shared environment (and pytest-xdist workers collecting the catalogue) never sees
    # them.
    from condensekit.scaffold import write_plugin

    folders = [write_plugin(f"e2e-{kind}", kind, tmp_path / "src") for kind in KINDS]
    site = tmp_path / "site"
    pip = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "-q",
        "--no-deps",
        "--no-build-isolation",
        "--no-index",
        "--target",
        str(site),
    ]
    subprocess.run([*pip, *map(str, folders)], check=True, capture_output=True, text=True)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]),
        "OMP_NUM_THREADS": "1",
    }
    env.pop("CONDENSEKIT_LOAD_PLUGINS", None)

    tests = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            *(str(f / "tests") for f in folders),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert tests.returncode == 0, tests.stdout[-3000:] + tests.stderr[-3000:]
    assert f"{3 * len(KINDS)} passed" in tests.stdout

    listing = subprocess.run(
        ["condensekit", "plugins"], env=env, capture_output=True, text=True, check=True
    ).stdout
    for kind in KINDS:
        assert f"e2e_{kind}  0.1.0  (package condensekit-e2e-{kind})" in listing

    recipe = _combined_recipe(tmp_path / "generated.toml")
    run = subprocess.run(
        ["condensekit", "run", str(recipe), "--out", str(tmp_path / "out")],
        env=env,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    metrics = (tmp_path / "out/generated/gen/base/seed=0/metrics.jsonl").read_text()
    assert '"e2e_metric/layer1/e2e_metric"' in metrics  # the metric's quantity carries its name
    assert (tmp_path / "out/generated/figures/e2e_metric.png").is_file()  # the template's report= figure

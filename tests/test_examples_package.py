"""The example third-party plugin package under examples/: pip-installed, found through its entry point.

The packages are installed with ``pip install --target`` into this module's temporary folder, and every
check runs condensekit in a subprocess with that folder on ``PYTHONPATH``. That is a real install (pip
builds a wheel and writes the ``.dist-info`` with its entry points), but it never changes the shared
environment, so tests running beside these in other workers never see the extra or the broken plugin.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "condensekit-example"
PUBLIC_API = {"hookimpl", "DataInfo", "DataBundle", "measures"}
COMPONENTS = {
    "models": "funnel_mlp",
    "tricks": "orthogonality",
    "metrics": "feature_spread",
    "datasets": "rings",
}

BROKEN_PYPROJECT = """\
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "condensekit-broken-example-for-tests"
version = "0.0.1"

[project.entry-points.condensekit]
broken_example = "condensekit_broken_example"
"""

BROKEN_MODULE = """\
import condensekit

raise RuntimeError("needs a licence key")


@condensekit.hookimpl
def register_models(register):
    register("broken_model", lambda params, info: None)
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding the installed example package and a package whose import raises."""
    pytest.importorskip("setuptools", reason="--no-build-isolation builds with the environment's setuptools")
    root = tmp_path_factory.mktemp("plugin_site")
    # Build from copies: an in-tree build would write build/ and *.egg-info into examples/.
    example = root / "src" / "condensekit-example"
    shutil.copytree(EXAMPLE, example, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    broken = root / "src" / "broken"
    (broken / "condensekit_broken_example").mkdir(parents=True)
    (broken / "pyproject.toml").write_text(BROKEN_PYPROJECT)
    (broken / "condensekit_broken_example" / "__init__.py").write_text(BROKEN_MODULE)
    target = root / "site"
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--no-deps",
        "--no-build-isolation",
        "--no-index",
        "--disable-pip-version-check",
        "--quiet",
        "--target",
        str(target),
        str(example),
        str(broken),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return target


def condensekit(site: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``condensekit ARGS`` in a fresh process that sees the packages installed in ``site``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("CONDENSEKIT_LOAD_PLUGINS", "CONDENSEKIT_DISABLE_PLUGINS")
    }
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(site), env.get("PYTHONPATH", "")) if p)
    return subprocess.run(
        [sys.executable, "-m", "condensekit", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=300,
    )


def test_package_uses_only_the_public_api() -> None:
    sources = sorted((EXAMPLE / "src").rglob("*.py"))
    assert len(sources) >= 5
    for path in sources:
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    assert alias.name in ("condensekit", "condensekit.measures") or not alias.name.startswith(
                        "condensekit"
                    ), (path, alias.name)
            elif isinstance(node, ast.ImportFrom) and node.module:
                if node.module == "condensekit":
                    assert {a.name for a in node.names} <= PUBLIC_API, (path, [a.name for a in node.names])
                else:
                    assert not node.module.startswith(("condensekit.", "condensekit_plugins")), (
                        path,
                        node.module,
                    )
            elif (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id == "condensekit"
            ):
                assert node.attr in PUBLIC_API, (path, node.attr)


def test_plugins_shows_the_entry_point_and_the_broken_package(site: Path, tmp_path: Path) -> None:
    proc = condensekit(site, tmp_path, "plugins")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    index = next(i for i, line in enumerate(lines) if line.startswith("condensekit_example "))
    assert lines[index].split() == ["condensekit_example", "0.1.0", "(package", "condensekit-example)"]
    assert lines[index + 1].split("hooks:")[1].split(", ") == [
        " register_datasets",
        "register_metrics",
        "register_models",
        "register_tricks",
    ]
    assert any(
        line.startswith("broken_example  FAILED TO LOAD: RuntimeError: needs a licence key") for line in lines
    ), proc.stdout
    assert "condensekit_plugins.models.mlp" in proc.stdout  # the built-ins are still there


def test_list_shows_every_component_and_warns_about_the_broken_package(site: Path, tmp_path: Path) -> None:
    proc = condensekit(site, tmp_path, "list")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    for name in COMPONENTS.values():
        at = next(i for i, line in enumerate(lines) if line.strip().startswith(f"{name}  "))
        assert lines[at + 1].strip() == "[plugin condensekit_example]", lines[at : at + 2]
    assert "min_width: int, >= 1  (default: 8)\n          width of the last hidden layer" in proc.stdout
    assert (
        "strength: float, >= 0  (default: 0.01)\n          weight of the penalty in the training loss"
        in proc.stdout
    )
    assert "  mlp  " in proc.stdout and "  digits  " in proc.stdout
    warning = [line for line in proc.stderr.splitlines() if "warning" in line and "broken_example" in line]
    assert len(warning) == 1 and "needs a licence key" in warning[0], proc.stderr
    assert "Traceback" not in proc.stderr


def test_loading_the_plugin_does_not_import_torch(site: Path, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH", "")) if p),
    }
    code = "import sys, condensekit_example.plugin; print('torch' in sys.modules)"
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"


def test_recipe_using_the_broken_package_names_it(site: Path, tmp_path: Path) -> None:
    recipe = EXAMPLE / "recipe.toml"
    proc = condensekit(site, tmp_path, "validate", str(recipe), "--set", "arms[0].model.use=broken_model")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    error = [line for line in proc.stderr.splitlines() if "arms[0].model.use" in line]
    assert len(error) == 1, proc.stderr
    assert "unknown model 'broken_model'" in error[0]
    assert "broken_example (RuntimeError: needs a licence key)" in error[0]


def read_jsonl(path: Path) -> list[dict[str, float]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.mark.slow
def test_example_recipe_runs_with_all_four_components(site: Path, tmp_path: Path) -> None:
    # The broken package is installed too: it is warned about and skipped, and this recipe does not need it.
    out = tmp_path / "runs"
    args = [
        "--out",
        str(out),
        "--set",
        "train.steps=3",
        "--set",
        "device=cpu",
        "--set",
        "metrics.feature_spread.every=every:1",
    ]
    proc = condensekit(site, tmp_path, "run", str(EXAMPLE / "recipe.toml"), *args)
    assert proc.returncode == 0, proc.stderr
    assert "broken_example" in proc.stderr and "needs a licence key" in proc.stderr
    runs = {arm: out / "example_rings" / arm / "base" / "seed=0" for arm in ("funnel", "funnel+ortho")}
    losses = {}
    for arm, run_dir in runs.items():
        spec = json.loads((run_dir / "run.json").read_text())
        assert spec["status"] == "ok", spec
        rows = read_jsonl(run_dir / "metrics.jsonl")
        keys = {k for row in rows for k in row}
        for quantity in ("erank", "norm", "separation"):
            assert f"feature_spread/layer1/{quantity}" in keys, sorted(keys)
        assert "feature_spread/logits/erank" in keys
        losses[arm] = {int(row["step"]): row["train/loss"] for row in rows if "train/loss" in row}
    # Same seed, same model and data: equal at step 0; the orthogonality loss term changes the path after.
    assert losses["funnel"][0] == losses["funnel+ortho"][0]
    assert losses["funnel"][2] != losses["funnel+ortho"][2]

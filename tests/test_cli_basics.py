"""CLI basics: help without torch, list, plugins, validate output, python -m."""

from __future__ import annotations

import subprocess
import sys


def test_help_does_not_import_torch():
    code = (
        "import sys\n"
        "from condensekit.cli import main\n"
        "assert main(['--help']) == 0\n"
        "assert 'torch' not in sys.modules, 'condensekit --help imported torch'\n"
        "print('no torch')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "no torch" in result.stdout and "run" in result.stdout and "validate" in result.stdout


def test_python_dash_m_runs_the_cli():
    result = subprocess.run(
        [sys.executable, "-m", "condensekit", "--version"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0 and "condensekit" in result.stdout


def test_list_shows_components_with_param_docs(cli_run):
    code, out, _ = cli_run("list", "models")
    assert code == 0
    assert "mlp" in out and "resmlp" in out
    assert "number of linear layers, the classifier included" in out
    code, out, _ = cli_run("list")
    for name in (
        "batchnorm",
        "momentum",
        "init",
        "weight_decay",
        "condensation",
        "common_direction",
        "digits",
        "synthetic",
        "local",
    ):
        assert name in out


def test_plugins_lists_builtins_with_hooks(cli_run):
    code, out, _ = cli_run("plugins")
    assert code == 0
    assert "condensekit_plugins.models.mlp" in out and "register_models" in out
    assert "condensekit.defaults.tensorboard" in out and "log_scalars" in out


def test_shipped_main_recipe_validates(cli_run):
    code, out, _ = cli_run("validate", "recipes/resmlp_vs_mlp.toml")
    assert code == 0 and "10 runs" in out  # 2 arms x 5 seeds

"""Plugin control: allow-list, disable list, tracing, ``condensekit plugins``, and recipes that need a broken
plugin.

Installed plugins are simulated by a ``*.dist-info`` folder with ``entry_points.txt`` on ``sys.path``: that is
exactly what ``importlib.metadata`` reads for a pip-installed package.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytest
from hostile import cli, write

from condensekit.errors import PluginLoadWarning
from condensekit.manager import get_plugin_manager

GOOD = """
import condensekit

@condensekit.hookimpl
def register_tricks(register):
    register("{name}_trick", lambda params: object(), summary="from {name}")
"""


BROKEN = "raise ImportError('needs the frobnicator library')\n"


@pytest.fixture
def installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Install ck_alpha 1.2.3 and ck_beta 0.5 (good) and ck_broken 0.1 (fails to import)."""
    for dist, version, module, text in [
        ("ck-alpha", "1.2.3", "ck_alpha_plugin", GOOD.format(name="alpha")),
        ("ck-beta", "0.5", "ck_beta_plugin", GOOD.format(name="beta")),
        ("ck-broken", "0.1", "ck_broken_plugin", BROKEN),
    ]:
        (tmp_path / f"{module}.py").write_text(text)
        info = tmp_path / f"{dist.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
        (info / "entry_points.txt").write_text(f"[condensekit]\n{dist.replace('-', '_')} = {module}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    for var in ("CONDENSEKIT_LOAD_PLUGINS", "CONDENSEKIT_DISABLE_PLUGINS", "CONDENSEKIT_TRACE_PLUGINS"):
        monkeypatch.delenv(var, raising=False)


def _quiet_pm() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PluginLoadWarning)
        return get_plugin_manager()


def test_installed_plugins_load_and_a_broken_one_is_reported_not_fatal(installed: None) -> None:
    with pytest.warns(PluginLoadWarning, match="ck_broken.*frobnicator"):
        pm = get_plugin_manager()
    assert {"ck_alpha", "ck_beta"} <= {name for name, _ in pm.list_name_plugin()}
    assert pm.origins["ck_alpha"] == ("package ck-alpha", "1.2.3")
    assert "frobnicator" in pm.load_errors["ck_broken"]
    assert {"alpha_trick", "beta_trick", "momentum"} <= set(pm.catalogue.names("tricks"))


def test_allow_list_loads_only_the_named_installed_plugins(
    installed: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONDENSEKIT_LOAD_PLUGINS", "ck_alpha")
    pm = _quiet_pm()
    tricks = set(pm.catalogue.names("tricks"))
    assert "alpha_trick" in tricks and "beta_trick" not in tricks
    assert "momentum" in tricks  # built-ins are always loaded
    assert pm.load_errors == {}  # the broken one was not even imported
    monkeypatch.setenv("CONDENSEKIT_LOAD_PLUGINS", "")
    assert not {"alpha_trick", "beta_trick"} & set(_quiet_pm().catalogue.names("tricks"))


def test_allow_list_typo_is_reported(installed: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONDENSEKIT_LOAD_PLUGINS", "ck_alpah")
    with pytest.warns(PluginLoadWarning, match="ck_alpah"):
        pm = get_plugin_manager()
    assert "not installed" in pm.load_errors["ck_alpah"] and "ck_alpha" in pm.load_errors["ck_alpah"]


def test_disable_list_skips_installed_and_builtin_plugins(
    installed: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "CONDENSEKIT_DISABLE_PLUGINS", "ck_beta, ck_broken,condensekit_plugins.tricks.momentum"
    )
    pm = get_plugin_manager()  # no warning: the broken plugin is never imported
    tricks = set(pm.catalogue.names("tricks"))
    assert "alpha_trick" in tricks and "beta_trick" not in tricks and "momentum" not in tricks
    assert pm.load_errors == {}


def test_trace_prints_each_hook_call_with_its_plugins_and_result(
    installed: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CONDENSEKIT_TRACE_PLUGINS", "1")
    monkeypatch.setenv("CONDENSEKIT_LOAD_PLUGINS", "ck_alpha")
    pm = _quiet_pm()
    pm.catalogue  # noqa: B018 - building the catalogue calls the register_* hooks
    pm.hook.optimizer_overrides(run=None)
    err = capsys.readouterr().err
    assert "[condensekit trace] register_tricks(register) -> ck_alpha" in err
    assert "[condensekit trace] register_models(register) -> condensekit_plugins.models.mlp" in err
    assert "[condensekit trace] optimizer_overrides(run) -> " in err
    monkeypatch.delenv("CONDENSEKIT_TRACE_PLUGINS")
    _quiet_pm().catalogue  # noqa: B018
    assert "[condensekit trace]" not in capsys.readouterr().err


def test_plugins_command_shows_version_origin_hooks_and_load_errors(installed: None, cli_run: Any) -> None:
    code, out, _ = cli_run("plugins")
    assert code == 0
    assert "ck_alpha  1.2.3  (package ck-alpha)\n    hooks: register_tricks" in out
    assert "ck_beta  0.5  (package ck-beta)" in out
    assert "ck_broken  FAILED TO LOAD: ImportError: needs the frobnicator library" in out
    assert "condensekit_plugins.models.mlp  " in out


def test_recipe_using_a_component_of_a_broken_plugin_names_the_plugin_and_its_error(
    installed: None, cli_run: Any, tmp_path: Path
) -> None:
    recipe = tmp_path / "r.toml"
    recipe.write_text(
        'name = "r"\n[tricks]\nbroken_trick = {}\n[[arms]]\nname = "a"\nmodel = { use = "mlp" }\n'
    )
    code, _, err = cli_run("validate", str(recipe))
    assert code == 2 and "Traceback" not in err
    assert "unknown trick 'broken_trick'" in err
    broken = err.split("failed to load")[-1]
    assert "ck_broken" in broken and "ImportError: needs the frobnicator library" in broken


def test_a_plugin_failing_inside_its_register_hook_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plugin = tmp_path / "half.py"
    plugin.write_text(
        "import condensekit\n\n@condensekit.hookimpl\n"
        "def register_metrics(register):\n    raise KeyError('half-written')\n"
    )
    pm = get_plugin_manager([plugin])
    with pytest.warns(PluginLoadWarning, match="half-written"):
        names = pm.catalogue.names("metrics")
    assert "condensation" in names
    message, fix = pm.catalogue.unknown_message("metrics", "half_metric")
    assert str(plugin) in fix and "KeyError in register_metrics" in fix


@pytest.mark.hostile
def test_no_optimizer_is_said_at_start_up(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONDENSEKIT_DISABLE_PLUGINS", "condensekit.defaults.optimizer")
    for args in (["validate", write(tmp_path)], ["run", write(tmp_path), "--out", tmp_path / "out"]):
        code, _, err = cli(capsys, *args)
        assert (
            code == 2 and "no plugin provides an optimizer" in err and "condensekit.defaults.optimizer" in err
        )
        assert "zero_grad" not in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()  # nothing ran


@pytest.mark.hostile
def test_no_jsonl_writer_is_a_warning_naming_what_the_report_loses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONDENSEKIT_DISABLE_PLUGINS", "condensekit.defaults.jsonl")
    code, _, err = cli(capsys, "validate", write(tmp_path))
    assert (
        code == 0
        and "warning: no metrics.jsonl will be written" in err
        and "CONDENSEKIT_DISABLE_PLUGINS" in err
    )

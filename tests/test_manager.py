"""One plugin manager per process: ``condensekit run`` builds one manager and one catalogue, whatever the
recipe."""

from __future__ import annotations

from pathlib import Path

import pytest

from condensekit import manager

LOCAL = """
import condensekit

@condensekit.hookimpl
def collect_metrics(run, probe):
    return {"probe_size": float(len(probe.labels))}
"""


@pytest.mark.parametrize("with_local_plugin", [False, True])
def test_a_run_builds_one_manager_and_one_catalogue(
    tmp_path: Path, cli_run, monkeypatch: pytest.MonkeyPatch, with_local_plugin: bool
) -> None:
    calls = {"managers": 0, "catalogues": 0}
    real_manager, real_catalogue = manager.get_plugin_manager, manager.build_catalogue

    def counting_manager(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls["managers"] += 1
        return real_manager(*args, **kwargs)

    def counting_catalogue(pm):  # type: ignore[no-untyped-def]
        calls["catalogues"] += 1
        return real_catalogue(pm)

    monkeypatch.setattr(manager, "get_plugin_manager", counting_manager)
    monkeypatch.setattr(manager, "build_catalogue", counting_catalogue)
    recipe = (
        (Path(__file__).parent / "golden" / "flat.toml")
        .read_text()
        .replace("seeds = [0, 1]", "seeds = [0]")
        .replace("steps = 20", "steps = 3")
    )
    if with_local_plugin:
        (tmp_path / "local.py").write_text(LOCAL)
        recipe = 'plugins = ["local.py"]\n' + recipe
    path = tmp_path / "r.toml"
    path.write_text(recipe)
    code, _, err = cli_run("run", str(path), "--out", str(tmp_path / "runs"))
    assert code == 0, err
    assert calls == {"managers": 1, "catalogues": 1}
    if with_local_plugin:  # the local plugin was part of that one manager
        assert any(
            "local.py/probe_size" in line
            for line in (tmp_path / "runs").rglob("metrics.jsonl").__next__().read_text().splitlines()
        )

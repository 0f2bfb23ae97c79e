"""The ray executor on a real local Ray cluster (2 CPUs, started once for this module)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from executor_grid import PLUGIN, assert_same_runs, load_specs, run_sequential, snapshot, write_recipe

from condensekit.errors import CondensekitError
from condensekit.executing import ExecContext
from condensekit_plugins.executors.ray import RayExecutor, RayParams

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def ray_cluster() -> object:
    # Starting Ray takes seconds: one cluster for the module. The executor reuses an initialised Ray.
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


@pytest.mark.slow
def test_ray_writes_the_same_run_directories_as_sequential(tmp_path: Path, ray_cluster: object) -> None:
    specs = load_specs(write_recipe(tmp_path))
    run_sequential(specs, tmp_path / "seq")
    outcomes = RayExecutor(RayParams(cpus_per_run=1)).execute(specs, ExecContext(out_root=tmp_path / "ray"))
    assert [(o.rel_dir, o.status) for o in outcomes] == [(str(s.rel_dir), "ok") for s in specs]
    assert_same_runs(snapshot(tmp_path / "ray"), snapshot(tmp_path / "seq"))
    assert ray.is_initialized()  # a Ray the executor did not start is left running

    again = RayExecutor(RayParams()).execute(specs, ExecContext(out_root=tmp_path / "ray"))
    assert [o.status for o in again] == ["skipped"] * 4  # resumable: nothing is submitted twice


@pytest.mark.slow
def test_a_ray_task_whose_worker_dies_fails_only_its_run(tmp_path: Path, ray_cluster: object) -> None:
    (tmp_path / "boom.py").write_text(PLUGIN, encoding="utf-8")
    extra = '[tricks]\nboom = { seed = 1, exit_arm = "mlp" }\n'
    specs = load_specs(write_recipe(tmp_path, plugins='plugins = ["boom.py"]', extra=extra))
    outcomes = {
        o.rel_dir: o
        for o in RayExecutor(RayParams(max_retries=0)).execute(specs, ExecContext(out_root=tmp_path / "out"))
    }
    died = outcomes.pop("grid/mlp/base/seed=1")
    assert died.status == "failed" and "Ray task failed" in died.error
    assert [o.status for o in outcomes.values()] == ["ok"] * 3


def test_missing_ray_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    specs = load_specs(write_recipe(tmp_path, seeds=(0,)))
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(CondensekitError, match=r'pip install "condensekit\[ray\]"'):
        RayExecutor(RayParams()).execute(specs, ExecContext(out_root=tmp_path / "out"))

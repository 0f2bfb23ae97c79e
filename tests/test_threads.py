"""Default torch threads: one per FLOPS_PER_THREAD of a training step, capped by the run's share; overrides
win."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import condensekit.threads as threads_module
from condensekit.defaults import local_executor
from condensekit.defaults.local_executor import LocalExecutor, LocalParams, run_threads
from condensekit.executing import ExecContext
from condensekit.manager import get_plugin_manager
from condensekit.threads import default_threads, prefer_passive_waiting, step_flops, threads_for_spec

RECIPE = """
name = "threads"
seeds = [0]
device = "cpu"
[data]
use = "synthetic"
num_classes = 3
dim = 8
train_per_class = 10
test_per_class = 4
batch_size = 10
[train]
steps = 3
[metrics]
[[arms]]
name = "narrow"
model = { use = "mlp", depth = 2, width = 4 }
[[arms]]
name = "wide"
model = { use = "mlp", depth = 2, width = 512 }
"""


def _specs(tmp_path: Path) -> list:
    from condensekit.api import open_recipe

    path = tmp_path / "threads.toml"
    path.write_text(RECIPE, encoding="utf-8")
    return open_recipe(path)[0].specs


def test_default_threads_grow_with_the_work_and_stop_at_the_share() -> None:
    per = threads_module.FLOPS_PER_THREAD
    assert default_threads(0.0, 8) == 1
    assert default_threads(per * 0.99, 8) == 1  # a second thread only for a second FLOPS_PER_THREAD of work
    assert default_threads(per * 3.5, 8) == 3
    assert default_threads(per * 100, 8) == 8
    assert default_threads(per * 100, 0) == 1
    assert default_threads(None, 6) == 6  # unknown work: the whole share, as torch would give it


def test_step_flops_counts_forward_and_backward_of_the_model_at_the_batch_size() -> None:
    catalogue = get_plugin_manager().catalogue
    data = {"num_classes": 3, "dim": 8}
    # A 2-layer MLP 8 -> 64 -> 3: the matrix products of forward (2 N W) and backward (4 N W, both gradients
    # of every layer but the first, whose input gradient is not needed) -- at least 4 N W, at most 6 N W.
    weights = 8 * 64 + 64 * 3
    flops = step_flops(catalogue, "mlp", {"depth": 2, "width": 64}, "synthetic", data, batch_size=50)
    assert flops is not None and 4 * 50 * weights <= flops <= 6 * 50 * weights
    doubled = step_flops(catalogue, "mlp", {"depth": 2, "width": 64}, "synthetic", data, batch_size=100)
    assert doubled == pytest.approx(2 * flops)
    assert (
        step_flops(catalogue, "mlp", {"depth": 2, "width": 64, "pretrained": True}, "synthetic", data, 50)
        is None
    )


def test_sequential_runs_get_threads_by_model_size_and_run_json_records_each(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    specs = _specs(tmp_path)
    catalogue = get_plugin_manager().catalogue
    wide_flops = step_flops(
        catalogue, "mlp", {"depth": 2, "width": 512}, "synthetic", {"num_classes": 3, "dim": 8}, 10
    )
    assert wide_flops is not None
    monkeypatch.setattr(threads_module, "FLOPS_PER_THREAD", wide_flops / 3)  # the wide MLP is worth 3 threads
    monkeypatch.setattr(local_executor, "available_cpus", lambda: 4)
    torch.set_num_threads(4)
    out = tmp_path / "out"
    outcomes = LocalExecutor(LocalParams()).execute(specs, ExecContext(out_root=out))
    assert [o.status for o in outcomes] == ["ok", "ok"]
    recorded = {s.arm: json.loads((out / s.rel_dir / "run.json").read_text())["threads"] for s in specs}
    assert recorded == {"narrow": 1, "wide": 3}
    assert torch.get_num_threads() == 4  # the process's own setting is restored after each run

    torch.set_num_threads(2)  # a user's cap (OMP_NUM_THREADS, set_num_threads) limits the share
    LocalExecutor(LocalParams()).execute(specs, ExecContext(out_root=out, force=True))
    assert json.loads((out / specs[1].rel_dir / "run.json").read_text())["threads"] == 2

    # [executor] threads wins
    LocalExecutor(LocalParams(threads=3)).execute(specs, ExecContext(out_root=out, force=True))
    assert [json.loads((out / s.rel_dir / "run.json").read_text())["threads"] for s in specs] == [3, 3]


def test_run_threads_is_the_fixed_count_when_given_and_the_same_for_the_same_spec(tmp_path: Path) -> None:
    spec = _specs(tmp_path)[1]
    pm = get_plugin_manager()
    assert run_threads(spec, 4, 2, pm) == 2
    assert (
        run_threads(spec, 4, None, pm)
        == threads_for_spec(spec, pm.catalogue, 4)
        == run_threads(spec, 4, None, pm)
    )


def test_passive_waiting_is_a_default_a_user_setting_wins() -> None:
    env: dict[str, str] = {}
    prefer_passive_waiting(env)
    assert env == {"OMP_WAIT_POLICY": "PASSIVE"}
    env = {"OMP_WAIT_POLICY": "ACTIVE"}
    prefer_passive_waiting(env)
    assert env == {"OMP_WAIT_POLICY": "ACTIVE"}

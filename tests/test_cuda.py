"""CUDA: every model family, every metric and a shipped recipe on a GPU (the ``cuda`` marker; skipped without
one).

* On the same weights and probe batch, every metric's values on CUDA equal the CPU's within float tolerance
  (TF32 off, so that the GPU's matrix products round like the CPU's), at step 0 and after a weight change
  (which the update measures, ``rho1_dW``, ``rel_change``, need).
* A run's loop does not wait for the GPU at every step: with torch's sync debug mode on, the host syncs
  only at steps that measure, evaluate, log the loss buffer (every 50 steps) or start an epoch (one
  host-to-device copy of the shuffled order).
* Every model family trains on CUDA with every metric, and a shipped recipe runs on CUDA sequentially and
  with ``--jobs 2`` (both workers on the one GPU, or one GPU each).

``pytest -m cuda`` selects these. The CPU-vs-CPU test at the end runs the comparison harness in every
session, so that the harness itself is known to work where no GPU is.
"""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import torch

import condensekit
from condensekit.api import open_recipe, run_recipe
from condensekit.executing import execute_spec
from condensekit.manager import get_plugin_manager
from condensekit.output import read_metrics, read_run_json
from condensekit.probe import Probe, hidden_layer_names, make_probe_batch, probe_points
from condensekit.run import Run

ROOT = Path(__file__).resolve().parents[1]
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

FAMILIES: dict[str, tuple[dict[str, Any], bool]] = {  # name -> (model table, image inputs)
    "mlp": ({"use": "mlp", "depth": 4, "width": 32}, False),
    "resmlp": ({"use": "resmlp", "depth": 4, "width": 32}, False),
    "cnn": ({"use": "cnn", "depth": 2, "channels": 8}, True),
    "cnn_residual": ({"use": "cnn", "depth": 2, "channels": 8, "residual": True, "norm": "batch"}, True),
    "vit": ({"use": "timm", "name": "vit_micro"}, True),
}
METRICS = sorted(get_plugin_manager().catalogue.names("metrics"))
SYNC_WARNING = "synchronizing CUDA operation"  # torch's sync debug mode, "warn"


def family_recipe(
    family: str, device: str, steps: int = 20, metrics: dict[str, Any] | None = None
) -> dict[str, Any]:
    model, image = FAMILIES[family]
    return {
        "name": f"cuda_{family}",
        "seeds": [0],
        "device": device,
        "data": {"use": "digits", "batch_size": 50, "image": image},
        "train": {"steps": steps, "lr": 0.05, "eval_every": f"at:0,{steps}"},
        "probe": {"per_class": 5},
        "metrics": {name: {"every": "every:5"} for name in METRICS} if metrics is None else metrics,
        "arms": [{"name": family, "model": dict(model)}],
    }


@contextmanager
def no_tf32() -> Iterator[None]:
    """Full float32 matrix products and convolutions on the GPU (TF32 keeps 10 mantissa bits)."""
    matmul, conv = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = matmul, conv


def measure_on(device: str, family: str, tmp_path: Path) -> list[dict[str, float]]:
    """Every metric at step 0 and, after a fixed weight change, at step 1, on ``device``.

    The model is built on the CPU under a fixed seed and copied to the device, so every device measures
    the same weights and the same probe batch.
    """
    spec = open_recipe(family_recipe(family, "cpu"))[0].specs[0]
    pm = get_plugin_manager()
    bundle = pm.catalogue.get("datasets", "digits").build(spec.data.params, Path(spec.data.root))
    torch.manual_seed(0)
    cpu_net = pm.catalogue.get("models", spec.model.use).build(spec.model.params, bundle.info)
    x, y = make_probe_batch(bundle.train, 5, 50, 0, torch.device("cpu"))
    generator = torch.Generator().manual_seed(1)
    change = [0.01 * torch.randn(p.shape, generator=generator) for p in cpu_net.parameters()]

    net = copy.deepcopy(cpu_net).to(device)
    points = probe_points(net)
    run = Run(
        spec=spec,
        name=spec.arm,
        seed=0,
        device=torch.device(device),
        run_dir=tmp_path,
        info=bundle.info,
        hidden_layers=hidden_layer_names(net, points),
    )
    metrics = {
        name: pm.catalogue.get("metrics", name).build(spec.metrics[name].params) for name in spec.metrics
    }
    rows = []
    for step in (0, 1):
        if step:
            with torch.no_grad():
                for p, d in zip(net.parameters(), change, strict=True):
                    p.add_(d.to(device))
        run.step = step
        probe = Probe(net, x.to(device), y.to(device), points, step)
        row: dict[str, float] = {}
        for name, metric in metrics.items():
            row.update(
                {
                    f"{name}/{key}": float(value)
                    for key, value in (metric.collect_metrics(run=run, probe=probe) or {}).items()
                }
            )
        rows.append(row)
    return rows


def assert_same_values(got: dict[str, float], want: dict[str, float], rel: float, abs_: float) -> None:
    assert got.keys() == want.keys()
    far = {
        k: (got[k], want[k])
        for k in want
        if not (math.isnan(got[k]) and math.isnan(want[k]))
        and not math.isclose(got[k], want[k], rel_tol=rel, abs_tol=abs_)
    }
    assert not far, f"{len(far)} of {len(want)} values differ: {dict(list(far.items())[:10])}"


@pytest.mark.cuda
@needs_cuda
@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_metrics_on_cuda_equal_the_cpu_values_on_the_same_weights_and_probe(
    family: str, tmp_path: Path
) -> None:
    with no_tf32():
        on_gpu = measure_on("cuda", family, tmp_path)
    on_cpu = measure_on("cpu", family, tmp_path)
    for metric in METRICS:
        assert any(k.startswith(f"{metric}/") for k in on_cpu[1]), f"{metric} measured nothing"
    for step in (0, 1):
        assert_same_values(on_gpu[step], on_cpu[step], rel=1e-3, abs_=1e-4)


class SyncCounter:
    """Counts the host syncs torch reports (sync debug mode ``warn``) between one ``after_step`` and the
    next."""

    def __init__(self, log: list[warnings.WarningMessage]):
        self.log, self.seen, self.per_step = log, 0, {}

    def _syncs(self) -> int:
        return sum(1 for w in self.log if SYNC_WARNING in str(w.message))

    @condensekit.hookimpl
    def run_started(self, run: Any) -> None:
        torch.cuda.set_sync_debug_mode("warn")

    @condensekit.hookimpl
    def after_step(self, run: Any) -> None:
        now = self._syncs()
        if run.step > 0:  # the syncs of step run.step: from the end of the step before to the end of this one
            self.per_step[run.step] = now - self.seen
        self.seen = now

    @condensekit.hookimpl
    def run_finished(self, run: Any) -> None:
        torch.cuda.set_sync_debug_mode(0)


@pytest.mark.cuda
@needs_cuda
def test_the_loop_syncs_with_the_host_only_where_it_reads_results_back(tmp_path: Path) -> None:
    steps = 160
    recipe = family_recipe("mlp", "cuda", steps=steps, metrics={"condensation": {"every": "at:0,70"}})
    recipe["train"]["eval_every"] = "at:0,100"
    spec = open_recipe(recipe)[0].specs[0]
    pm = get_plugin_manager()
    with warnings.catch_warnings(record=True) as log:
        warnings.simplefilter("always")
        counter = SyncCounter(log)
        pm.register(counter, name="test-sync-counter")
        try:
            outcome = execute_spec(spec, tmp_path / "out", force=True, plugin_manager=pm)
        finally:
            pm.unregister(counter)
            torch.cuda.set_sync_debug_mode(0)
    assert outcome.status == "ok", outcome.error
    assert sorted(counter.per_step) == list(range(1, steps))
    per_epoch = 1437 // 50  # digits: 1437 training samples; a new shuffled order at each epoch's first step
    reads_back = {0, 70, 100} | {s for s in range(steps) if s % 50 == 0 or s % per_epoch == 0}
    syncing = {s for s, n in counter.per_step.items() if n}
    assert syncing <= reads_back, (
        f"steps that synced with the host without reading anything back: {sorted(syncing - reads_back)}"
    )
    assert len(syncing) < steps // 10


def trained_rows(family: str, device: str, out: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Train the family's tiny recipe on ``device``; return its run.json and metrics.jsonl rows."""
    spec = open_recipe(family_recipe(family, device))[0].specs[0]
    outcome = execute_spec(spec, out, force=True)
    assert outcome.status == "ok", outcome.error
    info = read_run_json(out / spec.rel_dir)
    assert info is not None
    return info, read_metrics(out / spec.rel_dir)


@pytest.mark.cuda
@needs_cuda
@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_every_family_trains_on_cuda_with_every_metric(family: str, tmp_path: Path) -> None:
    info, rows = trained_rows(family, "cuda", tmp_path / "cuda")
    assert info["device"].startswith("cuda")
    _, cpu_rows = trained_rows(family, "cpu", tmp_path / "cpu")
    # the same keys at the same steps
    assert [sorted(row) for row in rows] == [sorted(row) for row in cpu_rows]
    for metric in METRICS:
        assert any(k.startswith(f"{metric}/") and v is not None for row in rows for k, v in row.items()), (
            metric
        )
    # metrics.jsonl writes a non-finite value as null: on CUDA only where the CPU run has one too
    assert {(row["step"], k) for row in rows for k, v in row.items() if v is None} == {
        (row["step"], k) for row in cpu_rows for k, v in row.items() if v is None
    }
    losses = [row["train/loss"] for row in rows if "train/loss" in row]
    assert len(losses) == 20 and all(v is not None and math.isfinite(v) for v in losses)


@pytest.mark.cuda
@needs_cuda
@pytest.mark.parametrize("jobs", [1, 2])
def test_a_shipped_recipe_runs_on_cuda(jobs: int, tmp_path: Path) -> None:
    result = run_recipe(
        ROOT / "recipes" / "vit_vs_mlp.toml",
        out=tmp_path / "runs",
        jobs=jobs,
        quiet=True,
        overrides=["device=cuda", "train.steps=30", "seeds=[0]"],
    )
    assert [o.status for o in result.outcomes] == ["ok"] * 3
    for outcome in result.outcomes:
        info = read_run_json(tmp_path / "runs" / outcome.rel_dir)
        assert info is not None and info["device"].startswith("cuda")


@pytest.mark.parametrize("family", ["mlp", "vit"])
def test_the_device_comparison_harness_on_two_cpu_copies(family: str, tmp_path: Path) -> None:
    """Runs everywhere: the harness above measures every metric and two copies of a model agree exactly."""
    first, second = measure_on("cpu", family, tmp_path), measure_on("cpu", family, tmp_path)
    assert first == second
    for metric in METRICS:
        assert any(k.startswith(f"{metric}/") for k in first[1]), f"{metric} measured nothing"
    assert first[0] != first[1]  # the weight change is seen
    assert any(k.endswith("rho1_dW") for k in first[1]) and not any(k.endswith("rho1_dW") for k in first[0])

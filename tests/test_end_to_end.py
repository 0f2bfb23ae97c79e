"""A tiny recipe end to end: run directories, TensorBoard events read back, run.json, summary.csv, skip on
rerun."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from condensekit.quantities import csv_columns


def load_events(run_dir: Path) -> EventAccumulator:
    acc = EventAccumulator(str(run_dir), size_guidance={"scalars": 0, "tensors": 0})
    acc.Reload()
    return acc


def test_run_writes_everything_and_tensorboard_reads_it(tmp_path, write_recipe, cli_run):
    recipe = write_recipe()
    out = tmp_path / "runs"
    code, stdout, stderr = cli_run("run", str(recipe), "--out", str(out))
    assert code == 0, stderr
    root = out / "tiny"
    run_dirs = sorted(p.parent for p in root.rglob("run.json"))
    assert [str(p.relative_to(root)) for p in run_dirs] == [
        "mlp/base/seed=0",
        "mlp/base/seed=1",
        "resmlp/base/seed=0",
        "resmlp/base/seed=1",
    ]
    for run_dir in run_dirs:
        info = json.loads((run_dir / "run.json").read_text())
        assert info["status"] == "ok"
        assert info["spec"]["train"]["steps"] == 30 and info["device"] == "cpu"
        assert "condensekit_plugins.models.mlp" in info["plugins"] and "torch" in info["versions"]
        assert 0.0 <= info["summary"]["final_test_acc"] <= 1.0
        # one event file, in the run directory itself: no stray sub-runs
        assert len(list(run_dir.glob("events.out.tfevents.*"))) == 1
        assert not [p for p in run_dir.iterdir() if p.is_dir()]
        rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
        jsonl_tags = {k for row in rows for k in row if k != "step"}
        acc = load_events(run_dir)
        tb_tags = set(acc.Tags()["scalars"])
        assert jsonl_tags <= tb_tags
        loss = acc.Scalars("train/loss")
        assert [e.step for e in loss] == list(range(30))
        first = [r["train/loss"] for r in rows if "train/loss" in r]
        assert all(abs(e.value - v) <= 1e-6 * max(1.0, abs(v)) for e, v in zip(loss, first, strict=True))
        layer = "layer1" if "/mlp/" in str(run_dir) else "stem"
        # tanh units and a residual stream cannot be dead
        assert not [t for t in tb_tags if t.endswith("dead_frac")]
        for quantity in (
            "feat_inter",
            "feat_intra",
            "feat_all",
            "feat_inter_centered",
            "feat_classmean",
            "share_common",
            "share_class",
            "share_sample",
            "grad_inter",
            "grad_intra",
            "wgrad_inter",
            "grad_norm",
        ):
            for tag in (f"condensation/{layer}/{quantity}", f"condensation/mean/{quantity}"):
                steps = [e.step for e in acc.Scalars(tag)]
                if quantity == "feat_inter":  # the summary series: also measured densely around its peaks
                    assert {0, 10, 20, 30} <= set(steps) and steps == sorted(set(steps)), tag
                else:  # everything else on its schedule only
                    assert steps == [0, 10, 20, 30], tag
        for quantity in ("rho1_W", "rho1_gradW", "rho1_H", "erank_H"):
            assert [e.step for e in acc.Scalars(f"common_direction/{layer}/{quantity}")] == [0, 15, 30]
        assert [e.step for e in acc.Scalars(f"common_direction/{layer}/rho1_dW")] == [15, 30]
        assert [e.step for e in acc.Scalars("train/accuracy")] == [0, 10, 20, 30]  # eval_every
        # and the test split alone between them (test_every's default: 2 passes here, every 15 steps)
        assert [e.step for e in acc.Scalars("test/accuracy")] == [0, 10, 15, 20, 30]
        # the run's hparams in its own event file
        assert "_hparams_/session_start_info" in acc.summary_metadata
    # the recipe's HParams configuration (domains, verdict metrics) lives in TensorBoard's run `figures`
    assert "_hparams_/experiment" in load_events(root / "figures").summary_metadata
    with (root / "summary.csv").open() as f:
        table = list(csv.DictReader(f))
    assert list(table[0]) == csv_columns()
    assert len(table) == 4 and {r["status"] for r in table} == {"ok"}
    assert {r["condensed"] for r in table} <= {"true", "false"}
    assert "mlp" in stdout and "resmlp" in stdout and "condensed" in stdout
    assert (root / "report.md").exists()


def test_rerun_skips_finished_runs_and_force_reruns(tmp_path, write_recipe, cli_run):
    recipe = write_recipe()
    out = tmp_path / "runs"
    assert (
        cli_run("run", str(recipe), "--out", str(out), "--set", "seeds=[0]", "--set", "train.steps=5")[0] == 0
    )
    run_json = out / "tiny/mlp/base/seed=0/run.json"
    before = run_json.read_bytes()
    code, _, stderr = cli_run(
        "run", str(recipe), "--out", str(out), "--set", "seeds=[0]", "--set", "train.steps=5"
    )
    assert code == 0
    assert stderr.count("skipped") >= 2 and "tiny/mlp/base/seed=0" in stderr
    assert run_json.read_bytes() == before
    code, _, stderr = cli_run(
        "run", str(recipe), "--out", str(out), "--set", "seeds=[0]", "--set", "train.steps=5", "--force"
    )
    assert code == 0
    assert json.loads(run_json.read_text())["started"] != json.loads(before)["started"]


def test_same_seed_is_reproducible_and_seeds_differ(tmp_path, write_recipe, cli_run):
    recipe = write_recipe()
    for out in ("a", "b"):
        assert cli_run("run", str(recipe), "--out", str(tmp_path / out), "--set", "train.steps=8")[0] == 0

    def losses(out: str, seed: int) -> list[float]:
        path = tmp_path / out / f"tiny/mlp/base/seed={seed}/metrics.jsonl"
        return [
            row["train/loss"] for row in map(json.loads, path.read_text().splitlines()) if "train/loss" in row
        ]

    assert losses("a", 0) == losses("b", 0)
    assert losses("a", 0) != losses("a", 1)


def test_grid_expands_into_grid_point_directories(tmp_path, write_recipe, cli_run):
    text = Path(write_recipe()).read_text() + '\n[grid]\n"tricks.init.scale" = [0.5, 2.0]\n'
    recipe = write_recipe(text, "grid.toml")
    code, stdout, _ = cli_run("validate", str(recipe))
    assert code == 0 and "8 runs" in stdout
    assert "tiny/resmlp/tricks.init.scale=2.0/seed=1" in stdout

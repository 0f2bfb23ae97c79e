"""condensekit.replay: the summary series measured densely where its peaks are, by replaying training steps
from snapshots; the refined points are the dense run's own, and the replay checks itself."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from condensekit.testing import run_tiny, tiny_recipe

STEPS = 120


def recipe(every: str = "log:12", refine: bool = True, **extra: Any) -> dict[str, Any]:
    """A small run whose inter-class similarity rises and falls within ``STEPS`` steps."""
    base = tiny_recipe(
        model_params={"depth": 4, "width": 16},
        metrics={"condensation": {"every": every, "weight_gradients": False}},
        tricks={"momentum": {"beta": 0.5}},
        steps=STEPS,
    )
    base["train"]["lr"] = 0.2
    base["probe"]["refine"] = refine
    base["executor"] = {"threads": 1}
    return {**base, **extra}


def series(run: Any, tag: str) -> dict[int, float]:
    return {row["step"]: row[tag] for row in run.scalars if tag in row}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("replay")
    return {
        "dense": run_tiny(recipe("every:1", refine=False), out / "dense", steps=None).runs[0],
        "refined": run_tiny(recipe(), out / "refined", steps=None).runs[0],
        "fixed": run_tiny(recipe(refine=False), out / "fixed", steps=None).runs[0],
    }


def test_every_refined_point_is_the_dense_runs_own_value_bit_for_bit(runs: dict[str, Any]) -> None:
    dense, refined = runs["dense"], runs["refined"]
    tags = [t for t in refined.tags() if t.startswith("condensation/") and t.endswith("/feat_inter")]
    assert "condensation/mean/feat_inter" in tags
    for tag in tags:
        got, want = series(refined, tag), series(dense, tag)
        assert got and all(got[step] == want[step] for step in got), tag


def test_the_verdict_reads_the_dense_runs_peak(runs: dict[str, Any]) -> None:
    dense, refined, fixed = (runs[k].summary for k in ("dense", "refined", "fixed"))
    assert fixed["mean"]["peak"] < dense["mean"]["peak"]  # the schedule alone misses the peak here
    assert (refined["mean"]["peak"], refined["mean"]["peak_step"]) == (
        dense["mean"]["peak"],
        dense["mean"]["peak_step"],
    )
    for layer, summary in dense["layers"].items():
        assert refined["layers"][layer]["peak"] == summary["peak"], layer
    assert len(series(runs["refined"], "condensation/mean/feat_inter")) > len(
        series(runs["fixed"], "condensation/mean/feat_inter")
    )


def test_refine_false_measures_on_the_schedule_only(runs: dict[str, Any]) -> None:
    from condensekit.schedules import schedule_steps

    steps = set(series(runs["fixed"], "condensation/mean/feat_inter"))
    assert steps == schedule_steps("log:12", STEPS)
    assert "refinement" not in json.loads((runs["fixed"].run_dir / "run.json").read_text())


def test_run_json_records_a_bit_identical_self_check(runs: dict[str, Any]) -> None:
    record = json.loads((runs["refined"].run_dir / "run.json").read_text())["refinement"]
    check = record["check"]
    assert record["replays"] > 0 and check["losses_compared"] >= record["replayed_steps"] > 0
    assert check["values_compared"] > 0 and check["identical"] is True
    assert check["loss_max_abs_diff"] == 0.0 and check["value_max_abs_diff"] == 0.0
    assert check["device"] == "cpu" and check["threads"] == 1
    assert record["measured_steps"] == len(series(runs["refined"], "condensation/mean/feat_inter")) - len(
        series(runs["fixed"], "condensation/mean/feat_inter")
    )


def test_the_steps_around_t1_are_measured_at_their_snapshots(runs: dict[str, Any]) -> None:
    """Around the loss's exit from its plateau (T1, a smoothing window each side) the kept snapshots are
    measured before the search starts: the measurements the search did not make are those, and they lie
    there."""
    from condensekit.schedules import schedule_steps

    run = runs["refined"]
    record = json.loads((run.run_dir / "run.json").read_text())["refinement"]
    t1, window = run.summary["phase1_end"], run.summary["smoothing_window"]
    around = record["measured_steps"] - record["from_snapshots"] - record["replay_measurements"]
    refined = set(series(run, "condensation/mean/feat_inter")) - schedule_steps("log:12", STEPS)
    near = [s for s in refined if abs(s - t1) <= window]
    assert t1 is not None and around >= 8 and len(near) >= around


def test_only_the_summary_quantity_is_refined_and_other_keys_keep_their_schedule(
    runs: dict[str, Any],
) -> None:
    refined, fixed = runs["refined"], runs["fixed"]
    assert series(refined, "condensation/mean/share_common") == series(
        fixed, "condensation/mean/share_common"
    )
    assert series(refined, "train/loss") == series(fixed, "train/loss")


PLUGIN = """
import condensekit

CALLS = {"after_step": 0, "collect_metrics": 0, "steps": []}


@condensekit.hookimpl
def after_step(run):
    CALLS["after_step"] += 1


@condensekit.hookimpl
def collect_metrics(run, probe):
    CALLS["collect_metrics"] += 1


@condensekit.hookimpl
def log_scalars(run, step, scalars):
    CALLS["steps"].append((step, sorted(scalars)))


@condensekit.hookimpl
def run_finished(run, status, summary):
    import json
    with open(run.run_dir / "calls.json", "w") as f:
        json.dump(CALLS, f)
"""

METRIC = """
import pydantic
import condensekit


class Spread:
    # ignores probe.wanted: returns a per-layer mean feature norm ("size") and one more key ("other")

    def __init__(self, params):
        pass

    @condensekit.hookimpl
    def collect_metrics(self, run, probe):
        out = {}
        for layer, h in probe.features.items():
            out[f"{layer}/size"] = float(h.flatten(1).norm(dim=1).mean())
            out[f"{layer}/other"] = 1.0
        return out


@condensekit.hookimpl
def register_metrics(register):
    forbid = pydantic.ConfigDict(extra="forbid")
    register("spread", Spread, params=pydantic.create_model("SpreadParams", __config__=forbid),
             report=condensekit.MetricReport(series=["size"], headline="size"))
"""


def test_plugins_see_the_refined_values_but_not_the_replayed_steps(tmp_path: Path) -> None:
    (tmp_path / "watch.py").write_text(PLUGIN)
    run = run_tiny({**recipe(), "plugins": [str(tmp_path / "watch.py")]}, tmp_path / "out", steps=None).runs[
        0
    ]
    calls = json.loads((run.run_dir / "calls.json").read_text())
    record = json.loads((run.run_dir / "run.json").read_text())["refinement"]
    assert calls["after_step"] == STEPS  # replayed steps are not training steps of the run
    assert calls["collect_metrics"] == len(series(run, "condensation/mean/share_common"))  # scheduled only
    late = [(step, keys) for step, keys in calls["steps"][-record["measured_steps"] :]]
    assert all(step < STEPS for step, _ in late)
    assert all(key.endswith("/feat_inter") for _, keys in late for key in keys)


def test_a_third_party_metric_that_ignores_wanted_is_refined_on_its_summary_quantity(tmp_path: Path) -> None:
    (tmp_path / "spread.py").write_text(METRIC)
    spec = recipe(plugins=[str(tmp_path / "spread.py")])
    spec["metrics"] = {"spread": {"every": "log:12"}}
    run = run_tiny(spec, tmp_path / "out", steps=None).runs[0]
    record = json.loads((run.run_dir / "run.json").read_text())["refinement"]
    assert record["measured_steps"] > 0 and record["check"]["identical"]
    size, other = series(run, "spread/layer1/size"), series(run, "spread/layer1/other")
    assert len(size) == len(other) + record["measured_steps"]


def test_metrics_jsonl_rows_are_read_back_in_step_order(runs: dict[str, Any]) -> None:
    lines = (runs["refined"].run_dir / "metrics.jsonl").read_text().splitlines()
    logged = [json.loads(line)["step"] for line in lines]
    assert logged != sorted(logged)  # the refinement logs earlier steps last ...
    assert [row["step"] for row in runs["refined"].scalars] == sorted(logged)  # ... read_metrics sorts


def test_tensorboard_gets_every_refined_point_in_step_order(runs: dict[str, Any]) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    (events,) = runs["refined"].run_dir.glob("events.out.tfevents.*")
    accumulator = EventAccumulator(str(events), size_guidance={"scalars": 0})
    accumulator.Reload()
    steps = [e.step for e in accumulator.Scalars("condensation/mean/feat_inter")]
    assert steps == sorted(steps)
    assert steps == sorted(series(runs["refined"], "condensation/mean/feat_inter"))


HIDDEN_STATE_TRICK = """
import condensekit
import pydantic

CALLS = [0]  # state outside the trick's attributes: no snapshot holds it, so a replay cannot put it back


class Drift:
    def __init__(self, params):
        pass

    @condensekit.hookimpl
    def before_step(self, run, model, optimizer):
        CALLS[0] += 1
        for group in optimizer.param_groups:
            group["lr"] = 0.2 * (1.0 + 0.001 * CALLS[0])


@condensekit.hookimpl
def register_tricks(register):
    params = pydantic.create_model("DriftParams", __config__=pydantic.ConfigDict(extra="forbid"))
    register("drift", Drift, params=params, summary="a learning rate from a global call counter")
"""


def test_a_replay_that_differs_is_measured_and_warned_about(tmp_path: Path) -> None:
    """A trick whose state lives outside its attributes makes the replayed steps differ: the self-check
    finds the difference in the replayed losses and in the re-measured gap ends, and the run warns."""
    (tmp_path / "drift.py").write_text(HIDDEN_STATE_TRICK)
    spec = recipe(plugins=[str(tmp_path / "drift.py")])
    spec["arms"][0]["tricks"]["drift"] = {}
    spec["probe"]["refine_budget"] = 2.0  # enough for replays
    with pytest.warns(UserWarning, match="not bit-identical"):
        run = run_tiny(spec, tmp_path / "out", steps=None).runs[0]
    check = json.loads((run.run_dir / "run.json").read_text())["refinement"]["check"]
    assert check["losses_compared"] > 0 and check["loss_max_abs_diff"] > 0
    assert check["values_compared"] > 0 and check["value_max_abs_diff"] > 0
    assert check["identical"] is False

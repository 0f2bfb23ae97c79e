"""The answer in words: each clause follows from the rows' numbers, and thin evidence is said to be thin."""

from __future__ import annotations

from typing import Any

from report_rows import report
from report_rows import row as make_row

from condensekit.report.answer import answer, layer_ranges
from condensekit.report.rows import RunRow
from condensekit.status import RunStatus


def row(
    arm: str,
    seed: int,
    t1: int | None,
    s0: float,
    peak: float,
    step: int,
    phase: str,
    condensed: bool = False,
    collapsed: bool = False,
    status: RunStatus = RunStatus.OK,
    start: float = 0.0,
    grid: dict[str, Any] | None = None,
) -> RunRow:
    return make_row(
        arm,
        seed,
        status=status,
        started=start,
        grid=grid,
        thresholds={"rise": 0.1},
        phase1_end=t1,
        S0=s0,
        peak=peak,
        dS=peak - s0,
        peak_step=step,
        peak_phase=phase,
        condensed=condensed,
        collapsed_at_init=collapsed,
    )


def test_a_first_phase_with_a_real_rise_that_falls() -> None:
    rows = [row("mlp", s, 400 + 10 * s, 0.5, 0.7, 300, "phase1", condensed=True) for s in range(5)]
    (sentence,) = answer(report(*rows))
    assert sentence.startswith("mlp: a first phase in 5/5 seeds (T1 420 [400, 440])")
    assert (
        "feat_inter (mean over hidden layers) goes from 0.5 [0.5, 0.5] to a "
        "peak of 0.7 [0.7, 0.7] at step 300 [300, 300] (during phase 1 in 5/5)"
    ) in sentence
    assert "rises by 0.1 or more in 5/5 and is condensed" in sentence and "in 5/5." in sentence
    assert "too few" not in sentence and "disagree" not in sentence


def test_no_first_phase_and_no_rise() -> None:
    rows = [row("resmlp", s, 10 + s % 2, 0.4, 0.42, 1, "phase1") for s in range(3)]
    (sentence,) = answer(report(*rows))
    assert "no first phase in 3/3 seeds (T1 10 [10, 11]: the loss falls from the start)" in sentence
    assert "no seed rises by 0.1, so none condensed" in sentence
    assert "(no first phase to compare with in 3/3)" in sentence  # not "during phase 1": there is none


def test_the_first_phase_threshold_is_two_smoothing_windows() -> None:
    rows = [
        row("a", 0, 39, 0.4, 0.42, 1, "phase1"),
        row("a", 1, 40, 0.4, 0.42, 1, "phase1"),
        row("a", 2, 41, 0.4, 0.42, 1, "phase1"),
    ]
    (sentence,) = answer(report(*rows))
    assert "a first phase in 2/3 seeds" in sentence and "the seeds disagree" in sentence


def test_stuck_collapsed_failed_and_too_few_seeds() -> None:
    rows = [row("sigmoid", s, None, 0.86, 0.86, 0, "phase1", collapsed=True) for s in range(2)]
    rows.append(row("sigmoid", 2, None, 0.0, 0.0, 0, "phase1", status=RunStatus.FAILED))
    (sentence,) = answer(report(*rows))
    assert "the loss never leaves its plateau (2/2 seeds stuck)" in sentence
    assert "the features are alike from step 0 (collapsed at init) in 2/2 seeds" in sentence
    assert (
        "1 of 3 runs did not finish ok and are left out" in sentence
        and "only 2 seeds: too few to conclude" in sentence
    )


def test_no_run_finished() -> None:
    rows = [row("bad", 0, None, 0.0, 0.0, 0, "phase1", status=RunStatus.DIVERGED)]
    assert answer(report(*rows)) == ["bad: no run finished ok (1 runs), nothing to say."]


def test_one_sentence_per_arm_in_the_order_run_and_grid_points_named() -> None:
    rows = [
        row("mlp", 0, 300, 0.5, 0.7, 300, "phase2", start=0.0),
        row("resmlp", 0, 10, 0.4, 0.4, 0, "phase1", start=1.0),
    ]
    rows += [row("mlp", 1, 300, 0.5, 0.7, 300, "phase2", grid={"model.depth": 4})]
    lines = answer(report(*rows))
    assert [line.split(":")[0] for line in lines] == ["mlp", "mlp [model.depth=4]", "resmlp"]
    assert "(after T1 in 1/1)" in lines[0]


# ---------------------------------------------------------------- the answer per layer


def test_layer_ranges_are_runs_of_neighbours_written_by_name() -> None:
    order = ["layer1", "layer2", "layer3", "layer4", "layer5", "layer6", "layer7", "layer8"]
    assert layer_ranges(order, {"layer4", "layer5", "layer6", "layer7", "layer8"}) == "layer4-8"
    assert layer_ranges(order, {"layer2", "layer4", "layer5", "layer8"}) == "layer2, layer4-5, layer8"
    assert layer_ranges(order, {"layer5"}) == "layer5"
    assert layer_ranges(order, set()) == ""
    # neighbours in the model's order, not by number; names that differ around the number are written out
    assert (
        layer_ranges(["stem", "block1", "block2", "block3"], {"stem", "block1", "block2"}) == "stem to block2"
    )
    assert layer_ranges(["block1@mean", "block2@mean", "block3@mean"], {"block1@mean", "block2@mean"}) == (
        "block1-2@mean"
    )
    assert layer_ranges(["layer9", "layer10", "layer11"], {"layer9", "layer10", "layer11"}) == "layer9-11"


def layered(seed: int, condensed_layers: set[str], top: str, ds_max: float) -> RunRow:
    """A run of an 8-layer MLP with a first phase, whose mean does not condense, and some layers that do."""
    names = [f"layer{i}" for i in range(1, 9)]
    layers = {
        name: {"S0": 0.5, "peak": 0.6, "dS": 0.1, "condensed": name in condensed_layers} for name in names
    }
    return make_row(
        "mlp",
        seed,
        phase1_end=260,
        S0=0.6,
        peak=0.669,
        dS=0.069,
        peak_step=392,
        peak_phase="phase2",
        peak_loss_drop=0.4,
        layers=layers,
        hidden_layers=tuple(names),
        layers_condensed=len(condensed_layers),
        dS_max=ds_max,
        dS_max_layer=top,
    )


def test_the_answer_names_the_layers_that_condense_beside_the_mean() -> None:
    rows = [
        layered(0, {"layer4", "layer5", "layer6", "layer7", "layer8"}, "layer7", 0.2),
        layered(1, {"layer4", "layer5", "layer6", "layer7", "layer8"}, "layer7", 0.18),
        layered(2, {"layer4", "layer5", "layer6", "layer7", "layer8"}, "layer6", 0.17),
        layered(3, {"layer2", "layer7"}, "layer7", 0.19),
        layered(4, {"layer7"}, "layer7", 0.2),
    ]
    (sentence,) = answer(report(*rows))
    assert "a rise of 0.069 [0.069, 0.069]; no seed rises by 0.1, so none condensed" in sentence
    assert "0.4 [0.4, 0.4] of the loss's drop done by then" in sentence
    assert (
        "per layer, layer4-8 condense in at least 3/5 seeds, layer2 in 1/5 seeds "
        "(the largest single-layer rise is 0.19 [0.17, 0.2], in layer7 4/5, layer6 1/5)"
    ) in sentence
    none = [layered(s, set(), "layer3", 0.05) for s in range(3)]
    (quiet,) = answer(report(*none))
    assert "no single hidden layer condenses in any seed (the largest single-layer rise is 0.05" in quiet
    few = [layered(s, {"layer3"} if s == 0 else set(), "layer3", 0.12) for s in range(3)]
    assert "per layer, layer3 condenses in 1/3 seeds" in answer(report(*few))[0]


def test_no_s0_is_said() -> None:
    rows = [row("mlp", s, 400, 0.5, 0.7, 300, "phase1") for s in range(2)]
    rows.append(make_row("mlp", 2, phase1_end=400, peak=0.7, peak_step=300, peak_phase="phase1"))
    (sentence,) = answer(report(*rows))
    assert "no S0 in 1/3 seeds (the value at step 0 is not finite), so no rise there" in sentence


def _seed(seed: int, t1: int | None, s0: float, peak: float, rise: float = 0.1) -> RunRow:
    return make_row(
        "mlp",
        seed,
        thresholds={"rise": rise},
        phase1_end=t1,
        S0=s0,
        peak=peak,
        dS=peak - s0,
        peak_step=100,
        peak_phase="phase1",
        steps_done=500,
    )


def test_one_stuck_seed_is_not_all_seeds_stuck() -> None:  # report-20
    (sentence,) = answer(report(_seed(0, 300, 0.5, 0.5), _seed(1, 320, 0.5, 0.5), _seed(2, None, 0.5, 0.5)))
    assert (
        "a first phase in 3/3 seeds (T1 310 [300, 320], 1 never left it)" in sentence
        and "never leaves its plateau" not in sentence
    )


# report-21, report-23
def test_the_answer_counts_a_rise_of_exactly_the_threshold_and_uses_the_recipes_threshold() -> None:
    (sentence,) = answer(report(_seed(0, 300, 0.25, 0.5, rise=0.25)))  # dS = 0.25 exactly
    assert "it rises by 0.25 or more in 1/1" in sentence
    # dS = 0.2: more than the default 0.1, less than the recipe's
    (sentence,) = answer(report(_seed(0, 300, 0.25, 0.45, rise=0.25)))
    assert "no seed rises by 0.25, so none condensed" in sentence

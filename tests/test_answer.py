"""The answer in words: each clause follows from the rows' numbers, and thin evidence is said to be thin."""

from __future__ import annotations

from typing import Any

from report_rows import report
from report_rows import row as make_row

from condensekit.report.answer import answer
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

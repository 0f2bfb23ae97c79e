"""condensekit.report.tables and condensekit.report.sweeps: the verdict and per-layer tables (median
[min, max] over the runs that finished ok) and the sweep table."""

from __future__ import annotations

from report_rows import finished_row, report, row

from condensekit.quantities import median_range
from condensekit.report.rows import RunRow
from condensekit.report.sweeps import sweep_table
from condensekit.report.tables import layer_table, verdict
from condensekit.status import RunStatus


def test_runs_that_did_not_finish_ok_stay_out_of_the_verdict_cells() -> None:  # report-06, report-07
    rows = [
        finished_row("mlp", 0, 300, 0.2),
        finished_row("mlp", 1, 320, 0.3),
        finished_row("mlp", 2, None, 0.9, status=RunStatus.DIVERGED),
    ]
    (cell,) = verdict(report(*rows))
    assert cell["phase1_end"] == "310 [300, 320]" and cell["dS"] == "0.25 [0.2, 0.3]"
    assert cell["runs"] == "2 ok 1 diverged"


def test_runs_that_did_not_finish_ok_stay_out_of_the_per_layer_table() -> None:  # report-07
    layers = {"layer1": {"S0": 0.1, "peak": 0.5, "peak_step": 10, "S_final": 0.2, "condensed": True}}
    diverged = {"layer1": {"S0": 0.1, "peak": 0.9, "peak_step": 500, "S_final": 0.9}}
    rows = [
        row("mlp", 0, phase1_end=300, layers=layers),
        row("mlp", 1, status=RunStatus.DIVERGED, phase1_end=None, layers=diverged),
    ]
    (cells,) = layer_table(report(*rows))
    assert (cells["layer"], cells["peak_step"], cells["peak"], cells["condensed"]) == (
        "layer1",
        "10",
        "0.5",
        "1/1",
    )


def test_numeric_grid_points_are_ordered_by_value() -> None:  # report-11
    rows = [finished_row("mlp", 0, 300, 0.2, grid={"model.depth": d}) for d in (10, 4, 20)]
    assert [r["grid"] for r in verdict(report(*rows))] == [
        "model.depth=4",
        "model.depth=10",
        "model.depth=20",
    ]


def test_peak_in_counts_out_of_every_ok_run() -> None:  # report-29
    rows = [
        row("mlp", s, phase1_end=300, peak_phase=phase) for s, phase in enumerate(("phase1", "phase1", None))
    ]
    (cell,) = verdict(report(*rows))
    assert cell["peak_phase"] == "phase1 2/3"


def test_a_grid_key_with_one_value_is_not_a_sweep() -> None:  # report-31
    rows = [
        finished_row("mlp", 0, 300 + 10 * d, 0.1 * d, grid={"train.lr": 0.1, "model.depth": d})
        for d in (2, 3, 4)
    ]
    table = sweep_table(report(*rows))
    assert {r["swept"] for r in table} == {"model.depth"}
    assert {r["quantity"]: r["rho"] for r in table}["T1 (phase-1 end)"] == "+1.00"


def _row(arm: str, seed: int, ds: float, t1: int | None) -> RunRow:
    return row(
        arm, seed, dS_max=ds, dS=ds, peak_max=0.5, phase1_end=t1, final_test_acc=0.9, condensed=ds > 0.5
    )


def test_the_report_gives_the_median_across_seeds_not_the_mean() -> None:  # mutant: median -> mean
    assert median_range([0.1, 0.2, 0.9]) == "0.2 [0.1, 0.9]"
    (cells,) = verdict(report(_row("mlp", 0, 0.1, 10), _row("mlp", 1, 0.2, 20), _row("mlp", 2, 0.9, 300)))
    assert (
        cells["dS"] == "0.2 [0.1, 0.9]"
        and cells["phase1_end"] == "20 [10, 300]"
        and cells["condensed"] == "1/3"
    )

"""The dashboard's arm summaries: one TensorBoard run per arm, the median over seeds with its min-max band.

Built from hand-made groups whose numbers are known (three seeds, so that a median is not a mean), and
read back with TensorBoard's own reader (``EventAccumulator``); the live dashboard is tested in
tests/test_dashboard.py.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest
from report_rows import row
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from condensekit import dashboard, dashboard_arms
from condensekit.output import OutputError
from condensekit.phases import LOSS_TAG
from condensekit.report.arm_series import group_bands, write_arm_summaries
from condensekit.report.model import Group, ReportInput

CHARTS = dashboard_arms.arm_charts(dashboard.headline_tags("m/q", {}))
LOSS, ACCURACY, MEAN, T1 = CHARTS
MEDIAN, LOW, HIGH = ACCURACY.series


def seeds_group(arm: str, accuracy: list[list[float]], t1: list[int | None], done: list[int]) -> Group:
    """Seed k logs test accuracy ``accuracy[k]`` at steps 0, 10, 20, ..., a loss of ``k`` at every step up
    to ``done[k]``, and ``m/<layer>/q`` of ``k`` and ``k + 1`` in two hidden layers (layer mean ``k + 0.5``),
    at steps 0 and 10."""
    logged = {}
    for k, values in enumerate(accuracy):
        logged[k] = {
            "test/accuracy": ([10 * i for i in range(len(values))], values),
            LOSS_TAG: (list(range(done[k])), [float(k)] * done[k]),
            "m/a/q": ([0, 10], [float(k)] * 2),
            "m/b/q": ([0, 10], [k + 1.0] * 2),
        }
    rows = tuple(
        row(arm, k, phase1_end=t1[k], steps_done=done[k], hidden_layers=("a", "b"), smoothing_window=5)
        for k in range(len(accuracy))
    )
    return Group(arm, "base", rows, lambda r: logged[r.seed])


def test_each_chart_is_the_median_min_and_max_over_the_seeds_at_every_step() -> None:
    group = seeds_group(
        "mlp", [[0.1, 0.5, 0.9], [0.1, 0.2, 0.3], [0.1, 0.3, 0.8]], t1=[15, 5, None], done=[30, 30, 30]
    )
    bands = group_bands(group, CHARTS)
    steps, median, low, high = bands[ACCURACY]
    assert steps == [0, 10, 20]
    assert median == pytest.approx([0.1, 0.3, 0.8])  # a median (the mean would be 0.333 and 0.667)
    assert low == pytest.approx([0.1, 0.2, 0.3]) and high == pytest.approx([0.1, 0.5, 0.9])
    assert bands[MEAN][1:] == ([1.5, 1.5], [0.5, 0.5], [2.5, 2.5])  # the layer means 0.5, 1.5, 2.5
    assert set(bands[LOSS][1]) == {1.0} and set(bands[LOSS][2]) == {0.0}  # the running median of 0, 1, 2


def test_the_t1_marker_counts_each_seed_at_every_step_including_the_others_drops() -> None:
    group = seeds_group("mlp", [[0.5]] * 3, t1=[1500, 500, None], done=[3000, 3000, 3000])
    steps, median, low, high = group_bands(group, CHARTS)[T1]
    assert 500 <= len(steps) <= 510  # evenly spaced (every 6 steps), and the steps around each T1
    points = dict(zip(steps, zip(median, low, high, strict=True), strict=True))
    assert {499, 500, 1499, 1500} <= set(points)  # every seed's last step on the plateau and its first after
    assert points[499] == (1.0, 1.0, 1.0)  # all three on the plateau
    assert points[500] == (1.0, 0.0, 1.0)  # seed 1 has left it: two of three still on it
    assert points[1500] == (0.0, 0.0, 1.0)  # seed 2 never leaves it (stuck)


def test_a_seed_that_stopped_early_counts_only_where_it_has_values() -> None:
    group = seeds_group("mlp", [[0.5], [0.5], [0.5]], t1=[None, None, None], done=[30, 30, 10])
    steps, median, low, high = group_bands(group, CHARTS)[LOSS]
    # from step 10 only seeds 0 and 1 (losses 0 and 1) have a loss: the median of two
    assert median[steps.index(20)] == 0.5 and high[steps.index(20)] == 1.0
    assert max(dashboard_arms.plateau_marker(10, None)[0]) == 10


def test_a_long_series_is_thinned_to_measured_points_and_keeps_its_last() -> None:
    band = (list(range(2501)), [float(s) for s in range(2501)], [0.0] * 2501, [9.0] * 2501)
    steps, median, low, high = dashboard_arms.thinned(band, limit=1000)
    assert len(steps) <= 1000 and steps[-1] == 2500 and steps[0] == 0
    assert median == [float(s) for s in steps] and len(low) == len(high) == len(steps)  # no new values
    assert dashboard_arms.thinned(band, limit=5000) == band


def test_the_arms_section_is_first_in_every_layout_with_margin_charts() -> None:
    layout = dashboard.dashboard_layout("m/q", {}, ["a", "b"], ["m/mean/q"])
    first = layout.category[0]
    assert first.title == dashboard_arms.SECTION
    first.chart.reverse()  # listed last to first: TensorBoard draws margin charts in reverse
    assert [c.margin.series[0].value for c in first.chart] == [c.tag for c in CHARTS]
    assert [c.margin.series[0].lower for c in first.chart] == [c.series[1] for c in CHARTS]
    assert [c.margin.series[0].upper for c in first.chart] == [c.series[2] for c in CHARTS]
    tags = [tag for c in CHARTS for tag in c.series]
    assert len(set(tags)) == len(tags) and all(c.tag.startswith("Arms/") for c in CHARTS)
    assert {t.split("/")[0] for t in tags} == {"Arms", "arm_band"}
    assert layout.category[1].title == dashboard.EVERY_RUN


def report_of(*groups: Group, root: Path) -> ReportInput:
    rows = [r for g in groups for r in g.rows]
    report = ReportInput.of(rows, root)
    readers = {g.arm: g.read_series for g in groups}
    rebuilt = tuple(Group(g.arm, g.grid, g.rows, readers[g.arm]) for g in report.groups)
    return ReportInput(report.rows, rebuilt, report.thresholds, (), report.options, report.reference, root)


def read_back(folder: Path) -> dict[str, list[tuple[int, float]]]:
    reader = EventAccumulator(str(folder), size_guidance={"scalars": 0})
    reader.Reload()
    return {tag: [(e.step, e.value) for e in reader.Scalars(tag)] for tag in reader.Tags()["scalars"]}


def test_a_new_report_replaces_the_arm_runs_and_an_open_reader_drops_the_old_points(tmp_path: Path) -> None:
    mlp = seeds_group("mlp", [[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]], [None] * 3, [30] * 3)
    res = seeds_group("resmlp", [[0.9, 0.9]] * 3, [None] * 3, [30] * 3)
    first = write_arm_summaries(tmp_path, report_of(mlp, res, root=tmp_path), CHARTS)[0]
    folder = tmp_path / "figures" / "arms" / "mlp" / "base"
    assert first.parent == folder and "tfevents" in first.name
    live = EventAccumulator(str(folder), size_guidance={"scalars": 0})  # a TensorBoard already open
    live.Reload()
    assert [e.value for e in live.Scalars(MEDIAN)] == pytest.approx([0.3, 0.4])
    fewer = seeds_group("mlp", [[0.1, 0.2], [0.3, 0.4]], [None] * 2, [30] * 2)  # seed 2 removed
    write_arm_summaries(tmp_path, report_of(fewer, root=tmp_path), CHARTS)
    live.Reload()
    assert [(e.step, e.value) for e in live.Scalars(MEDIAN)] == [
        (0, pytest.approx(0.2)),
        (10, pytest.approx(0.3)),
    ]  # the new median of two seeds, without the old points
    assert read_back(folder)[MEDIAN] == [(0, pytest.approx(0.2)), (10, pytest.approx(0.3))]
    write_arm_summaries(tmp_path, report_of(fewer, root=tmp_path), CHARTS)
    live.Reload()  # a third report: the first version is removed, the reader goes on
    assert [e.value for e in live.Scalars(MEDIAN)] == pytest.approx([0.2, 0.3])
    assert len([p for p in folder.iterdir() if "tfevents" in p.name]) == 2  # this version and the last
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]  # no temporary file left
    gone = tmp_path / "figures" / "arms" / "resmlp" / "base"
    assert not [p for p in gone.iterdir() if "tfevents" in p.name]  # an arm no longer reported: no run
    assert read_back(folder)[HIGH] == [(0, pytest.approx(0.3)), (10, pytest.approx(0.4))]
    assert first.exists() is False


def test_nothing_is_written_through_a_link_below_the_output_folder(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    root = tmp_path / "runs"
    (root / "figures").mkdir(parents=True)
    os.symlink(elsewhere, root / "figures" / "arms")
    group = seeds_group("mlp", [[0.5]] * 3, [None] * 3, [30] * 3)
    with pytest.raises(OutputError, match="symbolic link"):
        write_arm_summaries(root, report_of(group, root=root), CHARTS)
    assert not any(elsewhere.iterdir())


def test_an_arm_without_finite_values_gets_no_series() -> None:
    group = seeds_group("mlp", [[math.nan, math.nan]] * 3, [None] * 3, [30] * 3)
    assert ACCURACY not in group_bands(group, CHARTS) and MEAN in group_bands(group, CHARTS)

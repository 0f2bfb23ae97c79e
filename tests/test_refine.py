"""condensekit.refine: which gaps may hide a peak, and the search that measures inside them, on constructed
series (no training: a "measurement" reads the series at a step)."""

from __future__ import annotations

import math

import pytest

from condensekit.refine import LAYER_MEAN, Retention, WatchedSeries, candidate_gaps, steps_in
from condensekit.search import loss_spikes, search

TOTAL = 400


def book_of(series: dict[str, list[float]], steps: list[int]) -> WatchedSeries:
    """The series measured at ``steps`` (layer names are the series' names; all of them hidden)."""
    book = WatchedSeries("m", "q", list(series))
    for step in steps:
        book.add(step, {f"m/{name}/q": values[step] for name, values in series.items()})
    return book


def run_search(series: dict[str, list[float]], coarse: list[int], every: int = 4, budget: int = 10_000):
    """Search with a snapshot every ``every`` steps; returns the book, the report and every step measured."""
    book = book_of(series, coarse)
    measured: list[int] = []

    def read(steps):
        measured.extend(steps)
        return {s: {f"m/{name}/q": values[s] for name, values in series.items()} for s in steps}

    snapshots = sorted(set(range(0, TOTAL + 1, every)) | set(coarse))

    def replay(start, steps):
        assert start in snapshots and steps == sorted(steps) and steps[0] > start
        assert not any(start < s <= steps[-1] for s in snapshots)  # from the last snapshot before them
        return read(steps)

    report = search(book, snapshots, 0.2, budget, read, replay)
    return book, report, measured


def peak(values: list[float]) -> tuple[int, float]:
    step = max(range(len(values)), key=lambda i: values[i])
    return step, values[step]


COARSE = sorted({0, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233, 377, TOTAL})


def test_a_smooth_hump_is_found_to_the_step_with_few_measurements():
    hump = [math.exp(-(((s - 101) / 40) ** 2)) for s in range(TOTAL + 1)]  # summit at 101, between 89 and 144
    book, report, measured = run_search({"a": hump}, COARSE)
    top = max(book.values[LAYER_MEAN], key=book.values[LAYER_MEAN].get)
    assert top == 101
    assert len(measured) < 40  # halvings and one replay around the summit, not every step of 89..144
    assert not report.truncated


def test_a_jagged_top_is_measured_at_every_step_across_it():
    # a slow rise with alternating jumps of 0.05: the highest value is a single spike at step 301
    jagged = [s / TOTAL + (0.05 if s % 2 else 0.0) + (0.08 if s == 301 else 0.0) for s in range(TOTAL + 1)]
    jagged = [v if s <= 330 else jagged[330] - (s - 330) / 50 for s, v in enumerate(jagged)]
    book, _, measured = run_search({"a": jagged}, COARSE)
    assert max(book.values[LAYER_MEAN], key=book.values[LAYER_MEAN].get) == peak(jagged)[0] == 301
    assert {300, 301, 302} <= set(book.steps)


def test_a_series_that_creeps_up_to_the_end_is_not_refined_along_the_way():
    creep = [0.5 + 1e-4 * s for s in range(TOTAL + 1)]
    _, report, measured = run_search({"a": creep}, COARSE)
    # the prior looks into the gaps whose ends come near the top once; they show no excursion, so it stops
    assert len(measured) <= 12 and report.cost <= 20, (measured, report)


def test_every_hidden_layer_and_their_mean_are_watched_and_each_finds_its_own_peak():
    early = [math.exp(-(((s - 40) / 15) ** 2)) for s in range(TOTAL + 1)]
    late = [math.exp(-(((s - 300) / 30) ** 2)) for s in range(TOTAL + 1)]
    book, _, _ = run_search({"early": early, "late": late}, COARSE)
    for name, values in (("m/early/q", early), ("m/late/q", late)):
        assert max(book.values[name], key=book.values[name].get) == peak(values)[0]
    mean = [(a + b) / 2 for a, b in zip(early, late, strict=True)]
    assert max(book.values[LAYER_MEAN], key=book.values[LAYER_MEAN].get) == peak(mean)[0]


def test_a_budget_stops_the_search_and_says_so():
    jagged = [(0.05 if s % 2 else 0.0) + 0.5 for s in range(TOTAL + 1)]  # a flat top: every gap may hide it
    _, report, _ = run_search({"a": jagged}, COARSE, budget=30)
    assert report.truncated and report.cost <= 30


def test_a_gap_without_a_snapshot_before_it_is_left_and_counted():
    hump = [math.exp(-(((s - 101) / 40) ** 2)) for s in range(TOTAL + 1)]
    book = book_of({"a": hump}, COARSE)
    report = search(book, [200], 0.2, 10_000, lambda steps: {}, lambda *_: {})
    assert report.unreachable >= 1 and report.replays == 0


def test_non_finite_values_are_not_peaks():
    values = [0.1 * s / TOTAL for s in range(TOTAL + 1)]
    values[233] = math.nan
    book = book_of({"a": values}, COARSE)
    assert book.top("m/a/q") == values[TOTAL]
    assert all(g.b == TOTAL or g.a >= 233 for g in candidate_gaps(book, 0.2))


def test_the_layer_mean_is_the_mean_of_the_hidden_layers_and_nan_when_one_is_missing():
    book = WatchedSeries("m", "q", ["a", "b"])
    assert book.watched({"m/a/q": 0.2, "m/b/q": 0.4, "m/logits/q": 0.9})[LAYER_MEAN] == pytest.approx(0.3)
    assert math.isnan(book.watched({"m/a/q": 0.2})[LAYER_MEAN])


def test_retention_keeps_the_gaps_near_each_series_running_top():
    rise = [s / TOTAL for s in range(TOTAL + 1)]
    book = book_of({"a": rise}, COARSE)
    ranks = Retention(absolute=0.0, relative=0.25).gap_ranks(book)
    kept = sorted(ranks)
    assert kept[-1] == (377, TOTAL) and ranks[(377, TOTAL)] == 2.0  # "a" is also the layer mean: ranked first
    assert all(a >= 233 for a, _ in kept)  # the values within a quarter of the spread of the top
    assert steps_in(kept, range(0, TOTAL, 50)) == {250, 300, 350}


def test_when_memory_runs_short_the_layer_means_gaps_are_dropped_last():
    # "early" peaks at 50, "late" at 300: the mean of the two peaks near 300, so its gaps outrank early's top
    early = [math.exp(-(((s - 50) / 30) ** 2)) for s in range(TOTAL + 1)]
    late = [1.2 * math.exp(-(((s - 300) / 60) ** 2)) for s in range(TOTAL + 1)]
    book = book_of({"early": early, "late": late}, COARSE)
    ranks = Retention().gap_ranks(book)
    assert any(r < 1.0 for r in ranks.values())  # gaps kept for one series alone
    mean_top = max(book.values[LAYER_MEAN], key=book.values[LAYER_MEAN].get)
    around = [gap for gap in ranks if mean_top in gap]
    assert around and all(ranks[gap] == 2.0 for gap in around)
    assert min(ranks[gap] for gap in around) > max(r for gap, r in ranks.items() if r < 1.0)


def test_loss_spikes_say_how_far_a_loss_stands_above_its_neighbours():
    losses = [1.0] * 20 + [3.0] + [1.0] * 9 + [math.nan] + [1.0] * 5
    spikes = loss_spikes(losses)
    assert spikes[20] == pytest.approx(2.0) and spikes[10] == 0.0
    assert spikes[30] == -math.inf  # a non-finite loss is never a step to measure first
    assert max(range(len(losses)), key=spikes.__getitem__) == 20


def test_a_one_step_spike_marked_by_the_loss_is_found_with_few_measurements():
    # a flat series with a single-step spike at 117 inside the gap 89..144; the loss jumps at that step
    spike = [0.5 + (0.2 if s == 117 else 0.0) + 1e-5 * (s % 3) for s in range(TOTAL + 1)]
    losses = [2.0 + (1.0 if s == 117 else 0.0) - 1e-3 * s for s in range(TOTAL + 1)]
    book = book_of({"a": spike}, COARSE)
    measured: list[int] = []

    def read(steps):
        measured.extend(steps)
        return {s: {"m/a/q": spike[s]} for s in steps}

    snapshots = sorted(set(range(0, TOTAL + 1, 4)) | set(COARSE))
    search(book, snapshots, 0.2, 12, read, lambda start, steps: read(steps), priority=loss_spikes(losses))
    assert 117 in measured[:4]  # in the first round
    # without the loss, a halving search with the same budget does not get there
    book = book_of({"a": spike}, COARSE)
    search(book, snapshots, 0.2, 12, read, lambda start, steps: read(steps))
    assert 117 not in book.steps


def test_a_replay_never_reaches_farther_than_allowed():
    hump = [math.exp(-(((s - 101) / 40) ** 2)) for s in range(TOTAL + 1)]
    book = book_of({"a": hump}, COARSE)
    report = search(book, [0], 0.2, 10_000, lambda steps: {}, lambda start, steps: {}, reach=10)
    assert report.unreachable > 0 and report.replays == 0 and report.cost == 0


def test_the_allowance_judged_again_after_new_refinements_is_what_all_excursions_give():
    """``allowance`` remembers what it saw of each gap and looks only at excursions added since: after every
    round of refinement it must equal the rule applied to every excursion (a slow reference)."""
    import random

    NAME = "m/a/q"  # noqa: N806 (the series' tag)

    rng = random.Random(3)
    values = [rng.random() for _ in range(TOTAL + 1)]
    book = book_of({"a": values}, list(range(0, TOTAL + 1, 40)))

    def reference(a: int, b: int, prior: float) -> float:
        w = b - a
        near = [
            e
            for ga, gb, e in book.excursions.get(NAME, [])
            if ga <= b + w and gb >= a - w and 2 * (gb - ga) >= w
        ]
        return max(near) if near else prior

    judged = 0
    for _ in range(6):
        gaps = [(a, b) for a, b in zip(book.steps, book.steps[1:], strict=False) if b - a >= 2]
        for a, b in gaps + [(0, 40), (40, 120), (200, 210)]:
            assert book.allowance(NAME, a, b, 0.5) == reference(a, b, 0.5)
            judged += 1
        inside = {s for a, b in rng.sample(gaps, min(3, len(gaps))) for s in (rng.randrange(a + 1, b),)}
        book.add_refined({s: {"m/a/q": values[s]} for s in inside})
    assert judged > 30 and len(book.excursions[NAME]) >= 10


def test_a_gap_whose_end_is_within_the_step_to_step_noise_of_the_top_is_a_candidate():
    """A flat, noisy top: the series was measured at every step on both sides of one gap, changing by about
    0.01 a step; the gap's ends lie 0.015 under the top, within twice that noise, so the gap may hide the
    top's equal although no excursion was ever seen (prior 0)."""
    values = [0.0] * (TOTAL + 1)
    for step in range(0, 31):
        values[step] = 1.0 if step == 5 else (0.99 if step % 2 else 0.98)
    values[10] = values[20] = 0.985
    book = book_of({"a": values}, [*range(0, 11), *range(20, 31)])
    assert [(g.a, g.b) for g in candidate_gaps(book, 0.0)] == [(10, 20)]


def test_a_hump_whose_summit_fell_before_its_highest_measurement_is_a_candidate():
    """A second hump, measured at 10, 20 and 30 on its flanks only: the parabola through them peaks at step
    17, inside the gap left of the highest of the three, above the top measured elsewhere (1.0 at 100, with
    its neighbours: a step-to-step noise of 0.03 there, none near the hump, and prior 0, so only the
    parabola says that the gap may hide more)."""
    values = [0.0] * (TOTAL + 1)
    for step in (10, 20, 30):
        values[step] = 1.05 - 0.01 * (step - 17) ** 2
    values[90], values[99], values[100], values[101], values[110] = 0.5, 0.97, 1.0, 0.97, 0.5
    book = book_of({"a": values}, [10, 20, 30, 90, 99, 100, 101, 110])
    gaps = {(g.a, g.b) for g in candidate_gaps(book, 0.0)}
    assert (10, 20) in gaps and (20, 30) not in gaps

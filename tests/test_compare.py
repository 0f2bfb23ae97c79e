"""Arm comparisons: probability of superiority and the permutation p-value against brute force and scipy."""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import replace

import pytest
from report_rows import report
from report_rows import row as make_row

from condensekit.report.compare import comparison_table, comparisons, permutation_p, smallest_p, superiority
from condensekit.report.rows import RunRow
from condensekit.spec import SummaryOptions
from condensekit.status import RunStatus


def brute_p(x: list[float], y: list[float]) -> float:
    """Every relabeling of the pooled values, the statistic recomputed pair by pair."""
    pooled = x + y
    observed = abs(superiority(x, y) - 0.5)
    hits = total = 0
    for chosen in itertools.combinations(range(len(pooled)), len(x)):
        a = [pooled[i] for i in chosen]
        b = [pooled[i] for i in range(len(pooled)) if i not in chosen]
        total += 1
        hits += abs(superiority(a, b) - 0.5) >= observed - 1e-12
    return hits / total


def test_superiority_against_scipy_mann_whitney() -> None:
    from scipy.stats import mannwhitneyu

    rng = random.Random(0)
    for _ in range(50):
        x = [rng.choice([0.1, 0.2, 0.3, rng.random()]) for _ in range(rng.randint(1, 6))]
        y = [rng.choice([0.1, 0.2, 0.3, rng.random()]) for _ in range(rng.randint(1, 6))]
        u = mannwhitneyu(x, y, alternative="two-sided").statistic  # U of x, ties counting one half
        assert superiority(x, y) == pytest.approx(u / (len(x) * len(y)))


def test_exact_p_against_brute_force_with_ties() -> None:
    rng = random.Random(1)
    for _ in range(40):
        x = [float(rng.randint(0, 4)) for _ in range(rng.randint(1, 5))]
        y = [float(rng.randint(0, 4)) for _ in range(rng.randint(1, 5))]
        p, exact = permutation_p(x, y)
        assert exact and p == pytest.approx(brute_p(x, y))


def test_exact_p_against_scipy_without_ties() -> None:
    from scipy.stats import mannwhitneyu, permutation_test

    rng = random.Random(2)
    for n_x, n_y in [(2, 2), (3, 3), (5, 5), (4, 6), (7, 3)]:
        x = [rng.random() for _ in range(n_x)]
        y = [rng.random() + 0.3 for _ in range(n_y)]
        p, exact = permutation_p(x, y)
        assert exact
        assert p == pytest.approx(mannwhitneyu(x, y, alternative="two-sided", method="exact").pvalue)
        res = permutation_test(
            (x, y),
            lambda a, b: superiority(list(a), list(b)) - 0.5,
            permutation_type="independent",
            alternative="two-sided",
            n_resamples=math.inf,
        )
        assert p == pytest.approx(res.pvalue)


def test_two_against_two_seeds_cannot_conclude() -> None:
    p, exact = permutation_p([1.0, 2.0], [3.0, 4.0])  # as separated as two groups can be
    assert exact and p == pytest.approx(1 / 3) and smallest_p(2, 2) == pytest.approx(1 / 3)
    assert smallest_p(5, 5) == pytest.approx(2 / 252) and smallest_p(3, 3) == pytest.approx(0.1)


def test_large_groups_use_seeded_random_relabelings() -> None:
    from scipy.stats import mannwhitneyu

    rng = random.Random(3)
    x = [rng.gauss(0, 1) for _ in range(14)]
    y = [rng.gauss(0.8, 1) for _ in range(14)]  # C(28, 14) = 40 million relabelings: too many to enumerate
    p, exact = permutation_p(x, y)
    assert not exact and permutation_p(x, y) == (p, False)  # the same draws every time
    assert p == pytest.approx(mannwhitneyu(x, y, alternative="two-sided", method="exact").pvalue, abs=0.01)


def row(
    arm: str,
    seed: int,
    t1: int | None,
    ds: float,
    acc: float,
    status: RunStatus = RunStatus.OK,
    reference: str | None = None,
) -> RunRow:
    return make_row(
        arm,
        seed,
        status=status,
        started={"mlp": 0.0, "resmlp": 1.0, "bn": 2.0}[arm],
        reference=reference,
        phase1_end=t1,
        dS=ds,
        final_test_acc=acc,
        steps_done=500,
    )


RESMLP = SummaryOptions(series="condensation/feat_inter", reference="resmlp")


def test_comparisons_against_the_first_or_named_reference_arm() -> None:
    rows = [row("mlp", s, t, 0.2, 0.9) for s, t in enumerate([300, 320, None])]  # one stuck seed
    rows += [row("resmlp", s, t, 0.05, 0.95) for s, t in enumerate([11, 12, 10])]
    rows += [row("bn", 0, 11, 0.0, 0.97), row("bn", 1, None, 0.0, 0.1, status=RunStatus.FAILED)]
    assert report(*rows).reference == "mlp"
    got = {(c["arm"], c["key"]): c for c in comparisons(report(*rows))}
    t1 = got[("resmlp", "phase1_end")]
    assert t1["y"] == [300.0, 320.0, 501.0]  # stuck: later than any observed T1 (steps + 1)
    assert t1["P"] == 0.0 and t1["p"] == pytest.approx(0.1) and t1["too_few"]
    assert got[("bn", "phase1_end")]["x"] == [11.0]  # the failed run is left out
    table = comparison_table(report(*rows))
    assert all("too few seeds to conclude" in r["reading"] for r in table)
    named = report(*(replace(r, spec=r.spec.model_copy(update={"summary_options": RESMLP})) for r in rows))
    assert named.reference == "resmlp" and {c["arm"] for c in comparisons(named)} == {"mlp", "bn"}


def test_enough_seeds_give_a_reading() -> None:
    rows = [row("mlp", s, 300 + s, 0.2 + s / 100, 0.9) for s in range(5)]
    rows += [row("resmlp", s, 10 + s, 0.01 * s, 0.9) for s in range(5)]
    by_quantity = {r["quantity"]: r for r in comparison_table(report(*rows))}
    t1 = by_quantity["T1 (phase-1 end)"]
    assert t1["reading"] == "lower than mlp (Holm p <= 0.05)" and t1["p (two-sided)"] == f"{2 / 252:.3g}"
    # three comparisons in the family: T1 and dS at 2/252 each, the accuracy at 1
    assert t1["p (Holm)"] == f"{3 * 2 / 252:.3g}" and by_quantity["test acc"]["p (Holm)"] == "1"
    assert by_quantity["test acc"]["reading"] == "no difference shown at p <= 0.05"  # all tied: p = 1
    # the shift resmlp - mlp: every difference is -290 + (s - s'); its interval holds the true -290
    assert t1["shift arm - ref [95% CI]"] == "-290 [-293, -287]"
    assert by_quantity["test acc"]["shift arm - ref [95% CI]"] == "+0 [+0, +0]"


def test_higher_or_lower_is_read_from_the_holm_adjusted_p() -> None:
    """Raw p = 2/70 (4 against 4 seeds, fully separated) is below 0.05, but three tests adjust it to 3 x 2/70
    = 0.086: no difference is shown, and the row says the raw p alone would have."""
    rows = [row("mlp", s, 300 + s, 0.2 + s / 100, 0.9 + s / 100) for s in range(4)]
    rows += [row("resmlp", s, 10 + s, 0.01 * s, 0.5 + s / 100) for s in range(4)]
    by_quantity = {r["quantity"]: r for r in comparison_table(report(*rows))}
    for quantity in ("T1 (phase-1 end)", "rise dS", "test acc"):
        cells = by_quantity[quantity]
        assert cells["p (two-sided)"] == f"{2 / 70:.3g}" and cells["p (Holm)"] == f"{6 / 70:.3g}"
        assert cells["reading"] == "no difference shown after Holm's adjustment (raw p <= 0.05)"


def test_no_interval_for_a_censored_t1() -> None:
    rows = [row("mlp", s, t, 0.2, 0.9) for s, t in enumerate([300, 320, None, 310, 330])]
    rows += [row("resmlp", s, 10 + s, 0.05, 0.95) for s in range(5)]
    got = {c["key"]: c for c in comparisons(report(*rows))}
    assert got["phase1_end"]["shift"] is None and got["dS"]["shift"] is not None


def test_a_random_relabeling_p_value_is_never_zero() -> None:  # SciPy's (hits + 1) / (n + 1)
    # no relabeling is as extreme
    p, exact = permutation_p([float(i) for i in range(100, 114)], [float(i) for i in range(14)])
    assert not exact and p == pytest.approx(1 / 100_001)


def test_a_p_value_of_exactly_alpha_is_significant() -> None:  # report-18
    """1 against 79 seeds: the arm's value is the most extreme in 2 of the 80 ways to pick one seed, p =
    0.025; no accuracy, so two tests (T1, dS) in the family and Holm's adjusted p is exactly 0.05."""
    rows = [make_row("ref", s, phase1_end=100 + s, dS=0.01 * s, steps_done=500) for s in range(79)]
    rows.append(make_row("arm", 0, started=1.0, phase1_end=50, dS=0.9, steps_done=500))
    by_quantity = {r["quantity"]: r for r in comparison_table(report(*rows))}
    assert by_quantity["rise dS"]["p (two-sided)"] == "0.025" and by_quantity["rise dS"]["p (Holm)"] == "0.05"
    assert by_quantity["rise dS"]["reading"] == "higher than ref (Holm p <= 0.05)"
    assert by_quantity["T1 (phase-1 end)"]["reading"] == "lower than ref (Holm p <= 0.05)"


def test_sizes_that_can_just_reach_alpha_are_not_too_few() -> None:  # report-30
    """1 against 39 seeds: the smallest possible p is 2/40 = 0.05, so the sizes can conclude; the raw p is
    0.05, Holm's over two tests 0.1."""
    rows = [make_row("ref", s, phase1_end=100 + s, dS=0.01 * s, steps_done=500) for s in range(39)]
    rows.append(make_row("arm", 0, started=1.0, phase1_end=50, dS=0.9, steps_done=500))
    by_quantity = {r["quantity"]: r for r in comparison_table(report(*rows))}
    assert by_quantity["rise dS"]["reading"] == "no difference shown after Holm's adjustment (raw p <= 0.05)"

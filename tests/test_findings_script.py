"""scripts/findings.py's checks: a claim that no longer holds is marked, logged values are read at 0 / T1 /
end."""

from __future__ import annotations

import importlib
import json
import sys
import tomllib
from pathlib import Path

import pytest
from report_rows import report, row

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"


def _script_module(name: str):
    """Import ``scripts/<name>.py`` (the scripts import each other by bare name) and yield it."""
    sys.path.insert(0, str(SCRIPTS))
    try:
        yield importlib.import_module(name)
    finally:
        sys.path.remove(str(SCRIPTS))


@pytest.fixture(scope="module")
def stats_module():
    yield from _script_module("findings_stats")


def test_a_claim_that_does_not_hold_is_marked_and_recorded(stats_module) -> None:
    stats = stats_module.Stats(report())
    assert stats.claim(True, "T1 is 260.") == "T1 is 260."
    marked = stats.claim(False, "T1 is 100.")
    assert marked.startswith("**[This statement no longer holds") and marked.endswith("T1 is 100.")
    assert stats.failures == ["T1 is 100."]


def test_logged_values_at_step_0_at_t1_and_at_the_end(stats_module, tmp_path: Path) -> None:
    run = tmp_path / "mlp" / "base" / "seed=0"
    run.mkdir(parents=True)
    lines = [
        {
            "step": 0,
            "condensation/mean/share_class": 0.1,
            "g/layer1/q": 1.0,
            "g/layer2/q": 3.0,
            "g/logits/q": 100.0,
        },
        {"step": 10, "train/loss": 2.3},
        {"step": 20, "condensation/mean/share_class": 0.2, "g/layer1/q": 2.0, "g/layer2/q": 2.0},
        {"step": 40, "condensation/mean/share_class": 0.4, "g/layer1/q": 5.0, "g/layer2/q": 5.0},
    ]
    (run / "metrics.jsonl").write_text("\n".join(json.dumps(line) for line in lines))
    made = row("mlp", 0, phase1_end=30, hidden_layers=("layer1", "layer2"))
    # last value at or before T1
    assert stats_module.at_t1(tmp_path, made, "condensation/mean/share_class") == (0.1, 0.2, 0.4)
    # stuck: the end
    stuck = row("mlp", 0, phase1_end=None, hidden_layers=("layer1", "layer2"))
    assert stats_module.at_t1(tmp_path, stuck, "condensation/mean/share_class")[1] == 0.4
    # mean over the hidden layers (the verdict's rule), logits left out
    assert stats_module.at_t1(tmp_path, made, "g/*/q") == (2.0, 2.0, 5.0)


@pytest.fixture(scope="module")
def text_module(stats_module):
    yield from _script_module("findings_text")


def _arms(*names: str, shift: float = 100.0):
    """5 seeds per arm; each arm after the first has T1 ``shift`` steps earlier in every seed."""
    rows = []
    for k, name in enumerate(names):
        for seed in range(5):
            rows.append(
                row(
                    name,
                    seed,
                    reference=names[0],
                    phase1_end=int(300 + seed - k * shift),
                    dS=0.05 + 0.001 * seed,
                    final_test_acc=0.9 + 0.001 * seed + 0.0001 * k,
                    final_train_acc=0.1 if name == "stuck" else 0.99,
                )
            )
    return report(*rows)


def test_higher_or_lower_is_read_from_the_holm_adjusted_p(stats_module) -> None:
    # one arm: 3 comparisons, the smallest raw p 2/252 times 3 is under 0.05
    small = stats_module.Stats(_arms("plain", "trick"))
    assert small.compared("trick", "phase1_end")["p"] == pytest.approx(2 / 252)
    assert small.shown("trick", "phase1_end") == "lower"
    assert "Holm p = 0.024" in small.p("trick", "phase1_end")
    # three arms: 9 comparisons, 9 * 2/252 > 0.05: the same separation is no longer shown
    many = stats_module.Stats(_arms("plain", "a", "b", "c"))
    assert many.compared("a", "phase1_end")["p"] == pytest.approx(2 / 252)
    assert many.shown("a", "phase1_end") == "not shown"


def test_an_extra_comparison_is_adjusted_with_the_section_family(stats_module) -> None:
    stats = stats_module.Stats(_arms("plain", "a", "b"))
    extra = stats.extra("a", "b", "phase1_end")
    assert extra["P"] == 1.0  # a's T1 is later than b's in every pair
    assert extra["p_holm"] == pytest.approx(
        min(1.0, 7 * 2 / 252)
    )  # 6 comparisons of the report plus this one
    assert extra["word"] == "not shown"


def test_equivalence_needs_the_whole_interval_inside_the_margin(stats_module) -> None:
    stats = stats_module.Stats(_arms("plain", "trick", shift=0.0))
    low, high = stats.compared("trick", "final_test_acc")["shift"][1:3]
    assert stats.within("trick", "final_test_acc", margin=max(-low, high) + 1e-9)
    assert not stats.within("trick", "final_test_acc", margin=max(-low, high) / 2)


def test_no_difference_wording_needs_an_equivalence_bound(text_module) -> None:
    flagged = text_module.unsupported_wording(
        [
            "L2 has no effect on T1 (p = 0.4). Momentum shortens it.",
            "The test accuracy does not change: shift +0.001 [-0.004, +0.006], inside a margin of 0.01.",
            "A difference is not shown after Holm's adjustment.",
            "Both arms barely move.",
        ]
    )
    assert flagged == ["L2 has no effect on T1 (p = 0.4).", "Both arms barely move."]


def test_the_wording_lint_reads_claims_not_designators_or_mentions(text_module) -> None:
    """The old lint flagged any "the same" and any "no difference", even naming a section or quoting the
    rule."""
    flagged = text_module.unsupported_wording(
        [
            "Holm p adjusts over every comparison of the same section, on the same software.",
            "No sentence reads *no difference* from a large p; where one says two arms `do not differ`, it "
            "names a margin.",
            "T1 is the same in both arms (p = 0.6).",
            "The two arms do not differ in dS.",
            "Its peak step is the same as plain SGD's.",
            "**No difference** in T1 (p = 0.3).",
        ]
    )
    assert flagged == [
        "T1 is the same in both arms (p = 0.6).",
        "The two arms do not differ in dS.",
        "Its peak step is the same as plain SGD's.",
        "**No difference** in T1 (p = 0.3).",
    ]


def test_the_accuracy_table_tells_an_arm_that_does_not_train(stats_module) -> None:
    table = stats_module.accuracy_table(stats_module.Stats(_arms("plain", "stuck")))
    assert [r["arm"] for r in table] == ["plain", "stuck"]
    assert table[1]["train acc"].startswith("0.1 ") and table[0]["train acc"].startswith("0.99 ")
    assert table[1]["finished"] == "5/5"


def test_versus_words_follow_the_adjusted_p(stats_module, text_module) -> None:
    small, many = (
        stats_module.Stats(_arms("plain", "trick")),
        stats_module.Stats(_arms("plain", "a", "b", "c")),
    )
    assert text_module.versus(small, "trick", "phase1_end", "T1").startswith("T1 lower than plain (")
    assert "not shown after Holm's adjustment" in text_module.versus(many, "a", "phase1_end", "T1")


def test_a_recipe_cost_line_is_replaced_with_its_continuation(tmp_path: Path) -> None:
    sys.path.insert(0, str(SCRIPTS))
    try:
        import findings_io
    finally:
        sys.path.remove(str(SCRIPTS))
    recipe = tmp_path / "r.toml"
    recipe.write_text(
        "# Question?\n# Cost: 6 runs, 8 min wall-clock with its 2 workers on 2 CPU cores (3 min of CPU\n"
        "# time in all).\n#\n#   condensekit run r.toml\nname = 'r'\n"
    )
    findings_io.state_cost_in_header(recipe, {"runs": 10, "wall_s": 240})
    assert recipe.read_text().splitlines()[:4] == [
        "# Question?",
        "# Cost: 10 runs, 4 min wall-clock with --jobs 2 (1 thread each) on 2 CPU cores shared with other "
        "jobs.",
        "#",
        "#   condensekit run r.toml",
    ]
    with findings_io.LoadSampler(every=0.01) as load:
        pass
    assert len(load.samples) >= 2 and len(load.summary()) == 3


def test_the_reproduction_check_reads_the_published_csv_layout() -> None:
    """findings_check.py compares every column of CSV_COLUMNS: each published CSV has exactly those."""
    sys.path.insert(0, str(SCRIPTS))
    try:
        import findings_check
        from findings_sections import CSV_COLUMNS, ROOT, SECTIONS
    finally:
        sys.path.remove(str(SCRIPTS))
    for section in SECTIONS:
        path = ROOT / "docs" / "findings" / section.part / f"{section.name}.csv"
        assert path.read_text(encoding="utf-8").splitlines()[0].split(",") == CSV_COLUMNS, path
    key = ("plain", "base", "0")
    row = dict.fromkeys(CSV_COLUMNS, "1")
    assert findings_check.differences({key: row}, {key: dict(row)}) == []
    old_layout = {c: v for c, v in row.items() if c != "peak_loss_drop"}
    assert findings_check.differences({key: old_layout}, {key: row}) == [
        "plain/base/0 peak_loss_drop: published None, now '1'"
    ]
    assert findings_check.differences({key: row}, {}) == [f"missing run {key}"]


def test_too_thin_is_said_where_holm_cannot_reach_alpha(text_module) -> None:
    """5 seeds against 5: smallest raw p 1/126 = 0.0079, so 6 tests can still reach 0.05 and 7 cannot."""
    assert text_module.too_thin(6) == []
    (sentence,) = text_module.too_thin(7)
    assert "7 comparisons" in sentence and "0.056" in sentence
    assert text_module.unsupported_wording([sentence]) == []


@pytest.fixture(scope="module")
def digits_module():
    yield from _script_module("findings_digits")


def test_the_init_scale_reading_finds_arms_whose_label_is_a_float(stats_module, digits_module) -> None:
    """The grid writes scale 1 as "1.0": the reading must find its runs, not report "0/0 diverged"."""
    rows = [
        row("xavier", seed, grid={"tricks.init.scale": scale}, phase1_end=t1 + seed, dS=0.05)
        for scale, t1 in ((0.9, 500), (1.0, 260), (1.1, 100), (1.25, 60))
        for seed in range(5)
    ]
    first, _ = digits_module.init_scale(stats_module.Stats(report(*rows)))
    assert "diverged" not in first and "4 scales train (0.9, 1, 1.1, 1.25)" in first


def test_an_l2_arm_with_seeds_near_chance_gets_no_t1_comparison(stats_module, text_module) -> None:
    accs = {"plain": [0.99] * 5, "l2_0.05": [0.1, 0.12, 0.5, 0.6, 0.7]}
    rows = [
        row(arm, seed, phase1_end=260 + 10 * seed, final_train_acc=acc, final_test_acc=acc)
        for arm, per_seed in accs.items()
        for seed, acc in enumerate(per_seed)
    ]
    stats = stats_module.Stats(report(*rows))
    (sentence,) = text_module.l2_text(stats)
    assert "2/5 seeds end with a train accuracy under 0.2" in sentence and "Holm" not in sentence


@pytest.mark.parametrize("folder", ["", "fashion_mnist/"])
def test_each_four_tricks_reading_reads_only_its_own_recipes_arms(stats_module, folder) -> None:
    """Fashion-MNIST's recipe has no init_x1.5 arm: its reading must not ask for one (the KeyError the
    06:59 regeneration hit when it read the Fashion-MNIST runs with the digits reading)."""
    recipe = SCRIPTS.parent / "recipes" / f"{folder}four_tricks.toml"
    names = [arm["name"] for arm in tomllib.loads(recipe.read_text(encoding="utf-8"))["arms"]]
    module = next(_script_module("findings_fashion" if folder else "findings_digits"))
    sentences = module.four_tricks(stats_module.Stats(_arms(*names, shift=20.0)))
    assert len(sentences) >= 3 and not any("no longer holds" in s for s in sentences)

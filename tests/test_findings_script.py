"""scripts/findings.py's checks: a claim that no longer holds is marked, logged values are read at 0 / T1 /
end."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from report_rows import report, row

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"


@pytest.fixture(scope="module")
def stats_module():
    sys.path.insert(0, str(SCRIPTS))
    try:
        import findings_stats

        yield findings_stats
    finally:
        sys.path.remove(str(SCRIPTS))


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

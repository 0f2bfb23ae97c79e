"""The hand-chosen mutants of ``scripts/mutants.py``: one silent bug each, in the modules where a bug gives
wrong science or loses data without a crash.

Each entry: the module group, the file, the exact original snippet (it must occur exactly once), its
replacement and the bug it models. ``equivalent`` gives the reason when the mutant cannot change any
observable result; such mutants are listed but left out of the kill rate.
"""

from __future__ import annotations

from mutant_base import Mutant
from mutants_files import FILES
from mutants_later import LATER
from mutants_report import REPORT
from mutants_science import SCIENCE

# test files per module group (paths below tests/), fast ones first (pytest -x stops at the first failure)
TESTS: dict[str, list[str]] = {
    "measures": [
        "test_measures.py",
        "test_measure_edge_cases.py",
        "test_shares_and_layer_means.py",
        "test_measure_precision.py",
        "plugins/test_metrics_nc_health.py",
        "plugins/test_metrics_non_finite.py",
        "plugins/test_common_direction.py",
    ],
    "phases": ["test_phases.py", "test_phases_rules.py", "plugins/test_mlp.py"],
    "groups": ["test_layer_groups.py", "test_probe.py", "test_phases.py"],
    "refine": ["test_refine.py", "test_snapshots.py", "test_batches.py", "test_replay.py"],
    "probe": [
        "test_probe.py",
        "plugins/test_mlp.py",
        "test_measure_precision.py",
        "test_measure_edge_cases.py",
    ],
    "tricks": ["plugins/test_tricks.py", "plugins/test_tricks_init.py"],
    "output": [
        "test_output.py",
        "test_safe_files.py",
        "test_run_lock.py",
        "test_reuse.py",
        "test_executing.py",
        "test_report_writing.py",
    ],
    "report": [
        "test_report_rows.py",
        "test_report_tables.py",
        "test_report_markdown.py",
        "test_answer.py",
        "test_compare.py",
        "test_rank_tests.py",
        "test_quantities.py",
        "test_report.py",
        "test_report_series.py",
    ],
}


# in this order: a mutant's id (group-number) counts within its group, in list order
MUTANTS: list[Mutant] = [*SCIENCE, *FILES, *REPORT, *LATER]

__all__ = ["MUTANTS", "TESTS", "Mutant"]

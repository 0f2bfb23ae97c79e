"""condensekit.report.markdown: report.md's legend of the thresholds in force, its question and its list of
the runs that did not finish ok."""

from __future__ import annotations

from pathlib import Path

from report_rows import finished_row, report, row

from condensekit.report.markdown import legend, recipe_question, report_markdown
from condensekit.report.tables import verdict
from condensekit.status import RunStatus


def test_the_legend_prints_each_threshold_in_force_and_flags_a_second_set() -> None:  # report-24, report-25
    th = {"plateau_drop_rel": 0.25, "plateau_drop_abs": 0.5, "rise": 0.2}
    text = "\n".join(legend(report(row("mlp", 0, thresholds=th, phase1_end=300))))
    assert (
        "L0 - max(0.25 L0, 0.5)" in text
        and "a rise dS >= 0.2," in text
        and "different thresholds" not in text
    )
    two = report(
        row("mlp", 0, thresholds=th, phase1_end=300),
        row("mlp", 1, thresholds={**th, "rise": 0.3}, phase1_end=300),
    )
    assert "**Note: the runs used different thresholds**" in "\n".join(legend(two))


def test_the_question_is_read_only_from_the_reports_own_recipe(tmp_path: Path) -> None:  # report-26
    own, other = tmp_path / "mine.toml", tmp_path / "other.toml"
    own.write_text('# Does it condense?\nname = "mine"\n')
    other.write_text('# a secret\nname = "other"\n')
    assert recipe_question([row("a", 0, recipe_path=str(own))], "mine") == ["> Does it condense?", ""]
    assert recipe_question([row("a", 0, recipe_path=str(other))], "mine") == []


def test_the_report_lists_every_run_that_did_not_finish_ok(tmp_path: Path) -> None:  # report-27
    rows = [finished_row("mlp", 0, 300, 0.2)] + [
        row("mlp", s, status=st, error="why")
        for s, st in enumerate((RunStatus.DIVERGED, RunStatus.UNREADABLE, RunStatus.FAILED), start=1)
    ]
    made = report(*rows)
    text = report_markdown(tmp_path, made, verdict(made), [], [])
    listed = text.split("## Runs that did not finish ok")[1]
    assert all(
        f"`mlp/base/seed={s}`: {st}: why" in listed
        for s, st in ((1, "diverged"), (2, "unreadable"), (3, "failed"))
    )

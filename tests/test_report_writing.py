"""Writing the report (``condensekit report``, :func:`condensekit.report.write_report`), tried as an attacker
and a careless user would.

Every file the report writes or removes below the output folder (``summary.csv``, ``report.md``, the PNGs,
the dashboard's event file) is written whole or not at all, never through a link; nothing read from disk
chooses where it writes; a folder without runs is left alone; a disk that refuses is one line and exit 1,
with the previous report intact; every run folder that exists is a row; ``report.md`` shows text from a
recipe or a run folder as text, never as HTML.
"""

from __future__ import annotations

import csv
import json
import os
import re
import resource
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hostile import cli
from output_tree import condensekit, snapshot, temporaries, unprivileged

pytestmark = pytest.mark.hostile
pytest_plugins = ["grid_fixtures"]  # the fixtures grid (run once) and root (a copy per test)

SEED1 = Path("mlp/base/seed=1")


def _rows(root: Path) -> dict[str, dict[str, str]]:
    with (root / "summary.csv").open(encoding="utf-8", newline="") as f:
        return {row["run_dir"]: row for row in csv.DictReader(f)}


def _edit_run_json(run_dir: Path, edit: Callable[[dict[str, Any]], None]) -> None:
    info = json.loads((run_dir / "run.json").read_text())
    edit(info)
    (run_dir / "run.json").write_text(json.dumps(info))


def _previous_report(root: Path) -> None:
    """Make the report files differ from what a new report writes, so a replaced file shows."""
    for name in ("summary.csv", "report.md"):
        (root / name).write_text("the previous report\n")


# ---------------------------------------------------------------------------------------------------------
# Links below --out, and names read from disk
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "where",
    ["summary.csv", "report.md", "figures/curves.png", "figures", "figures/arms", "figures/arms/mlp/base"],
)
def test_no_report_file_is_written_or_removed_through_a_link(
    root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], where: str
) -> None:
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "thesis.tex").write_text("years of work")
    (victim / "events.out.tfevents.1.mine").write_text("my own TensorBoard run")
    target = root / where
    if target.is_dir():  # the folder of the figures, or of an arm's TensorBoard run
        shutil.rmtree(target)
        target.symlink_to(victim)
    else:
        target.unlink()
        target.symlink_to(victim / "thesis.tex")
    before, kept = snapshot(root), snapshot(victim)
    code, _, err = cli(capsys, "report", root)
    assert code == 2 and "is a symbolic link" in err and "Traceback" not in err
    assert snapshot(victim) == kept and snapshot(root) == before  # nothing written, nothing removed


@pytest.mark.parametrize("odd", ["figures/curves.png is a link", "report.md is a folder"])
def test_run_refuses_a_link_or_an_odd_file_where_the_report_goes_before_training(
    root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], odd: str
) -> None:
    victim = tmp_path / "paper_figure.png"
    victim.write_text("the figure in my paper")
    if odd == "report.md is a folder":
        (root / "report.md").unlink()
        (root / "report.md").mkdir()
    else:
        (root / "figures/curves.png").unlink()
        (root / "figures/curves.png").symlink_to(victim)
    recipe = json.loads((root / SEED1 / "run.json").read_text())["spec"]["recipe_path"]
    before = snapshot(root)
    code, _, err = cli(capsys, "run", recipe, "--out", root.parent, "--force")
    said = "report.md is a folder, not a file" if odd == "report.md is a folder" else "is a symbolic link"
    assert code == 2 and said in err and "Traceback" not in err
    assert victim.read_text() == "the figure in my paper" and snapshot(root) == before  # nothing was rerun


@pytest.mark.parametrize(
    "name", ["../../../escaped", "ABSOLUTE", "a b", "\u00e9t\u00e9", "x" * 300, "curves"]
)
def test_a_figure_name_read_from_run_json_never_chooses_where_a_png_goes(
    root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    name = str(tmp_path / "escaped") if name == "ABSOLUTE" else name

    def rename(info: dict[str, Any]) -> None:
        info["reports"]["condensation"]["figures"][0]["name"] = name

    for seed in (0, 1):
        _edit_run_json(root / f"mlp/base/seed={seed}", rename)
    outside = {p for p in tmp_path.rglob("*") if root not in p.parents}
    code, _, err = cli(capsys, "report", root)
    assert code == 0, err
    assert {p for p in tmp_path.rglob("*") if root not in p.parents} == outside
    pngs = {p.name for p in (root / "figures").iterdir() if p.suffix == ".png"}
    assert pngs <= {
        "centered.png",
        "curves.png",
        "heatmap.png",
        "heatmap_change.png",
        "per_layer.png",
        "shares.png",
    }
    why = "is taken" if name == "curves" else "is not a plain file name"
    assert f"figure {name[:100]!r} not drawn: its name {why}" in (root / "report.md").read_text()


@pytest.mark.parametrize("kind", ["link", "fifo"])
def test_a_metrics_jsonl_that_is_a_link_or_a_fifo_is_never_opened(
    root: Path, tmp_path: Path, kind: str
) -> None:
    run_dir = root / "mlp/base/seed=0"
    metrics = run_dir / "metrics.jsonl"
    if kind == "link":  # the same content, elsewhere: trusted by its hash, were the link followed
        elsewhere = tmp_path / "elsewhere.jsonl"
        elsewhere.write_bytes(metrics.read_bytes())
        metrics.unlink()
        metrics.symlink_to(elsewhere)
    else:  # a FIFO that run.json does not even list: reading it would wait forever
        metrics.unlink()
        os.mkfifo(metrics)
        _edit_run_json(run_dir, lambda info: info["outputs"].pop("metrics.jsonl"))
    done = condensekit("report", root, timeout=90)
    assert done.returncode == 0, done.stderr
    row = _rows(root)["mlp/base/seed=0"]
    assert row["status"] == "unreadable"
    assert ("symbolic link, not followed" if kind == "link" else "is a FIFO (named pipe), not a file") in row[
        "error"
    ]


# ---------------------------------------------------------------------------------------------------------
# Check first, write after; complete or left as it was
# ---------------------------------------------------------------------------------------------------------


def test_report_on_a_folder_without_runs_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "report.md").write_text("my own notes")
    (tmp_path / "summary.csv").write_text("my,own,table\n")
    (tmp_path / "figures").mkdir()
    before = snapshot(tmp_path)
    code, _, err = cli(capsys, "report", tmp_path)
    assert code == 2 and "no runs found" in err and "nothing was written" in err
    assert snapshot(tmp_path) == before


def test_a_file_size_limit_leaves_the_previous_report_whole_and_exits_1(root: Path) -> None:
    _previous_report(root)
    before = snapshot(root)
    limit = 20_000  # the tables fit, the figures do not

    def small_files() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    done = condensekit("report", root, preexec_fn=small_files)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert any("file too large" in line and "ulimit -f" in line for line in lines), done.stderr
    assert "the previous report files are left as they were" in done.stderr
    assert snapshot(root) == before and not temporaries(root)


def test_a_read_only_report_folder_is_one_line_and_exit_1(root: Path) -> None:
    prefix = unprivileged()
    _previous_report(root)
    before = snapshot(root)
    for folder in (root, root / "figures"):
        folder.chmod(0o555)
    try:
        done = condensekit("report", root, prefix=prefix)
    finally:
        for folder in (root, root / "figures"):
            folder.chmod(0o755)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "permission denied" in done.stderr and "make the folder writable" in done.stderr
    assert snapshot(root) == before


def test_an_arm_run_folder_that_refuses_new_files_is_exit_1_with_the_previous_report_whole(
    root: Path,
) -> None:
    """The arms' TensorBoard runs are report files too: written with the others, or none is replaced."""
    prefix = unprivileged()
    _previous_report(root)
    before = snapshot(root)
    arm_run = root / "figures/arms/mlp/base"
    arm_run.chmod(0o555)
    try:
        done = condensekit("report", root, prefix=prefix)
    finally:
        arm_run.chmod(0o755)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "figures/arms/mlp/base" in done.stderr and "make the folder writable" in done.stderr
    assert snapshot(root) == before and not temporaries(root)


def test_ctrl_c_while_the_report_is_written_leaves_the_previous_files(
    root: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _previous_report(root)
    before = snapshot(root)
    real, calls = os.fsync, []

    def interrupted(fd: int) -> None:
        calls.append(fd)
        if len(calls) == 2:  # the second file is being written
            raise KeyboardInterrupt
        real(fd)

    monkeypatch.setattr(os, "fsync", interrupted)
    code, _, _ = cli(capsys, "report", root)
    assert code == 130 and len(calls) == 2
    assert snapshot(root) == before and not temporaries(root)


def test_a_hard_linked_figure_keeps_what_its_other_name_holds(
    root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (root / "figures/curves.png").write_bytes(b"the figure of my paper")
    os.link(root / "figures/curves.png", tmp_path / "paper.png")
    assert cli(capsys, "report", root)[0] == 0
    assert (tmp_path / "paper.png").read_bytes() == b"the figure of my paper"
    assert (root / "figures/curves.png").read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize("odd", ["report.md is a folder", "figures is a file"])
def test_an_odd_file_where_the_report_writes_is_refused_before_anything_is_written(
    root: Path, capsys: pytest.CaptureFixture[str], odd: str
) -> None:
    _previous_report(root)
    if odd == "report.md is a folder":
        (root / "report.md").unlink()
        (root / "report.md").mkdir()
    else:
        shutil.rmtree(root / "figures")
        (root / "figures").write_text("not a folder")
    before = snapshot(root)
    code, _, err = cli(capsys, "report", root)
    noun = "a folder, not a file" if odd == "report.md is a folder" else "a file, not a folder"
    assert code == 2 and f"is {noun}" in err and "Traceback" not in err
    assert snapshot(root) == before


def test_two_reports_at_once_leave_one_complete_dashboard(root: Path) -> None:
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    both = [
        subprocess.Popen(
            [sys.executable, "-m", "condensekit", "report", str(root)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    assert all(p.wait(timeout=180) == 0 for p in both), [p.stderr.read() for p in both if p.stderr]
    (events,) = (root / "figures").glob("events.out.tfevents.*")
    tags = [v.tag for e in EventFileLoader(str(events)).Load() for v in e.summary.value]
    assert tags[-1] == "report.md" and "figure/curves" in tags  # whole: its last record is there
    assert not temporaries(root) and list(_rows(root)) == ["mlp/base/seed=0", "mlp/base/seed=1"]


# ---------------------------------------------------------------------------------------------------------
# Every run folder is a row
# ---------------------------------------------------------------------------------------------------------


def _run_json_folder(run_dir: Path, tmp_path: Path) -> None:
    (run_dir / "run.json").unlink()
    (run_dir / "run.json").mkdir()


def _run_json_fifo(run_dir: Path, tmp_path: Path) -> None:
    (run_dir / "run.json").unlink()
    os.mkfifo(run_dir / "run.json")


def _run_json_link(run_dir: Path, tmp_path: Path) -> None:  # a sound record, elsewhere
    shutil.copy(run_dir / "run.json", tmp_path / "planted.json")
    (run_dir / "run.json").unlink()
    (run_dir / "run.json").symlink_to(tmp_path / "planted.json")


def _run_json_garbled(run_dir: Path, tmp_path: Path) -> None:
    (run_dir / "run.json").write_text('{"status": "ok", "spec"')


def _no_run_json(run_dir: Path, tmp_path: Path) -> None:
    (run_dir / "run.json").unlink()


def _linked_run_folder(run_dir: Path, tmp_path: Path) -> None:
    shutil.move(run_dir, tmp_path / "moved")
    run_dir.symlink_to(tmp_path / "moved")


ROWS = {
    "run.json is a folder": (_run_json_folder, "run.json is a folder, not a file"),
    "run.json is a FIFO": (_run_json_fifo, "run.json is a FIFO (named pipe), not a file"),
    "run.json is a link": (_run_json_link, "run.json is a symbolic link, not followed"),
    "run.json is cut short": (_run_json_garbled, "run.json is not valid JSON"),
    "no run.json": (_no_run_json, "no run.json"),
    "the run folder is a link": (_linked_run_folder, "a symbolic link, not followed"),
}


@pytest.mark.parametrize("case", list(ROWS))
def test_every_run_folder_that_exists_is_a_row_named_with_the_reason(
    root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    spoil, why = ROWS[case]
    spoil(root / SEED1, tmp_path)
    if "FIFO" in case:  # a process of its own: a FIFO must not hang the suite
        done = condensekit("report", root, timeout=90)
        assert done.returncode == 0, done.stderr
    else:
        assert cli(capsys, "report", root)[0] == 0
    rows = _rows(root)
    assert list(rows) == ["mlp/base/seed=0", "mlp/base/seed=1"]
    assert rows["mlp/base/seed=1"]["status"] == "unreadable" and why in rows["mlp/base/seed=1"]["error"]
    report = (root / "report.md").read_text()
    assert "| mlp | 1 ok 1 unreadable |" in report and f"- `mlp/base/seed=1`: unreadable: {why}" in report


def test_a_run_folder_that_cannot_be_listed_is_a_row(root: Path) -> None:
    prefix = unprivileged()
    (root / SEED1).chmod(0)
    try:
        done = condensekit("report", root, prefix=prefix)
    finally:
        (root / SEED1).chmod(0o755)
    assert done.returncode == 0, done.stderr
    row = _rows(root)["mlp/base/seed=1"]
    assert row["status"] == "unreadable" and "the folder cannot be read (Permission denied)" in row["error"]


def test_a_folder_name_that_is_not_utf8_is_reported_not_a_traceback(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    os.rename(root / SEED1, os.fsencode(root / "mlp/base") + b"/seed=\xff")
    code, _, err = cli(capsys, "report", root)
    assert code == 0 and "Traceback" not in err
    rows = _rows(root)
    assert len(rows) == 2 and "mlp/base/seed=\\udcff" in rows
    (root / "report.md").read_text(encoding="utf-8")  # valid UTF-8


# ---------------------------------------------------------------------------------------------------------
# report.md shows what came from a recipe or a run folder as text
# ---------------------------------------------------------------------------------------------------------


def test_report_md_shows_names_errors_and_captions_from_disk_as_text(
    root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recipe = tmp_path / "h.toml"
    original = json.loads((root / SEED1 / "run.json").read_text())["spec"]["recipe_path"]
    recipe.write_text("# Does <script>alert(1)</script> condense?\n" + Path(original).read_text())

    def first(info: dict[str, Any]) -> None:
        info["spec"]["recipe_path"] = str(recipe)
        info["reports"]["condensation"]["figures"][0]["caption"] = '<iframe src="https://evil.example">'

    def second(info: dict[str, Any]) -> None:
        first(info)
        info["status"] = "failed"
        info["spec"]["arm"] = "<img src=x onerror=alert(1)>"
        info["spec"]["grid"] = {"model.params.act": "<b>bold</b>"}
        info["error"] = (
            "Traceback (most recent call last):\nValueError: <!-- --><script>x</script> ![t](http://e/t.png)"
        )

    _edit_run_json(root / "mlp/base/seed=0", first)
    _edit_run_json(root / SEED1, second)
    assert cli(capsys, "report", root)[0] == 0
    report = (root / "report.md").read_text()
    assert set(re.findall(r"<\s*/?\s*([A-Za-z]+)", report)) <= {"details", "summary"}  # condensekit's own
    assert "<!--" not in report and "![t]" not in report
    assert "Does &lt;script>alert(1)&lt;/script> condense?" in report
    assert "&lt;img src=x onerror=alert(1)>" in report and "&lt;iframe" in report

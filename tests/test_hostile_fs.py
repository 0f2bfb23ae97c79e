"""Defect class 5: file-system errors never abort a grid with a traceback.

An unusable output folder (a file, read-only, full, a path too long) is exit 2 before any training. A disk
that fills up during a run fails that run, recorded in run.json when that can still be written, and the
grid goes on. A run.json that is valid JSON but not a run record is an unreadable run, redone. Outputs are
written atomically and with the same permissions.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hostile import cli, run_json, write

from condensekit.api import open_recipe
from condensekit.executing import execute_spec
from condensekit.output import LOCK_NAME, write_json_atomic, write_text_atomic

pytestmark = pytest.mark.hostile

# A trick that fills the output disk when one run starts, and frees it again when that run ends
# (free = "finish") or never (free = "never"): a disk that fills up mid-grid. Armed by a file "armed" in
# --out.
FILLER = """
from pathlib import Path
from pydantic import BaseModel, ConfigDict
import condensekit

class FillParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    seed: int = 1
    free: str = "finish"

def _fill(run):
    junk = run.run_dir.parents[3] / "filler"
    with open(junk, "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"x" * 4096)
                f.flush()
        except OSError:
            pass

def _free(run):
    (run.run_dir.parents[3] / "filler").unlink(missing_ok=True)

class Fill:
    def __init__(self, params):
        self.params = params

    @condensekit.hookimpl
    def run_started(self, run):
        if run.seed == self.params.seed and (run.run_dir.parents[3] / "armed").exists():
            _fill(run)

    @condensekit.hookimpl
    def run_finished(self, run, status, summary):
        if run.seed == self.params.seed and self.params.free == "finish":
            _free(run)

@condensekit.hookimpl
def register_tricks(register):
    register("fill_disk", Fill, params=FillParams, summary="test: fill the output disk during one run")
"""


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MB tmpfs (skipped where mounting is not allowed: it needs root or CAP_SYS_ADMIN)."""
    mount = tmp_path / f"disk-{uuid.uuid4().hex[:6]}"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], capture_output=True, text=True
    )
    if done.returncode != 0:
        pytest.skip(
            f"cannot mount a tmpfs here ({done.stderr.strip() or 'not permitted'}); "
            "the full-disk cases need one"
        )
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def _fill_up(folder: Path) -> None:
    with open(folder / "filler", "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"x" * 4096)
                f.flush()
        except OSError:
            pass


def test_out_that_is_a_file_is_exit_2_before_training(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "out").write_text("not a folder")
    code, _, err = cli(capsys, "run", write(tmp_path), "--out", tmp_path / "out")
    assert code == 2 and "is a file, not a folder" in err and "Traceback" not in err and "running" not in err
    code, _, err = cli(capsys, "run", write(tmp_path), "--out", tmp_path / "out" / "sub")
    assert code == 2 and "cannot write in" in err and "Traceback" not in err


def test_read_only_out_is_exit_2_before_training(
    small_disk: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    code, _, err = cli(capsys, "run", write(tmp_path), "--out", small_disk)
    assert (
        code == 2 and "cannot write in" in err and "Read-only file system" in err and "Traceback" not in err
    )


def test_full_out_is_exit_2_before_training(
    small_disk: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _fill_up(small_disk)
    code, _, err = cli(capsys, "run", write(tmp_path), "--out", small_disk)
    assert code == 2 and "no space left on that device" in err and "Traceback" not in err


def test_a_path_too_long_for_the_file_system_is_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path
    while len(os.fsencode(str(out))) < 3900:
        out = out / ("d" * 200)
    out.mkdir(parents=True)
    code, _, err = cli(capsys, "run", write(tmp_path / "r"), "--out", out)
    assert code == 2 and "too long" in err and "Traceback" not in err


@pytest.mark.parametrize("free", ["finish", "never"])
def test_a_disk_filling_up_mid_grid_fails_that_run_and_the_grid_goes_on(
    small_disk: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], free: str
) -> None:
    (tmp_path / "fill.py").write_text(FILLER)
    recipe = write(
        tmp_path,
        seeds=(0, 1, 2),
        top='plugins = ["fill.py"]',
        rest=f'tricks = {{ fill_disk = {{ seed = 1, free = "{free}" }} }}\n',
    )
    (small_disk / "armed").touch()
    code, _, err = cli(capsys, "run", recipe, "--out", small_disk)
    assert "Traceback" not in err  # the event files are written in the run's thread: one line, no thread's
    run_dirs = [small_disk / f"h/mlp/base/seed={s}" for s in (0, 1, 2)]
    assert code == 1 and run_json(run_dirs[0])["status"] == "ok"
    lost = run_json(run_dirs[1])
    # space came back before run.json was written: the failure is on record, the grid goes on
    if free == "finish":
        assert "3 runs: 2 ok, 0 diverged, 1 failed" in err and run_json(run_dirs[2])["status"] == "ok"
        assert lost["status"] == "failed" and "No space left on device" in lost["error"]
    else:
        # nothing more can be written: each run fails with the reason, the report says it could not be written
        assert "[2/3] failed" in err and "[3/3] failed" in err and "could not write run.json" in err
        assert (
            lost["status"] == "failed"
        )  # rewritten in place, not left "running"; the next invocation redoes it
        assert "no space left on the output device" in err and "the report could not be written" in err
        (small_disk / "filler").unlink()
    (small_disk / "armed").unlink()
    code, _, err = cli(capsys, "run", recipe, "--out", small_disk)
    assert code == 0, err
    assert (
        "1 ok, 0 diverged, 0 failed, 2 skipped"
        if free == "finish"
        else "2 ok, 0 diverged, 0 failed, 1 skipped"
    ) in err


def test_no_space_for_the_lock_fails_the_run_cleanly(small_disk: Path, tmp_path: Path) -> None:
    spec = open_recipe(write(tmp_path))[0].specs[0]
    _fill_up(small_disk)
    outcome = execute_spec(spec, small_disk)
    assert outcome.status == "failed" and "no space left" in outcome.error
    assert not (small_disk / spec.rel_dir / LOCK_NAME).exists()


@pytest.mark.parametrize(
    "content",
    [
        "[]",
        "5",
        '"ok"',
        '{"status": ["ok"]}',
        '{"status": "ok", "spec": "x"}',
        '{"status": "ok", "summary": 3}',
    ],
)
def test_run_json_that_is_json_but_not_a_run_record_is_unreadable_and_redone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str
) -> None:
    recipe, out = write(tmp_path), tmp_path / "out"
    run_dir = out / "h/mlp/base/seed=0"
    run_dir.mkdir(parents=True)
    (run_dir / "run.json").write_text(content)
    code, _, err = cli(capsys, "report", out / "h")
    assert code == 0 and "Traceback" not in err and "unreadable" in (out / "h/summary.csv").read_text()
    code, _, err = cli(capsys, "run", recipe, "--out", out)
    assert code == 0 and "1 ok" in err and run_json(run_dir)["status"] == "ok"


def test_run_json_has_the_permissions_of_the_other_outputs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert cli(capsys, "run", write(tmp_path), "--out", out)[0] == 0
    run_dir = out / "h/mlp/base/seed=0"

    def mode(p: Path) -> int:
        return stat.S_IMODE(p.stat().st_mode)

    assert (
        mode(run_dir / "run.json")
        == mode(run_dir / "metrics.jsonl")
        == mode(out / "h/summary.csv")
        == mode(out / "h/report.md")
    )
    assert mode(run_dir / "run.json") & stat.S_IRGRP  # readable by the group, like files open() makes


@pytest.mark.parametrize("writer", [write_text_atomic, write_json_atomic])
def test_a_crash_while_writing_keeps_the_previous_file_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, writer: object
) -> None:
    target = tmp_path / "run.json"
    target.write_text('{"status": "ok"}')

    def crash(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", crash)
    with pytest.raises(OSError):
        writer(  # type: ignore[operator]
            target,
            "x" * 100_000 if writer is write_text_atomic else {"status": "running", "big": "x" * 100_000},
        )
    assert json.loads(target.read_text()) == {"status": "ok"}
    assert [p.name for p in tmp_path.iterdir()] == ["run.json"]  # no temporary file left behind

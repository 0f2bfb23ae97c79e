"""The one way condensekit writes below ``--out`` and reads run files (:mod:`condensekit.safe_files`).

Written whole or not at all, never through a link, with the file named when the disk refuses; read without
following a link or waiting on a FIFO.
"""

from __future__ import annotations

import errno
import json
import os
import stat
from pathlib import Path

import pytest
from hostile import cli, write
from output_tree import temporaries

from condensekit.output import write_json_atomic
from condensekit.safe_files import (
    NotAFile,
    OutputError,
    overwrite_in_place,
    read_bytes,
    write_files,
    write_text_atomic,
)

pytestmark = pytest.mark.hostile


def _folder(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    (root / "figures").mkdir(parents=True)
    (root / "summary.csv").write_text("old table")
    (root / "figures/curves.png").write_text("old figure")
    (root / "figures/events.out.tfevents.1.old").write_text("old dashboard")
    return root


def test_files_are_written_together_and_the_stale_ones_removed(tmp_path: Path) -> None:
    root = _folder(tmp_path)
    write_files(
        root,
        {
            "summary.csv": b"new table",
            "figures/curves.png": b"new figure",
            "figures/events.out.tfevents.2": b"d",
        },
        {"figures": "events.out.tfevents."},
    )
    assert (root / "summary.csv").read_bytes() == b"new table"
    assert (root / "figures/curves.png").read_bytes() == b"new figure"
    assert sorted(p.name for p in (root / "figures").iterdir()) == ["curves.png", "events.out.tfevents.2"]


def test_one_file_the_disk_refuses_leaves_every_old_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _folder(tmp_path)
    real, written = os.write, []

    def full_on_the_second_file(fd: int, data: bytes | memoryview) -> int:
        written.append(fd)
        if len(written) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(fd, data)

    monkeypatch.setattr(os, "write", full_on_the_second_file)
    with pytest.raises(OSError, match="No space left") as raised:
        write_files(root, {"summary.csv": b"new table", "figures/curves.png": b"new figure"})
    assert raised.value.filename == str(root / "figures/curves.png")  # the file is named
    assert (root / "summary.csv").read_text() == "old table"
    assert (root / "figures/curves.png").read_text() == "old figure" and not temporaries(root)


@pytest.mark.parametrize("where", ["summary.csv", "figures/curves.png", "figures"])
def test_a_link_on_the_way_or_in_the_place_of_a_file_is_refused(tmp_path: Path, where: str) -> None:
    root = _folder(tmp_path)
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "curves.png").write_text("mine")
    if where == "figures":
        for p in (root / "figures").iterdir():
            p.unlink()
        (root / "figures").rmdir()
        (root / "figures").symlink_to(victim)
    else:
        (root / where).unlink()
        (root / where).symlink_to(victim / "curves.png")
    with pytest.raises(OutputError, match="is a symbolic link"):
        write_files(root, {"summary.csv": b"x", "figures/curves.png": b"x"}, {"figures": "curves"})
    assert (victim / "curves.png").read_text() == "mine" and (root / where).is_symlink()


def test_the_root_itself_may_be_a_link(tmp_path: Path) -> None:
    root = _folder(tmp_path)
    (tmp_path / "runs").symlink_to(root)
    write_files(tmp_path / "runs", {"figures/curves.png": b"new"})
    assert (root / "figures/curves.png").read_bytes() == b"new"


@pytest.mark.parametrize("rel", ["../escaped", "/tmp/escaped", "figures/../../escaped", "", "a/\0b"])
def test_a_path_that_is_not_plain_is_refused(tmp_path: Path, rel: str) -> None:
    root = _folder(tmp_path)
    with pytest.raises(OutputError, match="not a plain path"):
        write_files(root, {rel: b"x"})
    assert not (tmp_path / "escaped").exists()


def test_the_way_without_folder_descriptors_refuses_links_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _folder(tmp_path)
    (root / "report.md").symlink_to(tmp_path / "victim.md")
    monkeypatch.setattr(os, "supports_dir_fd", set())
    write_files(root, {"summary.csv": b"new"})
    assert (root / "summary.csv").read_bytes() == b"new" and not temporaries(root)
    with pytest.raises(OutputError, match="symbolic link"):
        write_files(root, {"report.md": b"x"})
    assert not (tmp_path / "victim.md").exists()


def test_text_that_is_no_utf8_is_written_escaped(tmp_path: Path) -> None:
    write_text_atomic(tmp_path / "report.md", "seed=\udcff")
    assert (tmp_path / "report.md").read_text(encoding="utf-8") == "seed=\\udcff"


@pytest.mark.parametrize("kind", ["link", "fifo", "folder"])
def test_a_file_that_is_not_a_regular_one_is_not_read(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "metrics.jsonl"
    if kind == "link":
        (tmp_path / "elsewhere").write_text("secret")
        path.symlink_to(tmp_path / "elsewhere")
    elif kind == "fifo":
        os.mkfifo(path)  # opening it for reading would wait for a writer forever
    else:
        path.mkdir()
    words = {"link": "a symbolic link", "fifo": "a FIFO", "folder": "a folder"}[kind]
    with pytest.raises(NotAFile, match=words):
        read_bytes(path)


def test_a_record_can_be_rewritten_in_place_where_no_new_file_may_be_made(tmp_path: Path) -> None:
    (tmp_path / "run.json").write_text('{"status": "running", "much": "' + "x" * 1000 + '"}')
    overwrite_in_place(tmp_path / "run.json", '{"status": "failed"}')
    assert (tmp_path / "run.json").read_text() == '{"status": "failed"}'
    (tmp_path / "link.json").symlink_to(tmp_path / "run.json")
    with pytest.raises(OSError):
        overwrite_in_place(tmp_path / "link.json", "{}")
    assert (tmp_path / "run.json").read_text() == '{"status": "failed"}'


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

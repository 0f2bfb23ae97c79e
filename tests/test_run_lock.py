"""The run lock (:mod:`condensekit.run_lock`) in a folder that became read-only, and seen from another
process."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hostile import fill_up, make_victim, untouched, write

from condensekit.api import open_recipe
from condensekit.executing import execute_spec
from condensekit.output import OutputError
from condensekit.run_lock import LOCK_NAME, RunLock

pytestmark = pytest.mark.hostile


HOLD = (
    "import sys, time; from pathlib import Path; from condensekit.run_lock import RunLock; "
    "lock = RunLock(Path(sys.argv[1])); assert lock.acquire(); print('held', flush=True); time.sleep(60)"
)


def test_releasing_in_a_folder_that_became_read_only_gives_the_lock_back_without_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lock = RunLock(tmp_path)
    assert lock.acquire()

    def read_only(self: Path, missing_ok: bool = False) -> None:
        raise OSError(errno.EROFS, "Read-only file system", str(self))

    with monkeypatch.context() as patch:
        patch.setattr(Path, "unlink", read_only)
        lock.release()  # no exception: the lock goes with its descriptor
    assert lock.fd is None and (tmp_path / LOCK_NAME).exists()  # the file stays, harmless
    assert RunLock(tmp_path).acquire()  # free again


def test_a_lock_held_by_a_live_process_is_seen_as_such_and_a_stale_file_is_not(tmp_path: Path) -> None:
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        assert RunLock(tmp_path).held_elsewhere()
        assert f"pid {holder.pid}" in RunLock(tmp_path).holder()
    finally:
        holder.kill()
        holder.wait()
    time.sleep(0.1)
    assert (tmp_path / LOCK_NAME).exists() and not RunLock(tmp_path).held_elsewhere()  # killed: stale file
    os.unlink(tmp_path / LOCK_NAME)
    assert not RunLock(tmp_path).held_elsewhere()  # no file: nobody


def test_no_space_for_the_lock_fails_the_run_cleanly(small_disk: Path, tmp_path: Path) -> None:
    spec = open_recipe(write(tmp_path))[0].specs[0]
    fill_up(small_disk)
    outcome = execute_spec(spec, small_disk)
    assert outcome.status == "failed" and "no space left" in outcome.error
    assert not (small_disk / spec.rel_dir / LOCK_NAME).exists()


def test_a_planted_lock_link_is_not_truncated(tmp_path: Path) -> None:
    victim = make_victim(tmp_path)
    run = tmp_path / "run"
    run.mkdir()
    (run / LOCK_NAME).symlink_to(victim / "thesis.tex")
    with pytest.raises(OutputError, match="symbolic link"):
        RunLock(run).acquire()
    assert untouched(victim)

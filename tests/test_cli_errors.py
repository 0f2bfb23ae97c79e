"""condensekit.cli and condensekit.environment: failures of the operating system and of the process's streams
reach the user as one line with the documented exit code, never a traceback.

A closed stdout loses the verdict, not the runs (exit 0); stdout on a full disk is exit 1 saying so; stderr on
a full disk loses the progress lines while the runs go on (also in ``--jobs`` workers); a reader that stops
early (``| head``) ends the command quietly; too many open files, no memory or any other refusal of the
operating system is one line with what to do (exit 1); an unusable ``OMP_NUM_THREADS`` is one warning.
"""

from __future__ import annotations

import errno
import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest
from hostile import cli, write

pytestmark = pytest.mark.hostile


def _shell(
    command: str, cwd: Path, env: dict[str, str] | None = None, **kwargs
) -> subprocess.CompletedProcess:
    """``command`` in bash, where ``condensekit`` is ``python -m condensekit`` (stdout and stderr captured
    unless the command redirects them)."""
    full = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    line = command.replace("condensekit", f"{sys.executable} -m condensekit", 1)
    return subprocess.run(
        ["bash", "-c", line], cwd=cwd, env=full, capture_output=True, text=True, timeout=300, **kwargs
    )


def _ok_runs(out: Path) -> int:
    return sum(json.loads(p.read_text())["status"] == "ok" for p in out.glob("h/*/*/*/run.json"))


def test_a_closed_stdout_loses_the_verdict_not_the_runs(tmp_path: Path) -> None:
    write(tmp_path)
    result = _shell("condensekit run h.toml --out out >&-", tmp_path)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    assert _ok_runs(tmp_path / "out") == 1


def test_stdout_on_a_full_disk_is_one_error_and_exit_1_after_the_runs(tmp_path: Path) -> None:
    write(tmp_path)
    result = _shell("condensekit run h.toml --out out > /dev/full", tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "condensekit: error: could not write to standard output: No space left on device" in result.stderr
    assert _ok_runs(tmp_path / "out") == 1 and (tmp_path / "out/h/report.md").is_file()


LATE_WRITER = """
import atexit
import sys

from condensekit.cli import console_main

atexit.register(print, "a line written at exit")  # as a library's exit handler or a late thread might
sys.argv = ["condensekit", "run", "h.toml", "--out", "out"]
console_main()
"""


def test_stdout_written_after_it_failed_on_a_full_disk_does_not_fail_again_at_exit(tmp_path: Path) -> None:
    """After the verdict could not be written, what is written to stdout later (here by an exit handler) is
    dropped: Python's own flush at exit must not fail again (exit code 120 and "Exception ignored", seen
    under load on Python 3.13)."""
    write(tmp_path)
    (tmp_path / "late.py").write_text(LATE_WRITER)
    result = _shell(f"{sys.executable} late.py > /dev/full", tmp_path)
    assert result.returncode == 1 and "Exception ignored" not in result.stderr, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert result.stderr.count("could not write to standard output: No space left on device") == 1
    assert _ok_runs(tmp_path / "out") == 1


def test_stderr_on_a_full_disk_loses_progress_not_the_runs_also_in_workers(tmp_path: Path) -> None:
    write(tmp_path, seeds=(0, 1))
    result = _shell("condensekit run h.toml --out out --jobs 2 2> /dev/full", tmp_path)
    assert result.returncode == 0 and "mlp" in result.stdout  # the verdict
    assert _ok_runs(tmp_path / "out") == 2


def test_a_reader_that_stops_early_ends_the_command_quietly(tmp_path: Path) -> None:
    write(tmp_path)
    seeds = ",".join(map(str, range(3000)))
    result = _shell(
        f"condensekit validate h.toml --set 'seeds=[{seeds}]' | head -1; exit ${{PIPESTATUS[0]}}", tmp_path
    )
    assert result.stdout.startswith("h.toml: ok, 3000 runs") and result.stderr.count("\n") <= 1
    assert "Traceback" not in result.stderr and "Exception ignored" not in result.stderr


@pytest.mark.parametrize("value", ["abc", "0", "-3"])
def test_an_unusable_omp_num_threads_is_one_warning_and_is_ignored(tmp_path: Path, value: str) -> None:
    write(tmp_path)
    result = _shell("condensekit run h.toml --out out", tmp_path, env={"OMP_NUM_THREADS": value})
    assert result.returncode == 0 and "libgomp" not in result.stderr
    assert f"condensekit: warning: OMP_NUM_THREADS='{value}' is not a whole number >= 1" in result.stderr


def test_too_few_open_files_for_the_workers_is_one_line_with_the_fix(tmp_path: Path) -> None:
    write(tmp_path, seeds=(0, 1))

    def few_files() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (12, 12))

    result = _shell("condensekit run h.toml --out out --jobs 2", tmp_path, preexec_fn=few_files)
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    assert result.returncode == 1 and "Too many open files" in result.stderr and "ulimit -n" in result.stderr


@pytest.mark.parametrize(
    ("error", "words"),
    [
        (OSError(errno.EMFILE, "Too many open files"), ["Too many open files", "ulimit -n"]),
        (
            OSError(errno.ENOSPC, "No space left on device", "runs/x"),
            ["No space left on device (runs/x)", "free"],
        ),
        (MemoryError(), ["out of memory"]),
    ],
)
def test_a_refusal_of_the_operating_system_anywhere_is_one_line_and_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, error, words
) -> None:
    from condensekit import api

    def refuse(*args, **kwargs):
        raise error

    monkeypatch.setattr(api, "run_recipe", refuse)
    code, _, err = cli(capsys, "run", write(tmp_path))
    assert code == 1 and len(err.strip().splitlines()) == 1 and err.startswith("condensekit: error: ")
    for word in words:
        assert word in err


def test_an_output_folder_named_with_undecodable_bytes_is_refused_before_any_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / b"out\xfe".decode("utf-8", "surrogateescape")
    code, _, err = cli(capsys, "run", write(tmp_path), "--out", out)
    assert code == 2 and "--out" in err and "not UTF-8" in err and "\\xfe" in err and not out.exists()

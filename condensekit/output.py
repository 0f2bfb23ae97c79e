"""Run directories: ``run.json``, ``metrics.jsonl``, the lock, clearing, and which runs are finished.

Everything that touches a run directory lives here. ``run.json`` is always written atomically (temporary
file + rename), so a crash never leaves a half-written one. A run directory whose ``run.json`` says ``ok``
or ``diverged`` is finished and kept on a rerun (unless ``--force``); any other (``running`` left by a killed
process, ``failed``, ``interrupted``, none) is cleared and run again. While a process executes a run it
holds the run's lock (:class:`RunLock`), so two processes never execute one run at once.
"""

from __future__ import annotations

import errno
import json
import math
import os
import platform
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

from condensekit.status import RunStatus, as_status

LOCK_NAME = ".condensekit.lock"
"""The lock file in a run directory while a process executes the run."""


def json_safe(value: Any) -> Any:
    """Make a value JSON-safe: NaN/inf -> None, tuples -> lists, paths -> strings."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder and an atomic rename.

    A crash or a full disk leaves the previous file (or none), never a half-written one.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON to ``path`` atomically (see :func:`write_text_atomic`)."""
    write_text_atomic(path, json.dumps(json_safe(data), indent=2, sort_keys=False))


def read_run_json(run_dir: Path) -> dict[str, Any] | None:
    """The run's ``run.json``, or None when absent or unreadable."""
    try:
        return json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def run_status(run_dir: Path) -> RunStatus | None:
    """The status ``run.json`` records, None without one (``unreadable`` when it is garbled)."""
    info = read_run_json(run_dir)
    if info is None:
        return RunStatus.UNREADABLE if (run_dir / "run.json").exists() else None
    return as_status(info.get("status"))


def is_finished(run_dir: Path) -> bool:
    """Whether the run finished (``ok`` or ``diverged``) and is kept on a rerun."""
    status = run_status(run_dir)
    return status is not None and status.finished


def clear_run_dir(run_dir: Path) -> None:
    """Create the run directory, or empty what an interrupted or failed attempt left in it (the lock stays)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    for child in run_dir.iterdir():
        if child.name == LOCK_NAME:
            continue
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    """All rows of ``metrics.jsonl`` (a truncated last line from a crash is ignored)."""
    rows: list[dict[str, Any]] = []
    path = run_dir / "metrics.jsonl"
    if not path.exists():
        return rows
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rows.append(json.loads(line))
        except ValueError:
            continue
    return rows


def find_runs(root: Path) -> list[Path]:
    """Every run directory (one holding a ``run.json``) below ``root``, sorted."""
    return sorted(p.parent for p in root.rglob("run.json"))


class RunLock:
    """An exclusive lock on a run directory, held while a process executes the run.

    A POSIX record lock (``fcntl.lockf``) on ``<run_dir>/.condensekit.lock``: the kernel drops it when the
    holder exits, also on ``kill -9``, so a crash never leaves a stale lock, and network filesystems that
    support POSIX locks (NFSv4, Lustre mounted with ``flock``, GPFS) extend it across nodes. Where locking
    is not supported the run goes ahead unlocked, with a warning. The lock file is removed on release.
    """

    def __init__(self, run_dir: Path):
        self.path = run_dir / LOCK_NAME
        self.fd: int | None = None

    def acquire(self) -> bool:
        """Take the lock without waiting; False when another live process holds it."""
        try:
            import fcntl
        except ImportError:  # no POSIX locks (Windows): one process per run is up to the user
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                os.close(fd)
                if exc.errno in (errno.EAGAIN, errno.EACCES):  # held by another process
                    return False
                warnings.warn(f"{self.path}: file locking not supported here ({exc}); running unlocked", stacklevel=2)
                return True
            # The previous holder may have unlinked the file between our open and our lock: retry on a new one.
            try:
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                os.ftruncate(fd, 0)
                os.write(fd, f"{platform.node()} pid {os.getpid()}\n".encode())
                self.fd = fd
                return True
            os.close(fd)

    def holder(self) -> str:
        """Who holds the lock (``host pid N``), as written by the holder."""
        try:
            return self.path.read_text(encoding="utf-8").strip() or "unknown process"
        except OSError:
            return "unknown process"

    def release(self) -> None:
        if self.fd is None:
            return
        # Unlink before closing (closing drops the lock), so a waiter never locks a file that is about to vanish.
        self.path.unlink(missing_ok=True)
        os.close(self.fd)
        self.fd = None

"""Run directories: ``run.json``, ``metrics.jsonl``, the lock, clearing, and which runs are finished.

Everything that touches a run directory lives here. ``run.json`` is always written atomically (temporary
file + rename), so a crash never leaves a half-written one. A run directory whose ``run.json`` says ``ok``
or ``diverged`` is finished; it is kept on a rerun (unless ``--force``) when it was run with the spec now
asked for and its outputs are intact (:mod:`condensekit.reuse`); any other (``running`` left by a killed
process, ``failed``, ``interrupted``, none) is cleared and run again. While a process executes a run it
holds the run's lock (:class:`RunLock`), so two processes never execute one run at once.

Nothing here follows a symbolic link below the output root: a run directory (or a folder above it, below
``--out``) that is a link is refused with :class:`OutputError`, never cleared or written through.
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
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from condensekit.errors import CondensekitError

LOCK_NAME = ".condensekit.lock"
"""The lock file in a run directory while a process executes the run."""


class OutputError(CondensekitError):
    """The output folder cannot be used as asked (a file, read-only, a symbolic link, a name too long)."""


class ReportNotWritten(OutputError):
    """The runs ran, but ``summary.csv`` / ``report.md`` could not be written (a full or read-only disk)."""

    exit_code = 1


def _umask() -> int:
    """The process's umask, read without changing it where Linux tells it (``/proc/self/status``)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


FILE_MODE = 0o666 & ~_umask()
"""The permissions of every file condensekit writes: what ``open()`` gives other outputs (0644 under umask
022)."""


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
        if hasattr(os, "fchmod"):  # mkstemp makes 0600; the result must read like the other outputs
            os.fchmod(fd, FILE_MODE)
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


# run.json keys and the JSON types they must have when present (a hand-edited or planted file may lie)
_RUN_JSON_TYPES: dict[str, type | tuple[type, ...]] = {
    "status": str,
    "spec": dict,
    "summary": (dict, type(None)),
    "error": (str, type(None)),
    "outputs": dict,
    "seconds": (int, float, type(None)),
    "reports": (dict, type(None)),
}


def read_run_json(run_dir: Path) -> dict[str, Any] | None:
    """The run's ``run.json``, or None when absent, unreadable, or not shaped like one (valid JSON that is
    not an object, or a key of the wrong type): such a run is unreadable and is redone, never a crash."""
    try:
        info = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    if not isinstance(info, dict):
        return None
    if any(key in info and not isinstance(info[key], kind) for key, kind in _RUN_JSON_TYPES.items()):
        return None
    return info


def refuse_links(root: Path, path: Path) -> None:
    """Raise :class:`OutputError` when ``path`` or a folder between ``root`` and it is a symbolic link.

    ``root`` itself (``--out``) may be a link: users point ``runs`` at a scratch disk. Below it, condensekit
    owns the tree and never writes or deletes through a link, which could reach files it does not own.
    """
    try:
        rel = path.relative_to(root)
    except ValueError:
        rel = Path(path.name)
        root = path.parent
    here = root
    for part in rel.parts:
        here = here / part
        if here.is_symlink():
            raise OutputError(
                f"{here} is a symbolic link (to {os.readlink(here)}); condensekit never writes or deletes "
                "through links below --out; remove the link, or give its target as --out"
            )


def clear_run_dir(run_dir: Path, root: Path | None = None) -> None:
    """Create the run directory, or empty what an interrupted or failed attempt left in it (the lock stays).

    Args:
        run_dir: the run directory.
        root: the output root; no folder between it and ``run_dir`` may be a symbolic link (default:
            only ``run_dir`` itself is checked).
    """
    refuse_links(root if root is not None else run_dir.parent, run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    refuse_links(root if root is not None else run_dir.parent, run_dir)  # created by someone else meanwhile
    for child in run_dir.iterdir():
        if child.name == LOCK_NAME:
            continue
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


# written once before the first run: a full or read-only output disk fails here, not mid-grid
PROBE_BYTES = 64 * 1024
# the longest name condensekit writes in a run directory (TensorBoard: host, pid, time)
EVENT_FILE_NAME_ROOM = 100


def check_output_root(out: Path, recipe_name: str, rel_dirs: Iterable[str | Path]) -> None:
    """Check, before any training, that a recipe's runs can be written below ``out``; raise
    :class:`OutputError`.

    ``out`` must be (or be creatable as) a writable folder with some free space; no folder on the way to a
    run directory below it may be a symbolic link; every run directory's path must fit the file system's
    limits on name and path length.
    """
    if out.exists() and not out.is_dir():
        raise OutputError(f"--out {out} is a file, not a folder; give a folder (it is created when missing)")
    folder = out / recipe_name
    refuse_links(out, folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".condensekit-probe.", dir=folder)
        try:
            os.write(fd, b"\0" * PROBE_BYTES)
            os.fsync(fd)
        finally:
            os.close(fd)
            os.unlink(tmp)
    except OSError as exc:
        why = "no space left on that device" if exc.errno == errno.ENOSPC else (exc.strerror or str(exc))
        raise OutputError(
            f"--out {out}: cannot write in {folder} ({why}); choose another output folder with --out"
        ) from None
    links = _links_below(folder, depth=3)  # <arm>/<grid point>/seed=<n>
    name_max, path_max = _limits(folder)
    base = len(os.fsencode(str(folder.resolve())))
    for rel in rel_dirs:
        parts = Path(rel).parts
        if links and any(Path(*parts[1 : i + 1]) in links for i in range(1, len(parts))):
            link = next(
                Path(*parts[1 : i + 1]) for i in range(1, len(parts)) if Path(*parts[1 : i + 1]) in links
            )
            refuse_links(out, folder / link)
        long_part = next((p for p in parts if len(os.fsencode(p)) > name_max), None)
        if long_part is not None:
            raise OutputError(
                f"{rel}: the folder name {long_part[:60]!r}... is {len(os.fsencode(long_part))} bytes, more "
                f"than this file system takes ({name_max}); shorten the arm names or grid values"
            )
        if base + len(os.fsencode(str(Path(*parts[1:])))) + 1 + EVENT_FILE_NAME_ROOM > path_max:
            raise OutputError(
                f"{out / rel}: the path is too long for this file system "
                f"({path_max} bytes); use a shorter --out or shorter names"
            )


def _links_below(folder: Path, depth: int) -> set[Path]:
    """Symbolic links up to ``depth`` levels below ``folder``, relative to it (the folder's own run tree)."""
    found: set[Path] = set()
    level = [folder]
    for _ in range(depth):
        below = []
        for here in level:
            try:
                entries = list(os.scandir(here))
            except OSError:
                continue
            for entry in entries:
                if entry.is_symlink():
                    found.add(Path(entry.path).relative_to(folder))
                elif entry.is_dir(follow_symlinks=False):
                    below.append(Path(entry.path))
        level = below
    return found


def _limits(folder: Path) -> tuple[int, int]:
    """The file system's longest file name and path, in bytes (255 and 4096 where it does not say)."""
    try:
        return os.pathconf(folder, "PC_NAME_MAX"), os.pathconf(folder, "PC_PATH_MAX")
    except (OSError, ValueError, AttributeError):
        return 255, 4096


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    """All rows of ``metrics.jsonl`` in step order (a truncated last line from a crash is ignored).

    The file is in the order the rows were logged: a refinement of the summary series logs rows of earlier
    steps after the run's last step. The sort is stable, so rows of one step keep their order.
    """
    rows: list[dict[str, Any]] = []
    path = run_dir / "metrics.jsonl"
    if not path.exists():
        return rows
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rows.append(json.loads(line))
        except ValueError:
            continue
    return sorted(rows, key=_step_of)


def _step_of(row: dict[str, Any]) -> int:
    step = row.get("step")
    return step if isinstance(step, int) else -1


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

    def acquire(self, wait: bool = False) -> bool:
        """Take the lock; False when another live process holds it (with ``wait``: block until it is free)."""
        try:
            import fcntl
        except ImportError:  # no POSIX locks (Windows): one process per run is up to the user
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            try:  # O_NOFOLLOW: a planted link named like the lock must not make us truncate its target
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), FILE_MODE)
            except OSError as exc:
                if exc.errno == errno.ELOOP:
                    raise OutputError(
                        f"{self.path} is a symbolic link; remove it (condensekit never writes through links)"
                    ) from None
                raise
            try:
                fcntl.lockf(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                os.close(fd)
                if exc.errno in (errno.EAGAIN, errno.EACCES):  # held by another process
                    return False
                warnings.warn(
                    f"{self.path}: file locking not supported here ({exc}); running unlocked", stacklevel=2
                )
                return True
            # The previous holder may have unlinked the file between our open and our lock: retry on a new
            # one.
            try:
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                try:
                    os.ftruncate(fd, 0)
                    os.write(fd, f"{platform.node()} pid {os.getpid()}\n".encode())
                except OSError:  # a full disk: give the lock back rather than leak it, and say why
                    self.path.unlink(missing_ok=True)
                    os.close(fd)
                    raise
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
        # Unlink before closing (closing drops the lock), so a waiter never locks a file that is about to
        # vanish.
        self.path.unlink(missing_ok=True)
        os.close(self.fd)
        self.fd = None

"""Run directories: ``run.json``, ``metrics.jsonl``, clearing, finding them, and checking ``--out``.

Everything that touches a run directory lives here. ``run.json`` is always written atomically
(:mod:`condensekit.safe_files`: temporary file + rename), so a crash never leaves a half-written one, and
read without following a link or opening a FIFO. A run directory whose ``run.json`` says ``ok`` or
``diverged`` is finished; it is kept on a rerun (unless ``--force``) when it was run with the spec now asked
for and its outputs are intact (:mod:`condensekit.reuse`); any other (``running`` left by a killed process,
``failed``, ``interrupted``, none) is cleared and run again. While a process executes a run it holds the
run's lock (:class:`~condensekit.run_lock.RunLock`), so two processes never execute one run at once.
:func:`run_folders` finds every run folder of a report, readable or not.

Nothing here follows a symbolic link below the output root: a run directory (or a folder above it, below
``--out``, or a file the report writes) that is a link is refused with :class:`OutputError`, never cleared
or written through.
"""

from __future__ import annotations

import errno
import json
import math
import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from condensekit.run_lock import LOCK_NAME, RunLock
from condensekit.safe_files import (
    FILE_MODE,
    NotAFile,
    OutputError,
    link_refusal,
    read_bytes,
    write_text_atomic,
)

__all__ = [
    "FILE_MODE",
    "LOCK_NAME",
    "OutputError",
    "ReportNotWritten",
    "RunLock",
    "check_output_root",
    "clear_run_dir",
    "json_safe",
    "load_run_json",
    "read_metrics",
    "read_run_json",
    "refuse_links",
    "run_folders",
    "write_json_atomic",
    "write_text_atomic",
]


class ReportNotWritten(OutputError):
    """The runs ran, but ``summary.csv`` / ``report.md`` could not be written (a full or read-only disk)."""

    exit_code = 1


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
    return load_run_json(run_dir)[0]


def load_run_json(run_dir: Path) -> tuple[dict[str, Any] | None, str]:
    """``(run.json, "")``, or ``(None, why it cannot be used)``: missing, a link or a FIFO (never followed or
    opened), not JSON, not a run record."""
    try:  # never through a link, never waiting on a FIFO
        info = json.loads(read_bytes(run_dir / "run.json").decode("utf-8"))
    except FileNotFoundError:
        return None, "no run.json"
    except NotAFile as exc:
        return None, f"run.json {exc.strerror}"
    except OSError as exc:
        return None, f"run.json cannot be read ({exc.strerror or exc})"
    except (ValueError, RecursionError):
        return None, "run.json is not valid JSON (cut short, or edited)"
    if not isinstance(info, dict):
        return None, "run.json is not a run record (not a JSON object)"
    if any(key in info and not isinstance(info[key], kind) for key, kind in _RUN_JSON_TYPES.items()):
        return None, "run.json is not a run record (a key of the wrong type)"
    return info, ""


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
            raise link_refusal(here, os.readlink(here))


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
    # the report's own files, checked now rather than after the training: figures/curves.png, report.md
    if report_link := next((link for link in sorted(links) if link.parts[0] in REPORT_NAMES), None):
        refuse_links(out, folder / report_link)
    for name in REPORT_NAMES:
        if (folder / name).exists() and (folder / name).is_dir() != (name == "figures"):
            kind = "a file, not a folder" if name == "figures" else "a folder, not a file"
            raise OutputError(f"{folder / name} is {kind}; the report writes its {name} there: move it away")
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
    """All rows of ``metrics.jsonl`` in step order (a truncated last line from a crash is ignored); none
    when it is missing, or is a link or a FIFO (never followed: the run's row says why, see
    :mod:`condensekit.reuse`).

    The file is in the order the rows were logged: a refinement of the summary series logs rows of earlier
    steps after the run's last step. The sort is stable, so rows of one step keep their order.
    """
    rows: list[dict[str, Any]] = []
    try:
        text = read_bytes(run_dir / "metrics.jsonl").decode("utf-8", "replace")
    except OSError:
        return rows
    for line in text.splitlines():
        try:
            rows.append(json.loads(line))
        except ValueError:
            continue
    return sorted(rows, key=_step_of)


def _step_of(row: dict[str, Any]) -> int:
    step = row.get("step")
    return step if isinstance(step, int) else -1


RUN_DEPTH = 3
"""How far below a recipe's output folder its runs are: ``<arm>/<grid point>/seed=<n>``."""
REPORT_NAMES = frozenset({"figures", "summary.csv", "report.md"})
"""What the report writes in a recipe's output folder (never a run)."""


def run_folders(root: Path) -> list[tuple[Path, str]]:
    """Every run folder below ``root`` (a recipe's output folder), sorted, with why it cannot be read ("").

    A run folder is one holding a ``run.json`` (of any kind), one named ``seed=<n>`` without one, one that
    cannot be listed, or a symbolic link where a run or a folder above one belongs: each is a row of the
    report, so nothing that exists is silently left out. Links are never followed.
    """
    found: dict[Path, str] = {}
    level = [root]
    depth = 0
    while level:
        depth += 1
        below = []
        for folder in level:
            try:
                with os.scandir(folder) as listing:
                    entries = sorted(listing, key=lambda e: e.name)
            except OSError as exc:
                if folder == root:
                    raise
                found[folder] = f"the folder cannot be read ({exc.strerror or exc})"
                continue
            if any(e.name == "run.json" for e in entries):
                found[folder] = ""
            elif folder.name.startswith("seed=") and folder != root:
                found[folder] = "no run.json (the run never started, or its folder could not be written)"
            for entry in entries:
                if depth == 1 and entry.name in REPORT_NAMES:
                    continue
                if entry.is_symlink():
                    if depth <= RUN_DEPTH and entry.name != "run.json":
                        found[Path(entry.path)] = "a symbolic link, not followed below the output folder"
                elif entry.is_dir(follow_symlinks=False):
                    below.append(Path(entry.path))
        level = below
    return sorted(found.items())

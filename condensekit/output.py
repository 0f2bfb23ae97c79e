"""Run directories, ``run.json``, ``metrics.jsonl``; skipping and resuming finished runs.

``run.json`` is always written atomically (temporary file + rename), so a crash never leaves a half
written one. A run directory whose ``run.json`` says ``ok`` or ``diverged`` is finished and is skipped
unless ``--force``; any other (interrupted, failed) is cleared and run again.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

FINISHED = ("ok", "diverged")


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
    """Write JSON to ``path`` through a temporary file in the same folder and an atomic rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(json_safe(data), f, indent=2, sort_keys=False)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_run_json(run_dir: Path) -> dict[str, Any] | None:
    """The run's ``run.json``, or None when absent or unreadable."""
    try:
        return json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def is_finished(run_dir: Path) -> bool:
    info = read_run_json(run_dir)
    return info is not None and info.get("status") in FINISHED


def prepare_run_dir(run_dir: Path) -> None:
    """Clear what an interrupted or failed attempt left behind and create the directory."""
    if run_dir.exists():
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True)


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

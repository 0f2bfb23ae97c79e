"""Writes every scalar to ``<run_dir>/metrics.jsonl``: one JSON object per line,
``{"step": n, tag: value, ...}``.

The file is created without following a link; a write the disk refuses (full, a file-size limit) raises
``OSError`` naming the file, so the run fails with one line.
"""

from __future__ import annotations

import io
import json
import math
from typing import Any

import condensekit
from condensekit.safe_files import create_file

KEY = "condensekit.jsonl"


def _named(exc: OSError, run: condensekit.Run) -> OSError:
    return OSError(exc.errno, exc.strerror, str(run.run_dir / "metrics.jsonl"))


@condensekit.hookimpl
def run_started(run: condensekit.Run) -> None:
    binary = create_file(run.run_dir / "metrics.jsonl", append=True)
    run.state[KEY] = io.TextIOWrapper(binary, encoding="utf-8", newline="\n")


@condensekit.hookimpl
def log_scalars(run: condensekit.Run, step: int, scalars: dict[str, float]) -> None:
    f = run.state.get(KEY)
    if f is None:
        return
    row = {"step": step, **{k: (v if math.isfinite(v) else None) for k, v in scalars.items()}}
    try:
        f.write(json.dumps(row) + "\n")
    except OSError as exc:
        raise _named(exc, run) from None


@condensekit.hookimpl
def run_finished(run: condensekit.Run, status: str, summary: dict[str, Any]) -> None:
    f = run.state.pop(KEY, None)
    if f is None:
        return
    try:
        f.close()  # closed even when writing what is buffered fails
    except OSError as exc:
        raise _named(exc, run) from None

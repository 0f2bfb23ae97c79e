"""Writes every scalar to ``<run_dir>/metrics.jsonl``: one JSON object per line,
``{"step": n, tag: value, ...}``."""

from __future__ import annotations

import json
import math
from typing import Any

import condensekit

KEY = "condensekit.jsonl"


@condensekit.hookimpl
def run_started(run: condensekit.Run) -> None:
    run.state[KEY] = (run.run_dir / "metrics.jsonl").open("a", encoding="utf-8")


@condensekit.hookimpl
def log_scalars(run: condensekit.Run, step: int, scalars: dict[str, float]) -> None:
    f = run.state.get(KEY)
    if f is None:
        return
    row = {"step": step, **{k: (v if math.isfinite(v) else None) for k, v in scalars.items()}}
    f.write(json.dumps(row) + "\n")


@condensekit.hookimpl
def run_finished(run: condensekit.Run, status: str, summary: dict[str, Any]) -> None:
    f = run.state.pop(KEY, None)
    if f is not None:
        f.close()

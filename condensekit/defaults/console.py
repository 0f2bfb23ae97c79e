"""Console progress: a line when a run starts and one when it ends (with T1, losses and accuracy)."""

from __future__ import annotations

import math
import sys
from typing import Any

import condensekit


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return "nan" if not math.isfinite(value) else f"{value:.3g}"
    return str(value)


@condensekit.hookimpl
def run_started(run: condensekit.Run) -> None:
    print(f"  running {run.label} on {run.device} ({run.total_steps} steps)", file=sys.stderr, flush=True)


@condensekit.hookimpl
def run_finished(run: condensekit.Run, status: str, summary: dict[str, Any]) -> None:
    t1 = summary.get("phase1_end")
    parts = [
        f"  {status:8s} {run.label}",
        f"T1={'stuck' if t1 is None and summary else _fmt(t1)}",
        f"dS={_fmt(summary.get('dS_max'))}",
        f"loss={_fmt(summary.get('final_loss'))}",
        f"test_acc={_fmt(summary.get('final_test_acc'))}",
    ]
    print("  ".join(parts), file=sys.stderr, flush=True)

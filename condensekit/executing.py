"""Executing one RunSpec into its run directory; shared by every executor.

An executor decides *where* runs execute (this process, worker processes, Slurm, Ray); all of them call
:func:`execute_spec`, which skips finished runs, writes ``run.json`` atomically and never raises for a
failing run: one bad run is recorded and the others go on.
"""

from __future__ import annotations

import platform
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from condensekit.output import is_finished, prepare_run_dir, read_run_json, write_json_atomic
from condensekit.recipe import RunSpec


@dataclass
class RunOutcome:
    """What became of one run."""

    rel_dir: str
    status: str  # ok | failed | diverged | skipped
    seconds: float = 0.0
    error: str = ""
    summary: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ExecContext:
    """Settings every executor receives alongside the specs."""

    out_root: Path
    force: bool = False
    jobs: int = 1
    on_outcome: Callable[[RunSpec, RunOutcome], None] | None = None

    def report(self, spec: RunSpec, outcome: RunOutcome) -> None:
        if self.on_outcome is not None:
            self.on_outcome(spec, outcome)


_PM_CACHE: dict[tuple[str, ...], Any] = {}


def _plugin_manager(plugins: list[str]) -> Any:
    from condensekit.manager import get_plugin_manager

    key = tuple(plugins)
    if key not in _PM_CACHE:
        _PM_CACHE[key] = get_plugin_manager(plugins)
    return _PM_CACHE[key]


def execute_spec(spec: RunSpec | dict[str, Any], out_root: str | Path, force: bool = False) -> RunOutcome:
    """Run one spec into ``out_root/<spec.rel_dir>`` unless it is already finished.

    Safe to call in any process: the plugin manager is built from the spec's plugin list. Returns a
    :class:`RunOutcome`; exceptions inside the run become ``status="failed"`` with the traceback in
    ``run.json``.
    """
    if isinstance(spec, dict):
        spec = RunSpec.from_dict(spec)
    run_dir = Path(out_root) / spec.rel_dir
    if not force and is_finished(run_dir):
        previous = read_run_json(run_dir) or {}
        return RunOutcome(str(spec.rel_dir), "skipped", summary=previous.get("summary") or {})
    prepare_run_dir(run_dir)
    started = time.time()
    record: dict[str, Any] = {
        "status": "running",
        "spec": spec.to_dict(),
        "started": started,
        "host": platform.node(),
    }
    write_json_atomic(run_dir / "run.json", record)
    error = ""
    try:
        from condensekit.trainer import resolve_device, train

        pm = _plugin_manager(spec.plugins)
        record["plugins"] = {name: {"origin": origin, "version": version} for name, (origin, version) in pm.origins.items()}
        record["versions"] = _versions()
        record["device"] = str(resolve_device(spec.device))
        status, summary = train(spec, run_dir, pm)
    except Exception as exc:  # one failing run is recorded; the grid goes on
        status, summary = "failed", {}
        error = "".join(traceback.format_exception(exc))
        print(f"condensekit: run {spec.rel_dir} failed: {type(exc).__name__}: {exc}", file=sys.stderr)
    finished = time.time()
    record.update(status=status, finished=finished, seconds=finished - started, summary=summary, error=error)
    write_json_atomic(run_dir / "run.json", record)
    return RunOutcome(str(spec.rel_dir), status, finished - started, error.strip().splitlines()[-1] if error else "", summary)


def _versions() -> dict[str, str]:
    import torch

    from condensekit import __version__

    return {"condensekit": __version__, "torch": torch.__version__, "python": platform.python_version()}

"""The executor API: what every executor (local, Slurm, Ray, yours) uses to run specs and report outcomes.

An executor decides *where* runs execute; :func:`execute_spec` does the executing, wherever it is called:
it skips finished runs, takes the run's lock, writes ``run.json`` atomically and never raises for a failing
run (one bad run is recorded, the others go on). An executor's ``execute(specs, context)``:

1. calls ``context.pending(specs)`` to report finished runs as skipped and get the others;
2. runs each pending spec with :func:`execute_spec` (in this process), or ships ``spec.to_dict()`` to a
   worker that calls :func:`run_specs_in_worker` (a process, a Slurm job, a Ray task);
3. calls ``context.report(spec, outcome)`` as each outcome arrives; a worker that died without answering
   is recorded with :func:`record_lost_run`;
4. returns ``context.results(specs)``.

Resuming is a property of the run directories (:mod:`condensekit.output`), not of an executor.
"""

from __future__ import annotations

import os
import platform
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from condensekit.output import RunLock, clear_run_dir, is_finished, read_run_json, write_json_atomic
from condensekit.spec import RunSpec
from condensekit.status import RunStatus, as_status

if TYPE_CHECKING:
    from condensekit.manager import PluginManager

__all__ = ["ExecContext", "RunOutcome", "execute_spec", "record_lost_run", "run_specs_in_worker", "worker_plugin_manager"]


@dataclass
class RunOutcome:
    """What became of one run: its directory (relative to the output root), status, time, error, summary."""

    rel_dir: str
    status: RunStatus
    seconds: float = 0.0
    error: str = ""
    summary: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.status = as_status(self.status)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "status": str(self.status)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunOutcome:
        return cls(**data)


def _print_message(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


@dataclass
class ExecContext:
    """Settings every executor receives alongside the specs, and where it reports outcomes.

    Attributes:
        out_root: the output root; run directories are ``out_root / spec.rel_dir``.
        force: rerun finished runs.
        plugin_manager: the caller's plugin manager, for runs executed in this process (workers build their own).
        on_outcome: called in the submitting process once per run, as soon as its outcome is known.
        on_message: receives executor notes (where logs go, how many jobs were submitted).
        on_progress: receives live progress events of runs (:mod:`condensekit.progress`); runs in this
            process send them directly, an executor forwards those of its workers where it can.
        outcomes: every outcome reported so far, by run directory (filled by :meth:`report`).
    """

    out_root: Path
    force: bool = False
    plugin_manager: PluginManager | None = None
    on_outcome: Callable[[RunSpec, RunOutcome], None] | None = None
    on_message: Callable[[str], None] = _print_message
    on_progress: Callable[[dict[str, Any]], None] | None = None
    outcomes: dict[str, RunOutcome] = field(default_factory=dict)

    def report(self, spec: RunSpec, outcome: RunOutcome) -> None:
        """Record one run's outcome and pass it to ``on_outcome``."""
        self.outcomes[str(spec.rel_dir)] = outcome
        if self.on_outcome is not None:
            self.on_outcome(spec, outcome)

    def message(self, text: str) -> None:
        self.on_message(text)

    def progress(self, event: dict[str, Any]) -> None:
        """Pass a worker's progress event on (see :mod:`condensekit.progress`)."""
        if self.on_progress is not None:
            self.on_progress(event)

    def pending(self, specs: list[RunSpec]) -> list[RunSpec]:
        """Report finished runs as skipped (unless ``force``) and return the others, to be dispatched.

        Checking here, in the submitting process, saves a worker, job or task per finished run;
        :func:`execute_spec` checks again where the run executes.
        """
        todo = []
        for spec in specs:
            run_dir = Path(self.out_root) / spec.rel_dir
            if not self.force and is_finished(run_dir):
                self.report(spec, _skipped(spec, run_dir))
            else:
                todo.append(spec)
        return todo

    def results(self, specs: list[RunSpec]) -> list[RunOutcome]:
        """The outcomes of ``specs`` in their order (a run nobody reported on counts as failed)."""
        missing = "no outcome was reported for this run"
        return [self.outcomes.get(str(s.rel_dir)) or RunOutcome(str(s.rel_dir), RunStatus.FAILED, error=missing) for s in specs]


_WORKER_MANAGERS: dict[tuple[str, ...], PluginManager] = {}


def worker_plugin_manager(plugins: list[str]) -> PluginManager:
    """The plugin manager of a worker process (one per process and list of local plugin files).

    The submitting process passes its own manager through :class:`ExecContext`; a worker (a ``--jobs``
    process, a Slurm job, a Ray task) has none, so its first run builds one and the following runs reuse it.
    """
    from condensekit.manager import get_plugin_manager

    key = tuple(plugins)
    if key not in _WORKER_MANAGERS:
        _WORKER_MANAGERS[key] = get_plugin_manager([Path(p) for p in plugins])
    return _WORKER_MANAGERS[key]


def _skipped(spec: RunSpec, run_dir: Path) -> RunOutcome:
    previous = read_run_json(run_dir) or {}
    return RunOutcome(str(spec.rel_dir), RunStatus.SKIPPED, summary=previous.get("summary") or {})


def execute_spec(spec: RunSpec | dict[str, Any], out_root: str | Path, force: bool = False, plugin_manager: PluginManager | None = None) -> RunOutcome:
    """Run one spec into ``out_root/<spec.rel_dir>`` unless it is already finished.

    Safe to call in any process. Exceptions inside the run become ``status="failed"`` with the traceback in
    ``run.json``. A run another live process is executing is not started twice: it is reported as
    ``skipped`` with the holder in ``error``.

    Args:
        spec: the run (or ``RunSpec.to_dict()`` of it, as a worker receives it).
        out_root: the output root.
        force: rerun it even when it finished before.
        plugin_manager: the manager to run with; default: this process's worker manager for the spec's plugins.
    """
    if isinstance(spec, dict):
        spec = RunSpec.from_dict(spec)
    run_dir = Path(out_root) / spec.rel_dir
    if not force and is_finished(run_dir):
        return _skipped(spec, run_dir)
    lock = RunLock(run_dir)
    if not lock.acquire():
        return RunOutcome(str(spec.rel_dir), RunStatus.SKIPPED, error=f"being run by another process ({lock.holder()})")
    try:
        if not force and is_finished(run_dir):  # finished by another process while we got here
            return _skipped(spec, run_dir)
        clear_run_dir(run_dir)
        return _train_into(spec, run_dir, plugin_manager)
    finally:
        lock.release()


def _train_into(spec: RunSpec, run_dir: Path, pm: PluginManager | None) -> RunOutcome:
    started = time.time()
    record: dict[str, Any] = {"status": RunStatus.RUNNING, "spec": spec.to_dict(), "started": started, "host": platform.node(), "pid": os.getpid()}
    write_json_atomic(run_dir / "run.json", record)
    error = ""
    try:
        import torch

        from condensekit.trainer import resolve_device, train

        pm = pm if pm is not None else worker_plugin_manager(spec.plugins)
        record["plugins"] = {name: {"origin": origin, "version": version} for name, (origin, version) in pm.origins.items()}
        record["versions"] = _versions()
        record["device"] = str(resolve_device(spec.device))
        record["threads"] = torch.get_num_threads()
        record["reports"] = {name: report.model_dump(mode="json") for name in spec.metrics if (report := pm.catalogue.get("metrics", name).report)}
        status, summary = train(spec, run_dir, pm)
    except Exception as exc:  # one failing run is recorded; the grid goes on
        status, summary = RunStatus.FAILED, {}
        error = "".join(traceback.format_exception(exc))
        print(f"condensekit: run {spec.rel_dir} failed: {type(exc).__name__}: {exc}", file=sys.stderr)
    except BaseException:  # Ctrl-C, SystemExit: say so on disk, then let it stop the process
        record.update(status=RunStatus.INTERRUPTED, finished=time.time())
        write_json_atomic(run_dir / "run.json", record)
        raise
    finished = time.time()
    record.update(status=status, finished=finished, seconds=finished - started, summary=summary, error=error)
    write_json_atomic(run_dir / "run.json", record)
    return RunOutcome(str(spec.rel_dir), status, finished - started, error.strip().splitlines()[-1] if error else "", summary)


def record_lost_run(spec: RunSpec, out_root: str | Path, error: str) -> RunOutcome:
    """The outcome of a run whose worker, job or task died without answering.

    What is on disk wins: a run that finished (or recorded its own failure) before its worker died keeps
    that status. Otherwise ``run.json`` is marked ``failed`` with ``error`` (keeping what the run wrote),
    so the summary shows it and the next invocation reruns it.
    """
    run_dir = Path(out_root) / spec.rel_dir
    info = read_run_json(run_dir)
    if info is not None and (as_status(info.get("status")).finished or info.get("status") == RunStatus.FAILED):
        last = (info.get("error") or "").strip().splitlines()[-1:] or [""]
        return RunOutcome(str(spec.rel_dir), info["status"], info.get("seconds") or 0.0, last[0], info.get("summary") or {})
    lock = RunLock(run_dir)
    if not lock.acquire():
        return RunOutcome(str(spec.rel_dir), RunStatus.SKIPPED, error=f"being run by another process ({lock.holder()})")
    try:
        record = info or {"spec": spec.to_dict()}
        record.update(status=RunStatus.FAILED, finished=time.time(), error=error)
        write_json_atomic(run_dir / "run.json", record)
    finally:
        lock.release()
    return RunOutcome(str(spec.rel_dir), RunStatus.FAILED, error=error)


def run_specs_in_worker(
    spec_dicts: list[dict[str, Any]], out_root: str, force: bool = False, threads: int | None = None, cwd: str | None = None
) -> list[dict[str, Any]]:
    """The entry point of a worker (a Slurm job, a Ray task): execute specs one after another; return outcome dicts.

    Args:
        spec_dicts: ``RunSpec.to_dict()`` of each run.
        out_root: the output root, absolute (a worker's working directory may differ).
        force: rerun finished runs.
        threads: torch CPU threads for this worker (its share of the machine); None leaves torch's default.
        cwd: the submitting process's working directory, so that relative paths in the specs (the data
            root) mean the same thing in every worker; ignored when it does not exist here.
    """
    if cwd is not None and os.path.isdir(cwd):
        os.chdir(cwd)
    if threads is not None:
        import torch

        torch.set_num_threads(max(1, threads))
    return [execute_spec(spec, out_root, force).to_dict() for spec in spec_dicts]


def _versions() -> dict[str, str]:
    import torch

    from condensekit import __version__

    return {"condensekit": __version__, "torch": torch.__version__, "python": platform.python_version()}

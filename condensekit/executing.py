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

Resuming is a property of the run directories (:mod:`condensekit.output`), not of an executor: a finished
run is kept only when its stored spec is the one asked for now (:mod:`condensekit.reuse`). A run that
another live process holds comes back as ``running``; :func:`settle_held_runs` waits for those at the end
and reports what became of them, so a ``skipped`` run is always one that finished with this spec.
"""

from __future__ import annotations

import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from condensekit.errors import CondensekitError, traceback_line
from condensekit.output import (
    LOCK_NAME,
    RunLock,
    clear_run_dir,
    read_run_json,
    refuse_links,
    write_json_atomic,
)
from condensekit.reuse import NOT_FINISHED, kept_run, spec_changes
from condensekit.run_record import RunOutcome, train_into, unusable_run
from condensekit.spec import RunSpec
from condensekit.status import RunStatus, as_status

if TYPE_CHECKING:
    from condensekit.manager import PluginManager

__all__ = [
    "ExecContext",
    "RunOutcome",
    "execute_spec",
    "record_lost_run",
    "run_specs_in_worker",
    "settle_held_runs",
    "worker_plugin_manager",
]

DONE = frozenset({RunStatus.OK, RunStatus.DIVERGED, RunStatus.SKIPPED, RunStatus.SUBMITTED})
"""Outcomes that leave a run done with the spec asked for (or handed to a cluster); any other makes ``run``
exit 1."""


def _print_message(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


@dataclass
class ExecContext:
    """Settings every executor receives alongside the specs, and where it reports outcomes.

    Attributes:
        out_root: the output root; run directories are ``out_root / spec.rel_dir``.
        force: rerun finished runs.
        plugin_manager: the caller's plugin manager, for runs executed in this process (workers build their
            own).
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

    def pending(self, specs: Iterable[RunSpec]) -> list[RunSpec]:
        """Report kept runs as skipped (unless ``force``) and return the others, to be dispatched.

        Checking here, in the submitting process, saves a worker, job or task per finished run;
        :func:`execute_spec` checks again where the run executes. Finished runs that are redone because
        their spec changed or their outputs were damaged are announced once per reason.
        """
        todo, redone = [], Counter[str]()
        for spec in specs:
            run_dir = Path(self.out_root) / spec.rel_dir
            if self.force:
                todo.append(spec)
                continue
            info, why = kept_run(run_dir, spec)
            if info is not None:
                self.report(spec, _skipped(spec, info, run_dir=run_dir))
                continue
            if why:
                redone[why] += 1
            todo.append(spec)
        for i, (why, count) in enumerate(redone.most_common()):
            if i == 5:
                self.message(f"  ... and {len(redone) - 5} more reasons")
                break
            noun = "run" if why.startswith(NOT_FINISHED) else "finished run"
            self.message(f"rerunning {count} {noun}{'s' if count > 1 else ''}: {why}")
        return todo

    def results(self, specs: Iterable[RunSpec]) -> list[RunOutcome]:
        """The outcomes of ``specs`` in their order (a run nobody reported on counts as failed)."""
        missing = "no outcome was reported for this run"
        return [
            self.outcomes.get(str(s.rel_dir)) or RunOutcome(str(s.rel_dir), RunStatus.FAILED, error=missing)
            for s in specs
        ]


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


def _skipped(spec: RunSpec, info: dict[str, Any], error: str = "", run_dir: Path | None = None) -> RunOutcome:
    if run_dir is not None:
        _tidy_lock(run_dir)
    return RunOutcome(str(spec.rel_dir), RunStatus.SKIPPED, error=error, summary=info.get("summary") or {})


def _tidy_lock(run_dir: Path) -> None:
    """Remove the lock file a process killed between finishing a run and releasing its lock left behind.

    The lock itself died with that process (the kernel drops it); only the file is left. Taking and
    releasing the lock removes it, unless a live process holds it.
    """
    if not (run_dir / LOCK_NAME).is_file() or (run_dir / LOCK_NAME).is_symlink():
        return
    lock = RunLock(run_dir)
    try:
        if lock.acquire():
            lock.release()
    except (OSError, CondensekitError):
        pass  # a full or read-only disk: the file stays, harmless


def _held(spec: RunSpec, lock: RunLock) -> RunOutcome:
    """The outcome of a run another live process holds: still ``running``, and not done by us."""
    return RunOutcome(
        str(spec.rel_dir), RunStatus.RUNNING, error=f"being run by another process ({lock.holder()})"
    )


def execute_spec(
    spec: RunSpec | dict[str, Any],
    out_root: str | Path,
    force: bool = False,
    plugin_manager: PluginManager | None = None,
) -> RunOutcome:
    """Run one spec into ``out_root/<spec.rel_dir>`` unless it finished earlier with this spec.

    Safe to call in any process; never raises for a failing run. Exceptions inside the run become
    ``status="failed"`` with the traceback in ``run.json``; an unusable run directory (a symbolic link, a
    full disk, a read-only folder) is ``failed`` with the reason, recorded in ``run.json`` when that can
    still be written. A run another live process is executing is not started twice: it is reported as
    ``running`` with the holder in ``error`` (see :func:`settle_held_runs`).

    Args:
        spec: the run (or ``RunSpec.to_dict()`` of it, as a worker receives it).
        out_root: the output root.
        force: rerun it even when it finished before with this spec.
        plugin_manager: the manager to run with; default: this process's worker manager for the spec's
            plugins.
    """
    if isinstance(spec, dict):
        spec = RunSpec.from_dict(spec)
    run_dir = Path(out_root) / spec.rel_dir
    lock = RunLock(run_dir)
    try:
        if not force and (info := kept_run(run_dir, spec)[0]) is not None:
            return _skipped(spec, info, run_dir=run_dir)
        refuse_links(Path(out_root), run_dir)  # before the lock file is created in it
        if not lock.acquire():
            return _held(spec, lock)
    except (OSError, CondensekitError) as exc:
        return unusable_run(spec, run_dir, exc)
    try:
        # finished by another process meanwhile
        if not force and (info := kept_run(run_dir, spec)[0]) is not None:
            return _skipped(spec, info)
        clear_run_dir(run_dir, Path(out_root))
        return train_into(spec, run_dir, lambda: plugin_manager or worker_plugin_manager(spec.plugins))
    except (OSError, CondensekitError) as exc:
        return unusable_run(spec, run_dir, exc)
    finally:
        lock.release()


def record_lost_run(
    spec: RunSpec, out_root: str | Path, error: str, status: RunStatus = RunStatus.FAILED
) -> RunOutcome:
    """The outcome of a run whose worker, job or task died without answering (or was stopped: Ctrl-C).

    What is on disk wins: a run that finished with this spec (or recorded its own failure or interruption)
    before its worker died keeps that status. Otherwise ``run.json`` is marked ``status`` (``failed``, or
    ``interrupted`` for a worker the user stopped) with ``error``, keeping what the run wrote, so the
    summary shows it and the next invocation reruns it.
    """
    run_dir = Path(out_root) / spec.rel_dir
    info = read_run_json(run_dir)
    if info is not None and spec_changes(info.get("spec") or {}, spec):
        info = None  # what is there belongs to another spec: not this run's record
    if info is not None and (
        as_status(info.get("status")).finished
        or info.get("status") in (RunStatus.FAILED, RunStatus.INTERRUPTED)
    ):
        return RunOutcome(
            str(spec.rel_dir),
            info["status"],
            info.get("seconds") or 0.0,
            traceback_line(info.get("error") or ""),
            info.get("summary") or {},
        )
    lock = RunLock(run_dir)
    try:
        refuse_links(Path(out_root), run_dir)
        if not lock.acquire():
            return _held(spec, lock)
        record = info or {"spec": spec.to_dict()}
        record.update(status=status, finished=time.time(), error=error)
        write_json_atomic(run_dir / "run.json", record)
    except (OSError, CondensekitError) as exc:
        error = f"{error}; could not record it: {exc}"
    finally:
        lock.release()
    return RunOutcome(str(spec.rel_dir), status, error=error)


def settle_held_runs(context: ExecContext, specs: Iterable[RunSpec]) -> None:
    """Wait for the runs another process held (outcome ``running``) and report what became of them.

    Called by :func:`condensekit.api.execute` after the executor returns. For each run that was held, wait
    until its holder releases the lock (it finished, failed or died), then report it ``skipped`` when it
    finished with this spec, or with the status left on disk otherwise (``failed``, ``interrupted``), so
    the exit code says whether every run of the grid is done.
    """
    for spec in specs:
        outcome = context.outcomes.get(str(spec.rel_dir))
        if outcome is None or outcome.status != RunStatus.RUNNING:
            continue
        run_dir = Path(context.out_root) / spec.rel_dir
        context.message(f"waiting for {spec.rel_dir}: {outcome.error}")
        lock = RunLock(run_dir)
        try:
            refuse_links(Path(context.out_root), run_dir)
            lock.acquire(wait=True)
        except (OSError, CondensekitError) as exc:  # the folder became unwritable, or a link
            error = f"could not wait for the other process that ran it: {traceback_line(str(exc))}"
            context.report(spec, RunOutcome(str(spec.rel_dir), RunStatus.FAILED, error=error))
            continue
        finally:
            lock.release()
        info, _ = kept_run(run_dir, spec)
        if info is not None:
            context.report(spec, _skipped(spec, info, "finished by another process"))
            continue
        on_disk = read_run_json(run_dir) or {}
        status = as_status(on_disk.get("status", "interrupted"))
        if status in (RunStatus.RUNNING, RunStatus.UNREADABLE) or status.finished:
            status = RunStatus.INTERRUPTED
        error = f"the other process that ran it did not finish it ({status}); run again to redo it"
        context.report(spec, RunOutcome(str(spec.rel_dir), status, error=error))


def run_specs_in_worker(
    spec_dicts: list[dict[str, Any]],
    out_root: str,
    force: bool = False,
    threads: int | None = None,
    cwd: str | None = None,
) -> list[dict[str, Any]]:
    """The entry point of a worker (a Slurm job, a Ray task): execute specs one after another; return outcome
    dicts.

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

"""Executing one RunSpec into its run directory; shared by every executor.

An executor decides *where* runs execute (this process, worker processes, Slurm, Ray); all of them call
:func:`execute_spec`, which skips finished runs, writes ``run.json`` atomically and never raises for a
failing run: one bad run is recorded and the others go on.

Resuming is a property of the run directories, not of an executor: a run whose ``run.json`` says ``ok``
or ``diverged`` is finished and skipped; anything else (``running`` left by a killed process, ``failed``,
``interrupted``, no ``run.json``) is cleared and run again. Two processes that reach the same unfinished
run at once (a resubmitted grid while the first is still running, a retried Ray task) are kept apart by a
lock file in the run directory (:class:`RunLock`): the second one reports the run as skipped.
"""

from __future__ import annotations

import errno
import os
import platform
import sys
import time
import traceback
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from condensekit.output import FINISHED, is_finished, read_run_json, write_json_atomic
from condensekit.recipe import RunSpec

LOCK_NAME = ".condensekit.lock"


@dataclass
class RunOutcome:
    """What became of one run."""

    rel_dir: str
    status: str  # ok | failed | diverged | skipped (| submitted, when an executor does not wait)
    seconds: float = 0.0
    error: str = ""
    summary: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

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
        jobs: worker processes asked for on the command line (the local executor's ``--jobs``).
        on_outcome: called in the submitting process once per run, as soon as its outcome is known.
        on_message: receives executor notes (where logs go, how many jobs were submitted).
        outcomes: every outcome reported so far, by run directory (filled by :meth:`report`).
    """

    out_root: Path
    force: bool = False
    jobs: int = 1
    on_outcome: Callable[[RunSpec, RunOutcome], None] | None = None
    on_message: Callable[[str], None] = _print_message
    outcomes: dict[str, RunOutcome] = field(default_factory=dict)

    def report(self, spec: RunSpec, outcome: RunOutcome) -> None:
        """Record one run's outcome and pass it to ``on_outcome``."""
        self.outcomes[str(spec.rel_dir)] = outcome
        if self.on_outcome is not None:
            self.on_outcome(spec, outcome)

    def message(self, text: str) -> None:
        self.on_message(text)

    def pending(self, specs: list[RunSpec]) -> list[RunSpec]:
        """Report finished runs as skipped (unless ``force``) and return the others, to be dispatched.

        Checking here, in the submitting process, saves a worker, job or task per finished run;
        :func:`execute_spec` checks again where the run executes.
        """
        todo = []
        for spec in specs:
            previous = None if self.force else read_run_json(Path(self.out_root) / spec.rel_dir)
            if previous is not None and previous.get("status") in FINISHED:
                self.report(spec, RunOutcome(str(spec.rel_dir), "skipped", summary=previous.get("summary") or {}))
            else:
                todo.append(spec)
        return todo

    def results(self, specs: list[RunSpec]) -> list[RunOutcome]:
        """The outcomes of ``specs`` in their order (a run nobody reported on counts as failed)."""
        missing = "no outcome was reported for this run"
        return [self.outcomes.get(str(s.rel_dir)) or RunOutcome(str(s.rel_dir), "failed", error=missing) for s in specs]


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


def _clear_run_dir(run_dir: Path) -> None:
    """Remove what an interrupted or failed attempt left behind, keeping the lock file."""
    import shutil

    run_dir.mkdir(parents=True, exist_ok=True)
    for child in run_dir.iterdir():
        if child.name == LOCK_NAME:
            continue
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


_PM_CACHE: dict[tuple[str, ...], Any] = {}


def _plugin_manager(plugins: list[str]) -> Any:
    from condensekit.manager import get_plugin_manager

    key = tuple(plugins)
    if key not in _PM_CACHE:
        _PM_CACHE[key] = get_plugin_manager(plugins)
    return _PM_CACHE[key]


def _skipped(spec: RunSpec, run_dir: Path) -> RunOutcome:
    previous = read_run_json(run_dir) or {}
    return RunOutcome(str(spec.rel_dir), "skipped", summary=previous.get("summary") or {})


def execute_spec(spec: RunSpec | dict[str, Any], out_root: str | Path, force: bool = False) -> RunOutcome:
    """Run one spec into ``out_root/<spec.rel_dir>`` unless it is already finished.

    Safe to call in any process: the plugin manager is built from the spec's plugin list. Returns a
    :class:`RunOutcome`; exceptions inside the run become ``status="failed"`` with the traceback in
    ``run.json``. A run another live process is executing is not started twice: it is reported as
    ``skipped`` with the holder in ``error``.
    """
    if isinstance(spec, dict):
        spec = RunSpec.from_dict(spec)
    run_dir = Path(out_root) / spec.rel_dir
    if not force and is_finished(run_dir):
        return _skipped(spec, run_dir)
    lock = RunLock(run_dir)
    if not lock.acquire():
        return RunOutcome(str(spec.rel_dir), "skipped", error=f"being run by another process ({lock.holder()})")
    try:
        if not force and is_finished(run_dir):  # finished by another process while we got here
            return _skipped(spec, run_dir)
        _clear_run_dir(run_dir)
        return _train_into(spec, run_dir)
    finally:
        lock.release()


def _train_into(spec: RunSpec, run_dir: Path) -> RunOutcome:
    started = time.time()
    record: dict[str, Any] = {"status": "running", "spec": spec.to_dict(), "started": started, "host": platform.node(), "pid": os.getpid()}
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
    except BaseException:  # Ctrl-C, SystemExit: say so on disk, then let it stop the process
        record.update(status="interrupted", finished=time.time())
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
    if info is not None and info.get("status") in (*FINISHED, "failed"):
        last = (info.get("error") or "").strip().splitlines()[-1:] or [""]
        return RunOutcome(str(spec.rel_dir), info["status"], info.get("seconds") or 0.0, last[0], info.get("summary") or {})
    lock = RunLock(run_dir)
    if not lock.acquire():
        return RunOutcome(str(spec.rel_dir), "skipped", error=f"being run by another process ({lock.holder()})")
    try:
        record = info or {"spec": spec.to_dict()}
        record.update(status="failed", finished=time.time(), error=error)
        write_json_atomic(run_dir / "run.json", record)
    finally:
        lock.release()
    return RunOutcome(str(spec.rel_dir), "failed", error=error)


def run_specs_in_worker(
    spec_dicts: list[dict[str, Any]], out_root: str, force: bool = False, threads: int | None = None, cwd: str | None = None
) -> list[dict[str, Any]]:
    """Execute specs one after another in a worker (a Slurm job, a Ray task); returns outcome dicts.

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

"""One run's record: its ``run.json`` while it trains and when it ends, and the outcome an executor reports.

:func:`train_into` trains a run into its (prepared, locked) directory and keeps ``run.json`` true at every
moment: ``running`` from the start (with the host and process), then the status, timings, summary, error
and the list of outputs at the end, written atomically. A run that fails is recorded, never raised; Ctrl-C
is recorded as ``interrupted`` and then stops the process. :func:`unusable_run` records a run whose directory
could not be prepared or written. Both return the :class:`RunOutcome`; :mod:`condensekit.executing` decides
which runs to execute and calls them.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import platform
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from condensekit.errors import is_interruption, traceback_line
from condensekit.output import OutputError, json_safe, refuse_links, write_json_atomic
from condensekit.reuse import record_outputs
from condensekit.safe_files import overwrite_in_place
from condensekit.spec import RunSpec
from condensekit.status import RunStatus, as_status

if TYPE_CHECKING:
    from condensekit.manager import PluginManager


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


def unusable_run(spec: RunSpec, run_dir: Path, exc: BaseException) -> RunOutcome:
    """A run whose directory could not be prepared or written: ``failed``, on disk too when possible."""
    error = f"{type(exc).__name__}: {exc}" if isinstance(exc, OSError) else str(exc)
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        error = f"no space left on the output device ({exc.filename or run_dir})"
    print(f"condensekit: run {spec.rel_dir} failed: {error}", file=sys.stderr)
    record_failure(
        spec,
        run_dir,
        {"status": RunStatus.FAILED, "spec": spec.to_dict(), "finished": time.time(), "error": error},
    )
    return RunOutcome(str(spec.rel_dir), RunStatus.FAILED, error=error)


def record_failure(spec: RunSpec, run_dir: Path, record: dict[str, Any]) -> None:
    """Put a failed run on record in its ``run.json`` as well as the disk allows, never through a link.

    Atomically when the folder takes a new file; else in place, when the folder refuses new files (its
    permissions were taken away while the run trained) but ``run.json`` itself can still be written, so
    the run is not left marked ``running``; else not at all (a full or read-only disk: the next invocation
    finds no finished run and redoes it). Not at all either when the run folder, or a folder above it
    below the output root, is a link: a failure record is never written into a link's target.
    """
    try:
        refuse_links(run_dir.parents[len(spec.rel_dir.parts) - 1], run_dir)
        write_json_atomic(run_dir / "run.json", record)
    except OutputError:
        return
    except OSError:
        with contextlib.suppress(OSError):
            overwrite_in_place(run_dir / "run.json", json.dumps(json_safe(record), indent=2))


def train_into(spec: RunSpec, run_dir: Path, plugin_manager: Callable[[], PluginManager]) -> RunOutcome:
    """Train ``spec`` into ``run_dir`` (cleared and locked by the caller), recording it in ``run.json``.

    ``plugin_manager`` gives the manager to train with; it is called once the run is on record, so a
    manager that cannot be built (a broken plugin file) is a failed run, not a crash.
    """
    started = time.time()
    record: dict[str, Any] = {
        "status": RunStatus.RUNNING,
        "spec": spec.to_dict(),
        "started": started,
        "host": platform.node(),
        "pid": os.getpid(),
    }
    write_json_atomic(run_dir / "run.json", record)
    error = ""
    try:
        import torch

        from condensekit.trainer import metric_reports, resolve_device, train

        pm = plugin_manager()
        record["plugins"] = {
            name: {"origin": origin, "version": version} for name, (origin, version) in pm.origins.items()
        }
        record["versions"] = versions()
        record["device"] = str(resolve_device(spec.device))
        record["threads"] = torch.get_num_threads()
        record["reports"] = {name: r.model_dump(mode="json") for name, r in metric_reports(pm, spec).items()}
        cpu = time.process_time()
        status, summary = train(spec, run_dir, pm, notes=record)  # notes: the refinement's record
        record["cpu_seconds"] = time.process_time() - cpu
    except BaseException as exc:
        if is_interruption(exc):  # Ctrl-C or a signal: say so on disk, then let it stop the process
            record.update(status=RunStatus.INTERRUPTED, finished=time.time())
            with contextlib.suppress(OSError):
                write_json_atomic(run_dir / "run.json", record)
            raise
        # one failing run is recorded and the grid goes on; sys.exit() in a plugin is such a failure
        status, summary, error = RunStatus.FAILED, {}, failure_text(exc, run_dir)
        print(f"condensekit: run {spec.rel_dir} failed: {traceback_line(error)}", file=sys.stderr)
    finished = time.time()
    record.update(status=status, finished=finished, seconds=finished - started, summary=summary, error=error)
    try:
        record["outputs"] = record_outputs(run_dir)
        write_json_atomic(run_dir / "run.json", record)
    except OSError as exc:  # a full disk at the very end: the results are not on record, so the run failed
        status, error = (
            RunStatus.FAILED,
            f"could not write run.json ({exc.strerror or exc}); the run is redone next time",
        )
        # a small record may still fit where the full one did not
        record_failure(
            spec, run_dir, {"status": status, "spec": spec.to_dict(), "finished": finished, "error": error}
        )
        print(f"condensekit: run {spec.rel_dir} failed: {error}", file=sys.stderr)
    return RunOutcome(str(spec.rel_dir), status, finished - started, traceback_line(error), summary)


def failure_text(exc: BaseException, run_dir: Path) -> str:
    """What ``run.json`` records of a failed run: the traceback, ending with a line saying what happened."""
    text = "".join(traceback.format_exception(exc))
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        text += f"no space left on the output device while writing {exc.filename or run_dir}\n"
    elif not isinstance(exc, Exception):  # SystemExit (sys.exit() in a plugin) or another BaseException
        frames = traceback.extract_tb(exc.__traceback__)
        where = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
        text += (
            f"(raised{where}: {type(exc).__name__} during a run fails that run, not the grid; "
            "code that fails should raise an exception)\n"
        )
    return text


def versions() -> dict[str, str]:
    """The versions run.json records: condensekit, torch and Python."""
    import torch

    from condensekit import __version__

    return {"condensekit": __version__, "torch": torch.__version__, "python": platform.python_version()}

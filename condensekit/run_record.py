"""A run's ``run.json`` around its training: ``running`` while it trains, then what became of it.

:func:`train_into` trains one run into its (locked, emptied) directory and records the outcome, with the
versions, device, threads and plugins it ran with; :func:`unusable` records a run whose directory could
not be prepared or written. Both are called by :func:`condensekit.executing.execute_spec` and never raise
for a failing run (Ctrl-C is recorded as ``interrupted``, then re-raised).
"""

from __future__ import annotations

import contextlib
import errno
import os
import platform
import sys
import time
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any

from condensekit.errors import error_line, traceback_line
from condensekit.executing import RunOutcome, worker_plugin_manager
from condensekit.output import write_json_atomic
from condensekit.reuse import record_outputs
from condensekit.spec import RunSpec
from condensekit.status import RunStatus

if TYPE_CHECKING:
    from condensekit.manager import PluginManager

__all__ = ["train_into", "unusable", "versions"]


def unusable(spec: RunSpec, run_dir: Path, exc: BaseException) -> RunOutcome:
    """A run whose directory could not be prepared or written: ``failed``, on disk too when possible."""
    error = f"{type(exc).__name__}: {exc}" if isinstance(exc, OSError) else str(exc)
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        error = f"no space left on the output device ({exc.filename or run_dir})"
    print(f"condensekit: run {spec.rel_dir} failed: {error}", file=sys.stderr)
    if not run_dir.is_symlink():
        try:
            write_json_atomic(
                run_dir / "run.json",
                {"status": RunStatus.FAILED, "spec": spec.to_dict(), "finished": time.time(), "error": error},
            )
        except OSError:
            pass  # the disk is full or read-only: the next invocation finds no finished run and redoes it
    return RunOutcome(str(spec.rel_dir), RunStatus.FAILED, error=error)


def train_into(spec: RunSpec, run_dir: Path, pm: PluginManager | None) -> RunOutcome:
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

        from condensekit.trainer import resolve_device, train

        pm = pm if pm is not None else worker_plugin_manager(spec.plugins)
        record["plugins"] = {
            name: {"origin": origin, "version": version} for name, (origin, version) in pm.origins.items()
        }
        record["versions"] = versions()
        record["device"] = str(resolve_device(spec.device))
        record["threads"] = torch.get_num_threads()
        record["reports"] = {
            name: report.model_dump(mode="json")
            for name in spec.metrics
            if (report := pm.catalogue.get("metrics", name).report)
        }
        status, summary = train(spec, run_dir, pm)
    except Exception as exc:  # one failing run is recorded; the grid goes on
        status, summary = RunStatus.FAILED, {}
        error = "".join(traceback.format_exception(exc))
        if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
            error += f"no space left on the output device while writing {exc.filename or run_dir}\n"
        print(f"condensekit: run {spec.rel_dir} failed: {error_line(exc)}", file=sys.stderr)
    except BaseException:  # Ctrl-C, SystemExit: say so on disk, then let it stop the process
        record.update(status=RunStatus.INTERRUPTED, finished=time.time())
        with contextlib.suppress(OSError):
            write_json_atomic(run_dir / "run.json", record)
        raise
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
        try:  # a small record may still fit where the full one did not
            write_json_atomic(
                run_dir / "run.json",
                {"status": status, "spec": spec.to_dict(), "finished": finished, "error": error},
            )
        except OSError:
            pass  # run.json still says "running": the next invocation redoes the run
        print(f"condensekit: run {spec.rel_dir} failed: {error}", file=sys.stderr)
    return RunOutcome(str(spec.rel_dir), status, finished - started, traceback_line(error), summary)


def versions() -> dict[str, str]:
    import torch

    from condensekit import __version__

    return {"condensekit": __version__, "torch": torch.__version__, "python": platform.python_version()}

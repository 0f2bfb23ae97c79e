"""The worker processes of the ``local`` executor (``--jobs N``): how one is started, what it runs, how it
ends.

A worker is a spawned process that lives for the whole grid and takes one run at a time over a pipe. It is
started with the caller's ``__main__`` hidden (:func:`main_module_hidden`), so a plain script that calls
:func:`condensekit.run_recipe` without an ``if __name__ == "__main__":`` guard is never imported, and so
never run again, by its workers. Ctrl-C goes to the parent alone; the parent ends busy workers with
SIGTERM, which a worker turns into an interruption of its run, so the run's ``run.json`` says
``interrupted`` (and the parent says so itself when a worker could not).
"""

from __future__ import annotations

import os
import signal
import sys
import types
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


def _die_with_parent() -> None:
    """End this worker when the process that started it dies, even by ``kill -9`` (which no cleanup sees).

    On Linux the kernel sends SIGKILL on the parent's death (``PR_SET_PDEATHSIG``); elsewhere a daemon
    thread checks every second that the parent is still there. Either way no orphan keeps training, and
    a rerun right after finds the runs unlocked.
    """
    import multiprocessing
    import sys
    import threading
    import time

    parent = multiprocessing.parent_process()
    parent_pid = parent.pid if parent is not None else os.getppid()
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            if libc.prctl(1, signal.SIGKILL, 0, 0, 0) == 0:  # 1 = PR_SET_PDEATHSIG
                if os.getppid() != parent_pid:  # the parent died before we asked
                    os._exit(1)
                return
        except (OSError, AttributeError):
            pass  # no prctl (an unusual libc): fall back to watching

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="condensekit-parent-watch", daemon=True).start()


def _end_on_sigterm(signum: int, frame: Any) -> None:
    """SIGTERM from the parent (Ctrl-C, an error there): stop the current run as interrupted."""
    from condensekit.errors import Interrupted

    raise Interrupted(128 + signum)


def worker_main(conn: Any) -> None:
    """Loop of one worker process: receive a spec and its thread count, execute it, send the outcome back;
    None stops it.

    The parent chooses each run's threads (:func:`run_threads`): it has sized the recipe's models already
    when it validated the recipe, and a worker that built a model on the meta device would first import
    much of torch's compiler stack (seconds).
    """
    _die_with_parent()
    # Ctrl-C reaches the whole process group; the parent alone handles it and ends the workers with
    # SIGTERM, which interrupts the current run like Ctrl-C would (its run.json says so).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _end_on_sigterm)
    from condensekit.environment import guard_output_streams

    guard_output_streams()  # a stderr that cannot be written loses messages, not the run
    import torch

    from condensekit import progress
    from condensekit.executing import execute_spec
    from condensekit.spec import RunSpec

    progress.set_sink(lambda event: conn.send(("progress", event)))  # live progress goes to the parent
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):  # the parent is gone
            return
        if message is None:
            return
        spec_dict, out_root, force, threads = message
        torch.set_num_threads(threads)  # per run: recorded in run.json as "threads"
        conn.send(execute_spec(RunSpec.from_dict(spec_dict), out_root, force).to_dict())


@contextmanager
def _worker_environment(gpu: str | None, threads: int) -> Iterator[None]:
    """The environment a worker starts with (spawned processes inherit it), restored afterwards here.

    Set before the worker starts, so before it imports torch: CUDA and OpenMP read these once, when they
    are loaded.
    """
    from condensekit.threads import prefer_passive_waiting

    saved = dict(os.environ)
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = gpu
    os.environ["OMP_NUM_THREADS"] = str(threads)
    prefer_passive_waiting()
    try:
        yield
    finally:
        for key in ("CUDA_VISIBLE_DEVICES", "OMP_NUM_THREADS", "OMP_WAIT_POLICY"):
            if key in saved:
                os.environ[key] = saved[key]
            else:
                os.environ.pop(key, None)


PENDING = object()
"""What :meth:`Worker.receive` returns when the worker sent progress but not yet its outcome."""


@contextmanager
def main_module_hidden() -> Iterator[None]:
    """Hide the caller's ``__main__`` while a worker is spawned, so the worker never imports it.

    multiprocessing's spawn re-imports the parent's main script (or ``-m`` module) in every child, so a
    script without an ``if __name__ == "__main__":`` guard would run again in each worker, starting workers
    of its own. Workers need nothing from ``__main__`` (their code is :func:`worker_main`, their plugins
    are loaded from files and entry points), so while one is started ``__main__`` is a blank module, as in
    an interactive session.
    """
    main = sys.modules.get("__main__")
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        if main is not None:
            sys.modules["__main__"] = main


class Worker:
    """One spawned worker process, the GPU it owns and the run it is executing."""

    def __init__(self, mp_context: Any, gpu: str | None, threads: int):
        self.mp_context, self.gpu, self.threads = mp_context, gpu, threads
        self.spec: Any = None
        self.conn: Any = None
        self.start()

    def start(self) -> None:
        if self.conn is not None:  # replacing a dead worker
            self.conn.close()
        self.conn, child_conn = self.mp_context.Pipe()
        self.process = self.mp_context.Process(target=worker_main, args=(child_conn,), daemon=True)
        with _worker_environment(self.gpu, self.threads), main_module_hidden():
            self.process.start()
        child_conn.close()

    def send(self, spec: Any, out_root: str, force: bool, threads: int) -> None:
        self.spec = spec
        self.conn.send((spec.to_dict(), out_root, force, threads))

    def receive(self, on_progress: Any) -> Any:
        """The outcome of the current run; PENDING when only progress events came; None when the worker
        died."""
        from condensekit.executing import RunOutcome

        try:
            while self.conn.poll():
                message = self.conn.recv()
                if isinstance(message, tuple) and message[0] == "progress":
                    on_progress(message[1])
                    continue
                return RunOutcome.from_dict(message)
            if self.process.is_alive():
                return PENDING
        except (EOFError, OSError):
            pass
        self.process.join(timeout=10)
        return None

    def stop(self, out_root: str) -> None:
        """End the worker: politely when idle; at once when busy (Ctrl-C, an error in the parent).

        A busy worker gets SIGTERM, which interrupts its run (``run.json``: ``interrupted``); one that does
        not end within 5 seconds is killed, and its run is marked ``interrupted`` here.
        """
        if self.spec is None:
            try:
                self.conn.send(None)
            except (OSError, ValueError):
                pass
            self.process.join(timeout=5)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(timeout=5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(timeout=5)
        self.conn.close()
        if self.spec is not None:
            from condensekit.executing import record_lost_run
            from condensekit.status import RunStatus

            record_lost_run(self.spec, out_root, "stopped by the user", RunStatus.INTERRUPTED)
            self.spec = None

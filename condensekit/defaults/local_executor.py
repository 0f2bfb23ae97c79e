"""The ``local`` executor: runs sequentially in this process, or in ``--jobs N`` worker processes.

Workers are spawned processes that live for the whole grid (torch is imported once per worker, not once
per run) and take one run at a time. The CPU cores are split between them; each run gets torch threads
from the size of its model (:mod:`condensekit.threads`), at most its share of the cores, unless
``[executor] threads`` fixes the count. Workers start with OpenMP's passive waiting (idle threads sleep
rather than spin: see :func:`condensekit.threads.prefer_passive_waiting`). When CUDA devices are
visible, each worker sees one of them (round-robin) through ``CUDA_VISIBLE_DEVICES``, so inside a worker
the run's ``cuda`` device is that GPU. A worker that dies (out of memory, a segfault in an extension) takes
only its current run with it: that run is recorded as failed and a fresh worker takes its place. Workers
never import the caller's ``__main__`` (a script without a main guard works); on Ctrl-C their runs are
recorded as ``interrupted`` (:mod:`condensekit.defaults.workers`).
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

import condensekit

if TYPE_CHECKING:
    from condensekit.hookspecs import Register


class LocalParams(BaseModel):
    """Parameters of the local executor."""

    model_config = ConfigDict(extra="forbid")
    jobs: int = Field(
        1, ge=1, description="worker processes (1 = run in this process); `condensekit run --jobs N` sets it"
    )
    threads: int | None = Field(
        None,
        ge=1,
        description="torch CPU threads of every run (default: one per 2 GFLOP of a training step, at least "
        "1, at most the run's share of the CPU cores, available cores // jobs; 1 gives numbers that do not "
        "depend on the machine)",
    )


class LocalExecutor:
    """Runs specs here, one after another, or in a pool of worker processes."""

    def __init__(self, params: LocalParams):
        self.params = params

    def execute(self, specs: list[Any], context: Any) -> list[Any]:
        from condensekit.executing import execute_spec

        jobs = self.params.jobs
        pending = context.pending(specs)
        if jobs <= 1 or len(pending) <= 1:
            import torch

            # a user's OMP_NUM_THREADS or set_num_threads caps it
            share = min(available_cpus(), torch.get_num_threads())
            for spec in pending:
                with torch_threads(run_threads(spec, share, self.params.threads, context.plugin_manager)):
                    context.report(
                        spec, execute_spec(spec, context.out_root, context.force, context.plugin_manager)
                    )
        else:
            share = self.params.threads or max(1, available_cpus() // jobs)
            _execute_pool(pending, context, min(jobs, len(pending)), share, self.params.threads)
        return context.results(specs)


def run_threads(spec: Any, share: int, fixed: int | None, plugin_manager: Any = None) -> int:
    """Torch threads for one run: ``fixed`` (``[executor] threads``) when given, else by the model's size.

    Args:
        spec: the run (:class:`condensekit.spec.RunSpec`).
        share: the most threads the run may get (its share of the cores).
        fixed: the executor's ``threads`` parameter; None chooses with
            :func:`condensekit.threads.threads_for_spec`.
        plugin_manager: the manager whose catalogue builds the model (default: this process's worker manager).
    """
    if fixed is not None:
        return fixed
    from condensekit.executing import worker_plugin_manager
    from condensekit.threads import threads_for_spec

    try:
        pm = plugin_manager if plugin_manager is not None else worker_plugin_manager(spec.plugins)
        return threads_for_spec(spec, pm.catalogue, share)
    except Exception:  # a plugin that cannot load, an unknown name: the run itself reports it
        return share


@contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Use ``threads`` torch threads in this process for a while (None: leave torch's setting alone)."""
    if threads is None:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _execute_pool(specs: list[Any], context: Any, jobs: int, threads: int, fixed: int | None = None) -> None:
    import multiprocessing as mp
    from multiprocessing.connection import wait

    from condensekit.defaults.workers import PENDING, Worker
    from condensekit.executing import record_lost_run

    # spawn, not fork: a forked child of a process that already used torch (threads, CUDA) can deadlock.
    mp_context = mp.get_context("spawn")
    gpus = _visible_gpus()
    queue = deque(specs)
    out_root = str(context.out_root)
    plural = "" if threads == 1 else "s"
    each = (
        f"{threads} CPU thread{plural} each"
        if fixed
        else f"up to {threads} CPU thread{plural} each, by model size"
    )
    context.message(
        f"local: {jobs} worker processes, {each}" + (f", GPUs {','.join(gpus)} round-robin" if gpus else "")
    )
    workers = [Worker(mp_context, gpus[i % len(gpus)] if gpus else None, threads) for i in range(jobs)]
    try:
        while queue or any(w.spec is not None for w in workers):
            for worker in workers:
                if worker.spec is None and queue:
                    spec = queue.popleft()
                    worker.send(
                        spec,
                        out_root,
                        context.force,
                        run_threads(spec, threads, fixed, context.plugin_manager),
                    )
            busy = [w for w in workers if w.spec is not None]
            ready = set(wait([w.conn for w in busy] + [w.process.sentinel for w in busy]))
            for worker in busy:
                if worker.conn not in ready and worker.process.sentinel not in ready:
                    continue
                spec, outcome = worker.spec, worker.receive(context.progress)
                if outcome is PENDING:
                    continue
                if outcome is None:
                    error = (
                        f"worker process died (exit code {worker.process.exitcode}) while running this run"
                    )
                    outcome = record_lost_run(spec, out_root, error)
                    worker.start()
                worker.spec = None
                context.report(spec, outcome)
    finally:
        for worker in workers:
            worker.stop(out_root)


def available_cpus() -> int:
    """CPU cores this process may use: its affinity mask (Slurm, taskset, cgroups), not the machine's
    count."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _visible_gpus() -> list[str]:
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        return [d.strip() for d in env.split(",") if d.strip()]
    try:
        import torch

        return [str(i) for i in range(torch.cuda.device_count())]
    except ImportError:
        return []


@condensekit.hookimpl
def register_executors(register: Register) -> None:
    register(
        "local",
        LocalExecutor,
        params=LocalParams,
        summary="run here: sequentially, or in --jobs N worker processes",
        default=True,
    )

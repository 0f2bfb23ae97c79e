"""The ``local`` executor: runs sequentially in this process, or in ``--jobs N`` worker processes.

Workers are spawned processes; the CPU threads are split between them and, when CUDA devices are
visible, each worker gets one (round-robin) through ``CUDA_VISIBLE_DEVICES``.
"""

from __future__ import annotations

import os
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

import condensekit


class LocalParams(BaseModel):
    """Parameters of the local executor."""

    model_config = ConfigDict(extra="forbid")
    jobs: int = Field(1, ge=1, description="worker processes (1 = run in this process)")


class LocalExecutor:
    """Runs specs here, one after another, or in a pool of worker processes."""

    def __init__(self, params: LocalParams):
        self.params = params

    def execute(self, specs: list[Any], context: Any) -> list[Any]:
        from condensekit.executing import execute_spec

        jobs = max(context.jobs, self.params.jobs) if context.jobs != 1 else self.params.jobs
        if jobs <= 1 or len(specs) <= 1:
            outcomes = []
            for spec in specs:
                outcome = execute_spec(spec, context.out_root, context.force)
                context.report(spec, outcome)
                outcomes.append(outcome)
            return outcomes
        return _execute_pool(specs, context, jobs)


def _worker_init(queue: Any, threads: int) -> None:
    device = queue.get()
    if device is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(device)
    import torch

    torch.set_num_threads(threads)


def _execute_pool(specs: list[Any], context: Any, jobs: int) -> list[Any]:
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed

    from condensekit.executing import execute_spec

    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    gpus = _visible_gpus()
    for i in range(jobs):
        queue.put(gpus[i % len(gpus)] if gpus else None)
    threads = max(1, (os.cpu_count() or 1) // jobs)
    outcomes: dict[int, Any] = {}
    with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=_worker_init, initargs=(queue, threads)) as pool:
        futures = {pool.submit(execute_spec, spec.to_dict(), str(context.out_root), context.force): i for i, spec in enumerate(specs)}
        for future in as_completed(futures):
            i = futures[future]
            outcomes[i] = future.result()
            context.report(specs[i], outcomes[i])
    return [outcomes[i] for i in range(len(specs))]


def _visible_gpus() -> list[str]:
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        return [d for d in env.split(",") if d.strip()]
    try:
        import torch

        return [str(i) for i in range(torch.cuda.device_count())]
    except ImportError:
        return []


@condensekit.hookimpl
def register_executors(register: Any) -> None:
    register("local", LocalExecutor, params=LocalParams, summary="run here: sequentially, or in --jobs N worker processes")

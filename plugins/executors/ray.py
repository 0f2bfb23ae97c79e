"""Executor ``ray``: one Ray task per run, on a running Ray cluster or on a local Ray started here.

Each task calls :func:`condensekit.executing.execute_spec`, so the run directories are the same as with
``local``; the output root must be on a filesystem every node sees. ``gpus_per_run`` may be fractional
(``0.25`` puts four small runs on one GPU); Ray sets ``CUDA_VISIBLE_DEVICES`` for each task. Install with
``pip install "condensekit[ray]"``; setup notes in docs/scaling.md.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

import condensekit
from condensekit_plugins.executors import import_optional

if TYPE_CHECKING:
    from condensekit.hookspecs import Register


class RayParams(BaseModel):
    """Parameters of the Ray executor (``[executor] use = "ray"``)."""

    model_config = ConfigDict(extra="forbid")
    address: str | None = Field(
        None,
        description=(
            'cluster to join ("auto", "ray://head:10001"); unset: the '
            "Ray already initialised in this process, else start one here"
        ),
    )
    num_cpus: int | None = Field(None, ge=1, description="CPUs of a Ray started here (default: all cores)")
    cpus_per_run: float = Field(
        1.0, gt=0, description="CPUs reserved per run; also its torch threads (rounded down, at least 1)"
    )
    gpus_per_run: float = Field(0.0, ge=0, description="GPUs per run; fractions share a GPU, e.g. 0.25")
    max_retries: int = Field(
        1, ge=0, description="times Ray reruns a run whose worker process died (runs are idempotent)"
    )
    runtime_env: dict[str, Any] | None = Field(
        None, description='Ray runtime_env for the tasks, e.g. {env_vars = {"X" = "1"}}'
    )


class RayExecutor:
    """Submits one task per run and reports each as it ends."""

    def __init__(self, params: RayParams):
        self.params = params

    def _connect(self, ray: Any, context: Any) -> bool:
        """Initialise Ray unless this process already did; True when we must shut it down afterwards."""
        if ray.is_initialized():
            return False
        p = self.params
        options: dict[str, Any] = {"address": p.address} if p.address else {"num_cpus": p.num_cpus}
        try:
            ray.init(**options, runtime_env=p.runtime_env, log_to_driver=True)
        except ConnectionError as exc:
            raise condensekit.CondensekitError(
                f"executor.address = {p.address!r}: cannot connect to Ray: {exc}"
            ) from exc
        resources = ray.cluster_resources()
        context.message(
            f"ray: {'joined ' + p.address if p.address else 'started a local Ray'} "
            f"({resources.get('CPU', 0):g} CPUs, {resources.get('GPU', 0):g} GPUs)"
        )
        return True

    def execute(self, specs: list[Any], context: Any) -> list[Any]:
        ray = import_optional("ray", "ray", "Ray", "ray")
        pending = context.pending(specs)
        if not pending:
            return context.results(specs)
        started = self._connect(ray, context)
        try:
            self._run_tasks(ray, pending, context)
        finally:
            if started:
                ray.shutdown()
        return context.results(specs)

    def _run_tasks(self, ray: Any, pending: list[Any], context: Any) -> None:
        from condensekit.executing import RunOutcome, record_lost_run, run_specs_in_worker

        p = self.params
        task = ray.remote(num_cpus=p.cpus_per_run, num_gpus=p.gpus_per_run, max_retries=p.max_retries)(
            run_specs_in_worker
        )
        out_root = str(Path(context.out_root).resolve())
        threads = max(1, int(p.cpus_per_run))
        refs = {
            task.remote([spec.to_dict()], out_root, context.force, threads, os.getcwd()): spec
            for spec in pending
        }
        context.message(f"ray: {len(refs)} tasks ({p.cpus_per_run:g} CPU, {p.gpus_per_run:g} GPU each)")
        try:
            while refs:
                done, _ = ray.wait(list(refs), num_returns=1)
                for ref in done:
                    spec = refs.pop(ref)
                    try:
                        outcome = RunOutcome.from_dict(ray.get(ref)[0])
                    except ray.exceptions.RayError as exc:  # the task's worker died, retries exhausted
                        last = (str(exc).strip().splitlines() or [type(exc).__name__])[-1]
                        outcome = record_lost_run(
                            spec, out_root, f"Ray task failed: {type(exc).__name__}: {last}"
                        )
                    context.report(spec, outcome)
        except KeyboardInterrupt:
            for ref in refs:
                ray.cancel(ref, force=True)
            raise


@condensekit.hookimpl
def register_executors(register: Register) -> None:
    register(
        "ray", RayExecutor, params=RayParams, summary="one Ray task per run, on a Ray cluster or a local Ray"
    )

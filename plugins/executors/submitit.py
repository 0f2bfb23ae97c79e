"""Executor ``submitit``: runs as Slurm job arrays through submitit, or submitit's local executor.

Each job executes ``runs_per_job`` runs one after another through
:func:`condensekit.executing.execute_spec`, so the run directories are the same as with ``local``. Jobs are
checkpointable: when Slurm preempts one or its time runs out, submitit requeues it, and the requeued job
skips the runs that finished and restarts the interrupted one. Install with ``pip install
"condensekit[slurm]"``; setup notes in docs/scaling.md.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

import condensekit
from condensekit_plugins.executors import import_optional

if TYPE_CHECKING:
    from condensekit.hookspecs import Register


class SubmititParams(BaseModel):
    """Parameters of the submitit executor (``[executor] use = "submitit"``)."""

    model_config = ConfigDict(extra="forbid")
    cluster: Literal["slurm", "local"] = Field(
        "slurm", description='"slurm", or "local": submitit\'s local executor (no Slurm needed)'
    )
    partition: str | None = Field(
        None, description="Slurm partition (default: the cluster's default partition)"
    )
    time_min: int = Field(
        60, ge=1, description="time limit of one job in minutes (all the runs packed into it)"
    )
    cpus_per_run: int = Field(1, ge=1, description="CPU cores per job; also the torch threads of its runs")
    gpus_per_run: int = Field(0, ge=0, description="GPUs per job (Slurm --gpus-per-node)")
    mem_gb: float | None = Field(
        None, gt=0, description="memory per job in GB (default: the partition's default)"
    )
    runs_per_job: int = Field(1, ge=1, description="runs packed into one job, executed one after another")
    array_parallelism: int = Field(64, ge=1, description="jobs of the array running at the same time")
    setup: list[str] = Field([], description='shell lines run before each job, e.g. ["module load cuda"]')
    slurm: dict[str, Any] = Field(
        {}, description='more submitit Slurm parameters, e.g. {account = "x", qos = "y"}'
    )
    folder: str | None = Field(
        None, description="submitit's logs and pickles (default: <out>/<recipe>/submitit)"
    )
    wait: bool = Field(True, description="wait for the jobs and report them; false: submit and return")
    poll_s: float = Field(10.0, gt=0, description="seconds between checks of the jobs' state")


class SpecChunk:
    """The callable one job runs: a few specs, executed in order. Checkpointable for submitit.

    On preemption or time-out submitit calls :meth:`checkpoint` and requeues the same chunk; the requeued
    job skips the runs that finished (their ``run.json`` says so) and reruns the interrupted one.
    """

    def __init__(self, spec_dicts: list[dict[str, Any]], out_root: str, force: bool, threads: int, cwd: str):
        self.spec_dicts, self.out_root, self.force, self.threads, self.cwd = (
            spec_dicts,
            out_root,
            force,
            threads,
            cwd,
        )

    def __call__(self) -> list[dict[str, Any]]:
        from condensekit.executing import run_specs_in_worker

        # A requeued job must not rerun what it finished before; only the first attempt honours --force.
        force, self.force = self.force, False
        return run_specs_in_worker(self.spec_dicts, self.out_root, force, self.threads, self.cwd)

    def checkpoint(self, *args: Any, **kwargs: Any) -> Any:
        from submitit.helpers import DelayedSubmission

        return DelayedSubmission(self, *args, **kwargs)


class SubmititExecutor:
    """Submits runs as a job array (packed ``runs_per_job`` to a job) and waits for them."""

    def __init__(self, params: SubmititParams):
        self.params = params

    def _make_executor(self, submitit: Any, folder: Path, name: str) -> Any:
        p = self.params
        if p.cluster == "slurm" and shutil.which("sbatch") is None:
            raise condensekit.CondensekitError(
                'executor.cluster = "slurm" but sbatch is not on PATH here; run from a Slurm login node, or '
                'set executor.cluster = "local" to use submitit\'s local executor (see docs/scaling.md)'
            )
        executor = submitit.AutoExecutor(folder=folder, cluster=p.cluster)
        options: dict[str, Any] = {
            "name": name,
            "timeout_min": p.time_min,
            "cpus_per_task": p.cpus_per_run,
            "gpus_per_node": p.gpus_per_run,
            "mem_gb": p.mem_gb,
        }
        if p.cluster == "slurm":
            options.update(
                slurm_partition=p.partition, slurm_array_parallelism=p.array_parallelism, slurm_setup=p.setup
            )
            options.update({f"slurm_{key}": value for key, value in p.slurm.items()})
        else:
            options.update(local_setup=p.setup)
        try:
            executor.update_parameters(**options)
        except (ValueError, NameError, AssertionError) as exc:
            raise condensekit.CondensekitError(f"executor: submitit refused the parameters: {exc}") from exc
        return executor

    def execute(self, specs: list[Any], context: Any) -> list[Any]:
        submitit = import_optional("submitit", "submitit", "submitit", "slurm")
        pending = context.pending(specs)
        if not pending:
            return context.results(specs)
        out_root = Path(context.out_root).resolve()
        folder = (
            Path(self.params.folder).expanduser()
            if self.params.folder
            else out_root / pending[0].recipe_name / "submitit"
        )
        executor = self._make_executor(
            submitit, folder.resolve() / "%j", f"condensekit-{pending[0].recipe_name}"
        )
        size = self.params.runs_per_job
        chunks = [pending[i : i + size] for i in range(0, len(pending), size)]
        make = [
            SpecChunk(
                [s.to_dict() for s in chunk],
                str(out_root),
                context.force,
                self.params.cpus_per_run,
                os.getcwd(),
            )
            for chunk in chunks
        ]
        if self.params.cluster == "slurm":
            with executor.batch():  # one sbatch --array; Slurm enforces array_parallelism
                jobs = [executor.submit(job) for job in make]
            _wait(list(zip(jobs, chunks, strict=True)), [], context, self.params, executor)
        else:  # the local executor starts every job at once: keep array_parallelism of them in flight
            first = self.params.array_parallelism if self.params.wait else len(make)
            jobs = [executor.submit(job) for job in make[:first]]
            _wait(
                list(zip(jobs, chunks[:first], strict=True)),
                list(zip(make[first:], chunks[first:], strict=True)),
                context,
                self.params,
                executor,
            )
        return context.results(specs)


def _wait(
    active: list[tuple[Any, list[Any]]],
    queued: list[tuple[Any, list[Any]]],
    context: Any,
    params: SubmititParams,
    executor: Any,
) -> None:
    """Report each job's runs as it ends, submitting queued jobs as slots free up."""
    ids = sorted({str(job.job_id).split("_")[0] for job, _ in active})
    context.message(
        f"submitit ({params.cluster}): {len(active) + len(queued)} jobs for "
        f"{sum(len(c) for _, c in active + queued)} runs, job {', '.join(ids)}; logs in "
        f"{Path(str(executor.folder)).parent}"
    )
    if not params.wait:
        for job, chunk in active:
            for spec in chunk:
                context.report(spec, _submitted(spec, job))
        return
    poll = params.poll_s if params.cluster == "slurm" else min(params.poll_s, 0.5)
    try:
        while active:
            still = []
            for job, chunk in active:
                if job.done():
                    _report_job(job, chunk, context)
                    if queued:
                        job_callable, queued_chunk = queued.pop(0)
                        still.append((executor.submit(job_callable), queued_chunk))
                else:
                    still.append((job, chunk))
            active = still
            if active:
                time.sleep(poll)
    except KeyboardInterrupt:
        for job, _ in active:
            job.cancel(check=False)
        raise


def _submitted(spec: Any, job: Any) -> Any:
    from condensekit.executing import RunOutcome

    return RunOutcome(
        str(spec.rel_dir), "submitted", error=f"job {job.job_id}; `condensekit report` once it ends"
    )


def _report_job(job: Any, chunk: list[Any], context: Any) -> None:
    from condensekit.executing import RunOutcome, record_lost_run

    try:
        answers = job.result()
    except Exception as exc:  # the job died (killed, out of memory, node failure): its runs did not answer
        last = (str(exc).strip().splitlines() or [type(exc).__name__])[-1]
        error = f"submitit job {job.job_id} failed: {last} (log: {job.paths.stderr})"
        for spec in chunk:
            context.report(spec, record_lost_run(spec, context.out_root, error))
        return
    for spec, answer in zip(chunk, answers, strict=True):
        context.report(spec, RunOutcome.from_dict(answer))


@condensekit.hookimpl
def register_executors(register: Register) -> None:
    register(
        "submitit",
        SubmititExecutor,
        params=SubmititParams,
        summary="Slurm job arrays through submitit (or its local executor)",
    )

"""Start-up of one ``--jobs`` worker, and the wall time of a grid of small runs with ``--jobs`` 1 and 2.

    python benchmarks/jobs.py                 # 8 runs (2 arms x 4 seeds) of 200 steps on digits
    python benchmarks/jobs.py --steps 100 --repeats 3

Worker start-up is measured first: the seconds from starting a worker process the way the local executor
does (``spawn``) until it is ready for its first run -- torch, the executor's modules and the plugin
manager (every built-in plugin) imported -- the median of ``--startups`` workers started one at a time.

Then the grid, three ways: sequentially in this process with condensekit's default threads (by model
size: 1 for these small MLPs; ``condensekit/threads.py``), sequentially with every core
(``[executor] threads = <cores>``, torch's own count), and with ``--jobs 2`` (2 spawned workers, start-up
included; threads by model size, at most cores // 2 each). The parent process is warmed up by one run
first, which favours the sequential side. Rounds alternate so that a change in machine load hits every
variant; the median of each is reported.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

RECIPE = """\
name = "bench"
seeds = {seeds}
device = "cpu"

[data]
use = "digits"
batch_size = 100

[train]
steps = {steps}
lr = 0.05

[metrics]
condensation = {{ every = "log:30" }}

[[arms]]
name = "mlp"
model = {{ use = "mlp", depth = 6, width = {width} }}

[[arms]]
name = "resmlp"
model = {{ use = "resmlp", depth = 6, width = {width} }}
"""


def _ready_worker(conn: Any) -> None:
    """What a local-executor worker does before its first run, then say so."""
    import torch  # noqa: F401

    from condensekit import progress  # noqa: F401
    from condensekit.executing import execute_spec, worker_plugin_manager  # noqa: F401
    from condensekit.spec import RunSpec  # noqa: F401

    worker_plugin_manager([]).catalogue  # noqa: B018 -- built on the first run of every worker
    conn.send("ready")


def worker_startup_seconds(count: int) -> list[float]:
    """Seconds from starting a spawned worker until it is ready, for ``count`` workers one after another."""
    import multiprocessing as mp

    context = mp.get_context("spawn")
    times = []
    for _ in range(count):
        parent, child = context.Pipe()
        started = time.perf_counter()
        process = context.Process(target=_ready_worker, args=(child,), daemon=True)
        process.start()
        assert parent.recv() == "ready"
        times.append(time.perf_counter() - started)
        process.join()
    return times


def _grid(folder: Path, seeds: int, steps: int, width: int) -> list:
    from condensekit.api import open_recipe

    path = folder / "bench.toml"
    path.write_text(RECIPE.format(seeds=list(range(seeds)), steps=steps, width=width), encoding="utf-8")
    return open_recipe(path)[0].specs


def _time_grid(specs: list, jobs: int, out_root: Path, threads: int | None = None) -> float:
    from condensekit.defaults.local_executor import LocalExecutor, LocalParams
    from condensekit.executing import ExecContext

    started = time.perf_counter()
    outcomes = LocalExecutor(LocalParams(jobs=jobs, threads=threads)).execute(
        specs, ExecContext(out_root=out_root, on_message=lambda _: None)
    )
    seconds = time.perf_counter() - started
    bad = [o for o in outcomes if o.status != "ok"]
    if bad:
        raise SystemExit(f"benchmark run failed: {bad[0].rel_dir}: {bad[0].status} {bad[0].error}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, default=4, help="seeds per arm (2 arms)")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument(
        "--repeats", type=int, default=2, help="rounds of (sequential, sequential all cores, --jobs 2)"
    )
    parser.add_argument("--skip-all-cores", action="store_true", help="leave out sequential with every core")
    parser.add_argument(
        "--startups", type=int, default=3, help="workers started one at a time to time the start-up"
    )
    args = parser.parse_args()
    startups = worker_startup_seconds(args.startups)
    print(
        f"worker start-up (spawn, torch and plugins imported): median {statistics.median(startups):.2f} s "
        f"({' '.join(f'{t:.2f}' for t in startups)}), load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )

    import torch

    from condensekit.defaults.local_executor import available_cpus

    cores = available_cpus()
    times: dict[str, list[float]] = {
        "sequential (defaults)": [],
        f"sequential ({cores} threads)": [],
        "--jobs 2": [],
    }
    with tempfile.TemporaryDirectory() as tmp:
        specs = _grid(Path(tmp), args.seeds, args.steps, args.width)
        _time_grid(specs[:1], 1, Path(tmp) / "warmup")  # imports and first-step costs, paid once here
        for round_ in range(args.repeats):
            times["sequential (defaults)"].append(_time_grid(specs, 1, Path(tmp) / f"seq{round_}"))
            if not args.skip_all_cores:
                times[f"sequential ({cores} threads)"].append(
                    _time_grid(specs, 1, Path(tmp) / f"all{round_}", threads=cores)
                )
            times["--jobs 2"].append(_time_grid(specs, 2, Path(tmp) / f"par{round_}"))
    print(
        f"{len(specs)} runs x {args.steps} steps (mlp/resmlp depth 6 width {args.width}, digits), "
        f"{cores} CPU cores, load average {os.getloadavg()[0]:.1f}, torch {torch.__version__}"
    )
    for label, values in times.items():
        if values:
            print(
                f"{label:26s}: {' '.join(f'{t:.1f}' for t in values)} "
                f"s  (median {statistics.median(values):.1f} s)"
            )
    seq, par = statistics.median(times["sequential (defaults)"]), statistics.median(times["--jobs 2"])
    print(f"ratio --jobs 2 / sequential (defaults) = {par / seq:.2f}  (speed-up {seq / par:.2f}x)")


if __name__ == "__main__":
    main()

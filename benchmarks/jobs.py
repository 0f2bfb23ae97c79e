"""Wall time of a grid of small runs with ``--jobs 2`` against sequential, measured side by side here.

    python benchmarks/jobs.py                 # 8 runs (2 arms x 4 seeds) of 200 steps on digits
    python benchmarks/jobs.py --steps 100 --repeats 3

Sequential runs in this process with torch's default threads, as ``condensekit run`` does, and again
with one thread (``[executor] threads = 1``), which avoids OpenMP spinning on a busy machine; ``--jobs 2``
uses the local executor's worker pool (2 spawned workers, the cores split between them), including the
cost of starting the workers (each imports torch). The parent process is warmed up by one run first,
which favours the sequential side. Rounds alternate (sequential, parallel, sequential, ...) so that a
change in machine load hits both; the median of each is reported.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

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


def _grid(folder: Path, seeds: int, steps: int, width: int) -> list:
    from condensekit.api import open_recipe

    path = folder / "bench.toml"
    path.write_text(RECIPE.format(seeds=list(range(seeds)), steps=steps, width=width), encoding="utf-8")
    return open_recipe(path)[0].specs


def _time_grid(specs: list, jobs: int, out_root: Path, threads: int | None = None) -> float:
    from condensekit.defaults.local_executor import LocalExecutor, LocalParams
    from condensekit.executing import ExecContext

    started = time.perf_counter()
    outcomes = LocalExecutor(LocalParams(jobs=jobs, threads=threads)).execute(specs, ExecContext(out_root=out_root, on_message=lambda _: None))
    seconds = time.perf_counter() - started
    bad = [o for o in outcomes if o.status != "ok"]
    if bad:
        raise SystemExit(f"benchmark run failed: {bad[0].rel_dir}: {bad[0].status} {bad[0].error}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=4, help="seeds per arm (2 arms)")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=2, help="rounds of (sequential, sequential 1 thread, --jobs 2)")
    parser.add_argument("--skip-default-threads", action="store_true", help="leave out sequential with torch's default threads")
    args = parser.parse_args()

    import torch

    from condensekit.defaults.local_executor import available_cpus

    with tempfile.TemporaryDirectory() as tmp:
        specs = _grid(Path(tmp), args.seeds, args.steps, args.width)
        _time_grid(specs[:1], 1, Path(tmp) / "warmup")  # imports and first-step costs, paid once here
        seq, seq1, par = [], [], []
        for round_ in range(args.repeats):
            if not args.skip_default_threads:
                seq.append(_time_grid(specs, 1, Path(tmp) / f"seq{round_}"))
            seq1.append(_time_grid(specs, 1, Path(tmp) / f"seq1_{round_}", threads=1))
            par.append(_time_grid(specs, 2, Path(tmp) / f"par{round_}"))
    s1, p = statistics.median(seq1), statistics.median(par)
    print(f"{len(specs)} runs x {args.steps} steps (mlp/resmlp depth 6 width {args.width}, digits), "
          f"{available_cpus()} CPU cores, load average {os.getloadavg()[0]:.1f}, torch {torch.__version__}")  # fmt: skip
    for label, times in ((f"sequential ({torch.get_num_threads()} threads)", seq), ("sequential (1 thread)", seq1), ("--jobs 2", par)):
        if times:
            print(f"{label:26s}: {' '.join(f'{t:.1f}' for t in times)} s  (median {statistics.median(times):.1f} s)")
    if seq:
        s = statistics.median(seq)
        print(f"ratio --jobs 2 / sequential = {p / s:.2f}  (speed-up {s / p:.2f}x)")
    print(f"ratio --jobs 2 / sequential with 1 thread = {p / s1:.2f}  (speed-up {s1 / p:.2f}x)")


if __name__ == "__main__":
    main()

"""The main job on a busy machine: wall time with two busy processes beside it, relative to idle.

Runs the main recipe (``recipes/resmlp_vs_mlp.toml``; by default one seed of both arms, 2 runs, to keep it
short) with the ``condensekit run`` command, sequentially (its ``[executor]`` table removed: ``jobs = 1``),
each way idle and with ``--busy`` processes spinning beside it:

* ``defaults``:                  condensekit's defaults: torch threads by model size
                                 (``condensekit/threads.py``: 1 for this 12x128 MLP) and OpenMP's passive
                                 waiting
* ``all cores, passive wait``:   ``[executor] threads = <cores>`` (torch's own count), passive waiting
* ``torch defaults``:            ``[executor] threads = <cores>`` and OpenMP's default waiting (the command's
                                 ``main()`` called directly, so ``OMP_WAIT_POLICY`` stays unset): what a run
                                 got before condensekit chose threads

Each grid runs in a fresh process, start-up included, as a user would see it. The busy processes are
pure-Python loops (``--busy-kind python``, one core each) or torch matrix products with torch's default
threads and waiting (``--busy-kind torch``). The load average (1 minute) is printed after each grid; the
machine's own load (other users) adds to the busy processes. Besides the wall-time ratio, the ratio of the
job's CPU time (its process's user + system time) is printed: a job whose threads do not spin uses the same
CPU time idle or busy, whatever else the machine runs; on 2 cores with 2 busy processes and nothing else,
a one-thread job gets 2/3 of a core, so 1.5x is the best wall-time ratio there is.

    python benchmarks/load.py                     # 1 seed, 2 arms, 2 busy processes, 1 round
    python benchmarks/load.py --seeds 2 --rounds 2 --busy-kind torch
    python benchmarks/load.py --skip torch --limit 120   # torch's defaults can take many minutes when busy
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from condensekit.defaults.local_executor import available_cpus

SPIN = {
    "python": "while True:\n    sum(i * i for i in range(10000))",
    "torch": "import torch\na = torch.randn(512, 512)\nwhile True:\n    a = (a @ a).tanh()",
}
ROOT = Path(__file__).resolve().parents[1]


@contextmanager
def busy_processes(count: int, kind: str = "python") -> Iterator[None]:
    """``count`` processes spinning on the CPU while the block runs (pure Python, or torch matrix
    products)."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", SPIN[kind]], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        for _ in range(count)
    ]
    try:
        if procs:
            # let them start (torch takes a few seconds to import)
            time.sleep(2.0 if kind == "python" else 5.0)
        yield
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()


def recipe_without_executor(seeds: int) -> str:
    """The main recipe's text with its ``[executor]`` table removed and the first ``seeds`` seeds."""
    lines, skipping = [], False
    for line in (ROOT / "recipes" / "resmlp_vs_mlp.toml").read_text(encoding="utf-8").splitlines():
        if line.startswith("["):
            skipping = line.strip() == "[executor]"
        if line.startswith("seeds ="):
            line = f"seeds = {list(range(seeds))}"
        if not skipping:
            lines.append(line)
    return "\n".join(lines) + "\n"


def time_grid(
    recipe: Path, out: Path, threads: int | None, passive: bool, limit: float
) -> tuple[float, float]:
    """Wall and CPU seconds of ``condensekit run`` of ``recipe`` in a fresh process (start-up included).

    Both are inf past ``limit``. CPU time is the child's user + system time: with one thread it barely
    changes when other processes share the cores; spinning threads make it grow.
    """
    sets = ["--set", f"executor.threads={threads}"] if threads else []
    args = ["run", str(recipe), "--out", str(out), "--force", "--quiet", *sets]
    if passive:  # the console script: OMP_WAIT_POLICY=PASSIVE unless set
        cmd = [sys.executable, "-m", "condensekit", *args]
    else:  # main() without the console script's environment: OpenMP's default waiting
        cmd = [
            sys.executable,
            "-c",
            f"import sys; from condensekit.cli import main; sys.exit(main({args!r}))",
        ]
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS")}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    try:
        done = subprocess.run(
            cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=limit
        )
    except subprocess.TimeoutExpired:
        return math.inf, math.inf
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"condensekit run failed ({done.returncode}): {done.stderr[-2000:]}")
    return seconds, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, default=1, help="seeds of the main recipe (2 arms each)")
    parser.add_argument("--busy", type=int, default=2, help="busy processes beside the job")
    parser.add_argument("--busy-kind", choices=sorted(SPIN), default="python")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument(
        "--limit",
        type=float,
        default=300.0,
        help="seconds after which a grid is stopped (printed as > limit)",
    )
    parser.add_argument(
        "--skip", action="append", default=[], choices=["all-cores", "torch"], help="leave a variant out"
    )
    args = parser.parse_args()
    cores = available_cpus()
    variants = {
        "defaults": (None, True),
        "all cores, passive wait": (cores, True),
        "torch defaults": (cores, False),
    }
    for flag, name in (("all-cores", "all cores, passive wait"), ("torch", "torch defaults")):
        if flag in args.skip:
            del variants[name]
    times: dict[tuple[str, bool], list[float]] = {}
    cpu: dict[tuple[str, bool], list[float]] = {}
    print(
        f"main job (recipes/resmlp_vs_mlp.toml, {args.seeds} seed(s) x 2 arms, sequential), {cores} CPU "
        f"cores, busy: {args.busy} {args.busy_kind} processes; load average now {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    with tempfile.TemporaryDirectory() as tmp:
        recipe = Path(tmp) / "main_job.toml"
        recipe.write_text(recipe_without_executor(args.seeds), encoding="utf-8")
        for round_ in range(args.rounds):
            for name, (threads, passive) in variants.items():
                for busy in (False, True):
                    with busy_processes(args.busy if busy else 0, args.busy_kind):
                        seconds, cpu_seconds = time_grid(
                            recipe, Path(tmp) / "runs", threads, passive, args.limit
                        )
                        load = os.getloadavg()[0]
                    times.setdefault((name, busy), []).append(seconds)
                    cpu.setdefault((name, busy), []).append(cpu_seconds)
                    print(
                        f"  round {round_ + 1} {name:24s} {'busy' if busy else 'idle'}: "
                        f"{_seconds(seconds, args.limit)}, CPU {_seconds(cpu_seconds, args.limit)}  (load "
                        f"average {load:.1f})",
                        flush=True,
                    )
    for name in variants:
        idle, busy = statistics.median(times[(name, False)]), statistics.median(times[(name, True)])
        cpu_idle, cpu_busy = statistics.median(cpu[(name, False)]), statistics.median(cpu[(name, True)])
        print(
            f"{name:24s} idle {_seconds(idle, args.limit)}   busy {_seconds(busy, args.limit)}   ratio "
            f"busy/idle {_ratio(busy, idle)}   (CPU time {_ratio(cpu_busy, cpu_idle)})"
        )


def _ratio(a: float, b: float) -> str:
    return f"{a / b:5.2f}x" if math.isfinite(a) and math.isfinite(b) else "  n/a"


def _seconds(value: float, limit: float) -> str:
    return f"{value:6.1f} s" if math.isfinite(value) else f"> {limit:.0f} s (stopped)"


if __name__ == "__main__":
    main()

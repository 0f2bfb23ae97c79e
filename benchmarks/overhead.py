"""Overhead of condensekit over a bare PyTorch loop, measured side by side in one process.

Same model (plain MLP), same data (digits, in memory), same steps and batch size:

* bare:        a hand-written loop (randperm batches, SGD, cross-entropy), no logging
* metrics off: ``condensekit`` with ``[metrics]`` empty (loss logged every step to TensorBoard + jsonl,
               accuracy on the default ``log:20`` schedule)
* default:     ``condensekit`` with ``condensation`` as a recipe gets it by default: on
               ``DEFAULT_METRIC_SCHEDULE``, its summary series refined (``[probe] refine``, docs/metrics.md)
* default, budget 0.15: the default with ``[probe] refine_budget = 0.15`` instead of 0.5 (a cheaper
               search, less often finding a peak to the step)
* default before refinement: what the default was before the refinement came: ``condensation`` on
               ``log:50``, ``[probe] refine = false`` (measured side by side, so the two compare)
* metrics off, 2 evals: as ``metrics off`` with accuracy evaluated only at the first and last step
               (``eval_every = "at:0"``): what the framework itself costs, without the 20 passes over
               the data that the default evaluation schedule asks for

For the refined variants, the refinement's own CPU time (``run.json`` ``refinement.cpu_seconds``: the
search after the last step, not the snapshots taken while training) is printed beside them, to show where the
cost goes. Each variant runs ``--repeats`` times, interleaved; each repeat's time is divided by the bare
loop's time in the same repeat, and the median of those ratios is printed (a machine whose speed drifts
between repeats disturbs a ratio of neighbours less than a ratio of medians). On a busy machine,
``--cpu-time`` compares the CPU time of the process instead (every thread of it, TensorBoard's writer
included), which other processes disturb far less; run it with ``OMP_NUM_THREADS=1``.

    python benchmarks/overhead.py [--steps 1000] [--device cpu] [--repeats 3] [--cpu-time]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch
from bare import sgd_steps  # benchmarks/bare.py: the bare loop every benchmark compares with

from condensekit.api import open_recipe
from condensekit.executing import execute_spec

clock = time.perf_counter  # time.process_time with --cpu-time
refinement_cpu: dict[str, list[float]] = {}  # variant -> the refinement's CPU seconds of each repeat

RECIPE = """
name = "bench"
seeds = [0]
device = "{device}"
[data]
use = "digits"
batch_size = 100
[train]
steps = {steps}
lr = 0.02
{train_extra}
[[arms]]
name = "mlp"
model = {{ use = "mlp", depth = 10, width = 256 }}
"""


SMALLER = "[metrics]\ncondensation = {}\n[probe]\nrefine_budget = 0.15\n"
"""The default metrics with a smaller refinement budget (docs/performance.md: what it costs in agreement)."""

BEFORE = '[metrics]\ncondensation = { every = "log:50" }\n[probe]\nrefine = false\n'
"""The default metrics before the refinement came: ``log:50``, measured as scheduled only."""


def bare_loop(steps: int, device: str) -> float:
    from condensekit_plugins.data.digits import DigitsParams, load_digits
    from condensekit_plugins.models.nets.mlp import MLP

    torch.manual_seed(0)
    data = load_digits(DigitsParams(), Path("."))
    x, y = (t.to(device) for t in data.train.tensors)  # type: ignore[attr-defined]
    model = MLP(64, 10, 10, 256, "relu", "none", True).to(device)
    return sgd_steps(model, x, y, batch=100, steps=steps, lr=0.02, clock=clock)


def condensekit_run(
    steps: int, device: str, metrics: str, workdir: Path, train_extra: str = "", name: str = ""
) -> float:
    path = workdir / "bench.toml"
    path.write_text(RECIPE.format(steps=steps, device=device, train_extra=train_extra) + metrics)
    spec = open_recipe(path)[0].specs[0]
    start = clock()
    outcome = execute_spec(spec, workdir / "runs", force=True)
    elapsed = clock() - start
    assert outcome.status == "ok", outcome.error
    record = json.loads((workdir / "runs" / spec.rel_dir / "run.json").read_text()).get("refinement")
    if name and record:
        refinement_cpu.setdefault(name, []).append(record["cpu_seconds"])
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--cpu-time", action="store_true", help="compare CPU time of the process, not wall time"
    )
    args = parser.parse_args()
    global clock
    clock = time.process_time if args.cpu_time else time.perf_counter
    times: dict[str, list[float]] = {
        "bare": [],
        "metrics off": [],
        "default metrics": [],
        "default, budget 0.15": [],
        "default, before": [],
        "metrics off, 2 evals": [],
    }
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        condensekit_run(20, args.device, "[metrics]\n", work)  # warm-up: imports, data, allocator
        for _ in range(args.repeats):
            times["bare"].append(bare_loop(args.steps, args.device))
            times["metrics off"].append(condensekit_run(args.steps, args.device, "[metrics]\n", work))
            default = "[metrics]\ncondensation = {}\n"
            times["default metrics"].append(
                condensekit_run(args.steps, args.device, default, work, name="default metrics")
            )
            times["default, budget 0.15"].append(
                condensekit_run(args.steps, args.device, SMALLER, work, name="default, budget 0.15")
            )
            times["default, before"].append(condensekit_run(args.steps, args.device, BEFORE, work))
            times["metrics off, 2 evals"].append(
                condensekit_run(args.steps, args.device, "[metrics]\n", work, 'eval_every = "at:0"')
            )
    timed = ", CPU time" if args.cpu_time else ""
    print(
        f"{args.steps} steps of a 10x256 MLP on digits, device={args.device}, "
        f"torch threads={torch.get_num_threads()}{timed}"
    )
    print(
        "  ratio: the median over the repeats of each repeat's time / that repeat's bare time (side by side)"
    )
    for name, values in times.items():
        med = statistics.median(values)
        ratio = statistics.median(v / b for v, b in zip(values, times["bare"], strict=True))
        each = ", ".join(f"{v:.2f}" for v in values)
        refined = refinement_cpu.get(name)
        search = f"   refinement {statistics.median(refined):.2f} s CPU" if refined else ""
        print(f"  {name:21s} median {med:7.2f} s   ratio to bare {ratio:5.2f}   ({each}){search}")


if __name__ == "__main__":
    main()

"""What the extra test-accuracy evaluations cost and what they buy, measured side by side in one process.

The main job's plain MLP (``recipes/resmlp_vs_mlp.toml``: 12 x 128, digits, 1000 steps, lr 0.02) trains
with its metrics off, twice per seed, interleaved:

* default:   ``[train] test_every`` left at its default (the test split alone at evenly spaced steps, as
             many as cost at most 2.5% of training's sample passes), besides ``eval_every = "log:20"``;
* log:20:    ``test_every = "at:0"``: test accuracy only at the 20 log-spaced evaluations (as before).

Printed per variant: the median time of a run (``--cpu-time``: the process's CPU time, which other jobs
on the machine disturb far less), the number of test-accuracy points, and the test accuracy that
TensorBoard's default smoothing (0.6, a debiased moving average over points) shows at the last step,
against the measured one.

    OMP_NUM_THREADS=1 python benchmarks/accuracy_density.py [--seeds 0 1 2] [--repeats 3] [--cpu-time]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from condensekit.api import open_recipe
from condensekit.executing import execute_spec

RECIPE = """
name = "density"
seeds = [{seed}]
device = "cpu"
[data]
use = "digits"
batch_size = 100
[train]
steps = 1000
lr = 0.02
{test_every}
[metrics]
[tricks]
init = {{ scheme = "xavier_normal", scale = 1.0 }}
[[arms]]
name = "mlp"
model = {{ use = "mlp", depth = 12, width = 128, activation = "relu" }}
"""
VARIANTS = {"default": "", "log:20": 'test_every = "at:0"'}


def tensorboard_smoothing(values: list[float], weight: float = 0.6) -> list[float]:
    """TensorBoard's scalar smoothing: a moving average over points, debiased at the start."""
    last, out = 0.0, []
    for count, value in enumerate(values, start=1):
        last = last * weight + (1 - weight) * value
        out.append(last / (1 - weight**count))
    return out


def timed_run(seed: int, variant: str, work: Path, clock: object) -> tuple[float, list[float]]:
    """Seconds for one run of ``variant`` and the test accuracy it logged, in step order."""
    recipe = work / f"{variant.replace(':', '_')}.toml"
    recipe.write_text(RECIPE.format(seed=seed, test_every=VARIANTS[variant]))
    spec = open_recipe(recipe)[0].specs[0]
    start = clock()  # type: ignore[operator]
    outcome = execute_spec(spec, work / "runs", force=True)
    seconds = clock() - start  # type: ignore[operator]
    assert outcome.status == "ok", outcome.error
    rows = [json.loads(line) for line in (work / "runs" / outcome.rel_dir / "metrics.jsonl").open()]
    return seconds, [row["test/accuracy"] for row in rows if "test/accuracy" in row]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--repeats", type=int, default=1, help="timed runs per seed and variant")
    parser.add_argument("--cpu-time", action="store_true", help="compare CPU time, not wall time")
    args = parser.parse_args()
    clock = time.process_time if args.cpu_time else time.perf_counter
    seconds: dict[str, list[float]] = {v: [] for v in VARIANTS}
    shown: dict[str, list[tuple[int, float, float]]] = {v: [] for v in VARIANTS}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        timed_run(args.seeds[0], "default", work, clock)  # warm-up: imports, data, allocator
        for seed in args.seeds:
            for repeat in range(args.repeats):
                for variant in VARIANTS:
                    took, accuracy = timed_run(seed, variant, work, clock)
                    seconds[variant].append(took)
                    if repeat == 0:
                        smoothed = tensorboard_smoothing(accuracy)[-1]
                        shown[variant].append((len(accuracy), accuracy[-1], smoothed))
    base = statistics.median(seconds["log:20"])
    print(f"main job's plain MLP, 1000 steps, seeds {args.seeds}, {'CPU' if args.cpu_time else 'wall'} time")
    for variant in VARIANTS:
        med = statistics.median(seconds[variant])
        cells = ", ".join(f"{m:.3f} -> {s:.3f} ({n} points)" for n, m, s in shown[variant])
        print(f"  {variant:8s} median {med:6.2f} s  ratio {med / base:5.3f}   measured -> smoothed: {cells}")


if __name__ == "__main__":
    main()

"""condensekit on one CUDA GPU, side by side with a bare PyTorch loop on the same card.

1. Step time: for a 10x256 MLP on digits vectors and a small ViT (``vit_micro``: 4 blocks, width 64) on
   digits images, a hand-written loop (``bare``: the same model, data on the GPU, shuffled batches, SGD,
   losses kept on the GPU and read once at the end) against ``condensekit`` with ``[metrics]`` empty
   (``metrics off``) and with ``condensation`` on its default schedule (``default metrics``). Interleaved,
   ``--repeats`` times each; the median wall time and its ratio to ``bare`` are printed, as in
   ``benchmarks/overhead.py``.
2. Throughput: 8 small runs (the MLP, ``--grid-steps`` steps, default metrics) with the local executor and
   ``--jobs 1``, ``4`` and ``8``, all on this one GPU (worker start-up included), in runs per minute.

Without a CUDA device it prints why and exits with code 2, measuring nothing.

    python benchmarks/gpu.py                  # --steps 1000 --repeats 3 --grid-steps 500
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

MODELS = {  # label -> (model table in TOML, image inputs)
    "MLP 10x256": ('{ use = "mlp", depth = 10, width = 256 }', False),
    "ViT vit_micro": ('{ use = "timm", name = "vit_micro" }', True),
}

RECIPE = """
name = "gpu_bench"
seeds = {seeds}
device = "cuda"
[data]
use = "digits"
batch_size = 100
image = {image}
[train]
steps = {steps}
lr = 0.02
[[arms]]
name = "model"
model = {model}
"""


def _recipe(model: str, image: bool, steps: int, metrics: str, seeds: int = 1) -> str:
    return (
        RECIPE.format(seeds=list(range(seeds)), image=str(image).lower(), steps=steps, model=model) + metrics
    )


def bare_loop(spec: Any, catalogue: Any, steps: int) -> float:
    """Seconds for ``steps`` SGD steps of the spec's model in a plain loop on the GPU (model built before
    timing)."""
    import torch
    from bare import sgd_steps  # benchmarks/bare.py: the bare loop every benchmark compares with

    torch.manual_seed(0)
    bundle = catalogue.get("datasets", spec.data.use).build(spec.data.params, Path(spec.data.root))
    model = catalogue.get("models", spec.model.use).build(spec.model.params, bundle.info).cuda()
    x, y = (t.cuda() for t in bundle.train.tensors)
    generator = torch.Generator().manual_seed(1)
    return sgd_steps(
        model, x, y, batch=spec.data.batch_size, steps=steps, lr=spec.train.lr, generator=generator
    )


def condensekit_run(spec: Any, out: Path) -> float:
    """Seconds of one run through ``execute_spec`` (everything a run does: hooks, logging, TensorBoard,
    metrics)."""
    from condensekit.executing import execute_spec

    start = time.perf_counter()
    outcome = execute_spec(spec, out, force=True)
    seconds = time.perf_counter() - start
    if outcome.status != "ok":
        raise SystemExit(f"benchmark run failed: {outcome.status} {outcome.error}")
    return seconds


def step_times(args: argparse.Namespace, work: Path) -> None:
    from condensekit.api import open_recipe

    for label, (model, image) in MODELS.items():
        off = open_recipe(_recipe(model, image, args.steps, "[metrics]\n"))
        on = open_recipe(_recipe(model, image, args.steps, "[metrics]\ncondensation = {}\n"))[0].specs[0]
        spec, catalogue = off[0].specs[0], off[1].catalogue
        condensekit_run(
            open_recipe(_recipe(model, image, 20, "[metrics]\ncondensation = {}\n"))[0].specs[0],
            work / "warm",
        )
        bare_loop(spec, catalogue, 20)  # warm-up: CUDA context, kernels, allocator
        times: dict[str, list[float]] = {"bare": [], "metrics off": [], "default metrics": []}
        for _ in range(args.repeats):
            times["bare"].append(bare_loop(spec, catalogue, args.steps))
            times["metrics off"].append(condensekit_run(spec, work / "off"))
            times["default metrics"].append(condensekit_run(on, work / "on"))
        base = statistics.median(times["bare"])
        print(f"{label}: {args.steps} steps, batch 100, digits")
        for name, values in times.items():
            med = statistics.median(values)
            print(
                (
                    f"  {name:16s} median {med:7.2f} s   ratio to bare "
                    f"{med / base:5.2f}   ({', '.join(f'{v:.2f}' for v in values)})"
                ),
                flush=True,
            )


def throughput(args: argparse.Namespace, work: Path) -> None:
    from condensekit.api import open_recipe
    from condensekit.defaults.local_executor import LocalExecutor, LocalParams
    from condensekit.executing import ExecContext

    model, image = MODELS["MLP 10x256"]
    specs = open_recipe(_recipe(model, image, args.grid_steps, "[metrics]\ncondensation = {}\n", seeds=8))[
        0
    ].specs
    print(
        f"8 runs of the MLP, {args.grid_steps} steps each, "
        "default metrics, one GPU (worker start-up included)"
    )
    base = None
    for jobs in (1, 4, 8):
        start = time.perf_counter()
        outcomes = LocalExecutor(LocalParams(jobs=jobs)).execute(
            specs, ExecContext(out_root=work / f"jobs{jobs}", force=True)
        )
        seconds = time.perf_counter() - start
        bad = [o for o in outcomes if o.status != "ok"]
        if bad:
            raise SystemExit(f"benchmark run failed with --jobs {jobs}: {bad[0].status} {bad[0].error}")
        base = base or seconds
        print(
            (
                f"  --jobs {jobs}: {seconds:7.1f} s   {len(specs) * 60 / seconds:6.1f} "
                f"runs/min   speed-up over --jobs 1 {base / seconds:5.2f}x"
            ),
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--grid-steps", type=int, default=500)
    parser.add_argument("--skip-throughput", action="store_true")
    args = parser.parse_args()
    import torch

    if not torch.cuda.is_available():
        print(
            (
                "benchmarks/gpu.py: no CUDA device here "
                "(torch.cuda.is_available() is False); nothing was measured"
            ),
            file=sys.stderr,
        )
        sys.exit(2)
    from condensekit.defaults.local_executor import available_cpus

    print(
        f"{torch.cuda.get_device_name(0)}, torch {torch.__version__}, "
        f"{available_cpus()} CPU cores, load average {os.getloadavg()[0]:.1f}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        step_times(args, Path(tmp))
        if not args.skip_throughput:
            throughput(args, Path(tmp))


if __name__ == "__main__":
    main()

"""Training-step time against torch threads, for models of different sizes: where do more threads pay?

For each model the script counts the floating-point work of one training step (forward + backward at the
recipe's batch size, on PyTorch's meta device, as the local executor does to choose its default thread
count; see ``condensekit/threads.py``), then times training steps with 1 thread and with every available
core, alternating the two in this process. ``--busy N`` starts N processes that spin beside it
(``benchmarks/load.py``), to see what extra threads cost when the cores are shared.

    python benchmarks/threads.py                # idle: does a model gain from more threads?
    python benchmarks/threads.py --busy 2       # two busy processes beside it
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch
import torch.nn.functional as F

from condensekit.defaults.local_executor import available_cpus
from condensekit.manager import get_plugin_manager
from condensekit.threads import default_threads, step_flops

MODELS = [  # (label, model use, model params, dataset params)
    ("mlp 12x128 (main job)", "mlp", {"depth": 12, "width": 128}, {}),
    ("mlp 10x256", "mlp", {"depth": 10, "width": 256}, {}),
    ("mlp 8x512", "mlp", {"depth": 8, "width": 512}, {}),
    ("mlp 8x1024", "mlp", {"depth": 8, "width": 1024}, {}),
    ("mlp 6x2048", "mlp", {"depth": 6, "width": 2048}, {}),
    ("cnn (4 convs, 32 ch)", "cnn", {}, {"image": True}),
    ("vit_micro", "timm", {"name": "vit_micro"}, {"image": True}),
    ("vit_mini, patch 2", "timm", {"name": "vit_mini", "patch_size": 2}, {"image": True}),
]


def step_times(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, threads: int, steps: int) -> float:
    """Median seconds of one SGD step over ``steps`` steps with ``threads`` torch threads."""
    torch.set_num_threads(threads)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=30, help="timed steps per model, thread count and round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds alternating 1 thread and all cores")
    parser.add_argument("--busy", type=int, default=0, help="busy processes to start beside this one")
    args = parser.parse_args()
    from load import busy_processes  # benchmarks/load.py, beside this script

    cores = available_cpus()
    catalogue = get_plugin_manager().catalogue
    with busy_processes(args.busy):
        print(
            f"{cores} CPU cores, {args.busy} busy processes beside, load average {os.getloadavg()[0]:.1f}, "
            f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '(unset)')}, torch {torch.__version__}"
        )
        print(
            f"{'model (batch 100, digits)':24s} {'GFLOP/step':>10s} {'default':>7s} "
            f"{'1 thread ms':>11s} {f'{cores} threads ms':>12s} {'speed-up':>8s}"
        )
        for label, use, params, data_params in MODELS:
            flops = step_flops(catalogue, use, params, "digits", data_params, batch_size=100)
            dataset = catalogue.get("datasets", "digits")
            info = dataset.info(dataset.params.model_validate(data_params))
            torch.manual_seed(0)
            model = catalogue.get("models", use).build(params, info)
            x, y = torch.randn(100, *info.input_shape), torch.randint(0, info.num_classes, (100,))
            step_times(model, x, y, 1, 3)  # warm-up
            one, many = [], []
            for _ in range(args.rounds):
                one.append(step_times(model, x, y, 1, args.steps))
                many.append(step_times(model, x, y, cores, args.steps))
            t1, tn = statistics.median(one) * 1e3, statistics.median(many) * 1e3
            chosen = default_threads(flops, cores)
            print(f"{label:24s} {flops / 1e9:10.2f} {chosen:7d} {t1:11.2f} {tn:12.2f} {t1 / tn:7.2f}x")
        print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()

"""How the ``condensation`` metric scales: time and peak memory against probe size, width and ViT tokens.

Each configuration runs in a fresh subprocess (so that its peak memory is its own) and prints one row:

* probe: the probe's forward and backward pass (features and feature gradients of every probe point);
* metric: ``collect_metrics`` of ``condensation`` on that probe (all its quantities, ``wgrad_inter``
  included);
* step: one SGD training step of the same model on a batch of 100, or of the probe size if smaller (the
  unit of the overhead ratios);
* probe memory: resident memory the probe keeps (features, gradients, the retained graph);
* metric peak: the most resident memory the metric adds on top of that while it runs.

Tables (Markdown) for an MLP of 10 layers against probe size (width 256) and width (probe 200), and for ViTs
against tokens (timm ``vit_micro`` at 32 px with patch 8, 4 and 2; with ``--vit-b``, ViT-B/16 at 224 px:
197 tokens of width 768, 12 blocks).

    python benchmarks/metric_scaling.py [--threads 1] [--repeats 3] [--vit-b] [--vit-b-probe 16]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from typing import Any


def _memory_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field):
                return int(line.split()[1])
    return 0


def _reset_peak() -> None:
    with open("/proc/self/clear_refs", "w") as refs:  # Linux: resets VmHWM to the current resident size
        refs.write("5")


def _model(config: dict[str, Any]) -> tuple[Any, Any]:
    import torch

    from condensekit.data import DataInfo
    from condensekit.manager import get_plugin_manager

    torch.manual_seed(0)
    catalogue = get_plugin_manager().catalogue
    if config["kind"] == "mlp":
        info = DataInfo(input_shape=(64,), num_classes=10)
        model = catalogue.get("models", "mlp").build({"depth": 10, "width": config["width"]}, info)
    else:
        size = config["img_size"]
        info = DataInfo(input_shape=(3, size, size), num_classes=10)
        params = {
            "name": config["name"],
            "img_size": size,
            **({"patch_size": config["patch"]} if "patch" in config else {}),
        }
        model = catalogue.get("models", "timm").build(params, info)
    return model, info


def measure_one(config: dict[str, Any], repeats: int, threads: int) -> dict[str, Any]:
    """Time and memory of one configuration (run in its own process)."""
    import torch
    import torch.nn.functional as F

    from condensekit.probe import Probe, hidden_layer_names, probe_points
    from condensekit_plugins.metrics.condensation import Condensation, CondensationParams

    torch.set_num_threads(threads)
    model, info = _model(config)
    n = config["probe"]
    x, y = torch.randn(n, *info.input_shape), torch.arange(n) % info.num_classes
    points = probe_points(model)

    class RunStub:
        hidden_layers = hidden_layer_names(model, points)

    metric = Condensation(CondensationParams())
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
    size = min(100, n)
    batch = torch.randn(size, *info.input_shape), torch.arange(size) % info.num_classes

    def step() -> None:
        loss = F.cross_entropy(model(batch[0]), batch[1])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    def probe() -> Any:
        p = Probe(model, x, y, points, 0)
        _ = p.features, p.feature_grads, p.layer_inputs, p.activation_inputs
        return p

    step()
    steps, probes, metrics = [], [], []
    before = probe_memory = peak = 0
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        steps.append(time.perf_counter() - start)
        before = _memory_kib("VmRSS")
        start = time.perf_counter()
        p = probe()
        probes.append(time.perf_counter() - start)
        # the first time: later ones reuse freed memory
        probe_memory = max(probe_memory, _memory_kib("VmRSS") - before)
        held = _memory_kib("VmRSS")
        _reset_peak()
        start = time.perf_counter()
        values = metric.collect_metrics(run=RunStub, probe=p)
        metrics.append(time.perf_counter() - start)
        peak = max(peak, _memory_kib("VmHWM") - held)
        del p
    return {
        **config,
        "keys": len(values),
        "layers": len(points),
        "step_s": statistics.median(steps),
        "probe_s": statistics.median(probes),
        "metric_s": statistics.median(metrics),
        "probe_mib": probe_memory / 1024,
        "metric_peak_mib": peak / 1024,
    }


def run_isolated(config: dict[str, Any], repeats: int, threads: int) -> dict[str, Any]:
    done = subprocess.run(
        [
            sys.executable,
            __file__,
            "--one",
            json.dumps(config),
            "--repeats",
            str(repeats),
            "--threads",
            str(threads),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"{config} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


HEADER = "| probe ms | metric ms | metric / training step | probe memory MiB | metric peak MiB |"


def row(r: dict[str, Any]) -> str:
    return (
        f"| {1000 * r['probe_s']:.1f} | {1000 * r['metric_s']:.1f} | {r['metric_s'] / r['step_s']:.1f} | "
        f"{r['probe_mib']:.0f} | {r['metric_peak_mib']:.0f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads (default 1: comparable across machines)"
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--vit-b", action="store_true", help="add ViT-B/16 at 224 px (slow on a CPU)")
    parser.add_argument(
        "--vit-b-probe",
        type=int,
        default=16,
        help="probe size of the first ViT-B/16 row (the second doubles it)",
    )
    parser.add_argument("--vit-b-repeats", type=int, default=1, help="repeats of the ViT-B/16 rows")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure_one(json.loads(args.one), args.repeats, args.threads)))
        return
    print(f"condensation metric, CPU, torch threads={args.threads}, median of {args.repeats}\n")
    print("MLP, 10 layers, width 256, against the probe size N:\n")
    print("| N " + HEADER + "\n| --- " + "| --- " * 5 + "|")
    for n in (100, 200, 500, 1000):
        r = run_isolated({"kind": "mlp", "width": 256, "probe": n}, args.repeats, args.threads)
        print(f"| {n} " + row(r), flush=True)
    print("\nMLP, 10 layers, probe N = 200, against the width:\n")
    print("| width " + HEADER + "\n| --- " + "| --- " * 5 + "|")
    for width in (128, 256, 512, 1024, 2048):
        r = run_isolated({"kind": "mlp", "width": width, "probe": 200}, args.repeats, args.threads)
        print(f"| {width} " + row(r), flush=True)
    print("\nViT against the tokens (class token included), probe N = 100:\n")
    print("| model | tokens x width " + HEADER + "\n| --- | --- " + "| --- " * 5 + "|")
    vits = [("vit_micro", 32, 8, 100), ("vit_micro", 32, 4, 100), ("vit_micro", 32, 2, 100)]
    if args.vit_b:
        vits += [
            ("vit_base_patch16_224", 224, 16, args.vit_b_probe),
            ("vit_base_patch16_224", 224, 16, 2 * args.vit_b_probe),
        ]
    for name, size, patch, n in vits:
        repeats = args.vit_b_repeats if name != "vit_micro" else args.repeats
        r = run_isolated(
            {"kind": "vit", "name": name, "img_size": size, "patch": patch, "probe": n}, repeats, args.threads
        )
        width = 64 if name == "vit_micro" else 768
        label = f"{name} {size}px/{patch}" + (f", N = {n}" if n != 100 else "")
        print(f"| {label} | {(size // patch) ** 2 + 1} x {width} " + row(r), flush=True)


if __name__ == "__main__":
    main()

"""Step time of the in-memory tensor path against a DataLoader path over the same data, in one process.

    python benchmarks/data_path.py                          # MNIST-sized data, MLP and CNN, on cpu
    python benchmarks/data_path.py --device cuda --shape 3,32,32 --steps 300

Both paths are the trainer's own ``BatchStream``: a ``TensorDataset`` is moved to the device once and
batched by indexing with a random permutation; any other Dataset (here the same tensors behind a thin
Dataset wrapper) is batched as a shuffled ``torch.utils.data.DataLoader`` without workers batches it (the
same batches, fetched item by item and collated) and each batch is copied to the device. A step is fetch +
forward + backward + SGD step of the same model. Rounds alternate between the paths so that a change in
machine load hits both; the median step time of each is reported with the ratio DataLoader / tensor.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn
from torch.utils.data import Dataset, TensorDataset

from condensekit.batches import BatchStream
from condensekit.data import DataInfo


class WrappedDataset(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """The same tensors, but not a TensorDataset, so the trainer streams them through a DataLoader."""

    def __init__(self, inner: TensorDataset):
        self.inner = inner

    def __len__(self) -> int:
        return len(self.inner)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.inner[index]


def build_model(kind: str, shape: tuple[int, ...], classes: int) -> nn.Module:
    if kind == "cnn":
        from condensekit_plugins.models.cnn import CNNParams, build_cnn

        return build_cnn(CNNParams(depth=4, channels=16), DataInfo(shape, classes))
    features = 1
    for s in shape:
        features *= s
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(features, 256),
        nn.ReLU(),
        nn.Linear(256, 256),
        nn.ReLU(),
        nn.Linear(256, classes),
    )


def time_steps(
    model: nn.Module, stream: Iterator[tuple[torch.Tensor, torch.Tensor]], steps: int, device: torch.device
) -> float:
    """Median seconds per step over ``steps`` steps (after they ran; synchronised on CUDA)."""
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        x, y = next(stream)
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(args: argparse.Namespace, kind: str, data: TensorDataset, device: torch.device) -> dict[str, Any]:
    shape = tuple(data.tensors[0].shape[1:])
    model = build_model(kind, shape, args.classes).to(device)
    datasets: dict[str, Dataset[Any]] = {"tensor": data, "dataloader": WrappedDataset(data)}
    streams = {name: BatchStream(ds, args.batch_size, device, seed=0) for name, ds in datasets.items()}
    for name in streams:  # warm-up: allocator, cudnn autotuning, the first permutation / loader iterator
        time_steps(model, streams[name], 5, device)
    medians: dict[str, list[float]] = {name: [] for name in streams}
    for _ in range(args.rounds):
        for name, stream in streams.items():
            medians[name].append(time_steps(model, stream, args.steps, device))
    tensor_s = statistics.median(medians["tensor"])
    loader_s = statistics.median(medians["dataloader"])
    return {
        "model": kind,
        "tensor_ms": 1e3 * tensor_s,
        "dataloader_ms": 1e3 * loader_s,
        "ratio": loader_s / tensor_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--shape", default="1,28,28", help="one sample's shape, e.g. 1,28,28 or 3,32,32")
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=50, help="steps per round and path")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--models", default="mlp,cnn")
    args = parser.parse_args()
    device = torch.device(args.device)
    shape = tuple(int(s) for s in args.shape.split(","))
    generator = torch.Generator().manual_seed(0)
    data = TensorDataset(
        torch.randn(args.samples, *shape, generator=generator),
        torch.randint(0, args.classes, (args.samples,), generator=generator),
    )
    print(
        f"device={device} shape={shape} samples={args.samples} "
        f"batch={args.batch_size} threads={torch.get_num_threads()}"
    )
    print(f"{'model':<6} {'tensor ms/step':>15} {'DataLoader ms/step':>19} {'ratio':>7}")
    for kind in args.models.split(","):
        row = measure(args, kind, data, device)
        print(
            f"{row['model']:<6} {row['tensor_ms']:>15.3f} {row['dataloader_ms']:>19.3f} {row['ratio']:>7.2f}"
        )


if __name__ == "__main__":
    main()

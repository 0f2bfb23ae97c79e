"""Datasets ``mnist``, ``fashion_mnist``, ``cifar10`` and ``cifar100`` through torchvision's dataset classes.

Each is read with torchvision (downloading into the data root unless ``download = false``), converted to
float tensors once, normalized per channel with the train split's mean and std, and handed to the core as
``(inputs, labels)`` tensors: these datasets fit in memory, so the core keeps them on the run's device and
batches by indexing. ``fashion_mnist`` also finds the files of Debian's ``dataset-fashion-mnist`` package,
so real data works offline. torchvision is imported only when a dataset is loaded.
"""

from __future__ import annotations

import gzip
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

import condensekit
from condensekit.errors import CondensekitError

if TYPE_CHECKING:
    import torch

    from condensekit.hookspecs import Register

# Where Debian's dataset-fashion-mnist package installs the four IDX files (gzipped).
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
IDX_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
CIFAR_FILES = "data_batch_1..5, test_batch, batches.meta"


@dataclass(frozen=True)
class VisionSource:
    """How one torchvision dataset is found on disk."""

    torchvision_class: str
    folder: str  # under the data root, as torchvision lays it out
    files: str  # what the folder must hold, for the error message
    archive: str  # what a user may download by hand instead
    num_classes: int
    idx: bool = False  # MNIST-style IDX files (raw/ folder), which may arrive gzipped


SOURCES: dict[str, VisionSource] = {
    "mnist": VisionSource(
        "MNIST",
        "MNIST/raw",
        ", ".join(IDX_FILES) + " (each may be .gz)",
        "the four files from the MNIST mirrors",
        10,
        True,
    ),
    "fashion_mnist": VisionSource(
        "FashionMNIST",
        "FashionMNIST/raw",
        ", ".join(IDX_FILES) + " (each may be .gz)",
        (
            "the four files from github.com/zalandoresearch/fashion-mnist, "
            "or apt-get install dataset-fashion-mnist"
        ),
        10,
        True,
    ),
    "cifar10": VisionSource(
        "CIFAR10",
        "cifar-10-batches-py",
        CIFAR_FILES,
        "cifar-10-python.tar.gz, extracted in the data root",
        10,
    ),
    "cifar100": VisionSource(
        "CIFAR100",
        "cifar-100-python",
        "train, test, meta",
        "cifar-100-python.tar.gz, extracted in the data root",
        100,
    ),
}


class VisionParams(BaseModel):
    """Parameters shared by mnist, fashion_mnist, cifar10 and cifar100."""

    model_config = ConfigDict(extra="forbid")

    download: bool = Field(True, description="download into the data root when the files are missing")
    flatten: bool = Field(False, description="give inputs as vectors (for MLPs) instead of (C, H, W) images")
    subset: int | None = Field(
        None,
        ge=1,
        description="keep at most this many samples of each split (a fixed random choice), for quick runs",
    )
    normalize: bool = Field(
        True, description="normalize each channel with the train split's mean and std (else scale to [0, 1])"
    )


def idx_sources(name: str) -> list[Path]:
    """Folders outside the data root that may hold a dataset's IDX files (the Debian package)."""
    return [DEBIAN_FASHION_MNIST] if name == "fashion_mnist" else []


def prepare_idx_files(raw: Path, fallbacks: list[Path]) -> None:
    """Make the uncompressed IDX files torchvision reads exist in ``raw``.

    torchvision only reads uncompressed files, so a ``.gz`` found in ``raw`` or in a fallback folder is
    decompressed into ``raw``. Files that are nowhere are left to torchvision's download.
    """
    for name in IDX_FILES:
        target = raw / name
        if target.is_file():
            continue
        for folder in (raw, *fallbacks):
            packed = folder / f"{name}.gz"
            if packed.is_file():
                raw.mkdir(parents=True, exist_ok=True)
                with gzip.open(packed, "rb") as src, open(target.with_suffix(".part"), "wb") as dst:
                    shutil.copyfileobj(src, dst)
                target.with_suffix(".part").replace(target)  # atomic: a killed run leaves no half file
                break


def open_torchvision(name: str, params: VisionParams, root: Path) -> tuple[Any, Any]:
    """The train and test torchvision datasets, or a CondensekitError that says where the files go."""
    try:
        from torchvision import datasets
    except ImportError as exc:  # pragma: no cover - torchvision is a dependency
        raise CondensekitError(
            f"dataset {name!r} needs torchvision ({exc}); pip install torchvision"
        ) from exc
    source = SOURCES[name]
    if source.idx:
        try:
            prepare_idx_files(root / source.folder, idx_sources(name))
        except OSError as exc:
            raise CondensekitError(
                f"dataset {name!r}: cannot write to {root / source.folder} "
                f"({exc}); choose a writable data root"
            ) from exc
    cls = getattr(datasets, source.torchvision_class)
    try:
        return cls(str(root), train=True, download=params.download), cls(
            str(root), train=False, download=params.download
        )
    except Exception as exc:  # not found, corrupted, or the download failed (offline)
        how = "could not download them" if params.download else "download = false"
        raise CondensekitError(
            f"dataset {name!r}: files not found or corrupted in {root / source.folder} ({how}: "
            f"{type(exc).__name__}: {exc}); put {source.files} there (source: {source.archive}), or run once "
            "with network access and download = true"
        ) from exc


NEEDED_FILES = {
    "mnist": IDX_FILES,
    "fashion_mnist": IDX_FILES,
    "cifar10": (*(f"data_batch_{i}" for i in range(1, 6)), "test_batch", "batches.meta"),
    "cifar100": ("train", "test", "meta"),
}
"""The files each dataset's folder holds once it is downloaded and unpacked."""


def prepare_vision(name: str, params: VisionParams, root: Path) -> None:
    """Make a dataset's files available under ``root`` (download them when allowed), once, at validation.

    Nothing is read when the files are there; otherwise torchvision finds, unpacks or downloads them, and
    a dataset that cannot be had raises the :func:`open_torchvision` error (where the files go, where to
    get them).
    """
    folder = Path(root) / SOURCES[name].folder
    if all((folder / file).is_file() for file in NEEDED_FILES[name]):
        return
    open_torchvision(name, params, Path(root))


def subset_indices(n: int, subset: int | None) -> torch.Tensor | None:
    """At most ``subset`` of ``n`` indices, chosen by a fixed permutation (the same for every run and
    seed)."""
    import torch

    if subset is None or subset >= n:
        return None
    return torch.randperm(n, generator=torch.Generator().manual_seed(0))[:subset]


def tensors_of(dataset: Any, subset: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """A torchvision dataset's images as float ``(N, C, H, W)`` in [0, 1] and its labels as long."""
    import torch

    data, labels = torch.as_tensor(dataset.data), torch.as_tensor(dataset.targets).long()
    keep = subset_indices(len(labels), subset)
    if keep is not None:  # select while still uint8: 4x less memory traffic than after the conversion
        data, labels = data[keep], labels[keep]
    if data.ndim == 3:  # MNIST-style (N, H, W)
        data = data.unsqueeze(1)
    else:  # CIFAR-style (N, H, W, C)
        data = data.permute(0, 3, 1, 2)
    return data.float().div_(255.0), labels


def load_vision(name: str, params: VisionParams, root: Path) -> condensekit.DataBundle:
    """Load one of the torchvision datasets as normalized in-memory tensors."""
    from condensekit.data import DataBundle, DataInfo, standardize

    train_set, test_set = open_torchvision(name, params, Path(root))
    train = tensors_of(train_set, params.subset)
    test = tensors_of(test_set, params.subset)
    x_train, x_test = train[0], test[0]
    mean = x_train.mean(dim=(0, 2, 3))
    std = x_train.std(dim=(0, 2, 3))
    # per channel; a channel constant on the train split is only centred (see standardize)
    if params.normalize:
        x_train, x_test = standardize(x_train, x_test, dims=(0, 2, 3))
    shape: tuple[int, ...] = tuple(x_train.shape[1:])
    if params.flatten:
        x_train, x_test = x_train.flatten(1), x_test.flatten(1)
        shape = (x_train.shape[1],)
    info = DataInfo(
        input_shape=shape,
        num_classes=SOURCES[name].num_classes,
        name=name,
        extra={
            "mean": mean.flatten().tolist(),
            "std": std.flatten().tolist(),
            "classes": list(getattr(train_set, "classes", [])),
        },
    )
    return DataBundle(train=(x_train, train[1]), test=(x_test, test[1]), info=info)


def _factory(name: str) -> Any:
    def factory(params: VisionParams, root: Path) -> condensekit.DataBundle:
        return load_vision(name, params, root)

    factory.__name__ = f"load_{name}"
    factory.__doc__ = f"Load {name} through torchvision as normalized in-memory tensors."
    return factory


SUMMARIES = {
    "mnist": "MNIST handwritten digits via torchvision (1x28x28 or 784 features, 10 classes)",
    "fashion_mnist": (
        "Fashion-MNIST via torchvision or Debian's dataset-fashion-mnist (1x28x28 or 784, 10 classes)"
    ),
    "cifar10": "CIFAR-10 via torchvision (3x32x32 or 3072 features, 10 classes)",
    "cifar100": "CIFAR-100 via torchvision (3x32x32 or 3072 features, 100 fine classes)",
}


IMAGE_SHAPES = {
    "mnist": (1, 28, 28),
    "fashion_mnist": (1, 28, 28),
    "cifar10": (3, 32, 32),
    "cifar100": (3, 32, 32),
}


def _prepare(name: str) -> Any:
    def prepare(params: VisionParams, root: Path) -> None:
        prepare_vision(name, params, root)

    return prepare


def _info(name: str) -> Any:
    def info(params: VisionParams) -> condensekit.DataInfo:
        """The shape and classes of the data, without loading it (for validate-time model checks)."""
        c, h, w = IMAGE_SHAPES[name]
        return condensekit.DataInfo(
            input_shape=(c * h * w,) if params.flatten else (c, h, w),
            num_classes=SOURCES[name].num_classes,
            name=name,
        )

    return info


@condensekit.hookimpl
def register_datasets(register: Register) -> None:
    for name, summary in SUMMARIES.items():
        register(
            name,
            _factory(name),
            params=VisionParams,
            summary=summary,
            info=_info(name),
            prepare=_prepare(name),
        )

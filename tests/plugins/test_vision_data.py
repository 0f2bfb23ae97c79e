"""mnist, fashion_mnist, cifar10, cifar100: loaded from small files written in the real on-disk formats."""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from condensekit.errors import CondensekitError
from condensekit_plugins.data import vision
from condensekit_plugins.data.vision import VisionParams, load_vision

OFFLINE = {"download": False}  # never touch the network in tests


def write_idx(path: Path, array: np.ndarray, compress: bool) -> None:
    """Write ``array`` (uint8) as an IDX file: magic (0, 0, type 0x08, ndim), big-endian dims, then the
    bytes."""
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + array.astype(np.uint8).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    if compress:
        path.with_name(path.name + ".gz").write_bytes(gzip.compress(payload))
    else:
        path.write_bytes(payload)


def write_mnist(
    folder: Path, n_train: int = 30, n_test: int = 10, compress: bool = False, seed: int = 0
) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": np.arange(n_train, dtype=np.uint8) % 10,
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": (np.arange(n_test, dtype=np.uint8) * 3) % 10,
    }
    for name, array in arrays.items():
        write_idx(folder / name, array, compress)
    return arrays


@pytest.mark.parametrize("compress", [False, True])
def test_mnist_from_idx_files(tmp_path: Path, compress: bool) -> None:
    arrays = write_mnist(tmp_path / "MNIST" / "raw", compress=compress)
    bundle = load_vision("mnist", VisionParams(**OFFLINE), tmp_path)
    assert bundle.info.input_shape == (1, 28, 28) and bundle.info.num_classes == 10
    x_train, y_train = bundle.train.tensors
    x_test, y_test = bundle.test.tensors
    assert x_train.shape == (30, 1, 28, 28) and x_test.shape == (10, 1, 28, 28)
    assert torch.equal(y_train, torch.from_numpy(arrays["train-labels-idx1-ubyte"]).long())
    assert torch.equal(y_test, torch.from_numpy(arrays["t10k-labels-idx1-ubyte"]).long())
    # normalized with the train split's statistics, applied to both splits
    raw_train = torch.from_numpy(arrays["train-images-idx3-ubyte"]).float() / 255
    mean, std = raw_train.mean(), raw_train.std()
    assert x_train.mean().abs() < 1e-5 and (x_train.std() - 1).abs() < 1e-4
    expected_test = (torch.from_numpy(arrays["t10k-images-idx3-ubyte"]).float() / 255 - mean) / std
    torch.testing.assert_close(x_test[:, 0], expected_test, rtol=1e-5, atol=1e-5)
    assert bundle.info.extra["mean"] == pytest.approx([mean.item()], rel=1e-5)


def test_flatten_subset_and_no_normalization(tmp_path: Path) -> None:
    arrays = write_mnist(tmp_path / "MNIST" / "raw")
    bundle = load_vision("mnist", VisionParams(flatten=True, subset=12, normalize=False, **OFFLINE), tmp_path)
    x_train, y_train = bundle.train.tensors
    assert bundle.info.input_shape == (784,)
    # subset larger than the test split: all of it
    assert x_train.shape == (12, 784) and len(bundle.test) == 10
    assert 0 <= x_train.min() and x_train.max() <= 1
    # each kept sample is an original image with its own label, and the choice is fixed across loads
    images = torch.from_numpy(arrays["train-images-idx3-ubyte"]).float().flatten(1) / 255
    for row, label in zip(x_train, y_train, strict=True):
        index = int(torch.nonzero((images == row).all(1))[0])
        assert label == int(arrays["train-labels-idx1-ubyte"][index])
    again = load_vision("mnist", VisionParams(flatten=True, subset=12, normalize=False, **OFFLINE), tmp_path)
    assert torch.equal(again.train.tensors[1], y_train)


def test_fashion_mnist_uses_the_debian_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    debian = tmp_path / "usr-share-datasets-fashion-mnist"
    arrays = write_mnist(debian, compress=True, seed=1)
    monkeypatch.setattr(vision, "DEBIAN_FASHION_MNIST", debian)
    root = tmp_path / "data"
    bundle = load_vision("fashion_mnist", VisionParams(**OFFLINE), root)
    assert torch.equal(bundle.test.tensors[1], torch.from_numpy(arrays["t10k-labels-idx1-ubyte"]).long())
    assert bundle.info.extra["classes"][0] == "T-shirt/top"
    # unpacked where torchvision looks
    assert (root / "FashionMNIST" / "raw" / "train-images-idx3-ubyte").is_file()


def test_missing_files_say_where_to_put_them(tmp_path: Path) -> None:
    with pytest.raises(CondensekitError) as info:
        load_vision("mnist", VisionParams(**OFFLINE), tmp_path)
    message = str(info.value)
    assert str(tmp_path / "MNIST" / "raw") in message and "train-images-idx3-ubyte" in message
    with pytest.raises(CondensekitError, match=r"cifar-10-batches-py.*data_batch_1"):
        load_vision("cifar10", VisionParams(**OFFLINE), tmp_path)


def write_cifar(
    folder: Path, files: dict[str, int], label_key: str, classes: int, meta: tuple[str, str]
) -> dict[str, dict]:
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    written = {}
    for name, n in files.items():
        entry = {
            "data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
            label_key: [int(v) for v in rng.integers(0, classes, n)],
        }
        (folder / name).write_bytes(pickle.dumps(entry))
        written[name] = entry
    (folder / meta[0]).write_bytes(pickle.dumps({meta[1]: [f"class{i}" for i in range(classes)]}))
    return written


@pytest.fixture
def no_checksums(monkeypatch: pytest.MonkeyPatch) -> None:
    """torchvision checks the CIFAR files' md5 against the real ones; our small files cannot match."""
    from torchvision import datasets

    for cls in (datasets.CIFAR10, datasets.CIFAR100):
        monkeypatch.setattr(cls, "train_list", [[name, None] for name, _ in cls.train_list])
        monkeypatch.setattr(cls, "test_list", [[name, None] for name, _ in cls.test_list])
        monkeypatch.setattr(cls, "meta", {**cls.meta, "md5": None})


def test_cifar10_from_pickle_batches(tmp_path: Path, no_checksums: None) -> None:
    files = {f"data_batch_{i}": 4 for i in range(1, 6)} | {"test_batch": 6}
    written = write_cifar(
        tmp_path / "cifar-10-batches-py", files, "labels", 10, ("batches.meta", "label_names")
    )
    bundle = load_vision("cifar10", VisionParams(**OFFLINE), tmp_path)
    x_train, y_train = bundle.train.tensors
    assert bundle.info.input_shape == (3, 32, 32) and x_train.shape == (20, 3, 32, 32)
    assert y_train.tolist() == sum((written[f"data_batch_{i}"]["labels"] for i in range(1, 6)), [])
    # the pickled rows are channel-major (R plane, G plane, B plane): our (C, H, W) must match them
    raw = (
        torch.from_numpy(np.concatenate([written[f"data_batch_{i}"]["data"] for i in range(1, 6)])).float()
        / 255
    )
    raw = raw.view(20, 3, 32, 32)
    mean, std = raw.mean(dim=(0, 2, 3), keepdim=True), raw.std(dim=(0, 2, 3), keepdim=True)
    torch.testing.assert_close(x_train, (raw - mean) / std, rtol=1e-5, atol=1e-5)
    assert x_train.mean(dim=(0, 2, 3)).abs().max() < 1e-5
    assert bundle.test.tensors[1].tolist() == written["test_batch"]["labels"]


def test_cifar100_fine_labels(tmp_path: Path, no_checksums: None) -> None:
    written = write_cifar(
        tmp_path / "cifar-100-python",
        {"train": 8, "test": 5},
        "fine_labels",
        100,
        ("meta", "fine_label_names"),
    )
    bundle = load_vision("cifar100", VisionParams(flatten=True, **OFFLINE), tmp_path)
    assert bundle.info.num_classes == 100 and bundle.info.input_shape == (3072,)
    assert bundle.train.tensors[1].tolist() == written["train"]["fine_labels"]
    assert bundle.test.tensors[0].shape == (5, 3072)


def test_registered_under_their_names() -> None:
    names: list[str] = []
    vision.register_datasets(lambda name, factory, params=None, summary="", **_: names.append(name))
    assert names == ["mnist", "fashion_mnist", "cifar10", "cifar100"]

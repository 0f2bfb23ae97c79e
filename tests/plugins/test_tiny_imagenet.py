"""tiny_imagenet: read from a small copy of the real folder layout with real JPEG files."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from condensekit.errors import CondensekitError
from condensekit_plugins.data.tiny_imagenet import (
    FOLDER,
    IMAGENET_MEAN,
    IMAGENET_STD,
    TinyImageNetParams,
    load_tiny_imagenet,
)

WNIDS = ["n01443537", "n01629819", "n01641577"]  # label order is the order of wnids.txt, not sorted
COLORS = {"n01443537": (200, 30, 30), "n01629819": (30, 200, 30), "n01641577": (30, 30, 200)}


def write_layout(root: Path, per_class: int = 3, side: int = 16) -> Path:
    """``tiny-imagenet-200/`` with wnids.txt, train/<wnid>/images, val/images and val_annotations.txt."""
    folder = root / FOLDER
    order = [WNIDS[1], WNIDS[0], WNIDS[2]]
    (folder).mkdir(parents=True)
    (folder / "wnids.txt").write_text("\n".join(order) + "\n")
    for wnid in order:
        images = folder / "train" / wnid / "images"
        images.mkdir(parents=True)
        (folder / "train" / wnid / f"{wnid}_boxes.txt").write_text("")  # present in the real layout, ignored
        for k in range(per_class):
            Image.new("RGB", (side, side), COLORS[wnid]).save(images / f"{wnid}_{k}.JPEG", quality=95)
    (folder / "val" / "images").mkdir(parents=True)
    lines = []
    for k, wnid in enumerate([WNIDS[2], WNIDS[0], WNIDS[1], WNIDS[2]]):
        name = f"val_{k}.JPEG"
        img = Image.new("L", (side, side), 128) if k == 3 else Image.new("RGB", (side, side), COLORS[wnid])
        img.save(folder / "val" / "images" / name, quality=95)  # val_3 is grayscale, as some real ones are
        lines.append(f"{name}\t{wnid}\t0\t0\t{side - 1}\t{side - 1}")
    (folder / "val" / "val_annotations.txt").write_text("\n".join(lines) + "\n")
    return folder


def expected_pixel(rgb: tuple[int, int, int]) -> torch.Tensor:
    return (torch.tensor(rgb) / 255 - torch.tensor(IMAGENET_MEAN)) / torch.tensor(IMAGENET_STD)


def test_streams_from_the_folder_layout(tmp_path: Path) -> None:
    write_layout(tmp_path)
    bundle = load_tiny_imagenet(TinyImageNetParams(), tmp_path)
    assert bundle.info.input_shape == (3, 16, 16) and bundle.info.num_classes == 3
    assert bundle.info.extra["classes"] == [WNIDS[1], WNIDS[0], WNIDS[2]]
    assert len(bundle.train) == 9 and len(bundle.test) == 4
    assert not isinstance(bundle.train, torch.utils.data.TensorDataset)  # streamed, not held in memory
    label_of = {WNIDS[1]: 0, WNIDS[0]: 1, WNIDS[2]: 2}
    for x, y in (bundle.train[i] for i in range(len(bundle.train))):
        wnid = next(w for w, label in label_of.items() if label == y)
        # uniform images survive JPEG almost exactly: the normalized pixel is the class colour's
        torch.testing.assert_close(x.mean(dim=(1, 2)), expected_pixel(COLORS[wnid]), atol=0.05, rtol=0)
    assert [int(bundle.test[i][1]) for i in range(4)] == [2, 1, 0, 2]
    gray, _ = bundle.test[3]
    assert gray.shape == (3, 16, 16)  # grayscale files become RGB
    x, y = next(iter(DataLoader(bundle.train, batch_size=4)))
    assert x.shape == (4, 3, 16, 16) and y.dtype == torch.long
    pickle.loads(pickle.dumps(bundle.train))  # DataLoader workers must be able to receive it


def test_in_memory_resize_flatten_and_subset(tmp_path: Path) -> None:
    write_layout(tmp_path / "somewhere")
    root = tmp_path / "somewhere" / FOLDER  # the root may also be the folder itself
    streamed = load_tiny_imagenet(TinyImageNetParams(size=8, flatten=True), root)
    held = load_tiny_imagenet(TinyImageNetParams(size=8, flatten=True, in_memory=True), root)
    assert held.info.input_shape == (192,) == streamed.info.input_shape
    inputs, labels = held.train.tensors
    assert inputs.shape == (9, 192)
    torch.testing.assert_close(inputs[4], streamed.train[4][0])
    assert labels.tolist() == [streamed.train[i][1] for i in range(9)]
    small = load_tiny_imagenet(TinyImageNetParams(subset=3, in_memory=True), root)
    assert len(small.train) == 3 and len(small.test) == 3
    # a fixed random choice: the first three files would all be class 0 (folders are read class by class)
    assert len(set(small.train.tensors[1].tolist())) > 1


def test_missing_layout_says_where_to_unzip(tmp_path: Path) -> None:
    with pytest.raises(CondensekitError, match=r"tiny-imagenet-200.zip.*unzip it in"):
        load_tiny_imagenet(TinyImageNetParams(), tmp_path)


def test_bad_annotation_line_is_named(tmp_path: Path) -> None:
    folder = write_layout(tmp_path)
    with (folder / "val" / "val_annotations.txt").open("a") as f:
        f.write("val_9.JPEG\tn99999999\t0\t0\t1\t1\n")
    with pytest.raises(CondensekitError, match=r"val_annotations.txt:5: .*n99999999"):
        load_tiny_imagenet(TinyImageNetParams(), tmp_path)

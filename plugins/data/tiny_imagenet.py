"""Dataset ``tiny_imagenet``: Tiny-ImageNet-200 (64x64 RGB, 200 classes) from its standard folder layout.

Expected under the data root (or the root itself being the ``tiny-imagenet-200`` folder)::

    tiny-imagenet-200/wnids.txt                      one class id (wnid) per line; defines label order
    tiny-imagenet-200/train/<wnid>/images/*.JPEG     500 training images per class
    tiny-imagenet-200/val/images/*.JPEG              10,000 validation images (used as the test split)
    tiny-imagenet-200/val/val_annotations.txt        <file>\\t<wnid>\\t<box...> per validation image

The images stream from disk through a DataLoader (100k images do not belong in device memory), unless
``in_memory = true``, which decodes them once (sensible with ``subset`` or ``size``). Channels are
normalized with the ImageNet mean and std, the usual choice for this dataset, so nothing is scanned at load.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

import condensekit
from condensekit.errors import CondensekitError

if TYPE_CHECKING:
    from condensekit.hookspecs import Register

FOLDER = "tiny-imagenet-200"
URL = "http://cs231n.stanford.edu/tiny-imagenet-200.zip"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class TinyImageNetParams(BaseModel):
    """Parameters of the tiny_imagenet dataset."""

    model_config = ConfigDict(extra="forbid")

    subset: int | None = Field(
        None,
        ge=1,
        description="keep at most this many samples of each split (a fixed random choice), for quick runs",
    )
    size: int | None = Field(
        None, ge=4, le=512, description="resize images to size x size (default: keep 64x64)"
    )
    flatten: bool = Field(False, description="give inputs as vectors (for MLPs) instead of (3, H, W) images")
    in_memory: bool = Field(
        False, description="decode every image once into tensors instead of streaming from disk"
    )


def find_folder(root: Path) -> Path:
    """The ``tiny-imagenet-200`` folder under ``root`` (or ``root`` itself), or a CondensekitError."""
    for candidate in (root / FOLDER, root):
        if (candidate / "wnids.txt").is_file():
            return candidate
    raise CondensekitError(
        f"dataset 'tiny_imagenet': no {FOLDER}/wnids.txt under {root}; download {URL} and unzip it in {root} "
        f"(it must hold {FOLDER}/wnids.txt, {FOLDER}/train/<wnid>/images/*.JPEG, {FOLDER}/val/images/*.JPEG "
        f"and {FOLDER}/val/val_annotations.txt)"
    )


def read_split_files(
    folder: Path,
) -> tuple[list[str], tuple[list[str], list[int]], tuple[list[str], list[int]]]:
    """Class ids, and (paths, labels) of the train and val splits, in a deterministic order."""
    wnids = [line.strip() for line in (folder / "wnids.txt").read_text().splitlines() if line.strip()]
    label_of = {wnid: i for i, wnid in enumerate(wnids)}
    train_paths: list[str] = []
    train_labels: list[int] = []
    for wnid in wnids:
        images = sorted((folder / "train" / wnid / "images").glob("*.JPEG"))
        if not images:
            raise CondensekitError(
                "dataset 'tiny_imagenet': no images in "
                f"{folder / 'train' / wnid / 'images'}; the download is incomplete"
            )
        train_paths += [str(p) for p in images]
        train_labels += [label_of[wnid]] * len(images)
    annotations = folder / "val" / "val_annotations.txt"
    if not annotations.is_file():
        raise CondensekitError(f"dataset 'tiny_imagenet': {annotations} is missing; unzip {URL} again")
    val_paths: list[str] = []
    val_labels: list[int] = []
    for n, line in enumerate(annotations.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) < 2 or fields[1] not in label_of:
            raise CondensekitError(
                f"dataset 'tiny_imagenet': {annotations}:{n}: expected "
                f"'<file>\\t<wnid>...' with a wnid from wnids.txt, got {line!r}"
            )
        val_paths.append(str(folder / "val" / "images" / fields[0]))
        val_labels.append(label_of[fields[1]])
    return wnids, (train_paths, train_labels), (val_paths, val_labels)


def take_subset(paths: list[str], labels: list[int], subset: int | None) -> tuple[list[str], list[int]]:
    """At most ``subset`` samples by a fixed permutation (the folders are sorted by class, so never a
    prefix)."""
    import torch

    if subset is None or subset >= len(paths):
        return paths, labels
    keep = torch.randperm(len(paths), generator=torch.Generator().manual_seed(0))[:subset].tolist()
    return [paths[i] for i in keep], [labels[i] for i in keep]


def load_tiny_imagenet(params: TinyImageNetParams, root: Path) -> condensekit.DataBundle:
    """Read the folder layout; stream the images (or decode them once with ``in_memory``)."""
    from condensekit.data import DataBundle, DataInfo
    from condensekit_plugins.data.image_files import ImageFileDataset

    folder = find_folder(Path(root))
    wnids, train, val = read_split_files(folder)
    splits: list[Any] = []
    for paths, labels in (take_subset(*train, params.subset), take_subset(*val, params.subset)):
        dataset = ImageFileDataset(
            paths, labels, IMAGENET_MEAN, IMAGENET_STD, size=params.size, flatten=params.flatten
        )
        splits.append(dataset.to_tensors() if params.in_memory else dataset)
    first = splits[0][0][0] if params.in_memory else splits[0][0][0]
    shape = tuple(first.shape)  # read from a decoded sample: images are 64x64 unless resized
    info = DataInfo(
        input_shape=shape,
        num_classes=len(wnids),
        name="tiny_imagenet",
        extra={"mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD), "classes": wnids},
    )
    return DataBundle(train=splits[0], test=splits[1], info=info)


@condensekit.hookimpl
def register_datasets(register: Register) -> None:
    register(
        "tiny_imagenet",
        load_tiny_imagenet,
        params=TinyImageNetParams,
        summary="Tiny-ImageNet-200 from its folder layout (3x64x64, 200 classes), streamed from disk",
        prepare=lambda params, root: find_folder(Path(root)),  # at validation: the folder is there
    )

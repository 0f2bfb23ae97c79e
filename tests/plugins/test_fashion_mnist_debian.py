"""fashion_mnist on the real files of Debian's ``dataset-fashion-mnist`` package, offline."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from condensekit.data import DataInfo
from condensekit_plugins.data.vision import DEBIAN_FASHION_MNIST, IDX_FILES, VisionParams, load_vision
from condensekit_plugins.models.cnn import CNNParams, build_cnn

pytestmark = pytest.mark.skipif(
    not all((DEBIAN_FASHION_MNIST / f"{name}.gz").is_file() for name in IDX_FILES),
    reason=f"Debian package dataset-fashion-mnist is not installed (no {DEBIAN_FASHION_MNIST}); "
    "apt-get install dataset-fashion-mnist",
)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One data root for the module, so the Debian files are unpacked once."""
    return tmp_path_factory.mktemp("data")


def test_real_files_load_offline(root: Path) -> None:
    bundle = load_vision("fashion_mnist", VisionParams(download=False), root)
    x_train, y_train = bundle.train.tensors
    assert x_train.shape == (60000, 1, 28, 28) and len(bundle.test) == 10000
    assert torch.bincount(y_train).tolist() == [6000] * 10  # the real training split is balanced
    assert x_train.mean().abs() < 1e-4 and (x_train.std() - 1).abs() < 1e-3


def test_a_few_sgd_steps_reduce_the_loss(root: Path) -> None:
    torch.manual_seed(0)
    bundle = load_vision("fashion_mnist", VisionParams(download=False, subset=512), root)
    x, y = bundle.train.tensors
    model = build_cnn(CNNParams(depth=2, channels=8, head="flatten"), DataInfo(bundle.info.input_shape, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.02, momentum=0.9)
    with torch.no_grad():
        first = nn.functional.cross_entropy(model(x), y).item()
    for step in range(20):
        batch = torch.arange(step * 64, step * 64 + 64) % 512
        loss = nn.functional.cross_entropy(model(x[batch]), y[batch])
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        final = nn.functional.cross_entropy(model(x), y).item()
    # real images are learnable: 20 steps take the loss from about ln(10) to well below half of it
    assert final < 0.5 * first, (first, final)

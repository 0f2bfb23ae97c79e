"""The ``cnn`` model: plain and residual variants build, train, and expose the probe points docs/metrics.md
names."""

from __future__ import annotations

import pytest
import torch
from probe_capture import capture
from pydantic import ValidationError
from torch import nn

from condensekit.data import DataInfo
from condensekit.errors import CondensekitError
from condensekit_plugins.models.cnn import CNNParams, build_cnn


@pytest.mark.parametrize("residual", [False, True])
@pytest.mark.parametrize("norm", ["none", "batch", "layer", "group"])
@pytest.mark.parametrize("shape", [(1, 8, 8), (3, 12, 10)])
def test_builds_forward_backward(residual: bool, norm: str, shape: tuple[int, int, int]) -> None:
    torch.manual_seed(0)
    model = build_cnn(CNNParams(depth=3, channels=4, residual=residual, norm=norm), DataInfo(shape, 5))
    x = torch.randn(6, *shape)
    logits, outputs = capture(model, x)
    assert logits.shape == (6, 5)
    nn.functional.cross_entropy(logits, torch.arange(6) % 5).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    assert set(outputs) == set(model.probe_points())
    assert outputs["logits"].shape == (6, 5)


@pytest.mark.parametrize("pooling", ["max", "avg", "stride"])
@pytest.mark.parametrize("head", ["avgpool", "flatten"])
def test_plain_probe_points_are_the_convs(pooling: str, head: str) -> None:
    model = build_cnn(
        CNNParams(depth=4, channels=4, pool_every=2, pooling=pooling, head=head), DataInfo((1, 8, 8), 3)
    )
    points = model.probe_points()
    assert list(points) == ["conv1", "conv2", "conv3", "conv4", "logits"]
    assert all(isinstance(points[f"conv{i}"], nn.Conv2d) for i in range(1, 5))
    _, outputs = capture(model, torch.randn(2, 1, 8, 8))
    # one downsampling after conv2 (the last conv is never followed by one); channels double with it
    assert outputs["conv1"].shape == (2, 4, 8, 8)
    assert outputs["conv3"].shape == (2, 8, 4, 4)


def test_conv_probe_output_is_before_norm_and_activation() -> None:
    model = build_cnn(CNNParams(depth=2, channels=4, norm="batch", activation="relu"), DataInfo((1, 8, 8), 3))
    _, outputs = capture(model, torch.randn(4, 1, 8, 8))
    assert (outputs["conv1"] < 0).any()  # a ReLU output would have no negative entries


def test_downsampling_stops_at_one_pixel() -> None:
    model = build_cnn(CNNParams(depth=8, channels=2, pool_every=1, max_channels=16), DataInfo((1, 8, 8), 3))
    _, outputs = capture(model, torch.randn(2, 1, 8, 8))
    assert outputs["conv8"].shape == (2, 16, 1, 1)


def test_residual_probe_points_are_stem_and_block_outputs() -> None:
    model = build_cnn(CNNParams(depth=3, channels=4, residual=True, pool_every=2), DataInfo((1, 8, 8), 3))
    points = model.probe_points()
    assert list(points) == ["stem", "block1", "block2", "block3", "logits"]
    _, outputs = capture(model, torch.randn(2, 1, 8, 8))
    assert outputs["block2"].shape == (2, 4, 8, 8)
    assert outputs["block3"].shape == (2, 8, 4, 4)  # downsampled (stride 2) and widened


def test_residual_without_norm_starts_as_identity_and_trains() -> None:
    torch.manual_seed(0)
    model = build_cnn(CNNParams(depth=2, channels=4, residual=True, norm="none"), DataInfo((1, 8, 8), 3))
    block = model.blocks[0]
    h = torch.randn(5, 4, 8, 8)
    assert torch.equal(block(h), torch.relu(h))  # zero-initialised branch: act(0 + x)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = torch.randn(16, 1, 8, 8), torch.arange(16) % 3
    nn.functional.cross_entropy(model(x), y).backward()
    opt.step()
    assert block.conv2.weight.abs().sum() > 0  # the branch leaves zero after one step


def test_residual_with_norm_keeps_random_branch() -> None:
    model = build_cnn(CNNParams(depth=1, channels=4, residual=True, norm="batch"), DataInfo((1, 8, 8), 3))
    assert model.blocks[0].conv2.weight.abs().sum() > 0


@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "gelu", "tanh", "sigmoid", "identity", "silu"])
def test_every_shared_activation(activation: str) -> None:
    model = build_cnn(CNNParams(depth=2, channels=4, activation=activation), DataInfo((1, 8, 8), 3))
    assert torch.isfinite(model(torch.randn(2, 1, 8, 8))).all()


def test_flat_inputs_are_rejected_with_a_fix() -> None:
    with pytest.raises(CondensekitError, match=r"image inputs.*image = true"):
        build_cnn(CNNParams(), DataInfo((64,), 10, name="digits"))


def test_even_kernel_is_a_validation_error() -> None:
    with pytest.raises(ValidationError, match="odd"):
        CNNParams(kernel=4)
    with pytest.raises(ValidationError):
        CNNParams(depth=3, widht=4)  # extra="forbid": typos are errors


def test_module_does_not_import_torch() -> None:
    import subprocess
    import sys

    code = (
        "import sys, condensekit_plugins.models.cnn, condensekit_plugins.models.timm_models, "
        "condensekit_plugins.data.vision, condensekit_plugins.data.tiny_imagenet, "
        "condensekit_plugins.tricks.layernorm, condensekit_plugins.tricks.activation; "
        "bad = [m for m in ('torch', 'timm', 'torchvision') if m in sys.modules]; assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)

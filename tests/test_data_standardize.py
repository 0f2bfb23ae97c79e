"""Standardisation with the train split's statistics: features constant on the train split stay finite and
small."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from condensekit.data import standardize


def test_a_feature_constant_in_train_is_only_centred() -> None:
    train = torch.tensor([[0.0, 1.0, 5.0], [0.0, 3.0, 5.0], [0.0, 5.0, 5.0]])
    test = torch.tensor([[1.0, 3.0, 5.0], [0.0, 7.0, 6.0]])
    tr, te = standardize(train, test)
    # column 0 and 2 are constant on train: centred, divided by 1 (a clamped std of 1e-6 gave 1e6 here)
    assert te[:, 0].tolist() == [1.0, 0.0] and te[:, 2].tolist() == [0.0, 1.0]
    assert tr[:, 0].tolist() == [0.0, 0.0, 0.0] and tr[:, 2].tolist() == [0.0, 0.0, 0.0]
    # column 1 is standardised as usual: mean 3, sample std 2
    assert tr[:, 1].tolist() == [-1.0, 0.0, 1.0] and te[:, 1].tolist() == [0.0, 2.0]


def test_per_channel_standardisation_of_images() -> None:
    g = torch.Generator().manual_seed(0)
    train = torch.rand(20, 2, 4, 4, generator=g)
    train[:, 1] = 0.25  # a channel constant on the train split
    test = torch.rand(5, 2, 4, 4, generator=g)
    tr, te = standardize(train, test, dims=(0, 2, 3))
    ref_mean, ref_std = train[:, 0].mean(), train[:, 0].std()
    assert torch.allclose(te[:, 0], (test[:, 0] - ref_mean) / ref_std)
    assert torch.allclose(te[:, 1], test[:, 1] - 0.25)
    assert tr[:, 0].mean().abs() < 1e-6 and abs(float(tr[:, 0].std()) - 1) < 1e-5


def test_digits_test_inputs_stay_in_a_sane_range() -> None:
    from condensekit_plugins.data.digits import DigitsParams, load_digits

    bundle = load_digits(DigitsParams(), Path("."))
    x_train, x_test = bundle.train.tensors[0], bundle.test.tensors[0]
    constant = x_train.std(0) == 0
    assert constant.any()  # digits has pixels that are 0 in every training image of this split
    assert x_test.abs().max() < 100  # with the clamp at 1e-6 some test inputs were ~1e6
    assert torch.equal(x_train[:, constant], torch.zeros_like(x_train[:, constant]))


@pytest.mark.skipif(
    not Path("/usr/share/datasets/fashion-mnist").is_dir(),
    reason="Debian's dataset-fashion-mnist is not installed",
)
def test_fashion_mnist_flat_inputs_are_standardised_per_channel(tmp_path: Path) -> None:
    from condensekit_plugins.data.vision import VisionParams, load_vision

    bundle = load_vision("fashion_mnist", VisionParams(download=False, subset=500, flatten=True), tmp_path)
    x = bundle.train.tensors[0]
    assert abs(float(x.mean())) < 1e-4 and abs(float(x.std()) - 1) < 1e-3
    assert torch.isfinite(bundle.test.tensors[0]).all() and bundle.info.input_shape == (784,)

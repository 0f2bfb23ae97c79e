"""The ``init`` trick keeps a model's own scaling (its declared gains), records what each layer got, and the
report says which initialisation each arm had."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from condensekit_plugins.models.nets.cnn import CNNConfig, ResidualCNN
from condensekit_plugins.models.nets.mlp import MLP, ResMLP
from condensekit_plugins.tricks.init import InitParams, reinitialise


def resmlp(depth: int = 6) -> ResMLP:
    return ResMLP(8, 3, depth=depth, width=16, activation_name="relu", norm="none", bias=True)


def test_the_residual_branch_gain_survives_the_init_trick() -> None:
    model = resmlp(depth=6)  # 4 blocks: the branch gain is 1/2
    assert model.init_gains() == {f"blocks.{i}.fc": 0.5 for i in range(4)}
    kept, dropped = resmlp(6), resmlp(6)
    torch.manual_seed(3)
    done = reinitialise(kept, InitParams(scheme="xavier_normal", scale=1.5))
    torch.manual_seed(3)
    reinitialise(dropped, InitParams(scheme="xavier_normal", scale=1.5, model_gains=False))
    for i in range(4):  # the same draws, times the gain: exactly half
        assert torch.equal(kept.blocks[i].fc.weight, dropped.blocks[i].fc.weight * 0.5)
    assert torch.equal(kept.stem.weight, dropped.stem.weight) and torch.equal(
        kept.head.weight, dropped.head.weight
    )
    assert (
        done["stem"] == "xavier_normal x1.5" and done["blocks.2.fc"] == "xavier_normal x1.5 x0.5 (model gain)"
    )
    assert set(done) == {"stem", "head", *(f"blocks.{i}.fc" for i in range(4))}


def test_a_plain_mlp_declares_no_gain_and_the_residual_cnn_keeps_its_zero_last_convolution() -> None:
    mlp = MLP(8, 3, depth=4, width=16, activation_name="relu", norm="none", bias=True)
    assert not hasattr(mlp, "init_gains")
    cnn = ResidualCNN(CNNConfig(in_channels=1, image_size=(8, 8), num_classes=3, depth=2, channels=4))
    reinitialise(cnn, InitParams())
    assert all(
        float(block.conv2.weight.detach().abs().max()) == 0.0 for block in cnn.blocks
    )  # each block the identity
    assert all(float(block.conv1.weight.detach().abs().max()) > 0.0 for block in cnn.blocks)
    normed = ResidualCNN(
        CNNConfig(in_channels=1, image_size=(8, 8), num_classes=3, depth=2, channels=4, norm="batch")
    )
    assert normed.init_gains() == {}  # with a norm the blocks do not start as the identity


RECIPE = """
name = "inits"
seeds = [0]
device = "cpu"

[data]
use = "synthetic"
num_classes = 3
dim = 12
train_per_class = 20
test_per_class = 5
batch_size = 20

[train]
steps = 4
lr = 0.05

[metrics]
condensation = { every = "every:2", gradients = false, weight_gradients = false }

[[arms]]
name = "own"
model = { use = "resmlp", depth = 6, width = 8 }

[[arms]]
name = "xavier"
model = { use = "resmlp", depth = 6, width = 8 }
tricks = { init = { scheme = "xavier_normal", scale = 1.0 } }

[[arms]]
name = "no_gains"
model = { use = "resmlp", depth = 6, width = 8 }
tricks = { init = { scheme = "xavier_normal", scale = 1.0, model_gains = false } }
"""


def test_run_json_records_each_layers_initialisation_and_the_report_lists_it(
    tmp_path: Path, write_recipe: Any, cli_run: Any
) -> None:
    code, _, err = cli_run("run", str(write_recipe(RECIPE)), "--out", str(tmp_path / "runs"))
    assert code == 0, err
    root = tmp_path / "runs" / "inits"

    def initialisation(arm: str) -> dict[str, str]:
        info = json.loads((root / arm / "base" / "seed=0" / "run.json").read_text())
        return info["summary"]["initialisation"]

    assert initialisation("own") == {}
    assert initialisation("xavier")["blocks.0.fc"] == "xavier_normal x1 x0.5 (model gain)"
    assert initialisation("no_gains")["blocks.0.fc"] == "xavier_normal x1"
    text = (root / "report.md").read_text()
    lines = text[text.index("### Initialisation") :].splitlines()
    assert "- own: the model's own initialisation (no init trick)" in lines
    assert (
        "- xavier: xavier_normal x1 on `stem`, `head`; xavier_normal x1 x0.5 (model gain) on "
        "`blocks.0.fc` .. `blocks.3.fc` (4 layers)"
    ) in lines
    assert "- no_gains: xavier_normal x1 on `stem` .. `head` (6 layers)" in lines


@pytest.mark.parametrize("blocks", [1, 4, 9])
def test_the_declared_gain_is_what_the_model_applies_itself(blocks: int) -> None:
    torch.manual_seed(0)
    model = resmlp(depth=blocks + 2)
    (gain,) = set(model.init_gains().values())
    assert gain == pytest.approx(1 / math.sqrt(blocks))
    # the model's own init: Xavier normal times the gain, the stem without it
    fan = 16
    assert float(model.blocks[0].fc.weight.detach().std()) == pytest.approx(
        gain * math.sqrt(2 / (2 * fan)), rel=0.25
    )


def test_init_applies_the_scheme_asked_for() -> None:  # tricks-14
    from condensekit_plugins.tricks.init import InitParams, reinitialise

    torch.manual_seed(0)
    square = nn.Linear(16, 16)
    reinitialise(square, InitParams(scheme="orthogonal"))
    assert torch.allclose(square.weight @ square.weight.T, torch.eye(16), atol=1e-5)
    wide = nn.Linear(400, 4)
    reinitialise(wide, InitParams(scheme="kaiming_uniform"))
    bound = math.sqrt(6 / 400)  # kaiming_uniform for ReLU: U(-sqrt(6 / fan_in), +)
    assert wide.weight.abs().max() <= bound and wide.weight.abs().max() > 0.9 * bound


def test_init_zeroes_biases_only_when_asked() -> None:  # mutant: zero_bias ignored
    from condensekit_plugins.tricks.init import InitParams, reinitialise

    torch.manual_seed(0)
    layer = nn.Linear(5, 4)
    bias = layer.bias.detach().clone()
    reinitialise(layer, InitParams(zero_bias=False))
    assert torch.equal(layer.bias.detach(), bias) and bias.abs().sum() > 0
    reinitialise(layer, InitParams(zero_bias=True))
    assert not layer.bias.detach().any()

"""The ``timm`` model: names and kwargs reach timm, presets fit small images, probe points follow
docs/metrics.md."""

from __future__ import annotations

import pytest
import torch
from probe_capture import capture
from pydantic import ValidationError
from torch import nn

from condensekit.data import DataInfo
from condensekit.errors import CondensekitError
from condensekit_plugins.models.timm_models import PRESETS, TimmParams, build_timm, default_patch_size


def forward_backward(model: nn.Module, shape: tuple[int, ...], classes: int) -> dict[str, torch.Tensor]:
    x = torch.randn(3, *shape)
    logits, outputs = capture(model, x)
    assert logits.shape == (3, classes)
    nn.functional.cross_entropy(logits, torch.arange(3) % classes).backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert grads and all(g is not None and torch.isfinite(g).all() for g in grads)
    return outputs


# every preset and every common small image size, each once (the deepest preset on the fewest tokens)
@pytest.mark.parametrize(
    ("preset", "shape", "tokens"),
    [("vit_deep", (1, 8, 8), 16), ("vit_micro", (1, 28, 28), 49), ("vit_mini", (3, 32, 32), 64)],
)
def test_vit_presets_on_small_images(preset: str, shape: tuple[int, int, int], tokens: int) -> None:
    assert set(PRESETS) == {"vit_micro", "vit_mini", "vit_deep"}  # a new preset belongs in the list above
    model = build_timm(TimmParams(name=preset), DataInfo(shape, 10))
    outputs = forward_backward(model, shape, 10)
    depth = PRESETS[preset]["depth"]
    dim = PRESETS[preset]["embed_dim"]
    hidden = int(dim * PRESETS[preset]["mlp_ratio"])
    assert set(outputs) == {f"block{i}" for i in range(1, depth + 1)} | {
        f"block{i}.fc1" for i in range(1, depth + 1)
    } | {"logits"}
    assert outputs["block1"].shape == (3, tokens + 1, dim)  # patch tokens plus the class token
    assert outputs[f"block{depth}.fc1"].shape == (3, tokens + 1, hidden)
    assert model.cls_token_index == 0 and model.num_prefix_tokens == 1


def test_recipe_style_timm_name_with_kwargs() -> None:
    params = TimmParams.model_validate(
        {"name": "vit_tiny_patch16_224", "img_size": 32, "patch_size": 4, "depth": 2}
    )
    model = build_timm(params, DataInfo((3, 32, 32), 7))
    outputs = forward_backward(model, (3, 32, 32), 7)
    assert outputs["block2"].shape == (3, 65, 192)  # 8x8 patches + class token, timm's tiny width
    assert not any(p.startswith("block3") for p in outputs)


def test_preset_keys_can_be_overridden() -> None:
    model = build_timm(
        TimmParams.model_validate({"name": "vit_micro", "depth": 2, "patch_size": 4}), DataInfo((1, 8, 8), 3)
    )
    outputs = forward_backward(model, (1, 8, 8), 3)
    assert outputs["block2"].shape == (3, 5, 64) and "block3" not in outputs


def test_activation_becomes_act_layer() -> None:
    model = build_timm(TimmParams(name="vit_micro", activation="relu"), DataInfo((1, 8, 8), 3))
    assert isinstance(model.model.blocks[0].mlp.act, nn.ReLU)


def test_convolutional_timm_model_probes_every_block() -> None:
    # test_resnet is timm's tiny ResNet; it rejects img_size, which is then not passed
    model = build_timm(TimmParams(name="test_resnet"), DataInfo((1, 28, 28), 4))
    outputs = forward_backward(model, (1, 28, 28), 4)
    assert "logits" in outputs and len(outputs) >= 4
    assert model.cls_token_index is None and model.num_prefix_tokens == 0
    assert all(o.ndim == 4 for name, o in outputs.items() if name != "logits")


def test_unknown_name_suggests_the_closest() -> None:
    with pytest.raises(ValidationError, match=r"did you mean 'vit_tiny_patch16_224'"):
        TimmParams(name="vit_tiny_patch16_22")
    with pytest.raises(ValidationError, match=r"did you mean 'vit_micro'"):
        TimmParams(name="vit_mirco")


@pytest.mark.parametrize("key", ["in_chans", "num_classes"])
def test_keys_from_the_data_are_rejected(key: str) -> None:
    with pytest.raises(ValidationError, match="taken from the dataset"):
        TimmParams.model_validate({"name": "vit_micro", key: 3})


def test_norm_override_says_the_trick_does_not_apply() -> None:
    # what the batchnorm/layernorm tricks ask for: refused by name, not passed on to timm
    with pytest.raises(ValidationError, match="batchnorm/layernorm tricks do not apply"):
        TimmParams.model_validate({"name": "vit_micro", "norm": "batch"})


def test_unknown_timm_kwarg_is_a_clear_error() -> None:
    with pytest.raises(CondensekitError, match=r"rejected its keyword arguments.*not_a_kwarg"):
        build_timm(
            TimmParams.model_validate({"name": "test_resnet", "not_a_kwarg": 1}), DataInfo((3, 32, 32), 10)
        )


def test_image_too_small_for_the_model_is_a_clear_error() -> None:
    with pytest.raises(CondensekitError, match=r"cannot take inputs of shape \(1, 8, 8\)"):
        build_timm(TimmParams(name="test_vit"), DataInfo((1, 8, 8), 10))  # patch 16 > 8 pixels


def test_flat_inputs_are_rejected_with_a_fix() -> None:
    with pytest.raises(CondensekitError, match=r"image inputs.*image = true"):
        build_timm(TimmParams(name="vit_micro"), DataInfo((64,), 10, name="digits"))


def test_pretrained_offline_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    params = TimmParams.model_validate(
        {"name": "vit_tiny_patch16_224", "pretrained": True, "img_size": 32, "patch_size": 4}
    )
    with pytest.raises(CondensekitError, match=r"pretrained weights.*pretrained = false"):
        build_timm(params, DataInfo((3, 32, 32), 10))


def test_pretrained_is_off_by_default() -> None:
    assert TimmParams(name="vit_micro").pretrained is False


@pytest.mark.parametrize(("side", "patch"), [(8, 2), (28, 4), (32, 4), (64, 8), (7, 1)])
def test_default_patch_size(side: int, patch: int) -> None:
    assert default_patch_size(side, side) == patch

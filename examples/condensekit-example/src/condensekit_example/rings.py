"""Dataset ``rings``: points on concentric noisy circles, one class per ring, padded with noise dimensions."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

import condensekit


class RingsParams(BaseModel):
    """Parameters of the rings dataset."""

    model_config = ConfigDict(extra="forbid")
    num_classes: int = Field(3, ge=2, le=100, description="number of rings (classes)")
    noise_dims: int = Field(0, ge=0, le=1000, description="extra pure-noise input dimensions")
    noise: float = Field(0.1, ge=0.0, description="standard deviation of the radial noise")
    train_per_class: int = Field(100, ge=1, description="training samples per ring")
    test_per_class: int = Field(50, ge=1, description="test samples per ring")
    seed: int = Field(0, description="seed of the data (the same for every run)")


def make_rings(params: RingsParams, root: Path) -> Any:
    """``factory(params, root)``: the data is generated, so ``root`` is not used."""
    import torch

    g = torch.Generator().manual_seed(params.seed)

    def split(per_class: int) -> tuple[Any, Any]:
        labels = torch.arange(params.num_classes).repeat_interleave(per_class)
        angle = 2 * math.pi * torch.rand(len(labels), generator=g)
        radius = 1.0 + labels.float() + params.noise * torch.randn(len(labels), generator=g)
        points = torch.stack([radius * angle.cos(), radius * angle.sin()], dim=1)
        extra = torch.randn(len(labels), params.noise_dims, generator=g)
        return torch.cat([points, extra], dim=1), labels

    info = condensekit.DataInfo(
        input_shape=(2 + params.noise_dims,), num_classes=params.num_classes, name="rings"
    )
    return condensekit.DataBundle(
        train=split(params.train_per_class), test=split(params.test_per_class), info=info
    )

"""Dataset ``synthetic``: seeded Gaussian classes around random unit-norm means."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

import condensekit

if TYPE_CHECKING:
    from condensekit.hookspecs import Register


class SyntheticParams(BaseModel):
    """Parameters of the synthetic Gaussian-classes dataset."""

    model_config = ConfigDict(extra="forbid")
    num_classes: int = Field(4, ge=2, le=1000, description="number of classes")
    dim: int = Field(32, ge=1, le=100_000, description="input dimension")
    train_per_class: int = Field(100, ge=1, description="training samples per class")
    test_per_class: int = Field(50, ge=1, description="test samples per class")
    separation: float = Field(2.0, ge=0.0, description="distance scale of the class means")
    noise: float = Field(1.0, gt=0.0, description="standard deviation of the isotropic noise")
    seed: int = Field(0, description="seed of the data (fixed across runs)")


def make_synthetic(params: SyntheticParams, root: Path) -> Any:
    import torch

    from condensekit.data import DataBundle, DataInfo

    g = torch.Generator().manual_seed(params.seed)
    means = torch.randn(params.num_classes, params.dim, generator=g)
    means = params.separation * means / means.norm(dim=1, keepdim=True)

    def split(per_class: int) -> tuple[Any, Any]:
        labels = torch.arange(params.num_classes).repeat_interleave(per_class)
        inputs = means[labels] + params.noise * torch.randn(len(labels), params.dim, generator=g)
        return inputs, labels

    info = DataInfo(input_shape=(params.dim,), num_classes=params.num_classes, name="synthetic")
    return DataBundle(train=split(params.train_per_class), test=split(params.test_per_class), info=info)


def synthetic_info(params: SyntheticParams) -> condensekit.DataInfo:
    """The shape and classes of the data, without making it (for validate-time model checks)."""
    return condensekit.DataInfo(input_shape=(params.dim,), num_classes=params.num_classes, name="synthetic")


@condensekit.hookimpl
def register_datasets(register: Register) -> None:
    register(
        "synthetic",
        make_synthetic,
        params=SyntheticParams,
        summary="seeded Gaussian classes (any dimension/classes)",
        info=synthetic_info,
    )

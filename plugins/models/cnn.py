"""The ``cnn`` model: a plain VGG-style convolutional network, or ResNet-style with ``residual = true``.

Its own initialisation is He-style (fan-in, the activation's gain) and, without normalization, the last
convolution of every residual branch starts at zero. The ``init`` trick re-initialises every conv and
linear weight, those zeroed ones included: with ``init`` a residual CNN without normalization starts
with random branches, like a residual MLP does. torch is imported only when a model is built
(``condensekit --help`` loads this module).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

import condensekit
from condensekit_plugins.models.shared import Activation, image_shape

if TYPE_CHECKING:
    from torch import nn

    from condensekit.hookspecs import Register


class CNNParams(BaseModel):
    """Parameters of the ``cnn`` model."""

    model_config = ConfigDict(extra="forbid")

    depth: int = Field(
        4, ge=1, le=200, description="number of conv layers (plain) or basic blocks of two convs (residual)"
    )
    channels: int = Field(
        32, ge=1, le=4096, description="channels of the first stage; doubled at each downsampling"
    )
    max_channels: int = Field(256, ge=1, le=8192, description="cap on the channels after doubling")
    kernel: int = Field(
        3, ge=1, le=11, description="square kernel size (odd; padding keeps the spatial size)"
    )
    activation: Activation = Field(
        "relu", description="activation after each conv (and after each residual sum)"
    )
    norm: Literal["none", "batch", "layer", "group"] = Field(
        "none",
        description=(
            "normalization after each conv: none, batch (BatchNorm2d), layer (GroupNorm with 1 group), group"
        ),
    )
    residual: bool = Field(False, description="ResNet-style basic blocks instead of a plain stack")
    pool_every: int = Field(
        2,
        ge=0,
        le=200,
        description="downsample by 2 after every this many convs/blocks (0 = never); stops at 1x1",
    )
    pooling: Literal["max", "avg", "stride"] = Field(
        "max", description="plain net: how to downsample (residual nets always use stride-2 convs)"
    )
    head: Literal["avgpool", "flatten"] = Field(
        "avgpool",
        description="global average pooling before the linear classifier, or flatten the feature map",
    )
    bias: bool = Field(True, description="biases in conv and linear layers")

    @field_validator("kernel")
    @classmethod
    def _odd_kernel(cls, kernel: int) -> int:
        if kernel % 2 == 0:
            raise ValueError(f"must be odd so that the padding keeps the spatial size, got {kernel}")
        return kernel


def build_cnn(params: CNNParams, info: condensekit.DataInfo) -> nn.Module:
    """Build the plain or residual CNN for the data's image shape and number of classes."""
    from condensekit_plugins.models.nets.cnn import CNNConfig, build

    c, h, w = image_shape(info, "cnn")
    cfg = CNNConfig(
        in_channels=c,
        image_size=(h, w),
        num_classes=info.num_classes,
        **params.model_dump(exclude={"residual"}),
    )
    return build(cfg, residual=params.residual)


@condensekit.hookimpl
def register_models(register: Register) -> None:
    register(
        "cnn",
        build_cnn,
        params=CNNParams,
        summary=(
            "VGG-style CNN, or ResNet-style basic blocks with residual=true; probes each conv / block output"
        ),
    )

"""The ``timm`` model: any timm model by name with its keyword arguments, plus small-ViT presets.

A recipe line such as
``model = { use = "timm", name = "vit_tiny_patch16_224", img_size = 32, patch_size = 4 }`` passes every key
other than ``name``, ``pretrained`` and ``activation`` to ``timm.create_model``. ``in_chans``, ``num_classes``
and (for models that take it) ``img_size`` come from the dataset. timm is imported only when a name is
validated or a model is built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

import condensekit
from condensekit.catalogue import did_you_mean
from condensekit.errors import CondensekitError
from condensekit_plugins.models.shared import Activation, image_shape

if TYPE_CHECKING:
    from types import ModuleType

    from torch import nn

    from condensekit.hookspecs import Register

# Small ViTs for 8x8 to 64x64 images. Built from timm's VisionTransformer; recipe keys override them.
VIT_BASE = "vit_tiny_patch16_224"
PRESETS: dict[str, dict[str, Any]] = {
    "vit_micro": {"embed_dim": 64, "depth": 4, "num_heads": 2, "mlp_ratio": 2.0},
    "vit_mini": {"embed_dim": 128, "depth": 6, "num_heads": 4, "mlp_ratio": 2.0},
    "vit_deep": {"embed_dim": 64, "depth": 12, "num_heads": 2, "mlp_ratio": 2.0},
}
# Keys that come from the data or that belong to tricks of other models; a recipe must not set them here.
FROM_DATA = ("in_chans", "num_classes")
NOT_FOR_TIMM = {
    "norm": "timm models have no 'norm' switch, so the batchnorm/layernorm tricks do not apply to them "
    "(normalization is part of a timm architecture; pass a timm keyword such as norm_layer instead)",
}


def import_timm() -> ModuleType:
    """Import timm, or say how to install it."""
    try:
        import timm
    except ImportError as exc:  # pragma: no cover - timm is a dependency, but may be removed
        raise CondensekitError(f"the 'timm' model needs the timm package ({exc}); pip install timm") from exc
    return timm


class TimmParams(BaseModel):
    """Parameters of the ``timm`` model. Extra keys are keyword arguments of ``timm.create_model``
    (``img_size``, ``patch_size``, ``depth``, ``embed_dim``, ``drop_path_rate``, ...)."""

    # extra="allow" on purpose: a timm model's keyword arguments are open-ended and timm itself rejects
    # the ones a model does not take (reported as a CondensekitError when the model is built).
    model_config = ConfigDict(extra="allow")

    name: str = Field(
        description=f"a timm model name (timm.list_models()) or a small-ViT preset: {', '.join(PRESETS)}"
    )
    pretrained: bool = Field(
        False, description="load timm's pretrained weights (needs network or a warm HF cache)"
    )
    activation: Activation | None = Field(
        None, description="activation of models that take act_layer (ViTs, ...); set by the activation trick"
    )

    @field_validator("name")
    @classmethod
    def _known_name(cls, name: str) -> str:
        if name in PRESETS:
            return name
        timm = import_timm()
        if timm.is_model(name.split(".")[0]):
            return name
        choices = [*PRESETS, *timm.list_models()]
        raise ValueError(
            f"unknown timm model {name!r}{did_you_mean(name, choices)} "
            f"(see timm.list_models(); presets: {', '.join(PRESETS)})"
        )

    @model_validator(mode="after")
    def _no_reserved_keys(self) -> TimmParams:
        extra = self.model_extra or {}
        for key in FROM_DATA:
            if key in extra:
                raise ValueError(f"'{key}' is taken from the dataset; remove it from the model's keys")
        for key, why in NOT_FOR_TIMM.items():
            if key in extra:
                raise ValueError(f"'{key}': {why}")
        return self


def default_patch_size(height: int, width: int) -> int:
    """The smallest patch in 2, 4, 8, ... that divides the image and leaves at most 8 patches per side."""
    for patch in (2, 4, 8, 16, 32):
        if height % patch == 0 and width % patch == 0 and max(height, width) // patch <= 8:
            return patch
    return 1


def timm_kwargs(params: TimmParams, info: condensekit.DataInfo) -> tuple[str, dict[str, Any]]:
    """The timm name and keyword arguments for ``params`` on data described by ``info``."""
    c, h, w = image_shape(info, "timm")
    kwargs: dict[str, Any] = {}
    name = params.name
    if name in PRESETS:
        kwargs.update(PRESETS[name])
        kwargs["patch_size"] = default_patch_size(h, w)
        name = VIT_BASE
    kwargs.update(params.model_extra or {})
    kwargs.setdefault("img_size", (h, w) if h != w else h)
    if params.activation is not None:
        kwargs["act_layer"] = params.activation
    kwargs.update(in_chans=c, num_classes=info.num_classes)
    return name, kwargs


def build_timm(params: TimmParams, info: condensekit.DataInfo) -> nn.Module:
    """Create the timm model (without pretrained weights unless asked) and wrap it with probe points."""
    from condensekit_plugins.models.nets.timm_wrap import TimmModel

    timm = import_timm()
    name, kwargs = timm_kwargs(params, info)
    try:
        model = _create(
            timm,
            name,
            params.pretrained,
            kwargs,
            img_size_from_data="img_size" not in (params.model_extra or {}),
        )
    except CondensekitError:
        raise
    except TypeError as exc:
        raise CondensekitError(
            f"timm model {name!r} rejected its keyword arguments {sorted(kwargs)}: {exc}; "
            "remove the keys this model does not take"
        ) from exc
    _check_input_fits(model, name, tuple(info.input_shape))
    return TimmModel(model, params.name)


def _check_input_fits(model: nn.Module, name: str, shape: tuple[int, ...]) -> None:
    """One eval-mode forward of a zero sample, so that an image too small for the model's downsampling
    fails here with a clear message rather than deep inside the first training step."""
    import torch

    was_training = model.training
    model.eval()  # eval: no BatchNorm statistics change, no dropout randomness consumed
    try:
        with torch.no_grad():
            model(torch.zeros(1, *shape))
    except (RuntimeError, AssertionError, ValueError) as exc:  # timm asserts on patch/image size mismatches
        raise CondensekitError(
            f"timm model {name!r} cannot take inputs of shape {shape} ({exc}); use larger images, "
            "or a model (or keyword arguments) with less downsampling"
        ) from exc
    finally:
        model.train(was_training)


def _create(
    timm: ModuleType, name: str, pretrained: bool, kwargs: dict[str, Any], img_size_from_data: bool
) -> nn.Module:
    try:
        return timm.create_model(name, pretrained=pretrained, **kwargs)
    except TypeError as exc:
        # Convolutional timm models take any image size and reject img_size; it was only our default.
        if img_size_from_data and "img_size" in str(exc):
            rest = {k: v for k, v in kwargs.items() if k != "img_size"}
            return _create(timm, name, pretrained, rest, img_size_from_data=False)
        raise
    except Exception as exc:
        if not pretrained:
            raise
        raise CondensekitError(
            f"could not load pretrained weights for timm model {name!r} ({type(exc).__name__}: {exc}); "
            "they come from the Hugging Face Hub: connect to the network once or point HF_HOME at a cache "
            "that holds them, or set pretrained = false"
        ) from exc


@condensekit.hookimpl
def register_models(register: Register) -> None:
    register(
        "timm",
        build_timm,
        params=TimmParams,
        summary=(
            "any timm model by name with its kwargs, or a small "
            f"ViT ({', '.join(PRESETS)}); probes each block"
        ),
    )

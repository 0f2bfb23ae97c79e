"""What the model plugins share: the activation names and the check that a dataset gives images.

Imports no torch (``condensekit list`` loads every plugin module); the activation modules themselves are
in :mod:`condensekit_plugins.models.nets.activations`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from condensekit.errors import CondensekitError

if TYPE_CHECKING:
    import condensekit

Activation = Literal["relu", "leaky_relu", "gelu", "tanh", "sigmoid", "silu", "identity"]
"""The hidden activations every shipped model (and the ``activation`` trick) accepts."""


def image_shape(info: condensekit.DataInfo, model: str) -> tuple[int, int, int]:
    """The ``(C, H, W)`` of an image dataset, or a CondensekitError that says how to get images."""
    shape = tuple(info.input_shape)
    if len(shape) != 3:
        raise CondensekitError(
            f"model {model!r} needs image inputs of shape (C, H, W), but dataset {info.name or '?'!r} gives "
            f"{shape}; load the data as images (digits: image = true; mnist/cifar: flatten = false)"
        )
    return shape  # type: ignore[return-value]

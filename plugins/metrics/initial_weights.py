"""The weights a layer had when a metric first saw it (``W_0``), for measures of ``W_t - W_0``."""

from __future__ import annotations

from typing import Any


class InitialWeights:
    """Per layer, a copy of the weight at its first measurement (step 0: the schedule always includes it)."""

    def __init__(self) -> None:
        self.weights: dict[str, Any] = {}

    def of(self, layer: str, weight: Any) -> Any:
        """``W_0`` of ``layer``: remembered now (a detached copy of ``weight``) if this is its first
        measurement."""
        if layer not in self.weights:
            self.weights[layer] = weight.detach().clone()
        return self.weights[layer]

"""A thin wrapper that gives any timm model the ``probe_points`` condensekit reads features from."""

from __future__ import annotations

import torch
from torch import nn


class TimmModel(nn.Module):
    """Wrap a timm model; ``forward`` is the model's, ``probe_points`` follows docs/metrics.md.

    Attributes:
        model: the wrapped timm model.
        cls_token_index: for token models with a class token (ViTs), its position in the ``(N, T, D)``
            block outputs (0); None otherwise. The condensation metric reads it for its ``@cls`` variant.
        num_prefix_tokens: how many leading tokens are not patches (class token, registers); 0 for
            models without tokens.
    """

    def __init__(self, model: nn.Module, name: str):
        super().__init__()
        self.model = model
        self.timm_name = name
        prefix = getattr(model, "num_prefix_tokens", None)
        tokens = isinstance(prefix, int) and isinstance(
            getattr(model, "blocks", None), nn.Sequential | nn.ModuleList
        )
        self.num_prefix_tokens: int = prefix if tokens else 0  # type: ignore[assignment]
        has_cls = tokens and getattr(model, "cls_token", None) is not None
        self.cls_token_index: int | None = 0 if has_cls else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def probe_points(self) -> dict[str, nn.Module]:
        """Where features are read.

        * Transformers with ``blocks`` (ViT, DeiT, ...): each block's output ``blockK`` and each block's
          MLP hidden pre-activation ``blockK.fc1`` (the output of ``mlp.fc1``).
        * Other models with timm ``feature_info`` (ResNets, ConvNeXts, ...): each listed module, and each
          block of a listed ``nn.Sequential`` stage (so a ResNet gives every block's output).
        * Otherwise every ``nn.Linear`` and ``nn.Conv2d`` leaf.

        The classifier is added as ``logits`` when it is an ``nn.Linear``.
        """
        points: dict[str, nn.Module] = {}
        blocks = getattr(self.model, "blocks", None)
        if isinstance(blocks, nn.Sequential | nn.ModuleList) and len(blocks) > 0:
            for i, block in enumerate(blocks):
                points[f"block{i + 1}"] = block
                fc1 = getattr(getattr(block, "mlp", None), "fc1", None)
                if isinstance(fc1, nn.Module):
                    points[f"block{i + 1}.fc1"] = fc1
        elif getattr(self.model, "feature_info", None):
            for info in self.model.feature_info:
                name = info["module"]
                module = self.model.get_submodule(name)
                if isinstance(module, nn.Sequential) and len(module) > 1:
                    points.update({f"{name}.{j}": child for j, child in enumerate(module)})
                else:
                    points[name] = module
        else:
            points = {
                name: m for name, m in self.model.named_modules() if isinstance(m, nn.Linear | nn.Conv2d)
            }
        head = self.model.get_classifier() if hasattr(self.model, "get_classifier") else None
        if isinstance(head, nn.Linear):
            points = {name: m for name, m in points.items() if m is not head}
            points["logits"] = head
        return points

    def probe_groups(self) -> dict[str, list[str]]:
        """Which points the layer mean averages (``hidden``), and the others' groups.

        * Transformers with ``blocks``: the token mean of each block's output stream, ``blockK@mean`` (the
          condensation metric's token-mean variant). The block outputs with all tokens flattened are the
          group ``stream``, the MLP hidden pre-activations ``mlp``; the class-token and other variants
          get their own groups when a run is summarised (``stream@cls``, ``mlp@mean``, ``mlp@cls``).
        * Any other model: every probe point but the logits (for ResNets, each block's output stream).
        """
        points = [p for p in self.probe_points() if p != "logits"]
        logits = ["logits"] if "logits" in self.probe_points() else []
        if not self._has_blocks():
            return {"hidden": points, **({"logits": logits} if logits else {})}
        streams = [p for p in points if "." not in p]
        return {
            "hidden": [f"{p}@mean" for p in streams],
            "stream": streams,
            "mlp": [p for p in points if p.endswith(".fc1")],
            **({"logits": logits} if logits else {}),
        }

    def _has_blocks(self) -> bool:
        blocks = getattr(self.model, "blocks", None)
        return isinstance(blocks, nn.Sequential | nn.ModuleList) and len(blocks) > 0

    def probe_activations(self) -> dict[str, nn.Module] | None:
        """For transformers, each MLP's activation after ``fc1``; block outputs are the residual stream.

        None (let the probe find activations during the forward pass) for other models.
        """
        blocks = getattr(self.model, "blocks", None)
        if not (isinstance(blocks, nn.Sequential | nn.ModuleList) and len(blocks) > 0):
            return None
        out: dict[str, nn.Module] = {}
        for i, block in enumerate(blocks):
            act = getattr(getattr(block, "mlp", None), "act", None)
            if isinstance(act, nn.Module) and isinstance(getattr(block.mlp, "fc1", None), nn.Module):
                out[f"block{i + 1}.fc1"] = act
        return out

"""Convolutional networks for the ``cnn`` model: a plain VGG-style stack and a ResNet-style variant.

Probe points follow docs/metrics.md. The plain network's point ``conv{i}`` is the input of its ``i``-th
activation: the convolution's output, or, with a normalization, the normalization's output (``conv{i}``'s
convolution is then the point ``conv{i}.prenorm``, its own group, whose input is the layer input the
weight-gradient metric needs). The residual network exposes the stem convolution and every block's output
(the stream). ``probe_groups`` says which points the layer mean averages.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from condensekit_plugins.models.nets.activations import make_activation

# The gain ``nn.init.calculate_gain`` knows for each activation; GELU and SiLU behave like ReLU for
# positive inputs, so ReLU's gain keeps their forward signal at a similar scale.
_GAIN_NAME = {
    "relu": "relu",
    "leaky_relu": "leaky_relu",
    "gelu": "relu",
    "silu": "relu",
    "tanh": "tanh",
    "sigmoid": "sigmoid",
    "identity": "linear",
}


@dataclass(frozen=True)
class CNNConfig:
    """Architecture of a :class:`PlainCNN` or :class:`ResidualCNN` (mirrors the plugin's params)."""

    in_channels: int
    image_size: tuple[int, int]
    num_classes: int
    depth: int = 4
    channels: int = 32
    max_channels: int = 256
    kernel: int = 3
    activation: str = "relu"
    norm: str = "none"
    pool_every: int = 2
    pooling: str = "max"
    head: str = "avgpool"
    bias: bool = True


def make_norm(kind: str, channels: int) -> nn.Module:
    """Normalization over a ``(N, C, H, W)`` tensor.

    ``layer`` normalizes each sample over (C, H, W) (GroupNorm with one group: LayerNorm for images);
    ``group`` uses up to 8 groups that divide ``channels``.
    """
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "layer":
        return nn.GroupNorm(1, channels)
    if kind == "group":
        groups = max(g for g in range(1, 9) if channels % g == 0)
        return nn.GroupNorm(groups, channels)
    return nn.Identity()


def init_weights(module: nn.Module, activation: str) -> None:
    """He-style fan-in normal init of the convolutions with the activation's gain, gain 1 for the linear
    classifier (no activation follows it); zero biases. Norm layers keep their identity init."""
    gain = nn.init.calculate_gain(_GAIN_NAME[activation])
    for m in module.modules():
        if isinstance(m, nn.Conv2d | nn.Linear):
            fan_in = m.weight[0].numel()
            std = (gain if isinstance(m, nn.Conv2d) else 1.0) / fan_in**0.5
            nn.init.normal_(m.weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def _stage_channels(cfg: CNNConfig, stage: int) -> int:
    return min(cfg.channels * 2**stage, cfg.max_channels)


class _Head(nn.Module):
    """Global average pooling (or flattening) followed by the linear classifier."""

    def __init__(self, channels: int, spatial: tuple[int, int], cfg: CNNConfig):
        super().__init__()
        self.avgpool = cfg.head == "avgpool"
        features = channels if self.avgpool else channels * spatial[0] * spatial[1]
        self.fc = nn.Linear(features, cfg.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.mean(dim=(2, 3)) if self.avgpool else x.flatten(1)
        return self.fc(x)


class PlainCNN(nn.Module):
    """VGG-style stack: ``depth`` x (conv -> norm -> activation), downsampling after every ``pool_every``
    convolutions (channels double at each downsampling, up to ``max_channels``), then the head.

    Downsampling stops once a spatial side would drop below 1, so one recipe fits 8x8 and 32x32 inputs.
    """

    def __init__(self, cfg: CNNConfig):
        super().__init__()
        self.cfg = cfg
        layers: list[nn.Module] = []
        self._convs: dict[str, nn.Conv2d] = {}
        self._act_inputs: dict[str, nn.Module] = {}  # the module whose output each activation reads
        self._acts: dict[str, nn.Module] = {}
        h, w = cfg.image_size
        c_in, stage = cfg.in_channels, 0
        for i in range(cfg.depth):
            c_out = _stage_channels(cfg, stage)
            stride = 1
            downsample = (
                cfg.pool_every > 0 and (i + 1) % cfg.pool_every == 0 and i + 1 < cfg.depth and min(h, w) >= 2
            )
            if downsample and cfg.pooling == "stride":
                stride = 2  # this conv downsamples itself
            conv = nn.Conv2d(c_in, c_out, cfg.kernel, stride=stride, padding=cfg.kernel // 2, bias=cfg.bias)
            act, norm = make_activation(cfg.activation), make_norm(cfg.norm, c_out)
            layers += [conv, norm, act]
            self._convs[f"conv{i + 1}"] = conv
            self._act_inputs[f"conv{i + 1}"] = conv if isinstance(norm, nn.Identity) else norm
            self._acts[f"conv{i + 1}"] = act
            if downsample:
                if cfg.pooling != "stride":
                    layers.append(nn.MaxPool2d(2) if cfg.pooling == "max" else nn.AvgPool2d(2))
                # a stride-2 "same" convolution rounds up, 2x2 pooling rounds down
                h, w = ((h + 1) // 2, (w + 1) // 2) if cfg.pooling == "stride" else (h // 2, w // 2)
                stage += 1
            c_in = c_out
        self.features = nn.Sequential(*layers)
        self.head = _Head(c_in, (h, w), cfg)
        init_weights(self, cfg.activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

    def probe_points(self) -> dict[str, nn.Module]:
        """Each activation's input ``conv{i}`` (after the norm, if any), each convolution before its norm
        ``conv{i}.prenorm`` (only with a norm), and the logits."""
        prenorm = {f"{k}.prenorm": conv for k, conv in self._convs.items() if self._act_inputs[k] is not conv}
        return {**self._act_inputs, **prenorm, "logits": self.head.fc}

    def probe_groups(self) -> dict[str, list[str]]:
        """The layer mean averages each activation's input, flattened; the convolutions' outputs before a
        norm are the group ``prenorm`` (their spatial means: see :mod:`condensekit.layer_groups`)."""
        prenorm = [k for k in self.probe_points() if k.endswith(".prenorm")]
        return {
            "hidden": list(self._act_inputs),
            **({"prenorm": prenorm} if prenorm else {}),
            "logits": ["logits"],
        }

    def probe_activations(self) -> dict[str, nn.Module]:
        """The activation after each convolution (and its norm): where a unit can be dead."""
        return dict(self._acts)


class BasicBlock(nn.Module):
    """``act(norm(conv(act(norm(conv(x))))) + shortcut(x))``; the shortcut projects when the shape changes.

    With ``norm == "none"`` the branch's second convolution starts at zero, so every block starts as the
    identity and a deep stack trains without normalization (the Fixup / zero-init-residual idea).
    """

    def __init__(self, c_in: int, c_out: int, stride: int, cfg: CNNConfig):
        super().__init__()
        pad = cfg.kernel // 2
        self.conv1 = nn.Conv2d(c_in, c_out, cfg.kernel, stride=stride, padding=pad, bias=cfg.bias)
        self.norm1 = make_norm(cfg.norm, c_out)
        self.act1 = make_activation(cfg.activation)
        self.conv2 = nn.Conv2d(c_out, c_out, cfg.kernel, padding=pad, bias=cfg.bias)
        self.norm2 = make_norm(cfg.norm, c_out)
        self.act2 = make_activation(cfg.activation)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride=stride, bias=cfg.bias), make_norm(cfg.norm, c_out)
            )
        self.zero_init_last = cfg.norm == "none"

    def reset_residual(self) -> None:
        """Zero the branch's last convolution (only without normalization, see the class docstring)."""
        if self.zero_init_last:
            nn.init.zeros_(self.conv2.weight)
            if self.conv2.bias is not None:
                nn.init.zeros_(self.conv2.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.act1(self.norm1(self.conv1(x)))
        out = self.norm2(self.conv2(out))
        return self.act2(out + self.shortcut(x))


class ResidualCNN(nn.Module):
    """ResNet-style network: stem conv, ``depth`` basic blocks, downsampling (stride-2 convolution, channels
    doubled up to ``max_channels``) in the first block of every ``pool_every`` blocks, then the head."""

    def __init__(self, cfg: CNNConfig):
        super().__init__()
        self.cfg = cfg
        c = _stage_channels(cfg, 0)
        self.stem = nn.Conv2d(cfg.in_channels, c, cfg.kernel, padding=cfg.kernel // 2, bias=cfg.bias)
        self.stem_norm = make_norm(cfg.norm, c)
        self.stem_act = make_activation(cfg.activation)
        h, w = cfg.image_size
        blocks: list[BasicBlock] = []
        stage = 0
        for i in range(cfg.depth):
            stride = 1
            if cfg.pool_every > 0 and i > 0 and i % cfg.pool_every == 0 and min(h, w) >= 2:
                stage += 1
                stride = 2
                h, w = (h + 1) // 2, (w + 1) // 2
            c_out = _stage_channels(cfg, stage)
            blocks.append(BasicBlock(c, c_out, stride, cfg))
            c = c_out
        self.blocks = nn.Sequential(*blocks)
        self.head = _Head(c, (h, w), cfg)
        init_weights(self, cfg.activation)
        for block in blocks:
            block.reset_residual()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem_act(self.stem_norm(self.stem(x)))
        return self.head(self.blocks(x))

    def probe_points(self) -> dict[str, nn.Module]:
        """The stem convolution, each block's output, and the logits."""
        points: dict[str, nn.Module] = {"stem": self.stem}
        points.update({f"block{i + 1}": b for i, b in enumerate(self.blocks)})
        points["logits"] = self.head.fc
        return points

    def probe_groups(self) -> dict[str, list[str]]:
        """The layer mean averages the stream, each block's output; the stem convolution (before its norm
        and activation) is its own group."""
        blocks = [f"block{i + 1}" for i in range(len(self.blocks))]
        return {"hidden": blocks, "stem": ["stem"], "logits": ["logits"]}

    def init_gains(self) -> dict[str, float]:
        """Module name -> the factor this model's own initialisation multiplies its weight by: 0 for each
        branch's last convolution when the blocks have no norm (each block starts as the identity)."""
        return {f"blocks.{i}.conv2": 0.0 for i, block in enumerate(self.blocks) if block.zero_init_last}

    def probe_activations(self) -> dict[str, nn.Module]:
        """The stem's activation; block outputs are already activated and carry the shortcut."""
        return {"stem": self.stem_act}


def build(cfg: CNNConfig, residual: bool) -> nn.Module:
    """Build the plain or residual network for ``cfg``."""
    return ResidualCNN(cfg) if residual else PlainCNN(cfg)

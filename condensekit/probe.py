"""The probe: a fixed, class-balanced batch, and the features and feature gradients at the probe points.

Nothing here disturbs training: the optimizer's gradients (``.grad``) are untouched (gradients come
from ``torch.autograd.grad``), BatchNorm running statistics and every other buffer are restored,
dropout is off, and the RNG stream of training is forked.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from condensekit.data import labels_of


def probe_points(model: nn.Module) -> dict[str, nn.Module]:
    """The model's ``probe_points()``; without it every ``nn.Linear`` and ``nn.Conv2d`` leaf."""
    method = getattr(model, "probe_points", None)
    if callable(method):
        return dict(method())
    return {name: m for name, m in model.named_modules() if isinstance(m, nn.Linear | nn.Conv2d) and not list(m.children())}


def hidden_layer_names(model: nn.Module, points: dict[str, nn.Module]) -> list[str]:
    """Probe points that count as hidden layers: all but ``logits`` (or, by default, the last Linear)."""
    if callable(getattr(model, "probe_points", None)):
        return [name for name in points if name != "logits"]
    return list(points)[:-1]


def choose_probe_indices(labels: torch.Tensor, per_class: int, max_samples: int, seed: int) -> torch.Tensor:
    """A class-balanced subset of indices: up to ``per_class`` per class, at most ``max_samples`` in all."""
    generator = torch.Generator().manual_seed(seed)
    classes = labels.unique().tolist()
    per_class = max(1, min(per_class, max_samples // max(1, len(classes))))
    chosen = []
    for c in classes:
        idx = (labels == c).nonzero().flatten()
        chosen.append(idx[torch.randperm(len(idx), generator=generator)[:per_class]])
    return torch.cat(chosen).sort().values


def make_probe_batch(dataset: Any, per_class: int, max_samples: int, seed: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Pick the probe batch once per run from the training split."""
    indices = choose_probe_indices(labels_of(dataset), per_class, max_samples, seed)
    samples = [dataset[int(i)] for i in indices]
    inputs = torch.stack([torch.as_tensor(x) for x, _ in samples]).float().to(device)
    labels = torch.tensor([int(y) for _, y in samples], dtype=torch.long, device=device)
    return inputs, labels


def _first_tensor(value: Any) -> torch.Tensor | None:
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, tuple | list) and value and isinstance(value[0], torch.Tensor):
        return value[0]
    return None


class Probe:
    """Features, feature gradients and layer inputs on the probe batch at one step, computed lazily once.

    Attributes:
        inputs, labels: the probe batch (on the run's device).
        model: the model being trained.
        points: probe point name -> module.
        step: the step the probe belongs to.
        features: name -> module output ``h`` (detached).
        feature_grads: name -> ``d loss_i / d h_i`` of the per-sample cross-entropy (summed loss).
        layer_inputs: name -> the module's input ``a`` (detached).
        weight_grads: name -> {parameter name -> gradient of the summed probe loss}.
        logits: the model's output on the probe batch (detached).
    """

    def __init__(self, model: nn.Module, inputs: torch.Tensor, labels: torch.Tensor, points: dict[str, nn.Module], step: int):
        self.model = model
        self.inputs = inputs
        self.labels = labels
        self.points = points
        self.step = step
        self._outputs: dict[str, torch.Tensor] | None = None
        self._inputs: dict[str, torch.Tensor] = {}
        self._loss: torch.Tensor | None = None
        self._logits: torch.Tensor | None = None
        self._feature_grads: dict[str, torch.Tensor] | None = None
        self._weight_grads: dict[str, dict[str, torch.Tensor]] | None = None

    def _forward(self) -> None:
        if self._outputs is not None:
            return
        outputs: dict[str, torch.Tensor] = {}
        handles = []

        def hook_for(name: str) -> Any:
            def hook(module: nn.Module, args: tuple[Any, ...], output: Any) -> Any:
                tensor = _first_tensor(output)
                if tensor is None:
                    return None
                outputs[name] = tensor
                first = _first_tensor(args)
                if first is not None:
                    self._inputs[name] = first.detach()
                # hand a copy downstream so a later in-place op cannot change the captured feature
                return (tensor.clone(), *output[1:]) if isinstance(output, tuple) else tensor.clone()

            return hook

        for name, module in self.points.items():
            handles.append(module.register_forward_hook(hook_for(name)))
        # The forward pass may update buffers (BatchNorm running statistics): let it update copies, and
        # put the originals back afterwards. Restoring in place instead would corrupt the saved graph.
        buffers = [(m, name, b) for m in self.model.modules() for name, b in m._buffers.items() if b is not None]
        for m, name, b in buffers:
            m._buffers[name] = b.clone()
        modes = {m: m.training for m in self.model.modules()}
        devices = [self.inputs.device] if self.inputs.device.type == "cuda" else []
        try:
            self.model.train()
            for m in self.model.modules():
                if isinstance(m, nn.Dropout | nn.Dropout1d | nn.Dropout2d | nn.Dropout3d | nn.AlphaDropout):
                    m.eval()
            with torch.random.fork_rng(devices=devices), torch.enable_grad():
                logits = self.model(self.inputs)
        finally:
            for h in handles:
                h.remove()
            for m, name, b in buffers:
                m._buffers[name] = b
            for m, mode in modes.items():
                m.training = mode
        self._outputs = outputs
        self._logits = logits
        self._loss = F.cross_entropy(logits.float(), self.labels, reduction="sum")

    @property
    def features(self) -> dict[str, torch.Tensor]:
        self._forward()
        assert self._outputs is not None
        return {k: v.detach() for k, v in self._outputs.items()}

    @property
    def layer_inputs(self) -> dict[str, torch.Tensor]:
        self._forward()
        return dict(self._inputs)

    @property
    def logits(self) -> torch.Tensor:
        self._forward()
        assert self._logits is not None
        return self._logits.detach()

    @property
    def loss(self) -> float:
        """Mean cross-entropy on the probe batch."""
        self._forward()
        assert self._loss is not None
        return float(self._loss) / len(self.labels)

    @property
    def feature_grads(self) -> dict[str, torch.Tensor]:
        if self._feature_grads is None:
            self._forward()
            assert self._outputs is not None and self._loss is not None
            names = [n for n, t in self._outputs.items() if t.requires_grad]
            grads = torch.autograd.grad(self._loss, [self._outputs[n] for n in names], retain_graph=True, allow_unused=True)
            self._feature_grads = {n: (g if g is not None else torch.zeros_like(self._outputs[n])).detach() for n, g in zip(names, grads, strict=True)}
        return self._feature_grads

    @property
    def weight_grads(self) -> dict[str, dict[str, torch.Tensor]]:
        if self._weight_grads is None:
            self._forward()
            assert self._loss is not None
            params = [(point, pname, p) for point, m in self.points.items() for pname, p in m.named_parameters() if p.requires_grad]
            grads = torch.autograd.grad(self._loss, [p for _, _, p in params], retain_graph=True, allow_unused=True) if params else []
            out: dict[str, dict[str, torch.Tensor]] = {}
            for (point, pname, p), g in zip(params, grads, strict=True):
                out.setdefault(point, {})[pname] = (g if g is not None else torch.zeros_like(p)).detach()
            self._weight_grads = out
        return self._weight_grads

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
from condensekit.layer_groups import HIDDEN, declared_groups


def probe_points(model: nn.Module) -> dict[str, nn.Module]:
    """The model's ``probe_points()``; without it every ``nn.Linear`` and ``nn.Conv2d`` leaf."""
    method = getattr(model, "probe_points", None)
    if callable(method):
        return dict(method())
    return {
        name: m
        for name, m in model.named_modules()
        if isinstance(m, nn.Linear | nn.Conv2d) and not list(m.children())
    }


def hidden_layer_names(model: nn.Module, points: dict[str, nn.Module]) -> list[str]:
    """The hidden layers: the points the mean over hidden layers averages, the model's ``hidden`` group
    (:func:`condensekit.layer_groups.declared_groups`; by default every probe point but ``logits``, or,
    without ``probe_points``, but the last Linear)."""
    return declared_groups(model, list(points))[HIDDEN]


def choose_probe_indices(labels: torch.Tensor, per_class: int, max_samples: int, seed: int) -> torch.Tensor:
    """A class-balanced subset of indices: up to ``per_class`` per class, at most ``max_samples`` in all.

    Every class keeps at least one sample, so with more classes than ``max_samples`` the probe holds one per
    class (a measure between classes needs every class).
    """
    generator = torch.Generator().manual_seed(seed)
    classes = labels.unique().tolist()
    per_class = max(1, min(per_class, max_samples // max(1, len(classes))))
    chosen = []
    for c in classes:
        idx = (labels == c).nonzero().flatten()
        chosen.append(idx[torch.randperm(len(idx), generator=generator)[:per_class]])
    return torch.cat(chosen).sort().values


def make_probe_batch(
    dataset: Any, per_class: int, max_samples: int, seed: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
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


RELU_LIKE = frozenset(
    "relu relu6 leaky_relu leakyrelu prelu rrelu elu celu selu gelu quickgelu gelutanh silu swish mish "
    "hardswish softplus".split()
)
"""Activations (module class names, lower case, or the names a model's ``probe_activations`` gives) that are
zero or nearly zero for negative inputs, so that a unit whose input is <= 0 on every sample is inactive."""
NORMALIZATION = (
    nn.BatchNorm1d,
    nn.BatchNorm2d,
    nn.BatchNorm3d,
    nn.SyncBatchNorm,
    nn.LayerNorm,
    nn.GroupNorm,
    nn.RMSNorm,
    nn.InstanceNorm1d,
    nn.InstanceNorm2d,
    nn.InstanceNorm3d,
)
"""Layers that may sit between a probe point and its activation (the activation's input is then theirs)."""


_RELU_KEYS = frozenset(name.replace("_", "") for name in RELU_LIKE)


def is_relu_like(activation: nn.Module | str) -> bool:
    """Whether an activation module (or name) is ReLU-like (see :data:`RELU_LIKE`)."""
    name = activation if isinstance(activation, str) else type(activation).__name__
    return name.lower().replace("_", "") in _RELU_KEYS


def declared_activations(model: nn.Module) -> dict[str, nn.Module | str] | None:
    """The model's optional ``probe_activations()``: probe point -> the activation that acts on its output.

    A value is the activation module (its input is read, so a normalization in between is accounted for)
    or, for a functional activation applied right to the point's output, its name (``"relu"``). Points
    left out have none. None (no method, or the method returns None): not declared, found during the
    forward pass instead.
    """
    method = getattr(model, "probe_activations", None)
    declared = method() if callable(method) else None
    return None if declared is None else dict(declared)


class Probe:
    """Features, feature gradients and layer inputs on the probe batch at one step, computed lazily once.

    One forward pass serves every probe point; one backward pass gives every feature gradient (a second one
    runs only when a metric asks for parameter gradients of points that are not plain linear layers).

    Attributes:
        inputs, labels: the probe batch (on the run's device).
        model: the model being trained.
        points: probe point name -> module.
        step: the step the probe belongs to.
        features: name -> module output ``h`` (detached).
        feature_grads: name -> ``d loss_i / d h_i`` of the per-sample cross-entropy (summed loss).
        layer_inputs: name -> the module's input ``a`` (detached).
        activation_inputs: name -> the input of the ReLU-like activation that acts on the point's output
            (after a normalization between them, if any), for the points followed by one; the tensor in
            which a unit is "dead". From the model's optional ``probe_activations()``; without it, an
            activation module found during the forward pass that receives a Linear or convolution point's
            output directly or through one normalization layer.
        weight_grads: name -> {parameter name -> gradient of the summed probe loss}.
        logits: the model's output on the probe batch (detached).
        wanted: the quantities asked for at this step (e.g. ``{"feat_inter"}``), or None for all of them.
            A refinement (:mod:`condensekit.replay`) measures only the summary series' quantity; a metric
            may then compute only what is wanted (keys it returns beyond that are not logged), and one that
            ignores ``wanted`` still works. With ``wanted`` set, the forward pass builds no autograd graph
            until a metric asks for gradients (it then runs again with one).
    """

    def __init__(
        self,
        model: nn.Module,
        inputs: torch.Tensor,
        labels: torch.Tensor,
        points: dict[str, nn.Module],
        step: int,
        wanted: frozenset[str] | None = None,
    ):
        self.model = model
        self.inputs = inputs
        self.labels = labels
        self.points = points
        self.step = step
        self.wanted = wanted
        self._graph = wanted is None  # whether the forward pass records a graph for gradients
        self._outputs: dict[str, torch.Tensor] | None = None
        self._inputs: dict[str, torch.Tensor] = {}
        self._activation_inputs: dict[str, torch.Tensor] = {}
        self._loss: torch.Tensor | None = None
        self._logits: torch.Tensor | None = None
        self._feature_grads: dict[str, torch.Tensor] | None = None
        self._weight_grads: dict[str, dict[str, torch.Tensor]] | None = None
        # points declared to be followed by a functional ReLU-like activation
        self._functional: list[str] = []
        self._calls: dict[str, int] = {}  # forward calls of each point's module
        self._shared: set[int] | None = None  # ids of parameters that appear in more than one module

    def _hooks(self, outputs: dict[str, torch.Tensor], modules: list[nn.Module]) -> list[Any]:
        """Forward hooks capturing each point's output and input, and the inputs of the activations after
        them."""
        # id of a tensor handed downstream -> (point, through a norm)
        handed: dict[int, tuple[str, bool]] = {}
        keep: list[torch.Tensor] = []  # keeps those tensors alive so that their ids stay unique
        copies: dict[str, torch.Tensor] = {}  # point -> the copy of its output handed downstream

        def activation_input(name: str, tensor: torch.Tensor) -> torch.Tensor:
            # the point's own output when the activation reads it unchanged: metrics then see one tensor
            return outputs[name].detach() if tensor is copies.get(name) else tensor.detach()

        def point_hook(name: str, leaf: bool) -> Any:
            def hook(module: nn.Module, args: tuple[Any, ...], output: Any) -> Any:
                tensor = _first_tensor(output)
                if tensor is None:
                    return None
                outputs[name] = tensor
                self._calls[name] = self._calls.get(name, 0) + 1
                first = _first_tensor(args)
                if first is not None:
                    self._inputs[name] = first.detach()
                # hand a copy downstream so a later in-place op cannot change the captured feature
                copy = tensor.clone()
                copies[name] = copy
                if leaf:
                    handed[id(copy)] = (name, False)
                    keep.append(copy)
                return (copy, *output[1:]) if isinstance(output, tuple) else copy

            return hook

        def declared_hook(name: str) -> Any:
            def hook(module: nn.Module, args: tuple[Any, ...]) -> None:
                first = _first_tensor(args)
                if first is not None:
                    self._activation_inputs[name] = activation_input(name, first)

            return hook

        def follow_hook(module: nn.Module, args: tuple[Any, ...], output: Any) -> None:
            first, out = _first_tensor(args), _first_tensor(output)
            origin = handed.get(id(first)) if first is not None else None
            if origin is None or out is None or first is None:
                return
            name, through_norm = origin
            if is_relu_like(module):
                self._activation_inputs.setdefault(name, activation_input(name, first))
            elif isinstance(module, NORMALIZATION) and not through_norm and out is not first:
                handed[id(out)] = (name, True)
                keep.append(out)

        declared = declared_activations(self.model)
        handles = []
        for name, module in self.points.items():
            leaf = declared is None and isinstance(module, nn.Linear | nn.Conv1d | nn.Conv2d | nn.Conv3d)
            handles.append(module.register_forward_hook(point_hook(name, leaf)))
        for name, act in (declared or {}).items():
            if isinstance(act, str):  # a functional activation right on the point's output
                if is_relu_like(act):
                    self._functional.append(name)
            elif is_relu_like(act):
                handles.append(act.register_forward_pre_hook(declared_hook(name)))
        if declared is None:
            handles += [
                m.register_forward_hook(follow_hook)
                for m in modules
                if is_relu_like(m) or isinstance(m, NORMALIZATION)
            ]
        return handles

    def _forward(self) -> None:
        if self._outputs is not None:
            return
        outputs: dict[str, torch.Tensor] = {}
        modules = list(self.model.modules())  # walked once: a deep model has many
        handles = self._hooks(outputs, modules)
        # The forward pass may update buffers (BatchNorm running statistics): let it update copies, and
        # put the originals back afterwards. Restoring in place instead would corrupt the saved graph.
        buffers = [(m, name, b) for m in modules for name, b in m._buffers.items() if b is not None]
        for m, name, b in buffers:
            m._buffers[name] = b.clone()
        modes = [(m, m.training) for m in modules]
        devices = [self.inputs.device] if self.inputs.device.type == "cuda" else []
        try:
            if not all(m.training for m in modules):  # model.train() walks every module: only when needed
                self.model.train()
            for m in modules:
                if isinstance(m, nn.Dropout | nn.Dropout1d | nn.Dropout2d | nn.Dropout3d | nn.AlphaDropout):
                    m.eval()
            with torch.random.fork_rng(devices=devices), torch.set_grad_enabled(self._graph):
                logits = self.model(self.inputs)
        finally:
            for h in handles:
                h.remove()
            for m, name, b in buffers:
                m._buffers[name] = b
            for m, mode in modes:
                if m.training != mode:
                    m.training = mode
        for name in self._functional:
            if name in outputs:
                self._activation_inputs[name] = outputs[name].detach()
        self._outputs = outputs
        self._logits = logits
        # half-precision logits: the loss in float32
        wide = logits if logits.dtype == torch.float64 else logits.float()
        self._loss = F.cross_entropy(wide, self.labels, reduction="sum")

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
    def activation_inputs(self) -> dict[str, torch.Tensor]:
        self._forward()
        return dict(self._activation_inputs)

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
        return float(self._loss.detach()) / len(self.labels)

    @property
    def feature_grads(self) -> dict[str, torch.Tensor]:
        if self._feature_grads is None:
            self._backward([])
        assert self._feature_grads is not None
        return self._feature_grads

    def _ensure_graph(self) -> None:
        """Gradients are asked for: when the forward pass ran without a graph (``wanted`` set), forget it so
        that the next one records one."""
        if not self._graph:
            self._graph, self._outputs, self._inputs, self._activation_inputs = True, None, {}, {}
            self._functional, self._calls = [], {}

    def _backward(self, params: list[torch.Tensor]) -> list[torch.Tensor]:
        """One backward pass for every feature gradient not yet computed and for ``params``; returns their
        gradients."""
        self._ensure_graph()
        self._forward()
        assert self._outputs is not None and self._loss is not None
        names = (
            [n for n, t in self._outputs.items() if t.requires_grad] if self._feature_grads is None else []
        )
        targets = [self._outputs[n] for n in names] + params
        grads = (
            torch.autograd.grad(self._loss, targets, retain_graph=True, allow_unused=True) if targets else ()
        )
        filled = [
            (g if g is not None else torch.zeros_like(t)).detach()
            for g, t in zip(grads, targets, strict=True)
        ]
        if self._feature_grads is None:
            self._feature_grads = dict(zip(names, filled[: len(names)], strict=True))
        return filled[len(names) :]

    @property
    def weight_grads(self) -> dict[str, dict[str, torch.Tensor]]:
        if self._weight_grads is None:
            self._ensure_graph()
            self._forward()
            out: dict[str, dict[str, torch.Tensor]] = {}
            plain: dict[str, list[str]] = {}
            others: list[tuple[str, str, torch.Tensor]] = []
            for point, module in self.points.items():
                params = [(pname, p) for pname, p in module.named_parameters() if p.requires_grad]
                if params and self._plain_linear(point, module):
                    plain[point] = [pname for pname, _ in params]
                else:
                    others += [(point, pname, p) for pname, p in params]
            # one backward for the feature gradients (if not yet computed) and every other parameter
            for (point, pname, _), g in zip(others, self._backward([p for _, _, p in others]), strict=True):
                out.setdefault(point, {})[pname] = g
            for point, names in plain.items():  # a linear layer called once: its gradient is sum_i g_i a_i^T
                g, a = self.feature_grads[point], self._inputs[point]
                g2, a2 = g.reshape(-1, g.shape[-1]), a.reshape(-1, a.shape[-1])
                full = {"weight": g2.T @ a2, "bias": g2.sum(0)}
                out[point] = {pname: full[pname] for pname in names}
            self._weight_grads = {point: out[point] for point in self.points if point in out}
        return self._weight_grads

    def _plain_linear(self, point: str, module: nn.Module) -> bool:
        """An ``nn.Linear`` point called once in the forward pass, with parameters no other module shares."""
        if not isinstance(module, nn.Linear) or self._calls.get(point) != 1 or point not in self._inputs:
            return False
        if self._outputs is None or not self._outputs[point].requires_grad:
            return False
        if self._shared is None:
            seen: dict[int, int] = {}
            for _, p in self.model.named_parameters(remove_duplicate=False):
                seen[id(p)] = seen.get(id(p), 0) + 1
            self._shared = {k for k, v in seen.items() if v > 1}
        return not any(id(p) in self._shared for p in module.parameters())

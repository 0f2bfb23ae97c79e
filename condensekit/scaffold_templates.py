"""The files ``condensekit new-plugin`` writes, as :class:`string.Template` texts (``$name``, ``$module``,
...)."""

from __future__ import annotations

PYPROJECT = """\
[build-system]
requires = ["setuptools>=68", "wheel"]
build-backend = "setuptools.build_meta"

[project]
name = "$dist"
version = "0.1.0"
description = "condensekit plugin: the $kind '$name'"
readme = "README.md"
requires-python = ">=3.11"
dependencies = ["condensekit"]

[project.optional-dependencies]
test = ["pytest>=8"]

# This entry point is what makes condensekit load the plugin once the package is installed.
[project.entry-points.condensekit]
$name = "$module"

[tool.setuptools]
packages = ["$module"]

[tool.pytest.ini_options]
testpaths = ["tests"]

[tool.ruff]
line-length = 110
"""

README = """\
# $dist

A [condensekit](https://github.com/condensekit/condensekit) plugin adding the $kind `$name`.

```bash
pip install -e .            # condensekit finds the plugin through its entry point
condensekit plugins         # lists $name with its version and hooks
condensekit list ${kind}s   # shows $name and its parameters
condensekit run example.toml --set train.steps=50
pytest                      # the contract checks and a tiny run, from condensekit.testing
```

Edit `$module/__init__.py`; the tests in `tests/` keep you honest. Switch the plugin off without
uninstalling it: `CONDENSEKIT_DISABLE_PLUGINS=$name condensekit run ...`. See condensekit's
`docs/plugins.md` for every hook.
"""

# the data and training of the example recipes of a model, a trick and a metric
_SYNTHETIC_TRAINING = """\
[data]
use = "synthetic"

[train]
steps = 200
lr = 0.05
"""

RECIPE_PARTS = {
    "recipe": """\
# Try the $kind '$name': condensekit run example.toml
name = "${name}_example"
seeds = [0]
device = "auto"

$recipe_part
""",
    "model": _SYNTHETIC_TRAINING
    + """
[metrics]
condensation = { every = "log:20" }

[[arms]]
name = "$name"
model = { use = "$name", width = 32 }""",
    "trick": _SYNTHETIC_TRAINING
    + """
[[arms]]
name = "mlp"
model = { use = "mlp", depth = 4, width = 32 }

[[arms]]
name = "mlp+$name"
model = { use = "mlp", depth = 4, width = 32 }
tricks = { $name = { strength = 0.0001 } }""",
    "metric": _SYNTHETIC_TRAINING
    + """
[metrics]
$name = { every = "log:20" }

[[arms]]
name = "mlp"
model = { use = "mlp", depth = 4, width = 32 }""",
    "dataset": """\
[data]
use = "$name"
num_classes = 3

[train]
steps = 200
lr = 0.05

[[arms]]
name = "mlp"
model = { use = "mlp", depth = 4, width = 32 }""",
}

_HEADER = '''\
"""condensekit plugin: the $kind ``$name``.

condensekit imports this module in every process (``condensekit --help`` included), so torch is imported
inside functions, never at module level.
"""

from __future__ import annotations

from typing import Any

import condensekit
from pydantic import BaseModel, ConfigDict, Field
'''

# the start of a plugin module's parameters class ($kind: model, trick or dataset)
_PARAMS = '''

class ${Camel}Params(BaseModel):
    """Parameters of ``$name``; the descriptions are what ``condensekit list ${kind}s`` prints."""

    model_config = ConfigDict(extra="forbid")  # a misspelled key in a recipe is an error, not ignored
'''

MODULES = {
    "model": _HEADER
    + _PARAMS
    + '''\
    depth: int = Field(3, ge=2, le=100, description="number of linear layers, the classifier included")
    width: int = Field(64, ge=1, description="units per hidden layer")


def build_$name(params: ${Camel}Params, info: Any) -> Any:
    """Build the network for inputs of shape ``info.input_shape`` and ``info.num_classes`` classes."""
    import math

    from $module.net import ${Camel}Net  # imports torch

    return ${Camel}Net(math.prod(info.input_shape), info.num_classes, params.depth, params.width)


@condensekit.hookimpl
def register_models(register: Any) -> None:
    summary = "ReLU MLP; probe points: each hidden pre-activation, logits"
    register("$name", build_$name, params=${Camel}Params, summary=summary)
''',
    "trick": _HEADER
    + _PARAMS
    + '''\
    strength: float = Field(1e-4, ge=0.0, description="weight of the L1 penalty on the weights")


class ${Camel}Trick:
    """An L1 penalty on every weight matrix, added to the loss at each step.

    One instance is created per run that uses the trick, and its marked methods are called in that run, so
    any run hook can be a method here (``model_overrides``, ``model_built``, ``optimizer_overrides``, ...).
    """

    def __init__(self, params: ${Camel}Params):
        self.params = params

    @condensekit.hookimpl
    def extra_loss(self, run: Any, model: Any, batch: Any, outputs: Any) -> Any:
        if self.params.strength == 0:
            return None
        weights = [p for n, p in model.named_parameters() if n.endswith("weight") and p.dim() >= 2]
        return self.params.strength * sum(w.abs().sum() for w in weights)


@condensekit.hookimpl
def register_tricks(register: Any) -> None:
    register("$name", ${Camel}Trick, params=${Camel}Params, summary="L1 penalty on the weights")
''',
    "metric": _HEADER
    + '''

class ${Camel}Params(BaseModel):
    """Parameters of ``$name`` (``every``, the schedule, is added by condensekit)."""

    model_config = ConfigDict(extra="forbid")  # a misspelled key in a recipe is an error, not ignored
    layers: list[str] | None = Field(None, description="probe points to measure (default: all)")


class ${Camel}Metric:
    """``$name`` at each probe point, on the probe batch: write what it measures in ``collect_metrics``.

    As generated, the measure is a placeholder that runs: the mean L2 norm of the features. Replace that
    line, keep the keys: each is ``<layer>/$name`` and is logged as ``$name/<layer>/$name``.
    ``collect_metrics`` is called at the steps of the metric's ``every`` schedule. Read features from the
    shared ``probe`` (computed once per step for every metric; its attributes are listed in the plugin
    guide) and never call ``backward()`` yourself: training's gradients must stay untouched.
    """

    def __init__(self, params: ${Camel}Params):
        self.params = params

    @condensekit.hookimpl
    def collect_metrics(self, run: Any, probe: Any) -> dict[str, float]:
        from condensekit import measures  # the metrics' math, public API (imports torch: not at the top)

        out = {}
        for layer, h in probe.features.items():  # layer name -> features, a (N, ...) tensor
            if self.params.layers is None or layer in self.params.layers:
                value = measures.mean_norm(h)  # what $name measures: replace this line
                out[f"{layer}/$name"] = float(value)
        return out


# Its part of the report: a figure (report.md, TensorBoard); a series for [summary] series = "$name/$name".
REPORT = condensekit.MetricReport(
    figures=[
        condensekit.Figure(
            name="$name",
            title="$name over training",
            caption="$name at each measured step, mean over the hidden layers.",
            panels=[condensekit.Panel("$name", "$name (mean over hidden layers)")],
        )
    ],
    series=["$name"],
)


@condensekit.hookimpl
def register_metrics(register: Any) -> None:
    register(
        "$name",
        ${Camel}Metric,
        params=${Camel}Params,
        summary="$name per probe point (as generated: the mean feature norm)",
        report=REPORT,
    )
''',
    "dataset": _HEADER
    + _PARAMS
    + '''\
    num_classes: int = Field(3, ge=2, le=100, description="number of classes (one shell each)")
    dim: int = Field(16, ge=2, description="input dimension")
    train_per_class: int = Field(100, ge=1, description="training samples per class")
    test_per_class: int = Field(50, ge=1, description="test samples per class")
    noise: float = Field(0.1, ge=0.0, description="standard deviation of the radius")
    seed: int = Field(0, description="seed of the data, fixed across runs")


def load_$name(params: ${Camel}Params, root: Any) -> Any:
    """Concentric shells: class k lies at radius k + 1 in a random direction.

    ``root`` is the data folder (unused here; file-based datasets read and cache below it). The data
    comes from its own seeded generator so that every run sees the same samples.
    """
    import torch
    from condensekit import DataBundle, DataInfo

    generator = torch.Generator().manual_seed(params.seed)

    def split(per_class: int) -> tuple[Any, Any]:
        labels = torch.arange(params.num_classes).repeat_interleave(per_class)
        direction = torch.randn(len(labels), params.dim, generator=generator)
        direction = direction / direction.norm(dim=1, keepdim=True)
        radius = (labels + 1).float() + params.noise * torch.randn(len(labels), generator=generator)
        return direction * radius[:, None], labels

    info = DataInfo(input_shape=(params.dim,), num_classes=params.num_classes, name="$name")
    train, test = split(params.train_per_class), split(params.test_per_class)
    return DataBundle(train=train, test=test, info=info)


@condensekit.hookimpl
def register_datasets(register: Any) -> None:
    summary = "concentric shells, one class per radius"
    register("$name", load_$name, params=${Camel}Params, summary=summary)
''',
}

NET = '''\
"""The network of the model ``$name``. Imported only inside the factory: this module imports torch."""

from __future__ import annotations

import torch
from torch import nn


class ${Camel}Net(nn.Module):
    """A ReLU MLP whose probe points are the hidden pre-activations and the logits."""

    def __init__(self, in_features: int, num_classes: int, depth: int, width: int):
        super().__init__()
        dims = [in_features] + [width] * (depth - 1)
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:], strict=True))
        self.head = nn.Linear(dims[-1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.flatten(1)
        for layer in self.hidden:
            h = torch.relu(layer(h))
        return self.head(h)

    def probe_points(self) -> dict[str, nn.Module]:
        """Modules whose outputs are the features condensekit measures."""
        points: dict[str, nn.Module] = {f"layer{i + 1}": layer for i, layer in enumerate(self.hidden)}
        points["logits"] = self.head
        return points
'''

_TEST_HEADER = '''\
"""Tests of the $kind ``$name``.

They use condensekit's pytest plugin (fixtures ``tiny_run``, ``plugin_manager``). Run them with
``pytest`` after ``pip install -e .``: they check the installed plugin, entry point included.
"""

from __future__ import annotations

from typing import Any

from condensekit.testing import check_$kind, tiny_recipe


def test_is_installed(plugin_manager: Any) -> None:
    assert "$name" in plugin_manager.catalogue.names("${kind}s")
    assert "$name" not in plugin_manager.load_errors
'''

TESTS = {
    "model": _TEST_HEADER
    + """

def test_contract() -> None:
    check_model("$name", {"depth": 3, "width": 16})


def test_tiny_run(tiny_run: Any) -> None:
    metrics = {"condensation": {"every": "every:1"}}
    recipe = tiny_recipe(model="$name", model_params={"width": 16}, metrics=metrics)
    result = tiny_run(recipe)
    assert "condensation/layer1/feat_inter" in result.runs[0].tags()
""",
    "trick": _TEST_HEADER
    + """

def test_contract() -> None:
    assert check_$kind("$name", {"strength": 0.01}) == ["extra_loss"]


def test_tiny_run(tiny_run: Any) -> None:
    plain = tiny_run(tiny_recipe(steps=5)).summary["final_loss"]
    penalised = tiny_run(tiny_recipe(steps=5, tricks={"$name": {"strength": 0.01}})).summary["final_loss"]
    assert penalised != plain  # the trick changed training
""",
    "metric": _TEST_HEADER
    + """

def test_contract() -> None:
    scalars = check_$kind("$name")
    assert "$name/layer1/$name" in scalars


def test_tiny_run(tiny_run: Any) -> None:
    result = tiny_run(tiny_recipe(metrics={"$name": {"every": "every:1", "layers": ["layer1"]}}))
    tags = result.runs[0].tags()
    assert "$name/layer1/$name" in tags and "$name/layer2/$name" not in tags
""",
    "dataset": _TEST_HEADER
    + """

def test_contract() -> None:
    bundle = check_$kind("$name", {"num_classes": 4, "dim": 5})
    assert bundle.info.input_shape == (5,) and bundle.info.num_classes == 4


def test_tiny_run(tiny_run: Any) -> None:
    recipe = tiny_recipe(data="$name", data_params={"train_per_class": 20, "test_per_class": 5})
    result = tiny_run(recipe)
    assert result.runs[0].status == "ok"
""",
}

"""The ``mlp`` model: it needs a hidden layer, and has as many hidden probe points as hidden layers."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from hostile import write

from condensekit.api import open_recipe
from condensekit.probe import probe_points


def test_an_mlp_needs_a_hidden_layer(tmp_path: Path) -> None:  # mutant: mlp depth = 1 runs
    from condensekit.errors import RecipeError

    with pytest.raises(RecipeError, match=r"arms\[0\].model.depth: must be >= 2, got 1"):
        open_recipe(write(tmp_path), ["arms[0].model.depth=1"])
    from condensekit_plugins.models.mlp import MLPParams, build_mlp

    model = build_mlp(MLPParams(depth=2, width=5), SimpleNamespace(input_shape=(4,), num_classes=3))
    from condensekit.probe import hidden_layer_names

    assert len(hidden_layer_names(model, probe_points(model))) == 1

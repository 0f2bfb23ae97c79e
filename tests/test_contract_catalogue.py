"""Every shipped (and installed) trick, metric and dataset passes the contract a third-party one must pass.

Models are covered by tests/plugins/test_model_contract.py. Parametrized over the live catalogue, so a
new component is checked without touching this file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from condensekit.errors import CondensekitError
from condensekit.manager import get_plugin_manager
from condensekit.testing import check_dataset, check_metric, check_trick

CATALOGUE = get_plugin_manager().catalogue  # plugin modules only; no torch at collection


# Parameters a component needs in the check (required ones, or small sizes to keep the test fast).
EXAMPLE_PARAMS: dict[str, dict[str, Any]] = {
    "activation": {"name": "tanh"},
    "mnist": {"download": False, "subset": 64, "flatten": True},
    "fashion_mnist": {"download": False, "subset": 64, "flatten": True},
    "cifar10": {"download": False, "subset": 64},
    "cifar100": {"download": False, "subset": 64},
    "tiny_imagenet": {"subset": 64},
}


# Datasets that read files this machine may not have: skipped (with the reason) when the files are absent.
NEEDS_FILES = {"mnist", "fashion_mnist", "cifar10", "cifar100", "tiny_imagenet"}


@pytest.mark.parametrize("name", CATALOGUE.names("tricks"))
def test_trick_contract(name: str) -> None:
    check_trick(name, EXAMPLE_PARAMS.get(name))


@pytest.mark.parametrize("name", CATALOGUE.names("metrics"))
def test_metric_contract(name: str) -> None:
    scalars = check_metric(name, EXAMPLE_PARAMS.get(name))
    assert all(key.startswith(f"{name}/") for key in scalars)


@pytest.mark.parametrize("name", CATALOGUE.names("datasets"))
def test_dataset_contract(name: str) -> None:
    try:
        check_dataset(name, EXAMPLE_PARAMS.get(name))
    except CondensekitError as exc:
        if name not in NEEDS_FILES:
            raise
        pytest.skip(f"{str(exc).split(' (')[0].split(';')[0]} (the error says how to get the files)")


def test_the_catalogue_is_not_empty() -> None:
    # guards the parametrizations above against silently collecting nothing
    assert {"momentum", "condensation", "synthetic"} <= {e.name for e in CATALOGUE}


@pytest.mark.hostile
@pytest.mark.parametrize(
    ("name", "params"),
    [("digits", {}), ("digits", {"image": True}), ("synthetic", {"dim": 5, "num_classes": 7})],
)
def test_a_datasets_declared_info_matches_the_data_it_loads(tmp_path: Path, name: str, params: dict) -> None:
    from condensekit.manager import get_plugin_manager

    entry = get_plugin_manager().catalogue.get("datasets", name)
    assert entry.info is not None
    validated = entry.params.model_validate(params)
    declared, loaded = entry.info(validated), entry.build(params, tmp_path).info
    assert (declared.input_shape, declared.num_classes) == (loaded.input_shape, loaded.num_classes)

"""Every shipped recipe validates, says what it asks and how to run it, and runs a few steps."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from condensekit.api import open_recipe
from condensekit.errors import CondensekitError
from condensekit.executing import execute_spec
from condensekit.manager import get_plugin_manager
from condensekit.output import read_run_json

REPO = Path(__file__).resolve().parent.parent
RECIPES = sorted(REPO.joinpath("recipes").rglob("*.toml"))
OFFLINE = {"digits", "synthetic"}


def _id(path: Path) -> str:
    return str(path.relative_to(REPO / "recipes"))


def test_recipes_are_shipped() -> None:
    names = {_id(p) for p in RECIPES}
    mine = {
        "four_tricks",
        "depth_sweep",
        "init_scale",
        "activations",
        "vanishing_vs_condensation",
        "per_layer",
        "neural_collapse",
        "resmlp_vs_mlp",
    }
    assert {f"{n}.toml" for n in mine} <= names


@pytest.mark.parametrize("path", RECIPES, ids=_id)
def test_recipe_validates_and_has_a_header(path: Path) -> None:
    recipe, _ = open_recipe(path, check_machine=False)  # the recipe itself: its data may not be here
    assert recipe.specs, "a recipe expands to at least one run"
    header = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        header.append(line)
    text = "\n".join(header)
    assert "?" in text, f"{path.name}: the header comment must state the question the recipe answers"
    assert f"condensekit run recipes/{_id(path)}" in text, (
        f"{path.name}: the header must give the exact command"
    )
    assert "cost" in text.lower() and "TBD" not in text, (
        f"{path.name}: the header must state what the recipe costs to run"
    )
    names = [s.recipe_name for s in recipe.specs]
    assert len(set(names)) == 1


def _data_available(path: Path) -> str | None:
    """None when the recipe's dataset can be built offline here, else why not."""
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    use = raw.get("data", {}).get("use", "digits")
    if use in OFFLINE:
        return None
    recipe, pm = open_recipe(path, ["seeds=[0]", "data.download=false"], check_machine=False)
    spec = recipe.specs[0]
    try:
        pm.catalogue.get("datasets", spec.data.use).build(spec.data.params, Path(spec.data.root))
    except CondensekitError as exc:
        return str(exc).splitlines()[0]
    return None


@pytest.mark.parametrize("path", RECIPES, ids=_id)
def test_recipe_runs_a_few_steps(path: Path, tmp_path: Path) -> None:
    """Every arm runs 2 steps at the first grid point (the grid itself is covered by validation)."""
    missing = _data_available(path)
    if missing:
        # the first clause only: `condensekit validate` on the recipe prints where the files go and where from
        pytest.skip(f"{missing.split(' (')[0]}; condensekit validate {_id(path)} says how to get it")
    # a small probe: pair metrics are O(N^2)
    sets = ["seeds=[0]", "train.steps=2", "device=cpu", "probe.per_class=2"]
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    use = raw.get("data", {}).get("use", "digits")
    if (
        use not in OFFLINE
        and "subset" in get_plugin_manager().catalogue.get("datasets", use).params.model_fields
    ):
        # the vision datasets take a fixed subset: no full-size tensors in a test
        sets.append("data.subset=200")
    loaded, pm = open_recipe(path, sets)
    specs = loaded.specs
    first = {}
    for spec in specs:
        first.setdefault(spec.arm, spec)
    for spec in first.values():
        outcome = execute_spec(spec, tmp_path, plugin_manager=pm)
        assert outcome.status == "ok", f"{spec.rel_dir}: {read_run_json(tmp_path / spec.rel_dir)}"
        assert (tmp_path / spec.rel_dir / "metrics.jsonl").stat().st_size > 0

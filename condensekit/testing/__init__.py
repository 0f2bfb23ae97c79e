"""Test helpers for plugin authors, shipped as a pytest plugin (entry point ``pytest11: condensekit``).

Fixtures (available in any pytest session once condensekit is installed), from
:mod:`condensekit.testing.fixtures`:

* ``plugin_manager``: a fresh plugin manager with the built-ins and every installed plugin loaded.
* ``tiny_run``: ``tiny_run(recipe, steps=3)`` runs a recipe (a dict or a ``.toml`` path) for a few steps
  on the CPU in the test's ``tmp_path`` and returns a :class:`TinyRun` (run dirs, status, summary, scalars).

Contract checks, one line each in a plugin's tests (they raise ``AssertionError`` naming what is wrong),
from :mod:`condensekit.testing.contracts`::

    from condensekit.testing import check_model, check_trick, check_metric, check_dataset

    def test_contract():
        check_model("my_model")          # a registered name, or the factory itself
        check_trick(MyTrick, params_model=MyTrickParams)

Recipes as dicts and tiny runs (:func:`tiny_recipe`, :func:`write_recipe`, :func:`run_tiny`) are in
:mod:`condensekit.testing.recipes` (``run_tiny`` was called ``run_recipe``; that name still works, with a
deprecation warning, until the next release). This package is imported by every pytest session in an
environment where condensekit is installed, so it imports nothing heavy at module level: torch is imported
inside functions.
"""

from __future__ import annotations

from condensekit.testing.contracts import check_dataset, check_metric, check_model, check_trick
from condensekit.testing.fixtures import plugin_manager, tiny_run
from condensekit.testing.recipes import RunResult, TinyRun, run_recipe, run_tiny, tiny_recipe, write_recipe

__all__ = [
    "RunResult",
    "TinyRun",
    "check_dataset",
    "check_metric",
    "check_model",
    "check_trick",
    "plugin_manager",
    "run_recipe",
    "run_tiny",
    "tiny_recipe",
    "tiny_run",
    "write_recipe",
]

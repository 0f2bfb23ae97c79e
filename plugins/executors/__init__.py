"""The shipped executors. What they share: the optional package an executor needs, imported when it first
runs."""

from __future__ import annotations

import importlib
from typing import Any

import condensekit


def import_optional(module: str, executor: str, name: str, extra: str) -> Any:
    """``import module``, or a CondensekitError saying that ``executor`` needs ``name`` and how to install
    it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise condensekit.CondensekitError(
            f'the {executor} executor needs {name}: pip install "condensekit[{extra}]"'
        ) from exc

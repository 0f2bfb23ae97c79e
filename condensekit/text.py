"""Values written as text, one way each: as TOML writes them, and as short labels (folder names, HParams).

Nothing here imports the rest of condensekit, so every layer (recipes, specs, the report, TensorBoard) can
use it.

* :func:`toml_text`: a value as a recipe writer would type it (``true``, ``"text"``, ``[1, 2]``,
  ``{ key = 1 }``); for error messages and for writing recipes.
* :func:`value_label`: a value as a short label, TOML-like without quotes or spaces and without ``/``
  (``true``, ``xavier_normal``, ``[1,2]``, ``{a=1}``); for grid folder names, tables and HParams.
* :func:`grid_label`: a grid point as ``key=value,key=value`` (``base`` for none).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def toml_text(value: Any) -> str:
    """A value as TOML would write it: ``true``, ``"text"``, ``[1, 2]``, ``{ key = 1 }`` (repr for the
    rest)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return repr(value) if math.isfinite(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, str | Path):
        return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_text(v) for v in value) + "]"
    if isinstance(value, Mapping):
        keys = (k if _BARE_KEY.match(str(k)) else toml_text(str(k)) for k in value)
        return (
            "{ "
            + ", ".join(f"{k} = {toml_text(v)}" for k, v in zip(keys, value.values(), strict=True))
            + " }"
        )
    return repr(value)


def value_label(value: Any) -> str:
    """A value as a short label: TOML-like, no quotes, no spaces, ``/`` written ``_`` (safe in a folder
    name)."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, list | tuple):
        text = "[" + ",".join(value_label(v) for v in value) + "]"
    elif isinstance(value, Mapping):
        text = "{" + ",".join(f"{k}={value_label(v)}" for k, v in value.items()) + "}"
    else:
        text = str(value)
    return text.replace("/", "_").replace(" ", "")


def grid_label(grid: Mapping[str, Any]) -> str:
    """``key=value,key=value`` of a grid point (``base`` for none): the folder name and the report's label."""
    if not grid:
        return "base"
    return ",".join(f"{key}={value_label(value)}" for key, value in grid.items())

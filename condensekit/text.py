"""Values written as text, one way each: as TOML writes them, and as short labels (folder names, HParams).

Nothing here imports the rest of condensekit, so every layer (recipes, specs, the report, TensorBoard) can
use it.

* :func:`toml_text`: a value as a recipe writer would type it (``true``, ``"text"``, ``[1, 2]``,
  ``{ key = 1 }``); for error messages and for writing recipes.
* :func:`value_label`: a value as a short label, TOML-like without quotes or spaces and without ``/``
  (``true``, ``xavier_normal``, ``[1,2]``, ``{a=1}``); for grid folder names, tables and HParams.
* :func:`grid_label`: a grid point as ``key=value,key=value`` (``base`` for none).
* :func:`shorten` and :func:`shown`: text and values as a message shows them: at most a few dozen
  characters of a long value (its start and end, and its length), undecodable bytes and control characters
  escaped, so that no error echoes a 50 MB value or rewrites the terminal.
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
        try:
            return str(value)
        except ValueError:  # more digits than Python converts to text (4300): hexadecimal has no limit
            return hex(value)
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


SHOWN_CHARS = 80
"""How many characters of a value a message shows; a longer one is cut in the middle and its length given."""

_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")


def shorten(text: str, limit: int = SHOWN_CHARS) -> str:
    """``text`` as a message shows it: at most about ``limit`` characters, escaped for a terminal.

    A longer text keeps its start and end around ``…`` and says how long it was
    (``xxxx…xx (50,000,000 characters)``). Undecodable bytes (a command-line argument or a file name that
    is not UTF-8 arrives as lone surrogates) are written ``\\xff``, and control characters but tab (a
    newline, an escape sequence that would recolour or clear the terminal) ``\\x0a``, ``\\x1b``: the
    result is one line.
    """
    if len(text) > limit:
        head = max(1, limit * 2 // 3)
        tail = max(0, limit - head - 1)
        return f"{_printable(text[:head])}…{_printable(text[len(text) - tail :])} ({len(text):,} characters)"
    return _printable(text)


def shown(value: Any, limit: int = SHOWN_CHARS) -> str:
    """A value in a message: as TOML writes it (:func:`toml_text`), shortened (:func:`shorten`)."""
    return shorten(toml_text(value), limit)


def quoted(name: Any, limit: int = SHOWN_CHARS) -> str:
    """A name in a message, in single quotes (``unknown key 'lr'``), shortened (:func:`shorten`)."""
    return f"'{shorten(name, limit)}'" if isinstance(name, str) else shorten(repr(name), limit)


def _printable(text: str) -> str:
    if text.isascii() and not _CONTROL.search(text):
        return text
    try:  # undecodable bytes (surrogateescape) back to the bytes they were, written \xff
        text = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # another lone surrogate (from JSON, say): \ud800
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return _CONTROL.sub(lambda match: f"\\x{ord(match.group()):02x}", text)


def is_utf8(text: str) -> bool:
    """Whether ``text`` (a command-line argument) was UTF-8: undecodable bytes arrive as lone surrogates."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True

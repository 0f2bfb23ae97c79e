"""Where a recipe comes from: a TOML file, TOML text or a dict, with ``--set key=value`` overrides applied.

A :class:`RecipeSource` is the raw recipe data (before validation) plus what messages need: the label
that names it (the file's path), the folder its relative ``plugins`` paths start from, and the problems
found in the ``--set`` overrides. Nothing here knows the catalogue.
"""

from __future__ import annotations

import codecs
import copy
import math
import re
import stat
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from condensekit.catalogue import did_you_mean
from condensekit.errors import Problem, RecipeError, os_error_line
from condensekit.text import quoted, shown

TEXT_LABEL = "<recipe>"


@dataclass
class RecipeSource:
    """Raw recipe data and where it came from.

    Attributes:
        data: the recipe as parsed TOML (``--set`` overrides applied).
        label: what error messages call the recipe: its file path, or ``<recipe>`` for text and dicts.
        folder: where relative ``plugins`` paths are resolved (the recipe's folder, else the current one).
        path: the recipe file, when there is one.
        problems: problems found in the overrides; validation reports them with everything else.
        from_code: the recipe was handed over by Python code (a dict or text), not read from a file; its
            plugin files may lie anywhere, since the code handing it over already runs (see
            :func:`condensekit.recipe.schema.plugin_file_problem`).
    """

    data: dict[str, Any]
    label: str
    folder: Path
    path: Path | None = None
    problems: list[Problem] = field(default_factory=list)
    from_code: bool = False

    @classmethod
    def from_file(cls, path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> RecipeSource:
        """Read a TOML recipe file; a missing file or bad TOML is a RecipeError naming the file."""
        path = Path(path)
        source = cls(read_toml(path), str(path), path.resolve().parent, path)
        source.apply(overrides)
        return source

    @classmethod
    def from_text(
        cls, text: str, overrides: list[str] | tuple[str, ...] = (), folder: str | Path = "."
    ) -> RecipeSource:
        """A recipe given as TOML text (a notebook cell)."""
        source = cls(parse_toml(text, TEXT_LABEL), TEXT_LABEL, Path(folder).resolve(), from_code=True)
        source.apply(overrides)
        return source

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], overrides: list[str] | tuple[str, ...] = (), folder: str | Path = "."
    ) -> RecipeSource:
        """A recipe given as a dict shaped like parsed TOML."""
        check_depth(data, TEXT_LABEL)
        source = cls(copy.deepcopy(dict(data)), TEXT_LABEL, Path(folder).resolve(), from_code=True)
        source.apply(overrides)
        return source

    def apply(self, overrides: list[str] | tuple[str, ...]) -> None:
        """Apply ``--set`` items (``train.steps=10``, ``arms[1].model.depth=4``) to the data."""
        for item in overrides:
            problem = set_override(self.data, item)
            if problem is not None:
                self.problems.append(problem)


MAX_DEPTH = 24
"""How deeply tables and lists may nest in a recipe (a real one nests about 5 deep); deeper is refused
before anything recurses into it, so a hostile file is a clear error, not a RecursionError."""


def nesting_depth(value: Any) -> int:
    """How deeply tables and lists nest in ``value`` (0 for a plain value), without recursion."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, Mapping):
            children: Any = node.values()
        elif isinstance(node, list | tuple):
            children = node
        else:
            continue
        deepest = max(deepest, depth + 1)
        if deepest > MAX_DEPTH:
            return deepest
        stack.extend((child, depth + 1) for child in children)
    return deepest


def check_depth(data: Any, label: str) -> None:
    if nesting_depth(data) > MAX_DEPTH:
        raise too_deep(label)


def too_deep(label: str) -> RecipeError:
    """The error of a recipe whose tables and lists nest deeper than ``MAX_DEPTH``."""
    problem = Problem(
        "",
        f"tables and lists nest more than {MAX_DEPTH} levels deep",
        "a recipe nests a few levels; flatten it",
    )
    return RecipeError(label, [problem])


def parse_toml(text: str, label: str) -> dict[str, Any]:
    """Parse TOML text; bad syntax or absurd nesting is a RecipeError naming ``label``."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RecipeError(label, [toml_problem(exc, text)]) from None
    except ValueError:  # int() refuses more than 4300 digits (sys.get_int_max_str_digits)
        too_long = Problem("", "a number has more than 4300 digits", "no setting takes a number that long")
        raise RecipeError(label, [too_long]) from None
    except RecursionError:  # the parser recurses once per level: a few hundred levels exhaust the stack
        raise too_deep(label) from None
    check_depth(data, label)
    return data


# ----------------------------------------------------------------------------------------------
# Key paths, written as a recipe writer reads them
# ----------------------------------------------------------------------------------------------


def key_path(parts: list[Any] | tuple[Any, ...]) -> str:
    """``["arms", 1, "model", "depth"]`` -> ``arms[1].model.depth``."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


# ----------------------------------------------------------------------------------------------
# TOML files
# ----------------------------------------------------------------------------------------------


def read_toml(path: Path) -> dict[str, Any]:
    """Read a TOML file; a path that is no readable file, text that is not UTF-8 or bad syntax is a
    RecipeError naming the file (never an OSError or a UnicodeDecodeError)."""
    source = str(path)
    _check_is_file(path, source)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise RecipeError(
            source, [Problem("", os_error_line(exc, "cannot be read", with_path=False))]
        ) from None
    return parse_toml(decode_recipe(data, source), source)


_NOT_FILES = (
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _check_is_file(path: Path, source: str) -> None:
    """Raise a RecipeError unless ``path`` is a regular file (or a link to one): a folder, a missing path,
    a FIFO or device (reading one could block forever), or a path the system refuses to look at."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        if path.is_symlink():
            what, fix = "is a symbolic link to a file that does not exist", "fix the link or give the file"
        else:
            what, fix = f"no such recipe file{_near(path)}", "check the path (relative to the current folder)"
        raise RecipeError(source, [Problem("", what, fix)]) from None
    except OSError as exc:  # too long, a loop of links, a folder on the way that may not be entered
        raise RecipeError(
            source, [Problem("", os_error_line(exc, "cannot be opened", with_path=False))]
        ) from None
    if stat.S_ISDIR(mode):
        try:
            found = sorted(str(f) for f in path.glob("*.toml"))
        except OSError:
            found = []
        fix = (
            f"give one of the recipes in it: {', '.join(found[:5])}" if found else "give a .toml recipe file"
        )
        raise RecipeError(source, [Problem("", "is a folder, not a recipe file", fix)])
    kind = next((name for test, name in _NOT_FILES if test(mode)), "")
    if kind:
        fix = "give the path of a .toml file (write a generated recipe to a file first)"
        raise RecipeError(source, [Problem("", f"is {kind}, not a recipe file", fix)])


def _near(path: Path) -> str:
    """``; did you mean 'x.toml'?`` for a recipe file beside a missing one."""
    try:
        return did_you_mean(path.name, sorted(f.name for f in path.parent.glob("*.toml")))
    except OSError:
        return ""


_BYTE_ORDER_MARKS = (
    (codecs.BOM_UTF32_LE, "UTF-32"),
    (codecs.BOM_UTF32_BE, "UTF-32"),
    (codecs.BOM_UTF16_LE, "UTF-16"),
    (codecs.BOM_UTF16_BE, "UTF-16"),
)
SAVE_AS_UTF8 = "save the recipe as UTF-8 (an editor's 'Save as' offers the encoding; or iconv -t utf-8)"


def decode_recipe(data: bytes, source: str) -> str:
    """A recipe file's bytes as text: UTF-8, with or without a byte-order mark. UTF-16 or UTF-32 (a mark
    says so) and bytes that are not UTF-8 (Latin-1, Windows-1252) are a RecipeError naming the line."""
    encoding = next((name for mark, name in _BYTE_ORDER_MARKS if data.startswith(mark)), "")
    if encoding:
        what = f"is {encoding} text (it starts with a {encoding} byte-order mark), not UTF-8"
        raise RecipeError(source, [Problem("", what, SAVE_AS_UTF8)])
    if b"\x00" in data:  # never in TOML text; every other byte of UTF-16 text without a mark
        line = data.count(b"\n", 0, data.index(b"\x00")) + 1
        what = "holds NUL bytes: it is UTF-16 text without a byte-order mark, or not text at all"
        raise RecipeError(source, [Problem(f"line {line}", what, SAVE_AS_UTF8)])
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        what = f"byte 0x{data[exc.start]:02x} at column {column} is not UTF-8 (Latin-1 or Windows-1252 text?)"
        raise RecipeError(source, [Problem(f"line {line}", what, SAVE_AS_UTF8)]) from None


def toml_problem(exc: tomllib.TOMLDecodeError, text: str) -> Problem:
    """Name the line of a TOML syntax error and quote it, so the user sees what the parser saw."""
    match = re.search(r"\(at line (\d+), column (\d+)\)", str(exc))
    if not match:
        if "(at end of document)" in str(exc):
            what = str(exc).replace("(at end of document)", "").strip()
            return Problem(
                "end of file", f"invalid TOML: {what}", "close the last [, { or quote that was opened"
            )
        return Problem("", f"invalid TOML: {exc}", "fix the syntax (see https://toml.io)")
    lineno = int(match.group(1))
    lines = text.splitlines()
    line = f": {quoted(lines[lineno - 1].strip())}" if 0 < lineno <= len(lines) else ""
    what = str(exc)[: match.start()].strip()
    return Problem(
        f"line {lineno}",
        f"invalid TOML: {what}{line}",
        "fix the syntax on that line (strings need quotes, tables are [name])",
    )


# ----------------------------------------------------------------------------------------------
# --set overrides
# ----------------------------------------------------------------------------------------------

# one --set key path segment: a name, a "quoted.name" (grid keys contain dots) or an [index]
_SET_PART = re.compile(r'\.?(?:([A-Za-z0-9_+-]+)|"([^"]*)"|\[(\d+)\])')


def parse_key_path(key: str) -> list[str | int] | None:
    """``arms[1].model.depth`` -> ``["arms", 1, "model", "depth"]``; None when it is not a key path."""
    parts: list[str | int] = []
    pos = 0
    while pos < len(key):
        match = _SET_PART.match(key, pos)
        if match is None or (pos == 0 and key.startswith(".")):
            return None
        name, quoted, index = match.groups()
        if index is not None or (name is not None and name.isdigit()):
            parts.append(int(index if index is not None else name))
        else:
            parts.append(name if name is not None else quoted)
        pos = match.end()
    return parts or None


def _put(data: dict[str, Any], parts: list[str | int], value: Any) -> str | None:
    """Put ``value`` at ``parts`` (creating missing tables); return what is wrong, or None."""
    node: Any = data
    for depth, part in enumerate(parts):
        here = key_path(parts[:depth]) or "the recipe"
        if isinstance(part, int):
            if not isinstance(node, list):
                return f"{here} is not a list, so [{part}] does not exist"
            if part >= len(node):
                return f"{here} has {len(node)} entries, so [{part}] does not exist (the first is [0])"
        elif not isinstance(node, dict):
            return f"{here} is {shown(node)}, not a table, so it has no key {quoted(part)}"
        if depth == len(parts) - 1:
            node[part] = value
        else:
            node = node[part] if isinstance(part, int) else node.setdefault(part, {})
    return None


def set_override(data: dict[str, Any], item: str) -> Problem | None:
    """Apply one ``KEY=VALUE`` item to raw recipe data; return the problem with it, if any.

    The value is read as a TOML value (``3``, ``0.1``, ``true``, ``[0, 1]``, ``"text"``); a bare word that is
    not TOML is taken as a string (``--set data.use=digits``).
    """
    key, sep, text = item.partition("=")
    key = key.strip()
    if not sep or not key:
        return Problem(
            f"--set {item}",
            "expected KEY=VALUE",
            "e.g. --set train.steps=100 or --set 'arms[1].model.depth=4'",
        )
    parts = parse_key_path(key)
    if parts is None:
        return Problem(
            f"--set {item}",
            f"{quoted(key)} is not a key path",
            'write dotted names and [indexes], e.g. arms[0].model.width or grid."model.depth"',
        )
    try:
        value = tomllib.loads(f"v = {text}")["v"]
    except (ValueError, RecursionError):  # not TOML (TOMLDecodeError), or a number of > 4300 digits
        value = text
    # a bare nan/inf on a command line is a word, not a number
    if isinstance(value, float) and not math.isfinite(value):
        value = text.strip()
    if nesting_depth(value) > MAX_DEPTH:
        return Problem(
            f"--set {key}", f"the value nests more than {MAX_DEPTH} levels deep", "give a plain value"
        )
    wrong = _put(data, parts, value)
    return (
        Problem(f"--set {key}", wrong, "check the table names and indexes against the recipe")
        if wrong
        else None
    )

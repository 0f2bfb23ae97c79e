"""Reading recipe input: TOML files, ``--set`` overrides, and pydantic errors turned into Problems.

Everything here speaks the recipe's own language: key paths like ``arms[1].model.depth``, values shown
as they would be written in TOML, and a fix for each problem.
"""

from __future__ import annotations

import copy
import json
import re
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from condensekit.catalogue import did_you_mean
from condensekit.errors import Problem, RecipeError


def _key(parts: list[Any] | tuple[Any, ...]) -> str:
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def pydantic_problems(exc: ValidationError, prefix: list[Any], model: type[BaseModel]) -> list[Problem]:
    """Turn pydantic errors into Problems with a recipe key path, what is wrong and how to fix it."""
    problems = []
    for err in exc.errors():
        loc = list(prefix) + list(err["loc"])
        kind, got, ctx = err["type"], err.get("input"), err.get("ctx") or {}
        fields = sorted(model.model_fields)
        if kind == "extra_forbidden":
            name = str(err["loc"][-1])
            problems.append(Problem(_key(loc), f"unknown key {name!r}{did_you_mean(name, fields)}", f"allowed keys: {', '.join(fields) or '(none)'}"))
            continue
        if kind == "missing":
            problems.append(Problem(_key(loc), "required key is missing", f"add {_example(model, err['loc'])}"))
            continue
        bounds = {"greater_than_equal": ">=", "greater_than": ">", "less_than_equal": "<=", "less_than": "<"}
        if kind in bounds:
            limit = next(iter(ctx.values()))
            problems.append(Problem(_key(loc), f"must be {bounds[kind]} {limit}, got {_toml(got)}", f"use a value {bounds[kind]} {limit}"))
            continue
        if kind in ("literal_error", "enum"):
            problems.append(Problem(_key(loc), f"must be one of {ctx.get('expected')}, got {_toml(got)}", "pick one of those"))
            continue
        what = next((text for prefix_, text in _TYPE_WORDS if kind.startswith(prefix_)), None)
        message = f"must be {what}, got {_toml(got)}" if what else f"{err['msg'][:1].lower()}{err['msg'][1:]}, got {_toml(got)}"
        problems.append(Problem(_key(loc), message, f"e.g. {_example(model, err['loc'])}"))
    return problems


# pydantic error type prefix -> what the value must be, in a recipe writer's words
_TYPE_WORDS = (
    ("int_from_float", "a whole number"), ("int", "a whole number"), ("float", "a number"),
    ("bool", "true or false"), ("string", "a string in quotes"), ("list", "a list like [1, 2]"),
    ("tuple", "a list like [1, 2]"), ("dict", "a table like { key = 1 }"), ("model", "a table like { key = 1 }"),
)  # fmt: skip


def _toml(value: Any) -> str:
    """Show a value as it would be written in TOML (true, "text", [1, 2]), falling back to repr."""
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)


def _example(model: type[BaseModel], loc: tuple[Any, ...]) -> str:
    """``name = <default>`` for the field at ``loc``, or a pointer to ``condensekit list``."""
    info = model.model_fields.get(str(loc[0])) if loc else None
    if info is None:
        return "see `condensekit list` for the expected type"
    name = str(loc[0])
    if info.is_required() or info.default is None:
        annotation = getattr(info.annotation, "__name__", None) or str(info.annotation).replace("typing.", "")
        return f"{name} = <{annotation}> (see `condensekit list`)"
    return f"{name} = {_toml(info.default)}"


def _validate(model: type[BaseModel], data: Any, prefix: list[Any], problems: list[Problem]) -> BaseModel | None:
    if not isinstance(data, dict):
        problems.append(Problem(_key(prefix), f"must be a table, got {data!r}", f"write [{_key(prefix)}] with keys"))
        return None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems.extend(pydantic_problems(exc, prefix, model))
        return None


# ----------------------------------------------------------------------------------------------
# Loading
# ----------------------------------------------------------------------------------------------


def read_toml(path: Path) -> dict[str, Any]:
    """Read a TOML file; a missing file or bad syntax is a RecipeError naming the file."""
    source = str(path)
    if path.is_dir():
        found = sorted(str(f) for f in path.glob("*.toml"))
        fix = f"give one of the recipes in it: {', '.join(found[:5])}" if found else "give the path of a .toml recipe file"
        raise RecipeError(source, [Problem("", "is a folder, not a recipe file", fix)])
    if not path.is_file():
        near = sorted(f.name for f in path.parent.glob("*.toml")) if path.parent.is_dir() else []
        hint = did_you_mean(path.name, near)
        raise RecipeError(source, [Problem("", f"no such recipe file{hint}", "check the path (relative to the current folder)")])
    try:
        text = path.read_text(encoding="utf-8")
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RecipeError(source, [_toml_problem(exc, text)]) from None
    except UnicodeDecodeError as exc:
        raise RecipeError(source, [Problem("", f"not UTF-8 text: {exc}", "save the recipe as UTF-8")]) from None


def _toml_problem(exc: tomllib.TOMLDecodeError, text: str) -> Problem:
    """Name the line of a TOML syntax error and quote it, so the user sees what the parser saw."""
    match = re.search(r"\(at line (\d+), column (\d+)\)", str(exc))
    if not match:
        if "(at end of document)" in str(exc):
            what = str(exc).replace("(at end of document)", "").strip()
            return Problem("end of file", f"invalid TOML: {what}", "close the last [, { or quote that was opened")
        return Problem("", f"invalid TOML: {exc}", "fix the syntax (see https://toml.io)")
    lineno = int(match.group(1))
    lines = text.splitlines()
    quoted = f": {lines[lineno - 1].strip()!r}" if 0 < lineno <= len(lines) else ""
    what = str(exc)[: match.start()].strip()
    return Problem(f"line {lineno}", f"invalid TOML: {what}{quoted}", "fix the syntax on that line (strings need quotes, tables are [name])")


# one --set key path segment: a name, a "quoted.name" (grid keys contain dots) or an [index]
_SET_PART = re.compile(r'\.?(?:([A-Za-z0-9_+-]+)|"([^"]*)"|\[(\d+)\])')


def _parse_key_path(key: str) -> list[str | int] | None:
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


def _set_value(raw: dict[str, Any], parts: list[str | int], value: Any) -> str | None:
    """Put ``value`` at ``parts`` (creating missing tables); return what is wrong, or None."""
    node: Any = raw
    for depth, part in enumerate(parts):
        here = _key(parts[:depth]) or "the recipe"
        if isinstance(part, int):
            if not isinstance(node, list):
                return f"{here} is not a list, so [{part}] does not exist"
            if part >= len(node):
                return f"{here} has {len(node)} entries, so [{part}] does not exist (the first is [0])"
        elif not isinstance(node, dict):
            return f"{here} is {_toml(node)}, not a table, so it has no key {part!r}"
        if depth == len(parts) - 1:
            node[part] = value
        else:
            node = node[part] if isinstance(part, int) else node.setdefault(part, {})
    return None


def apply_overrides(raw: dict[str, Any], overrides: list[str], problems: list[Problem]) -> dict[str, Any]:
    """Apply ``--set key=value`` overrides (``train.steps=10``, ``arms[1].model.depth=4``) to raw TOML data."""
    raw = copy.deepcopy(raw)
    for item in overrides:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            problems.append(Problem(f"--set {item}", "expected KEY=VALUE", "e.g. --set train.steps=100 or --set 'arms[1].model.depth=4'"))
            continue
        parts = _parse_key_path(key)
        if parts is None:
            problems.append(Problem(f"--set {item}", f"{key!r} is not a key path", 'write dotted names and [indexes], e.g. arms[0].model.width or grid."model.depth"'))
            continue
        try:
            value = tomllib.loads(f"v = {text}")["v"]
        except tomllib.TOMLDecodeError:
            value = text  # bare words are strings: --set data.use=digits
        wrong = _set_value(raw, parts, value)
        if wrong:
            problems.append(Problem(f"--set {key}", wrong, "check the table names and indexes against the recipe"))
    return raw



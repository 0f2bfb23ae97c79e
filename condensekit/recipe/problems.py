"""Problems in a recipe, in the recipe writer's words: pydantic errors become "what is wrong" and "how to fix
it".

Validation code never raises on the first problem: it adds to a :class:`Problems` list and goes on, so
every problem is reported at once. Where a value came from (the arm, ``[tricks]``, ``[grid]``, ``--set``)
is known when the problem is added: :class:`Origins` maps each place in a run's configuration to the
recipe key that put the value there, so a message names the key the user must edit.
"""

from __future__ import annotations

import math
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from condensekit.catalogue import did_you_mean
from condensekit.errors import Problem
from condensekit.recipe.source import key_path
from condensekit.schedules import Schedule
from condensekit.text import quoted, shown, toml_text

M = TypeVar("M", bound=BaseModel)
Path_ = tuple[Any, ...]


class Problems(list[Problem]):
    """The problems found so far; duplicates (same key, same message) are kept once."""

    def __init__(self, problems: list[Problem] | tuple[Problem, ...] = ()):
        super().__init__(problems)
        self._seen = {(p.key, p.message) for p in problems}

    def add(self, key: str, message: str, fix: str = "") -> None:
        if (key, message) not in self._seen:
            self._seen.add((key, message))
            self.append(Problem(key, message, fix))


@dataclass
class Origins:
    """Which recipe key put each value of one run's configuration there.

    A configuration path such as ``("model", "depth")`` maps to the recipe key ``arms[1].model.depth``, or to
    ``grid."model.depth"`` when a grid point set it. :meth:`key` finds the longest known prefix of a path and
    appends the rest, so a missing key is reported inside the table it belongs to.
    """

    keys: dict[Path_, str] = field(default_factory=dict)
    from_grid: set[Path_] = field(default_factory=set)
    arm: str = ""

    def note(self, path: Path_, key: str) -> None:
        self.keys[path] = key

    def note_table(self, path: Path_, key: str, table: dict[str, Any]) -> None:
        """The table at ``path`` and each of its keys came from the recipe table ``key``."""
        self.keys[path] = key
        for name in table:
            self.keys[(*path, name)] = key_path([key, name])

    def note_grid(self, path: Path_, grid_key: str) -> None:
        self.keys[path] = f'grid."{grid_key}"'
        self.from_grid.add(path)

    def origin(self, path: Path_) -> tuple[Path_, str]:
        for cut in range(len(path), -1, -1):
            if path[:cut] in self.keys:
                return path[:cut], self.keys[path[:cut]]
        return (), ""

    def key(self, path: Path_) -> str:
        prefix, key = self.origin(path)
        rest = list(path[len(prefix) :])
        if prefix in self.from_grid:  # 'grid."model.depth"' names one value: the rest is inside it
            return key + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in rest)
        return key_path([key, *rest]) if key else key_path(rest)

    def is_grid(self, path: Path_) -> bool:
        return self.origin(path)[0] in self.from_grid

    def add(
        self,
        problems: Problems,
        path: Path_,
        message: str,
        fix: str = "",
        *,
        per_arm: bool = False,
        point: str = "",
    ) -> None:
        """Add a problem about the value at ``path``, keyed where the user wrote it.

        Args:
            per_arm: the value belongs to one arm (its model, tricks or train): a grid key that set it is
                told which arm it failed in.
            point: the grid point, named when the value was not set by the grid itself.
        """
        if self.is_grid(path):
            if message.startswith("unknown key"):
                message = f"matches nothing: {message}"
            elif per_arm and self.arm:
                message = f"{message} (in arm {self.arm!r})"
        elif point:
            message = f"{message} (at grid point {point})"
        problems.add(self.key(path), message, fix)


# pydantic error type prefix -> what the value must be, in a recipe writer's words
_TYPE_WORDS = (
    ("int_from_float", "a whole number"),
    ("int", "a whole number"),
    ("float", "a number"),
    ("bool", "true or false"),
    ("string", "a string in quotes"),
    ("list", "a list like [1, 2]"),
    ("tuple", "a list like [1, 2]"),
    ("dict", "a table like { key = 1 }"),
    ("model", "a table like { key = 1 }"),
)
_BOUNDS = {"greater_than_equal": ">=", "greater_than": ">", "less_than_equal": "<=", "less_than": "<"}


def explain(exc: ValidationError, model: type[BaseModel]) -> list[tuple[Path_, str, str]]:
    """``(location inside the model, what is wrong, how to fix it)`` for each pydantic error."""
    out = []
    fields = sorted(model.model_fields)
    for err in exc.errors():
        loc, kind, got, ctx = tuple(err["loc"]), err["type"], err.get("input"), err.get("ctx") or {}
        if kind == "extra_forbidden":
            name = str(loc[-1])
            out.append(
                (
                    loc,
                    f"unknown key {quoted(name)}{did_you_mean(name, fields)}",
                    f"allowed keys: {', '.join(fields) or '(none)'}",
                )
            )
        elif kind == "missing":
            out.append((loc, "required key is missing", f"add {example(model, loc)}"))
        elif kind in _BOUNDS:
            limit = next(iter(ctx.values()))
            out.append(
                (
                    loc,
                    f"must be {_BOUNDS[kind]} {limit}, got {shown(got)}",
                    f"use a value {_BOUNDS[kind]} {limit}",
                )
            )
        elif kind in ("literal_error", "enum"):
            out.append((loc, f"must be one of {ctx.get('expected')}, got {shown(got)}", "pick one of those"))
        elif kind == "schedule":  # condensekit.schedules.Schedule says what is wrong and how to write one
            out.append((loc, str(ctx.get("message")), str(ctx.get("fix"))))
        else:
            what = next((text for prefix, text in _TYPE_WORDS if kind.startswith(prefix)), None)
            message = (
                f"must be {what}, got {shown(got)}"
                if what
                else f"{err['msg'][:1].lower()}{err['msg'][1:]}, got {shown(got)}"
            )
            out.append((loc, message, f"e.g. {example(model, loc)}"))
    return out


def example(model: type[BaseModel], loc: Path_) -> str:
    """``name = <default>`` for the field at ``loc``, or a pointer to ``condensekit list``."""
    info = model.model_fields.get(str(loc[0])) if loc else None
    if info is None:
        return "see `condensekit list` for the expected type"
    name = str(loc[0])
    default = info.get_default(call_default_factory=True) if not info.is_required() else None
    if default is None:
        annotation = getattr(info.annotation, "__name__", None) or str(info.annotation).replace("typing.", "")
        return f"{name} = <{annotation}> (see `condensekit list`)"
    return f"{name} = {toml_text(str(default) if isinstance(default, Schedule) else default)}"


def validate(model: type[M], data: Any, report: Callable[[Path_, str, str], None], table: str) -> M | None:
    """``model.model_validate(data)``; each problem goes to ``report(location, message, fix)``; None on
    failure.

    Args:
        table: how to write the table in a fix when ``data`` is not a table at all.
    """
    if not isinstance(data, dict):
        report((), f"must be a table, got {shown(data)}", f"write [{table}] with keys")
        return None
    wrong = [
        (name, what)
        for name, value in data.items()
        if isinstance(value, bool) and (what := _number_field(model, name))
    ]
    for name, what in wrong:  # pydantic would read true as 1: `steps = true` is a typo, not one step
        report((name,), f"must be {what}, got {shown(data[name])}", f"e.g. {example(model, (name,))}")
    try:
        checked = model.model_validate(data)
    except ValidationError as exc:
        for loc, message, fix in explain(exc, model):
            report(loc, message, fix)
        return None
    bad = [(loc, value) for loc, value in _floats(checked.model_dump(), ()) if not math.isfinite(value)]
    for loc, value in bad:  # nan (or inf) is never a usable setting: it would run and produce nonsense
        report(loc, f"must be a finite number, got {shown(value)}", f"e.g. {example(model, loc)}")
    return None if wrong or bad else checked


def _number_field(model: type[BaseModel], name: str) -> str:
    """``a whole number`` / ``a number`` when the field takes numbers but not booleans; "" otherwise."""
    info = model.model_fields.get(name)
    if info is None:
        return ""
    kinds = set(typing.get_args(info.annotation)) or {info.annotation}
    if bool in kinds or not kinds & {int, float}:
        return ""
    return "a number" if float in kinds else "a whole number"


def _floats(value: Any, loc: Path_) -> list[tuple[Path_, float]]:
    if isinstance(value, float):
        return [(loc, value)]
    if isinstance(value, dict):
        return [item for key, v in value.items() for item in _floats(v, (*loc, key))]
    if isinstance(value, list | tuple):
        return [item for i, v in enumerate(value) for item in _floats(v, (*loc, i))]
    return []

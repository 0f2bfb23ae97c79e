"""Plain-text documentation of a component's parameters, as ``condensekit list`` prints it.

A pydantic params model already says everything a user needs: the type, the allowed values of a
``Literal``, the bounds of a ``Field(ge=..., lt=...)``, the default and the description. This module turns
one field into ``activation  relu | tanh | ...  (default: relu)`` and its description, like the option
list of a good ``--help``.
"""

from __future__ import annotations

import textwrap
import types
import typing
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.fields import FieldInfo

_BOUNDS = (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<"))


def type_text(annotation: Any) -> str:
    """A type as a user reads it: ``int``, ``relu | tanh``, ``list[str]``, ``float or none``."""
    origin = typing.get_origin(annotation)
    if origin is Literal:
        return " | ".join(str(v) for v in typing.get_args(annotation))
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(annotation)
        shown = [type_text(a) for a in args if a is not type(None)]
        return " | ".join(shown) + (" | none" if len(shown) < len(args) else "")
    if origin is not None:
        inner = ", ".join(type_text(a) for a in typing.get_args(annotation))
        return f"{getattr(origin, '__name__', str(origin))}[{inner}]"
    if annotation is type(None):
        return "none"
    return getattr(annotation, "__name__", None) or str(annotation).replace("typing.", "")


def bounds_text(info: FieldInfo) -> str:
    """``>= 2, <= 200`` from the field's ``ge``/``gt``/``le``/``lt`` constraints; empty when unbounded."""
    parts = []
    for item in info.metadata:
        for attr, sign in _BOUNDS:
            value = getattr(item, attr, None)
            if value is not None:
                parts.append(f"{sign} {value:g}" if isinstance(value, float) else f"{sign} {value}")
    return ", ".join(parts)


def default_text(info: FieldInfo) -> str:
    """``required`` or ``default: <value>`` (strings bare, as a recipe would write them unquoted in a
    list)."""
    if info.is_required():
        return "required"
    value = info.get_default(call_default_factory=True)
    if value is None:
        return "default: none"
    if isinstance(value, bool):
        return f"default: {'true' if value else 'false'}"
    return f"default: {value}"


def field_lines(name: str, info: FieldInfo, width: int = 80, indent: int = 6) -> list[str]:
    """The lines of one parameter: name, type with choices and bounds, default; then the wrapped
    description."""
    kind = type_text(info.annotation)
    bounds = bounds_text(info)
    head = f"{name}: {kind}{', ' + bounds if bounds else ''}"
    default = f"({default_text(info)})"
    pad = " " * indent
    if len(pad) + len(head) + 2 + len(default) <= width:
        lines = [f"{pad}{head}  {default}"]
    else:  # long choice lists wrap between choices; the default goes on its own line
        lines = textwrap.wrap(
            head,
            width=max(40, width),
            initial_indent=pad,
            subsequent_indent=pad + "    ",
            break_on_hyphens=False,
        )
        lines.append(f"{pad}    {default}")
    if info.description:
        lines += textwrap.wrap(
            info.description,
            width=max(40, width),
            initial_indent=pad + "    ",
            subsequent_indent=pad + "    ",
        )
    return lines


def params_lines(params: type[BaseModel], width: int = 80, indent: int = 6) -> list[str]:
    """Every parameter of a params model, in declaration order."""
    lines: list[str] = []
    for name, info in params.model_fields.items():
        lines += field_lines(name, info, width, indent)
    return lines

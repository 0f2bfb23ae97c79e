"""Names that become folders: the recipe, each arm, each grid point. Each must stay inside ``--out``, be one
folder of its own, and fit the file system.

A recipe or arm name of dots (``.``, ``..``) would write outside its folder or into another recipe's; two grid
values written to one folder name (``0.001`` twice, or ``"d/x"`` and ``"d_x"``) would make one point silently
replace the other. All of it is a validation problem, found before anything runs.
"""

from __future__ import annotations

import itertools
import math
import unicodedata
from typing import Any

from condensekit.recipe.problems import Problems
from condensekit.text import quoted, shown, toml_text, value_label

NAME_BYTES = 255
"""The longest file name on common file systems (ext4, xfs, btrfs, APFS, NTFS), in bytes."""

AMBIGUITY_CHECK_LIMIT = 2_000_000
"""Grid points up to which folder names are compared one by one when a value's name holds ``,`` or ``=``."""


def name_problem(name: str) -> str:
    """What is wrong with a recipe or arm name as a folder name ("" when nothing is)."""
    if name.strip(".") == "":
        return f"{name!r} is not a folder name of its own (it names the folder itself or the one above)"
    if len(name.encode()) > NAME_BYTES:
        return f"is {len(name.encode())} bytes long; a folder name takes at most {NAME_BYTES}"
    return ""


def _value_problem(label: str) -> str:
    if any(unicodedata.category(c) == "Cc" for c in label):
        return "holds a control character (a newline, a tab, NUL), which cannot be part of a folder name"
    if any(unicodedata.category(c) == "Cs" for c in label):  # bytes of a command line that are not UTF-8
        return "holds bytes that are not UTF-8 text, which TensorBoard cannot write into a folder name"
    return ""


def _size(label: str) -> int:
    """Bytes of a folder name (one that holds non-UTF-8 bytes, refused by :func:`_value_problem`, too)."""
    return len(label.encode("utf-8", "surrogatepass"))


def check_grid_labels(grid: dict[str, list[Any]], problems: Problems) -> None:
    """Every grid point must get a folder of its own, with a name the file system takes."""
    if not grid:
        return
    keys, all_values = list(grid), list(grid.values())
    parts = [[f"{key}={value_label(v)}" for v in values] for key, values in grid.items()]
    for key, values, labels in zip(keys, all_values, parts, strict=True):
        where = f'grid."{key}"'
        seen: dict[str, int] = {}
        for i, label in enumerate(labels):
            wrong = _value_problem(label)
            if wrong:
                problems.add(where, f"value {shown(values[i])} {wrong}", "use plain values")
            if label in seen:
                first = values[seen[label]]
                if toml_text(first) == toml_text(values[i]) or first == values[i]:
                    problems.add(where, f"lists the value {shown(values[i])} twice", "list each value once")
                else:
                    problems.add(
                        where,
                        f"values {shown(first)} and {shown(values[i])} are written to one folder "
                        f"name {quoted(label)}, so one would replace the other",
                        "use values that differ after '/' and spaces become '_'",
                    )
            seen.setdefault(label, i)
    longest = sum(max(_size(label) for label in labels) for labels in parts) + max(0, len(parts) - 1)
    if longest > NAME_BYTES:
        widest = ",".join(max(labels, key=_size) for labels in parts)
        problems.add(
            "grid",
            (
                f"a grid point's folder name is {longest} bytes long "
                f"({widest[:60]}...); a folder name takes at most {NAME_BYTES}"
            ),
            "vary fewer keys in one grid, or use shorter values",
        )
    if (
        any(
            "," in label.split("=", 1)[1] or "=" in label.split("=", 1)[1]
            for labels in parts
            for label in labels
        )
        and math.prod(map(len, parts)) <= AMBIGUITY_CHECK_LIMIT
    ):
        seen_points: dict[str, tuple[int, ...]] = {}
        for point in itertools.product(*(range(len(labels)) for labels in parts)):
            name = ",".join(parts[k][i] for k, i in enumerate(point))
            if name in seen_points:
                other = seen_points[name]
                problems.add(
                    "grid",
                    (
                        f"grid points {_point(grid, other)} and {_point(grid, point)} "
                        f"are written to one folder name {name!r}"
                    ),
                    "use values without ',' and '=' in them",
                )
                break
            seen_points[name] = point


def _point(grid: dict[str, list[Any]], point: tuple[int, ...]) -> str:
    return (
        "{ "
        + ", ".join(
            f'"{key}" = {toml_text(values[i])}' for (key, values), i in zip(grid.items(), point, strict=True)
        )
        + " }"
    )

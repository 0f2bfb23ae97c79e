"""Runs that should agree but do not: different specs under one arm and grid point, damaged outputs.

A rerun with ``--set seeds=[0]`` after an edit, or run folders copied in from elsewhere, can leave runs of
different specs side by side under one arm. The report never pools them silently: each such group is named
with the keys that differ, in ``report.md`` and on the console.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from condensekit.reuse import comparable, same_spec
from condensekit.text import toml_text


def mixed_spec_notes(rows: Sequence[dict[str, Any]]) -> list[str]:
    """One note per arm and grid point whose runs were made with different specs (seeds aside)."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        if row.get("spec"):
            groups.setdefault((str(row["arm"]), str(row["grid"])), []).append(row)
    notes = []
    for (arm, grid), members in groups.items():
        kinds: list[list[dict[str, Any]]] = []
        for row in members:
            for kind in kinds:
                if same_spec(kind[0]["spec"], row["spec"]):
                    kind.append(row)
                    break
            else:
                kinds.append([row])
        if len(kinds) < 2:
            continue
        flat = [_flat(kind[0]["spec"]) for kind in kinds]
        keys = sorted(
            k for k in set().union(*flat) if k != "seed" and len({toml_text(f.get(k)) for f in flat}) > 1
        )
        seeds = [", ".join(str(r.get("seed")) for r in kind) for kind in kinds]
        what = "; ".join(
            f"{key}: "
            + ", ".join(f"{toml_text(f.get(key))} (seed {s})" for f, s in zip(flat, seeds, strict=True))
            for key in keys[:4]
        )
        notes.append(
            f"**{arm} / {grid} mixes runs of {len(kinds)} different specs** "
            f"({what or 'specs this version cannot read'}). Its numbers pool them; rerun the recipe "
            "(finished runs of an older spec are redone) or remove the stale run folders."
        )
    return notes


def _flat(spec: dict[str, Any]) -> dict[str, Any]:
    try:
        return comparable(spec)
    except Exception:  # a spec this version cannot read
        return {}

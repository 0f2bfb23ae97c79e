"""Runs that should agree but do not: different specs under one arm and grid point, damaged outputs.

A rerun with ``--set seeds=[0]`` after an edit, or run folders copied in from elsewhere, can leave runs of
different specs side by side under one arm. The report never pools them silently: each such group is named
with the keys that differ, in ``report.md`` and on the console.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from condensekit.reuse import same_spec, spec_changes
from condensekit.spec import RunSpec


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
        first = kinds[0][0]["spec"]
        parts = []
        for kind in kinds[1:]:
            try:
                changes = spec_changes(first, RunSpec.from_dict({**kind[0]["spec"], "seed": first.get("seed", 0)}))
            except Exception:  # a spec this version cannot read
                changes = ["a spec this version cannot read"]
            seeds = ", ".join(str(r.get("seed")) for r in kind)
            parts.append(f"seed {seeds}: {'; '.join(changes)}")
        base_seeds = ", ".join(str(r.get("seed")) for r in kinds[0])
        notes.append(f"**{arm} / {grid} mixes runs of {len(kinds)} different specs**: compared with the runs of seed {base_seeds}, "
                     f"{' | '.join(parts)}. Its numbers pool them; rerun the recipe (finished runs of an older spec are redone) "
                     "or remove the stale run folders.")  # fmt: skip
    return notes

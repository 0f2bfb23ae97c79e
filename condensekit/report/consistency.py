"""Runs that should agree but do not: different specs under one arm and grid point, damaged outputs.

A rerun with ``--set seeds=[0]`` after an edit, or run folders copied in from elsewhere, can leave runs of
different specs side by side under one arm. The report never pools them silently: each such group is named
with the keys that differ, in ``report.md`` and on the console.
"""

from __future__ import annotations

from condensekit.report.model import ReportInput
from condensekit.report.rows import RunRow
from condensekit.reuse import comparable
from condensekit.text import toml_text


def mixed_spec_notes(report: ReportInput) -> list[str]:
    """One note per arm and grid point whose runs were made with different specs (seeds aside)."""
    notes = []
    for group in report.groups:
        kinds: list[
            tuple[dict[str, object], list[RunRow]]
        ] = []  # (the spec's keys without the seed, its runs)
        for row in group.rows:
            if row.spec is None:
                continue
            flat = comparable(row.spec)
            flat.pop("seed", None)
            for keys, members in kinds:
                if keys == flat:
                    members.append(row)
                    break
            else:
                kinds.append((flat, [row]))
        if len(kinds) < 2:
            continue
        flat_specs = [keys for keys, _ in kinds]
        differ = sorted(
            k for k in set().union(*flat_specs) if len({toml_text(f.get(k)) for f in flat_specs}) > 1
        )
        seeds = [", ".join(str(r.seed) for r in members) for _, members in kinds]
        what = "; ".join(
            f"{key}: "
            + ", ".join(f"{toml_text(f.get(key))} (seed {s})" for f, s in zip(flat_specs, seeds, strict=True))
            for key in differ[:4]
        )
        notes.append(
            f"**{group.arm} / {group.grid} mixes runs of {len(kinds)} different specs** ({what}). Its "
            "numbers pool them; rerun the recipe (finished runs of an older spec are redone) or remove the "
            "stale run folders."
        )
    return notes

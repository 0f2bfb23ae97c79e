"""What a mutant of ``scripts/mutants.py`` is, and the shortened paths the mutant lists name."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Mutant:
    module: str
    path: str
    original: str
    replacement: str
    bug: str
    equivalent: str | None = None


M = Mutant
PA, SI, SP, WG, CO = (
    f"condensekit/measures/{n}.py" for n in ("pairs", "similarity", "spectrum", "weight_grads", "collapse")
)
PH, PR, OUT = "condensekit/phases.py", "condensekit/probe.py", "condensekit/output.py"
SAFE = "condensekit/safe_files.py"
QT, CELLS, LG = "condensekit/quantities.py", "condensekit/cells.py", "condensekit/layer_groups.py"
RT = "condensekit/report/rank_tests.py"
REF, REP, SNAP = "condensekit/refine.py", "condensekit/replay.py", "condensekit/snapshots.py"
SEA = "condensekit/search.py"
ROWS, TAB, CMP, ANS, MD, MOD, SW = (
    f"condensekit/report/{n}.py"
    for n in ("rows", "tables", "compare", "answer", "markdown", "model", "sweeps")
)
TR = "plugins/tricks/"

"""The answer in words: one sentence per arm (and grid point), generated from the numbers of its seeds.

Example: ``mlp: a first phase in 5/5 seeds (T1 410 [380, 455]); the similarity rises 0.18 [0.15, 0.2] and
peaks during phase 1 in 5/5 seeds, then falls back (condensed in 5/5). resmlp: no first phase in 5/5 seeds
(T1 11 [10, 12]); ...``. Every clause comes from a count or a median [min, max] of the runs that finished
ok; where the seeds disagree or are fewer than :data:`FEW_SEEDS`, the sentence says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from condensekit.phases import has_first_phase
from condensekit.report.rows import thresholds_in_force
from condensekit.report.tables import grouped, median_range
from condensekit.status import RunStatus

FEW_SEEDS = 3  # fewer ok seeds than this: a range, not evidence


def _of(k: int, n: int) -> str:
    return f"{k}/{n} seeds" if n != 1 else ("1 seed" if k else "0/1 seeds")


def _first_phase(row: dict[str, Any]) -> bool:
    return has_first_phase(row.get("phase1_end"), int(row.get("smoothing_window") or 20))


def phase_clause(ok: Sequence[dict[str, Any]]) -> str:
    """Whether the loss had a first phase: how many seeds, with T1 (stuck seeds counted apart)."""
    n = len(ok)
    with_phase = [r for r in ok if _first_phase(r)]
    stuck = sum(1 for r in ok if r.get("phase1_end") is None)
    t1 = median_range([r.get("phase1_end") for r in ok])
    if stuck == n:
        return f"the loss never leaves its plateau ({_of(n, n)} stuck)"
    stuck_text = f", {stuck} never left it" if stuck else ""
    if not with_phase:
        return f"no first phase in {_of(n, n)} (T1 {t1}: the loss falls from the start)"
    return f"a first phase in {_of(len(with_phase), n)} (T1 {t1}{stuck_text})"


def similarity_clause(ok: Sequence[dict[str, Any]], rise: float, series: str = "the similarity") -> str:
    """What the layer-mean similarity did: alike from step 0, its rise and peak, where the peak fell, the
    verdict."""
    n = len(ok)
    collapsed = sum(1 for r in ok if r.get("collapsed_at_init"))
    risen = sum(1 for r in ok if isinstance(r.get("dS"), int | float) and r["dS"] >= rise)
    condensed = sum(1 for r in ok if r.get("condensed"))
    parts = []
    if collapsed:
        parts.append(f"the features are alike from step 0 (collapsed at init) in {_of(collapsed, n)}")
    if collapsed == n:
        return "; ".join(parts)
    # where the peak fell against T1 means something only in the seeds that had a first phase
    phased = [r for r in ok if _first_phase(r)]
    during = sum(1 for r in phased if r.get("peak_phase") == "phase1")
    after = sum(1 for r in phased if r.get("peak_phase") == "phase2")
    where = " and ".join(
        w
        for w, k in (
            (f"during phase 1 in {during}/{n}", during),
            (f"after T1 in {after}/{n}", after),
            (f"no first phase to compare with in {n - len(phased)}/{n}", n - len(phased)),
        )
        if k
    )
    parts.append(
        f"{series} goes from {median_range(r.get('S0') for r in ok)} to a peak of "
        f"{median_range(r.get('peak') for r in ok)} at step {median_range(r.get('peak_step') for r in ok)} "
        f"({where or 'no peak'}), a rise of {median_range(r.get('dS') for r in ok)}"
    )
    if not risen:
        parts.append(f"no seed rises by {rise:g}, so none condensed")
    else:
        parts.append(
            f"it rises by {rise:g} or more in {risen}/{n} and is condensed "
            f"(rises, then falls back or stays stuck) in {condensed}/{n}"
        )
    return "; ".join(parts)


def arm_sentence(
    arm: str, runs: Sequence[dict[str, Any]], rise: float, series: str = "the similarity"
) -> str:
    """One sentence for one arm (one grid point): its phases, its similarity, and how thin the evidence is."""
    ok = [r for r in runs if r["status"] == RunStatus.OK]
    others = len(runs) - len(ok)
    if not ok:
        return f"{arm}: no run finished ok ({len(runs)} runs), nothing to say."
    sentence = f"{arm}: {phase_clause(ok)}; {similarity_clause(ok, rise, series)}."
    notes = []
    if others:
        notes.append(f"{others} of {len(runs)} runs did not finish ok and are left out")
    if len(ok) < FEW_SEEDS:
        notes.append(f"only {len(ok)} seed{'s' if len(ok) != 1 else ''}: too few to conclude")
    elif _disagree(ok):
        notes.append("the seeds disagree")
    return sentence + (f" ({'; '.join(notes)}.)" if notes else "")


def _disagree(ok: Sequence[dict[str, Any]]) -> bool:
    verdicts = {bool(r.get("condensed")) for r in ok}
    phases = {_first_phase(r) for r in ok}
    return len(verdicts) > 1 or len(phases) > 1


def answer(rows: Sequence[dict[str, Any]]) -> list[str]:
    """One sentence per arm and grid point, in the verdict table's order."""
    th = thresholds_in_force(rows)[0]
    series = f"{th.series.rpartition('/')[2]} (mean over hidden layers)" if th.series else "the similarity"
    lines = []
    for (arm, grid), runs in grouped(rows).items():
        label = arm if grid == "base" else f"{arm} ({grid})"
        lines.append(arm_sentence(label, runs, th.rise, series))
    return lines

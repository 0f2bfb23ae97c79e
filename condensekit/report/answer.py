"""The answer in words: one sentence per arm (and grid point), generated from the numbers of its seeds.

Example: ``mlp: a first phase in 5/5 seeds (T1 410 [380, 455]); the similarity rises 0.18 [0.15, 0.2] and
peaks during phase 1 in 5/5 seeds, then falls back (condensed in 5/5). resmlp: no first phase in 5/5 seeds
(T1 11 [10, 12]); ...``. Every clause comes from a count or a median [min, max] of the runs that finished
ok; where the seeds disagree or are fewer than :data:`FEW_SEEDS`, the sentence says so.
"""

from __future__ import annotations

from collections.abc import Sequence

from condensekit.phases import RunSummary
from condensekit.quantities import median_range
from condensekit.report.model import Group, ReportInput

FEW_SEEDS = 3  # fewer ok seeds than this: a range, not evidence


def _of(k: int, n: int) -> str:
    return f"{k}/{n} seeds" if n != 1 else ("1 seed" if k else "0/1 seeds")


def phase_clause(ok: Sequence[RunSummary]) -> str:
    """Whether the loss had a first phase: how many seeds, with T1 (stuck seeds counted apart)."""
    n = len(ok)
    with_phase = [s for s in ok if s.first_phase]
    stuck = sum(1 for s in ok if s.phase1_end is None)
    t1 = median_range([s.phase1_end for s in ok])
    if stuck == n:
        return f"the loss never leaves its plateau ({_of(n, n)} stuck)"
    stuck_text = f", {stuck} never left it" if stuck else ""
    if not with_phase:
        return f"no first phase in {_of(n, n)} (T1 {t1}: the loss falls from the start)"
    return f"a first phase in {_of(len(with_phase), n)} (T1 {t1}{stuck_text})"


def similarity_clause(ok: Sequence[RunSummary], rise: float, series: str = "the similarity") -> str:
    """What the layer-mean similarity did: alike from step 0, its rise and peak, where the peak fell, the
    verdict."""
    n = len(ok)
    collapsed = sum(1 for s in ok if s.collapsed_at_init)
    risen = sum(1 for s in ok if s.mean.dS is not None and s.mean.dS >= rise)
    condensed = sum(1 for s in ok if s.condensed)
    parts = []
    if collapsed:
        parts.append(f"the features are alike from step 0 (collapsed at init) in {_of(collapsed, n)}")
    if collapsed == n:
        return "; ".join(parts)
    # where the peak fell against T1 means something only in the seeds that had a first phase
    phased = [s for s in ok if s.first_phase]
    during = sum(1 for s in phased if s.peak_phase == "phase1")
    after = sum(1 for s in phased if s.peak_phase == "phase2")
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
        f"{series} goes from {median_range(s.mean.S0 for s in ok)} to a peak of "
        f"{median_range(s.mean.peak for s in ok)} at step {median_range(s.mean.peak_step for s in ok)} "
        f"({where or 'no peak'}), a rise of {median_range(s.mean.dS for s in ok)}"
    )
    if not risen:
        parts.append(f"no seed rises by {rise:g}, so none condensed")
    else:
        parts.append(
            f"it rises by {rise:g} or more in {risen}/{n} and is condensed "
            f"(rises, then falls back or stays stuck) in {condensed}/{n}"
        )
    return "; ".join(parts)


def arm_sentence(group: Group, rise: float, series: str = "the similarity") -> str:
    """One sentence for one arm (one grid point): its phases, its similarity, and how thin the evidence is."""
    ok = [r.summary for r in group.ok if r.summary is not None]
    others = len(group.rows) - len(ok)
    if not ok:
        return f"{group.label}: no run finished ok ({len(group.rows)} runs), nothing to say."
    sentence = f"{group.label}: {phase_clause(ok)}; {similarity_clause(ok, rise, series)}."
    notes = []
    if others:
        notes.append(f"{others} of {len(group.rows)} runs did not finish ok and are left out")
    if len(ok) < FEW_SEEDS:
        notes.append(f"only {len(ok)} seed{'s' if len(ok) != 1 else ''}: too few to conclude")
    elif _disagree(ok):
        notes.append("the seeds disagree")
    return sentence + (f" ({'; '.join(notes)}.)" if notes else "")


def _disagree(ok: Sequence[RunSummary]) -> bool:
    verdicts = {s.condensed for s in ok}
    phases = {s.first_phase for s in ok}
    return len(verdicts) > 1 or len(phases) > 1


def answer(report: ReportInput) -> list[str]:
    """One sentence per arm and grid point, in the verdict table's order."""
    series = report.series
    words = f"{series.rpartition('/')[2]} (mean over hidden layers)" if series else "the similarity"
    return [arm_sentence(group, report.thresholds.rise, words) for group in report.groups]

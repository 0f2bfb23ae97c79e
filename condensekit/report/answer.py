"""The answer in words: one sentence per arm (and grid point), generated from the numbers of its seeds.

Example: ``mlp: a first phase in 5/5 seeds (T1 410 [380, 455]); the similarity rises 0.18 [0.15, 0.2] and
peaks during phase 1 in 5/5 seeds, then falls back (condensed in 5/5). resmlp: no first phase in 5/5 seeds
(T1 11 [10, 12]); ...``. Every clause comes from a count or a median [min, max] of the runs that finished
ok; where the seeds disagree or are fewer than :data:`FEW_SEEDS`, the sentence says so.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence

from condensekit.cells import median_range, name_counts
from condensekit.phases import RunSummary
from condensekit.report.model import Group, ReportInput

FEW_SEEDS = 3  # fewer ok seeds than this: a range, not evidence
_NUMBERED = re.compile(r"^(.*?)(\d+)(\D*)$")


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


def layer_ranges(order: Sequence[str], chosen: Collection[str]) -> str:
    """The ``chosen`` layers written as ranges of neighbours in ``order`` (the hidden layers, first to last).

    The chosen layers split into runs of layers that are next to each other in ``order``; runs are joined
    by ``, `` in that order. A run of one layer is its name; a longer run is ``first-last`` written once
    when both names are one prefix, a number and one suffix (``layer4-8``, ``block1-3@mean``), else
    ``first to last`` (``stem to block2``). Names are never renumbered: what is written is what the tables
    and TensorBoard call them.
    """
    runs: list[list[str]] = []
    for i, name in enumerate(order):
        if name not in chosen:
            continue
        if runs and i > 0 and order[i - 1] == runs[-1][-1]:
            runs[-1].append(name)
        else:
            runs.append([name])
    return ", ".join(_run_text(run[0], run[-1]) if len(run) > 1 else run[0] for run in runs)


def _run_text(first: str, last: str) -> str:
    a, b = _NUMBERED.match(first), _NUMBERED.match(last)
    if a and b and a.group(1) == b.group(1) and a.group(3) == b.group(3):
        return f"{a.group(1)}{a.group(2)}-{b.group(2)}{a.group(3)}"
    return f"{first} to {last}"


def _seeds(low: int, high: int, n: int) -> str:
    return f"{low}/{n}" if low == high else f"{low}-{high}/{n}"


def layers_clause(ok: Sequence[RunSummary]) -> str:
    """Which hidden layers condense on their own, in how many seeds, and where the largest single-layer rise
    is: the layers that condense in a majority of the seeds (``at least m/n``), then those that condense in
    fewer (``in 1-2/n``), as :func:`layer_ranges` writes them."""
    n = len(ok)
    order = max((s.hidden_layers for s in ok), key=len, default=())
    counts = {
        name: sum(1 for s in ok if name in s.layers and s.layers[name].condensed)
        for name in dict.fromkeys(k for s in ok for k in order if k in s.layers)
    }
    if not counts:
        return ""
    majority = n // 2 + 1
    strong = [k for k, c in counts.items() if c >= majority]
    weak = {k: c for k, c in counts.items() if 0 < c < majority}
    top = (
        f"the largest single-layer rise is {median_range(s.dS_max for s in ok)}, "
        f"in {name_counts([s.dS_max_layer for s in ok])}"
    )
    if not strong and not weak:
        return f"no single hidden layer condenses in any seed ({top})"
    parts = []
    if strong:
        verb = "condenses" if len(strong) == 1 else "condense"
        parts.append(f"{layer_ranges(order, strong)} {verb} in at least {majority}/{n} seeds")
    if weak:
        lead = "" if strong else ("condenses" if len(weak) == 1 else "condense") + " "
        seeds = _seeds(min(weak.values()), max(weak.values()), n)
        parts.append(f"{layer_ranges(order, weak)} {lead}in {seeds} seeds")
    return f"per layer, {', '.join(parts)} ({top})"


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
    drop = [s.mean.peak_loss_drop for s in ok if s.mean.peak_loss_drop is not None]
    drop_text = f"; {median_range(drop)} of the loss's drop done by then" if drop else ""
    parts.append(
        f"{series} goes from {median_range(s.mean.S0 for s in ok)} to a peak of "
        f"{median_range(s.mean.peak for s in ok)} at step {median_range(s.mean.peak_step for s in ok)} "
        f"({where or 'no peak'}{drop_text}), a rise of {median_range(s.mean.dS for s in ok)}"
    )
    no_start = sum(1 for s in ok if s.mean.S0 is None and s.mean.peak is not None)
    if no_start:
        parts.append(f"no S0 in {_of(no_start, n)} (the value at step 0 is not finite), so no rise there")
    if not risen:
        parts.append(f"no seed rises by {rise:g}, so none condensed")
    else:
        parts.append(
            f"it rises by {rise:g} or more in {risen}/{n} and is condensed "
            f"(rises, then falls back or stays stuck) in {condensed}/{n}"
        )
    if layers := layers_clause(ok):
        parts.append(layers)
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

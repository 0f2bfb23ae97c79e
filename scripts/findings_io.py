"""What scripts/findings.py reads and writes besides the page: the per-run CSVs, the measured costs and load,
the recipes' cost lines, and the README's main-job block."""

from __future__ import annotations

import csv
import io
import os
import resource
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from findings_stats import Stats

from condensekit import quantities
from condensekit.report import ReportInput, RunRow, answer, render_text, verdict

ROOT = Path(__file__).resolve().parent.parent


def runs_csv(rows: Sequence[RunRow], columns: Sequence[str]) -> str:
    """The per-run numbers behind a section's tables (summary.csv without timings and paths)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in sorted(rows, key=lambda r: (r.arm, r.grid, r.seed if isinstance(r.seed, int) else -1)):
        values = row.values()
        writer.writerow(
            {
                k: ""
                if values[k] is None
                else (f"{values[k]:.6g}" if isinstance(values[k], float) else str(values[k]))
                for k in columns
            }
        )
    return buffer.getvalue()


def span(rows: Sequence[RunRow]) -> float:
    """From the first run's start to the last run's end, by the times in their run.json."""
    starts = [r.started for r in rows if r.started is not None]
    ends = [r.started + r.seconds for r in rows if r.started is not None and r.seconds is not None]
    return max(ends) - min(starts) if starts and ends else 0.0


def children_cpu() -> float:
    """CPU seconds (user + system) of this process's finished children and the workers they waited for."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class LoadSampler:
    """The machine's 1-minute load average, sampled every ``every`` seconds in a thread while a section
    runs (``with LoadSampler() as load: ...; load.samples``)."""

    def __init__(self, every: float = 30.0) -> None:
        self.every = every
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while True:
            self.samples.append(os.getloadavg()[0])
            if self._stop.wait(self.every):
                return

    def __enter__(self) -> LoadSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()
        self.samples.append(os.getloadavg()[0])

    def summary(self) -> list[float]:
        """``[min, median, max]`` of the samples, rounded to 0.1."""
        ordered = sorted(self.samples)
        return [round(ordered[0], 1), round(ordered[len(ordered) // 2], 1), round(ordered[-1], 1)]


def state_cost_in_header(recipe: Path, cost: dict) -> None:
    """Write the section's measured cost into its recipe's header comment (a ``# Cost: ...`` line)."""
    line = (
        f"# Cost: {cost['runs']} runs, {cost['wall_s'] / 60:.0f} min wall-clock with --jobs 2 (1 thread "
        "each) on 2 CPU cores shared with other jobs.\n"
    )
    lines = recipe.read_text(encoding="utf-8").splitlines(keepends=True)
    header = next(i for i, text in enumerate(lines) if not text.startswith("#"))
    at = next((i for i in range(header) if "Cost:" in lines[i]), None)
    if at is None:  # before the blank comment line that precedes the commands
        lines.insert(next(i for i in range(header) if lines[i].strip() == "#"), line)
    else:
        end = at + 1  # a cost statement may go on over the following comment lines
        while end < header and lines[end].startswith("# ") and not lines[end].startswith("#  "):
            end += 1
        before = lines[at][: lines[at].index("Cost:")].rstrip()
        lines[at:end] = ([before + "\n"] if before.strip() != "#" else []) + [line]
    recipe.write_text("".join(lines), encoding="utf-8")


def readme_block(report: ReportInput, s: Stats, cost: dict | None) -> str:
    """The README's main-job block: what the job runs and costs, its printed output, and what the numbers
    say (built from them, no more)."""
    mlp, res = s.arm("mlp"), s.arm("resmlp")
    printed = render_text(verdict(report), quantities.headers()) + "\n\n" + "\n".join(answer(report))
    cost_text = (
        f"{cost['runs']} runs, {cost['wall_s'] / 60:.1f} min wall-clock with 2 worker processes of one torch "
        "thread each on 2 CPU cores shared with other jobs (`docs/findings.md` states the load)"
        if cost
        else "10 runs"
    )
    from findings_text import layers_text, versus  # the phrases of the page

    reading = (
        f"The plain MLP has a first phase in {mlp.of(mlp.first_phase)} seeds (T1 {mlp.cell('phase1_end')}), "
        f"the residual MLP in {res.of(res.first_phase)} (T1 {res.cell('phase1_end')}); "
        f"{versus(s, 'resmlp', 'phase1_end', 'its T1 is')}. The plain MLP's layer-mean `feat_inter` starts "
        f"at {mlp.cell('S0')} and rises {mlp.cell('dS')}, so {mlp.of(mlp.condensed)} seeds are `condensed` "
        f"by the layer mean; per layer, {layers_text(mlp)}. The per-layer table in `report.md` shows each "
        "layer, and `docs/findings.md` puts these numbers beside the other recipes and Fashion-MNIST."
    )
    return (
        "The main job trains a plain 12-layer ReLU MLP and a 12-layer residual MLP, both of width 128, "
        "on scikit-learn's 8x8 digits (offline, bundled), 5 seeds each, 1000 SGD steps at lr 0.02: "
        f"{cost_text}. One torch thread per worker, so the numbers below reproduce exactly. After the "
        "progress display it prints the verdict and one sentence per arm (as written to a file; a narrow "
        "terminal gets the medians only):\n\n```\n" + printed + "\n```\n\n" + reading + "\n"
    )


def update_readme(report: ReportInput, s: Stats, cost: dict | None, legend: str, write: bool = True) -> None:
    """Replace the README's main-job block (between its markers) with :func:`readme_block` and ``legend``
    (the definitions kept from the README as it is); its prose is checked like the page's (``write``
    False: checked only)."""
    readme = ROOT / "README.md"
    text = readme.read_text(encoding="utf-8")
    start, end = text.find("<!-- main-job:start -->"), text.find("<!-- main-job:end -->")
    if start < 0 or end < 0:
        s.failures.append("README.md has no main-job markers")
        return
    head = start + len("<!-- main-job:start -->\n")
    block = readme_block(report, s, cost)
    from findings_text import unsupported_wording

    s.failures += [f"README: {t}" for t in unsupported_wording([block.split("```")[-1]])]
    if write:
        readme.write_text(text[:head] + block + legend + text[end:], encoding="utf-8")


def readme_legend() -> str:
    """The definitions part of the README's main-job block (from its first ``* **T1**`` line to the end)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start, end = text.find("<!-- main-job:start -->"), text.find("<!-- main-job:end -->")
    block = text[start:end]
    at = block.find("\n* **T1**")
    return block[at:] if at >= 0 else ""

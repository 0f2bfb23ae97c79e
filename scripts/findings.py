"""Regenerate ``docs/findings.md``: run the shipped recipes and write what they show, numbers first.

    python scripts/findings.py                        # every section: see docs/findings.md for the cost
    python scripts/findings.py --only four_tricks     # one section (the page keeps the others' runs)
    python scripts/findings.py --part digits          # the fast offline part only

Each section runs ``condensekit run <recipe> --out runs/findings/<part> --jobs 2 --set seeds=[...]
--set executor.threads=1 --set device=cpu`` (the exact command is printed and written under the result):
one torch thread per run, so every number reproduces exactly with that command on the same software. It
then reads the finished runs back with the report code (the report re-runs nothing), checks every claim
of the section's prose against those numbers (scripts/findings_text.py), and writes the tables, the
answer sentences, the comparisons, the figures and the prose into ``docs/findings.md``. A claim that no
longer holds is marked in the page and the script exits with status 1.

Finished runs are skipped on a second call (condensekit's resume), so rerunning only rewrites the page;
delete ``runs/findings`` to measure from scratch. The wall time of each section's runs is kept in
``docs/findings/costs.json`` from the last call that actually ran them.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import resource
import shlex
import shutil
import subprocess
import sys
import time
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from condensekit import quantities
from condensekit.report import (
    ReportInput,
    RunRow,
    answer,
    collect,
    comparison_table,
    layer_table,
    render_markdown,
    render_text,
    sweep_table,
    verdict,
    write_report,
)

ROOT = Path(__file__).resolve().parent.parent
OUT = Path("runs/findings")
MAIN_JOB = "digits/resmlp_vs_mlp"  # its printed output goes into the README, between the main-job markers
DOCS = ROOT / "docs"
sys.path.insert(0, str(Path(__file__).resolve().parent))  # the prose (findings_text) lives beside this script

from findings_stats import Stats, shares_table  # noqa: E402
from findings_text import INTRO, PARTS_TEXT, READINGS, README_CLAIMS, corrections, side_by_side  # noqa: E402

# the per-run numbers published beside each section (summary.csv without timings and paths), by the
# quantities' stable keys (condensekit.quantities); a key the table does not know stops the script
CSV_COLUMNS = [
    "arm",
    "grid",
    "seed",
    "status",
    "phase1_end",
    "S0",
    "dS",
    "peak",
    "peak_step",
    "S_final",
    "peak_phase",
    "condensed",
    "collapsed_at_init",
    "dS_max",
    "peak_max",
    "final_test_acc",
    "final_loss",
]
if unknown := set(CSV_COLUMNS) - {*quantities.ROW_COLUMNS, *quantities.by_key()}:
    raise SystemExit(f"findings.py: CSV_COLUMNS names no quantity: {sorted(unknown)}")


@dataclass
class Section:
    """One recipe, the seeds it runs with, and which figures and tables go into the page."""

    part: str
    recipe: str
    title: str
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2, 3, 4])
    sets: list[str] = field(default_factory=list)
    figures: tuple[str, ...] = ("curves",)
    layers: bool = False  # show the per-layer table
    # (caption, column -> tag): logged scalars at 0 / T1 / end
    extra_table: tuple[str, dict[str, str]] | None = None

    @property
    def name(self) -> str:
        return Path(self.recipe).stem

    @property
    def key(self) -> str:
        return f"{self.part}/{self.name}"

    @property
    def root(self) -> Path:
        """The recipe's output folder: ``<out>/<the recipe's name>`` (not always its file name)."""
        name = tomllib.loads((ROOT / self.recipe).read_text(encoding="utf-8"))["name"]
        return ROOT / self.out() / name

    def out(self) -> Path:
        return OUT / self.part

    def command(self, jobs: int) -> list[str]:
        seeds = "seeds=[" + ",".join(map(str, self.seeds)) + "]"
        sets = [a for s in (seeds, "executor.threads=1", "device=cpu", *self.sets) for a in ("--set", s)]
        return ["condensekit", "run", self.recipe, "--out", str(self.out()), "--jobs", str(jobs), *sets]


SECTIONS = [
    Section(
        "digits",
        "recipes/resmlp_vs_mlp.toml",
        "Residual connections (the main job)",
        figures=("curves", "shares"),
        layers=True,
    ),
    Section("digits", "recipes/four_tricks.toml", "Batch normalization, momentum, init scale, L2"),
    Section("digits", "recipes/depth_sweep.toml", "Depth"),
    Section("digits", "recipes/init_scale.toml", "Initialization"),
    Section("digits", "recipes/activations.toml", "Activation functions", figures=("curves", "shares")),
    Section("digits", "recipes/cnn_vs_mlp.toml", "Convolutional networks", figures=("curves", "shares")),
    Section("digits", "recipes/vit_vs_mlp.toml", "Vision Transformers", figures=("curves", "shares")),
    Section(
        "digits",
        "recipes/vanishing_vs_condensation.toml",
        "Vanishing gradients",
        figures=("gradient_health",),
        extra_table=(
            "Gradient health (metric `gradient_health`; median over seeds at step 0, at T1 and at the end; "
            "per-layer values averaged over the hidden layers):",
            {
                "grad_ratio_first_last": "gradient_health/grad_ratio_first_last",
                "wgrad_norm": "gradient_health/*/wgrad_norm",
                "rel_change": "gradient_health/*/rel_change",
                "dead_frac": "gradient_health/*/dead_frac",
            },
        ),
    ),
    Section("digits", "recipes/per_layer.toml", "Per layer", figures=("per_layer",), layers=True),
    Section(
        "digits",
        "recipes/neural_collapse.toml",
        "Neural collapse",
        figures=("neural_collapse",),
        extra_table=(
            "Neural collapse on the penultimate features (median over seeds at step 0, at T1 and at the end; "
            "every measure goes to 0 under collapse):",
            {
                q: f"neural_collapse/penultimate/{q}"
                for q in ("nc1", "nc2_equinorm", "nc2_maxangle", "nc3", "nc4")
            },
        ),
    ),
    Section(
        "fashion_mnist",
        "recipes/fashion_mnist/resmlp_vs_mlp.toml",
        "Residual connections",
        figures=("curves", "shares", "per_layer"),
    ),
    Section(
        "fashion_mnist",
        "recipes/fashion_mnist/four_tricks.toml",
        "Batch normalization, momentum, init scale, L2",
    ),
    Section(
        "fashion_mnist",
        "recipes/fashion_mnist/cnn_vs_mlp.toml",
        "A convolutional network",
        figures=("curves", "shares"),
    ),
]


def recipe_question(recipe: Path) -> str:
    """The first comment line of a recipe: its question."""
    for line in recipe.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            return line.lstrip("# ").strip()
    return ""


def runs_csv(rows: Sequence[RunRow]) -> str:
    """The per-run numbers behind a section's tables (summary.csv without timings and paths)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in sorted(rows, key=lambda r: (r.arm, r.grid, r.seed if isinstance(r.seed, int) else -1)):
        values = row.values()
        writer.writerow(
            {
                k: ""
                if values[k] is None
                else (f"{values[k]:.6g}" if isinstance(values[k], float) else str(values[k]))
                for k in CSV_COLUMNS
            }
        )
    return buffer.getvalue()


def _span(rows: Sequence[RunRow]) -> float:
    """From the first run's start to the last run's end, by the times in their run.json."""
    starts = [r.started for r in rows if r.started is not None]
    ends = [r.started + r.seconds for r in rows if r.started is not None and r.seconds is not None]
    return max(ends) - min(starts) if starts and ends else 0.0


def _children_cpu() -> float:
    """CPU seconds (user + system) of this process's finished children and the workers they waited for."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_section(
    section: Section,
    jobs: int,
    costs: dict,
    failures: list[str],
    execute: bool = True,
    all_stats: dict[str, Stats] | None = None,
) -> list[str]:
    """Run one recipe (finished runs are skipped; none when not ``execute``), print its tables, return its
    Markdown lines."""
    command = section.command(jobs)
    root = section.root
    if execute:
        print(f"\n$ {shlex.join(command)}", flush=True)
        started, cpu_before = time.perf_counter(), _children_cpu()
        done = subprocess.run(
            command, cwd=ROOT, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        wall, cpu = time.perf_counter() - started, _children_cpu() - cpu_before
        ran = sum(done.stderr.count(f"] {status} ") for status in ("ok", "diverged", "failed"))
        finished = collect(root)
        if ran == len(finished) and finished:  # every run of the section was measured by this call
            costs[section.key] = {
                "wall_s": round(wall),
                "jobs": jobs,
                "runs": len(finished),
                "cpu_s": round(cpu),
                "run_s": round(sum(r.seconds or 0 for r in finished)),
            }
    rows = collect(root)
    if rows and section.key not in costs:  # measured by an earlier call: the span of the runs' own clocks
        costs[section.key] = {
            "wall_s": round(_span(rows)),
            "jobs": jobs,
            "runs": len(rows),
            "run_s": round(sum(r.seconds or 0 for r in rows)),
        }
    report = write_report(root)  # what `condensekit report` writes; the tables below come from the same rows
    rows = list(report.rows)
    stats = Stats(report)
    if all_stats is not None:
        all_stats[section.key] = stats
    table, compared, sweep = verdict(report), comparison_table(report), sweep_table(report)
    headers = quantities.headers()
    print(render_text(table, headers) + "\n\n" + "\n".join(answer(report)))
    reading = READINGS.get(section.key)
    lines = [f"### {section.title}", "", f"*{recipe_question(ROOT / section.recipe)}*", ""]
    lines += [" ".join(reading(stats)) if reading else "_(no reading written yet)_", ""]
    if section.key == MAIN_JOB:
        update_readme(report, stats)
    failures += [f"{section.key}: {text}" for text in stats.failures]
    lines += [
        "Generated from the numbers (one sentence per arm):",
        "",
        *[f"- {s}" for s in answer(report)],
        "",
        render_markdown(table, headers),
    ]
    if compared:
        lines += [
            (
                "Each arm against the first (P: probability of superiority "
                "over seed pairs; p: exact two-sided permutation p-value):"
            ),
            "",
            render_markdown(compared),
        ]
    shares = (
        shares_table(report)
        if any(
            "condensation" in r.reports and "share_class" in r.reports["condensation"].series for r in rows
        )
        else []
    )
    if shares:
        lines += [
            "Energy shares of the unit features, mean over hidden layers (median over seeds) at step 0, at "
            "T1 (the last measurement at or before it; the end when stuck) and at the end:",
            "",
            render_markdown(shares),
        ]
    if section.extra_table:
        lines += [
            section.extra_table[0],
            "",
            render_markdown(shares_table(report, section.extra_table[1], digits=3)),
        ]
    if sweep:
        lines += [
            (
                "Spearman correlation with the swept value (all "
                "seeds pooled; per seed; do all seeds agree in sign):"
            ),
            "",
            render_markdown(sweep),
        ]
    if section.layers:
        lines += [
            "Per layer (median [min, max] over seeds):",
            "",
            render_markdown(layer_table(report), headers),
        ]
    target_dir = DOCS / "findings" / section.part
    target_dir.mkdir(parents=True, exist_ok=True)
    (target_dir / f"{section.name}.csv").write_text(runs_csv(rows), encoding="utf-8")
    for fig in section.figures:
        source = root / "figures" / f"{fig}.png"
        if source.exists():
            shutil.copyfile(source, target_dir / f"{section.name}_{fig}.png")
            lines += [f"![{section.name} {fig}](findings/{section.part}/{section.name}_{fig}.png)", ""]
    cost = costs.get(section.key)
    seeds = (
        f"seeds {section.seeds[0]}-{section.seeds[-1]}"
        if len(section.seeds) > 1
        else f"seed {section.seeds[0]}"
    )
    lines += [
        (
            f"{len(rows)} runs ({seeds}); per-run numbers: "
            f"[`findings/{section.part}/{section.name}.csv`](findings/{section.part}/{section.name}.csv)."
        )
        + (
            f" Cost: {cost['wall_s'] / 60:.1f} min wall-clock with `--jobs {cost['jobs']}` on 2 CPU cores "
            "shared with other jobs"
            + (f", {cost['cpu_s'] / 60:.1f} min of CPU time" if "cpu_s" in cost else "")
            + "."
            if cost
            else ""
        ),
        "",
    ]
    lines += ["```", shlex.join(command), f"condensekit report {section.root.relative_to(ROOT)}", "```", ""]
    return lines


def update_readme(report: ReportInput, stats: Stats) -> None:
    """Put the main job's printed table and answer between the README's main-job markers, and check its
    prose."""
    readme = ROOT / "README.md"
    text = readme.read_text(encoding="utf-8")
    start, end = text.find("<!-- main-job:start -->"), text.find("<!-- main-job:end -->")
    if start < 0 or end < 0:
        stats.failures.append("README.md has no main-job markers")
        return
    block = text[start:end]
    fence = block.index("```\n") + 4
    printed = render_text(verdict(report), quantities.headers()) + "\n\n" + "\n".join(answer(report)) + "\n"
    block = block[:fence] + printed + block[block.index("```", fence) :]
    readme.write_text(text[:start] + block + text[end:], encoding="utf-8")
    for check in README_CLAIMS:
        check(stats)


def state_cost_in_header(section: Section, cost: dict) -> None:
    """Write the section's measured cost into its recipe's header comment (a ``# Cost: ...`` line)."""
    path = ROOT / section.recipe
    line = (
        f"# Cost: {cost['runs']} runs, {cost['wall_s'] / 60:.0f} min wall-clock with --jobs 2 (1 thread "
        "each) on 2 CPU cores shared with other jobs.\n"
    )
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    header = next(i for i, text in enumerate(lines) if not text.startswith("#"))
    at = next((i for i in range(header) if "Cost:" in lines[i]), None)
    if at is None:  # before the blank comment line that precedes the commands
        lines.insert(next(i for i in range(header) if lines[i].strip() == "#"), line)
    else:
        before = lines[at][: lines[at].index("Cost:")].rstrip()
        lines[at : at + 1] = ([before + "\n"] if before.strip() != "#" else []) + [line]
    path.write_text("".join(lines), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--only", action="append", default=[], help="recipe name(s) to run; the page keeps the other sections"
    )
    parser.add_argument("--part", action="append", default=[], help="digits and/or fashion_mnist")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes per recipe")
    args = parser.parse_args(argv)
    (DOCS / "findings").mkdir(parents=True, exist_ok=True)
    costs_path = DOCS / "findings" / "costs.json"
    costs = json.loads(costs_path.read_text()) if costs_path.exists() else {}
    failures: list[str] = []
    body: list[str] = []
    all_stats: dict[str, Stats] = {}
    for part, heading in PARTS_TEXT.items():
        body += [f"## {heading[0]}", "", *heading[1:], ""]
        for section in (s for s in SECTIONS if s.part == part):
            wanted = (not args.only or section.name in args.only) and (not args.part or part in args.part)
            if not wanted and not section.root.is_dir():
                continue
            body += run_section(section, args.jobs, costs, failures, execute=wanted, all_stats=all_stats)
    compared = side_by_side(all_stats)
    if compared:
        body += ["## Digits and Fashion-MNIST side by side", "", *compared, ""]
    body += ["## Corrections to the earlier version of this page", "", *corrections(all_stats), ""]
    failures += [
        f"corrections: {text}" for st in all_stats.values() for text in st.failures if text.startswith("- ")
    ]
    costs_path.write_text(json.dumps(costs, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    for section in SECTIONS:
        # the main job states its CPU time, measured apart
        if section.key in costs and section.key != MAIN_JOB:
            state_cost_in_header(section, costs[section.key])
    total_wall = sum(c["wall_s"] for c in costs.values()) / 60
    total_runs = sum(c["runs"] for c in costs.values())
    intro = [line.format(total_wall=f"{total_wall:.0f}", total_runs=total_runs) for line in INTRO]
    (DOCS / "findings.md").write_text("\n".join([*intro, "", *body]), encoding="utf-8")
    print(f"\nwrote {DOCS / 'findings.md'}", file=sys.stderr)
    for failure in failures:
        print(f"claim no longer holds: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

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
import json
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

from condensekit import quantities
from condensekit.report import (
    answer,
    collect,
    comparison_table,
    comparisons,
    layer_table,
    render_markdown,
    render_text,
    sweep_table,
    verdict,
    write_report,
)

MAIN_JOB = "digits/resmlp_vs_mlp"  # its printed output goes into the README, between the main-job markers
DOCS = Path(__file__).resolve().parent.parent / "docs"
sys.path.insert(0, str(Path(__file__).resolve().parent))  # the prose (findings_text) lives beside this script

from findings_digits import READINGS as DIGITS  # noqa: E402
from findings_fashion import READINGS as FASHION  # noqa: E402
from findings_io import (  # noqa: E402
    LoadSampler,
    children_cpu,
    readme_legend,
    runs_csv,
    span,
    state_cost_in_header,
    update_readme,
)
from findings_sections import CSV_COLUMNS, OUT, ROOT, SECTIONS, Section  # noqa: E402
from findings_stats import Stats, accuracy_table, shares_table  # noqa: E402
from findings_text import PARTS_TEXT, intro, too_thin, unsupported_wording  # noqa: E402

READINGS = {**DIGITS, **FASHION}


def recipe_question(recipe: Path) -> str:
    """A recipe's question: its leading comment lines joined, up to and including the first "?" (the
    whole first comment line where there is none)."""
    lines = []
    for line in recipe.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#") or not line.lstrip("# ").strip():
            break
        lines.append(line.lstrip("# ").strip())
    text = " ".join(lines)
    return text[: text.index("?") + 1] if "?" in text else (lines[0] if lines else "")


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
        started, cpu_before = time.perf_counter(), children_cpu()
        with LoadSampler() as load:
            done = subprocess.run(
                command, cwd=ROOT, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
            )
        wall, cpu = time.perf_counter() - started, children_cpu() - cpu_before
        ran = sum(done.stderr.count(f"] {status} ") for status in ("ok", "diverged", "failed"))
        finished = collect(root)
        if ran == len(finished) and finished:  # every run of the section was measured by this call
            costs[section.key] = {
                "wall_s": round(wall),
                "jobs": jobs,
                "runs": len(finished),
                "cpu_s": round(cpu),
                "run_s": round(sum(r.seconds or 0 for r in finished)),
                "load": load.summary(),
            }
    rows = collect(root)
    if rows and section.key not in costs:  # measured by an earlier call: the span of the runs' own clocks
        costs[section.key] = {
            "wall_s": round(span(rows)),
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
    try:
        sentences = reading(stats) if reading else ["_(no reading written yet)_"]
    except (KeyError, IndexError, ValueError, StopIteration) as error:  # runs missing: say so, fail
        sentences = [stats.claim(False, f"_(no reading: the runs lack {error!r})_")]
    sentences += too_thin(len(comparisons(report)))
    stats.failures += [
        f"says no difference without an equivalence bound: {text}" for text in unsupported_wording(sentences)
    ]
    lines += [" ".join(sentences), ""]
    if section.key == MAIN_JOB:
        update_readme(report, stats, costs.get(section.key), readme_legend(), write=execute)
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
                "Each arm against the first (P: probability of superiority over seed pairs; p: exact "
                f"two-sided permutation p-value; Holm p: adjusted over this section's {len(compared)} "
                "comparisons; shift: Hodges-Lehmann estimate of arm - ref with its 95% interval):"
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
    if section.accuracy:
        lines += [
            "Does each arm train? Final train and test accuracy (median [min, max] over the seeds that "
            "finished; diverged runs have none):",
            "",
            render_markdown(accuracy_table(stats)),
        ]
    if section.layers:
        lines += [
            "Per layer (median [min, max] over seeds):",
            "",
            render_markdown(layer_table(report), headers),
        ]
    target_dir = DOCS / "findings" / section.part
    target_dir.mkdir(parents=True, exist_ok=True)
    (target_dir / f"{section.name}.csv").write_text(runs_csv(rows, CSV_COLUMNS), encoding="utf-8")
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
    lines += [
        "```",
        shlex.join(command),
        f"condensekit report {section.out() / section.root.name}",
        "```",
        "",
    ]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--only", action="append", default=[], help="recipe name(s) to run; the page keeps the other sections"
    )
    parser.add_argument("--part", action="append", default=[], help="digits and/or fashion_mnist")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes per recipe")
    parser.add_argument("--out", type=Path, default=OUT, help="where the runs are (default: runs/findings)")
    parser.add_argument(
        "--read-only", action="store_true", help="run nothing: rewrite the page from the finished runs"
    )
    parser.add_argument("--page", type=Path, help="write the page here (default: docs/findings.md)")
    args = parser.parse_args(argv)
    Section.out_root = args.out
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
            if (not wanted or args.read_only) and not section.root.is_dir():
                continue
            execute = wanted and not args.read_only
            try:
                body += run_section(section, args.jobs, costs, failures, execute=execute, all_stats=all_stats)
            except Exception as error:  # a page that cannot be written must not stop the other sections' runs
                failures.append(f"{section.key}: the section could not be written: {error!r}")
                body += [f"### {section.title}", "", f"_(not written: {error!r})_", ""]
    if not args.read_only:  # read-only: a trial of the prose, which writes the page (and CSVs) only
        costs_path.write_text(json.dumps(costs, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    for section in [] if args.read_only else SECTIONS:
        if section.key in costs:
            state_cost_in_header(ROOT / section.recipe, costs[section.key])
    shown = {k: v for k, v in costs.items() if k in {s.key for s in SECTIONS}}
    tests = {key: len(comparisons(st.report)) for key, st in all_stats.items()}
    head = intro(shown, tests)
    failures += [f"introduction: {text}" for text in unsupported_wording(head)]
    page = args.page or DOCS / "findings.md"
    page.write_text("\n".join([*head, "", *body]), encoding="utf-8")
    print(f"\nwrote {page}", file=sys.stderr)
    for failure in failures:
        print(f"claim no longer holds: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

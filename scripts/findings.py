"""Regenerate ``docs/findings.md``: run the shipped recipes on the offline digits data and write what they show.

    python scripts/findings.py                  # every section (minutes on 2 cores)
    python scripts/findings.py --only four_tricks --only depth_sweep

Each section runs ``condensekit run <recipe> --out runs/findings --set seeds=[0,1] ...`` (the exact
command is printed and written under the result), reads the finished runs back with the report code
(nothing is re-run by the report), prints the tables and writes the same tables, the figures and the
reading into ``docs/findings.md``. Finished runs are skipped on a second call (condensekit's resume), so
rerunning only rewrites the document; delete ``runs/findings`` to measure from scratch.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from condensekit.report import (
    collect,
    layer_table,
    render_markdown,
    render_text,
    sweep_table,
    verdict,
    write_report,
)

ROOT = Path(__file__).resolve().parent.parent
OUT = Path("runs/findings")
SEEDS = "seeds=[0,1]"
sys.path.insert(0, str(Path(__file__).resolve().parent))

from findings_text import INTRO, READINGS  # noqa: E402  (the prose lives beside this script)


@dataclass
class Section:
    """One recipe, the overrides that keep it cheap, and which figures go into the document."""

    recipe: str
    title: str
    sets: list[str] = field(default_factory=list)
    figures: tuple[str, ...] = ("curves", "centered")
    layers: bool = False  # show the per-layer peak table

    @property
    def name(self) -> str:
        return Path(self.recipe).stem

    def command(self, jobs: int) -> list[str]:
        sets = [a for s in (SEEDS, "device=cpu", *self.sets) for a in ("--set", s)]
        return ["condensekit", "run", self.recipe, "--out", str(OUT), *sets, *(["--jobs", str(jobs)] if jobs > 1 else [])]


SECTIONS = [
    Section("recipes/resmlp_vs_mlp.toml", "Residual connections", figures=("curves", "centered")),
    Section("recipes/cnn_vs_mlp.toml", "Convolutional networks", figures=("curves", "centered")),
    Section("recipes/vit_vs_mlp.toml", "Vision Transformers", figures=("curves", "centered")),
    Section("recipes/four_tricks.toml", "Batch normalization, momentum, init scale, L2", figures=("curves",)),
    Section("recipes/depth_sweep.toml", "Depth", figures=("curves",)),
    Section("recipes/init_scale.toml", "Initialization", figures=("curves",)),
    Section("recipes/activations.toml", "Activation functions", figures=("curves", "centered")),
    Section("recipes/vanishing_vs_condensation.toml", "Vanishing gradients", figures=("gradient_health",)),
    Section("recipes/per_layer.toml", "Per layer", figures=("per_layer",), layers=True),
    Section("recipes/neural_collapse.toml", "Neural collapse", figures=("neural_collapse",)),
]


def run_section(section: Section, jobs: int, docs: Path) -> list[str]:
    """Run one recipe, print its tables, and return its Markdown lines."""
    command = section.command(jobs)
    print(f"\n$ {shlex.join(command)}", flush=True)
    subprocess.run(command, cwd=ROOT, check=False, stdout=subprocess.DEVNULL)
    root = ROOT / OUT / Path(section.recipe).stem
    write_report(root)  # what `condensekit report` writes; the tables below are computed from the same rows
    rows = collect(root)
    table, sweep = verdict(rows), sweep_table(rows)
    print(render_text(table))
    if sweep:
        print("\n" + render_text(sweep))
    if section.layers:
        print("\n" + render_text(layer_table(rows)))
    lines = [f"## {section.title}", "", *READINGS.get(section.name, ["_(no reading written yet)_"]), ""]
    lines += [render_markdown(table)]
    if sweep:
        lines += ["Spearman correlation with the swept value (all seeds pooled; per seed; do all seeds agree in sign):", "", render_markdown(sweep)]
    if section.layers:
        lines += ["Per-layer peaks (median [min, max] over seeds):", "", render_markdown(layer_table(rows))]
    for fig in section.figures:
        source = root / "figures" / f"{fig}.png"
        if source.exists():
            target = docs / "findings" / f"{section.name}_{fig}.png"
            shutil.copyfile(source, target)
            lines += [f"![{section.name} {fig}](findings/{target.name})", ""]
    report = OUT / section.name
    lines += ["Regenerate:", "", "```", shlex.join(command), f"condensekit report {report}", "```", ""]
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", default=[], help="recipe name(s) to run; the document keeps every section")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes per recipe")
    args = parser.parse_args(argv)
    docs = ROOT / "docs"
    (docs / "findings").mkdir(parents=True, exist_ok=True)
    lines = [*INTRO, ""]
    for section in SECTIONS:
        if not (ROOT / section.recipe).is_file():
            print(f"skipping {section.recipe}: not in this checkout", file=sys.stderr)
            continue
        if args.only and section.name not in args.only and not (ROOT / OUT / section.name).is_dir():
            continue
        lines += run_section(section, args.jobs, docs)
    lines += ["Regenerate this whole page (the runs take minutes on 2 CPU cores):", "", "```", "python scripts/findings.py", "```", ""]
    (docs / "findings.md").write_text("\n".join(lines), encoding="utf-8")
    print(f"\nwrote {docs / 'findings.md'}", file=sys.stderr)


if __name__ == "__main__":
    main()

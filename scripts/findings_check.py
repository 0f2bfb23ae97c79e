"""Check that the published findings reproduce: rerun some seeds of each section and compare with its CSV.

    python scripts/findings_check.py                      # seed 0 of every section, into a scratch folder
    python scripts/findings_check.py --seed 3 --only four_tricks --part digits

Each section is run with the command ``scripts/findings.py`` prints under it (one torch thread per run,
``--set executor.threads=1``), restricted to the chosen seeds and written to a new scratch folder, so the
published runs and ``docs/`` are never touched. Every number of the section's per-run CSV
(``docs/findings/<part>/<section>.csv``, written to 6 significant digits) must then be equal for those
seeds. Prints one line per section and exits with status 1 when any number differs or any run is missing.
"""

from __future__ import annotations

import argparse
import csv
import io
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from findings_io import runs_csv  # noqa: E402
from findings_sections import CSV_COLUMNS, ROOT, SECTIONS, Section  # noqa: E402

from condensekit.report import collect  # noqa: E402


def published(section: Section, seeds: list[int]) -> dict[tuple[str, str, str], dict[str, str]]:
    path = ROOT / "docs" / "findings" / section.part / f"{section.name}.csv"
    rows = csv.DictReader(path.read_text(encoding="utf-8").splitlines()) if path.exists() else []
    return {(r["arm"], r["grid"], r["seed"]): r for r in rows if int(r["seed"]) in seeds}


def rerun(
    section: Section, seeds: list[int], scratch: Path, jobs: int
) -> tuple[dict[tuple[str, str, str], dict[str, str]], list[str], float]:
    command = section.command(jobs)
    command[command.index("--out") + 1] = str(scratch / section.part)
    command[command.index(next(a for a in command if a.startswith("seeds=")))] = (
        "seeds=[" + ",".join(map(str, seeds)) + "]"
    )
    print(f"$ {shlex.join(command)}", flush=True)
    started = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    root = scratch / section.part / section.root.name
    rows = list(csv.DictReader(io.StringIO(runs_csv(collect(root), CSV_COLUMNS)))) if root.is_dir() else []
    return {(r["arm"], r["grid"], r["seed"]): r for r in rows}, command, time.perf_counter() - started


def differences(
    want: dict[tuple[str, str, str], dict[str, str]], got: dict[tuple[str, str, str], dict[str, str]]
) -> list[str]:
    """Every run missing or extra, and every CSV cell that differs (a column the published CSV lacks, from
    an older layout, reads as ``None`` and so differs: regenerate the page's CSVs first)."""
    problems = [f"missing run {key}" for key in want if key not in got]
    problems += [f"extra run {key}" for key in got if key not in want]
    for key in sorted(want.keys() & got.keys()):
        problems += [
            f"{'/'.join(key)} {c}: published {want[key].get(c)!r}, now {got[key].get(c)!r}"
            for c in CSV_COLUMNS
            if want[key].get(c) != got[key].get(c)
        ]
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seed", type=int, action="append", default=[], help="seed(s) to rerun (default: 0)")
    parser.add_argument("--only", action="append", default=[], help="section (recipe) name(s)")
    parser.add_argument("--part", action="append", default=[], help="digits and/or fashion_mnist")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args(argv)
    seeds = args.seed or [0]
    bad = 0
    with tempfile.TemporaryDirectory(prefix="findings-check-") as tmp:
        for section in SECTIONS:
            if (args.only and section.name not in args.only) or (args.part and section.part not in args.part):
                continue
            want = published(section, seeds)
            got, _, seconds = rerun(section, seeds, Path(tmp), args.jobs)
            problems = differences(want, got)
            verdict = "same numbers" if not problems else f"{len(problems)} differences"
            print(
                (
                    f"{section.key}: {len(got)} runs (seeds {seeds}), "
                    f"{len(CSV_COLUMNS)} columns each, {seconds:.0f} s: {verdict}"
                ),
                flush=True,
            )
            for problem in problems:
                print(f"    {problem}")
            bad += bool(problems)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

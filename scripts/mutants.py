"""Mutation check: how many hand-made silent bugs does the test suite catch?

Each mutant of :mod:`mutant_list` is one small edit that models a bug which would give wrong numbers or lose
data without a crash (an off-by-one, a wrong reduction, a flipped comparison, an ignored parameter ...). For
each, this script applies the edit in a temporary copy of the tree (never in the checkout), runs the module
group's test files with ``pytest -x`` and records whether a test failed (killed) or not (survived). Mutants
judged equivalent (no observable difference; the reason is listed) are left out of the kill rate.

    OMP_NUM_THREADS=1 python scripts/mutants.py                 # every mutant, then the table and rates
    python scripts/mutants.py --only phases --only report-03    # a module group, or one mutant by id
    python scripts/mutants.py --list                            # the mutants, without running anything

A mutant whose original snippet is not found exactly once stops the script before anything runs: the list
must follow the code. The unmutated copy runs every selected test file first; a failure there stops it too.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from queue import Queue

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mutant_list import MUTANTS, TESTS, Mutant  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
IGNORED = shutil.ignore_patterns(
    ".git",
    "__pycache__",
    ".pytest_cache",
    ".mypy_cache",
    ".ruff_cache",
    ".tox",
    "*.egg-info",
    ".venv",
    "runs",
    "build",
    "dist",
)


@dataclass
class Result:
    ident: str
    mutant: Mutant
    line: int
    outcome: str  # killed | SURVIVED | equivalent | timeout
    seconds: float = 0.0
    detail: str = ""


def identify(mutants: Sequence[Mutant]) -> list[tuple[str, Mutant]]:
    """Stable ids ``<module>-NN`` in list order."""
    counts: dict[str, int] = {}
    out = []
    for m in mutants:
        counts[m.module] = counts.get(m.module, 0) + 1
        out.append((f"{m.module}-{counts[m.module]:02d}", m))
    return out


def check(mutants: Sequence[tuple[str, Mutant]], root: Path) -> dict[str, int]:
    """Line of each mutant; exits with every problem listed when a snippet is missing, ambiguous or breaks the
    syntax."""
    problems, lines = [], {}
    for ident, m in mutants:
        text = (root / m.path).read_text(encoding="utf-8")
        count = text.count(m.original)
        if count != 1:
            problems.append(
                f"{ident} ({m.path}): original snippet found {count} times, expected once: {m.original!r}"
            )
            continue
        if m.module not in TESTS:
            problems.append(f"{ident}: no test files for module group {m.module!r}")
        try:
            compile(text.replace(m.original, m.replacement), m.path, "exec")
        except SyntaxError as exc:
            problems.append(f"{ident} ({m.path}): the mutated file does not compile: {exc}")
        lines[ident] = text[: text.index(m.original)].count("\n") + 1
    if problems:
        sys.exit("mutant list out of date with the code:\n  " + "\n  ".join(problems))
    return lines


def test_files(module: str, tree: Path) -> list[str]:
    return [f"tests/{name}" for name in TESTS[module] if (tree / "tests" / name).exists()]


def run_pytest(tree: Path, files: Sequence[str], timeout: float) -> tuple[int | None, str]:
    """Exit status of ``pytest -x`` on ``files`` in ``tree`` (None on timeout) and the last lines of its
    output."""
    env = {**os.environ, "PYTHONPATH": str(tree), "PYTHONDONTWRITEBYTECODE": "1", "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-p", "no:xdist", *files]
    try:
        proc = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, "timeout"
    tail = [
        ln
        for ln in (proc.stdout + proc.stderr).splitlines()
        if ln.startswith(("FAILED", "ERROR")) or " passed" in ln or " failed" in ln
    ]
    return proc.returncode, (tail[0] if tail else (proc.stdout + proc.stderr).strip()[-200:])


def make_tree(base: Path, n: int) -> Path:
    tree = base / f"tree{n}"
    shutil.copytree(ROOT, tree, symlinks=True, ignore=IGNORED)
    # plugins/ is installed under that name; on PYTHONPATH the copy needs the link
    link = tree / "condensekit_plugins"
    if not link.exists():
        link.symlink_to("plugins", target_is_directory=True)
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            (
                "import condensekit, condensekit_plugins; "
                "print(condensekit.__file__); print(condensekit_plugins.__file__)"
            ),
        ],
        cwd=tree,
        env={**os.environ, "PYTHONPATH": str(tree), "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
    )
    if probe.returncode or any(
        not Path(p).resolve().is_relative_to(tree.resolve()) for p in probe.stdout.split()
    ):
        sys.exit(
            f"the copy {tree} does not import its own condensekit "
            f"/ condensekit_plugins:\n{probe.stdout}{probe.stderr}"
        )
    return tree


def run_mutant(ident: str, m: Mutant, line: int, trees: Queue[Path], timeout: float) -> Result:
    if m.equivalent:
        return Result(ident, m, line, "equivalent", detail=m.equivalent)
    tree = trees.get()
    target = tree / m.path
    original = target.read_text(encoding="utf-8")
    start = time.monotonic()
    try:
        target.write_text(original.replace(m.original, m.replacement), encoding="utf-8")
        code, detail = run_pytest(tree, test_files(m.module, tree), timeout)
    finally:
        target.write_text(original, encoding="utf-8")
        trees.put(tree)
    outcome = "timeout" if code is None else ("SURVIVED" if code == 0 else "killed")
    return Result(ident, m, line, outcome, time.monotonic() - start, detail)


def rates(results: Sequence[Result]) -> list[tuple[str, int, int, int]]:
    """(group, killed, non-equivalent, equivalent) per module group and overall."""
    groups = list(dict.fromkeys(r.mutant.module for r in results))
    out = []
    for group in [*groups, "overall"]:
        rs = [r for r in results if group in ("overall", r.mutant.module)]
        live = [r for r in rs if r.outcome != "equivalent"]
        out.append(
            (group, sum(r.outcome in ("killed", "timeout") for r in live), len(live), len(rs) - len(live))
        )
    return out


def report(results: Sequence[Result]) -> str:
    lines = [f"{'id':<12} {'outcome':<10} {'s':>5}  {'where':<42} bug"]
    for r in results:
        where = f"{r.mutant.path.removeprefix('condensekit/')}:{r.line}"
        lines.append(f"{r.ident:<12} {r.outcome:<10} {r.seconds:5.0f}  {where:<42} {r.mutant.bug}")
        if r.outcome == "equivalent":
            lines.append(f"{'':<12} {'':<10} {'':>5}  {'':<42} (equivalent: {r.detail})")
    lines += ["", f"{'module':<10} {'killed':>7} {'of':>4} {'rate':>7} {'equivalent':>11}"]
    for group, killed, live, equivalent in rates(results):
        rate = f"{100 * killed / live:.0f}%" if live else "-"
        lines.append(f"{group:<10} {killed:>7} {live:>4} {rate:>7} {equivalent:>11}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        help="a module group (measures, phases, probe, groups, refine, tricks, output, report) or mutant id",
    )
    parser.add_argument(
        "--list", action="store_true", help="list the mutants and their test files, run nothing"
    )
    parser.add_argument(
        "--jobs", type=int, default=1, help="mutants run at once, each in its own copy (default 1)"
    )
    parser.add_argument(
        "--timeout", type=float, default=600, help="seconds per mutant before it counts as killed (a hang)"
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--no-baseline", action="store_true", help="skip running the unmutated tests first")
    args = parser.parse_args(argv)
    chosen = [
        (i, m) for i, m in identify(MUTANTS) if not args.only or m.module in args.only or i in args.only
    ]
    if not chosen:
        sys.exit(f"no mutant matches {args.only}")
    lines = check(chosen, ROOT)
    if args.list:
        for ident, m in chosen:
            flag = f"  [equivalent: {m.equivalent}]" if m.equivalent else ""
            print(f"{ident:<12} {m.path}:{lines[ident]}  {m.bug}{flag}")
        for module in dict.fromkeys(m.module for _, m in chosen):
            print(f"tests for {module}: {' '.join(test_files(module, ROOT))}")
        return 0
    with tempfile.TemporaryDirectory(prefix="condensekit-mutants-") as tmp:
        trees: Queue[Path] = Queue()
        for n in range(max(1, args.jobs)):
            trees.put(make_tree(Path(tmp), n))
        if not args.no_baseline:
            tree = trees.get()
            groups = dict.fromkeys(m.module for _, m in chosen)
            files = list(dict.fromkeys(f for group in groups for f in test_files(group, tree)))
            code, detail = run_pytest(tree, files, args.timeout * 2)
            trees.put(tree)
            if code != 0:
                sys.exit(f"the unmutated tests fail ({detail}); fix them first: {' '.join(files)}")
            print(f"baseline: {detail}", flush=True)
        with ThreadPoolExecutor(max(1, args.jobs)) as pool:
            futures = [pool.submit(run_mutant, i, m, lines[i], trees, args.timeout) for i, m in chosen]
            results = []
            for f in futures:
                r = f.result()
                results.append(r)
                print(f"{r.ident:<12} {r.outcome:<10} {r.seconds:5.0f}s  {r.detail}", flush=True)
    print()
    print(report(results))
    if args.json:
        args.json.write_text(
            json.dumps(
                [
                    {
                        "id": r.ident,
                        "module": r.mutant.module,
                        "path": r.mutant.path,
                        "line": r.line,
                        "bug": r.mutant.bug,
                        "outcome": r.outcome,
                        "seconds": round(r.seconds, 1),
                        "detail": r.detail,
                    }
                    for r in results
                ],
                indent=1,
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

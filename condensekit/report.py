"""Cross-run report built from what is on disk: ``summary.csv``, the verdict table and ``report.md``."""

from __future__ import annotations

import csv
import math
import statistics
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from condensekit.output import find_runs, read_run_json

SUMMARY_COLUMNS = [
    "arm", "grid", "seed", "status", "phase1_end", "dS_max", "peak_max", "condensed",
    "final_train_acc", "final_test_acc", "final_loss", "plateau_loss", "seconds", "run_dir",
]  # fmt: skip


def collect(root: Path) -> list[dict[str, Any]]:
    """One row per run directory below ``root`` (a recipe's output folder), from its ``run.json``."""
    rows = []
    for run_dir in find_runs(root):
        info = read_run_json(run_dir)
        if info is None:
            continue
        spec, summary = info.get("spec") or {}, info.get("summary") or {}
        grid = spec.get("grid") or {}
        status = info.get("status", "unknown")
        rows.append({
            "arm": spec.get("arm", run_dir.parent.parent.name),
            "grid": ",".join(f"{k}={v}" for k, v in grid.items()) or "base",
            "seed": spec.get("seed"),
            "status": "interrupted" if status == "running" else status,
            "phase1_end": summary.get("phase1_end"),
            "dS_max": summary.get("dS_max"),
            "peak_max": summary.get("peak_max"),
            "condensed": summary.get("condensed"),
            "final_train_acc": summary.get("final_train_acc"),
            "final_test_acc": summary.get("final_test_acc"),
            "final_loss": summary.get("final_loss"),
            "plateau_loss": summary.get("plateau_loss"),
            "seconds": info.get("seconds"),
            "run_dir": str(run_dir.relative_to(root)),
            "grid_values": grid,
            "error": (info.get("error") or "").strip().splitlines()[-1:] or [""],
        })  # fmt: skip
        rows[-1]["error"] = rows[-1]["error"][0]
    return rows


def _csv_value(value: Any) -> Any:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def write_summary_csv(rows: Iterable[dict[str, Any]], path: Path) -> None:
    """``summary.csv``: one row per run; ``phase1_end`` is empty for a stuck run."""
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=SUMMARY_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _csv_value(row.get(k)) for k in SUMMARY_COLUMNS})


def _finite(values: Iterable[Any]) -> list[float]:
    return [float(v) for v in values if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)]


def median_range(values: Iterable[Any], digits: int = 3) -> str:
    """``median [min, max]`` of the finite values, or ``-``."""
    vals = _finite(values)
    if not vals:
        return "-"
    fmt = f"{{:.{digits}g}}"
    med = fmt.format(statistics.median(vals))
    return med if len(vals) == 1 else f"{med} [{fmt.format(min(vals))}, {fmt.format(max(vals))}]"


def verdict(rows: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Per arm and grid point, across seeds: T1, rise, peak, accuracy (median [min, max]) and share condensed."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["arm"], row["grid"]), []).append(row)
    table = []
    for (arm, grid), runs in groups.items():
        ok = [r for r in runs if r["status"] in ("ok", "diverged")]
        stuck = sum(1 for r in ok if r["status"] == "ok" and r["phase1_end"] is None)
        t1 = median_range(r["phase1_end"] for r in ok)
        if stuck:
            t1 = f"{t1} ({stuck} stuck)" if t1 != "-" else f"stuck ({stuck})"
        condensed = sum(1 for r in ok if r["condensed"])
        statuses = {s: sum(1 for r in runs if r["status"] == s) for s in ("ok", "diverged", "failed", "interrupted")}
        table.append({
            "arm": arm,
            "grid": grid,
            "runs": " ".join(f"{n} {s}" for s, n in statuses.items() if n),
            "T1 (phase-1 end)": t1,
            "rise dS": median_range(r["dS_max"] for r in ok),
            "peak S*": median_range(r["peak_max"] for r in ok),
            "test acc": median_range(r["final_test_acc"] for r in ok),
            "condensed": f"{condensed}/{len(ok)}" if ok else "-",
        })  # fmt: skip
    if all(r["grid"] == "base" for r in table):
        for r in table:
            del r["grid"]
    return table


def render_text(table: list[dict[str, str]]) -> str:
    """A fixed-width text table for the terminal."""
    if not table:
        return "(no runs)"
    cols = list(table[0])
    widths = {c: max(len(c), *(len(r[c]) for r in table)) for c in cols}
    line = "  ".join(c.ljust(widths[c]) for c in cols)
    rule = "  ".join("-" * widths[c] for c in cols)
    body = ["  ".join(r[c].ljust(widths[c]) for c in cols) for r in table]
    return "\n".join([line, rule, *body])


def render_markdown(table: list[dict[str, str]]) -> str:
    if not table:
        return "_no runs_\n"
    cols = list(table[0])
    out = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    out += ["| " + " | ".join(r[c] for c in cols) + " |" for r in table]
    return "\n".join(out) + "\n"


def write_report(root: Path) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """Write ``summary.csv`` and ``report.md`` into a recipe's output folder; return rows and verdict."""
    rows = collect(root)
    write_summary_csv(rows, root / "summary.csv")
    table = verdict(rows)
    problems = [r for r in rows if r["status"] not in ("ok",)]
    lines = [f"# condensekit report: {root.name}", "", render_markdown(table)]
    if problems:
        lines += ["## Runs that did not finish ok", ""]
        lines += [f"- `{r['run_dir']}`: {r['status']}{': ' + r['error'] if r['error'] else ''}" for r in problems]
        lines.append("")
    lines += [
        "T1: first step where the smoothed loss leaves its initial plateau (`stuck`: never).",
        "rise dS / peak S*: largest rise and peak of inter-class feature similarity (`feat_inter`) over hidden layers.",
        "Values are median [min, max] across seeds. Per-run numbers are in `summary.csv`.",
        "",
    ]
    (root / "report.md").write_text("\n".join(lines), encoding="utf-8")
    return rows, table

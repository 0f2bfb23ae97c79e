"""``report.md``: the recipe's question, the verdict with a legend that prints the thresholds in force, sweeps,
figures with the captions their metrics declared, per-layer peaks, and the runs that did not finish ok."""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from condensekit.report.rows import thresholds_in_force
from condensekit.report.tables import layer_table, render_markdown, sweep_table
from condensekit.status import RunStatus


def recipe_question(rows: Sequence[dict[str, Any]], name: str = "") -> list[str]:
    """The leading comment block of the recipe file (its question and commands), when the file is still there.

    Only a ``.toml`` file that parses as a recipe named ``name`` (the report folder's) is read, so a planted
    ``run.json`` cannot copy another file's comments into the report.
    """
    path = next((Path(r["recipe_path"]) for r in rows if r.get("recipe_path")), None)
    if path is None or path.suffix != ".toml" or not path.is_file():
        return []
    try:
        text = path.read_text(encoding="utf-8")
        if name and tomllib.loads(text).get("name") != name:
            return []
    except (OSError, ValueError, RecursionError):  # not UTF-8, not TOML
        return []
    lines = []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        lines.append(line[1:].strip())
    return ["> " + line if line else ">" for line in lines] + [""] if lines else []


def series_description(rows: Sequence[dict[str, Any]], series: str | None) -> str:
    """What the summary series is, in the words its metric declared (``feat_inter``: "inter-class ...")."""
    if series is None:
        return "no similarity series (no metric declares one; see `[summary] series`)"
    metric, _, quantity = series.partition("/")
    for row in rows:
        words = ((row.get("reports") or {}).get(metric) or {}).get("describe", {}).get(quantity)
        if words:
            return f"`{series}`, the {words}"
    return f"`{series}`"


def legend(rows: Sequence[dict[str, Any]]) -> list[str]:
    """How to read the verdict, with the thresholds the runs actually used."""
    sets = thresholds_in_force(rows)
    th = sets[0]
    lines = [
        f"T1: first step where the running-median training loss falls below L0 - max({th.plateau_drop_rel:g} L0, "
        f"{th.plateau_drop_abs:g}), L0 being its initial plateau (`stuck`: never within the run).",
        f"rise dS / peak S*: the largest rise and the highest peak over the hidden layers of {series_description(rows, th.series)}.",
        f"condensed: a rise >= {th.rise:g} (or a peak >= {th.peak:g}) that falls back by at least {th.fall_fraction:g} of the rise, "
        "or a rise in a run still stuck at its end.",
        "Values are median [min, max] across the seeds that finished ok. Per-run numbers are in `summary.csv`.",
    ]
    if len(sets) > 1:
        other = "; ".join(", ".join(f"{k}={v}" for k, v in s.model_dump().items()) for s in sets[1:])
        lines.append(f"**Note: the runs used different thresholds**; besides the ones above: {other}. Compare arms with care.")
    return lines


def report_markdown(
    root: Path, rows: list[dict[str, Any]], table: list[dict[str, str]], figures: Sequence[tuple[str, str, str]], notes: list[str]
) -> str:
    """The text of ``report.md``.

    Args:
        figures: ``(name, path relative to root, caption)`` of each drawn figure.
    """
    lines = [f"# condensekit report: {root.name}", "", *recipe_question(rows, root.name), "## Verdict", "", render_markdown(table), *legend(rows), ""]
    sweep = sweep_table(rows)
    if sweep:
        lines += ["## Sweep: Spearman correlation with the swept value", "", render_markdown(sweep),
                  "rho pools all seeds; `per seed` is rho within each seed; stuck runs rank T1 last.", ""]  # fmt: skip
    if figures:
        lines += ["## Figures", ""]
        lines += [f"{caption or name}\n\n![{name}]({path})\n" for name, path, caption in figures]
        lines += [f"The same figures and a custom-scalars layout overlaying the runs: `tensorboard --logdir {root}`.", ""]
    layers = layer_table(rows)
    if layers:
        lines += ["## Per-layer peaks", "", "<details><summary>when each hidden layer peaks</summary>", "", render_markdown(layers), "</details>", ""]
    problems = [r for r in rows if r["status"] != RunStatus.OK]
    if problems:
        lines += ["## Runs that did not finish ok", ""]
        lines += [f"- `{r['run_dir']}`: {r['status']}{': ' + r['error'] if r.get('error') else ''}" for r in problems]
        lines.append("")
    if notes:
        lines += ["## Notes", "", *[f"- {n}" for n in notes], ""]
    return "\n".join(lines)

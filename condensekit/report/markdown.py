"""``report.md``: the recipe's question, the answer in words, the verdict with a legend that prints the
thresholds in force, each arm against the reference arm, sweeps, figures with the captions their metrics
declared, per-layer peaks, and the runs that did not finish ok."""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from condensekit.report.answer import answer
from condensekit.report.compare import comparison_table, reference_arm
from condensekit.report.rows import thresholds_in_force
from condensekit.report.tables import layer_table, render_markdown, sweep_table
from condensekit.status import RunStatus

COMPARISON_NOTE = (
    "P(arm > ref): over all pairs of one seed of the arm and one of the reference arm, the share where the "
    "arm's value is larger (ties count half); 0.5 is no difference. p: two-sided permutation p-value of that "
    "share over every relabeling of the pooled seeds (exact). A stuck run's T1 counts as later than any "
    "observed T1. The reference arm is the first one unless the recipe names one (`[summary] reference`)."
)


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
    """How to read the verdict, with the thresholds the runs actually used (definitions: docs/metrics.md)."""
    sets = thresholds_in_force(rows)
    th = sets[0]
    windows = sorted({int(r["smoothing_window"]) for r in rows if isinstance(r.get("smoothing_window"), int)})
    window = f"{'/'.join(map(str, windows))} steps" if windows else "max(20, steps per epoch / 20) steps"
    lines = [
        f"- T1: first step where the training loss, smoothed by a running median over {window}, falls below "
        f"L0 - max({th.plateau_drop_rel:g} L0, {th.plateau_drop_abs:g}), L0 being the median of its first "
        "window (`stuck`: never within the run). The answer calls it a first phase when the run is stuck or "
        "T1 >= 2 windows.",
        "- rise dS, peak S*, peak t*: of the mean over the hidden layers of "
        f"{series_description(rows, th.series)}: its peak minus its first value, its peak, and the step of "
        "the peak. `peak in`: the peak came during phase 1 (at or before T1, or the run is stuck) or after "
        "T1.",
        f"- condensed: a rise dS >= {th.rise:g}, then a final value at most S* - {th.fall_fraction:g} dS "
        "(the similarity came back down; a dip that recovers does not count), or a run still stuck at its "
        "end.",
        "- collapsed: collapsed at init, alike from step 0: more than half of the hidden layers start at or "
        f"above {th.collapsed:g} and never rise by {th.rise:g}, and their mean does not rise by {th.rise:g}. "
        "Never counted as condensed.",
        "- Values are median [min, max] across the seeds that finished ok. Per-run numbers (with `dS_max` / "
        "`peak_max`, the largest single-layer rise and peak) are in `summary.csv`; the definitions with "
        "their formulas are in condensekit's `docs/metrics.md`.",
    ]
    if len(sets) > 1:
        other = "; ".join(", ".join(f"{k}={v}" for k, v in s.model_dump().items()) for s in sets[1:])
        lines.append(
            "**Note: the runs used different thresholds**; besides "
            f"the ones above: {other}. Compare arms with care."
        )
    return lines


def report_markdown(
    root: Path,
    rows: list[dict[str, Any]],
    table: list[dict[str, str]],
    figures: Sequence[tuple[str, str, str]],
    notes: list[str],
) -> str:
    """The text of ``report.md``.

    Args:
        figures: ``(name, path relative to root, caption)`` of each drawn figure.
    """
    lines = [
        f"# condensekit report: {root.name}",
        "",
        *recipe_question(rows, root.name),
        "## Answer",
        "",
        *[f"- {s}" for s in answer(rows)],
        "",
    ]
    lines += ["## Verdict", "", render_markdown(table), *legend(rows), ""]
    compared = comparison_table(rows)
    if compared:
        lines += [
            f"## Each arm against {reference_arm(rows)}",
            "",
            render_markdown(compared),
            COMPARISON_NOTE,
            "",
        ]
    sweep = sweep_table(rows)
    if sweep:
        lines += [
            "## Sweep: Spearman correlation with the swept value",
            "",
            render_markdown(sweep),
            "rho pools all seeds; `per seed` is rho within each seed; stuck runs rank T1 last.",
            "",
        ]
    if figures:
        lines += ["## Figures", ""]
        lines += [f"{caption or name}\n\n![{name}]({path})\n" for name, path, caption in figures]
        lines += [
            (
                "The same figures and a custom-scalars layout "
                f"overlaying the runs: `tensorboard --logdir {root}`."
            ),
            "",
        ]
    layers = layer_table(rows)
    if layers:
        lines += [
            "## Per-layer peaks",
            "",
            "<details><summary>when each hidden layer peaks</summary>",
            "",
            render_markdown(layers),
            "</details>",
            "",
        ]
    problems = [r for r in rows if r["status"] != RunStatus.OK]
    if problems:
        lines += ["## Runs that did not finish ok", ""]
        lines += [
            f"- `{r['run_dir']}`: {r['status']}{': ' + r['error'] if r.get('error') else ''}"
            for r in problems
        ]
        lines.append("")
    if notes:
        lines += ["## Notes", "", *[f"- {n}" for n in notes], ""]
    return "\n".join(lines)

"""``report.md``: the recipe's question, the answer in words, the verdict with a legend that prints the
thresholds in force, each arm against the reference arm, sweeps, figures with the captions their metrics
declared, per-layer peaks, and the runs that did not finish ok.

Much of it is text taken from a recipe or a run folder (names, grid values, errors, captions, the recipe's
comments), which a Markdown viewer must show, never run: every line is passed through :func:`inert`
except the few that condensekit writes as markup itself (:class:`Markup`: an HTML tag, a figure).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Sequence
from pathlib import Path

from condensekit import quantities
from condensekit.report.answer import answer
from condensekit.report.compare import FAMILY, comparison_table
from condensekit.report.model import ReportInput
from condensekit.report.rows import RunRow
from condensekit.report.sweeps import sweep_table
from condensekit.report.tables import layer_table, render_markdown
from condensekit.status import RunStatus

COMPARISON_NOTE = (
    "P(arm > ref): over all pairs of one seed of the arm and one of the reference arm, the share where the "
    "arm's value is larger (ties count half); 0.5 is no difference. p: two-sided permutation p-value of that "
    "share over every relabeling of the pooled seeds (exact). p (Holm): adjusted by Holm's method over "
    f"the family of {FAMILY} (every row of this table); `higher`/`lower` is read from it. shift: the "
    "Hodges-Lehmann estimate of arm - ref (the median of the seed-pair differences) and its "
    "distribution-free confidence interval, the shifts the same rank test does not reject (confidence at "
    "least 95%; none with "
    "too few seeds or a stuck T1). `no difference shown` is not `no difference`: an effect is absent only "
    "within a margin that holds the whole interval. A stuck run's T1 counts as later than any observed T1. "
    "The reference arm is the first one unless the recipe names one (`[summary] reference`)."
)
LAYERS_NOTE = (
    "Group `hidden`: the points the mean over hidden layers averages (one kind per model family); the other "
    "groups (a residual block's branch, a ViT's class token, a spatial mean, the logits ...) are shown "
    "apart and never enter the mean. `peak in` counts a seed whose loss had no first phase as `no phase 1`, "
    "as the verdict does."
)


class Markup(str):
    """A line of ``report.md`` that condensekit writes as Markdown or HTML itself, kept as it is."""


_TAG_START = re.compile(r"<(?=[A-Za-z/!?])")  # an HTML tag, comment or autolink would start here
_ENTITY_START = re.compile(r"&(?=[A-Za-z#])")


def inert(text: str) -> str:
    """``text`` as a Markdown viewer shows it without running it: no HTML tag, comment or autolink can start
    (``<`` before a letter, ``/``, ``!`` or ``?`` becomes ``&lt;``), no entity (``&amp;``), no image
    (``![`` becomes ``!\\[``); other text reads as it is."""
    return _TAG_START.sub("&lt;", _ENTITY_START.sub("&amp;", text)).replace("![", "!\\[")


def recipe_question(rows: Sequence[RunRow], name: str = "") -> list[str]:
    """The leading comment block of the recipe file (its question and commands), when the file is still there.

    Only a ``.toml`` file that parses as a recipe named ``name`` (the report folder's) is read, so a planted
    ``run.json`` cannot copy another file's comments into the report.
    """
    path = next((Path(r.spec.recipe_path) for r in rows if r.spec is not None and r.spec.recipe_path), None)
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


def description_context(report: ReportInput) -> quantities.Context:
    """What the quantities' descriptions refer to in this report: its thresholds, series and windows."""
    windows = report.windows()
    window = f"{'/'.join(map(str, windows))} steps" if windows else quantities.Context.window
    return quantities.Context(report.thresholds, report.series_words(), window)


def legend(report: ReportInput) -> list[str]:
    """How to read the verdict: one line per quantity in it, from its description, with the thresholds the
    runs actually used (definitions: docs/metrics.md)."""
    context = description_context(report)
    lines = [f"- {q.header}: {q.describe(context)}." for q in quantities.in_verdict()]
    lines.append(
        "- Values are median [min, max] across the seeds that finished ok. Per-run numbers (with `dS_max` / "
        "`peak_max`, the largest single-layer rise and peak) are in `summary.csv`; the definitions with "
        "their formulas are in condensekit's `docs/metrics.md`."
    )
    if report.other_thresholds:
        other = "; ".join(
            ", ".join(f"{k}={v}" for k, v in s.model_dump().items()) for s in report.other_thresholds
        )
        lines.append(
            "**Note: the runs used different thresholds**; besides "
            f"the ones above: {other}. Compare arms with care."
        )
    return lines


def initialisation_lines(report: ReportInput) -> list[str]:
    """Which initialisation each arm (and grid point) had, from its first finished run's record: the
    scheme and scale of each layer the ``init`` trick set, with the model's own gains it kept."""
    lines = []
    for group in report.groups:
        summary = next((r.summary for r in group.rows if r.summary is not None), None)
        if summary is None:
            continue
        by_text: dict[str, list[str]] = {}
        for module, text in summary.initialisation.items():
            by_text.setdefault(text, []).append(module or "(the model itself)")
        parts = [f"{text} on {_names(modules)}" for text, modules in by_text.items()]
        own = "the model's own initialisation (no init trick)"
        lines.append(f"- {group.label}: {'; '.join(parts) or own}")
    return lines


def _names(modules: list[str]) -> str:
    """``stem, head`` or ``blocks.0.fc .. blocks.9.fc (10 layers)``."""
    if len(modules) <= 3:
        return ", ".join(f"`{m}`" for m in modules)
    return f"`{modules[0]}` .. `{modules[-1]}` ({len(modules)} layers)"


def report_markdown(
    root: Path,
    report: ReportInput,
    table: list[dict[str, str]],
    figures: Sequence[tuple[str, str, str]],
    notes: list[str],
) -> str:
    """The text of ``report.md``.

    Args:
        root: the report's folder.
        report: the report's input.
        table: the verdict (:func:`condensekit.report.tables.verdict`).
        figures: ``(name, path relative to root, caption)`` of each drawn figure.
        notes: lines for the closing notes (mixed specs, figures not drawn).
    """
    headers = quantities.headers()
    lines = [
        f"# condensekit report: {root.name}",
        "",
        *recipe_question(report.rows, root.name),
        "## Answer",
        "",
        *[f"- {s}" for s in answer(report)],
        "",
    ]
    lines += ["## Verdict", "", render_markdown(table, headers), *legend(report), ""]
    lines += ["### Initialisation", "", *initialisation_lines(report), ""]
    compared = comparison_table(report)
    if compared:
        lines += [
            f"## Each arm against {report.reference}",
            "",
            render_markdown(compared),
            COMPARISON_NOTE,
            "",
        ]
    sweep = sweep_table(report)
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
        for name, path, caption in figures:  # name and path: plain file names (report.figures)
            lines += [caption or name, "", Markup(f"![{name}]({path})"), ""]
        lines += [
            (
                "The same figures and a custom-scalars layout "
                f"overlaying the runs: `tensorboard --logdir {root}`."
            ),
            "",
        ]
    layers = layer_table(report)
    if layers:
        lines += [
            "## Per-layer peaks",
            "",
            Markup("<details><summary>when each probe point peaks, by group</summary>"),
            "",
            render_markdown(layers, headers),
            LAYERS_NOTE,
            "",
            Markup("</details>"),
            "",
        ]
    problems = [r for r in report.rows if r.status != RunStatus.OK]
    if problems:
        lines += ["## Runs that did not finish ok", ""]
        lines += [f"- `{r.run_dir}`: {r.status}{': ' + r.error if r.error else ''}" for r in problems]
        lines.append("")
    if notes:
        lines += ["## Notes", "", *[f"- {n}" for n in notes], ""]
    return "\n".join(line if isinstance(line, Markup) else inert(line) for line in lines)

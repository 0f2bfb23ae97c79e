"""Does the verdict depend on where the instrument looked? Each shipped recipe against a dense reference.

For seed 0 of every shipped recipe whose data is here (``recipes/*.toml``, ``recipes/fashion_mnist/*.toml``;
MNIST and CIFAR-10 need a download and are listed as skipped), two grids are run:

* default: the recipe as shipped (its metric schedules, ``[probe] refine`` as it is);
* dense: only the summary series' metric, measured at every step (``--every 1``, or every 2 steps), with
  ``[probe] refine = false``. The probe never changes training, so both train the very same steps.

Per run and per probe point (hidden layers first, then the model's other groups), and for the layer mean,
it prints ``dS``, ``S*``, ``t*``, where the peak falls (``peak in``) and ``condensed`` of both, their
differences, and whether they agree: ``|dS - dS_dense| <= 0.005``, ``|t* - t*_dense| <= max(2 steps, 1% of
the run)``, and the same ``peak in`` and ``condensed``. ``S*dense - Sdense(t*)`` is how far below its own peak
the dense series is at the default's ``t*``: a few 1e-4 where ``t*`` disagrees means a flat top, whose
highest step is decided by noise of that size.

``--schedules log:20,log:40`` also runs the default (refined) with the summary metric on each of those
schedules instead of the recipe's, each against the same dense reference: the verdict must not flip with
the measuring schedule.

    OMP_NUM_THREADS=1 python benchmarks/schedule_agreement.py --jobs 2 [--only resmlp,four_tricks]
        [--every 1] [--schedules log:20,log:40] [--refine-budget 0.5] [--out runs/schedule_agreement]
        [--markdown table.md]

Finished runs are read back, not rerun (delete ``--out`` to start over). Each worker uses one torch thread.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RECIPES = sorted(Path("recipes").glob("*.toml")) + sorted(Path("recipes/fashion_mnist").glob("*.toml"))
OFFLINE_ONLY = ("recipes/mnist", "recipes/cifar10")
DS_TOLERANCE = 0.005


@dataclass
class Row:
    """One series (a hidden layer, or the mean) of one run, default against dense."""

    recipe: str
    run: str
    layer: str
    default: dict[str, Any]
    dense: dict[str, Any]
    steps: int

    @property
    def t_tolerance(self) -> int:
        return max(2, self.steps // 100)

    def difference(self, key: str) -> float | None:
        a, b = self.default.get(key), self.dense.get(key)
        return None if a is None or b is None else a - b

    @property
    def agrees(self) -> bool:
        if "agreed" in self.__dict__:  # read back from a table
            return bool(self.__dict__["agreed"])
        d_ds, d_t = self.difference("dS"), self.difference("peak_step")
        same = all(self.default.get(k) == self.dense.get(k) for k in ("peak_phase", "condensed"))
        if d_ds is None or d_t is None:  # no finite value in one of them: agree only if in neither
            return same and self.default.get("dS") is None and self.dense.get("dS") is None
        return same and abs(d_ds) <= DS_TOLERANCE and abs(d_t) <= self.t_tolerance


def variants(
    path: Path, seed: int, every: int, schedules: list[str]
) -> tuple[dict[str, Any], dict[str, Any], str, dict[str, dict[str, Any]]]:
    """The default and the dense recipe tables of one shipped recipe, its summary series, and the default
    with the summary metric on each of ``schedules`` (schedule -> table)."""
    from condensekit.api import open_recipe

    table = tomllib.loads(path.read_text(encoding="utf-8"))
    table["seeds"] = [seed]
    table.setdefault("executor", {}).update(threads=1)
    table["executor"].pop("jobs", None)
    loaded, _ = open_recipe(table)  # raises when the data is not here
    series = loaded.specs[0].summary_options.series
    if series is None:
        raise ValueError("no summary series")
    metric = series.partition("/")[0]
    dense = json.loads(json.dumps(table))
    params = dict(table.get("metrics", {}).get(metric, {}))
    if metric == "condensation":  # gradients do not enter the feature similarities: leave them out
        params.update(gradients=False, weight_gradients=False)
    dense["metrics"] = {metric: {**params, "every": f"every:{every}"}}
    dense.setdefault("probe", {})["refine"] = False
    dense["name"] = f"{table['name']}_dense"
    others = {}
    for schedule in schedules:
        other = json.loads(json.dumps(table))
        other.setdefault("metrics", {}).setdefault(metric, {})["every"] = schedule
        other["name"] = f"{table['name']}_at_{schedule.replace(':', '')}"
        others[schedule] = other
    return table, dense, series, others


def run_grid(table: dict[str, Any], out: Path, jobs: int) -> dict[str, Path]:
    """Run (or read back) a grid; ``run label -> run folder``."""
    from condensekit.api import run_recipe

    result = run_recipe(table, out=out, jobs=jobs, quiet=True, check=False)
    return {o.rel_dir.split("/", 1)[1]: out / o.rel_dir for o in result.outcomes}


def summary_of(run_dir: Path) -> dict[str, Any]:
    return json.loads((run_dir / "run.json").read_text(encoding="utf-8"))


def _value_at(run_dir: Path, tag: str, step: int | None) -> float | None:
    """The value of ``tag`` the run logged at ``step`` (None when it did not)."""
    from condensekit.output import read_metrics

    if step is None:
        return None
    for row in read_metrics(run_dir):
        if row.get("step") == step and tag in row:
            return float(row[tag])
    return None


def compare(recipe: str, default: dict[str, Path], dense: dict[str, Path], series: str) -> list[Row]:
    metric, _, quantity = series.partition("/")
    rows = []
    for label, run_dir in sorted(default.items()):
        if label not in dense:
            continue
        a, b = summary_of(run_dir), summary_of(dense[label])
        sa, sb = a.get("summary") or {}, b.get("summary") or {}
        steps = sa.get("steps_done") or 1
        mean = {**sa.get("mean", {}), "peak_phase": sa.get("peak_phase"), "condensed": sa.get("condensed")}
        mean_dense = {
            **sb.get("mean", {}),
            "peak_phase": sb.get("peak_phase"),
            "condensed": sb.get("condensed"),
        }
        rows.append(Row(recipe, label, "mean", mean, mean_dense, steps))
        for layer, values in sa.get("layers", {}).items():
            rows.append(Row(recipe, label, layer, values, sb.get("layers", {}).get(layer, {}), steps))
        for row in rows:
            if row.run == label and not row.agrees and row.dense.get("peak") is not None:
                key = "mean" if row.layer == "mean" else row.layer
                at = _value_at(dense[label], f"{metric}/{key}/{quantity}", row.default.get("peak_step"))
                row.dense["below_peak_at_t"] = None if at is None else row.dense["peak"] - at
    return rows


def _number(value: Any, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def table_lines(rows: list[Row]) -> list[str]:
    out = [
        "| recipe | run | layer | dS | dS dense | ΔdS | S* | S* dense | t* | t* dense | Δt* | peak in | "
        "peak in dense | condensed | condensed dense | agree | S*dense - Sdense(t*) |",
        "|" + " --- |" * 17,
    ]
    for r in rows:
        d, e = r.default, r.dense
        out.append(
            f"| {r.recipe} | {r.run} | {r.layer} | {_number(d.get('dS'))} | {_number(e.get('dS'))} | "
            f"{_number(r.difference('dS'))} | {_number(d.get('peak'))} | {_number(e.get('peak'))} | "
            f"{_number(d.get('peak_step'))} | {_number(e.get('peak_step'))} | "
            f"{_number(r.difference('peak_step'))} | {_number(d.get('peak_phase'))} | "
            f"{_number(e.get('peak_phase'))} | {_number(d.get('condensed'))} | "
            f"{_number(e.get('condensed'))} | {'yes' if r.agrees else '**no**'} | "
            f"{_number(e.get('below_peak_at_t')) if not r.agrees else ''} |"
        )
    return out


def recipe_lines(rows: list[Row]) -> list[str]:
    """One line per recipe: how many of its series agree, and by how much the misses miss."""
    out = [
        "| recipe (seed 0) | runs | series | agree | layer means agree | `condensed` agree | "
        "`peak in` agree | largest \\|ΔdS\\| of a miss | largest S*dense - Sdense(t*) of a t*-only miss |",
        "|" + " --- |" * 9,
    ]
    recipes = list(dict.fromkeys(r.recipe for r in rows))
    for recipe in [*recipes, "all"]:
        part = [r for r in rows if recipe in ("all", r.recipe)]
        means = [r for r in part if r.layer == "mean"]
        misses = [r for r in part if not r.agrees]
        d_ds = [abs(d) for r in misses if (d := r.difference("dS")) is not None]
        t_only = [
            r.dense["below_peak_at_t"]
            for r in misses
            if r.dense.get("below_peak_at_t") is not None and abs(r.difference("dS") or 0.0) <= DS_TOLERANCE
        ]
        same = {k: sum(r.default.get(k) == r.dense.get(k) for r in part) for k in ("condensed", "peak_phase")}
        last = (
            ["", ""]
            if recipe == "all"
            else [_number(max(d_ds, default=0.0)), _number(max(t_only, default=0.0))]
        )
        name = recipe if recipe == "all" else f"`{recipe}`"
        out.append(
            f"| {name} | {len({(r.recipe, r.run) for r in part})} | {len(part)} | "
            f"{sum(r.agrees for r in part)} | "
            f"{sum(r.agrees for r in means)}/{len(means)} | {same['condensed']}/{len(part)} | "
            f"{same['peak_phase']}/{len(part)} | {last[0]} | {last[1]} |"
        )
    return out


def rows_from_markdown(path: Path) -> list[Row]:
    """The rows of a table this benchmark wrote with ``--markdown`` (to summarise it again)."""

    def value(text: str) -> Any:
        text = text.strip().strip("*")
        if text in ("-", ""):
            return None
        if text in ("yes", "no"):
            return text == "yes"
        try:
            return int(text)
        except ValueError:
            pass
        try:
            return float(text)
        except ValueError:
            return text

    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 17 or cells[0] in ("recipe", "---"):
            continue
        v = [value(c) for c in cells]
        keys = ("dS", "peak", "peak_step", "peak_phase", "condensed")
        default = dict(zip(keys, (v[3], v[6], v[8], v[11], v[13]), strict=True))
        dense = dict(zip(keys, (v[4], v[7], v[9], v[12], v[14]), strict=True))
        dense["below_peak_at_t"] = v[16]
        run_steps = 0  # not in the table: t* agreement is read from its own column
        row = Row(str(v[0]), str(v[1]), str(v[2]), default, dense, run_steps)
        row.__dict__["agreed"] = v[15] is True
        rows.append(row)
    return rows


def cost_lines(recipe: str, default: dict[str, Path], dense: dict[str, Path]) -> list[str]:
    """CPU seconds of both grids and what the refinement did in the default one."""
    cpu = [sum(summary_of(d).get("cpu_seconds") or 0.0 for d in grid.values()) for grid in (default, dense)]
    refined = [summary_of(d).get("refinement") or {} for d in default.values()]
    measured = sum(r.get("measured_steps", 0) for r in refined)
    replayed = sum(r.get("replayed_steps", 0) for r in refined)
    checks = [r["check"]["identical"] for r in refined if "check" in r]
    return [
        f"{recipe}: {len(default)} runs; CPU {cpu[0]:.0f} s default, {cpu[1]:.0f} s dense; "
        f"refinement measured {measured} steps, replayed {replayed} training steps; self-check "
        f"bit-identical in {sum(checks)}/{len(checks)} runs"
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--only", default="", help="comma-separated parts of recipe paths to run (default: all)"
    )
    parser.add_argument("--jobs", type=int, default=2, help="worker processes (1 torch thread each)")
    parser.add_argument("--every", type=int, default=1, choices=(1, 2), help="the dense reference's spacing")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--schedules", default="", help="comma-separated schedules to run the default on too (log:20,log:40)"
    )
    parser.add_argument(
        "--refine-budget",
        type=float,
        help="run the default with this [probe] refine_budget instead of the recipe's (own --out folder)",
    )
    parser.add_argument("--out", type=Path, default=Path("runs/schedule_agreement"))
    parser.add_argument("--markdown", type=Path, help="also write the tables to this file")
    parser.add_argument(
        "--summarize", type=Path, help="only print the per-recipe summary of a table written with --markdown"
    )
    args = parser.parse_args()
    if args.summarize:
        print("\n".join(recipe_lines(rows_from_markdown(args.summarize))))
        return
    wanted = [w for w in args.only.split(",") if w]
    rows: list[Row] = []
    notes: list[str] = [
        f"skipped: {p}/*.toml (MNIST and CIFAR-10 are not on this machine)" for p in OFFLINE_ONLY
    ]
    started = time.time()
    for path in RECIPES:
        if wanted and not any(w in str(path) for w in wanted):
            continue
        try:
            default_table, dense_table, series, others = variants(
                path, args.seed, args.every, [s for s in args.schedules.split(",") if s]
            )
        except Exception as exc:  # data missing, no summary series
            notes.append(f"skipped: {path} ({str(exc).splitlines()[0][:200]})")
            continue
        print(f"{path}: {series}, default and dense (every {args.every})", file=sys.stderr, flush=True)
        folder = "default"
        if args.refine_budget is not None:
            default_table.setdefault("probe", {})["refine_budget"] = args.refine_budget
            folder = f"default_budget{args.refine_budget:g}"
        default = run_grid(default_table, args.out / folder, args.jobs)
        dense = run_grid(dense_table, args.out / f"dense{args.every}", args.jobs)
        name = path.stem if "fashion" not in str(path) else f"fashion_mnist/{path.stem}"
        rows += compare(name, default, dense, series)
        notes += cost_lines(str(path), default, dense)
        for schedule, table in others.items():
            at = run_grid(table, args.out / "schedules", args.jobs)
            rows += compare(f"{name} on {schedule}", at, dense, series)
            notes += cost_lines(f"{path} on {schedule}", at, dense)
    lines = [*recipe_lines(rows), "", *table_lines(rows)]
    agree = sum(r.agrees for r in rows)
    runs = {(r.recipe, r.run) for r in rows}
    summary = (
        f"{len(runs)} runs, {len(rows)} series (hidden layers and layer means): {agree} agree, "
        f"{len(rows) - agree} do not; dense reference every {args.every} step(s); "
        f"refine_budget {'as in each recipe' if args.refine_budget is None else f'{args.refine_budget:g}'}; "
        f"{time.time() - started:.0f} s wall"
    )
    text = "\n".join([summary, "", *lines, "", *notes])
    print(text)
    if args.markdown:
        args.markdown.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()

"""How well a metric schedule resolves the first phase: candidate schedules against a measurement every other
step.

The probe never changes training, so a run measured at every other step holds every sparser schedule: this
script runs a recipe once with ``condensation`` at ``every:2`` (``wgrad_inter`` off, it is not read here),
then reads each candidate schedule's steps out of it and compares, per arm, the layer-mean series
(``condensation/mean/feat_inter`` by default) with the dense one:

* measurements: how many steps the schedule measures in the run;
* dS error: the largest ``|dS - dS_dense|`` over seeds (``dS`` = peak minus first value);
* peak step error: ``|t* - t*_dense| / t*_dense``, median and largest over seeds;
* up to T1: the fewest measurements at or before the end of the loss plateau ``T1`` (the first phase);
* largest gap: the longest stretch without a measurement before ``2 T1`` (where the peak falls on digits).

    python benchmarks/schedule_resolution.py [--recipe recipes/resmlp_vs_mlp.toml] [--seeds 0,1,2,3,4]
                                             [--out runs/schedule_resolution] [--series mean/feat_inter]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tomllib
from pathlib import Path
from typing import Any

from condensekit.api import open_recipe
from condensekit.executing import execute_spec
from condensekit.schedules import schedule_steps

SCHEDULES = ["log:20", "log:30", "log:40", "log:50", "log:60", "log:80", "log:100", "every:20", "every:10"]


def dense_runs(recipe: Path, seeds: list[int], out: Path) -> list[Path]:
    table = tomllib.loads(recipe.read_text(encoding="utf-8"))
    table.update(
        name=f"{table['name']}_dense",
        seeds=seeds,
        metrics={"condensation": {"every": "every:2", "weight_gradients": False}},
    )
    table.setdefault("executor", {})["threads"] = 1
    parsed, pm = open_recipe(table)
    dirs = []
    for spec in parsed.specs:
        outcome = execute_spec(spec, out, force=False, plugin_manager=pm)
        assert outcome.status in ("ok", "skipped"), outcome.error
        dirs.append(out / outcome.rel_dir)
    return dirs


def series(run: Path, key: str) -> dict[int, float]:
    out = {}
    for line in (run / "metrics.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        if row.get(key) is not None:
            out[row["step"]] = row[key]
    return out


def shape(values: dict[int, float], steps: list[int]) -> dict[str, float]:
    t_peak = max(steps, key=lambda t: values[t])
    return {"dS": values[t_peak] - values[steps[0]], "t_peak": t_peak}


def compare(run: Path, key: str, schedule: str) -> dict[str, Any]:
    values = series(run, key)
    dense = sorted(values)
    t1 = json.loads((run / "run.json").read_text(encoding="utf-8"))["summary"].get("phase1_end")
    wanted = sorted(schedule_steps(schedule, dense[-1]))
    steps = sorted({t - t % 2 for t in wanted})  # the dense run holds the even steps
    ref, got = shape(values, dense), shape(values, steps)
    horizon = 2 * t1 if t1 is not None else dense[-1]
    return {
        "n": len(wanted),
        "dS": abs(got["dS"] - ref["dS"]),
        "t_peak": abs(got["t_peak"] - ref["t_peak"]) / max(1, ref["t_peak"]),
        "phase1": sum(1 for t in wanted if t1 is None or t <= t1),
        "gap": max((b - a for a, b in zip(steps, steps[1:], strict=False) if b <= horizon), default=0),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--recipe", type=Path, default=Path("recipes/resmlp_vs_mlp.toml"))
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--out", type=Path, default=Path("runs/schedule_resolution"))
    parser.add_argument("--series", default="mean/feat_inter", help="condensation quantity compared")
    parser.add_argument("--schedules", default=",".join(SCHEDULES))
    args = parser.parse_args()
    runs = dense_runs(args.recipe, [int(s) for s in args.seeds.split(",")], args.out)
    key = f"condensation/{args.series}"
    print(f"{args.recipe}: {len(runs)} runs measured every 2 steps; series {key}")
    for arm in sorted({r.parts[-3] for r in runs}):
        mine = [r for r in runs if r.parts[-3] == arm]
        t1s = [json.loads((r / "run.json").read_text())["summary"].get("phase1_end") for r in mine]
        print(f"\narm {arm} ({len(mine)} seeds, T1 = {', '.join(str(t) for t in t1s)}):\n")
        print(
            "| schedule | measurements | dS error, max | peak step error, "
            "median [max] | up to T1, fewest | largest gap before 2 T1 |"
        )
        print("| --- | --- | --- | --- | --- | --- |")
        for schedule in args.schedules.split(","):
            rows = [compare(r, key, schedule) for r in mine]
            print(
                f"| `{schedule}` | {rows[0]['n']} | {max(x['dS'] for x in rows):.3f} | "
                f"{100 * statistics.median(x['t_peak'] for x in rows):.1f}% "
                f"[{100 * max(x['t_peak'] for x in rows):.1f}%] | {min(x['phase1'] for x in rows)} | "
                f"{max(x['gap'] for x in rows)} |"
            )


if __name__ == "__main__":
    main()

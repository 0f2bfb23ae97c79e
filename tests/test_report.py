"""The cross-run report: numbers checked against an independent recomputation, figures, broken runs."""

from __future__ import annotations

import csv
import json
import math
import textwrap
from pathlib import Path

import pytest
from recipe_text import synthetic_training
from report_rows import markdown_table

from condensekit import dashboard, dashboard_arms
from condensekit.quantities import csv_columns
from condensekit.report import median_range, ranks, read_report, spearman

GRID_RECIPE = (
    """
name = "rep"
seeds = [0, 1]
device = "cpu"
"""
    + synthetic_training(40, 0.2, "every:20")
    + """[metrics]
condensation = { every = "every:5", weight_gradients = false }

[tricks]
init = { scheme = "xavier_normal", scale = 1.0 }

[[arms]]
name = "mlp"
model = { use = "mlp", depth = 4, width = 8 }

[grid]
"tricks.init.scale" = [0.5, 1.0, 2.0]
"""
)


# ---------------------------------------------------------------- independent reference code


def my_median(values: list[float]) -> float:
    s = sorted(values)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def my_cell(values: list[float]) -> str:
    """The report's cell format, from my own median: ``median [min, max]`` with 3 significant digits."""
    if not values:
        return "-"
    if all(float(v).is_integer() for v in values):  # steps are written out in full

        def f(x: float) -> str:
            return str(int(x)) if float(x).is_integer() else f"{x:.1f}"
    else:

        def f(x: float) -> str:
            return f"{x:.3g}"

    med = f(my_median(values))
    return med if len(values) == 1 else f"{med} [{f(min(values))}, {f(max(values))}]"


def rise_from_metrics(run_dir: Path) -> float:
    """Largest rise of feat_inter (peak minus first value) over hidden layers, straight from metrics.jsonl."""
    series: dict[str, list[tuple[int, float]]] = {}
    for line in (run_dir / "metrics.jsonl").read_text().splitlines():
        row = json.loads(line)
        for tag, value in row.items():
            parts = tag.split("/")
            if (
                len(parts) == 3
                and parts[0] == "condensation"
                and parts[2] == "feat_inter"
                and parts[1] != "logits"
                and value is not None
            ):
                series.setdefault(parts[1], []).append((row["step"], value))
    return max(max(v for _, v in pts) - sorted(pts)[0][1] for pts in series.values())


def mean_series_from_metrics(run_dir: Path) -> list[tuple[int, float]]:
    """feat_inter averaged over the hidden layers at each measured step, straight from metrics.jsonl."""
    out = []
    for line in (run_dir / "metrics.jsonl").read_text().splitlines():
        row = json.loads(line)
        values = [
            v
            for tag, v in row.items()
            if tag.startswith("condensation/layer") and tag.endswith("/feat_inter")
        ]
        if values:
            out.append((row["step"], sum(values) / len(values)))
    return out


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open() as f:
        return list(csv.DictReader(f))


# ---------------------------------------------------------------- tests


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real small grid run through the CLI (which writes the report at the end)."""
    from condensekit.cli import main

    tmp = tmp_path_factory.mktemp("report")
    recipe = tmp / "rep.toml"
    recipe.write_text(GRID_RECIPE)
    assert main(["run", str(recipe), "--out", str(tmp / "runs")]) == 0
    return tmp / "runs" / "rep"


def test_summary_csv_matches_run_json_and_metrics(finished: Path) -> None:
    rows = read_csv(finished / "summary.csv")
    assert list(rows[0]) == csv_columns() and len(rows) == 6
    for row in rows:
        run_dir = finished / row["run_dir"]
        info = json.loads((run_dir / "run.json").read_text())
        summary = info["summary"]
        assert row["status"] == info["status"] == "ok"
        assert row["seed"] == str(info["spec"]["seed"]) and row["arm"] == "mlp"
        assert row["phase1_end"] == ("" if summary["phase1_end"] is None else str(summary["phase1_end"]))
        assert float(row["dS_max"]) == pytest.approx(rise_from_metrics(run_dir), abs=1e-12)
        mean = mean_series_from_metrics(run_dir)
        peak_step, peak = max(mean, key=lambda p: p[1])
        assert float(row["dS"]) == pytest.approx(peak - mean[0][1], abs=1e-12)
        assert float(row["peak"]) == pytest.approx(peak, abs=1e-12) and int(row["peak_step"]) == peak_step
        t1 = summary["phase1_end"]
        assert row["peak_phase"] == ("phase1" if t1 is None or peak_step <= t1 else "phase2")
        assert row["collapsed_at_init"] in ("true", "false")
        assert float(row["final_test_acc"]) == pytest.approx(summary["final_test_acc"])
        accuracies = [
            json.loads(line).get("test/accuracy")
            for line in (run_dir / "metrics.jsonl").read_text().splitlines()
        ]
        assert float(row["final_test_acc"]) == pytest.approx([a for a in accuracies if a is not None][-1])


def test_report_md_verdict_is_recomputed_from_summary_csv(finished: Path) -> None:
    rows = read_csv(finished / "summary.csv")
    table = markdown_table((finished / "report.md").read_text(), "## Verdict")
    assert len(table) == 3  # one line per grid point
    for line in table:
        mine = [r for r in rows if r["grid"] == line["grid"]]
        assert len(mine) == 2
        assert line["rise dS"] == my_cell([float(r["dS"]) for r in mine])
        assert line["peak S*"] == my_cell([float(r["peak"]) for r in mine])
        assert line["peak t*"] == my_cell([float(r["peak_step"]) for r in mine])
        assert line["test acc"] == my_cell([float(r["final_test_acc"]) for r in mine])
        # a seed whose T1 is within two smoothing windows had no first phase for its peak to fall in
        phases = [
            r["peak_phase"]
            if not r["phase1_end"] or int(r["phase1_end"]) >= 2 * int(r["smoothing_window"])
            else "no phase 1"
            for r in mine
        ]
        assert line["peak in"] == ", ".join(
            f"{p} {phases.count(p)}/2" for p in ("phase1", "phase2", "no phase 1") if p in phases
        )
        assert line["collapsed"] == f"{sum(r['collapsed_at_init'] == 'true' for r in mine)}/2"
        t1 = [float(r["phase1_end"]) for r in mine if r["phase1_end"]]
        stuck = sum(1 for r in mine if not r["phase1_end"])
        expected = my_cell(t1) if t1 else "-"
        if stuck:
            expected = f"{expected} ({stuck} stuck)" if t1 else f"stuck ({stuck})"
        assert line["T1 (phase-1 end)"] == expected
        assert line["condensed"] == f"{sum(r['condensed'] == 'true' for r in mine)}/2"


def test_report_md_sweep_is_recomputed_with_scipy(finished: Path) -> None:
    from scipy.stats import spearmanr

    rows = read_csv(finished / "summary.csv")
    sweep = {r["quantity"]: r for r in markdown_table((finished / "report.md").read_text(), "## Sweep")}
    scale = [float(r["grid"].split("=")[1]) for r in rows]
    for label, column in (("rise dS", "dS"), ("peak S*", "peak"), ("test acc", "final_test_acc")):
        assert "T1 (phase-1 end)" in sweep and "condensed" in sweep
        values = [float(r[column]) for r in rows]
        rho = spearmanr(scale, values).statistic
        assert sweep[label]["rho"] == ("-" if math.isnan(rho) else f"{rho:+.2f}")
        per_seed = []
        for seed in ("0", "1"):
            pick = [i for i, r in enumerate(rows) if r["seed"] == seed]
            per_seed.append(spearmanr([scale[i] for i in pick], [values[i] for i in pick]).statistic)
        assert sweep[label]["per seed"] == " ".join("-" if math.isnan(v) else f"{v:+.2f}" for v in per_seed)
        agree = all(not math.isnan(v) and v != 0 and (v > 0) == (rho > 0) for v in per_seed)
        assert sweep[label]["seeds agree"] == (
            "-" if math.isnan(rho) or rho == 0 else ("yes" if agree else "no")
        )


def test_figures_png_and_tensorboard(finished: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    text = (finished / "report.md").read_text()
    for name in ("curves", "centered", "per_layer"):
        png = finished / "figures" / f"{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"](figures/{name}.png)" in text
    assert not (finished / "figures" / "neural_collapse.png").exists()  # no run logged NC: no empty figure
    events = list((finished / "figures").glob("events.out.tfevents.*"))
    assert len(events) == 1 and not (finished / "report").exists()
    acc = EventAccumulator(str(finished / "figures"), size_guidance={"images": 0, "tensors": 0})
    acc.Reload()
    assert {"figure/curves", "figure/centered", "figure/per_layer"} <= set(acc.Tags()["images"])
    image = acc.Images("figure/curves")[0]
    # stored as drawn, full size
    assert image.encoded_image_string == (finished / "figures" / "curves.png").read_bytes()
    assert "report.md" in acc.Tags()["tensors"]
    from tensorboard.plugins.custom_scalar import layout_pb2

    run_acc = EventAccumulator(
        str(finished / "mlp" / "tricks.init.scale=0.5" / "seed=0"), size_guidance={"tensors": 0}
    )
    run_acc.Reload()
    layout = layout_pb2.Layout()
    layout.ParseFromString(run_acc.Tensors("custom_scalars__config__")[0].tensor_proto.string_val[0])
    charts = {chart.title: list(chart.multiline.tag) for cat in layout.category for chart in cat.chart}
    assert layout.category[0].title == dashboard_arms.SECTION  # the arms first, then every run
    assert layout.category[1].title == dashboard.EVERY_RUN and charts["training loss"] == ["^train/loss$"]
    groups = {f"{row.arm}/{Path(row.run_dir).parent.name}" for row in read_report(finished).rows}
    for group in groups:  # one TensorBoard run per arm at each grid point: its median and band
        arm_run = EventAccumulator(str(finished / "figures" / "arms" / group))
        arm_run.Reload()
        assert "Arms/2_test_accuracy" in arm_run.Tags()["scalars"], group
    assert any("condensation/layer1/feat_inter" in tag for tags in charts.values() for tag in tags)


def test_report_command_rebuilds_without_rerunning(finished: Path, cli_run) -> None:
    before = {p: p.stat().st_mtime_ns for p in finished.rglob("run.json")}
    csv_before = (finished / "summary.csv").read_text()
    (finished / "summary.csv").unlink()
    (finished / "report.md").unlink()
    code, out, _ = cli_run("report", str(finished))
    assert code == 0 and "T1 (phase-1 end)" in out
    assert (finished / "summary.csv").read_text() == csv_before
    assert (finished / "report.md").exists()
    assert {p: p.stat().st_mtime_ns for p in finished.rglob("run.json")} == before
    assert len(list((finished / "figures").glob("events.out.tfevents.*"))) == 1  # replaced, not piled up


BROKEN_PLUGIN = """
import condensekit
from pydantic import BaseModel, ConfigDict

class ExplodeParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

class Explode:
    def __init__(self, params):
        self.params = params

    @condensekit.hookimpl
    def after_step(self, run, model, optimizer):
        if run.step == 2:
            raise RuntimeError("boom at step 2")

@condensekit.hookimpl
def register_tricks(register):
    register("explode", Explode, params=ExplodeParams, summary="fails on purpose")
"""


def test_report_lists_failed_diverged_interrupted_and_unreadable_runs(tmp_path: Path, cli_run) -> None:
    (tmp_path / "broken.py").write_text(BROKEN_PLUGIN)
    recipe = GRID_RECIPE.replace('[grid]\n"tricks.init.scale" = [0.5, 1.0, 2.0]\n', "").replace(
        "seeds = [0, 1]", "seeds = [0]"
    )
    recipe = (
        'plugins = ["broken.py"]\n'
        + recipe
        + textwrap.dedent("""
        [[arms]]
        name = "diverges"
        model = { use = "mlp", depth = 4, width = 8 }
        train = { lr = 1e6 }

        [[arms]]
        name = "fails"
        model = { use = "mlp", depth = 4, width = 8 }
        tricks = { explode = {} }
    """)
    )
    path = tmp_path / "bad.toml"
    path.write_text(recipe)
    code, _, _ = cli_run("run", str(path), "--out", str(tmp_path / "runs"))
    assert code == 1  # a run failed
    root = tmp_path / "runs" / "rep"
    # an interrupted run (killed while running) and one whose run.json is garbage
    interrupted = root / "mlp" / "base" / "seed=7"
    interrupted.mkdir(parents=True)
    spec = json.loads((root / "mlp" / "base" / "seed=0" / "run.json").read_text())["spec"]
    (interrupted / "run.json").write_text(json.dumps({"status": "running", "spec": {**spec, "seed": 7}}))
    garbage = root / "mlp" / "base" / "seed=8"
    garbage.mkdir(parents=True)
    (garbage / "run.json").write_text("{not json")
    code, out, _ = cli_run("report", str(root))
    assert code == 0
    statuses = {(r["arm"], r["seed"]): r["status"] for r in read_csv(root / "summary.csv")}
    assert (
        statuses[("mlp", "0")] == "ok"
        and statuses[("diverges", "0")] == "diverged"
        and statuses[("fails", "0")] == "failed"
    )
    assert statuses[("mlp", "7")] == "interrupted" and statuses[("mlp", "")] == "unreadable"
    text = (root / "report.md").read_text()
    problems = text[text.index("## Runs that did not finish ok") :]
    assert (
        "boom at step 2" in problems
        and "diverged" in problems
        and "interrupted" in problems
        and "unreadable" in problems
    )
    verdict = {r["arm"]: r for r in markdown_table(text, "## Verdict")}
    assert verdict["fails"]["runs"] == "1 failed" and verdict["fails"]["condensed"] == "-"
    assert verdict["mlp"]["runs"] == "1 ok 1 interrupted 1 unreadable"
    assert "diverges" in out and (root / "figures" / "curves.png").exists()


def test_ranks_and_spearman_against_scipy() -> None:
    from scipy.stats import rankdata, spearmanr

    x = [3.0, 1.0, 2.0, 2.0, 5.0, 1.0]
    y = [0.1, 0.5, 0.2, 0.9, 0.3, 0.3]
    assert ranks(x) == list(rankdata(x))
    assert spearman(x, y) == pytest.approx(spearmanr(x, y).statistic)
    assert math.isnan(spearman([1.0, 2.0], [3.0, 3.0])) and math.isnan(spearman([1.0], [2.0]))


def test_median_range_format() -> None:
    assert median_range([3, 1, 2]) == "2 [1, 3]"
    assert median_range([0.5]) == "0.5"
    assert median_range([None, float("nan")]) == "-"
    assert median_range([1, 2]) == my_cell([1.0, 2.0]) == "1.5 [1, 2]"
    assert (
        median_range([1000, 1200, 960]) == "1000 [960, 1200]" and median_range([0.5, 1.0]) == "0.75 [0.5, 1]"
    )

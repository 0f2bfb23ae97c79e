"""The TensorBoard dashboard, read through a real TensorBoard server's HTTP data API.

A two-arm grid whose arms differ in depth and layer names (a 5-layer MLP: ``layer1..4``; a 3-layer residual
MLP: ``stem, block1, block1.fc``) runs with a local metric that logs the agreed layer means and energy
shares (tests/data/layer_means.py). A real ``tensorboard`` is started on localhost; the test reads its runs,
tags, custom-scalars layout, HParams experiment and session groups, and images, as the browser would.
"""

from __future__ import annotations

import json
import re
import shutil
import statistics
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from recipe_text import synthetic_training
from report_rows import summary as run_summary

from condensekit import dashboard, quantities
from condensekit.phases import layer_mean, smoothed_loss
from condensekit.report import read_report

HERE = Path(__file__).resolve().parent
RECIPE = (
    """
name = "dash"
seeds = [0, 1]
device = "cpu"
plugins = ["{plugin}"]
"""
    + synthetic_training(60, 0.2, "every:20")
    + """[metrics]
layer_means = {{ every = "every:10" }}

[tricks]
init = {{ scheme = "xavier_normal", scale = 1.0 }}

[[arms]]
name = "mlp"
model = {{ use = "mlp", depth = 5, width = 8, activation = "tanh" }}

[[arms]]
name = "resmlp"
model = {{ use = "resmlp", depth = 3, width = 8 }}
tricks = {{ momentum = {{ beta = 0.5 }} }}
"""
)


@pytest.fixture(scope="module")
def grid(tmp_path_factory: pytest.TempPathFactory) -> Any:
    import condensekit

    tmp = tmp_path_factory.mktemp("dash")
    recipe = RECIPE.format(plugin=(HERE / "data" / "layer_means.py").as_posix())
    return condensekit.run_recipe(recipe, out=tmp / "runs", quiet=True)


@pytest.fixture(scope="module")
def server(grid: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A TensorBoard on 127.0.0.1 and a port the OS picked, serving the grid; yields its base URL."""
    sys.path.insert(0, str(HERE.parent / "scripts"))
    from screenshots import start_tensorboard  # the one way this project starts a TensorBoard to look at

    process, base = start_tensorboard(grid.root, tmp_path_factory.mktemp("tb") / "tensorboard.log")
    try:
        deadline = time.monotonic() + 120
        assert base.startswith("http://127.0.0.1:"), base
        expected = {"figures", *RUNS, *ARM_RUNS.values()}
        while set(get(base, "data/runs")) != expected and time.monotonic() < deadline:
            time.sleep(0.3)
        assert set(get(base, "data/runs")) == expected
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


def get(base: str, path: str, body: dict[str, Any] | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read().decode())


RUNS = [f"{arm}/base/seed={s}" for arm in ("mlp", "resmlp") for s in (0, 1)]
ARM_RUNS = {arm: f"figures/arms/{arm}/base" for arm in ("mlp", "resmlp")}  # one summary run per arm


def matching(base: str, run: str, regex: str) -> dict[str, list[Any]]:
    query = urllib.parse.urlencode({"run": run, "tag": regex})
    answer = get(base, f"data/plugin/custom_scalars/scalars?{query}")
    assert answer["regex_valid"], regex
    return {tag: events for tag, events in answer["tag_to_events"].items() if events}


def assert_headline(titles: list[str], loss: str) -> None:
    """The headline charts in order: loss, test accuracy, the series' layer mean, the declared compare
    quantities, the T1 marker."""
    assert titles[:3] == [loss, "test accuracy", "feat_inter, mean over hidden layers (layer_means)"]
    assert [t.split(",")[0] for t in titles[3:6]] == ["share_common", "share_class", "share_sample"]
    assert titles[-1] == "on the loss plateau (1) until T1 (0)"


def test_the_arms_section_comes_first_one_margin_chart_per_headline_series(server: str) -> None:
    layout = get(server, "data/plugin/custom_scalars/layout")
    first = layout["category"][0]
    assert first["title"].startswith("Arms: median over seeds") and not first.get("closed")
    # listed last to first: Custom Scalars draws a section of margin charts in reverse (screenshot)
    assert_headline(
        [chart["title"] for chart in first["chart"]][::-1], "training loss (running median, as T1 is read)"
    )
    for chart in first["chart"]:
        (series,) = chart["margin"]["series"]
        tag = series["value"]
        name = tag.partition("/")[2]
        assert tag.startswith("Arms/") and series["lower"] == f"arm_band/{name}/min"
        assert series["upper"] == f"arm_band/{name}/max"
        regex = "^(" + "|".join(re.escape(t) for t in series.values()) + ")$"
        for run in ARM_RUNS.values():  # each arm has its median and band, measured at the same steps
            found = matching(server, run, regex)
            assert len(found) == 3, (chart["title"], run)
            steps = [[e[1] for e in events] for events in found.values()]
            assert steps[0] and steps[0] == steps[1] == steps[2], (chart["title"], run)
        for run in RUNS:  # a seed's run has none of them: only the arms are drawn, one colour each
            assert not matching(server, run, regex)


def test_the_every_run_section_follows_and_overlays_every_run_of_every_arm(server: str) -> None:
    layout = get(server, "data/plugin/custom_scalars/layout")
    first = layout["category"][1]
    assert first["title"] == dashboard.EVERY_RUN and not first.get("closed")
    assert_headline([chart["title"] for chart in first["chart"]], "training loss")
    for chart in first["chart"]:
        (regex,) = chart["multiline"]["tag"]
        for run in RUNS:  # every arm's every run has a line in every chart of the section
            assert len(matching(server, run, regex)) == 1, (chart["title"], run)
    depth = layout["category"][2]
    assert depth["title"].startswith("feat_inter by relative depth")
    assert len(depth["chart"]) == 5
    for chart in depth["chart"]:
        (regex,) = chart["multiline"]["tag"]
        for run in RUNS:  # the 5-layer MLP and the 3-layer residual MLP share these tags
            assert matching(server, run, regex), (chart["title"], run)
    titles = [c["title"] for c in layout["category"]]
    detail = next(c for c in layout["category"] if c["title"] == "feat_inter per layer (detail)")
    assert detail["closed"] and titles.index("feat_inter per layer (detail)") > 2
    assert {"layer1: feat_inter", "layer4: feat_inter", "stem: feat_inter", "block1: feat_inter"} <= {
        c["title"] for c in detail["chart"]
    }
    # a residual block's branch is no hidden layer: its own group, after the detail, closed
    branch = next(
        c for c in layout["category"] if c["title"] == "feat_inter, group branch (outside the layer mean)"
    )
    assert branch["closed"] and "block1.fc: feat_inter" in {c["title"] for c in branch["chart"]}
    assert "block1.fc: feat_inter" not in {c["title"] for c in detail["chart"]}


def test_the_by_depth_tags_hold_the_layer_at_that_relative_depth(server: str, grid: Any) -> None:
    run = "mlp/base/seed=0"
    own = matching(server, run, "^layer_means/layer4/feat_inter$")["layer_means/layer4/feat_inter"]
    last = matching(server, run, "^Compare_by_depth/feat_inter/4_last$")["Compare_by_depth/feat_inter/4_last"]
    assert [e[1:] for e in own] == [e[1:] for e in last]  # (step, value) pairs
    first = matching(server, "resmlp/base/seed=0", "^Compare_by_depth/feat_inter/0_first$")
    stem = matching(server, "resmlp/base/seed=0", "^layer_means/stem/feat_inter$")
    assert [e[1:] for e in first["Compare_by_depth/feat_inter/0_first"]] == [
        e[1:] for e in stem["layer_means/stem/feat_inter"]
    ]


def scalars(base: str, run: str, tag: str) -> dict[int, float]:
    """step -> value of one tag of one run, as TensorBoard's data provider serves it."""
    return {step: value for _, step, value in matching(base, run, f"^{re.escape(tag)}$")[tag]}


def as_series(points: dict[int, float]) -> tuple[list[int], list[float]]:
    return sorted(points), [points[step] for step in sorted(points)]


def arm_band(base: str, arm: str, tag: str) -> dict[int, tuple[float, float, float]]:
    """step -> (median, min, max) of an arm summary, read back from the arm's TensorBoard run."""
    name = tag.partition("/")[2]
    tags = (tag, f"arm_band/{name}/min", f"arm_band/{name}/max")
    median, low, high = (scalars(base, ARM_RUNS[arm], t) for t in tags)
    assert sorted(median) == sorted(low) == sorted(high)
    return {step: (median[step], low[step], high[step]) for step in median}


def assert_band_of(band: dict[int, tuple[float, float, float]], seeds: list[dict[int, float]]) -> None:
    """The band is the median, min and max of the seeds' own values at the steps every seed still running
    measured (float32 in the file); a step only some of them measured (refined around a peak) is left out."""
    steps = sorted(set().union(*seeds))
    shared = [t for t in steps if all(t in s for s in seeds if s and min(s) <= t <= max(s))]
    assert sorted(band) == shared and band
    for step, (median, low, high) in band.items():
        values = [seed[step] for seed in seeds if step in seed]
        assert median == pytest.approx(statistics.median(values), rel=1e-5, abs=1e-6), step
        assert (low, high) == (pytest.approx(min(values), rel=1e-5), pytest.approx(max(values), rel=1e-5))


def test_each_arm_summary_is_the_median_min_and_max_of_its_seeds_own_values(server: str, grid: Any) -> None:
    rows = {row.run_dir: row.summary for row in read_report(grid.root).rows}
    for arm in ("mlp", "resmlp"):
        runs = [run for run in RUNS if run.startswith(f"{arm}/")]
        accuracy = [scalars(server, run, "test/accuracy") for run in runs]  # as each seed logged it
        assert_band_of(arm_band(server, arm, "Arms/2_test_accuracy"), accuracy)
        means, losses, markers = [], [], []
        for run in runs:
            summary = rows[run]
            # the layer mean by the one rule, over the seed's own per-layer values
            tags = {f"layer_means/{layer}/feat_inter" for layer in summary.hidden_layers}
            own = {tag: as_series(scalars(server, run, tag)) for tag in tags}
            means.append(
                dict(zip(*layer_mean(own, summary.hidden_layers, "layer_means", "feat_inter"), strict=True))
            )
            # the loss as the phase detector reads it: the running median of the seed's own losses
            loss = smoothed_loss(as_series(scalars(server, run, "train/loss")), summary.smoothing_window)
            losses.append(dict(zip(*loss, strict=True)))
            t1 = summary.phase1_end
            markers.append({s: float(t1 is None or s < t1) for s in range(summary.steps_done + 1)})
        assert_band_of(arm_band(server, arm, "Arms/3_feat_inter_mean"), means)
        assert_band_of(arm_band(server, arm, "Arms/1_train_loss"), losses)
        marker = arm_band(server, arm, "Arms/7_T1")
        assert_band_of(marker, [{s: m[s] for s in marker} for m in markers])
        assert {t - 1 for r in runs if (t := rows[r].phase1_end)} <= set(marker)  # each seed's drop is drawn


def test_the_headline_groups_sort_first_in_the_scalars_tabs(server: str) -> None:
    tags = get(server, "data/plugin/scalars/tags")
    # TensorBoard orders groups by name: the arm summaries first, then every run's copies
    groups = sorted({tag.split("/")[0] for run in [*RUNS, *ARM_RUNS.values()] for tag in tags[run]})
    assert groups[:4] == ["Arms", "Compare", "Compare_by_depth", "arm_band"]
    groups = sorted({tag.split("/")[0] for run in RUNS for tag in tags[run]})
    assert groups[:2] == ["Compare", "Compare_by_depth"]
    compare = sorted(tag for tag in tags["mlp/base/seed=0"] if tag.startswith("Compare/"))
    assert compare[:3] == ["Compare/1_train_loss", "Compare/2_test_accuracy", "Compare/3_feat_inter_mean"]
    assert compare[-1] == "Compare/on_plateau"


def test_the_plateau_marker_drops_at_each_runs_t1(server: str, grid: Any) -> None:
    for row in grid.rows:
        run = row["run_dir"]
        events = matching(server, run, "^Compare/on_plateau$")["Compare/on_plateau"]
        t1 = row["phase1_end"]
        assert events and all(value == (1.0 if t1 is None or step < t1 else 0.0) for _, step, value in events)
        if t1 is not None:
            assert {t1 - 1, t1} <= {step for _, step, _ in events}


def test_hparams_are_few_enough_to_be_ticked_with_domains_and_the_verdict_as_metrics(
    server: str, grid: Any
) -> None:
    experiment = get(server, "data/plugin/hparams/experiment", {"experimentName": ""})
    infos = {h["name"]: h for h in experiment["hparamInfos"]}
    assert list(infos) == ["arm", "seed", "status", "tricks"]  # TensorBoard ticks the first five
    assert infos["arm"]["domainDiscrete"] == ["mlp", "resmlp"] and infos["seed"]["domainDiscrete"] == [
        "0",
        "1",
    ]
    assert "ok" in infos["status"]["domainDiscrete"] and "failed" in infos["status"]["domainDiscrete"]
    assert any("momentum(beta=0.5" in t for t in infos["tricks"]["domainDiscrete"])
    metrics = [m["name"]["tag"] for m in experiment["metricInfos"]]
    assert metrics == [tag for tag, _, _ in dashboard.hparams_metrics(quantities.Context())]
    # the verdict's headline first, then the per-layer answers
    assert metrics == [
        "verdict/T1",
        "verdict/dS",
        "verdict/peak_in_phase1",
        "verdict/peak_loss_drop",
        "verdict/test_acc",
        "verdict/condensed",
        "verdict/layers_condensed",
        "verdict/dS_max",
        "verdict/dS_max_depth",
    ]
    groups = get(
        server,
        "data/plugin/hparams/session_groups",
        {
            "experimentName": "",
            "allowedStatuses": ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE", "STATUS_RUNNING"],
            "colParams": [],
            "startIndex": 0,
            "sliceSize": 100,
        },
    )
    sessions = {g["name"]: g for g in groups["sessionGroups"]}
    assert set(sessions) == set(RUNS)
    for row in grid.rows:
        session = sessions[row["run_dir"]]
        assert session["hparams"]["status"] == "ok" and session["hparams"]["arm"] == row["arm"]
        values = {m["name"]["tag"]: m["value"] for m in session["metricValues"]}
        assert values["verdict/test_acc"] == pytest.approx(row["final_test_acc"], abs=1e-6)
        assert values["verdict/condensed"] == float(bool(row["condensed"]))
        # the verdict table's rise, not one layer's
        assert values["verdict/dS"] == pytest.approx(row["dS"], abs=1e-6)


def test_the_report_figures_and_report_md_are_the_run_called_figures(server: str, grid: Any) -> None:
    images = get(server, "data/plugin/images/tags")
    assert set(images) == {"figures"} and {"figure/curves", "figure/per_layer"} <= set(images["figures"])
    text = get(server, "data/plugin/text/tags")
    assert text.get("figures") == ["report.md"]


# ---------------------------------------------------------------- the pieces, without a server


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        (1, [0, 0, 0, 0, 0]),
        (2, [0, 0, 0, 1, 1]),
        (5, [0, 1, 2, 3, 4]),
        (9, [0, 2, 4, 6, 8]),
        (17, [0, 4, 8, 12, 16]),
    ],
)
def test_relative_depth_picks_first_quarters_and_last(n: int, expected: list[int]) -> None:
    hidden = [f"h{i}" for i in range(n)]
    assert [layer for _, _, layer in dashboard.depth_layers(hidden)] == [hidden[i] for i in expected]
    assert dashboard.depth_layers([]) == []


def test_hparams_stay_at_five_with_any_grid() -> None:
    tricks = {"momentum": {"beta": 0.9, "nesterov": False}, "init": {"scale": 2.0}}
    one = dashboard.run_hparams("mlp", 3, {"tricks.init.scale": 2.0}, tricks, "ok")
    assert one == {
        "arm": "mlp",
        "seed": "3",
        "status": "ok",
        "tricks": "init(scale=2.0) + momentum(beta=0.9, nesterov=false)",
        "grid.tricks.init.scale": 2.0,
    }
    two = dashboard.run_hparams("mlp", 3, {"a": 1, "b": "x"}, {}, "ok")
    assert len(two) == 5 and two["grid"] == "a=1,b=x" and two["tricks"] == "none"


def test_hparams_values_leave_out_what_is_unknown() -> None:
    summary = run_summary(phase1_end=None, dS_max=0.2, dS=0.05, condensed=True, peak_phase="phase1")
    assert dashboard.hparams_values(summary) == {  # dS: the layer mean's rise, as in the verdict table
        "verdict/dS": 0.05,
        "verdict/condensed": 1.0,
        "verdict/peak_in_phase1": 1.0,
        "verdict/dS_max": 0.2,  # the largest single-layer rise; no layers_condensed, no layer: left out
    }
    after = run_summary(phase1_end=30, peak_phase="phase2", condensed=False, final_test_acc=0.5)
    assert dashboard.hparams_values(after) == {
        "verdict/T1": 30.0,
        "verdict/peak_in_phase1": 0.0,
        "verdict/test_acc": 0.5,
        "verdict/condensed": 0.0,
    }


def test_the_screenshot_script_runs_against_the_grid(grid: Any, tmp_path: Path) -> None:
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(chromium).exists():
        pytest.skip("no chromium here (Debian: apt install chromium)")
    script = HERE.parent / "scripts" / "screenshots.py"
    result = subprocess.run(
        [sys.executable, str(script), str(grid.root), str(tmp_path), "--tabs", "dashboard_compare"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    png = (tmp_path / "dashboard_compare.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 50_000  # a rendered page, not a blank one

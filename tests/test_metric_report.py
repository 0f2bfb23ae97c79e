"""Metrics own their report: a metric written only from docs/plugins.md adds its figure to report.md.

The plugin under test is the code block of docs/plugins.md ("Figures in the report"), copied to a file as a
user would. The same recipe checks that ``[summary] series`` makes the verdict read a plugin's series, that
the legend prints the thresholds in force, and that a series nobody declares is a recipe error.
"""

from __future__ import annotations

import json
import math
import re
import textwrap
from pathlib import Path

import pytest
from recipe_text import synthetic_training

from condensekit.report.series import load_series

DOCS = Path(__file__).resolve().parent.parent / "docs" / "plugins.md"

RECIPE = (
    """
name = "spread"
seeds = [0]
device = "cpu"
plugins = ["./feat_spread.py"]
"""
    + synthetic_training(30, 0.1, "at:0,30")
    + """[metrics]
condensation = { every = "every:10", weight_gradients = false }
feat_spread = { every = "every:5" }

[[arms]]
name = "mlp"
model = { use = "mlp", depth = 4, width = 8 }
"""
)


def _plugin_from_docs() -> str:
    text = DOCS.read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)
    (block,) = [b for b in blocks if b.startswith("# feat_spread.py")]
    return block


@pytest.fixture
def spread_recipe(tmp_path: Path) -> Path:
    (tmp_path / "feat_spread.py").write_text(_plugin_from_docs())
    path = tmp_path / "spread.toml"
    path.write_text(RECIPE)
    return path


def test_a_plugin_metric_written_from_the_docs_adds_its_figure(
    spread_recipe: Path, tmp_path: Path, cli_run
) -> None:
    code, _, err = cli_run("run", str(spread_recipe), "--out", str(tmp_path / "runs"))
    assert code == 0, err
    root = tmp_path / "runs" / "spread"
    text = (root / "report.md").read_text()
    assert "Feature spread (mean distance from the probe-set centre), mean over hidden layers." in text
    assert "![feature_spread](figures/feature_spread.png)" in text
    png = (root / "figures" / "feature_spread.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    # the declaration travelled in run.json, so the report does not need the plugin
    (info_path,) = root.rglob("run.json")
    assert (
        json.loads(info_path.read_text())["reports"]["feat_spread"]["figures"][0]["name"] == "feature_spread"
    )
    # TensorBoard shows the same image
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(root / "figures"), size_guidance={"images": 0})
    acc.Reload()
    assert "figure/feature_spread" in acc.Tags()["images"]
    # and a rebuilt report without the plugin file keeps the figure
    (spread_recipe.parent / "feat_spread.py").unlink()
    (root / "figures" / "feature_spread.png").unlink()
    code, _, err = cli_run("report", str(root))
    assert code == 0, err
    assert (root / "figures" / "feature_spread.png").exists()


def test_summary_series_makes_the_verdict_read_a_plugin_series(
    spread_recipe: Path, tmp_path: Path, cli_run
) -> None:
    spread_recipe.write_text(RECIPE + '\n[summary]\nseries = "feat_spread/spread"\nrise = 0.07\n')
    code, _, err = cli_run("run", str(spread_recipe), "--out", str(tmp_path / "runs"))
    assert code == 0, err
    root = tmp_path / "runs" / "spread"
    (run_dir,) = [p.parent for p in root.rglob("run.json")]
    summary = json.loads((run_dir / "run.json").read_text())["summary"]
    series = load_series(run_dir)
    # independent recomputation of the largest rise of feat_spread/<layer>/spread over the hidden layers
    rises = []
    for layer in summary["hidden_layers"]:
        steps, values = series[f"feat_spread/{layer}/spread"]
        assert {0, 5, 10, 15, 20, 25, 30} <= set(steps)  # the schedule, and the refinement's steps
        rises.append(max(values) - values[0])
    assert math.isclose(summary["dS_max"], max(rises), rel_tol=1e-9)
    legend = (root / "report.md").read_text()
    assert (
        "`feat_spread/spread`" in legend and "a rise dS >= 0.07" in legend and "never rise by 0.07" in legend
    )


def test_a_series_no_metric_measures_is_a_recipe_error(spread_recipe: Path, tmp_path: Path, cli_run) -> None:
    for series, words in (
        ("feat_spread/width", "has no per-layer series 'width'"),
        ("nothing/feat_inter", "of a metric this recipe measures"),
    ):
        spread_recipe.write_text(RECIPE + f'\n[summary]\nseries = "{series}"\n')
        code, _, err = cli_run("validate", str(spread_recipe))
        assert code == 2 and "summary.series" in err and words in err, err


def test_the_legend_prints_the_default_thresholds_and_the_series(tmp_path: Path, cli_run) -> None:
    path = tmp_path / "plain.toml"
    path.write_text(
        textwrap.dedent(RECIPE)
        .replace('plugins = ["./feat_spread.py"]\n', "")
        .replace('feat_spread = { every = "every:5" }\n', "")
    )
    code, _, err = cli_run("run", str(path), "--out", str(tmp_path / "runs"))
    assert code == 0, err
    text = (tmp_path / "runs" / "spread" / "report.md").read_text()
    assert "max(0.05 L0, 0.02)" in text and "a rise dS >= 0.1, then a final value at most S* - 0.5 dS" in text
    assert "start at or above 0.9" in text
    assert "`condensation/feat_inter`, the inter-class feature similarity" in text

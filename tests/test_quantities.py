"""The table of reported quantities: a quantity added by one entry reaches every surface, the published
``summary.csv`` columns stay where they are, the Python API is keyed by stable keys, the cells sum up
seeds as the quantity's kind says."""

from __future__ import annotations

import csv
import json
import warnings
from pathlib import Path
from typing import Any

import pytest
from report_rows import markdown_table, report, row

from condensekit import quantities
from condensekit.quantities import Quantity
from condensekit.report import fit_table, layer_table, verdict
from condensekit.results import VerdictCells


def _fall(series: Any) -> float | None:
    """How far a series came down from its peak by the end."""
    return None if series.peak is None or series.S_final is None else series.peak - series.S_final


FALL = Quantity(
    "fall",
    "number",
    "how far the similarity came down from its peak by the end (S* - S_final); condensed needs "
    "{th.fall_fraction:g} dS of it",
    header="fall from S*",
    short="fall",
    run=lambda s: _fall(s.mean),
    layer=_fall,
    verdict=True,
    hparams="verdict/fall",
    progress=True,
)


def _hparams_metric_infos(folder: Path) -> dict[str, Any]:
    """The HParams metric infos of the recipe's ``figures/`` run, read with TensorBoard's own reader."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import metadata, plugin_data_pb2

    acc = EventAccumulator(str(folder))
    acc.Reload()
    content = acc.PluginTagToContent(metadata.PLUGIN_NAME)[metadata.EXPERIMENT_TAG]
    data = plugin_data_pb2.HParamsPluginData.FromString(content)
    return {m.name.tag: m for m in data.experiment.metric_infos}


def test_a_quantity_added_by_one_entry_reaches_every_surface(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, write_recipe: Any, cli_run: Any
) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    import condensekit

    monkeypatch.setattr(quantities, "QUANTITIES", (*quantities.QUANTITIES, FALL))
    every = "metrics.condensation.every=every:5"
    code, out, err = cli_run("run", str(write_recipe()), "--out", str(tmp_path / "runs"), "--set", every)
    assert code == 0, err
    root = tmp_path / "runs" / "tiny"
    summaries = {
        p.parent.name: json.loads(p.read_text())["summary"] for p in (root / "mlp" / "base").rglob("run.json")
    }
    expected = {seed: s["mean"]["peak"] - s["mean"]["S_final"] for seed, s in summaries.items()}
    assert len(expected) == 2 and all(value > 0 for value in expected.values())
    # summary.csv: a new column after the published ones, computed from each run's summary
    with (root / "summary.csv").open() as f:
        rows = [line for line in csv.DictReader(f) if line["arm"] == "mlp"]
    assert list(rows[0]) == [*quantities.CSV_ORDER, "fall"]
    for line in rows:
        assert float(line["fall"]) == pytest.approx(expected[f"seed={line['seed']}"], abs=1e-12)
    # report.md: a verdict column under its header, a legend line from its description, the per-layer table
    text = (root / "report.md").read_text()
    cells = markdown_table(text, "## Verdict")[0]
    assert cells["arm"] == "mlp" and cells["fall from S*"] == quantities.median_range(expected.values())
    assert (
        "- fall from S*: how far the similarity came down from its peak by the end (S* - S_final); " in text
    )
    assert "condensed needs 0.5 dS of it." in text  # the threshold in force, filled in
    assert all("fall from S*" in r for r in markdown_table(text, "## Per-layer peaks"))
    # the terminal: the full verdict and the compact one, the line of each finished run
    assert "fall from S*" in out.splitlines()[0]
    table = condensekit.load_runs(root).verdict_table
    compact, shortened = fit_table(table, 100)
    assert shortened and "fall" in compact.splitlines()[0].split()
    assert err.count("fall=") == 4
    # HParams: a metric of the experiment, with its description, and each run's value
    infos = _hparams_metric_infos(root / "figures")
    assert infos["verdict/fall"].display_name == "fall from S*"
    assert infos["verdict/fall"].description.startswith("how far the similarity came down from its peak")
    for seed, value in expected.items():
        acc = EventAccumulator(str(root / "mlp" / "base" / seed))
        acc.Reload()
        assert acc.Scalars("verdict/fall")[-1].value == pytest.approx(value, abs=1e-6)
    # the Python API
    result = condensekit.load_runs(root)
    assert {r["seed"]: r["fall"] for r in result.rows if r["arm"] == "mlp"} == pytest.approx(
        {int(k.split("=")[1]): v for k, v in expected.items()}
    )
    assert result.verdict["mlp"]["fall"] == cells["fall from S*"]


def test_the_published_summary_csv_columns_keep_their_order() -> None:
    assert quantities.csv_columns() == list(quantities.CSV_ORDER)
    assert {q.key for q in quantities.per_run()} | set(quantities.ROW_COLUMNS) == set(quantities.CSV_ORDER)


def test_one_name_per_quantity() -> None:
    keys = [q.key for q in quantities.QUANTITIES]
    headers = [q.header for q in quantities.QUANTITIES]
    shorts = [q.short for q in quantities.QUANTITIES if q.verdict]
    tags = [q.hparams for q in quantities.QUANTITIES if q.hparams]
    assert all(len(set(names)) == len(names) for names in (keys, headers, shorts, tags))


def test_cells_sum_up_seeds_as_the_kind_says() -> None:
    by_key = quantities.by_key()
    assert quantities.cell(by_key["phase1_end"], [300, None, 320]) == "310 [300, 320] (1 stuck)"
    assert quantities.cell(by_key["phase1_end"], [None, None]) == "stuck (2)"
    assert quantities.cell(by_key["condensed"], [True, False, True]) == "2/3"
    assert quantities.cell(by_key["peak_phase"], ["phase1", "phase2", None]) == "phase1 1/3, phase2 1/3"
    made = report(
        row("a", 0, phase1_end=100, smoothing_window=20, peak_phase="phase1"),  # T1 >= 2 windows
        row("a", 1, phase1_end=30, smoothing_window=20, peak_phase="phase1"),  # falls from the start
    )
    (cells,) = verdict(made)
    assert cells["peak_phase"] == "phase1 1/2, no phase 1 1/2"
    assert quantities.cell(by_key["dS_max_layer"], ["layer7", None, "layer6", "layer7"]) == (
        "layer7 2/4, layer6 1/4"
    )


def test_per_layer_rows_follow_the_runs_first_phase_rule() -> None:
    """A layer's peak "before T1" in a seed whose loss had no first phase is counted as `no phase 1`, as
    the run's own peak is (T1 = 30 < 2 windows of 20)."""
    layer = {"peak": 0.5, "peak_step": 10, "peak_phase": "phase1", "condensed": False}
    made = report(
        row("a", 0, phase1_end=100, smoothing_window=20, peak_phase="phase1", layers={"l1": layer}),
        row("a", 1, phase1_end=30, smoothing_window=20, peak_phase="phase1", layers={"l1": layer}),
    )
    (cells,) = verdict(made)
    (layer_row,) = layer_table(made)
    assert cells["peak_phase"] == layer_row["peak_phase"] == "phase1 1/2, no phase 1 1/2"
    assert layer_row["group"] == "hidden"


def test_the_new_quantities_reach_the_verdict_and_hparams() -> None:
    from condensekit.dashboard import hparams_values

    made = report(
        *(
            row(
                "a",
                s,
                phase1_end=300,
                peak_loss_drop=0.25 * s,
                layers_condensed=s,
                dS_max=0.1 + s / 10,
                dS_max_layer=["l2", "l3", "l3"][s],
                hidden_layers=("l1", "l2", "l3"),
            )
            for s in range(3)
        )
    )
    (cells,) = verdict(made)
    assert cells["peak_loss_drop"] == "0.25 [0, 0.5]" and cells["layers_condensed"] == "1 [0, 2]"
    assert cells["dS_max"] == "0.2 [0.1, 0.3]" and cells["dS_max_layer"] == "l3 2/3, l2 1/3"
    values = hparams_values(made.rows[1].summary)  # type: ignore[arg-type]
    assert values["verdict/peak_loss_drop"] == 0.25 and values["verdict/layers_condensed"] == 1.0
    assert values["verdict/dS_max"] == pytest.approx(0.2) and values["verdict/dS_max_depth"] == 1.0
    assert made.rows[0].values()["dS_max_layer"] == "l2" and made.rows[0].values()["dS_max_depth"] == 0.5


def test_the_verdict_is_keyed_by_stable_keys_and_old_headers_warn() -> None:
    cells = VerdictCells({"arm": "mlp", "phase1_end": "260", "dS": "0.07"})
    assert cells["phase1_end"] == "260"
    with pytest.warns(
        DeprecationWarning, match=r"verdict\['T1 \(phase-1 end\)'\] is deprecated.*'phase1_end'"
    ):
        assert cells["T1 (phase-1 end)"] == "260"
    with pytest.warns(DeprecationWarning, match="'dS'"):
        assert cells.get("rise dS") == "0.07"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert cells.get("nothing") is None
        with pytest.raises(KeyError):
            cells["nothing"]

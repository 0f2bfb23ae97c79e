"""Behaviour the mutation check (``scripts/mutants.py``) found unpinned: each test kills surviving mutants.

The comment after each test names the mutant ids of ``scripts/mutant_list.py`` it kills. Every test checks
what a user would see (a number, a verdict, a file), never the text of the code.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from report_rows import report, row
from torch import nn

from condensekit.api import open_recipe
from condensekit.measures import ClassIndex, dead_fraction, similarity_statistics
from condensekit.measures.weight_grads import conv_columns, weight_grad_inner
from condensekit.output import (
    LOCK_NAME,
    OutputError,
    check_output_root,
    clear_run_dir,
    read_metrics,
    read_run_json,
    refuse_links,
    write_json_atomic,
)
from condensekit.phases import Thresholds, has_first_phase, phase1_end, series_summary, summarize_run
from condensekit.probe import Probe
from condensekit.report.answer import answer
from condensekit.report.compare import comparison_table, permutation_p
from condensekit.report.markdown import legend, recipe_question, report_markdown
from condensekit.report.rows import RunRow, read_row, summary_csv
from condensekit.report.sweeps import sweep_table
from condensekit.report.tables import layer_table, verdict
from condensekit.reuse import kept_run
from condensekit.status import RunStatus

# ---------------------------------------------------------------------------------------------- measures


def test_a_unit_exactly_zero_on_every_sample_is_dead() -> None:  # measures-10
    torch.manual_seed(0)
    x = torch.randn(6, 4).abs() + 0.1
    x[:, 1] = 0.0  # a unit whose weights and bias are zero: ReLU passes no gradient, it is dead
    x[:, 2] = -x[:, 2]
    stats = similarity_statistics(x[None], ClassIndex.of(torch.tensor([0, 1, 0, 1, 0, 1])), dead=True)
    assert float(stats["dead_frac"][0]) == 0.5 and dead_fraction(x) == 0.5


def test_the_budgeted_blocks_route_gives_the_same_inner_products() -> None:  # measures-27
    torch.manual_seed(0)
    g, cols = torch.randn(7, 3, 5, dtype=torch.float64), torch.randn(7, 4, 5, dtype=torch.float64)
    whole = weight_grad_inner(g, cols, bias=True, method="blocks")
    per_sample = 3 * (4 + 1) * 8  # bytes of one per-sample gradient
    # blocks of 2 samples
    blocked = weight_grad_inner(g, cols, bias=True, method="blocks", max_bytes=2 * 2 * per_sample)
    assert torch.allclose(blocked, whole) and torch.allclose(blocked, blocked.T)


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
@pytest.mark.parametrize(
    ("make", "shape"),
    [
        (lambda: nn.Conv2d(2, 3, 4, padding="same"), (3, 2, 6, 6)),  # an even kernel: the padding is uneven
        (lambda: nn.Conv2d(2, 4, (2, 3), padding="same", padding_mode="reflect", groups=2), (3, 2, 5, 6)),
        (lambda: nn.Conv1d(2, 3, 2, padding="same", padding_mode="replicate"), (3, 2, 7)),
        (lambda: nn.Conv2d(2, 3, 3, padding=1, padding_mode="circular"), (3, 2, 5, 5)),
    ],
)
def test_unfolded_columns_reproduce_the_convolution(make, shape) -> None:  # measures-28, measures-29
    torch.manual_seed(1)
    conv, a = make().double(), torch.randn(*shape, dtype=torch.float64)
    cols = conv_columns(conv, a)  # (N, groups, K, P)
    w = conv.weight.detach().reshape(conv.groups, conv.out_channels // conv.groups, -1)
    out = (
        torch.einsum("gok,ngkp->ngop", w, cols).reshape(len(a), conv.out_channels, -1)
        + conv.bias.detach()[:, None]
    )
    assert torch.allclose(out, conv(a).detach().reshape(len(a), conv.out_channels, -1))


# ---------------------------------------------------------------------------------------------- phases


def test_t1_needs_the_loss_below_the_threshold_not_at_it() -> None:  # phases-02
    th = Thresholds(plateau_drop_rel=0.25, plateau_drop_abs=0.0)  # L0 = 1: the threshold is exactly 0.75
    assert phase1_end([1.0] * 40 + [0.75] * 60, window=20, th=th) == (1.0, None)
    level, t1 = phase1_end([1.0] * 40 + [0.5] * 60, window=20, th=th)
    assert level == 1.0 and t1 is not None and 40 <= t1 <= 50


def test_a_rise_of_exactly_the_threshold_counts() -> None:  # phases-05
    steps, values = [0, 10, 20], [0.25, 0.5, 0.25]  # dS = 0.25 exactly
    assert series_summary(steps, values, 15, Thresholds(rise=0.25)).condensed
    assert not series_summary(steps, values, 15, Thresholds(rise=0.26)).condensed


def test_a_series_starting_exactly_at_collapsed_is_collapsed_at_init() -> None:  # phases-08
    assert series_summary([0, 10, 20], [0.9, 0.9, 0.9]).collapsed_at_init
    assert not series_summary([0, 10, 20], [0.875, 0.9, 0.9]).collapsed_at_init


def test_a_first_phase_needs_t1_at_least_two_windows() -> None:  # phases-10
    assert has_first_phase(40, 20) and not has_first_phase(39, 20) and has_first_phase(None, 20)


def test_the_run_verdict_is_the_layer_means_not_any_layers() -> None:  # phases-13
    losses = [2.3] * 60 + [1.0] * 60  # leaves its plateau near step 60
    series = {"m/a/q": ([0, 10, 20], [0.2, 0.35, 0.2]), "m/b/q": ([0, 10, 20], [0.2, 0.2, 0.2])}
    run = summarize_run(losses, series, ["a", "b"], "m/q", window=20)
    assert run.phase1_end is not None
    assert run.layers["a"].condensed and not run.layers["b"].condensed
    assert run.mean.dS == pytest.approx(0.075) and run.condensed is False


# ---------------------------------------------------------------------------------------------- probe


class Twice(nn.Module):
    """One Linear applied twice: its weight gradient is a sum over both calls."""

    def __init__(self) -> None:
        super().__init__()
        self.shared, self.logits = nn.Linear(4, 4), nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits(torch.tanh(self.shared(torch.tanh(self.shared(x)))))

    def probe_points(self) -> dict[str, nn.Module]:
        return {"shared": self.shared, "logits": self.logits}


def test_weight_gradients_of_a_layer_called_twice_are_the_autograd_ones() -> None:  # probe-08
    torch.manual_seed(0)
    model, x, y = Twice(), torch.randn(9, 4), torch.arange(9) % 3
    grads = Probe(model, x, y, model.probe_points(), step=0).weight_grads
    loss = nn.functional.cross_entropy(model(x), y, reduction="sum")
    weight, bias = torch.autograd.grad(loss, [model.shared.weight, model.shared.bias])
    assert torch.allclose(grads["shared"]["weight"], weight, atol=1e-6) and torch.allclose(
        grads["shared"]["bias"], bias, atol=1e-6
    )


# ---------------------------------------------------------------------------------------------- tricks


@pytest.mark.parametrize(("trick", "kind"), [("layernorm", nn.LayerNorm), ("batchnorm", nn.BatchNorm1d)])
# tricks-12
def test_norm_tricks_build_their_normalisation_into_the_model(
    plugin_manager, trick: str, kind: type[nn.Module]
) -> None:
    from condensekit.data import DataInfo

    entry = plugin_manager.catalogue.get("models", "mlp")
    overrides = plugin_manager.catalogue.get("tricks", trick).build({}).model_overrides(run=None)
    model = entry.build({"depth": 3, "width": 8, **overrides}, DataInfo(input_shape=(6,), num_classes=3))
    norms = [m for m in model.modules() if isinstance(m, nn.LayerNorm | nn.BatchNorm1d)]
    assert norms and all(isinstance(m, kind) for m in norms)


# ---------------------------------------------------------------------------------------------- output


def test_non_finite_numbers_are_written_as_null_in_strict_json(tmp_path: Path) -> None:  # output-01
    write_json_atomic(tmp_path / "run.json", {"summary": {"dS": math.nan, "peak": math.inf, "S0": 0.5}})

    def refuse(name: str) -> None:
        raise ValueError(f"not JSON: {name}")

    assert json.loads((tmp_path / "run.json").read_text(), parse_constant=refuse) == {
        "summary": {"dS": None, "peak": None, "S0": 0.5}
    }


def test_a_garbled_run_json_is_an_unreadable_run_that_is_redone(tmp_path: Path) -> None:
    # was output.run_status (dead code, removed): read_run_json, kept_run and the report's row say it now
    run_dir = tmp_path / "golden_flat" / "mlp" / "base" / "seed=0"
    run_dir.mkdir(parents=True)
    spec = open_recipe(Path(__file__).parent / "golden" / "flat.toml")[0].specs[0]
    assert read_run_json(run_dir) is None and kept_run(run_dir, spec) == (None, "")  # no run.json: no run
    (run_dir / "run.json").write_text('{"status": "ok", ')
    # redone, nothing to explain
    assert read_run_json(run_dir) is None and kept_run(run_dir, spec) == (None, "")
    assert read_row(tmp_path / "golden_flat", run_dir).status == RunStatus.UNREADABLE


def test_clearing_a_run_directory_keeps_its_lock(tmp_path: Path) -> None:  # output-07
    run_dir = tmp_path / "r"
    (run_dir / "sub").mkdir(parents=True)
    for name in (LOCK_NAME, "metrics.jsonl", "sub/x"):
        (run_dir / name).write_text("x")
    clear_run_dir(run_dir, tmp_path)
    assert [p.name for p in run_dir.iterdir()] == [LOCK_NAME]


def test_a_link_anywhere_between_the_root_and_a_run_is_refused(tmp_path: Path) -> None:  # output-09
    root, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    (elsewhere / "base" / "seed=0").mkdir(parents=True)
    (elsewhere / "base" / "seed=0" / "keep.txt").write_text("mine")
    root.mkdir()
    (root / "arm").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(OutputError, match="symbolic link"):
        refuse_links(root, root / "arm" / "base" / "seed=0")
    with pytest.raises(OutputError):
        clear_run_dir(root / "arm" / "base" / "seed=0", root)
    assert (elsewhere / "base" / "seed=0" / "keep.txt").read_text() == "mine"


def test_a_garbled_metrics_line_loses_only_that_line(tmp_path: Path) -> None:  # output-10
    (tmp_path / "metrics.jsonl").write_text('{"step": 0}\n{"step": 1, "lo\n{"step": 2}\n{"step": 3')
    assert read_metrics(tmp_path) == [{"step": 0}, {"step": 2}]


def test_a_folder_name_of_exactly_name_max_bytes_is_accepted(tmp_path: Path) -> None:  # output-11
    import os

    name_max = os.pathconf(tmp_path, "PC_NAME_MAX")
    check_output_root(tmp_path / "out", "r", [f"r/{'a' * name_max}/base/seed=0"])
    with pytest.raises(OutputError, match="more than this file system takes"):
        check_output_root(tmp_path / "out", "r", [f"r/{'a' * (name_max + 1)}/base/seed=0"])


# ---------------------------------------------------------------------------------------------- report


def _row(
    arm: str, seed: int, t1: int | None, ds: float, status: RunStatus = RunStatus.OK, grid: dict | None = None
) -> RunRow:
    return row(
        arm, seed, status=status, grid=grid, phase1_end=t1, dS=ds, final_test_acc=0.5 + ds, steps_done=500
    )


def test_outputs_deleted_after_a_run_finished_make_its_row_unreadable(tmp_path: Path) -> None:  # report-02
    run_dir = tmp_path / "mlp" / "base" / "seed=0"
    run_dir.mkdir(parents=True)
    made = _row("mlp", 0, 300, 0.2)
    assert made.spec is not None and made.summary is not None
    info = {
        "status": "ok",
        "spec": made.spec.to_dict(),
        "summary": made.summary.to_dict(),
        "outputs": {"metrics.jsonl": {"bytes": 3, "sha256": hashlib.sha256(b"{}\n").hexdigest()}},
        "started": 0.0,
    }
    (run_dir / "run.json").write_text(json.dumps(info))
    (run_dir / "metrics.jsonl").write_text("{}\n")
    assert read_row(tmp_path, run_dir) == made  # read back equal: spec and summary
    (run_dir / "metrics.jsonl").unlink()
    read = read_row(tmp_path, run_dir)
    assert read.status == RunStatus.UNREADABLE and "metrics.jsonl is missing" in read.error


def test_summary_csv_leaves_non_finite_numbers_empty() -> None:  # report-04
    made = _row("mlp", 0, None, 0.25)
    assert made.summary is not None
    odd = made.summary.model_copy(update={"dS_max": math.nan, "peak_max": math.inf})
    header, line = summary_csv([replace(made, summary=odd)]).splitlines()
    cells = dict(zip(header.split(","), line.split(","), strict=True))
    assert (
        cells["dS_max"] == ""
        and cells["peak_max"] == ""
        and cells["phase1_end"] == ""
        and cells["dS"] == "0.25"
        and cells["status"] == "ok"
        and cells["stuck"] == "true"
    )


def test_runs_that_did_not_finish_ok_stay_out_of_the_verdict_cells() -> None:  # report-06, report-07
    rows = [
        _row("mlp", 0, 300, 0.2),
        _row("mlp", 1, 320, 0.3),
        _row("mlp", 2, None, 0.9, status=RunStatus.DIVERGED),
    ]
    (cell,) = verdict(report(*rows))
    assert cell["phase1_end"] == "310 [300, 320]" and cell["dS"] == "0.25 [0.2, 0.3]"
    assert cell["runs"] == "2 ok 1 diverged"


def test_runs_that_did_not_finish_ok_stay_out_of_the_per_layer_table() -> None:  # report-07
    layers = {"layer1": {"S0": 0.1, "peak": 0.5, "peak_step": 10, "S_final": 0.2, "condensed": True}}
    diverged = {"layer1": {"S0": 0.1, "peak": 0.9, "peak_step": 500, "S_final": 0.9}}
    rows = [
        row("mlp", 0, phase1_end=300, layers=layers),
        row("mlp", 1, status=RunStatus.DIVERGED, phase1_end=None, layers=diverged),
    ]
    (cells,) = layer_table(report(*rows))
    assert (cells["layer"], cells["peak_step"], cells["peak"], cells["condensed"]) == (
        "layer1",
        "10",
        "0.5",
        "1/1",
    )


def test_numeric_grid_points_are_ordered_by_value() -> None:  # report-11
    rows = [_row("mlp", 0, 300, 0.2, grid={"model.depth": d}) for d in (10, 4, 20)]
    assert [r["grid"] for r in verdict(report(*rows))] == [
        "model.depth=4",
        "model.depth=10",
        "model.depth=20",
    ]


def test_a_random_relabeling_p_value_is_never_zero() -> None:  # SciPy's (hits + 1) / (n + 1)
    # no relabeling is as extreme
    p, exact = permutation_p([float(i) for i in range(100, 114)], [float(i) for i in range(14)])
    assert not exact and p == pytest.approx(1 / 100_001)


def test_a_p_value_of_exactly_alpha_is_significant() -> None:  # report-18
    """1 against 79 seeds: the arm's value is the most extreme in 2 of the 80 ways to pick one seed, p =
    0.025; no accuracy, so two tests (T1, dS) in the family and Holm's adjusted p is exactly 0.05."""
    rows = [row("ref", s, phase1_end=100 + s, dS=0.01 * s, steps_done=500) for s in range(79)]
    rows.append(row("arm", 0, started=1.0, phase1_end=50, dS=0.9, steps_done=500))
    by_quantity = {r["quantity"]: r for r in comparison_table(report(*rows))}
    assert by_quantity["rise dS"]["p (two-sided)"] == "0.025" and by_quantity["rise dS"]["p (Holm)"] == "0.05"
    assert by_quantity["rise dS"]["reading"] == "higher than ref (Holm p <= 0.05)"
    assert by_quantity["T1 (phase-1 end)"]["reading"] == "lower than ref (Holm p <= 0.05)"


def test_sizes_that_can_just_reach_alpha_are_not_too_few() -> None:  # report-30
    """1 against 39 seeds: the smallest possible p is 2/40 = 0.05, so the sizes can conclude; the raw p is
    0.05, Holm's over two tests 0.1."""
    rows = [row("ref", s, phase1_end=100 + s, dS=0.01 * s, steps_done=500) for s in range(39)]
    rows.append(row("arm", 0, started=1.0, phase1_end=50, dS=0.9, steps_done=500))
    by_quantity = {r["quantity"]: r for r in comparison_table(report(*rows))}
    assert by_quantity["rise dS"]["reading"] == "no difference shown after Holm's adjustment (raw p <= 0.05)"


def _seed(seed: int, t1: int | None, s0: float, peak: float, rise: float = 0.1) -> RunRow:
    return row(
        "mlp",
        seed,
        thresholds={"rise": rise},
        phase1_end=t1,
        S0=s0,
        peak=peak,
        dS=peak - s0,
        peak_step=100,
        peak_phase="phase1",
        steps_done=500,
    )


def test_one_stuck_seed_is_not_all_seeds_stuck() -> None:  # report-20
    (sentence,) = answer(report(_seed(0, 300, 0.5, 0.5), _seed(1, 320, 0.5, 0.5), _seed(2, None, 0.5, 0.5)))
    assert (
        "a first phase in 3/3 seeds (T1 310 [300, 320], 1 never left it)" in sentence
        and "never leaves its plateau" not in sentence
    )


# report-21, report-23
def test_the_answer_counts_a_rise_of_exactly_the_threshold_and_uses_the_recipes_threshold() -> None:
    (sentence,) = answer(report(_seed(0, 300, 0.25, 0.5, rise=0.25)))  # dS = 0.25 exactly
    assert "it rises by 0.25 or more in 1/1" in sentence
    # dS = 0.2: more than the default 0.1, less than the recipe's
    (sentence,) = answer(report(_seed(0, 300, 0.25, 0.45, rise=0.25)))
    assert "no seed rises by 0.25, so none condensed" in sentence


def test_the_legend_prints_each_threshold_in_force_and_flags_a_second_set() -> None:  # report-24, report-25
    th = {"plateau_drop_rel": 0.25, "plateau_drop_abs": 0.5, "rise": 0.2}
    text = "\n".join(legend(report(row("mlp", 0, thresholds=th, phase1_end=300))))
    assert (
        "L0 - max(0.25 L0, 0.5)" in text
        and "a rise dS >= 0.2," in text
        and "different thresholds" not in text
    )
    two = report(
        row("mlp", 0, thresholds=th, phase1_end=300),
        row("mlp", 1, thresholds={**th, "rise": 0.3}, phase1_end=300),
    )
    assert "**Note: the runs used different thresholds**" in "\n".join(legend(two))


def test_the_question_is_read_only_from_the_reports_own_recipe(tmp_path: Path) -> None:  # report-26
    own, other = tmp_path / "mine.toml", tmp_path / "other.toml"
    own.write_text('# Does it condense?\nname = "mine"\n')
    other.write_text('# a secret\nname = "other"\n')
    assert recipe_question([row("a", 0, recipe_path=str(own))], "mine") == ["> Does it condense?", ""]
    assert recipe_question([row("a", 0, recipe_path=str(other))], "mine") == []


def test_the_report_lists_every_run_that_did_not_finish_ok(tmp_path: Path) -> None:  # report-27
    rows = [_row("mlp", 0, 300, 0.2)] + [
        row("mlp", s, status=st, error="why")
        for s, st in enumerate((RunStatus.DIVERGED, RunStatus.UNREADABLE, RunStatus.FAILED), start=1)
    ]
    made = report(*rows)
    text = report_markdown(tmp_path, made, verdict(made), [], [])
    listed = text.split("## Runs that did not finish ok")[1]
    assert all(
        f"`mlp/base/seed={s}`: {st}: why" in listed
        for s, st in ((1, "diverged"), (2, "unreadable"), (3, "failed"))
    )


# ------------------------------------------------------------- held-out mutants (scripts/mutant_list.py, last
# block)


def test_half_precision_logits_give_a_float32_probe_loss() -> None:  # probe-12
    torch.manual_seed(0)
    model = nn.Linear(6, 5).to(torch.bfloat16)
    x, y = torch.randn(60, 6).to(torch.bfloat16), torch.arange(60) % 5
    probe = Probe(model, x, y, {"logits": model}, step=0)
    exact = nn.functional.cross_entropy(model(x).detach().double(), y).item()
    assert probe.loss == pytest.approx(exact, rel=1e-6)


def test_more_classes_than_probe_samples_still_gives_one_sample_per_class() -> None:  # probe-13
    from condensekit.probe import choose_probe_indices

    labels = torch.arange(100) % 10
    chosen = choose_probe_indices(labels, per_class=5, max_samples=4, seed=0)
    assert sorted(labels[chosen].tolist()) == list(range(10))


def test_init_applies_the_scheme_asked_for() -> None:  # tricks-14
    from condensekit_plugins.tricks.init import InitParams, reinitialise

    torch.manual_seed(0)
    square = nn.Linear(16, 16)
    reinitialise(square, InitParams(scheme="orthogonal"))
    assert torch.allclose(square.weight @ square.weight.T, torch.eye(16), atol=1e-5)
    wide = nn.Linear(400, 4)
    reinitialise(wide, InitParams(scheme="kaiming_uniform"))
    bound = math.sqrt(6 / 400)  # kaiming_uniform for ReLU: U(-sqrt(6 / fan_in), +)
    assert wide.weight.abs().max() <= bound and wide.weight.abs().max() > 0.9 * bound


def test_peak_in_counts_out_of_every_ok_run() -> None:  # report-29
    rows = [
        row("mlp", s, phase1_end=300, peak_phase=phase) for s, phase in enumerate(("phase1", "phase1", None))
    ]
    (cell,) = verdict(report(*rows))
    assert cell["peak_phase"] == "phase1 2/3"


def test_a_grid_key_with_one_value_is_not_a_sweep() -> None:  # report-31
    rows = [
        _row("mlp", 0, 300 + 10 * d, 0.1 * d, grid={"train.lr": 0.1, "model.depth": d}) for d in (2, 3, 4)
    ]
    table = sweep_table(report(*rows))
    assert {r["swept"] for r in table} == {"model.depth"}
    assert {r["quantity"]: r["rho"] for r in table}["T1 (phase-1 end)"] == "+1.00"

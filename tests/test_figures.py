"""The report's figures: the layer x step heatmap, per-layer lines coloured by depth, readable sizes.

Drawn from hand-made groups whose numbers are known, and checked on the drawn objects (what each panel
shows, its labels and T1 marker), not only on file sizes.
"""

from __future__ import annotations

import math
from typing import Any

import matplotlib
import matplotlib.pyplot
import numpy as np
import pytest

matplotlib.use("Agg", force=True)

from report_rows import row  # noqa: E402

from condensekit.metric_report import Figure, Panel  # noqa: E402
from condensekit.report.figures import (  # noqa: E402
    STYLE,
    figure_curves,
    figure_heatmap,
    figure_panels,
    figure_per_layer,
)
from condensekit.report.model import Group  # noqa: E402
from condensekit.report.series import layer_grid  # noqa: E402


def group(arm: str, layers: list[str], seeds: int, t1: list[float]) -> Group:
    """Layer i of seed k logs ``i + k/10`` at steps 0, 10, 100, 1000 (layer 0 skips step 1000); loss 2.3 ->
    0; seed k left its plateau at ``t1[k]`` (stuck when there is none)."""
    logged = {}
    for k in range(seeds):
        series = {"train/loss": (list(range(1001)), [2.3 * (1 - s / 1000) for s in range(1001)])}
        for i, layer in enumerate(layers):
            steps = [0, 10, 100] if i == 0 else [0, 10, 100, 1000]
            series[f"m/{layer}/q"] = (steps, [i + k / 10] * len(steps))
        series["m/mean/q"] = ([0, 10, 100, 1000], [1.0, 1.0, 1.0, 1.0])  # a mean by another rule: not drawn
        logged[k] = series
    rows = tuple(
        row(arm, k, phase1_end=int(t1[k]) if k < len(t1) else None, hidden_layers=tuple(layers))
        for k in range(seeds)
    )
    return Group(arm, "base", rows, lambda r: logged[r.seed])


def test_layer_grid_is_the_median_over_seeds_on_one_step_grid() -> None:
    a = group("a", ["l1", "l2", "l3"], seeds=3, t1=[])
    steps, values = layer_grid([c.series for c in a.curves], a.layers, "m/q")
    assert a.layers == ("l1", "l2", "l3") and steps == [0, 10, 100, 1000]
    assert values[1] == pytest.approx([1.1] * 4) and values[2] == pytest.approx([2.1] * 4)
    # not logged: blank, not zero
    assert values[0][:3] == pytest.approx([0.1] * 3) and math.isnan(values[0][3])


def test_heatmap_has_a_panel_per_arm_with_every_layer_named_and_t1_marked() -> None:
    deep = group("mlp", [f"layer{i}" for i in range(1, 10)], seeds=2, t1=[90.0, 110.0])
    shallow = group("resmlp", ["stem", "block1", "block1.fc"], seeds=2, t1=[])
    fig = figure_heatmap([deep, shallow], "m/q")
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in panels] == ["mlp  (T1 100)", "resmlp  (stuck)"]
    assert [t.get_text() for t in panels[0].get_yticklabels()] == [f"layer{i}" for i in range(1, 10)]
    assert [t.get_text() for t in panels[1].get_yticklabels()] == ["stem", "block1", "block1.fc"]
    assert panels[0].yaxis_inverted()  # the first hidden layer on top
    mesh = panels[0].collections[0]
    # layer5: median of 4.0, 4.1
    assert np.ma.getdata(mesh.get_array()).reshape(9, 4)[4] == pytest.approx([4.05] * 4)
    # median T1; stuck: none
    assert [line.get_xdata()[0] for line in panels[0].get_lines()] == [100.0] and not panels[1].get_lines()
    assert any(ax.get_ylabel() == "q" for ax in fig.axes)  # the colour bar names the quantity


def test_per_layer_colours_lines_by_depth_and_names_each_panels_layers() -> None:
    fig = figure_per_layer(
        [group("mlp", ["a", "b", "c", "d"], 2, [50.0]), group("res", ["s", "t"], 2, [])], "m/q"
    )
    panels = [ax for ax in fig.axes if ax.get_title()]
    mlp_lines = [line for line in panels[0].get_lines() if line.get_linestyle() == "-"]
    assert len(mlp_lines) == 4 and mlp_lines[0].get_color() != mlp_lines[-1].get_color()
    bars = [ax for ax in fig.axes if not ax.get_title() and ax.get_yticklabels()]
    names = [[t.get_text() for t in bar.get_yticklabels()] for bar in bars]
    # every layer labelled, in each arm's own names
    assert ["a", "b", "c", "d"] in names and ["s", "t"] in names
    assert fig.get_figwidth() >= 10 and fig.get_figheight() >= 4  # big enough to read at the default size


def test_curves_mark_each_arms_t1_on_the_loss() -> None:
    fig = figure_curves([group("mlp", ["a", "b"], 2, [300.0]), group("res", ["s"], 1, [])], "m/q")
    loss = fig.axes[0]
    assert [ax.get_xscale() for ax in fig.axes] == ["symlog", "symlog"] and loss.get_ylabel().startswith(
        "training loss"
    )
    assert [line.get_xdata()[0] for line in loss.get_lines() if line.get_linestyle() == ":"] == [300.0]
    # the layer mean by the verdict's rule: the steps every hidden layer logged (a: 0 + k/10, b: 1 + k/10),
    # median over the two seeds; the logged m/mean/q (a mean by another rule) is not drawn
    assert list(fig.axes[1].get_lines()[0].get_xdata()) == [0, 10, 100]
    assert fig.axes[1].get_lines()[0].get_ydata() == pytest.approx([0.55] * 3)


def test_a_diverging_arm_does_not_flatten_the_other_loss_curves() -> None:
    blown = group("x2", ["a"], 2, [])
    for curves in blown.curves:
        steps, values = curves.series["train/loss"]
        curves.series["train/loss"] = (steps, [v + 1e4 * s for s, v in enumerate(values)])  # up to 10^7
    calm = [group("mlp", ["a"], 2, [300.0]), group("res", ["a"], 2, [])]
    top = figure_curves([*calm, blown], "m/q").axes[0].get_ylim()[1]
    assert 2.3 <= top <= 1.2 * 2.3 + 1e-9  # 1.2 x the median of the arms' highest median losses
    loss = figure_curves(calm, "m/q").axes[0]
    assert "cut" not in loss.get_title() and loss.get_ylim()[1] < 3  # nothing cut when no arm diverges


def relabelled(g: Group, arm: str, grid: str) -> Group:
    return Group(arm, grid, g.rows, g.read_series)


LONG = [
    relabelled(
        group("mlp", [f"layer{i}" for i in range(1, 8)], 2, [90.0, 110.0]),
        "mlp_with_a_rather_long_descriptive_name",
        "model.width=128,tricks.init.scale=0.5,train.lr=0.02",
    ),
    relabelled(
        group("resmlp", ["stem", "block1", "block1.fc"], 2, []),
        "resmlp_with_batchnorm_and_momentum",
        "model.width=128,tricks.init.scale=2.0,train.lr=0.02",
    ),
]
LONG_PANELS = Figure(
    name="long",
    title="A metric's own figure whose title is long enough to need more than the room it is given",
    caption="",
    panels=(Panel("q", label="inter-class cosine similarity of the centred features, mean over layers"),),
)


def drawn_texts(fig: Any) -> tuple[Any, list[Any]]:
    """The figure's title and every panel title, axis label and legend box, as drawn (pixels)."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    boxes = []
    for ax in fig.axes:
        texts = [ax.title, ax.xaxis.label, ax.yaxis.label]
        legend = ax.get_legend()
        boxes += [t.get_window_extent(renderer) for t in texts if t.get_text()]
        boxes += [legend.get_window_extent(renderer)] if legend is not None else []
    return fig._suptitle.get_window_extent(renderer), boxes


@pytest.mark.parametrize(
    "draw",
    [
        lambda: figure_heatmap(LONG, "m/q"),
        lambda: figure_heatmap(LONG, "m/q", change=True),
        lambda: figure_per_layer(LONG, "m/q"),
        lambda: figure_curves(LONG, "m/q"),
        lambda: figure_panels(LONG, "m", LONG_PANELS, "m/q"),
    ],
    ids=["heatmap", "heatmap_change", "per_layer", "curves", "declared"],
)
def test_long_labels_overlap_neither_the_title_nor_each_other_and_stay_in_the_figure(draw: Any) -> None:
    with matplotlib.pyplot.rc_context(STYLE):
        fig = draw()
    title, boxes = drawn_texts(fig)
    page = fig.bbox
    for box in [title, *boxes]:  # inside the figure
        assert page.x0 <= box.x0 and box.x1 <= page.x1 and page.y0 <= box.y0 and box.y1 <= page.y1, box
    assert not any(box.overlaps(title) for box in boxes)
    for i, box in enumerate(boxes):
        assert not any(box.overlaps(other) for other in boxes[i + 1 :]), box
    shown = [ax.get_title() for ax in fig.axes]
    shown += [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()]
    joined = "".join(shown).replace("\n", "").replace(" ", "")
    for g in LONG:  # each arm's label is shown whole, wrapped onto lines, not cut
        assert g.label.replace(" ", "") in joined


def test_short_labels_are_left_as_they_are() -> None:
    fig = figure_heatmap([group("mlp", ["a", "b"], 2, [100.0])], "m/q")
    assert [ax.get_title() for ax in fig.axes if ax.get_title()] == ["mlp  (T1 100)"]
    assert fig.get_figheight() == pytest.approx(1.3 + 0.28 * 2)  # no room added where none is needed


def rising(arm: str, seeds: int) -> Group:
    """Layer i starts at ``10 * i`` (layers far apart) and seed k's layer i rises by ``(k + 1) * i / 100``
    by step 1000 (a small rise, growing with depth)."""
    logged = {}
    for k in range(seeds):
        steps = [0, 10, 100, 1000]
        logged[k] = {
            f"m/l{i}/q": (steps, [10.0 * i + (k + 1) * i / 100 * s / 1000 for s in steps]) for i in range(3)
        }
        logged[k]["train/loss"] = (list(range(1001)), [1.0] * 1001)
    rows = tuple(row(arm, k, phase1_end=None, hidden_layers=("l0", "l1", "l2")) for k in range(seeds))
    return Group(arm, "base", rows, lambda r: logged[r.seed])


def test_the_change_heatmap_shows_each_layers_rise_since_step_0_centred_on_0() -> None:
    absolute = figure_heatmap([rising("mlp", 3)], "m/q").axes[0].collections[0]
    change = figure_heatmap([rising("mlp", 3)], "m/q", change=True).axes[0].collections[0]
    values = np.ma.getdata(change.get_array()).reshape(3, 4)
    # the median over seeds of each seed's change: seed 1's rise, (k + 1) = 2
    assert values[:, 0] == pytest.approx([0, 0, 0]) and values[:, -1] == pytest.approx([0, 0.02, 0.04])
    assert change.norm.vmin == pytest.approx(-change.norm.vmax) and change.norm.vmax == pytest.approx(0.04)
    assert change.get_cmap().name == "RdBu_r"
    # the absolute map's range is set by the layers' distance (0 to 20), which hides a rise of 0.04
    assert absolute.norm.vmax - absolute.norm.vmin > 400 * values[2, -1]

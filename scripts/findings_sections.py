"""The page's sections: which recipe each runs, with which seeds, and which tables and figures it shows; and
the per-run columns published beside each section."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from condensekit import quantities

ROOT = Path(__file__).resolve().parent.parent
OUT = Path("runs/findings")

# the per-run numbers published beside each section (summary.csv without timings and paths), by the
# quantities' stable keys (condensekit.quantities); a key the table does not know stops the script
CSV_COLUMNS = [
    "arm",
    "grid",
    "seed",
    "status",
    "phase1_end",
    "S0",
    "dS",
    "peak",
    "peak_step",
    "S_final",
    "peak_phase",
    "peak_loss_drop",
    "condensed",
    "collapsed_at_init",
    "layers_condensed",
    "dS_max",
    "dS_max_layer",
    "peak_max",
    "final_train_acc",
    "final_test_acc",
    "final_loss",
]
if unknown := set(CSV_COLUMNS) - {*quantities.ROW_COLUMNS, *quantities.by_key()}:
    raise SystemExit(f"findings.py: CSV_COLUMNS names no quantity: {sorted(unknown)}")


@dataclass
class Section:
    """One recipe, the seeds it runs with, and which figures and tables go into the page."""

    part: str
    recipe: str
    title: str
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2, 3, 4])
    sets: list[str] = field(default_factory=list)
    figures: tuple[str, ...] = ("curves",)
    layers: bool = False  # show the per-layer table
    accuracy: bool = False  # show each arm's final train and test accuracy (does it train at all?)
    # (caption, column -> tag): logged scalars at 0 / T1 / end
    extra_table: tuple[str, dict[str, str]] | None = None

    @property
    def name(self) -> str:
        return Path(self.recipe).stem

    @property
    def key(self) -> str:
        return f"{self.part}/{self.name}"

    @property
    def root(self) -> Path:
        """The recipe's output folder: ``<out>/<the recipe's name>`` (not always its file name)."""
        name = tomllib.loads((ROOT / self.recipe).read_text(encoding="utf-8"))["name"]
        return ROOT / self.out() / name

    out_root: ClassVar[Path] = OUT  # --out

    def out(self) -> Path:
        return self.out_root / self.part

    def command(self, jobs: int) -> list[str]:
        seeds = "seeds=[" + ",".join(map(str, self.seeds)) + "]"
        sets = [a for s in (seeds, "executor.threads=1", "device=cpu", *self.sets) for a in ("--set", s)]
        return ["condensekit", "run", self.recipe, "--out", str(self.out()), "--jobs", str(jobs), *sets]


SECTIONS = [
    Section(
        "digits",
        "recipes/resmlp_vs_mlp.toml",
        "Residual connections (the main job)",
        figures=("curves", "shares", "per_layer"),
        layers=True,
    ),
    Section(
        "digits", "recipes/four_tricks.toml", "Batch normalization, momentum, init scale, L2", accuracy=True
    ),
    Section("digits", "recipes/depth_sweep.toml", "Depth"),
    Section("digits", "recipes/init_scale.toml", "Initialization scale", accuracy=True),
    Section(
        "digits",
        "recipes/activations.toml",
        "Activation functions",
        figures=("curves", "shares"),
        accuracy=True,
    ),
    Section("digits", "recipes/cnn_vs_mlp.toml", "Convolutional networks", figures=("curves", "shares")),
    Section("digits", "recipes/vit_vs_mlp.toml", "Vision Transformers", figures=("curves", "shares")),
    Section(
        "digits",
        "recipes/vanishing_vs_condensation.toml",
        "Vanishing gradients",
        figures=("gradient_health",),
        extra_table=(
            "Gradient health (metric `gradient_health`; median over seeds at step 0, at T1 and at the end; "
            "per-layer values averaged over the hidden layers):",
            {
                "grad_ratio_first_last": "gradient_health/grad_ratio_first_last",
                "wgrad_norm": "gradient_health/*/wgrad_norm",
                "rel_change": "gradient_health/*/rel_change",
                "dead_frac": "gradient_health/*/dead_frac",
            },
        ),
    ),
    Section(
        "digits",
        "recipes/neural_collapse.toml",
        "Neural collapse",
        figures=("neural_collapse",),
        extra_table=(
            "Neural collapse on the penultimate features (median over seeds at step 0, at T1 and at the end; "
            "every measure goes to 0 under collapse):",
            {
                q: f"neural_collapse/penultimate/{q}"
                for q in ("nc1", "nc2_equinorm", "nc2_maxangle", "nc3", "nc4")
            },
        ),
    ),
    Section(
        "fashion_mnist",
        "recipes/fashion_mnist/cnn_vs_mlp.toml",
        "Convolutional networks, with and without batch normalization",
        figures=("curves", "shares"),
    ),
    Section(
        "fashion_mnist",
        "recipes/fashion_mnist/vit_vs_mlp.toml",
        "A Vision Transformer",
        figures=("curves", "shares"),
    ),
    Section(
        "fashion_mnist",
        "recipes/fashion_mnist/resmlp_vs_mlp.toml",
        "Residual connections",
        figures=("curves", "shares", "per_layer"),
    ),
    Section(
        "fashion_mnist",
        "recipes/fashion_mnist/four_tricks.toml",
        "Batch normalization, momentum, L2",
        accuracy=True,
    ),
]
"""The page's sections. The per-layer recipe (``recipes/per_layer.toml``) is not among them: its runs are
the main job's (same models, data, seeds and training), whose per-layer table and figure the main job's
section shows."""

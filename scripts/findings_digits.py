"""The readings of Part 1 (digits): sentences built from each section's numbers, each claim checked.

Words that compare two arms come from :func:`findings_text.versus` (Holm-adjusted); every other sentence
quotes its numbers and passes through ``s.claim``. See :mod:`findings_text` for the rules.
"""

from __future__ import annotations

from findings_stats import Arm, Stats
from findings_text import (
    before_the_drop,
    l2_text,
    layers_text,
    peak_places,
    peak_text,
    phase_text,
    phases_against,
    untrained,
    versus,
)


def main_job(s: Stats) -> list[str]:
    mlp, res = s.arm("mlp"), s.arm("resmlp")
    top = mlp.runs[0].hidden_layers[-1] if mlp.runs else "layer11"
    sh = lambda arm, share, at: s.share(arm, share, at)  # noqa: E731
    return [
        s.claim(
            mlp.first_phase == mlp.n and res.first_phase == 0,
            "**Does a residual MLP condense like a plain MLP?** The plain 12-layer MLP has "
            f"{phase_text(mlp)}, the residual MLP {phase_text(res)}; "
            f"{versus(s, 'resmlp', 'phase1_end', 'its T1 is')}.",
        ),
        s.claim(
            mlp.n > 0,
            f"The plain MLP's layer-mean `feat_inter` goes from {mlp.cell('S0')} to {mlp.cell('peak')}, a "
            f"rise of {mlp.cell('dS')}, with its {peak_text(mlp)}; by the rule (a rise of at least 0.1) "
            f"{mlp.of(mlp.condensed)} seeds are `condensed`.",
        ),
        s.claim(
            mlp.n > 0,
            f"The layer mean hides the layers that do condense: in the plain MLP {layers_text(mlp)}. Its top "
            f"hidden layer ({top}) goes from {mlp.layer_cell(top, 'S0')} at step 0 to a peak of "
            f"{mlp.layer_cell(top, 'peak')} and ends at {mlp.layer_cell(top, 'S_final')}.",
        ),
        s.claim(
            mlp.n > 0,
            "The energy shares of the plain MLP's features (layer mean, median over seeds) at step 0, at T1 "
            f"and at the end: share_sample {sh('mlp', 'share_sample', '0'):.2f}, "
            f"{sh('mlp', 'share_sample', 'T1'):.2f}, {sh('mlp', 'share_sample', 'end'):.2f}; share_common "
            f"{sh('mlp', 'share_common', '0'):.2f}, {sh('mlp', 'share_common', 'T1'):.2f}, "
            f"{sh('mlp', 'share_common', 'end'):.2f}; share_class {sh('mlp', 'share_class', '0'):.2f}, "
            f"{sh('mlp', 'share_class', 'T1'):.2f}, {sh('mlp', 'share_class', 'end'):.2f}.",
        ),
        s.claim(
            res.n > 0,
            f"The residual MLP's layer mean (the stream after each block) starts at {res.cell('S0')} and "
            f"rises {res.cell('dS')} to its peak at step {res.cell('peak_step')} of the run's "
            f"{res.runs[0].summary.steps_done if res.runs and res.runs[0].summary else '?'} steps "
            f"({res.of(res.condensed)} seeds `condensed`); {layers_text(res)}. "
            f"{versus(s, 'resmlp', 'final_test_acc', 'Its test accuracy is')}.",
        ),
    ]


def four_tricks(s: Stats) -> list[str]:
    plain, mom, sgd = s.arm("plain"), s.arm("momentum"), s.arm(_matched(s))
    out = [
        s.claim(
            plain.first_phase == plain.n,
            f"**Which tricks shorten or remove the first phase?** Plain SGD has {phase_text(plain)}; batch "
            f"normalization has {phase_text(s.arm('batchnorm'))}, the 1.5x initialization "
            f"{phase_text(s.arm('init_x1.5'))}, all four together {phase_text(s.arm('all_four'))}.",
        ),
        *[s.claim(True, versus(s, a, "phase1_end", f"{a}: T1") + ".") for a in ("batchnorm", "init_x1.5")],
        _similarity_too(s, plain, ("batchnorm", "init_x1.5", "all_four")),
        *_momentum(s, plain, mom, sgd),
        *l2_text(s),
    ]
    return out


def _similarity_too(s: Stats, plain: Arm, arms: tuple[str, ...]) -> str:
    """What the tricks that remove the first phase do to the layer-mean rise."""
    words = {s.shown(a, "dS") for a in arms}
    one_way = all(s.compared(a, "dS")["P"] in (0.0, 1.0) for a in arms)
    return s.claim(
        True,
        (
            "The layer-mean rise of that arm is "
            if len(arms) == 1
            else f"The layer-mean rise of these {len(arms)} is "
        )
        + ", ".join(f"{s.arm(a).cell('dS')} ({a})" for a in arms)
        + f" against {plain.cell('dS')} for plain SGD ("
        + "; ".join(versus(s, a, "dS", a) for a in arms)
        + ")."
        + (
            " So they do not act on the length of the plateau alone."
            if words == {"lower"}
            else " Every seed pair points one way, but with 5 seeds and this many tests that is not shown "
            "after adjustment; the data do not support reading them as acting on the plateau alone either."
            if one_way
            else ""
        ),
    )


def _matched(s: Stats) -> str:
    return next(a for a, _ in s.arms() if a.startswith("sgd_lr"))


def _momentum(s: Stats, plain: Arm, mom: Arm, sgd: Arm) -> list[str]:
    """Momentum against plain SGD at its matched effective learning rate lr / (1 - beta)."""
    direct = s.extra("momentum", sgd.name, "phase1_end")
    if sgd.n == 0:
        return [
            s.claim(
                sgd.failed == sgd.total,
                f"Momentum 0.9 gives {phase_text(mom)}. Its control, plain SGD at the matched effective step "
                f"({sgd.name}), diverged in {sgd.of(sgd.failed)} seeds, so whether momentum does more than a "
                "larger step cannot be told from this recipe.",
            )
        ]
    return [
        s.claim(
            True,
            f"Momentum 0.9 gives {phase_text(mom)}; plain SGD at momentum's effective step lr / (1 - beta) "
            f"({sgd.name}) gives {phase_text(sgd)} ({sgd.of(sgd.n)} seeds trained, {sgd.failed} diverged). "
            f"Momentum against that control: T1 "
            f"{'difference not shown' if direct['word'] == 'not shown' else direct['word']} "
            f"({direct['text']}, Holm over the "
            "section's family plus this test), so what momentum does to T1 "
            + (
                "is not shown to differ from a larger step."
                if direct["word"] == "not shown"
                else "differs from a larger step."
            ),
        )
    ]


def depth_sweep(s: Stats) -> list[str]:
    depths = sorted({r.grid_values["model.depth"] for r in s.rows})
    mlp = {d: s.arm("mlp", f"model.depth={d}") for d in depths}
    res = {d: s.arm("resmlp", f"model.depth={d}") for d in depths}
    t1_rho, t1_agree = s.rho("mlp", "model.depth", "phase1_end")
    acc_rho, acc_agree = s.rho("mlp", "model.depth", "final_test_acc")
    deep = depths[-1]
    return [
        s.claim(
            t1_agree == "yes" and float(t1_rho) > 0,
            "**Does the first phase grow with depth?** For plain MLPs T1 goes from "
            + ", ".join(f"{mlp[d].cell('phase1_end')} (depth {d})" for d in depths)
            + f": Spearman rho {t1_rho} over all seeds, of that sign within every seed alone "
            f"({len(depths)} depths per seed).",
        ),
        s.claim(
            True,
            f"The plain MLP's test accuracy against depth: rho {acc_rho} (seeds agree: {acc_agree}); at "
            f"depth {deep}, "
            + versus(
                s, "resmlp", "final_test_acc", "the residual MLP test accuracy is", f"model.depth={deep}"
            )
            + ".",
        ),
        s.claim(
            True,
            "Where the plain MLP's layer mean peaks: "
            + "; ".join(f"depth {d}: {peak_places(mlp[d])}" for d in depths)
            + "; its rise is "
            + ", ".join(mlp[d].cell("dS") for d in depths)
            + ".",
        ),
        s.claim(
            True,
            "Residual MLPs: "
            + "; ".join(f"depth {d}: {phase_text(res[d])}" for d in depths)
            + f". At depth {deep} the residual layer mean rises {res[deep].cell('dS')} to a peak at step "
            f"{res[deep].cell('peak_step')} ({res[deep].of(res[deep].condensed)} seeds `condensed`), "
            "measured "
            "densely around that peak; with no first phase, the rule's `condensed` is not the papers' "
            "first phase there.",
        ),
    ]


def init_scale(s: Stats) -> list[str]:
    # the grid's own labels ("1.0", not "1"): an arm is looked up by the label its runs were written under
    labels = sorted({str(r.grid_values["tricks.init.scale"]) for r in s.rows}, key=float)
    arms = {float(k): s.arm("xavier", f"tricks.init.scale={k}") for k in labels}
    scales = list(arms)
    trained = [k for k, a in arms.items() if a.n and a.stuck < a.n]
    rho, agree = s.rho("xavier", "tricks.init.scale", "phase1_end")
    drho, dagree = s.rho("xavier", "tricks.init.scale", "dS")
    return [
        s.claim(
            len(trained) >= 4,
            "**How does the initialization scale act?** With Xavier-normal weights times "
            + ", ".join(f"{k:g}" for k in scales)
            + ": "
            + "; ".join(
                f"{k:g}: {phase_text(a)}{untrained(a)}" if a.n else f"{k:g}: {a.failed}/{a.total} diverged"
                for k, a in arms.items()
            )
            + f". {len(trained)} scales train ({', '.join(f'{k:g}' for k in trained)}).",
        ),
        s.claim(
            True,
            f"T1 against the scale: Spearman rho {rho} over every run that did not diverge (stuck runs rank "
            f"last), seeds agree: {agree}; the layer-mean rise: rho {drho}, seeds agree: {dagree}.",
        ),
    ]


def activations(s: Stats) -> list[str]:
    names = ("relu", "leaky_relu", "gelu", "tanh", "sigmoid", "identity")
    arms = {a: s.arm(a) for a in names}
    sig = arms["sigmoid"]
    return [
        s.claim(
            True,
            "**Is it a ReLU effect?** The main job's 12-layer MLP with each activation: "
            + "; ".join(
                f"{a}: {phase_text(arm)}, rise {arm.cell('dS')}{untrained(arm)}" for a, arm in arms.items()
            )
            + ".",
        ),
        s.claim(
            True,
            "Against ReLU: " + "; ".join(versus(s, a, "phase1_end", f"{a} T1") for a in names[1:]) + ".",
        ),
        s.claim(
            sig.collapsed == sig.n and sig.condensed == 0,
            f"Sigmoid's features are alike from step 0: `collapsed_at_init` in {sig.of(sig.collapsed)} seeds "
            f"(S0 {sig.cell('S0')}), never counted as condensed.",
        ),
        s.claim(
            True,
            "share_common at step 0 (median over seeds): "
            + ", ".join(f"{s.share(a, 'share_common', '0'):.2f} for {a}" for a in names)
            + ".",
        ),
    ]


def cnn_vs_mlp(s: Stats) -> list[str]:
    cnn = s.arm("cnn")
    question = "**Do CNNs have a first phase?** On digits as 1x8x8 images: "
    return [
        s.claim(True, phases_against(s, question, ("mlp", "cnn", "cnn+bn", "resnet"), "the 8-layer MLP")),
        s.claim(
            cnn.n > 0,
            f"The plain CNN's layer-mean `feat_inter` rises {cnn.cell('dS')} ({cnn.of(cnn.condensed)} seeds "
            f"`condensed`), with its {peak_text(cnn)}; {layers_text(cnn)}. share_class: "
            f"{s.share_course('cnn', 'share_class')}.",
        ),
    ]


def vit_vs_mlp(s: Stats) -> list[str]:
    mlp, vit, deep = s.arm("mlp"), s.arm("vit"), s.arm("vit_deep")
    return [
        s.claim(
            True,
            "**Do ViTs condense?** On 8x8 digits cut into 2x2 patches: the 4-block ViT's layer mean (the "
            f"token mean after each block) rises {vit.cell('dS')} ({vit.of(vit.condensed)} `condensed`), "
            f"the 8-block ViT's {deep.cell('dS')} ({deep.of(deep.condensed)}), the 8-layer MLP's "
            f"{mlp.cell('dS')} ({mlp.of(mlp.condensed)}); "
            + "; ".join(versus(s, a, "dS", f"{a} dS") for a in ("vit", "vit_deep"))
            + ".",
        ),
        s.claim(
            True,
            f"The ViTs' loss phases: 4-block {phase_text(vit)}, 8-block {phase_text(deep)}; their peaks: "
            f"4-block {peak_text(vit)}, 8-block {peak_text(deep)}.",
        ),
        *[
            before_the_drop(s, arm, label)
            for arm, label in ((vit, "the 4-block ViT"), (deep, "the 8-block ViT"))
        ],
        s.claim(
            True,
            f"share_class of the 4-block ViT: {s.share_course('vit', 'share_class')}; share_common "
            f"{s.share_course('vit', 'share_common')}.",
        ),
    ]


def vanishing(s: Stats) -> list[str]:
    xav, he, ln = s.arm("xavier"), s.arm("he"), s.arm("layer_normalized")
    ratio0 = s.logged("xavier", "gradient_health/grad_ratio_first_last", "0")
    wg_x = s.logged("xavier", "gradient_health/*/wgrad_norm", "0")
    wg_h = s.logged("he", "gradient_health/*/wgrad_norm", "0")
    dead0 = s.logged("xavier", "gradient_health/*/dead_frac", "0")
    dead_t1 = s.logged("xavier", "gradient_health/*/dead_frac", "T1")
    return [
        s.claim(
            ratio0 > 1 and wg_h > wg_x,
            "**Is it just vanishing gradients?** Not in the usual sense: with Xavier's initialization the "
            f"first layer's weight gradient is {ratio0:.2g} times the classifier's at step 0 (median), so "
            "at step 0 the gradient does not shrink on its way down; the gradients are small overall "
            f"instead (weight-gradient norm at step 0, mean over layers: {wg_x:.2g}, against {wg_h:.2g} "
            "with He's initialization).",
        ),
        s.claim(
            True,
            f"Dead units: {dead0:.2g} of the hidden units at step 0 and {dead_t1:.2g} at T1 (Xavier, mean "
            "over layers, median over seeds).",
        ),
        s.claim(
            True,
            f"The controls: He's initialization gives {phase_text(he)}, layer-normalized updates (every "
            f"parameter tensor moves by lr per step) {phase_text(ln)}, against {phase_text(xav)} for Xavier; "
            + "; ".join(
                versus(s, a, k, f"{a} {w}")
                for a in ("he", "layer_normalized")
                for k, w in (("phase1_end", "T1"), ("dS", "dS"))
            )
            + ".",
        ),
    ]


def neural_collapse(s: Stats) -> list[str]:
    mlp, bn = s.arm("mlp"), s.arm("mlp+bn")

    def nc(arm: str, q: str, at: str) -> float:
        return s.logged(arm, f"neural_collapse/penultimate/{q}", at)

    names = ("nc1", "nc2_equinorm", "nc2_maxangle", "nc3", "nc4")
    toward = [q for q in names if nc("mlp", q, "T1") < nc("mlp", q, "0")]
    away = [q for q in names if nc("mlp", q, "T1") > nc("mlp", q, "0")]
    return [
        s.claim(
            mlp.first_phase == mlp.n,
            "**How does it relate to neural collapse?** During the plain MLP's first phase (T1 "
            f"{mlp.cell('phase1_end')}) the penultimate features move toward collapse by "
            f"{', '.join(toward) or 'no measure'} and away from it by {', '.join(away) or 'no measure'} "
            "(every measure is 0 under collapse; median over seeds at step 0 and at T1: "
            + ", ".join(f"{q} {nc('mlp', q, '0'):.2f} to {nc('mlp', q, 'T1'):.2f}" for q in names)
            + "). So part of what neural collapse measures already starts in the first phase; these numbers "
            "cannot tell whether the first phase is an early form of it.",
        ),
        s.claim(
            True,
            f"At the end ({max(r.value('steps_done') or 0 for r in mlp.runs)} steps): "
            + ", ".join(f"{q} {nc('mlp', q, 'end'):.3g}" for q in names)
            + f" for the plain MLP; with batch normalization ({phase_text(bn)}) "
            + ", ".join(f"{q} {nc('mlp+bn', q, 'end'):.3g}" for q in names)
            + ".",
        ),
    ]


READINGS = {
    "digits/resmlp_vs_mlp": main_job,
    "digits/four_tricks": four_tricks,
    "digits/depth_sweep": depth_sweep,
    "digits/init_scale": init_scale,
    "digits/activations": activations,
    "digits/cnn_vs_mlp": cnn_vs_mlp,
    "digits/vit_vs_mlp": vit_vs_mlp,
    "digits/vanishing_vs_condensation": vanishing,
    "digits/neural_collapse": neural_collapse,
}

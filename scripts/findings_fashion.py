"""The readings of Part 2 (Fashion-MNIST): sentences built from each section's numbers, each claim checked.

See :mod:`findings_text` for the rules and :mod:`findings_digits` for the phrases shared with Part 1.
"""

from __future__ import annotations

from findings_digits import _momentum, _similarity_too
from findings_stats import Stats
from findings_text import before_the_drop, l2_text, layers_text, peak_text, phase_text, phases_against, versus


def resmlp(s: Stats) -> list[str]:
    depths = sorted({r.grid_values["model.depth"] for r in s.rows})
    mlp = {d: s.arm("mlp", f"model.depth={d}") for d in depths}
    res = {d: s.arm("resmlp", f"model.depth={d}") for d in depths}
    deep = depths[-1]
    return [
        s.claim(
            True,
            "**Does a residual MLP condense like a plain MLP, on real images?** Plain MLPs: "
            + "; ".join(f"depth {d}: {phase_text(mlp[d])}" for d in depths)
            + ". Residual MLPs: "
            + "; ".join(f"depth {d}: {phase_text(res[d])}" for d in depths)
            + f". With {len(depths)} depths no trend with depth is read here (the digits depth sweep has "
            "four); "
            + "; ".join(
                versus(s, "resmlp", "phase1_end", f"at depth {d} the residual T1 is", f"model.depth={d}")
                for d in depths
            )
            + ".",
        ),
        s.claim(
            True,
            f"At depth {deep} the plain MLP's layer mean rises {mlp[deep].cell('dS')} "
            f"({mlp[deep].of(mlp[deep].condensed)} `condensed`), with its {peak_text(mlp[deep])}; "
            f"{layers_text(mlp[deep])}.",
        ),
        s.claim(
            True,
            f"The residual MLP's layer mean (the stream after each block) at depth {deep} rises "
            f"{res[deep].cell('dS')} ({res[deep].of(res[deep].condensed)} `condensed`) to a peak at step "
            f"{res[deep].cell('peak_step')}, measured densely around that peak; {layers_text(res[deep])}.",
        ),
        s.claim(
            True,
            "Test accuracy, residual against plain: "
            + "; ".join(
                versus(s, "resmlp", "final_test_acc", f"depth {d}", f"model.depth={d}") for d in depths
            )
            + ".",
        ),
    ]


def four_tricks(s: Stats) -> list[str]:
    plain = s.arm("plain")
    matched = next(a for a, _ in s.arms() if a.startswith("sgd_lr"))
    return [
        s.claim(
            plain.first_phase == plain.n,
            "**Which tricks shorten or remove the first phase, on real images?** The 14-layer plain MLP has "
            f"{phase_text(plain)}; batch normalization {phase_text(s.arm('batchnorm'))}; "
            f"{versus(s, 'batchnorm', 'phase1_end', 'its T1 is')}.",
        ),
        _similarity_too(s, plain, ("batchnorm",)),
        *_momentum(s, plain, s.arm("momentum"), s.arm(matched)),
        *l2_text(s),
    ]


def cnn(s: Stats) -> list[str]:
    plain, bn = s.arm("cnn"), s.arm("cnn+bn")
    question = "**Does a CNN have a first phase on real images, and with batch normalization?** "
    return [
        s.claim(True, phases_against(s, question, ("mlp", "cnn", "cnn+bn"), "the 6-layer MLP")),
        *[
            s.claim(
                arm.n > 0,
                f"The {name}'s layer-mean `feat_inter` rises {arm.cell('dS')} ({arm.of(arm.condensed)} "
                f"`condensed`), with its {peak_text(arm)}; {layers_text(arm)}.",
            )
            for name, arm in (("plain CNN", plain), ("CNN with batch normalization", bn))
        ],
        s.claim(
            True,
            "No test compares this CNN with the digits CNN of Part 1, so the page does not say whether it "
            "behaves as on digits: each section's peak counts stand on their own.",
        ),
    ]


def vit(s: Stats) -> list[str]:
    mlp, vt = s.arm("mlp"), s.arm("vit")
    return [
        s.claim(
            True,
            "**Does a ViT condense on real images?** The 4-block ViT on 7x7-pixel patches of Fashion-MNIST "
            f"has {phase_text(vt)}; its layer mean (the token mean after each block) rises {vt.cell('dS')} "
            f"({vt.of(vt.condensed)} `condensed`), with its {peak_text(vt)}, measured densely around that "
            f"peak; {layers_text(vt)}.",
        ),
        before_the_drop(s, vt, "the ViT"),
        s.claim(
            True,
            f"The 6-layer MLP: {phase_text(mlp)}, rise {mlp.cell('dS')} "
            f"({mlp.of(mlp.condensed)} `condensed`); "
            f"{versus(s, 'vit', 'dS', 'the ViT rise is')}; "
            f"{versus(s, 'vit', 'final_test_acc', 'its test accuracy')}.",
        ),
        s.claim(
            True,
            f"share_class of the ViT: {s.share_course('vit', 'share_class')}; share_common "
            f"{s.share_course('vit', 'share_common')}.",
        ),
    ]


READINGS = {
    "fashion_mnist/resmlp_vs_mlp": resmlp,
    "fashion_mnist/four_tricks": four_tricks,
    "fashion_mnist/cnn_vs_mlp": cnn,
    "fashion_mnist/vit_vs_mlp": vit,
}

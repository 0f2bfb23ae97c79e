"""The hand-chosen mutants of ``scripts/mutants.py``: one silent bug each, in the modules where a bug gives wrong science
or loses data without a crash.

Each entry: the module group, the file, the exact original snippet (it must occur exactly once), its replacement
and the bug it models. ``equivalent`` gives the reason when the mutant cannot change any observable result; such
mutants are listed but left out of the kill rate.
"""

from __future__ import annotations

from dataclasses import dataclass

# test files per module group, fast ones first (pytest -x stops at the first failure)
TESTS: dict[str, list[str]] = {
    "measures": ["test_measures.py", "test_measure_edge_cases.py", "test_shares_and_layer_means.py", "test_measure_precision.py",
                 "test_metrics_nc_health.py", "test_metrics_non_finite.py"],
    "phases": ["test_phases_schedules.py", "test_behaviour_pins.py", "test_condensed_rule.py"],
    "probe": ["test_probe.py", "test_behaviour_pins.py", "test_measure_precision.py", "test_measure_edge_cases.py"],
    "tricks": ["test_behaviour_pins.py", "test_tricks_issue4.py"],
    "output": ["test_behaviour_pins.py", "test_hostile_links.py", "test_hostile_fs.py", "test_hostile_stale.py"],
    "report": ["test_behaviour_pins.py", "test_answer.py", "test_compare.py", "test_report.py"],
}  # fmt: skip
EXTRA_TESTS = ["test_mutation_kills.py"]  # run first in every group when present


@dataclass(frozen=True)
class Mutant:
    module: str
    path: str
    original: str
    replacement: str
    bug: str
    equivalent: str | None = None


M = Mutant
MS, BM, CO, WG = "condensekit/measures.py", "condensekit/batched_measures.py", "condensekit/collapse.py", "condensekit/weight_grads.py"
PH, PR, OUT = "condensekit/phases.py", "condensekit/probe.py", "condensekit/output.py"
ROWS, TAB, CMP, ANS, MD = (f"condensekit/report/{n}.py" for n in ("rows", "tables", "compare", "answer", "markdown"))
TR = "plugins/tricks/"

MUTANTS: list[Mutant] = [
    # --- measures (measures.py, batched_measures.py, collapse.py, weight_grads.py) --------------------------------
    M("measures", MS, "(norms[:, None] * norms[None, :] + EPS)", "(norms[:, None] * norms[:, None] + EPS)", "cosine_gram divides by |x_i|^2, not |x_i||x_j|"),
    M("measures", MS, "triu(diagonal=1)", "triu(diagonal=0)", "pair_masks counts each sample paired with itself"),
    M("measures", MS, '"intra": ((onehot.T @ gram @ onehot).trace() - gram.diagonal().sum()) / 2', '"intra": (onehot.T @ gram @ onehot).trace() / 2',
      "pair_means keeps the diagonal in the intra-class sum"),
    M("measures", MS, "return x - x.mean(0, keepdim=True)", "return x - x.mean(1, keepdim=True)", "centered subtracts the mean over features, not samples"),
    M("measures", MS, "x = x if x.is_floating_point() else x.double()", "x = x.float()", "float64 features computed in float32"),
    M("measures", BM, "intra = float((sizes * (sizes - 1) / 2).sum())", "intra = float((sizes * sizes / 2).sum())", "intra-class pair count includes self-pairs"),
    M("measures", BM, "(1.0 - self.onehot @ self.onehot.T)", "(self.onehot @ self.onehot.T)", "inter-class mask selects the intra-class pairs"),
    M("measures", BM, "return [slice(d, d + width) for d in", "return [slice(d, d + width - 1) for d in", "column blocks drop one column each"),
    M("measures", BM, "torch.where(squares == 0, torch.zeros_like(squares), squares.rsqrt())", "squares.rsqrt()", "a zero feature gives inf, not a dropped row"),
    M("measures", BM, 'sums = {"all": (total - diag) / 2,', 'sums = {"all": total / 2,', "batched pair means keep the diagonal in the total"),
    M("measures", BM, "squares_centered = squares - 2 * dot_mean + mean_squared", "squares_centered = squares - dot_mean + mean_squared",
      "|x - m|^2 expanded with a wrong cross term"),
    M("measures", BM, "dead_cols += (x[..., cols].amax(dim=1) <= 0)", "dead_cols += (x[..., cols].amax(dim=1) < 0)", "batched dead_frac: exactly 0 is alive"),
    M("measures", BM, '"share_class": within - common', '"share_class": within', "share_class not net of the common share"),
    M("measures", BM, ".sum(1) / n  # mean_i", ".mean(1)  # mean_i", "share weights: mean over classes instead of over samples"),
    M("measures", BM, "/ (k * (k - 1))", "/ (k * k)", "classmean averages over k^2 pairs, self-pairs included"),
    M("measures", BM, "    if bias:\n        gram_a = gram_a + 1.0", "    if False:\n        gram_a = gram_a + 1.0", "linear wgrad_inter ignores the bias"),
    M("measures", BM, 'torch.einsum("ln,lnm,lm->l", w, products, w).double() / 2', 'torch.einsum("ln,lnm,lm->l", w, products, w).double()',
      "inter-class pairs counted twice (i<j and j<i)"),
    M("measures", BM, "s[0].square() / energy", "s[-1].square() / energy", "rho1 from the smallest singular value"),
    M("measures", BM, "p = s / s.sum()", "p = s.square() / energy", "effective rank from squared singular values"),
    M("measures", BM, 'out["mean_norm"] = squares.sqrt().mean(1)', 'out["mean_norm"] = squares.mean(1).sqrt()', "mean_norm is the RMS norm"),
    M("measures", BM, "torch.stack([torch.isfinite(t).all() for t in tensors]).all()", "torch.stack([torch.isfinite(t).any() for t in tensors]).all()",
      "a partly non-finite tensor passes as finite"),
    M("measures", CO, "means = (onehot.T @ x) / onehot.sum(0)[:, None]", "means = (onehot.T @ x) / x.shape[0]", "class means divided by N, not the class size"),
    M("measures", CO, "m = (means - mu_g).T  # (D, C)", "m = means.T  # (D, C)", "NC1 with uncentered class means"),
    M("measures", CO, '"equinorm": float(norms.std(unbiased=False)', '"equinorm": float(norms.std()', "NC2 equinorm with the unbiased std"),
    M("measures", CO, "(w / (w.norm() + EPS) - m / (m.norm() + EPS))", "(w / (w.norm() + EPS) + m / (m.norm() + EPS))", "NC3 adds instead of subtracts"),
    M("measures", CO, "torch.cdist(x, means).argmin(dim=1)", "torch.cdist(x, means).argmax(dim=1)", "NC4 takes the farthest class mean"),
    M("measures", WG, 'method = "blocks" if c_out * k <= positions', 'method = "blocks" if c_out * k >= positions', "auto picks the costlier route",
      equivalent="both routes are exact; only speed and memory differ (each route is tested against torch.func)"),
    M("measures", WG, "cols.new_ones(cols.shape[0], cols.shape[1], 1, cols.shape[3])", "cols.new_zeros(cols.shape[0], cols.shape[1], 1, cols.shape[3])",
      "conv wgrad ignores the bias row"),
    M("measures", WG, "inner[j0 : j0 + block, i0 : i0 + block] = part.T", "inner[j0 : j0 + block, i0 : i0 + block] = part",
      "budgeted blocks route mirrors a block without transposing it"),
    M("measures", WG, "left, right = total // 2, total - total // 2", "left, right = total - total // 2, total // 2", "padding='same' pads the larger half first"),
    M("measures", WG, 'mode = "constant" if module.padding_mode == "zeros" else module.padding_mode', 'mode = "constant"', "reflect padding unfolded as zeros"),
    # --- phases -----------------------------------------------------------------------------------------------------
    M("phases", PH, "return max(20, steps_per_epoch // 20)", "return max(20, steps_per_epoch // 10)", "smoothing window a tenth of an epoch"),
    M("phases", PH, "        if value < threshold:", "        if value <= threshold:", "T1 when the loss reaches, not passes, the threshold"),
    M("phases", PH, "peak_step, peak = max(pairs, key=lambda p: p[1])", "peak_step, peak = max(reversed(pairs), key=lambda p: p[1])",
      "tied peak takes the last step"),
    M("phases", PH, '"final": pairs[-1][1]}', '"final": values[-1]}', "final value may be a trailing NaN"),
    M("phases", PH, "    if rise < th.rise:\n        return False", "    if rise <= th.rise:\n        return False", "a rise of exactly `rise` is not enough"),
    M("phases", PH, "final <= peak - th.fall_fraction * rise", "final < peak - th.fall_fraction * rise", "a fall of exactly fall_fraction dS is not a fall"),
    M("phases", PH, "return bool(stuck or final", "return bool(stuck and final", "stuck runs need a fall too"),
    M("phases", PH, "s0 >= th.collapsed and", "s0 > th.collapsed and", "collapsed_at_init needs S0 strictly above the threshold"),
    M("phases", PH, "t1 is None or peak_step <= t1", "t1 is None or peak_step < t1", "a peak at T1 counts as phase 2"),
    M("phases", PH, "return t1 is None or t1 >= 2 * window", "return t1 is None or t1 > 2 * window", "T1 at exactly two windows is no first phase"),
    M("phases", PH, "/ len(by_layer) for step in common]", "/ len(common) for step in common]", "layer mean divides by the number of steps"),
    M("phases", PH, "2 * collapsed > len(layers)", "2 * collapsed >= len(layers)", "half the layers collapsed counts as the run collapsed"),
    M("phases", PH, '"condensed": mean["condensed"],', '"condensed": any(s["condensed"] for s in layers.values()),', "run condensed when any layer is"),
    M("phases", PH, "fall_fraction: float = Field(0.5,", "fall_fraction: float = Field(0.4,", "default fall_fraction drifts"),
    # --- probe ------------------------------------------------------------------------------------------------------
    M("probe", PR, "    return list(points)[:-1]", "    return list(points)", "the logits counted as a hidden layer"),
    M("probe", PR, "min(per_class, max_samples // max(1, len(classes)))", "per_class", "probe ignores max_samples"),
    M("probe", PR, "generator = torch.Generator().manual_seed(seed)", "generator = torch.Generator().manual_seed(0)", "probe batch ignores the seed"),
    M("probe", PR, "                    m.eval()\n", "                    pass\n", "dropout left on in the probe"),
    M("probe", PR, 'F.cross_entropy(wide, self.labels, reduction="sum")', 'F.cross_entropy(wide, self.labels, reduction="mean")',
      "feature gradients of the mean loss (scaled by 1/N)"),
    M("probe", PR, "return float(self._loss.detach()) / len(self.labels)", "return float(self._loss.detach())", "probe loss is the sum"),
    M("probe", PR, "m._buffers[name] = b.clone()", "pass", "the probe forward updates BatchNorm running statistics"),
    M("probe", PR, "self._calls.get(point) != 1", "self._calls.get(point, 0) < 1", "a linear layer called twice is taken as plain"),
    M("probe", PR, "copy = tensor.clone()", "copy = tensor", "an in-place activation overwrites the captured feature"),
    M("probe", PR, "with torch.random.fork_rng(devices=devices), torch.enable_grad():", "with torch.enable_grad():", "probe consumes the training RNG"),
    M("probe", PR, "return {k: v.detach() for k, v in self._outputs.items()}", "return dict(self._outputs)", "features handed out attached to the graph"),
    # --- tricks -----------------------------------------------------------------------------------------------------
    M("tricks", TR + "momentum.py", '{"momentum": self.params.beta,', '{"momentum": 0.9,', "momentum ignores beta"),
    M("tricks", TR + "momentum.py", '"nesterov": self.params.nesterov}', '"nesterov": False}', "nesterov ignored"),
    M("tricks", TR + "weight_decay.py", '{"weight_decay": self.params.l2}', '{"weight_decay": 0.0}', "weight decay applies 0"),
    M("tricks", TR + "init.py", "m.weight.mul_(params.scale)", "m.weight.mul_(1.0)", "init ignores scale"),
    M("tricks", TR + "init.py", "if params.zero_bias and m.bias is not None:", "if m.bias is not None:", "init zeroes biases even when asked not to"),
    M("tricks", TR + "warmup.py", "return min(1.0, (step + 1) / self.params.steps)", "return min(1.0, step / self.params.steps)", "warmup's first step has lr 0"),
    M("tricks", TR + "warmup.py", "if run.step > self.params.steps:", "if run.step >= self.params.steps:", "warmup stops one step earlier",
      equivalent="the factor is already 1 at step `steps - 1`, so skipping step `steps` changes nothing"),
    M("tricks", TR + "grad_clip.py", "clip_grad_norm_(model.parameters(), self.params.max_norm)", "clip_grad_norm_(model.parameters(), 1.0)",
      "grad_clip ignores max_norm"),
    M("tricks", TR + "layer_normalized_updates.py", "p.dim() < 2 and not", "p.dim() < 1 and not", "include_bias=false still normalises biases"),
    M("tricks", TR + "layer_normalized_updates.py", "p.grad.div_(p.grad.norm() + self.params.eps)", "p.grad.div_(p.grad.norm().square() + self.params.eps)",
      "gradient divided by its squared norm"),
    M("tricks", TR + "dropout.py", '{"dropout": self.params.p}', '{"dropout": 0.1}', "dropout ignores p"),
    M("tricks", TR + "layernorm.py", 'return {"norm": "layer"}', 'return {"norm": "batch"}', "layernorm trick asks for batch norm"),
    # --- output -----------------------------------------------------------------------------------------------------
    M("output", OUT, "return value if math.isfinite(value) else None", "return value", "NaN written into run.json (not JSON)"),
    M("output", OUT, "        os.replace(tmp, path)\n", "        shutil.copyfile(tmp, path)\n        os.unlink(tmp)\n", "run.json written in place (copy, no rename)"),
    M("output", OUT, "    except BaseException:\n        Path(tmp).unlink(missing_ok=True)", "    except BaseException:\n        pass",
      "a failed write leaves its temporary file"),
    M("output", OUT, "            os.fchmod(fd, FILE_MODE)", "            pass", "run.json keeps mkstemp's 0600"),
    M("output", OUT, "    if not isinstance(info, dict):\n        return None", "    if False:\n        return None", "run.json that is not an object is accepted"),
    M("output", OUT, "    if any(key in info and not isinstance", "    if False and any(key in info and not isinstance", "run.json key types not checked"),
    M("output", OUT, "RunStatus.UNREADABLE if (run_dir / \"run.json\").exists() else None", "None", "a garbled run.json reads as no run"),
    M("output", OUT, "        if child.name == LOCK_NAME:\n            continue", "        if False:\n            continue", "clearing deletes the lock file"),
    M("output", OUT, "        if child.is_dir() and not child.is_symlink():", "        if child.is_dir():", "clearing follows a link to a folder"),
    M("output", OUT, "        if here.is_symlink():", "        if here == path and here.is_symlink():", "only the run folder itself is checked for a link"),
    M("output", OUT, "        except ValueError:\n            continue\n    return rows", "        except ValueError:\n            break\n    return rows",
      "a garbled metrics line drops every later row"),
    M("output", OUT, "if len(os.fsencode(p)) > name_max", "if len(os.fsencode(p)) >= name_max", "a name of exactly NAME_MAX bytes refused"),
    # --- report -----------------------------------------------------------------------------------------------------
    M("report", ROWS, '"status": RunStatus.INTERRUPTED if status == RunStatus.RUNNING else status,', '"status": status,',
      "a run left `running` by a dead process is reported running"),
    M("report", ROWS, "damage = damaged_outputs(run_dir, info) if status.finished else \"\"", "damage = \"\"", "deleted outputs of a finished run go unnoticed"),
    M("report", ROWS, '{"S0": "S0", "rise": "dS", "peak": "peak",', '{"S0": "S0", "rise": "peak", "peak": "dS",', "dS and peak columns swapped"),
    M("report", ROWS, "if value is None or (isinstance(value, float) and not math.isfinite(value)):", "if value is None:", "NaN written into summary.csv"),
    M("report", TAB, "med = fmt(statistics.median(vals))", "med = fmt(statistics.mean(vals))", "the report gives the mean across seeds"),
    M("report", TAB, 'stuck = sum(1 for r in ok if r.get("phase1_end") is None)', 'stuck = sum(1 for r in runs if r.get("phase1_end") is None)',
      "failed runs counted as stuck"),
    M("report", TAB, '"rise dS": median_range(r.get("dS") for r in ok),', '"rise dS": median_range(r.get("dS") for r in runs),',
      "failed and diverged runs enter the median rise"),
    M("report", TAB, "out[order[k]] = (i + j) / 2 + 1", "out[order[k]] = i + 1", "tied ranks not averaged"),
    M("report", TAB, "value = (row.get(\"steps_done\") or 0) + 1", "value = 0", "stuck runs rank T1 first"),
    M("report", TAB, "(v > 0) == (rho > 0)", "(v >= 0) == (rho > 0)", "zero rho per seed counted positive",
      equivalent="the clause is guarded by `v != 0` just before it"),
    M("report", TAB, 'key.append((0, float(v), "") if numeric', 'key.append((0, 0.0, str(v)) if numeric', "grid points sorted as text (10 before 4)"),
    M("report", CMP, "1.0 if a > b else 0.5 if a == b else 0.0", "1.0 if a > b else 0.0", "ties count as losses"),
    M("report", CMP, "offset, pairs = k * (k + 1) / 2, k * m", "offset, pairs = k * (k - 1) / 2, k * m", "Mann-Whitney offset off by one"),
    M("report", CMP, "- 0.5) >= observed", "- 0.5) > observed", "observed relabeling not counted",
      equivalent="`observed` already subtracts 1e-9, so no relabeling lies in between"),
    M("report", CMP, "return (hits + 1) / (RESAMPLES + 1), False", "return hits / RESAMPLES, False", "random p-value can be 0"),
    M("report", CMP, "if named is not None and named in arms:", "if False:", "[summary] reference ignored"),
    M("report", CMP, "for r in groups[(ref, grid)]) if v is not None]", "for r in runs) if v is not None]", "arm compared with itself"),
    M("report", CMP, 'if entry["p"] <= ALPHA:', 'if entry["p"] < ALPHA:', "p exactly alpha reads as no difference"),
    M("report", CMP, "'higher' if entry['P'] > 0.5 else 'lower'", "'higher' if entry['P'] < 0.5 else 'lower'", "higher and lower swapped"),
    M("report", ANS, "    if stuck == n:\n", "    if stuck:\n", "one stuck seed reads as all stuck"),
    M("report", ANS, 'r["dS"] >= rise)', 'r["dS"] > rise)', "a rise of exactly `rise` not counted"),
    M("report", ANS, "return len(verdicts) > 1 or len(phases) > 1", "return len(verdicts) > 1", "seeds disagreeing on the first phase not said"),
    M("report", ANS, "lines.append(arm_sentence(label, runs, th.rise, series))", "lines.append(arm_sentence(label, runs, 0.1, series))",
      "answer ignores the recipe's rise threshold"),
    M("report", MD, "max({th.plateau_drop_rel:g} L0, {th.plateau_drop_abs:g})", "max({th.plateau_drop_abs:g} L0, {th.plateau_drop_rel:g})",
      "legend swaps the plateau thresholds"),
    M("report", MD, "    if len(sets) > 1:\n", "    if len(sets) > 2:\n", "two threshold sets not flagged"),
    M("report", MD, 'if name and tomllib.loads(text).get("name") != name:', "if False:", "a planted recipe_path copies any TOML's comments"),
    M("report", MD, 'problems = [r for r in rows if r["status"] != RunStatus.OK]', 'problems = [r for r in rows if r["status"] == RunStatus.FAILED]',
      "diverged and unreadable runs not listed"),
    # --- held out: written after tests/test_mutation_kills.py, to measure the suite on mutants no test was aimed at ---
    M("measures", BM, "kept = (squares > 0).double()", "kept = torch.ones_like(squares)", "zero features counted in the energy shares"),
    M("measures", CO, "return means, x.mean(0), classes", "return means, means.mean(0), classes", "global mean taken as the mean of the class means"),
    M("phases", PH, "    half = window // 2\n", "    half = window\n", "running median over twice the window"),
    M("phases", PH, "s0 = pairs[0][1]", "s0 = values[0]", "S0 may be a leading NaN"),
    M("phases", PH, '"dS_max": max(rises) if rises else math.nan,', '"dS_max": rises[-1] if rises else math.nan,', "dS_max is the last layer's rise"),
    M("probe", PR, "wide = logits if logits.dtype == torch.float64 else logits.float()", "wide = logits", "half-precision logits give a half-precision loss"),
    M("probe", PR, "per_class = max(1, min(per_class,", "per_class = max(0, min(per_class,", "more classes than max_samples gives an empty probe"),
    M("tricks", TR + "warmup.py", "        if self.base_lrs is None:\n", "        if True:\n", "warmup compounds: the base lr re-read every step"),
    M("tricks", TR + "init.py", "schemes[params.scheme](m.weight)", 'schemes["xavier_normal"](m.weight)', "init ignores the scheme"),
    M("output", OUT, "    except (OSError, ValueError, RecursionError):\n        return None\n    if not isinstance(info, dict):",
      "    except OSError:\n        return None\n    if not isinstance(info, dict):", "a garbled run.json crashes the reader"),
    M("report", ROWS, '"error": error[-1] if error else "",', '"error": error[0] if error else "",', "the report shows a traceback's first line, not the error"),
    M("report", TAB, 'return ", ".join(f"{p} {phases.count(p)}/{len(runs)}"', 'return ", ".join(f"{p} {phases.count(p)}/{len(phases)}"',
      "peak-in counts out of the runs with a phase, not all runs"),
    M("report", CMP, '"too_few": smallest_p(len(x), len(y)) > ALPHA}', '"too_few": smallest_p(len(x), len(y)) >= ALPHA}', "sizes that can just reach alpha called too few"),
    M("report", TAB, "return [k for k in keys if len({r[\"grid_values\"].get(k) for r in rows}) >= 2]",
      "return [k for k in keys if len({r[\"grid_values\"].get(k) for r in rows}) >= 1]", "a grid key with one value gets a sweep"),
]  # fmt: skip

"""Every run hook is called, in order, with what its spec promises; clashes and failures are handled."""

from __future__ import annotations

import json
import textwrap

import pytest

from condensekit.api import open_recipe
from condensekit.catalogue import Catalogue
from condensekit.errors import PluginError
from condensekit.executing import execute_spec

RECORDER = """
import json, torch
import condensekit
from pydantic import BaseModel, ConfigDict

CALLS = []

def _log(name, **extra):
    CALLS.append(name)
    with open(__file__ + ".log", "a") as f:
        f.write(json.dumps({"hook": name, **extra}) + "\\n")

@condensekit.hookimpl
def run_started(run):
    assert run.run_dir.is_dir() and run.info.num_classes == 3
    _log("run_started")

@condensekit.hookimpl
def model_overrides(run):
    _log("model_overrides")
    return {"width": 5}

@condensekit.hookimpl
def model_built(run, model):
    _log("model_built", device=str(next(model.parameters()).device), width=model.hidden[0].out_features)

@condensekit.hookimpl
def optimizer_overrides(run):
    _log("optimizer_overrides")
    return {"momentum": 0.3}

@condensekit.hookimpl
def make_optimizer(run, params, options):
    _log("make_optimizer", options=options)
    return torch.optim.SGD(params, **options)

@condensekit.hookimpl
def extra_loss(run, model, batch, outputs):
    _log("extra_loss", step=run.step, shape=list(outputs.shape))
    return None

@condensekit.hookimpl
def after_step(run, model, optimizer):
    _log("after_step", step=run.step)

@condensekit.hookimpl
def collect_metrics(run, probe):
    _log("collect_metrics", step=probe.step)
    return {"probe_size": float(len(probe.labels))}

@condensekit.hookimpl
def log_scalars(run, step, scalars):
    pass

@condensekit.hookimpl
def run_finished(run, status, summary):
    _log("run_finished", status=status, has_summary="phase1_end" in summary)
"""


def recipe_text(extra: str = "", plugins: str = '["recorder.py"]') -> str:
    return textwrap.dedent(f"""
        name = "hooks"
        seeds = [0]
        device = "cpu"
        plugins = {plugins}
        [data]
        use = "synthetic"
        num_classes = 3
        dim = 4
        train_per_class = 10
        batch_size = 10
        [train]
        steps = 4
        lr = 0.1
        eval_every = "at:0"
        [metrics]
        condensation = {{ every = "at:0,2" }}
        [[arms]]
        name = "a"
        model = {{ use = "mlp", depth = 3, width = 8 }}
        {extra}
    """)


def run_with_recorder(tmp_path, text):
    (tmp_path / "recorder.py").write_text(RECORDER)
    recipe_path = tmp_path / "r.toml"
    recipe_path.write_text(text)
    recipe = open_recipe(recipe_path)[0]
    outcome = execute_spec(recipe.specs[0], tmp_path / "out")
    log = [json.loads(line) for line in (tmp_path / "recorder.py.log").read_text().splitlines()]
    return outcome, log


def test_every_run_hook_is_called_in_order(tmp_path):
    outcome, log = run_with_recorder(tmp_path, recipe_text())
    assert outcome.status == "ok", outcome.error
    hooks = [e["hook"] for e in log]
    assert hooks[:5] == [
        "run_started",
        "model_overrides",
        "model_built",
        "optimizer_overrides",
        "make_optimizer",
    ]
    assert hooks[-1] == "run_finished" and log[-1]["status"] == "ok" and log[-1]["has_summary"]
    built = next(e for e in log if e["hook"] == "model_built")
    assert built["device"] == "cpu" and built["width"] == 5  # the override reached the model
    assert next(e for e in log if e["hook"] == "make_optimizer")["options"] == {"lr": 0.1, "momentum": 0.3}
    assert [e["step"] for e in log if e["hook"] == "after_step"] == [0, 1, 2, 3]
    assert [e["step"] for e in log if e["hook"] == "extra_loss"] == [0, 1, 2, 3]
    # a plugin that is not a catalogue metric is asked whenever a probe is taken: steps 0, 2 and the last
    assert [e["step"] for e in log if e["hook"] == "collect_metrics"] == [0, 2, 4]
    run_dir = tmp_path / "out" / "hooks/a/base/seed=0"
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    keys = {k for r in rows for k in r}
    plugin_key = next(k for k in keys if k.endswith("/probe_size"))
    assert plugin_key.startswith(str(tmp_path / "recorder.py"))
    assert "condensation/layer1/feat_inter" in keys


def test_extra_loss_changes_training(tmp_path):
    plugin = tmp_path / "l2.py"
    plugin.write_text(
        textwrap.dedent("""
        import condensekit
        @condensekit.hookimpl
        def extra_loss(run, model, batch, outputs):
            return 0.5 * sum((p ** 2).sum() for p in model.parameters())
    """)
    )
    recipe_path = tmp_path / "r.toml"
    recipe_path.write_text(recipe_text(plugins='["l2.py"]'))
    outcome = execute_spec(open_recipe(recipe_path)[0].specs[0], tmp_path / "out")
    assert outcome.status == "ok"
    recipe_path.write_text(recipe_text(plugins="[]"))
    plain = execute_spec(open_recipe(recipe_path)[0].specs[0], tmp_path / "plain")

    def losses(root):
        path = root / "hooks/a/base/seed=0/metrics.jsonl"
        return [r["train/loss"] for r in map(json.loads, path.read_text().splitlines()) if "train/loss" in r]

    assert losses(tmp_path / "out")[0] == pytest.approx(losses(tmp_path / "plain")[0])  # same start
    assert losses(tmp_path / "out")[-1] != pytest.approx(losses(tmp_path / "plain")[-1])  # different training
    assert plain.status == "ok"


def test_clashing_overrides_fail_the_run_naming_both(tmp_path):
    (tmp_path / "recorder.py").write_text(RECORDER)
    (tmp_path / "other.py").write_text(
        textwrap.dedent("""
        import condensekit
        @condensekit.hookimpl
        def model_overrides(run):
            return {"width": 7}
    """)
    )
    recipe_path = tmp_path / "r.toml"
    recipe_path.write_text(recipe_text(plugins='["recorder.py", "other.py"]'))
    outcome = execute_spec(open_recipe(recipe_path)[0].specs[0], tmp_path / "out")
    assert outcome.status == "failed"
    assert "width" in outcome.error and "recorder.py" in outcome.error and "other.py" in outcome.error
    info = json.loads((tmp_path / "out/hooks/a/base/seed=0/run.json").read_text())
    assert info["status"] == "failed" and "PluginError" in info["error"]


def test_divergence_is_recorded_and_run_finished_sees_it(tmp_path):
    (tmp_path / "recorder.py").write_text(RECORDER)
    recipe_path = tmp_path / "r.toml"
    recipe_path.write_text(recipe_text().replace("lr = 0.1", "lr = 1e12").replace("steps = 4", "steps = 60"))
    outcome = execute_spec(open_recipe(recipe_path)[0].specs[0], tmp_path / "out")
    assert outcome.status == "diverged"
    log = [json.loads(line) for line in (tmp_path / "recorder.py.log").read_text().splitlines()]
    assert log[-1] == {"hook": "run_finished", "status": "diverged", "has_summary": True}


def test_catalogue_duplicates_name_both_plugins_and_unknown_names_suggest():
    cat = Catalogue()
    cat.register_callback("models", "pkg_a")("mlp", lambda p, i: None)
    with pytest.raises(PluginError, match="pkg_a.*pkg_b"):
        cat.register_callback("models", "pkg_b")("mlp", lambda p, i: None)
    with pytest.raises(PluginError, match="did you mean 'mlp'"):
        cat.get("models", "mpl")


def test_plugin_failing_in_register_hook_is_named_and_skipped(tmp_path):
    from condensekit.manager import get_plugin_manager

    broken = tmp_path / "broken.py"
    broken.write_text(
        "import condensekit\n@condensekit.hookimpl\n"
        "def register_models(register):\n    raise RuntimeError('boom')\n"
    )
    pm = get_plugin_manager([broken])
    with pytest.warns(UserWarning, match="boom"):
        cat = pm.catalogue
    assert "mlp" in cat.names("models")
    assert "boom" in pm.load_errors[str(broken)]
    assert "boom" in cat.unknown_message("models", "mine")[1]


# Every run hook as a method of a trick, each taking only some of the hook's arguments (any subset may be):
# hook -> (the arguments the method takes, what it writes to the log besides the hook's name).
TRICK_METHODS = {
    "run_started": ("run", ""),
    "model_overrides": ("", ""),
    "model_built": ("model", ""),
    "optimizer_overrides": ("run", ""),
    "make_optimizer": ("options", "options=options"),  # returns None: the built-in SGD builds it
    "extra_loss": ("run, outputs", "step=run.step"),
    "before_step": ("run", "step=run.step"),
    "after_step": ("run, optimizer", "step=run.step"),
    "collect_metrics": ("probe", ""),
    "log_scalars": ("step, scalars", "step=step, tags=sorted(scalars)"),
    "run_finished": ("status, summary", "status=status"),
}
EVERY_HOOK_TRICK = (
    "import json\nimport condensekit\n\n"
    "def _log(name, **extra):\n"
    "    with open(__file__ + '.log', 'a') as f:\n"
    "        f.write(json.dumps({'hook': name, **extra}) + '\\n')\n\n"
    "class Everything:\n"
    "    def __init__(self, params):\n"
    "        pass\n"
    + "".join(
        f"    @condensekit.hookimpl\n    def {hook}(self, {args}):\n        _log({hook!r}, {extra})\n"
        for hook, (args, extra) in TRICK_METHODS.items()
    )
    + "\n@condensekit.hookimpl\ndef register_tricks(register):\n    register('everything', Everything)\n"
)


def test_a_trick_receives_every_run_hook_in_order_with_the_arguments_it_takes(tmp_path):
    (tmp_path / "everything.py").write_text(EVERY_HOOK_TRICK)
    recipe_path = tmp_path / "r.toml"
    recipe_path.write_text(recipe_text("tricks = { everything = {} }", plugins='["everything.py"]'))
    outcome = execute_spec(open_recipe(recipe_path)[0].specs[0], tmp_path / "out")
    assert outcome.status == "ok", outcome.error
    log = [json.loads(line) for line in (tmp_path / "everything.py.log").read_text().splitlines()]
    log = log[[e["hook"] for e in log].index("run_started") :]  # model_overrides ran once more at validation
    hooks = [e["hook"] for e in log]
    assert hooks[:5] == list(TRICK_METHODS)[:5]  # run_started ... make_optimizer, in the order of the specs
    assert log[4]["options"] == {"lr": 0.1}
    for hook in ("extra_loss", "before_step", "after_step"):
        steps = [e["step"] for e in log if e["hook"] == hook]
        # the four training steps, then any the refinement replays from a snapshot (docs/metrics.md)
        assert steps[:4] == [0, 1, 2, 3] and all(s < 4 for s in steps[4:]), (hook, steps)
    assert "collect_metrics" not in hooks  # a trick measures nothing: only metrics and plugins are asked
    tags = {t for e in log if e["hook"] == "log_scalars" for t in e["tags"]}
    assert {"train/loss", "test/accuracy", "condensation/layer1/feat_inter"} <= tags
    assert hooks[-1] == "run_finished" and log[-1]["status"] == "ok"

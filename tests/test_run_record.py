"""condensekit.run_record: how a run that ends early is recorded, and whether the grid goes on.

Only the user's interruption stops the grid: Ctrl-C (``KeyboardInterrupt``, wherever it is raised: Python
cannot tell a real Ctrl-C from code raising it, and a real one must never be taken for a failure) or a signal
to a worker. ``sys.exit()`` in a plugin, and any other ``BaseException`` that is not an interruption, fails
its run with a line saying where it was raised; the other runs go on, the report is written, exit code 1.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hostile import cli, ctrl_c_when_ready, metrics_rows, run_json, write

from condensekit.api import open_recipe
from condensekit.executing import execute_spec

pytestmark = pytest.mark.hostile


PLUGIN = """
import condensekit
from pydantic import BaseModel, ConfigDict


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid")
    how: str = "exit"
    seed: int = 0


class Odd(BaseException):
    "like pytest.fail's exception: a BaseException that is no interruption"


class Ends:
    def __init__(self, params):
        self.params = params

    @condensekit.hookimpl
    def after_step(self, run, model, optimizer):
        if run.step != 2 or run.seed != self.params.seed:
            return
        if self.params.how == "exit":
            raise SystemExit(3)
        if self.params.how == "interrupt":
            raise KeyboardInterrupt
        if self.params.how == "odd":
            raise Odd("not an exception")
        raise RuntimeError("x" * 50_000_000)


@condensekit.hookimpl
def register_tricks(register):
    register("ends", Ends, params=Params, summary="test: ends the run at step 2 of seed 0")
"""


def _recipe(tmp_path: Path, how: str) -> Path:
    (tmp_path / "ends.py").write_text(PLUGIN)
    return write(
        tmp_path,
        seeds=(0, 1),
        steps=4,
        top='plugins = ["ends.py"]',
        rest=f'tricks = {{ ends = {{ how = "{how}" }} }}\n',
    )


def _status(out: Path, seed: int) -> dict:
    return json.loads((out / f"h/mlp/base/seed={seed}/run.json").read_text())


@pytest.mark.parametrize(
    ("how", "words"), [("exit", ["SystemExit: 3", "ends.py:"]), ("odd", ["Odd: not an exception"])]
)
def test_sys_exit_or_another_base_exception_in_a_plugin_fails_its_run_and_the_grid_goes_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], how: str, words: list[str]
) -> None:
    out = tmp_path / "out"
    code, _, err = cli(capsys, "run", _recipe(tmp_path, how), "--out", out)
    assert code == 1, err
    first, second = _status(out, 0), _status(out, 1)
    assert first["status"] == "failed" and second["status"] == "ok"  # the grid went on
    assert (out / "h/report.md").is_file() and "interrupted" not in err
    failed_line = next(line for line in err.splitlines() if line.startswith("  failed: h/mlp/base/seed=0"))
    for word in words:
        assert word in failed_line


def test_keyboard_interrupt_raised_in_a_plugin_counts_as_ctrl_c_and_stops_the_grid(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    code, _, err = cli(capsys, "run", _recipe(tmp_path, "interrupt"), "--out", out)
    assert code == 130 and "To resume, run the same command again" in err
    assert _status(out, 0)["status"] == "interrupted" and not (out / "h/mlp/base/seed=1/run.json").exists()


def test_a_50_mb_error_message_from_a_plugin_is_shortened_wherever_it_is_shown(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    code, stdout, err = cli(capsys, "run", _recipe(tmp_path, "message"), "--out", out)
    assert code == 1 and len(err) < 20_000 and len(stdout) < 20_000
    assert "RuntimeError: xxxx" in err and "characters)" in err
    assert len((out / "h/report.md").read_text()) < 100_000


def test_sys_exit_in_a_plugin_fails_its_run_in_a_worker_process_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    code, _, err = cli(capsys, "run", _recipe(tmp_path, "exit"), "--out", out, "--jobs", "2")
    assert code == 1 and _status(out, 0)["status"] == "failed" and _status(out, 1)["status"] == "ok"
    assert "SystemExit: 3" in _status(out, 0)["error"] and "worker process died" not in err


# A trick that breaks the run at a chosen step (raise, Ctrl-C, NaN or huge weights), and a plugin that
# writes down what run_finished was told, like any third-party plugin would.
BREAKER = '''
import json, math, os, signal, torch
from pathlib import Path
from pydantic import BaseModel, ConfigDict
import condensekit

class BreakParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    at: int = 2
    how: str = "raise"

class Break:
    def __init__(self, params):
        self.params = params

    @condensekit.hookimpl
    def after_step(self, run, model, optimizer):
        if run.step != self.params.at:
            return
        how = self.params.how
        if how == "raise":
            raise RuntimeError("broken on purpose")
        if how == "interrupt":
            raise KeyboardInterrupt
        if how == "sigint":
            (run.run_dir.parents[3] / "ready").write_text(str(os.getpid()))
            import time
            time.sleep(60)
        with torch.no_grad():
            for p in model.parameters():
                p.mul_(float("nan") if how == "nan" else 1e30)

class Strict:
    """A metric like an SVD on features: it raises on non-finite input instead of returning a number."""
    def __init__(self, params):
        pass

    @condensekit.hookimpl
    def collect_metrics(self, run, probe):
        for h in probe.feature_grads.values():
            if not torch.isfinite(h).all():
                raise ValueError("SVD did not converge (non-finite input)")
        return {"ok": 1.0}

class Returns:
    def __init__(self, params):
        self.params = params

    @condensekit.hookimpl
    def collect_metrics(self, run, probe):
        values = {"str": "abc", "none": None, "list": [1.0], "tensor": torch.tensor(2.0)}
        return {"value": values[self.params.kind]}

class ReturnsParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: str = "str"

class NoParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

@condensekit.hookimpl
def run_finished(run, status, summary):
    with open(run.run_dir.parents[3] / "told.jsonl", "a") as f:
        told = {"run": run.label, "status": str(status), "steps_done": summary.get("steps_done")}
        f.write(json.dumps(told) + "\\n")

@condensekit.hookimpl
def register_tricks(register):
    register("break_at", Break, params=BreakParams, summary="test: break the run at a step")

@condensekit.hookimpl
def register_metrics(register):
    register("strict", Strict, params=NoParams, summary="test: raises on non-finite gradients")
    register("returns", Returns, params=ReturnsParams, summary="test: returns a value of a given kind")
'''


def _breaker_recipe(tmp_path: Path, trick: str = "", metrics: str = "", steps: int = 6) -> Path:
    (tmp_path / "breaker.py").write_text(BREAKER)
    rest = f"tricks = {{ {trick} }}\n" if trick else ""
    recipe = write(tmp_path, steps=steps, top='plugins = ["breaker.py"]', rest=rest)
    if metrics:
        recipe.write_text(recipe.read_text().replace('condensation = { every = "every:2" }', metrics))
    return recipe


def _told(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "told.jsonl").read_text().splitlines()]


def _hparams_status(run_dir: Path) -> str:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    acc = EventAccumulator(str(run_dir))
    acc.Reload()
    for content in acc.PluginTagToContent("hparams").values():
        data = plugin_data_pb2.HParamsPluginData.FromString(content)
        if data.HasField("session_start_info"):
            return data.session_start_info.hparams["status"].string_value
    raise AssertionError("no HParams session in the event file")


def _run(tmp_path: Path, recipe: Path, capsys: pytest.CaptureFixture[str]) -> tuple[object, str, Path]:
    out = tmp_path / "out"
    outcome = execute_spec(open_recipe(recipe)[0].specs[0], out)
    err = capsys.readouterr().err
    return outcome, err, out / "h/mlp/base/seed=0"


def test_a_failed_run_is_failed_for_every_consumer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outcome, err, run_dir = _run(
        tmp_path, _breaker_recipe(tmp_path, 'break_at = { at = 2, how = "raise" }'), capsys
    )
    assert outcome.status == "failed" and "broken on purpose" in outcome.error  # type: ignore[attr-defined]
    assert run_json(run_dir)["status"] == "failed"
    assert "  failed   mlp/base/seed=0" in err  # the console line
    assert _hparams_status(run_dir) == "failed"  # TensorBoard's HParams
    assert _told(tmp_path / "out") == [{"run": "mlp/base/seed=0", "status": "failed", "steps_done": None}]
    rows = metrics_rows(run_dir)  # metrics.jsonl was closed whole: every line parses, up to the failure
    assert rows and {r["step"] for r in rows} <= {0, 1, 2}


def test_ctrl_c_inside_a_run_is_interrupted_for_every_consumer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recipe = _breaker_recipe(tmp_path, 'break_at = { at = 2, how = "interrupt" }')
    with pytest.raises(KeyboardInterrupt):
        execute_spec(open_recipe(recipe)[0].specs[0], tmp_path / "out")
    run_dir = tmp_path / "out/h/mlp/base/seed=0"
    assert run_json(run_dir)["status"] == "interrupted"
    assert "  interrupted mlp/base/seed=0" in capsys.readouterr().err
    assert _hparams_status(run_dir) == "interrupted"
    assert _told(tmp_path / "out")[0]["status"] == "interrupted"


def test_sigint_to_a_real_process_records_interrupted_and_exits_130(tmp_path: Path) -> None:
    recipe, out = _breaker_recipe(tmp_path, 'break_at = { at = 2, how = "sigint" }'), tmp_path / "out"
    code, err = ctrl_c_when_ready(["run", str(recipe), "--out", str(out)], (out / "ready").exists, wait=120)
    assert code == 130 and "Aborted." in err
    run_dir = out / "h/mlp/base/seed=0"
    assert run_json(run_dir)["status"] == "interrupted" and "  interrupted mlp/base/seed=0" in err
    assert _hparams_status(run_dir) == "interrupted" and _told(out)[0]["status"] == "interrupted"


@pytest.mark.parametrize(("how", "at"), [("nan", 2), ("huge", 2), ("nan", 3), ("huge", 3)])
def test_non_finite_weights_or_features_end_the_run_diverged_at_that_measurement(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], how: str, at: int
) -> None:
    # Steps 0, 2, 4 ... are measured; the weights go bad after step `at`'s update, so step 4 is the
    # divergence, well before the loss check every 50 steps; the strict metric would have crashed on them.
    # With at = 2 the loss of step 3 is already bad (seen by the loss check made at each measurement); with at
    # = 3 the loss is still finite and only the weights and features at the measurement show it.
    recipe = _breaker_recipe(
        tmp_path,
        f'break_at = {{ at = {at}, how = "{how}" }}',
        metrics='strict = { every = "every:2" }\ncondensation = { every = "every:2" }',
        steps=200,
    )
    outcome, err, run_dir = _run(tmp_path, recipe, capsys)
    assert outcome.status == "diverged", outcome.error  # type: ignore[attr-defined]
    info = run_json(run_dir)
    assert info["status"] == "diverged" and info["summary"]["steps_done"] == 4
    assert "  diverged mlp/base/seed=0" in err and _hparams_status(run_dir) == "diverged"
    assert _told(tmp_path / "out")[0] == {"run": "mlp/base/seed=0", "status": "diverged", "steps_done": 4}
    assert max(r["step"] for r in metrics_rows(run_dir)) <= 4


def test_a_metric_crashing_on_a_sound_model_is_still_a_failure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recipe = _breaker_recipe(tmp_path, metrics='strict = { every = "every:2" }')
    (tmp_path / "breaker.py").write_text(BREAKER.replace("if not torch.isfinite(h).all():", "if True:"))
    outcome, _, _ = _run(tmp_path, recipe, capsys)
    assert outcome.status == "failed" and "SVD did not converge" in outcome.error  # type: ignore[attr-defined]


@pytest.mark.parametrize("kind", ["str", "none", "list"])
def test_a_metric_returning_a_non_number_fails_naming_the_metric_and_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    recipe = _breaker_recipe(tmp_path, metrics=f'returns = {{ every = "every:2", kind = "{kind}" }}')
    outcome, _, run_dir = _run(tmp_path, recipe, capsys)
    assert outcome.status == "failed"  # type: ignore[attr-defined]
    assert (
        "metric 'returns': collect_metrics returned" in outcome.error  # type: ignore[attr-defined]
        and "for key 'value'" in outcome.error  # type: ignore[attr-defined]
    )
    assert "could not convert" not in run_json(run_dir)["error"]


def test_a_metric_returning_a_one_element_tensor_is_fine(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recipe = _breaker_recipe(tmp_path, metrics='returns = { every = "every:2", kind = "tensor" }')
    outcome, _, run_dir = _run(tmp_path, recipe, capsys)
    assert outcome.status == "ok"  # type: ignore[attr-defined]
    assert [r["returns/value"] for r in metrics_rows(run_dir) if "returns/value" in r] == [2.0] * 4

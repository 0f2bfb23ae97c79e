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
from hostile import cli, write

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

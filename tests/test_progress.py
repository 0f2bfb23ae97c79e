"""Progress while a grid trains: events from the run hooks, the live (terminal) and plain (log) displays,
``--quiet``, ``NO_COLOR``, ``--jobs`` workers reporting to the parent, and a verdict that fits 80 columns."""

from __future__ import annotations

import io
import os
import random
import re
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from report_rows import summary as run_summary

from condensekit import progress
from condensekit.display import GridProgress, LiveDisplay, PlainDisplay, make_display
from condensekit.phases import Thresholds, phase1_end
from condensekit.report import fit_table, render_text

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
COLOR = re.compile(r"\x1b\[[0-9;]*(3[0-9]|9[0-7]|38;)[0-9;]*m")  # SGR with a foreground colour


def visible(text: str) -> list[str]:
    return [line for line in ANSI.sub("", text).replace("\r", "\n").split("\n")]


# ---------------------------------------------------------------- the live T1 estimate


@pytest.mark.parametrize("seed", range(6))
def test_the_live_plateau_watch_agrees_with_the_summary_rule(seed: int) -> None:
    rng = random.Random(seed)
    drop = rng.randrange(30, 300)
    losses = [
        2.3 + rng.gauss(0, 0.05) if i < drop else 2.3 * 0.97 ** (i - drop) + rng.gauss(0, 0.05)
        for i in range(400)
    ]
    th = Thresholds()
    watch = progress.PlateauWatch(th.plateau_drop_rel, th.plateau_drop_abs, window=20)
    live = [watch.add(v) for v in losses]
    _, t1 = phase1_end(losses, 20, th)
    assert t1 is not None and watch.t1 == t1
    assert live.index(t1) <= t1 + 10  # known half a window after the step itself, not at the end of the run
    assert progress.phase_text(None) == "plateau" and progress.phase_text(t1) == f"left plateau at {t1}"


def test_a_flat_loss_stays_on_the_plateau() -> None:
    watch = progress.PlateauWatch(0.05, 0.02)
    assert all(watch.add(2.3) is None for _ in range(500)) and watch.t1 is None


# ---------------------------------------------------------------- events from a real run


def test_a_run_sends_start_steps_and_end_to_the_sink_and_prints_nothing(
    tmp_path: Path, write_recipe: Any, capsys: Any
) -> None:
    from condensekit import api

    recipe, pm = api.open_recipe(write_recipe(), ["seeds=[0]", "train.steps=120"])
    events: list[dict[str, Any]] = []
    outcomes = api.execute(recipe, pm, tmp_path / "runs", on_progress=events.append)
    assert {o.status for o in outcomes} == {"ok"}
    assert not progress.listening()  # the sink is only set while executing
    err = capsys.readouterr().err
    assert "running" not in err and "T1=" not in err  # the plugin prints nothing when someone displays
    for label in ("mlp/base/seed=0", "resmlp/base/seed=0"):
        mine = [e for e in events if e["run"] == label]
        assert (
            mine[0] == {"kind": "start", "run": label, "total": 120}
            and mine[-1]["kind"] == "end"
            and mine[-1]["status"] == "ok"
        )
        steps = [e for e in mine if e["kind"] == "step"]
        assert steps[0]["step"] == 1  # the first step is reported at once: progress within a second of it
        assert [e["step"] for e in steps] == sorted(e["step"] for e in steps) and all(
            e["total"] == 120 for e in steps
        )


def test_without_a_sink_a_run_prints_its_own_lines(tmp_path: Path, write_recipe: Any, capsys: Any) -> None:
    # a Slurm job or a Ray task: nobody displays, so the log gets a start and an end line per run
    from condensekit import api

    recipe, pm = api.open_recipe(write_recipe(), ["seeds=[0]", "train.steps=5"])
    api.execute(recipe, pm, tmp_path / "runs")
    err = capsys.readouterr().err
    assert err.count("running mlp/base/seed=0") == 1 and re.search(r"ok +mlp/base/seed=0 +T1=", err)


@pytest.mark.slow
def test_jobs_workers_send_their_progress_to_the_parent(tmp_path: Path, write_recipe: Any) -> None:
    from condensekit import api

    recipe, pm = api.open_recipe(write_recipe(), ["seeds=[0]", "train.steps=300"])
    executor, _, _ = api.make_executor(recipe, pm, jobs=2)
    events: list[dict[str, Any]] = []
    outcomes = api.execute(
        recipe, pm, tmp_path / "runs", executor=executor, on_progress=events.append, on_message=lambda _: None
    )
    assert {o.status for o in outcomes} == {"ok"}
    for label in ("mlp/base/seed=0", "resmlp/base/seed=0"):
        kinds = [e["kind"] for e in events if e["run"] == label]
        assert kinds[0] == "start" and "step" in kinds and kinds[-1] == "end"


# ---------------------------------------------------------------- the displays


def spec(arm: str, seed: int, steps: int = 100) -> Any:
    return SimpleNamespace(
        arm=arm,
        grid_label="base",
        seed=seed,
        label=f"{arm}/base/seed={seed}",
        train=SimpleNamespace(steps=steps),
        rel_dir=f"r/{arm}/base/seed={seed}",
    )


def outcome(status: str = "ok", **summary: Any) -> Any:
    return SimpleNamespace(
        status=status,
        error="boom" if status == "failed" else "",
        seconds=1.5,
        summary=summary
        or run_summary(phase1_end=40, dS_max=0.5, dS=0.31, final_loss=0.1, final_test_acc=0.9).to_dict(),
    )


def feed(display: Any) -> None:
    display.message("r: 3 runs")
    display.progress({"kind": "start", "run": "a_rather_long_arm_name+batchnorm/base/seed=0", "total": 100})
    for step in (1, 30, 60):
        display.progress(
            {
                "kind": "step",
                "run": "a_rather_long_arm_name+batchnorm/base/seed=0",
                "step": step,
                "total": 100,
                "loss": 2.3,
                "t1": None,
            }
        )
        time.sleep(0.01)
    display.progress(
        {
            "kind": "step",
            "run": "a_rather_long_arm_name+batchnorm/base/seed=0",
            "step": 90,
            "total": 100,
            "loss": 1.25,
            "t1": 42,
        }
    )
    display.outcome(spec("mlp", 0), outcome())
    display.outcome(spec("mlp", 1), outcome("failed"))


def test_the_live_display_fits_80_columns_and_shows_steps_rate_loss_and_phase(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from rich.console import Console

    monkeypatch.delenv("NO_COLOR", raising=False)
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=80, color_system="standard")
    grid = GridProgress("r", 3, 300)
    display = make_display(grid, console=console)
    assert isinstance(display, LiveDisplay)
    feed(display)
    console.print(display.live.renderable)  # one frame of the bars, as drawn now
    display.close()
    text = buffer.getvalue()
    lines = visible(text)
    assert max(len(line) for line in lines) <= 80
    assert any("2/3 runs" in line and "1 failed" in line and "ETA" in line for line in lines)
    bar = next(line for line in lines if "seed=0" in line and "90/100" in line)
    assert "━" in bar and "/s" in bar and "loss 1.25" in bar and "42" in bar  # step, rate, loss, T1
    # one line per finished run
    assert sum("mlp/base/seed=1" in line and "failed" in line for line in lines) == 1
    assert COLOR.search(text)


def test_no_color_turns_colours_off_but_keeps_the_bars(monkeypatch: pytest.MonkeyPatch) -> None:
    from rich.console import Console

    monkeypatch.setenv("NO_COLOR", "1")
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=80)
    display = make_display(GridProgress("r", 3, 300), console=console)
    feed(display)
    console.print(display.live.renderable)
    display.close()
    assert not COLOR.search(buffer.getvalue()) and "━" in buffer.getvalue()


def test_the_plain_display_writes_lines_for_logs() -> None:
    stream = io.StringIO()
    display = make_display(GridProgress("r", 3, 300), stream=stream)  # not a terminal: plain lines
    assert isinstance(display, PlainDisplay)
    display.interval = 0.0  # a status line at every event (30 s in real use)
    feed(display)
    display.close()
    text = stream.getvalue()
    assert "\x1b" not in text and "\r" not in text
    # dS: the layer mean's rise, as in the verdict
    assert "[1/3] ok       r/mlp/base/seed=0  T1=40  dS=0.31  loss=0.1  acc=0.9  (1.5s)" in text
    assert "[2/3] failed   r/mlp/base/seed=1  boom" in text
    assert "step 90/100" in text and "left plateau at 42" in text and "runs done, ETA" in text


def test_quiet_shows_nothing() -> None:
    stream = io.StringIO()
    display = make_display(GridProgress("r", 3, 300), stream=stream, quiet=True)
    feed(display)
    display.close()
    assert stream.getvalue() == "" and display.grid.done == 2 and display.grid.failed == 1


def test_eta_counts_the_steps_left_at_the_rate_so_far() -> None:
    grid = GridProgress("r", 2, 200)
    assert grid.eta() is None
    grid.event({"kind": "start", "run": "a", "total": 100})
    grid.event({"kind": "step", "run": "a", "step": 1, "total": 100})
    grid.first_step = time.monotonic() - 10.0  # 50 steps in 10 s: 150 left take 30 s
    grid.event({"kind": "step", "run": "a", "step": 50, "total": 100})
    assert grid.eta() == pytest.approx(30.0, rel=0.05)
    grid.outcome("b", "skipped", 100, skipped=True)  # a skipped run's steps leave the total
    assert grid.eta() == pytest.approx(10.0, rel=0.05)


# ---------------------------------------------------------------- the verdict at 80 columns


WIDE = [
    {
        "arm": f"arm{i}+batchnorm+momentum",
        "runs": "3 ok",
        "phase1_end": "1.23e+03 [1.1e+03, 1.4e+03] (1 stuck)",
        "dS": "0.312 [0.25, 0.4]",
        "peak": "0.93 [0.9, 0.95]",
        "peak_phase": "phase1 2/3, no phase 1 1/3",
        "final_test_acc": "0.95 [0.94, 0.96]",
        "condensed": "3/3",
    }
    for i in range(2)
]


def test_a_wide_verdict_is_made_compact_then_wrapped_to_fit() -> None:
    full, shortened = fit_table(WIDE, None)
    assert not shortened and "[1.1e+03, 1.4e+03]" in full and "T1 (phase-1 end)" in full  # the full headers
    text, shortened = fit_table(WIDE, 100)
    header = text.splitlines()[0].split()
    assert (
        shortened
        and max(map(len, text.splitlines())) <= 100
        and header == ["arm", "runs", "T1", "dS", "S*", "in", "acc", "cond"]  # the short headers
        and "[" not in text.split("\n", 2)[2]
        and "p1 2/3, none 1/3" in text
    )
    text, shortened = fit_table(WIDE, 80)
    assert shortened and max(map(len, text.splitlines())) <= 80
    assert "arm0+batchnorm" in text.replace("\n", "") or "arm0+" in text  # wrapped, not cut
    small = [{"arm": "mlp", "condensed": "1/1"}]
    assert fit_table(small, 80) == (render_text(small), False)


# ---------------------------------------------------------------- the command, in a log and on a terminal


def test_in_a_log_each_run_is_one_line(tmp_path: Path, write_recipe: Any, cli_run: Any) -> None:
    code, out, err = cli_run(
        "run", str(write_recipe()), "--out", str(tmp_path / "runs"), "--set", "train.steps=5"
    )
    assert code == 0 and "condensed" in out
    for run in (
        "tiny/mlp/base/seed=0",
        "tiny/mlp/base/seed=1",
        "tiny/resmlp/base/seed=0",
        "tiny/resmlp/base/seed=1",
    ):
        assert err.count(run) == 1, err
    assert re.search(r"\[4/4\] ok +tiny/resmlp/base/seed=1 +T1=", err) and "\x1b" not in err


def test_quiet_prints_the_verdict_and_nothing_else(tmp_path: Path, write_recipe: Any, cli_run: Any) -> None:
    code, out, err = cli_run(
        "run", str(write_recipe()), "--out", str(tmp_path / "runs"), "--set", "train.steps=5", "--quiet"
    )
    assert code == 0 and "condensed" in out and "mlp" in out
    assert err == ""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs a pseudo-terminal")
def test_on_a_terminal_bars_move_and_the_verdict_fits_80_columns(tmp_path: Path, write_recipe: Any) -> None:
    import fcntl
    import pty
    import select
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    env = {**os.environ, "TERM": "xterm-256color"}
    env.pop("COLUMNS", None)
    env.pop("NO_COLOR", None)
    command = [
        sys.executable,
        "-m",
        "condensekit",
        "run",
        str(write_recipe()),
        "--out",
        str(tmp_path / "runs"),
        "--set",
        "train.steps=2500",
        "--set",
        "seeds=[0]",
    ]
    process = subprocess.Popen(command, stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True)
    os.close(slave)
    chunks = []
    while True:
        ready, _, _ = select.select([master], [], [], 1.0)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the terminal closed: the command is done
                break
            if not chunk:
                break
            chunks.append(chunk)
        elif process.poll() is not None:
            break
    assert process.wait(timeout=60) == 0
    text = b"".join(chunks).decode("utf-8", "replace")
    frames = visible(text)
    assert any(re.search(r"mlp/base/seed=0 .*━.* \d+/2500 ", f) for f in frames)  # a moving per-run bar
    assert any("1/2 runs" in f and "ETA" in f for f in frames)  # the grid bar
    assert any("[2/2] ok" in f for f in frames) and COLOR.search(text)
    plain = ANSI.sub("", text).replace("\r\n", "\n").replace("\r", "\n")
    table = plain[plain.index("\narm ") + 1 :].split("\n\n")[0]
    assert table.count("\n") >= 3 and max(len(line) for line in table.splitlines()) <= 80, table

"""Helpers of the hostile tests: a tiny recipe, a local trick plugin file, the CLI in-process or as a real
process, a folder to protect, a disk to fill."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from condensekit.api import open_recipe
from condensekit.errors import RecipeError

RECIPE = """\
name = "{name}"
seeds = {seeds}
device = "cpu"
{top}
[data]
use = "synthetic"
num_classes = 3
dim = 6
train_per_class = 12
test_per_class = 4
batch_size = 12

[train]
steps = {steps}
lr = {lr}
eval_every = "at:0"

[probe]
per_class = 3

[metrics]
condensation = {{ every = "every:2" }}

[executor]
use = "local"
threads = 1

[[arms]]
name = "mlp"
model = {{ use = "mlp", depth = 3, width = 6 }}
{rest}"""


def write(
    folder: Path,
    name: str = "h",
    seeds: tuple[int, ...] = (0,),
    steps: int = 4,
    lr: float = 0.1,
    top: str = "",
    rest: str = "",
) -> Path:
    """Write the tiny recipe (one arm, ``seeds``) into ``folder``; return its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.toml"
    path.write_text(
        RECIPE.format(name=name, seeds=list(seeds), steps=steps, lr=lr, top=top, rest=rest), encoding="utf-8"
    )
    return path


def trick_plugin(name: str, hooks: str, summary: str, fields: str = "", imports: str = "") -> str:
    """The source of a local trick plugin file, written as a user writes one: ``imports``, a parameters class
    with ``fields`` (one ``name: type = default`` a line; other keys refused), a trick class that keeps its
    parameters and has ``hooks`` as its methods (each with its ``@condensekit.hookimpl``), registered as
    ``name`` with ``summary``."""
    title = name.title().replace("_", "")
    body = textwrap.indent(textwrap.dedent(hooks).strip(), "    ")
    field_lines = textwrap.indent(textwrap.dedent(fields).strip(), "    ")
    return f"""{textwrap.dedent(imports).strip()}
from pydantic import BaseModel, ConfigDict
import condensekit

class {title}Params(BaseModel):
    model_config = ConfigDict(extra="forbid")
{field_lines}

class {title}:
    def __init__(self, params):
        self.params = params

{body}

@condensekit.hookimpl
def register_tricks(register):
    register("{name}", {title}, params={title}Params, summary="{summary}")
"""


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """``condensekit ARGS`` in this process: (exit code, stdout, stderr)."""
    from condensekit.cli import main

    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def cli_process(
    *args: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """``python -m condensekit ARGS`` as a real process."""
    full_env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "condensekit", *map(str, args)],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def ctrl_c_when_ready(
    args: list[str], ready: Callable[[], bool], env: dict[str, str] | None = None, wait: float = 180
) -> tuple[int, str]:
    """Start ``condensekit ARGS`` in its own process group, press Ctrl-C (SIGINT to the group, as a
    terminal does) once ``ready()``; return (exit code, stderr)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "condensekit", *args],
        env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's foreground job
    )
    try:
        deadline = time.monotonic() + wait
        while not ready():
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            assert time.monotonic() < deadline, "the process never got ready to be interrupted"
            time.sleep(0.05)
        os.killpg(process.pid, signal.SIGINT)  # Ctrl-C reaches the whole foreground process group
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    return process.returncode, err


def run_json(run_dir: Path) -> dict[str, Any]:
    return json.loads((run_dir / "run.json").read_text(encoding="utf-8"))


def metrics_rows(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines()]


def fill_up(folder: Path) -> None:
    with open(folder / "filler", "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"x" * 4096)
                f.flush()
        except OSError:
            pass


def make_victim(tmp_path: Path) -> Path:
    victim = tmp_path / "precious"
    victim.mkdir()
    (victim / "thesis.tex").write_text("years of work")
    (victim / "sub").mkdir()
    (victim / "sub/data.csv").write_text("1,2,3")
    return victim


def untouched(victim: Path) -> bool:
    return (
        (victim / "thesis.tex").read_text() == "years of work"
        and (victim / "sub/data.csv").read_text() == "1,2,3"
        and len(list(victim.iterdir())) == 2
    )


def refusal(recipe: Path, *overrides: str) -> str:
    with pytest.raises(RecipeError) as info:
        open_recipe(recipe, list(overrides))
    return str(info.value)

"""A tiny grid shared by the executor and resume tests, and a content snapshot of its run directories."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from condensekit.defaults.local_executor import torch_threads

RECIPE = """\
name = "{name}"
seeds = {seeds}
device = "cpu"
{plugins}
[data]
use = "synthetic"
batch_size = 16
num_classes = 3
dim = 8
train_per_class = 16
test_per_class = 8

[train]
steps = {steps}
lr = 0.05
eval_every = "every:10"

[probe]
per_class = 4

[metrics]
condensation = {{ every = "every:10" }}

[[arms]]
name = "mlp"
model = {{ use = "mlp", depth = 3, width = 16 }}

[[arms]]
name = "resmlp"
model = {{ use = "resmlp", depth = 3, width = 16 }}
{extra}"""

# A local plugin file with two test tricks: `boom` kills or fails one run, `record_env` notes what a worker
# sees.
PLUGIN = '''
import json, os
from pydantic import BaseModel, ConfigDict
import condensekit


class BoomParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    seed: int = 1
    exit_arm: str = ""
    raise_arm: str = ""


class Boom:
    """Kills its worker process (exit_arm) or raises (raise_arm) in the run with the given seed."""

    def __init__(self, params):
        self.params = params

    @condensekit.hookimpl
    def run_started(self, run):
        if run.seed == self.params.seed and run.name == self.params.exit_arm:
            os._exit(3)
        if run.seed == self.params.seed and run.name == self.params.raise_arm:
            raise RuntimeError("boom")


class RecordEnv:
    """Writes what the worker sees (CUDA_VISIBLE_DEVICES, torch threads) next to the run directories."""

    def __init__(self, params):
        pass

    @condensekit.hookimpl
    def run_started(self, run):
        import torch

        seen = {"gpus": os.environ.get("CUDA_VISIBLE_DEVICES"), "threads": torch.get_num_threads(),
                "pid": os.getpid(), "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY")}
        target = run.run_dir.parents[3] / "env" / f"{run.name}-{run.seed}.json"
        target.parent.mkdir(exist_ok=True)
        target.write_text(json.dumps(seen))


class NoParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


@condensekit.hookimpl
def register_tricks(register):
    register("boom", Boom, params=BoomParams, summary="test: fail a run")
    register("record_env", RecordEnv, params=NoParams, summary="test: record the worker environment")
'''


def write_recipe(
    folder: Path,
    name: str = "grid",
    seeds: tuple[int, ...] = (0, 1),
    steps: int = 20,
    plugins: str = "",
    extra: str = "",
) -> Path:
    """Write the grid recipe (2 arms x ``seeds``) into ``folder`` and return its path."""
    path = folder / f"{name}.toml"
    path.write_text(
        RECIPE.format(name=name, seeds=list(seeds), steps=steps, plugins=plugins, extra=extra),
        encoding="utf-8",
    )
    return path


def load_specs(path: Path, overrides: tuple[str, ...] = ()) -> list[Any]:
    from condensekit.api import open_recipe

    return open_recipe(path, list(overrides))[0].specs


def run_sequential(specs: list[Any], out_root: Path) -> list[Any]:
    """The reference: every run in this process, one after another, with one torch thread."""
    from condensekit.defaults.local_executor import LocalExecutor, LocalParams
    from condensekit.executing import ExecContext

    with torch_threads(1):
        return LocalExecutor(LocalParams()).execute(specs, ExecContext(out_root=out_root))


def snapshot(out_root: Path, recipe_name: str = "grid") -> dict[str, dict[str, Any]]:
    """What a run directory holds, minus what legitimately differs between executions (times, host, pid).

    Per run: status, the spec, the summary without its wall time, every metrics.jsonl row, and the file
    names (the TensorBoard event file counted, not named: its name holds a timestamp and the host).
    """
    root = out_root / recipe_name
    runs = {}
    for run_json in sorted(root.rglob("run.json")):
        run_dir = run_json.parent
        info = json.loads(run_json.read_text(encoding="utf-8"))
        summary = {k: v for k, v in (info.get("summary") or {}).items() if k != "seconds"}
        rows = [
            json.loads(line) for line in (run_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
        ]
        files = sorted(
            "events.out.tfevents" if p.name.startswith("events.out.tfevents") else p.name
            for p in run_dir.iterdir()
        )
        runs[str(run_dir.relative_to(out_root))] = {
            "status": info["status"],
            "spec": info["spec"],
            "summary": summary,
            "metrics": rows,
            "files": files,
        }
    return runs


def assert_same_runs(actual: dict[str, dict[str, Any]], expected: dict[str, dict[str, Any]]) -> None:
    """Equal run directories, compared run by run so that a failure names the run and the part."""
    assert sorted(actual) == sorted(expected)
    for rel in expected:
        for part in ("status", "files", "spec", "summary", "metrics"):
            assert actual[rel][part] == expected[rel][part], f"{rel}: {part} differs"

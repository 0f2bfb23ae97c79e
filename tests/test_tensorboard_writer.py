"""The run's TensorBoard writer (:mod:`condensekit.defaults.tensorboard`) when the disk refuses: the error
reaches the run, in its own thread, as one ``OSError`` naming the file; no writer thread prints a
traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hostile import write

pytestmark = pytest.mark.hostile

# the writer plugin's hooks, driven as the trainer drives them, under a file-size limit of 4 kB
SCRIPT = """
import resource, sys
from pathlib import Path
import torch
from condensekit.api import open_recipe
from condensekit.run import Run
from condensekit.defaults import tensorboard as writer
spec = open_recipe(sys.argv[1])[0].specs[0]
run_dir = Path(sys.argv[2])
run_dir.mkdir(parents=True)
run = Run(spec, spec.arm, spec.seed, torch.device("cpu"), run_dir, hidden_layers=["fc1"])
resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
try:
    writer.run_started(run)
    for step in range(300):
        writer.log_scalars(run, step, {f"condensation/fc1/q{i}": float(i) for i in range(20)})
    writer.run_finished(run, "ok", {})
except OSError as exc:
    print("raised:", exc)
"""


def test_a_file_the_disk_refuses_fails_the_run_in_its_thread_without_a_traceback(tmp_path: Path) -> None:
    recipe = write(tmp_path)
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(recipe), str(tmp_path / "run")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and "Exception in thread" not in done.stderr, done.stderr
    assert "raised: [Errno 27] File too large" in done.stdout and "events.out.tfevents" in done.stdout

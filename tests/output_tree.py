"""A finished output tree for the tests of writing and reading it, and ways to take powers away.

:func:`finished` runs the tiny recipe of :mod:`hostile` once (two seeds); each test works on a copy
(:func:`copy_of`); ``pytest_plugins = ["grid_fixtures"]`` gives a test module both as fixtures.
:func:`snapshot` is every file below a folder, to show that nothing changed; :func:`unprivileged` is the
command prefix that makes permissions bite for root too.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hostile import write

RECIPE = "h"


def finished(folder: Path, seeds: tuple[int, ...] = (0, 1)) -> Path:
    """Run the tiny recipe into ``folder/out``; return the output root (the recipe's folder is ``h``)."""
    from condensekit.cli import main

    out = folder / "out"
    assert main(["run", str(write(folder / "recipe", seeds=seeds)), "--out", str(out), "--quiet"]) == 0
    return out


def copy_of(out: Path, dest: Path) -> Path:
    """A copy of a finished output root at ``dest``; returns its recipe folder (``dest/h``)."""
    shutil.copytree(out, dest, symlinks=True)
    return dest / RECIPE


def snapshot(root: Path) -> dict[str, bytes | str]:
    """Every entry below ``root``: a file's bytes, a link's target, ``"folder"``."""
    out: dict[str, bytes | str] = {}
    for here, folders, files in os.walk(root):
        for name in folders + files:
            path = Path(here, name)
            rel = str(path.relative_to(root))
            if path.is_symlink():
                out[rel] = "-> " + os.readlink(path)
            elif path.is_dir():
                out[rel] = "folder"
            elif path.is_file():
                out[rel] = path.read_bytes()
    return out


def temporaries(root: Path) -> list[str]:
    """Temporary files left below ``root`` by a write that did not finish."""
    return [str(p) for p in root.rglob("*") if "tmp" in p.name and p.name.startswith(".")]


def unprivileged() -> list[str]:
    """A command prefix under which file permissions bite: none for a user, ``setpriv`` without the
    override capabilities for root (skipped where root has no ``setpriv``)."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: permissions cannot be made to bite")
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search,-fowner"]


def condensekit(
    *args: str | Path, prefix: list[str] | None = None, timeout: float = 120, **popen: Any
) -> subprocess.CompletedProcess[str]:
    """``python -m condensekit ARGS`` as a real process (after a command ``prefix``)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [*(prefix or []), sys.executable, "-m", "condensekit", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        **popen,
    )

"""The README's install, in the real clone situation (issue 21): a clone is a folder named ``condensekit``,
and Python run from the folder that holds it (a script saved next to the clone, ``python -c`` there) must
import the installed package, not the clone's folder as an empty namespace package.

pip's default editable mode installs an import hook that Python consults only after its path scan, and the
scan finds ``./condensekit`` (the clone, no ``__init__.py``) first. The README's ``editable_mode=strict``
puts a path entry on ``sys.path`` instead, which the scan finds. The test installs exactly as the README
says, into a fresh virtual environment that sees this environment's dependencies.
"""

from __future__ import annotations

import re
import shutil
import site
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def readme_install_settings() -> list[str]:
    """The ``--config-settings`` of the README's install command."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    command = re.search(r"^pip install -e \. (.*?)&& condensekit run", readme, re.MULTILINE)
    assert command, "the README's first command installs with pip install -e ."
    return command.group(1).split()


@pytest.mark.slow
def test_the_readme_install_imports_the_package_from_the_folder_that_holds_the_clone(tmp_path: Path) -> None:
    clone = tmp_path / "condensekit"  # the folder `git clone` makes
    for name in ("condensekit", "plugins"):
        shutil.copytree(REPO / name, clone / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, clone / name)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    packages = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # the dependencies (torch, pydantic, setuptools, ...) are this environment's; condensekit is not
    outer = [p for p in [*site.getsitepackages(), site.getusersitepackages()] if Path(p).is_dir()]
    Path(packages, "zz_outer_environment.pth").write_text("\n".join(outer) + "\n")
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps"]
        + ["--no-build-isolation", "--no-index", "-e", str(clone), *readme_install_settings()],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    (tmp_path / "use_it.py").write_text(
        "import condensekit, condensekit_plugins.models.mlp\n"
        "print(condensekit.__file__, condensekit.Probe.__name__, condensekit.run_recipe.__name__)\n"
    )
    one_liner = "import condensekit; print(condensekit.__file__, condensekit.Probe.__name__)"
    for command in (["-c", one_liner], ["use_it.py"]):
        done = subprocess.run(
            [str(python), *command], capture_output=True, text=True, cwd=tmp_path, timeout=120
        )
        assert done.returncode == 0, done.stderr[-3000:]
        path, probe = done.stdout.split()[:2]
        assert probe == "Probe" and Path(path).name == "__init__.py" and str(clone) in path

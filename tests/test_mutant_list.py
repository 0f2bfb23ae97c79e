"""scripts/mutant_list.py follows the code: every mutant's snippet is found exactly once and the mutated file
compiles, every group has test files that exist, and the ids are unique (what ``scripts/mutants.py`` checks
before it runs; here it is checked on every change, so a refactor that moves a snippet is caught at once)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from mutant_list import MUTANTS, TESTS  # noqa: E402
from mutants import check, identify  # noqa: E402


def test_every_mutant_follows_the_code_and_every_group_has_its_test_files() -> None:
    ids = identify(MUTANTS)
    assert len({ident for ident, _ in ids}) == len(MUTANTS) > 100
    lines = check(ids, ROOT)  # exits with every problem listed when the list is out of date
    assert set(lines) == {ident for ident, _ in ids}
    missing = [f for files in TESTS.values() for f in files if not (ROOT / "tests" / f).is_file()]
    assert not missing, f"mutant test files that do not exist: {missing}"


def test_a_snippet_the_code_no_longer_has_is_reported(tmp_path: Path) -> None:
    ident, mutant = identify(MUTANTS)[0]
    (tmp_path / mutant.path).parent.mkdir(parents=True)
    (tmp_path / mutant.path).write_text("nothing of the original here\n")
    with pytest.raises(SystemExit, match=rf"{ident} .*found 0 times"):
        check([(ident, mutant)], tmp_path)

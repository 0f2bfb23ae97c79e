"""Same spec and seed, same numbers: ``metrics.jsonl`` of two small grids against values recorded on main.

``tests/golden/*.json`` were written by ``tests/golden/record.py`` at commit 2100b9b, before the
"one clean house" redesign, with one torch thread. Every value recorded then must come out again (new
keys may be added). The tolerance allows float rounding from a different summation order, not a change
in what is computed.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

GOLDEN = Path(__file__).parent / "golden"
RTOL, ATOL = 1e-5, 1e-6


def _close(a: object, b: object) -> bool:
    if a is None or b is None:
        return a is b
    assert isinstance(a, int | float) and isinstance(b, int | float)
    return math.isclose(float(a), float(b), rel_tol=RTOL, abs_tol=ATOL)


@pytest.mark.parametrize("recipe", sorted(p.stem for p in GOLDEN.glob("*.toml")))
def test_metrics_match_the_recorded_values(recipe: str, tmp_path: Path) -> None:
    golden = json.loads((GOLDEN / f"{recipe}.json").read_text())
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "condensekit", "run", str(GOLDEN / f"{recipe}.toml"), "--out", str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (root,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert sorted(str(p.parent.relative_to(root)) for p in root.rglob("metrics.jsonl")) == sorted(golden)
    mismatches = []
    for run, rows in golden.items():
        now = [json.loads(line) for line in (root / run / "metrics.jsonl").read_text().splitlines()]
        by_step_now: dict[int, dict[str, object]] = {}
        for row in now:
            by_step_now.setdefault(row["step"], {}).update(row)
        by_step_then: dict[int, dict[str, object]] = {}
        for row in rows:
            by_step_then.setdefault(row["step"], {}).update(row)
        assert sorted(by_step_now) == sorted(by_step_then), f"{run}: logged at other steps"
        for step, then in by_step_then.items():
            for key, value in then.items():
                if key not in by_step_now[step]:
                    mismatches.append(f"{run} step {step}: {key} missing")
                elif not _close(by_step_now[step][key], value):
                    mismatches.append(
                        f"{run} step {step}: {key} = {by_step_now[step][key]!r}, recorded {value!r}"
                    )
    assert not mismatches, f"{len(mismatches)} values differ, e.g.:\n" + "\n".join(mismatches[:20])

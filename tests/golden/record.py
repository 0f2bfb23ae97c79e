"""Record the golden metrics.jsonl values of the recipes in this folder (run once, on the commit being
pinned).

    python tests/golden/record.py      # writes tests/golden/<recipe>.json

Each file maps ``arm/grid/seed=n`` to the rows of that run's ``metrics.jsonl``. The runs use one torch
thread (``[executor] threads = 1``) so the values do not depend on the machine's core count.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).parent


def record(recipe: Path) -> dict[str, list[dict[str, object]]]:
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        subprocess.run(
            [sys.executable, "-m", "condensekit", "run", str(recipe), "--out", tmp], check=True, env=env
        )
        out: dict[str, list[dict[str, object]]] = {}
        for path in sorted(Path(tmp).rglob("metrics.jsonl")):
            rel = path.parent.relative_to(Path(tmp) / path.parent.relative_to(tmp).parts[0])
            out[str(rel)] = [json.loads(line) for line in path.read_text().splitlines()]
        return out


if __name__ == "__main__":
    for recipe in sorted(HERE.glob("*.toml")):
        (HERE / f"{recipe.stem}.json").write_text(json.dumps(record(recipe), indent=0, sort_keys=True) + "\n")
        print(f"wrote {recipe.stem}.json")

"""The recipe's ``seeds``: which seeds give distinct runs, and why the others are refused."""

from __future__ import annotations

from collections import Counter
from typing import Any

from condensekit.recipe.problems import Problems
from condensekit.text import shown

MAX_SEED = 2**32 - 1
"""The largest seed. A run's seed reaches torch's CPU generator (the initial weights, the minibatch order and
the probe's samples), numpy's and Python's ``random``. Torch's CPU generator and numpy keep only a seed's low
32 bits, so a seed outside ``[0, 2^32 - 1]`` gives exactly the run of the seed inside it with the same low
bits (7 and 2^32 + 7, -1 and 2^32 - 1 are the same run), which the report would count as two independent
seeds; and torch refuses seeds from 2^64 on, which would fail every run."""
SEEDS_SHOWN = 3
"""Out-of-range seeds named one by one; the rest are counted in one more problem."""


def read_seeds(seeds: Any, problems: Problems) -> list[int]:
    """The recipe's ``seeds``, each once; a problem for a value that is no list of integers, for each seed
    outside ``[0, MAX_SEED]`` (the first few, then a count) and for duplicates."""
    if (
        not isinstance(seeds, list)
        or not seeds
        or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds)
    ):
        problems.add(
            "seeds", f"must be a non-empty list of integers, got {shown(seeds)}", "e.g. seeds = [0, 1, 2]"
        )
        return [0]
    fix = f"use seeds from 0 to {MAX_SEED} (2^32 - 1)"
    outside = [i for i, seed in enumerate(seeds) if not 0 <= seed <= MAX_SEED]
    for i in outside[:SEEDS_SHOWN]:
        problems.add(f"seeds[{i}]", _seed_problem(seeds[i]), fix)
    if len(outside) > SEEDS_SHOWN:
        more = len(outside) - SEEDS_SHOWN
        problems.add(
            "seeds", f"{more:,} more {'seed is' if more == 1 else 'seeds are'} outside 0..{MAX_SEED}", fix
        )
    if len(set(seeds)) != len(seeds):
        twice = sorted({seed for seed, count in Counter(seeds).items() if count > 1})
        problems.add("seeds", f"has duplicates: {shown(twice)}", "list each seed once")
    return list(dict.fromkeys(seeds))


def _seed_problem(seed: int) -> str:
    """Why ``seed`` (outside ``[0, MAX_SEED]``) cannot be used."""
    if not -(2**63) <= seed < 2**64:
        return f"{shown(seed)} is too large for torch's random generator (its runs would fail)"
    return (
        f"{seed} would give exactly the run of seed {seed % 2**32}: torch's CPU generator and numpy use "
        "only the low 32 bits of a seed"
    )

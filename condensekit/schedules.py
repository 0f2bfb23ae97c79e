"""Measurement schedules: ``"every:50"``, ``"log:200"``, ``"at:0,10,100"``. Step 0 and the last step are always due."""

from __future__ import annotations

import math
import re

_PATTERN = re.compile(r"^(every|log|at):(.+)$")
HELP = 'use "every:N" (every N steps), "log:N" (about N log-spaced steps) or "at:0,10,100"'


def parse_schedule(text: str) -> tuple[str, list[int]]:
    """Parse a schedule string into (kind, numbers); raise ValueError with a readable message."""
    if not isinstance(text, str):
        raise ValueError(f"a schedule must be a string, got {text!r}")
    match = _PATTERN.match(text.strip())
    if not match:
        raise ValueError(f"invalid schedule {text!r}")
    kind, rest = match.groups()
    try:
        numbers = [int(part) for part in rest.split(",")]
    except ValueError:
        raise ValueError(f"invalid schedule {text!r}: numbers expected after '{kind}:'") from None
    if kind in ("every", "log") and (len(numbers) != 1 or numbers[0] < 1):
        raise ValueError(f"invalid schedule {text!r}: '{kind}:' takes one whole number >= 1")
    if kind == "at" and any(n < 0 for n in numbers):
        raise ValueError(f"invalid schedule {text!r}: steps must be >= 0")
    return kind, numbers


def schedule_steps(text: str, total_steps: int) -> set[int]:
    """The set of steps in ``[0, total_steps]`` at which a schedule is due."""
    kind, numbers = parse_schedule(text)
    if kind == "every":
        steps = set(range(0, total_steps + 1, numbers[0]))
    elif kind == "at":
        steps = {n for n in numbers if n <= total_steps}
    else:  # log-spaced between 1 and total_steps: dense early, where the first phase lives
        count = numbers[0]
        steps = set()
        if total_steps >= 1:
            for k in range(count):
                frac = k / max(1, count - 1)
                steps.add(round(math.exp(frac * math.log(total_steps))))
    return steps | {0, total_steps}

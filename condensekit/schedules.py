"""Measurement schedules: ``"every:50"``, ``"log:200"``, ``"at:0,10,100"``, parsed once into a
:class:`Schedule`.

A schedule answers "is step s due?" for a run of ``total`` steps. Step 0 and the last step are always due.
It is lazy: ``every:N`` keeps one number whatever the run length, ``log:N`` and ``at:...`` keep at most N
(or the listed) steps, so a run of 10^9 steps costs no memory here.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from pydantic import GetCoreSchemaHandler
from pydantic_core import PydanticCustomError, core_schema

DEFAULT_METRIC_SCHEDULE = "log:50"
"""The schedule of a metric whose recipe entry has no ``every``: about 50 log-spaced steps (43 distinct ones
in a 1000-step run), every step up to step 10 and about 20 in a first phase of 150 steps. Why 50 and not more:
``docs/performance.md`` (its cost, and how well it places the peak against a measurement every other step)."""

HELP = 'use "every:N" (every N steps), "log:N" (about N log-spaced steps) or "at:0,10,100"'
_PATTERN = re.compile(r"^(every|log|at):(.+)$")


@dataclass(frozen=True)
class Schedule:
    """A parsed schedule. ``Schedule.parse("log:100")``; ``step in schedule.bind(total)``; ``str(schedule)``
    gives the text back.

    Also a pydantic field type: a recipe value is parsed once, where it enters, and serialises as its text.
    """

    kind: str
    numbers: tuple[int, ...]

    @classmethod
    def parse(cls, text: Any) -> Schedule:
        """Parse ``"every:N"``, ``"log:N"`` or ``"at:a,b,c"``; raise ValueError with a readable message."""
        if isinstance(text, Schedule):
            return text
        if not isinstance(text, str):
            raise ValueError(f"a schedule must be a string, got {text!r}")
        match = _PATTERN.match(text.strip())
        if not match:
            raise ValueError(f"invalid schedule {text!r}")
        kind, rest = match.groups()
        try:
            numbers = tuple(int(part) for part in rest.split(","))
        except ValueError:
            raise ValueError(f"invalid schedule {text!r}: numbers expected after '{kind}:'") from None
        if kind in ("every", "log") and (len(numbers) != 1 or numbers[0] < 1):
            raise ValueError(f"invalid schedule {text!r}: '{kind}:' takes one whole number >= 1")
        if kind == "at" and any(n < 0 for n in numbers):
            raise ValueError(f"invalid schedule {text!r}: steps must be >= 0")
        return cls(kind, numbers)

    def __str__(self) -> str:
        return f"{self.kind}:{','.join(str(n) for n in self.numbers)}"

    def bind(self, total: int) -> BoundSchedule:
        """This schedule for a run of ``total`` steps."""
        if self.kind == "every":
            return BoundSchedule(total, every=self.numbers[0])
        if self.kind == "at":
            return BoundSchedule(total, steps=frozenset(n for n in self.numbers if n <= total))
        return BoundSchedule(total, steps=frozenset(_log_steps(self.numbers[0], total)))

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        def validate(value: Any) -> Schedule:
            try:
                return cls.parse(value)
            except ValueError as exc:
                raise PydanticCustomError(
                    "schedule", "{message}", {"message": str(exc), "fix": HELP}
                ) from None

        return core_schema.no_info_plain_validator_function(
            validate, serialization=core_schema.plain_serializer_function_ser_schema(str, when_used="always")
        )


@dataclass(frozen=True)
class BoundSchedule:
    """A schedule for one run length: ``step in bound`` is cheap and the memory does not grow with
    ``total``."""

    total: int
    every: int = 0
    steps: frozenset[int] = frozenset()

    def __contains__(self, step: object) -> bool:
        if not isinstance(step, int) or step < 0 or step > self.total:
            return False
        if step == 0 or step == self.total:
            return True
        return step % self.every == 0 if self.every else step in self.steps

    def count(self) -> int:
        """How many steps are due in ``[0, total]``."""
        if self.every:
            return self.total // self.every + 1 + (1 if self.total % self.every else 0)
        return len(self.steps | {0, self.total})


def _log_steps(count: int, total: int) -> set[int]:
    """About ``count`` log-spaced steps between 1 and ``total``: dense early, where the first phase lives."""
    if total < 1:
        return set()
    return {round(math.exp(k / max(1, count - 1) * math.log(total))) for k in range(count)}


def schedule_steps(text: str | Schedule, total_steps: int) -> set[int]:
    """Every step in ``[0, total_steps]`` at which a schedule is due, as a set (for tests and small runs)."""
    bound = Schedule.parse(text).bind(total_steps)
    if bound.every:
        return set(range(0, total_steps + 1, bound.every)) | {0, total_steps}
    return set(bound.steps) | {0, total_steps}

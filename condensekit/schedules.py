"""Measurement schedules: ``"every:50"``, ``"log:200"``, ``"at:0,10,100"``, parsed once into a
:class:`Schedule`.

A schedule answers "is step s due?" for a run of ``total`` steps. Step 0 and the last step are always due.
It is lazy: ``every:N`` keeps one number whatever the run length, ``log:N`` and ``at:...`` keep at most N
(or the listed) steps, so a run of 10^9 steps costs no memory here. ``log:N`` and ``at:`` take at most
:data:`MAX_SCHEDULED` steps, so that no schedule text can make binding it hang or fill the memory.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from pydantic import GetCoreSchemaHandler
from pydantic_core import PydanticCustomError, core_schema

from condensekit.text import quoted, shown

DEFAULT_METRIC_SCHEDULE = "log:50"
"""The schedule of a metric whose recipe entry has no ``every``: about 50 log-spaced steps (43 distinct ones
in a 1000-step run), every step up to step 10 and about 20 in a first phase of 150 steps. Why 50 and not more:
``docs/performance.md`` (its cost, and how well it places the peak against a measurement every other step)."""

HELP = 'use "every:N" (every N steps), "log:N" (about N log-spaced steps) or "at:0,10,100"'
_PATTERN = re.compile(r"^(every|log|at):(.+)$")

MAX_SCHEDULED = 100_000
"""The most steps ``log:N`` and ``at:...`` may name. Binding ``log:N`` computes N steps, so ``log:10**12``
would hang a 30-step run; measuring more often than this is ``every:N``'s job (``every:1``: every step)."""
_MAX_DIGITS = 20
"""Digits of one number in a schedule: a step beyond 10^20 is never reached (``train.steps`` <= 10^7)."""


class ScheduleError(ValueError):
    """A schedule text that cannot be used: the message says what is wrong, ``fix`` how to write it."""

    def __init__(self, message: str, fix: str = HELP):
        super().__init__(message)
        self.fix = fix


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
        """Parse ``"every:N"``, ``"log:N"`` or ``"at:a,b,c"``; raise :class:`ScheduleError` (a ValueError)
        saying what is wrong and how to fix it."""
        if isinstance(text, Schedule):
            return text
        if not isinstance(text, str):
            raise ScheduleError(f"a schedule must be a string, got {shown(text)}")
        match = _PATTERN.match(text.strip())
        if not match:
            raise ScheduleError(f"invalid schedule {quoted(text)}")
        kind, rest = match.groups()
        parts = rest.split(",")
        if kind == "at" and len(parts) > MAX_SCHEDULED:
            raise ScheduleError(
                f"invalid schedule {quoted(text)}: 'at:' lists {len(parts):,} steps, "
                f"more than {MAX_SCHEDULED:,}",
                'list fewer steps, or use "every:N" to measure every N steps',
            )
        if any(len(part.strip()) > _MAX_DIGITS for part in parts):
            raise ScheduleError(
                f"invalid schedule {quoted(text)}: a number has more than {_MAX_DIGITS} digits",
                f"a run takes at most 10^7 steps; {HELP}",
            )
        try:
            numbers = tuple(int(part) for part in parts)
        except ValueError:
            raise ScheduleError(
                f"invalid schedule {quoted(text)}: numbers expected after '{kind}:'"
            ) from None
        if kind in ("every", "log") and (len(numbers) != 1 or numbers[0] < 1):
            raise ScheduleError(f"invalid schedule {quoted(text)}: '{kind}:' takes one whole number >= 1")
        if kind == "log" and numbers[0] > MAX_SCHEDULED:
            raise ScheduleError(
                f"invalid schedule {quoted(text)}: 'log:' takes at most {MAX_SCHEDULED:,} steps",
                f'use "log:N" with N <= {MAX_SCHEDULED}, or "every:1" to measure every step',
            )
        if kind == "at" and any(n < 0 for n in numbers):
            raise ScheduleError(f"invalid schedule {quoted(text)}: steps must be >= 0")
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
                fix = getattr(exc, "fix", HELP)
                raise PydanticCustomError(
                    "schedule", "{message}", {"message": str(exc), "fix": fix}
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

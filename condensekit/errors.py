"""The error hierarchy. User errors derive from CondensekitError and print without a traceback."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class CondensekitError(Exception):
    """Base class of every error condensekit raises on purpose (bad input, broken plugin)."""

    exit_code = 2


@dataclass
class Problem:
    """One problem in a recipe: where it is, what is wrong, and how to fix it."""

    key: str
    message: str
    fix: str = ""

    def render(self, source: str) -> str:
        where = f"{source}: {self.key}" if self.key else source
        text = f"{where}: {self.message}"
        if not self.fix:
            return text
        return f"{text} {self.fix}" if self.fix.startswith("(") else f"{text}; {self.fix}"


class RecipeError(CondensekitError):
    """A recipe (or ``--set`` override) is invalid. Carries every problem found, not just the first."""

    def __init__(self, source: str, problems: list[Problem]):
        self.source = source
        self.problems = problems
        super().__init__("\n".join(p.render(source) for p in problems))


class PluginError(CondensekitError):
    """A plugin is broken, clashes with another, or is needed but failed to load."""


class RunsFailed(CondensekitError):
    """Some runs of a grid did not finish (``failed``, ``interrupted``, or left to another process that did
    not finish them).

    Raised by :func:`condensekit.run_recipe` after every run was tried and the report was written, so that
    a script whose runs failed does not end as if it had succeeded. ``.result`` is the
    :class:`condensekit.GridResult` it would have returned; ``run_recipe(..., check=False)`` returns it
    instead of raising.
    """

    exit_code = 1

    def __init__(self, message: str, result: Any):
        self.result = result
        super().__init__(message)


class PluginLoadWarning(UserWarning):
    """A plugin failed to import or register and was skipped."""


def error_line(exc: BaseException) -> str:
    """``TypeError: what went wrong`` on one line (a message of several lines joined)."""
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"


def traceback_line(text: str) -> str:
    """The useful line of a formatted traceback: the final exception with its whole message on one line.

    A traceback ends with its last frame (``  File "...", line N``, then its source lines indented by four)
    and the exception's type and message; a message of several lines (CUDA's "no driver" error, a pydantic
    error) is joined, not cut to its last line. Text that is no traceback is joined as it is.
    """
    lines = text.strip().splitlines()
    frames = [i for i, line in enumerate(lines) if line.startswith('  File "')]
    start = frames[-1] + 1 if frames else 0
    while frames and start < len(lines) and lines[start].startswith("    "):
        start += 1
    return " ".join(" ".join(line.split()) for line in lines[start:])

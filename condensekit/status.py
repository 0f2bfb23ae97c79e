"""Run statuses: one vocabulary for ``run.json``, executors, the report and the command line."""

from __future__ import annotations

from enum import StrEnum


class RunStatus(StrEnum):
    """What a run is or became. A ``StrEnum``: it compares equal to, and serialises as, its value.

    On disk (``run.json``): ``running`` while a process trains it, then ``ok``, ``diverged``, ``failed`` or
    ``interrupted``. Reported by executors: also ``skipped`` (finished earlier, or held by another process)
    and ``submitted`` (handed to a cluster without waiting). Read back by the report: also ``unreadable``
    (no usable ``run.json``).
    """

    RUNNING = "running"
    OK = "ok"
    DIVERGED = "diverged"
    FAILED = "failed"
    INTERRUPTED = "interrupted"
    SKIPPED = "skipped"
    SUBMITTED = "submitted"
    UNREADABLE = "unreadable"

    @property
    def finished(self) -> bool:
        """A finished run is kept on a rerun (``ok`` or ``diverged``); any other is redone."""
        return self in FINISHED


FINISHED = frozenset({RunStatus.OK, RunStatus.DIVERGED})
"""Statuses of runs that are done: a rerun of the recipe skips them (unless ``--force``)."""

REPORT_ORDER = (
    RunStatus.OK,
    RunStatus.DIVERGED,
    RunStatus.FAILED,
    RunStatus.INTERRUPTED,
    RunStatus.UNREADABLE,
    RunStatus.SKIPPED,
    RunStatus.SUBMITTED,
)
"""The order in which counts of statuses are printed."""


def as_status(value: object) -> RunStatus:
    """A status read from disk; ``unreadable`` for anything that is not one (a hand-edited ``run.json``)."""
    try:
        return RunStatus(str(value))
    except ValueError:
        return RunStatus.UNREADABLE

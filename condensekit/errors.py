"""The error hierarchy. User errors derive from CondensekitError and print without a traceback."""

from __future__ import annotations

import errno
from dataclasses import dataclass
from typing import Any

from condensekit.text import shorten

KEY_CHARS = 200
"""How much of a recipe key a problem shows (a key can be as long as the user's typo)."""
LINE_CHARS = 2000
"""How much of one line of an error message is shown at most, whatever it quotes."""


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
        """``source: key: message; fix`` on one line, each part shortened (``shorten``)."""
        key, message, fix = shorten(self.key, KEY_CHARS), shorten(self.message, LINE_CHARS), self.fix
        where = f"{shorten(source, LINE_CHARS)}: {key}" if key else shorten(source, LINE_CHARS)
        text = f"{where}: {message}"
        if not fix:
            return text
        fix = shorten(fix, LINE_CHARS)
        return f"{text} {fix}" if fix.startswith("(") else f"{text}; {fix}"


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


class DataError(CondensekitError):
    """A dataset cannot answer the question: fewer than two classes, an empty split, labels out of range,
    inputs that are not finite. Raised before training, naming the dataset."""


class Interrupted(SystemExit):
    """A signal stopped the process while a run trained (SIGTERM to a ``--jobs`` worker): the run is
    recorded ``interrupted``, as after Ctrl-C, and the process ends with ``128 + signal``."""


PLUGIN_FAILURES: tuple[type[BaseException], ...] = (Exception, SystemExit)
"""What plugin code may raise that is its own failure: any exception, and ``SystemExit`` (``sys.exit()`` in
a plugin must not end condensekit). ``except PLUGIN_FAILURES`` wherever plugin code runs; Ctrl-C
(``KeyboardInterrupt``) passes."""


def is_interruption(exc: BaseException) -> bool:
    """Whether ``exc`` stops a run as the user's interruption (Ctrl-C or a signal) rather than failing it.

    ``KeyboardInterrupt`` counts as Ctrl-C wherever it was raised: Python raises it on SIGINT and cannot
    tell that apart from code raising it, and taking a real Ctrl-C for a failure would let the grid go on
    after the user asked it to stop. A signal's :class:`Interrupted` counts too. Any other
    ``BaseException``, ``SystemExit`` from ``sys.exit()`` in a plugin included, is a failure of that run:
    it is recorded ``failed`` and the grid goes on.
    """
    return isinstance(exc, KeyboardInterrupt | Interrupted)


class PluginLoadWarning(UserWarning):
    """A plugin failed to import or register and was skipped."""


def error_line(exc: BaseException) -> str:
    """``TypeError: what went wrong`` on one line (a message of several lines joined, a long one
    shortened)."""
    return shorten(f"{type(exc).__name__}: {' '.join(str(exc).split())}", LINE_CHARS)


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
    text = " ".join(" ".join(line.split()) for line in lines[start:])
    return shorten(text.removeprefix(f"{__name__}."), LINE_CHARS)  # DataError: ..., not condensekit.errors.


_OS_FIXES = {
    errno.ENOSPC: "free space on that disk",
    errno.EDQUOT: "free space, or ask for a larger disk quota",
    errno.EMFILE: "raise this shell's limit of open files (e.g. ulimit -n 4096)",
    errno.ENFILE: "the system's table of open files is full: close programs, or raise fs.file-max",
    errno.EACCES: "check the permissions of that path (ls -ld) or choose another",
    errno.EPERM: "check the permissions of that path (ls -ld) or choose another",
    errno.EROFS: "that file system is read-only: choose a writable place",
    errno.ENAMETOOLONG: "use a shorter path or shorter names",
    errno.EFBIG: "a file-size limit stops it: raise it (ulimit -f unlimited) or free space",
    errno.ENOMEM: "not enough memory: close programs or use a machine with more",
    errno.ELOOP: "symbolic links on that path loop: fix them",
    errno.ENOENT: "check the path",
    errno.ENOTDIR: "a part of that path is a file, not a folder: check the path",
    errno.EISDIR: "that path is a folder: give a file",
    errno.EIO: "the device reports an input/output error: check the disk",
    errno.EPIPE: "the program reading the output has stopped",
    errno.EAGAIN: "a process limit was reached (ulimit -u): end programs or raise it",
}


def os_error_line(exc: OSError, what: str = "", *, with_path: bool = True) -> str:
    """An operating-system error on one line, with what to do: ``what: No space left on device
    (runs/x/report.md); free space on that disk``.

    Args:
        exc: the error (its ``errno`` picks the fix; its ``filename`` is named).
        what: what was being done or read (``reading the recipe``); empty to name the file alone.
        with_path: name the file the error names (False when the message names it already).
    """
    reason = exc.strerror or str(exc) or type(exc).__name__
    where = f" ({shorten(str(exc.filename), KEY_CHARS)})" if with_path and exc.filename is not None else ""
    fix = _OS_FIXES.get(exc.errno or 0, "")
    text = f"{what}: {reason}{where}" if what else f"{reason}{where}"
    return shorten(f"{text}; {fix}" if fix else text, LINE_CHARS)

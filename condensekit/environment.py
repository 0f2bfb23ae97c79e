"""The process the ``condensekit`` command starts in: its standard streams and environment variables.

Checked once by the console script before anything else runs (and before torch is imported):

* a standard stream closed by the caller (``condensekit run r.toml >&-``) is given ``/dev/null``, so that
  output meant for it goes nowhere instead of failing, and no file opened later takes its number (a worker
  process would write its output into that file);
* a failure to write stdout is one error line and exit code 1, a failure to write stderr (progress) is
  ignored so the runs go on (:class:`OutputStream`);
* an environment variable that condensekit or the libraries it loads read, set to a value they cannot use,
  is one warning line saying what is wrong and how to fix it, and the value is dropped (OpenMP would
  otherwise print its own unexplained complaint and go on with its default).

It also prints the command's own warnings and errors (:func:`one_line_warning`, :func:`echo_error`): one
line each, shortened, never failing on a stream that cannot be written.
"""

from __future__ import annotations

import os
import re
import sys
from typing import Any

import click

from condensekit.errors import LINE_CHARS, CondensekitError, os_error_line
from condensekit.text import quoted, shorten


class OutputNotWritten(CondensekitError):
    """Standard output could not be written (a full disk, an I/O error): the results are on disk."""

    exit_code = 1


STREAMS = ((0, "stdin", "r"), (1, "stdout", "w"), (2, "stderr", "w"))


def reopen_closed_streams() -> list[str]:
    """Give each closed standard stream ``/dev/null``; return the names of those that were closed."""
    closed = []
    for fd, name, mode in STREAMS:
        try:
            os.fstat(fd)
        except OSError:  # EBADF: the caller closed it
            null = os.open(os.devnull, os.O_RDWR)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)
            stream = open(fd, mode, encoding="utf-8", errors="backslashreplace", closefd=False)
            setattr(sys, name, stream)
            closed.append(name)
    return closed


class OutputStream:
    """A standard output stream whose failures are told apart: stdout's become one clear error, stderr's are
    dropped.

    A verdict that cannot be printed (stdout on a full disk) is :class:`~condensekit.errors.OutputNotWritten`
    (exit code 1, saying so); progress that cannot be printed (stderr on a full disk, or closed) is lost
    while the runs go on, rather than ending the grid. A closed pipe on stdout stays a ``BrokenPipeError``,
    which the command ends on quietly (``condensekit validate r.toml | head``).
    """

    def __init__(self, stream: Any, name: str):
        self.stream, self.name = stream, name
        self.failed = False  # a write or flush of stdout failed (not a closed pipe)

    def write(self, text: str) -> int:
        try:
            return int(self.stream.write(text))
        except OSError as exc:
            return self._failed(exc, len(text))

    def flush(self) -> None:
        try:
            self.stream.flush()
        except OSError as exc:
            self._failed(exc, 0)

    def _failed(self, exc: OSError, size: int) -> int:
        if self.name == "stderr":
            return size
        if isinstance(exc, BrokenPipeError):
            raise exc
        self.failed = True  # the command silences stdout before it exits (condensekit.cli.console_main)
        raise OutputNotWritten(os_error_line(exc, "could not write to standard output")) from None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


def guard_output_streams() -> None:
    """Wrap stdout and stderr in :class:`OutputStream` (once)."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is not None and not isinstance(stream, OutputStream):
            setattr(sys, name, OutputStream(stream, name))


def silence_stdout() -> None:
    """Point stdout at ``/dev/null`` after a write to it failed (a closed pipe, a full disk), so that Python's
    final flush at exit does not fail again with a traceback."""
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
        os.close(null)
    except (OSError, ValueError, AttributeError):  # no real file behind stdout (a test's capture)
        pass


THREAD_COUNT = re.compile(r"\s*0*[1-9][0-9]{0,5}\s*(,\s*0*[1-9][0-9]{0,5}\s*)*")
"""A thread count as OpenMP reads ``OMP_NUM_THREADS``: a whole number >= 1, or a list of them (nesting)."""


def thread_count_problems(names: tuple[str, ...] = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")) -> list[str]:
    """Drop each of ``names`` that is set to something other than a thread count from the environment
    (before torch is loaded), and say so: one line per variable."""
    problems = []
    for name in names:
        value = os.environ.get(name)
        if value is None or THREAD_COUNT.fullmatch(value):
            continue
        del os.environ[name]
        problems.append(
            f"{name}={quoted(value)} is not a whole number >= 1, so it is ignored; set it to the number of "
            f"threads (e.g. {name}=1) or unset it"
        )
    return problems


def flag(name: str) -> bool | None:
    """An on/off environment variable: True for ``1``, ``true``, ``yes``, ``on``; False when unset, empty,
    ``0``, ``false``, ``no``, ``off`` (any case); None for any other value (the caller says what is wrong)."""
    value = os.environ.get(name, "").strip().lower()
    if value in ("", "0", "false", "no", "off"):
        return False
    if value in ("1", "true", "yes", "on"):
        return True
    return None


def one_line_warning(
    message: Any, category: Any, filename: str, lineno: int, file: Any = None, line: Any = None
) -> None:
    """``warnings.showwarning`` for the command: ``condensekit: warning: ...`` on one shortened line."""
    print(f"condensekit: warning: {shorten(str(message), LINE_CHARS)}", file=sys.stderr)


def echo_error(text: str) -> None:
    """``condensekit: error: ...`` on stderr, each line shortened; nothing when stderr cannot be written."""
    lines = [shorten(line, LINE_CHARS) for line in text.splitlines()] or [""]
    message = "\n".join(
        ["condensekit: error:", *lines] if len(lines) > 1 else [f"condensekit: error: {lines[0]}"]
    )
    try:
        click.echo(message, err=True)
    except OSError:
        pass  # stderr is full or gone: the exit code is all that is left

"""TensorBoard event files, written by condensekit in the calling thread.

TensorBoard's own writer (and torch's ``SummaryWriter`` on top of it) writes from a thread of its own:
when the disk fills up, that thread prints a traceback, and the error reaches the run only later. Here:

* :class:`EventFile`: a run's event file; each record is written when it is added (buffered, flushed
  every ``flush_secs`` so that TensorBoard shows the run live, and at :meth:`EventFile.close`). A write
  that fails raises ``OSError`` naming the file, in the run's own thread: the run fails with one line;
* :func:`event_file_bytes`: a whole event file in memory (the dashboard's run ``figures``), which the caller
  writes complete or not at all (:func:`condensekit.safe_files.write_files`).

The format is TensorBoard's: records framed by its ``RecordWriter``, the first one giving the file version.
"""

from __future__ import annotations

import io
import itertools
import os
import socket
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from condensekit.safe_files import create_file

PREFIX = "events.out.tfevents."
"""How every event file's name starts (TensorBoard reads the files whose name holds ``tfevents``)."""
_NUMBER = itertools.count()


def event_file_name() -> str:
    """A new event file's name, as TensorBoard's writer makes it: time, host, process, a counter."""
    return f"{PREFIX}{int(time.time()):010d}.{socket.gethostname()}.{os.getpid()}.{next(_NUMBER)}"


def _event(summary: Any = None, step: int = 0) -> Any:
    from tensorboard.compat.proto.event_pb2 import Event

    if summary is None:
        return Event(wall_time=time.time(), file_version="brain.Event:2")
    return Event(wall_time=time.time(), step=step, summary=summary)


def event_file_bytes(summaries: Iterable[Any]) -> bytes:
    """An event file holding ``summaries`` (``Summary`` protos, at step 0), as bytes."""
    from tensorboard.summary.writer.record_writer import RecordWriter

    buffer = io.BytesIO()
    records = RecordWriter(buffer)
    for event in (_event(), *(_event(s) for s in summaries)):
        records.write(event.SerializeToString())
    return buffer.getvalue()


def in_step_order(path: Path) -> bytes:
    """The event file at ``path`` with its events sorted by step, as bytes (the version record first).

    The sort is stable: the events of one step keep their order. TensorBoard draws a tag's points in the
    order of the file, so points logged late for earlier steps (a refinement's) would make a curve jump back.
    """
    from tensorboard.backend.event_processing.event_file_loader import LegacyEventFileLoader
    from tensorboard.summary.writer.record_writer import RecordWriter

    events = [e for e in LegacyEventFileLoader(str(path)).Load() if not e.HasField("file_version")]
    buffer = io.BytesIO()
    records = RecordWriter(buffer)
    for event in (_event(), *sorted(events, key=lambda e: e.step)):
        records.write(event.SerializeToString())
    return buffer.getvalue()


class EventFile:
    """A run's event file in ``folder``, written in the calling thread (see the module's docstring)."""

    def __init__(self, folder: Path, flush_secs: float = 10.0):
        from tensorboard.summary.writer.record_writer import RecordWriter

        self.path = folder / event_file_name()
        self.flush_secs = flush_secs
        self._file = create_file(self.path)
        self._records = RecordWriter(self._file)
        self._flushed = -float("inf")
        self._write(_event())

    def add_summary(self, summary: Any, step: int = 0) -> None:
        """Add a ``Summary`` proto at ``step``."""
        self._write(_event(summary, step))

    def add_scalar(self, tag: str, value: float, step: int = 0) -> None:
        """Add one scalar at ``step``."""
        from tensorboard.compat.proto.summary_pb2 import Summary

        self.add_summary(Summary(value=[Summary.Value(tag=tag, simple_value=float(value))]), step)

    def _write(self, event: Any) -> None:
        try:
            self._records.write(event.SerializeToString())
            if time.monotonic() - self._flushed >= self.flush_secs:
                self._file.flush()
                self._flushed = time.monotonic()
        except OSError as exc:
            raise OSError(exc.errno, exc.strerror, str(self.path)) from None

    def close(self) -> None:
        """Write what is buffered and close the file (the file is closed even when that write fails)."""
        if self._file.closed:
            return
        try:
            self._file.close()
        except OSError as exc:
            raise OSError(exc.errno, exc.strerror, str(self.path)) from None

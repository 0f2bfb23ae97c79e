"""TensorBoard event files, written by condensekit in the calling thread.

TensorBoard's own writer (and torch's ``SummaryWriter`` on top of it) writes from a thread of its own:
when the disk fills up, that thread prints a traceback, and the error reaches the run only later. Here:

* :class:`EventFile`: a run's event file; each record is written when it is added (buffered, flushed
  every ``flush_secs`` so that TensorBoard shows the run live, and at :meth:`EventFile.close`). A write
  that fails raises ``OSError`` naming the file, in the run's own thread: the run fails with one line;
* :func:`event_file_bytes`: a whole event file in memory (the dashboard's run ``figures``), which the caller
  writes complete or not at all (:func:`condensekit.safe_files.write_files`).

The format is TensorBoard's (TFRecord): each record is its length (8 bytes, little-endian), the masked
CRC-32C of those 8 bytes, the data, the masked CRC-32C of the data (:func:`record`); the first record gives
the file version. The checksums come from ``google-crc32c`` (compiled; TensorBoard's own ``RecordWriter``
computes them in pure Python, which took about 4% of a run's CPU time).
"""

from __future__ import annotations

import itertools
import os
import socket
import struct
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


def _masked_crc(data: bytes) -> int:
    """TFRecord's masked CRC-32C (Castagnoli): the checksum rotated right by 15 bits plus a constant."""
    import google_crc32c

    crc = google_crc32c.value(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def record(data: bytes) -> bytes:
    """``data`` framed as one TFRecord: length, its masked CRC, data, the data's masked CRC."""
    length = struct.pack("<Q", len(data))
    return b"".join(
        (length, struct.pack("<I", _masked_crc(length)), data, struct.pack("<I", _masked_crc(data)))
    )


def _event(summary: Any = None, step: int = 0) -> Any:
    from tensorboard.compat.proto.event_pb2 import Event

    if summary is None:
        return Event(wall_time=time.time(), file_version="brain.Event:2")
    return Event(wall_time=time.time(), step=step, summary=summary)


def event_file_bytes(summaries: Iterable[Any]) -> bytes:
    """An event file holding ``summaries`` (``Summary`` protos, at step 0), as bytes."""
    return b"".join(record(e.SerializeToString()) for e in (_event(), *(_event(s) for s in summaries)))


class EventFile:
    """A run's event file in ``folder``, written in the calling thread (see the module's docstring).

    The records written are also kept in memory (a run's file is a few MB at most), so that
    :meth:`in_step_order` can sort them without reading the file back.
    """

    def __init__(self, folder: Path, flush_secs: float = 10.0):
        self.path = folder / event_file_name()
        self.flush_secs = flush_secs
        self._file = create_file(self.path)
        self._records: list[tuple[int, bytes]] = []  # (step, record) in the order written
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
        framed = record(event.SerializeToString())
        self._records.append((event.step, framed))
        try:
            self._file.write(framed)
            if time.monotonic() - self._flushed >= self.flush_secs:
                self._file.flush()
                self._flushed = time.monotonic()
        except OSError as exc:
            raise OSError(exc.errno, exc.strerror, str(self.path)) from None

    def in_step_order(self) -> bytes:
        """The file's content with its events sorted by step (the version record first), as bytes.

        The sort is stable: the events of one step keep their order. TensorBoard draws a tag's points in the
        order of the file, so points logged late for earlier steps (a refinement's) would make a curve jump
        back.
        """
        version, *events = self._records
        return version[1] + b"".join(framed for _, framed in sorted(events, key=lambda item: item[0]))

    def close(self) -> None:
        """Write what is buffered and close the file (the file is closed even when that write fails)."""
        if self._file.closed:
            return
        try:
            self._file.close()
        except OSError as exc:
            raise OSError(exc.errno, exc.strerror, str(self.path)) from None

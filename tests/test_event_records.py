"""The event files' framing: byte for byte what TensorBoard's own ``RecordWriter`` writes, read back by its
own loader, and the in-memory sort by step."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_file_loader import LegacyEventFileLoader
from tensorboard.compat.proto.summary_pb2 import Summary
from tensorboard.summary.writer.record_writer import RecordWriter

from condensekit.event_files import EventFile, record


@pytest.mark.parametrize("size", [0, 1, 7, 8, 9, 255, 4096, 70_001])
def test_a_record_is_what_tensorboard_frames(size: int) -> None:
    data = os.urandom(size)
    buffer = io.BytesIO()
    RecordWriter(buffer).write(data)
    assert record(data) == buffer.getvalue()


def _scalars(path: Path) -> list[tuple[int, str, float]]:
    events = LegacyEventFileLoader(str(path)).Load()
    return [(e.step, v.tag, v.simple_value) for e in events for v in e.summary.value]


def test_the_file_reads_back_and_sorts_by_step_stably(tmp_path: Path) -> None:
    writer = EventFile(tmp_path, flush_secs=0)
    for step, tag, value in [(0, "a", 1.0), (5, "a", 2.0), (9, "a", 3.0), (3, "b", 4.0), (5, "b", 5.0)]:
        writer.add_summary(Summary(value=[Summary.Value(tag=tag, simple_value=value)]), step)
    writer.close()
    assert _scalars(writer.path) == [
        (0, "a", 1.0),
        (5, "a", 2.0),
        (9, "a", 3.0),
        (3, "b", 4.0),
        (5, "b", 5.0),
    ]
    sorted_file = tmp_path / "sorted" / writer.path.name
    sorted_file.parent.mkdir()
    sorted_file.write_bytes(writer.in_step_order())
    # stable: step 5's two events keep the order they were written in; the version record stays first
    assert _scalars(sorted_file) == [
        (0, "a", 1.0),
        (3, "b", 4.0),
        (5, "a", 2.0),
        (5, "b", 5.0),
        (9, "a", 3.0),
    ]
    first = next(iter(LegacyEventFileLoader(str(sorted_file)).Load()))
    assert first.file_version == "brain.Event:2"

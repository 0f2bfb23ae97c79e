"""The report in TensorBoard: the figures as images and a custom-scalars layout that overlays the runs.

Written with tensorboard's own event writer and protos into ``<recipe>/report/``, so ``condensekit report``
does not need to import torch (or TensorFlow).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from condensekit.report.figures import Group


def custom_scalar_layout(groups: Sequence[Group], series: str | None) -> dict[str, dict[str, list[Any]]]:
    """TensorBoard custom-scalars layout: charts whose lines are the runs (arms, grid points, seeds) overlaid."""
    layout = {"arms overlaid": {
        "training loss": ["Multiline", [r"^train/loss$"]],
        "test accuracy": ["Multiline", [r"^test/accuracy$"]],
        "train accuracy": ["Multiline", [r"^train/accuracy$"]],
    }}  # fmt: skip
    if series is not None:
        metric, _, quantity = series.partition("/")
        layers: list[str] = []
        for group in groups:
            for hidden in group.hidden:
                layers += [name for name in hidden if name not in layers]
        layout[f"{quantity} per layer"] = {f"{name}: {quantity}": ["Multiline", [f"^{re.escape(f'{metric}/{name}/{quantity}')}$"]] for name in layers}
    return layout


def write_tensorboard(log_dir: Path, pngs: dict[str, bytes], groups: Sequence[Group], series: str | None) -> None:
    """The figures as TensorBoard images and the custom-scalars layout, in one fresh event file in ``log_dir``.

    Written with tensorboard's own event writer and protos: the PNGs are stored as they are (not drawn a
    second time) and ``condensekit report`` does not need to import torch.
    """
    from tensorboard.compat.proto.summary_pb2 import Summary
    from tensorboard.plugins.custom_scalar import layout_pb2
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    log_dir.mkdir(parents=True, exist_ok=True)
    for old in log_dir.glob("events.out.tfevents.*"):  # a rebuilt report replaces the previous one
        old.unlink()
    writer = EventFileWriter(str(log_dir))
    try:
        for name, png in pngs.items():
            width, height = _png_size(png)
            image = Summary.Image(encoded_image_string=png, height=height, width=width, colorspace=4)
            writer.add_event(_event(Summary(value=[Summary.Value(tag=f"report/{name}", image=image)])))
        layout = layout_pb2.Layout(category=[
            layout_pb2.Category(title=title, chart=[
                layout_pb2.Chart(title=chart, multiline=layout_pb2.MultilineChartContent(tag=tags))
                for chart, (_, tags) in charts.items()
            ])
            for title, charts in custom_scalar_layout(groups, series).items()
        ])  # fmt: skip
        writer.add_event(_event(_layout_summary(layout)))
    finally:
        writer.close()


def _layout_summary(layout: Any) -> Any:
    """The custom-scalars plugin's config summary: the serialized layout as a string tensor under its fixed tag.

    (``tensorboard.plugins.custom_scalar.summary.pb`` builds the same but imports TensorFlow.)
    """
    from tensorboard.compat.proto.summary_pb2 import Summary, SummaryMetadata
    from tensorboard.compat.proto.tensor_pb2 import TensorProto
    from tensorboard.compat.proto.tensor_shape_pb2 import TensorShapeProto

    metadata = SummaryMetadata(plugin_data=SummaryMetadata.PluginData(plugin_name="custom_scalars"))
    tensor = TensorProto(dtype="DT_STRING", string_val=[layout.SerializeToString()], tensor_shape=TensorShapeProto())
    return Summary(value=[Summary.Value(tag="custom_scalars__config__", tensor=tensor, metadata=metadata)])


def _event(summary: Any) -> Any:
    import time

    from tensorboard.compat.proto.event_pb2 import Event

    return Event(wall_time=time.time(), step=0, summary=summary)


def _png_size(png: bytes) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk."""
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")

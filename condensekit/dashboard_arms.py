"""The dashboard's first section: one summary series per arm, the median over seeds with its min-max band.

TensorBoard colours lines by run, so with one run per seed two arms are told apart only by where their
curves sit. The report (which has every seed) therefore writes one TensorBoard run per arm at each grid
point, ``figures/arms/<arm>/<grid point>/``, holding for every headline chart of the dashboard (training
loss, test accuracy, the summary series' layer mean, the layer means a metric declares in
``MetricReport.compare``, the T1 marker) the median over seeds as ``Arms/<n>_<name>`` and its band as
``arm_band/<n>_<name>/min`` and ``.../max``. Custom Scalars shows them first, as *margin charts* (a line
for the median, a band from the min to the max), one colour per arm. In Time Series the group ``Arms``
(the medians, one line per arm) sorts before every other; ``arm_band`` sorts after the per-run copies.
TensorBoard's smoothing slider does not apply to margin charts: the line is the median of the values the
seeds measured, at the steps every seed still running there measured (a run's extra steps, refined around
its own peak, stay in its own curves: a median over whichever seeds measured a step would jump between
seeds).

Every value is measured or read off a measured curve, never interpolated: the loss is the running median
the phase detector reads (as in ``curves.png``), the layer means follow the one layer-mean rule
(:func:`condensekit.phases.layer_mean`), the T1 marker is 1 until a seed's T1 and 0 from it on. The
reduction over seeds is :func:`condensekit.report.series.band`, the one the figures draw.

Each report writes an arm's event file anew, with the report's other files (:func:`arm_run_files`; staged
beside its place and renamed once every file of the report is written, never through a link).
The new file starts with a ``SessionLog.START`` event at step 0, which makes TensorBoard drop every point
read before it: a TensorBoard already open moves on to the new file (its name sorts last) and replaces
the arm's points, and one started later reads both files and keeps the new points only. The previous
version is removed by the next report, not at once: TensorBoard stops reading a run whose current file
disappears before it has moved on to the next one.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from condensekit.event_files import record
from condensekit.output import refuse_links
from condensekit.phases import LOSS_TAG
from condensekit.safe_files import write_files

ARMS = "Arms"
"""The tag group of the arm summaries: it sorts before ``Compare`` and every metric's group."""
ARMS_FOLDER = Path("figures") / "arms"
"""Where the arm runs live, relative to the recipe's output folder."""
SECTION = "Arms: median over seeds, band from min to max (one colour per arm)"
BAND = "arm_band"
"""The tag group of the arm summaries' min and max (lower case: it sorts after ``Arms`` and ``Compare``)."""
PLATEAU = "on_plateau"
"""The ``source`` of the T1 marker's chart (a run's own marker is ``Compare/on_plateau``)."""
PLATEAU_POINTS = 500
"""Points of a T1 marker's step curve (plus the two around each T1), so smoothing keeps the drop sharp."""
MAX_POINTS = 1000
"""The most points of one arm series: TensorBoard keeps 1000 scalars per tag unless told otherwise, by
random sampling; a longer series is thinned here, deterministically, to every k-th measured point."""

Band = tuple[list[int], list[float], list[float], list[float]]
"""``(steps, median, min, max)`` over the seeds of one arm."""


@dataclass(frozen=True)
class ArmChart:
    """One margin chart of the arms section.

    Attributes:
        title: the chart's title.
        source: what it summarises: a run's tag (``train/loss``, ``test/accuracy``, ``<metric>/mean/<q>``
            for the layer mean of ``q``), or :data:`PLATEAU` for the T1 marker.
        tag: ``Arms/<n>_<name>``, the median's tag.
    """

    title: str
    source: str
    tag: str

    @property
    def series(self) -> tuple[str, str, str]:
        """The tags of the median, the min and the max."""
        name = self.tag.partition("/")[2]
        return self.tag, f"{BAND}/{name}/min", f"{BAND}/{name}/max"


def arm_charts(headline: Sequence[tuple[str, str, str]]) -> list[ArmChart]:
    """The arms section's charts: one per headline chart of the dashboard, in order, then the T1 marker.

    Args:
        headline: ``(title, tag, its copy under Compare/)`` (:func:`condensekit.dashboard.headline_tags`).
    """
    charts = []
    for title, tag, copy in headline:
        shown = "training loss (running median, as T1 is read)" if tag == LOSS_TAG else title
        charts.append(ArmChart(shown, tag, f"{ARMS}/{copy.partition('/')[2]}"))
    digits = len(str(len(headline) + 1))
    charts.append(
        ArmChart("on the loss plateau (1) until T1 (0)", PLATEAU, f"{ARMS}/{len(headline) + 1:0{digits}d}_T1")
    )
    return charts


def arms_category(headline: Sequence[tuple[str, str, str]]) -> Any:
    """The custom-scalars category of the arm summaries (margin charts), the dashboard's first section."""
    from tensorboard.plugins.custom_scalar import layout_pb2

    def margin(chart: ArmChart) -> Any:
        median, low, high = chart.series
        series = layout_pb2.MarginChartContent.Series(value=median, lower=low, upper=high)
        return layout_pb2.MarginChartContent(series=[series])

    charts = [layout_pb2.Chart(title=c.title, margin=margin(c)) for c in arm_charts(headline)]
    # Custom Scalars (TensorBoard 2.21, seen in headless Chromium) draws a section of margin charts last
    # to first: listed in reverse, the loss comes first on the page, as in the other sections
    return layout_pb2.Category(title=SECTION, chart=charts[::-1])


def plateau_marker(
    steps_done: int, t1: int | None, also: Sequence[int] = ()
) -> tuple[list[int], list[float]]:
    """A run's T1 marker as a step curve: 1 while on its initial loss plateau, 0 from T1 on (all 1 if stuck).

    About :data:`PLATEAU_POINTS` evenly spaced steps up to ``steps_done``, the two around T1, and any of
    ``also`` (the other seeds' T1 steps, so that every seed of an arm has a value at every step).
    """
    if steps_done <= 0:
        return [], []
    every = max(1, steps_done // PLATEAU_POINTS)
    around = (t1 - 1, t1) if isinstance(t1, int) and t1 > 0 else ()
    steps = sorted(
        {*range(0, steps_done + 1, every), steps_done, *around, *(s for s in also if 0 <= s <= steps_done)}
    )
    return steps, [1.0 if t1 is None or step < t1 else 0.0 for step in steps]


def thinned(band: Band, limit: int = MAX_POINTS) -> Band:
    """Every k-th point of a band, and its last, so that it has at most ``limit`` points."""
    every = -(-len(band[0]) // limit)
    if every <= 1:
        return band
    keep = [*range(0, len(band[0]) - 1, every), len(band[0]) - 1]
    steps, med, low, high = ([part[i] for i in keep] for part in band)
    return [int(s) for s in steps], med, low, high


def arm_event_file(bands: Mapping[ArmChart, Band], wall_time: float) -> bytes:
    """The bytes of one arm run's event file: the median, min and max of every chart's band.

    Args:
        bands: a chart -> its band.
        wall_time: the time stamped on every event (when the report was written).
    """
    from tensorboard.compat.proto.event_pb2 import Event, SessionLog
    from tensorboard.compat.proto.summary_pb2 import Summary

    by_step: dict[int, list[Any]] = {}
    for chart, (steps, *values) in bands.items():
        for step, *stats in zip(steps, *values, strict=True):
            by_step.setdefault(step, []).extend(
                Summary.Value(tag=tag, simple_value=value)
                for tag, value in zip(chart.series, stats, strict=True)
            )
    # a restart at step 0: an open TensorBoard purges the points of the file this one replaces
    start = SessionLog(status=SessionLog.START)
    events = [
        Event(wall_time=wall_time, file_version="brain.Event:2"),
        Event(wall_time=wall_time, step=0, session_log=start),
        *(Event(wall_time=wall_time, step=s, summary=Summary(value=by_step[s])) for s in sorted(by_step)),
    ]
    return b"".join(record(event.SerializeToString()) for event in events)


def arm_run_files(arms: Mapping[str, Mapping[ArmChart, Band]]) -> dict[str, bytes]:
    """The arm runs' new event files, to be written with the report's other files.

    Args:
        arms: an arm's folder (``<arm>/<grid point>``, as its runs' folders) -> its bands
            (:func:`arm_event_file`).

    Returns:
        ``figures/arms/<arm>/<grid point>/events.out.tfevents.<time>.condensekit-arms`` (relative to the
        recipe's output folder) -> the file's bytes; write them with
        :func:`condensekit.safe_files.write_files`, then call :func:`remove_old_arm_runs`.
    """
    now = time.time()
    name = f"events.out.tfevents.{time.time_ns():020d}.condensekit-arms"
    return {
        (ARMS_FOLDER / folder / name).as_posix(): arm_event_file(bands, now) for folder, bands in arms.items()
    }


def remove_old_arm_runs(root: Path, written: Iterable[str]) -> None:
    """Once the files of :func:`arm_run_files` are in place: remove every older version of each arm run but
    the last one (see the module), and the runs of arms no longer in the report. Nothing is removed
    through a link below ``root``."""
    refuse_links(root, root / ARMS_FOLDER)
    kept = set()
    for rel in written:
        new = root / rel
        refuse_links(root, new.parent)
        kept.add(new.parent.relative_to(root / ARMS_FOLDER))
        for old in sorted(p for p in _event_files(new.parent) if p.name != new.name)[:-1]:
            old.unlink(missing_ok=True)
    for gone in _arm_folders(root / ARMS_FOLDER) - kept:
        for old in _event_files(root / ARMS_FOLDER / gone):
            old.unlink(missing_ok=True)  # an arm (or grid point) whose runs are gone


def write_arm_runs(root: Path, arms: Mapping[str, Mapping[ArmChart, Band]]) -> list[Path]:
    """Replace the arm runs below ``root/figures/arms/`` (each file whole, never through a link); remove
    those of arms no longer in the report. Returns the event files written."""
    files = arm_run_files(arms)
    write_files(root, files)
    remove_old_arm_runs(root, files)
    return [root / rel for rel in files]


def _event_files(folder: Path) -> list[Path]:
    """The event files in one folder (regular files only: a link is never followed, nor removed)."""
    return [p for p in folder.iterdir() if "tfevents" in p.name and p.is_file() and not p.is_symlink()]


def _arm_folders(arms_root: Path) -> set[Path]:
    """Every folder below ``arms_root`` holding an event file, relative to it (links not followed)."""
    if not arms_root.is_dir() or arms_root.is_symlink():
        return set()
    found = set()
    for here, _, files in os.walk(arms_root, followlinks=False):
        if any("tfevents" in f for f in files):
            found.add(Path(here).relative_to(arms_root))
    return found

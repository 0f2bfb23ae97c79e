"""Text that fits its figure: long arm, grid and panel labels wrapped, and room made for them.

Panel titles carry the group's label (``mlp [model.width=128,tricks.init.scale=0.5]``), axis labels a
metric's own words, legends every group's label: any of them can be longer than its panel. After a figure
is drawn, :func:`fit_text` measures every such text with matplotlib's renderer, wraps it to its panel
(titles and x labels to the panel's width, y labels to its height, legend entries to 60% of its width, the
figure's title to the figure's width), then makes the figure taller at the top, or wider on the left,
until nothing reaches the figure's title or leaves the figure. The panels keep their size.
"""

from __future__ import annotations

import re
from typing import Any

GAP_PX = 6.0
"""Space left between a panel's title (or labels) and the figure's title, in pixels."""
LEGEND_SHARE = 0.6
"""The widest a legend entry may be, as a share of its panel's width."""


def wrap_words(text: str, width: int) -> str:
    """``text`` in lines of at most ``width`` characters, broken after spaces and commas (a grid label
    ``a=1,b=2`` has no spaces), a longer word cut where it must be."""
    width = max(1, width)
    lines = []
    for paragraph in text.split("\n"):
        line = ""
        for token in re.split(r"(?<=[ ,_/])", paragraph):
            if line and len((line + token).rstrip()) > width:
                lines.append(line.rstrip())
                line = token.lstrip()
            else:
                line += token
            while len(line.rstrip()) > width:  # one word longer than a line
                lines.append(line[:width])
                line = line[width:]
        lines.append(line.rstrip())
    return "\n".join(lines)


def wrap_to(text: Any, room: float, renderer: Any) -> None:
    """Wrap a matplotlib ``Text`` until it is at most ``room`` pixels long (its height when it is turned by
    90 degrees)."""
    original = text.get_text()
    if not original or room <= 0:
        return
    turned = round(text.get_rotation()) % 180 == 90
    for _ in range(6):  # each pass measures and shortens the lines by the overshoot
        extent = text.get_window_extent(renderer)
        length = extent.height if turned else extent.width
        if length <= room:
            return
        longest = max(len(line) for line in text.get_text().split("\n"))
        text.set_text(wrap_words(original, int(longest * room / length) - 1))


def fit_text(fig: Any) -> Any:
    """Wrap the figure's long texts to their panels and make room for them (see the module); returns
    ``fig``."""
    renderer = fig.canvas.get_renderer()
    for ax in fig.axes:
        if not ax.get_visible():
            continue
        box = ax.get_window_extent(renderer)
        wrap_to(ax.title, box.width, renderer)
        wrap_to(ax.xaxis.label, box.width, renderer)
        wrap_to(ax.yaxis.label, box.height, renderer)
        legend = ax.get_legend()
        for entry in legend.get_texts() if legend is not None else ():
            wrap_to(entry, LEGEND_SHARE * box.width, renderer)
    title = getattr(fig, "_suptitle", None)  # matplotlib keeps the figure's title here
    if title is not None:
        wrap_to(title, 0.96 * fig.bbox.width, renderer)
    _make_room(fig, renderer, title)
    return fig


def _make_room(fig: Any, renderer: Any, title: Any) -> None:
    """Grow the figure at the top until the panels' texts end below its title, and on the left until
    they start inside it, keeping every panel's size and position relative to the others."""
    boxes = [ax.get_tightbbox(renderer) for ax in fig.axes if ax.get_visible()]
    if not boxes:
        return
    ceiling = title.get_window_extent(renderer).y0 if title is not None else fig.bbox.height
    above = max(0.0, max(b.y1 for b in boxes) + GAP_PX - ceiling) / fig.dpi
    left = max(0.0, GAP_PX - min(b.x0 for b in boxes)) / fig.dpi
    if not above and not left:
        return
    width, height = fig.get_figwidth(), fig.get_figheight()
    positions = [ax.get_position() for ax in fig.axes]
    fig.set_size_inches(width + left, height + above)
    for ax, pos in zip(fig.axes, positions, strict=True):
        ax.set_position(
            (
                (pos.x0 * width + left) / (width + left),
                pos.y0 * height / (height + above),
                pos.width * width / (width + left),
                pos.height * height / (height + above),
            )
        )

"""Metric curves drawn for people: in the terminal (Unicode braille, no dependency) or as a file
(matplotlib: PNG, SVG, or a self-contained HTML page holding the SVG).

A :class:`Curve` is one run's points of one metric, as read with a downsample
(``get_metrics(..., max_points=N)``: the first and last points and each bucket's extremes, so a
spike still shows). A ``marker`` is a step drawn as a dashed vertical line: ``ato diff --plot``
marks the first step at which two runs' metric differs. Non-finite values (a loss that went NaN)
are left out of the lines: a gap, never a spike to infinity.

matplotlib is the optional extra ``ato[plot]``; without it, asking for a file raises
:class:`MissingExtraError`, one line that names the extra. It is imported inside the functions
that need it (``import ato`` stays light), with the non-interactive Agg backend (no display).
"""

from __future__ import annotations

import html
import io
import math
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ato.errors import AtoError

__all__ = [
    "FILE_FORMATS", "Curve", "MissingExtraError", "Panel", "chart_width", "render_terminal", "save_figure", "svg_figure",
]

FILE_FORMATS = (".png", ".svg", ".html")
_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf")
_ANSI = (34, 33, 32, 31, 35, 36, 95, 96)  # the terminal's blue, yellow, green, red, ... in that order
_BRAILLE_BITS = ((0x01, 0x08), (0x02, 0x10), (0x04, 0x20), (0x40, 0x80))  # [row][column] of a 2x4 cell


class MissingExtraError(AtoError):
    """An optional dependency is missing; the message names the extra that installs it."""


@dataclass
class Curve:
    """One line of a plot: ``steps`` and ``values`` (numpy arrays, in step order)."""

    label: str
    steps: Any
    values: Any
    total: int = 0  # points before the downsample (0: not known)
    run: int | None = None  # the run's id, where the curve is a run's


@dataclass
class Panel:
    """One chart: its title, its curves, and the steps to mark (with their captions)."""

    title: str
    curves: Sequence[Curve]
    markers: Sequence[tuple[int, str]] = ()


def _matplotlib() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise MissingExtraError("plotting to a file needs matplotlib: pip install 'ato[plot]'") from None
    matplotlib.use("Agg", force=True)  # files only, never a window
    import matplotlib.pyplot as plt

    return plt


def _literal(text: str) -> str:
    """``text`` as matplotlib draws it literally: a ``$`` would start mathtext (a metric key such
    as ``a$\\frac$b`` would not parse; ``$x$`` would be typeset)."""
    return text.replace("$", r"\$")


def _figure(panels: Sequence[Panel]) -> Any:
    plt = _matplotlib()
    figure, axes = plt.subplots(len(panels), 1, figsize=(8, 3.2 * len(panels)), squeeze=False)
    for axis, panel in zip(axes[:, 0], panels):
        for index, curve in enumerate(panel.curves):
            import numpy as np

            values = np.asarray(curve.values, dtype=float)
            shown = np.where(np.isfinite(values), values, np.nan)  # NaN: a gap in the line
            axis.plot(curve.steps, shown, label=_literal(curve.label), color=_COLORS[index % len(_COLORS)], linewidth=1.2)
        for step, caption in panel.markers:
            axis.axvline(step, color="black", linestyle="--", linewidth=1)
            axis.annotate(_literal(caption), xy=(step, 1), xycoords=("data", "axes fraction"), xytext=(4, -12),
                          textcoords="offset points", fontsize=8)
        axis.set_title(_literal(panel.title))
        axis.set_xlabel("step")
        axis.grid(True, alpha=0.3)
        if panel.curves:
            axis.legend(fontsize=8)
    figure.tight_layout()
    return figure


def svg_figure(panels: Sequence[Panel]) -> str:
    """The panels as one SVG document (text): what an HTML page can hold inline."""
    plt = _matplotlib()
    figure = _figure(panels)
    buffer = io.StringIO()
    # Text as <text>, not glyph paths: readable, searchable and selectable where the SVG is shown;
    # no date: the same input makes the same text.
    with plt.rc_context({"svg.fonttype": "none"}):
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    plt.close(figure)
    text = buffer.getvalue()
    return text[text.index("<svg"):]  # without the XML prolog and doctype: it goes inside HTML


def save_figure(panels: Sequence[Panel], path: Path, title: str) -> None:
    """Write the panels to ``path``: PNG or SVG by matplotlib, or HTML holding the SVG inline
    (one file that needs no network to view)."""
    suffix = path.suffix.lower()
    if suffix not in FILE_FORMATS:
        raise AtoError(f"cannot plot to {path.name}: the file must end in {', '.join(FILE_FORMATS)}")
    if suffix == ".html":
        page = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head>"
                f"<body style='font-family:sans-serif'><h1>{html.escape(title)}</h1>{svg_figure(panels)}</body></html>")
        path.write_text(page, encoding="utf-8")
        return
    plt = _matplotlib()
    figure = _figure(panels)
    with plt.rc_context({"svg.fonttype": "none"}):
        figure.savefig(path, format=suffix[1:], **({"metadata": {"Date": None}} if suffix == ".svg" else {}))
    plt.close(figure)


# -- terminal -----------------------------------------------------------------------------------------
def render_terminal(panel: Panel, width: int | None = None, height: int = 12, color: bool | None = None) -> str:
    """The panel as text: a braille chart (each character 2x4 dots) with the value range on the
    left, the step range below, a legend, and the markers as dotted columns. ``color``: ANSI
    colours, by default where stdout is a terminal and ``NO_COLOR`` is unset."""
    import numpy as np

    if color is None:
        color = sys.stdout.isatty() and "NO_COLOR" not in os.environ
    if width is None:
        width = chart_width()
    finite = [(np.asarray(c.steps, dtype=float), np.asarray(c.values, dtype=float)) for c in panel.curves]
    finite = [(s[np.isfinite(v)], v[np.isfinite(v)]) for s, v in finite]
    all_steps = [s for s, _ in finite if len(s)] + [np.asarray([m for m, _ in panel.markers], dtype=float)]
    all_values = [v for _, v in finite if len(v)]
    lines = [panel.title]
    if not all_values:
        return "\n".join([*lines, "  (no finite values to plot)"])
    x_low, x_high = float(min(s.min() for s in all_steps if len(s))), float(max(s.max() for s in all_steps if len(s)))
    y_low, y_high = float(min(v.min() for v in all_values)), float(max(v.max() for v in all_values))
    if x_high == x_low:
        x_high = x_low + 1
    if y_high == y_low:
        y_low, y_high = y_low - 0.5, y_high + 0.5
    columns, rows = width * 2, height * 4  # dots

    def column(step: float) -> int:
        return min(columns - 1, max(0, round((step - x_low) / (x_high - x_low) * (columns - 1))))

    def row(value: float) -> int:  # 0 at the top
        return min(rows - 1, max(0, round((y_high - value) / (y_high - y_low) * (rows - 1))))

    bits = np.zeros((len(finite), height, width), dtype=np.int64)
    for index, (steps, values) in enumerate(finite):
        previous: tuple[int, int] | None = None
        for step, value in zip(steps.tolist(), values.tolist()):
            point = (column(step), row(value))
            for x, y in _segment(previous, point):
                bits[index, y // 4, x // 2] |= _BRAILLE_BITS[y % 4][x % 2]
            previous = point
    marked = {column(step) // 2 for step, _ in panel.markers}
    y_labels = {0: _number(y_high), height - 1: _number(y_low)}
    margin = max(len(label) for label in y_labels.values())
    for y in range(height):
        cells = []
        for x in range(width):
            union = int(np.bitwise_or.reduce(bits[:, y, x]))
            owner = next((i for i in range(len(finite) - 1, -1, -1) if bits[i, y, x]), None)
            if union == 0 and x in marked:
                cells.append(_paint("┊", 1, color))  # the marker shows where no line is drawn
            elif union == 0:
                cells.append(" ")
            else:
                cells.append(_paint(chr(0x2800 + union), _ANSI[(owner or 0) % len(_ANSI)], color))
        lines.append(f"{y_labels.get(y, ''):>{margin}} ┤{''.join(cells)}")
    left, right = _number(x_low), _number(x_high)
    lines.append(f"{'':>{margin}} └{'─' * width}")
    lines.append(f"{'':>{margin}}  {left}{right:>{max(1, width - len(left))}}   (step)")
    for index, curve in enumerate(panel.curves):
        shown = f" ({len(curve.steps)} of {curve.total} points)" if curve.total > len(curve.steps) else ""
        lines.append(f"{'':>{margin}}  {_paint('━━', _ANSI[index % len(_ANSI)], color)} {curve.label}{shown}")
    for step, caption in panel.markers:
        lines.append(f"{'':>{margin}}  ┊  {caption}")
    return "\n".join(lines)


def _segment(start: tuple[int, int] | None, end: tuple[int, int]) -> list[tuple[int, int]]:
    """The dots of a straight line from ``start`` to ``end`` (Bresenham); ``end`` alone if no start."""
    if start is None:
        return [end]
    (x0, y0), (x1, y1) = start, end
    dx, dy = abs(x1 - x0), -abs(y1 - y0)
    sx, sy = (1 if x1 > x0 else -1), (1 if y1 > y0 else -1)
    error, dots = dx + dy, []
    while True:
        dots.append((x0, y0))
        if (x0, y0) == (x1, y1):
            return dots
        doubled = 2 * error
        if doubled >= dy:
            error += dy
            x0 += sx
        if doubled <= dx:
            error += dx
            y0 += sy


def _paint(text: str, code: int, color: bool) -> str:
    return f"\x1b[{code}m{text}\x1b[0m" if color else text


def _number(value: float) -> str:
    if value == 0 or (1e-3 <= abs(value) < 1e6):
        return f"{value:.4g}"
    return f"{value:.2e}" if math.isfinite(value) else str(value)


def chart_width() -> int:
    """Braille cells across a terminal chart: what fits beside the value labels, 20 to 100."""
    import shutil

    return max(20, min(100, shutil.get_terminal_size((100, 24)).columns - 14))

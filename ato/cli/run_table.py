"""The table ``ato runs`` prints: which columns, their cells, and how it fits a terminal.

Columns, left to right: ``id``, ``uid`` (its first 8 characters: any unique prefix names the
run), ``project`` (where the runs span several), ``status``, ``started``, ``duration``, ``host``,
``rank`` and ``group`` (where some run of a distributed job is listed), ``tags``, ``structure`` (the structural hash's first 8), then one per config key shown, then per
chosen metric its best (``KEY best(max)``) and last value (``KEY last``).

Fitting a terminal (never a wrapped row, never a cut number): text columns shrink first, the
widest first, each to no fewer than 4 characters with ``…`` marking the cut; numbers (ids, metric
values, numeric config values, durations) are never cut, though a number column's header may be.
Where even that is too wide, whole columns are left out, in this order: structure, tags, group,
host, uid, rank, started, duration, project, status; a line under the table names them. Config and metric
columns and ``id`` always stay; where they alone are wider than the terminal, the table is printed
wider than the terminal rather than cut. Piped, the table is plain text with every cell whole.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["GAP", "Column", "fit", "format_duration", "format_value", "print_table", "render"]

GAP = 3  # characters between two columns of the rich table (padding and the blank rule)
_MIN_TEXT = 4  # a text column is never elided below this: three characters and the "…"
_COMFORTABLE = 10  # nor below this while a column can be left out instead
_ELLIPSIS = "…"

# Which columns go first when elision alone does not fit the terminal (the rest always stay).
DROP_ORDER = ("structure", "tags", "group", "host", "uid", "rank", "started", "duration", "project", "status")


@dataclass
class Column:
    """One column: its header, its cells, and whether its cells are numbers (never cut)."""

    header: str
    cells: list[str] = field(default_factory=list)
    numeric: bool = False
    drop: str | None = None  # its name in DROP_ORDER where it may be left out
    sub: str | None = None  # a second header line on a terminal (``best(max)`` under a metric key)

    @property
    def title(self) -> str:
        """The one-line header of plain text: the header and its second line, if any."""
        return self.header if self.sub is None else f"{self.header} {self.sub}"

    @property
    def natural(self) -> int:
        return max([len(self.header), len(self.sub or ""), *map(len, self.cells)])

    @property
    def least(self) -> int:
        """The narrowest it may be: a number column as wide as its widest cell, text 4."""
        widest = max(map(len, self.cells), default=0)
        return max(widest, 1) if self.numeric else min(self.natural, _MIN_TEXT)


def format_value(value: Any) -> str:
    """A config value as a table cell: text as it is, numbers exact, the rest as a literal."""
    from ato.config.literals import format_literal

    if isinstance(value, str):
        return value
    try:
        return format_literal(value)
    except TypeError:  # an object that could not be recorded: its repr (or its recorded one)
        shown = getattr(value, "repr", None)
        return shown if isinstance(shown, str) else repr(value)


def format_number(value: float | None) -> str:
    """A metric value: six significant digits; ``-`` for none."""
    if value is None:
        return "-"
    if math.isnan(value):
        return "nan"
    return f"{value:.6g}"


def format_duration(seconds: float | None) -> str:
    """``12.3s``, ``3m05s``, ``2h07m``, ``3d04h``; ``-`` for none."""
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h{minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours:02d}h"


def _width(widths: Sequence[int]) -> int:
    return sum(widths) + GAP * max(len(widths) - 1, 0)


def fit(columns: Sequence[Column], width: int) -> tuple[list[Column], list[int], list[str]]:
    """The columns to show within ``width``, their widths, and the headers of those left out
    (the rules of this module's docstring). Text is first shrunk no further than 10 characters,
    leaving out columns before going below; then down to 4 with every optional column out."""
    for floor in (_COMFORTABLE, _MIN_TEXT):
        for hide in range(len(DROP_ORDER) + 1):
            hidden = set(DROP_ORDER[:hide])
            shown = [column for column in columns if column.drop not in hidden]
            widths = _shrink(shown, width, floor)
            if _width(widths) <= width:
                return shown, widths, [c.title for c in columns if c.drop in hidden]
    return shown, widths, [c.title for c in columns if c.drop in hidden]


def _shrink(columns: Sequence[Column], width: int, floor: int) -> list[int]:
    """Widths that fit ``width`` where they can: the widest shrinkable column loses a character
    at a time (so long text goes first and short columns keep theirs), none below ``floor``."""
    widths = [column.natural for column in columns]
    least = [max(column.least, min(column.natural, floor)) for column in columns]
    excess = _width(widths) - width
    while excess > 0:
        shrinkable = [i for i, w in enumerate(widths) if w > least[i]]
        if not shrinkable:
            break
        widest = max(widths[i] for i in shrinkable)
        tops = [i for i in shrinkable if widths[i] == widest]
        below = max([widths[i] for i in shrinkable if widths[i] < widest] + [max(least[i] for i in tops)])
        # Bring the widest down together, to the next width (or as far as the excess needs).
        step = max(min(widest - below, -(-excess // len(tops))), 1)
        for i in tops:
            cut = min(step, widths[i] - least[i], excess)
            widths[i] -= cut
            excess -= cut
            if excess <= 0:
                break
    return widths


def elide(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(width - 1, 0)] + _ELLIPSIS


def render(title: str | None, columns: Sequence[Column], width: int) -> str:
    """The rich table fitted to ``width``, as the text a terminal of that width shows."""
    import io

    from rich import box
    from rich.console import Console
    from rich.table import Table

    shown, widths, hidden = fit(columns, width)
    table = Table(title=title, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, title_justify="left")
    for column, w in zip(shown, widths):
        header = elide(column.header, w) + ("" if column.sub is None else "\n" + elide(column.sub, w))
        table.add_column(header, width=w, no_wrap=True, overflow="ellipsis",
                         justify="right" if column.numeric else "left")
    rows = len(columns[0].cells) if columns else 0
    for r in range(rows):
        table.add_row(*(elide(column.cells[r], w) for column, w in zip(shown, widths)))
    out = io.StringIO()
    console = Console(file=out, width=max(width, _width(widths)), force_terminal=sys.stdout.isatty(),
                      color_system="auto" if sys.stdout.isatty() else None)
    console.print(table)
    if hidden:
        console.print(f"(to fit, not shown: {', '.join(hidden)}; piped output shows all)", soft_wrap=True,
                      highlight=False)
    return out.getvalue()


def print_table(title: str | None, columns: Sequence[Column]) -> None:
    """On a terminal, the rich table fitted to its width; piped, plain aligned text, whole."""
    if sys.stdout.isatty():
        from rich.console import Console

        # The width rich sees (the terminal's; 80 on a dumb one, where rich renders at 80 anyway).
        sys.stdout.write(render(title, columns, Console().width))
        return
    if title:
        print(title)
    widths = [max(len(column.title), column.natural) for column in columns]
    lines = [[column.title for column in columns]]
    rows = len(columns[0].cells) if columns else 0
    lines += [[column.cells[r] for column in columns] for r in range(rows)]
    for line in lines:
        cells = [cell.rjust(w) if column.numeric else cell.ljust(w) for cell, w, column in zip(line, widths, columns)]
        print("  ".join(cells).rstrip())

"""Readable, bounded views of Ato's objects for notebooks (``_repr_html_``) and rich consoles
(``__rich__``).

A :class:`View` is plain data: a title, labelled fields, tables (:class:`Grid`) and notes. The
objects that show themselves (``Run``, ``ADict``, ``RunDiff``, ``MergeReplay``, ``MetricSeries``,
...) build views from their own data and hand them to :func:`render_html` or
:func:`render_rich`, which never see Ato's types: this module imports nothing of Ato, so every
layer may use it (an import-linter contract keeps it a leaf).

What every view promises:

- **Bounded.** A table shows at most its ``limit`` rows and says how many it left out
  ("… 4,800 more keys not shown"); a cell holds at most :data:`CELL` characters and says how many
  it cut; values are shown by a bounded repr (:func:`value_text`, reprlib's limits), so a
  ten-million-item list in a config is never turned into text whole.
- **Escaped.** Every string that reaches the HTML goes through :func:`html.escape`; control
  characters are shown as escapes (``\\x1b``), never passed to a terminal. In rich, every string
  is a ``Text``, never console markup, so ``[bold]`` in a tag is shown as typed.
- **Self-contained.** The HTML is one ``<div>`` with a scoped ``<style>``: no script, no
  stylesheet or font to fetch, nothing that needs a network.
- **Narrow.** rich is imported inside :func:`render_rich` (``import ato`` never loads it); every
  column folds, so nothing is wider than the console.
"""

from __future__ import annotations

import math
import reprlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

__all__ = [
    "CELL",
    "CONFIG_ROWS",
    "ROWS",
    "Grid",
    "View",
    "config_grid",
    "count",
    "duration",
    "limited",
    "moment",
    "number",
    "render_html",
    "render_rich",
    "text",
    "value_text",
]

CELL = 160  # characters of one cell; the rest is cut, and counted
ROWS = 100  # rows of one table, unless the view asks for fewer or more
CONFIG_ROWS = 200  # rows of a config table shown on its own (an ADict); a run's own is shorter
_DEPTH = 8  # nesting levels of a config table; a deeper mapping is shown as one bounded repr

# Control characters (newline and tab included: a cell's lines are the view's to make) as the
# escapes Python's repr uses, so a hostile string cannot move a terminal's cursor or color it.
_CONTROLS = {code: f"\\x{code:02x}" for code in (*range(32), 127)} | {10: "\\n", 9: "\\t", 13: "\\r"}
# What the renderers apply once more to every string they are given, whoever built it: a view's
# own line breaks stay.
_CONTROLS_BUT_NEWLINE = {code: escape for code, escape in _CONTROLS.items() if code != 10}
_MOST = 4_000  # characters of any one string a renderer is given (a cell of several lines included)


def _clean(value: str) -> str:
    """What the renderers do to every string, whoever built it: control characters escaped (a
    view's own line breaks kept), cut at ``_MOST`` characters."""
    value = value.translate(_CONTROLS_BUT_NEWLINE)
    return value if len(value) <= _MOST else f"{value[:_MOST]}… (+{len(value) - _MOST:,} chars)"


class _BoundedRepr(reprlib.Repr):
    """reprlib's limits, applied to subclasses too (an ADict, a named tuple) and keeping a
    mapping's own order: reprlib's default would repr a dict subclass whole, then cut it."""

    def __init__(self) -> None:
        super().__init__()
        self.maxlevel = 3
        self.maxdict = 6
        self.maxlist = self.maxtuple = self.maxset = self.maxfrozenset = self.maxdeque = self.maxarray = 8
        self.maxstring = 80
        self.maxlong = 40
        self.maxother = 80

    def repr1(self, x: Any, level: int) -> str:
        if isinstance(x, dict):
            return self.repr_dict(x, level)
        if isinstance(x, str) and type(x) is not str:
            return self.repr_str(str(x), level)
        if isinstance(x, list) and type(x) is not list:
            return self.repr_list(x, level)
        return super().repr1(x, level)

    def repr_dict(self, x: Any, level: int) -> str:
        if not x:
            return "{}"
        if level <= 0:
            return "{...}"
        shown = []
        for index, (key, value) in enumerate(x.items()):
            if index == self.maxdict:
                shown.append("...")
                break
            shown.append(f"{self.repr1(key, level - 1)}: {self.repr1(value, level - 1)}")
        return "{" + ", ".join(shown) + "}"

    def repr_int(self, x: int, level: int) -> str:
        if x.bit_length() > 128:  # never str() a huge int: slow, and refused past 4,300 digits
            return f"<int of {x.bit_length():,} bits>"
        return super().repr_int(x, level)


_bounded = _BoundedRepr()


def text(value: Any, width: int = CELL) -> str:
    """``str(value)`` with control characters escaped, cut to ``width`` characters (saying how
    many were cut)."""
    raw = str(value)
    if len(raw) <= width:
        return raw.translate(_CONTROLS)
    # Cut before escaping: a ten-megabyte string is never translated whole.
    return f"{raw[:width].translate(_CONTROLS)}… (+{len(raw) - width:,} chars)"


def value_text(value: Any, width: int = CELL) -> str:
    """A bounded repr of ``value`` (reprlib's limits: a few items of a collection, the ends of a
    long string), as :func:`text` cuts it. A value whose repr fails is named by its type."""
    try:
        shown = _bounded.repr(value)
    except Exception:  # a user object's broken __repr__ must not break the table around it
        shown = f"<{type(value).__name__} object>"
    return text(shown, width)


def limited(items: Sequence[str], limit: int, what: str) -> str:
    """``items`` joined by commas, at most ``limit`` of them, then how many more."""
    shown = ", ".join(text(item, 60) for item in items[:limit])
    rest = len(items) - limit
    return f"{shown}, … {rest:,} more {what}" if rest > 0 else shown


def count(n: int, noun: str, plural: str = "") -> str:
    """``1 key``, ``5,000 keys``: a count and its noun (``plural``, else the noun and an ``s``)."""
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {plural or noun + 's'}"


def number(value: Any) -> str:
    """A metric value to read at a glance: six significant digits, ``nan``/``inf`` as such, ``—``
    for None (no finite value)."""
    if value is None:
        return "—"
    if isinstance(value, float):
        return repr(value) if not math.isfinite(value) else f"{value:.6g}"
    return value_text(value, 40)


def moment(seconds: float | None) -> str:
    """Seconds since the epoch as a UTC date and time (the database stores UTC; a notebook may
    run anywhere), ``—`` for None."""
    if seconds is None or not math.isfinite(seconds):
        return "—"
    try:
        return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (OverflowError, OSError, ValueError):
        return repr(seconds)


def duration(seconds: float | None) -> str:
    """A length of time as ``12.3 s``, ``4m 05s`` or ``2h 03m 09s``; ``—`` for None."""
    if seconds is None or not math.isfinite(seconds):
        return "—"
    if abs(seconds) < 60:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    hours, rest = divmod(abs(whole), 3600)
    minutes, secs = divmod(rest, 60)
    sign = "-" if whole < 0 else ""
    return f"{sign}{hours}h {minutes:02d}m {secs:02d}s" if hours else f"{sign}{minutes}m {secs:02d}s"


@dataclass
class Grid:
    """A table: ``rows`` of cells (a cell's lines separated by newlines), ``indents`` (depth of
    each row's first cell, for nested keys), ``omitted`` rows left out (counted as ``what``), and
    ``empty``: what to say when there are no rows."""

    title: str
    headers: tuple[str, ...]
    rows: list[tuple[str, ...]] = field(default_factory=list)
    indents: list[int] = field(default_factory=list)
    omitted: int = 0
    what: str = "rows"
    empty: str = ""

    def add(self, *cells: str, indent: int = 0) -> None:
        self.rows.append(cells)
        self.indents.append(indent)

    @classmethod
    def of(cls, title: str, headers: tuple[str, ...], rows: Sequence[tuple[str, ...]], limit: int = ROWS,
           what: str = "rows", empty: str = "") -> Grid:
        """The first ``limit`` of ``rows``, the rest counted."""
        return cls(title, headers, list(rows[:limit]), [0] * min(len(rows), limit),
                   max(0, len(rows) - limit), what, empty)


@dataclass
class View:
    """What one object shows: a title, ``(label, value)`` fields, tables, and closing notes."""

    title: str
    fields: list[tuple[str, str]] = field(default_factory=list)
    grids: list[Grid] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _entries(config: Mapping[Any, Any]) -> Iterator[tuple[int, Any, Any, bool]]:
    """``(depth, key, value, opens)`` of every key of a nested mapping, depth first in each
    mapping's own order; ``opens``: the value's own keys follow. A mapping is opened once per
    path (a config that contains itself is shown, not followed) and down to ``_DEPTH`` levels.
    A stack, not recursion: a deep config cannot reach the recursion limit."""
    stack: list[tuple[int, Iterator[tuple[Any, Any]], int]] = [(0, iter(config.items()), id(config))]
    open_ids = {id(config)}
    while stack:
        depth, items, ident = stack[-1]
        for key, value in items:
            opens = isinstance(value, Mapping) and bool(value) and depth + 1 < _DEPTH and id(value) not in open_ids
            yield depth, key, value, opens
            if opens:
                open_ids.add(id(value))
                stack.append((depth + 1, iter(value.items()), id(value)))
                break
        else:
            stack.pop()
            open_ids.discard(ident)


def config_grid(config: Any, title: str = "Config", limit: int = CONFIG_ROWS) -> Grid:
    """A nested config as a table of keys (indented by depth) and values: a mapping's keys follow
    it, other values (lists too) are bounded reprs. The first ``limit`` keys at any depth are
    shown; the rest are counted, not formatted."""
    grid = Grid(title, ("key", "value"), what="keys", empty="(empty)")
    if not isinstance(config, Mapping):
        grid.add("(not a mapping)", value_text(config))
        return grid
    for depth, key, value, opens in _entries(config):
        if len(grid.rows) >= limit:
            grid.omitted += 1
            continue
        label = text(key, 80) if isinstance(key, str) else value_text(key, 80)
        grid.add(label, f"({count(len(value), 'key')})" if opens else value_text(value), indent=depth)
    return grid


# -- HTML ------------------------------------------------------------------------------------------
_STYLE = (
    "<style>.ato-view table{border-collapse:collapse;margin:.2em 0 .8em}"
    ".ato-view th,.ato-view td{text-align:left;vertical-align:top;padding:.1em .7em}"
    ".ato-view caption{text-align:left;font-weight:bold}.ato-view td{font-family:monospace}"
    ".ato-view .ato-title{font-weight:bold;margin:.3em 0}.ato-view .ato-note{font-style:italic}</style>"
)


def _escape(value: str) -> str:
    import html  # only when HTML is asked for

    return html.escape(_clean(value), quote=True).replace("\n", "<br>")


def _grid_html(grid: Grid) -> list[str]:
    out = ["<table>"]
    if grid.title:
        out.append(f"<caption>{_escape(grid.title)}</caption>")
    if grid.headers:
        out.append("<thead><tr>" + "".join(f"<th>{_escape(h)}</th>" for h in grid.headers) + "</tr></thead>")
    out.append("<tbody>")
    width = max([len(grid.headers), *map(len, grid.rows), 1])
    if not grid.rows and grid.empty:
        out.append(f'<tr><td colspan="{width}" class="ato-note">{_escape(grid.empty)}</td></tr>')
    for row, indent in zip(grid.rows, grid.indents):
        cells = []
        for index, cell in enumerate(row):
            pad = f' style="padding-left:{0.7 + 1.3 * indent:.1f}em"' if index == 0 and indent else ""
            cells.append(f"<td{pad}>{_escape(cell)}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    if grid.omitted:
        note = f"… {grid.omitted:,} more {grid.what} not shown"
        out.append(f'<tr><td colspan="{width}" class="ato-note">{_escape(note)}</td></tr>')
    out.append("</tbody></table>")
    return out


def render_html(*views: View) -> str:
    """The views as one self-contained HTML fragment (what ``_repr_html_`` returns)."""
    out = ['<div class="ato-view">', _STYLE]
    for view in views:
        out.append(f'<div class="ato-title">{_escape(view.title)}</div>')
        if view.fields:
            out.append("<table><tbody>")
            out += [f"<tr><th>{_escape(label)}</th><td>{_escape(value)}</td></tr>" for label, value in view.fields]
            out.append("</tbody></table>")
        for grid in view.grids:
            out += _grid_html(grid)
        out += [f'<p class="ato-note">{_escape(note)}</p>' for note in view.notes]
    out.append("</div>")
    return "\n".join(out)  # a line per row: no line of the HTML is the whole object


# -- rich ------------------------------------------------------------------------------------------
def render_rich(*views: View) -> Any:
    """The views as one rich renderable (what ``__rich__`` returns); rich is imported only now."""
    from rich import box
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    def plain(value: str, style: str = "") -> Any:
        return Text(_clean(value), style=style, overflow="fold")  # never markup

    parts: list[Any] = []
    for view in views:
        parts.append(plain(view.title, "bold"))
        if view.fields:
            head = Table.grid(padding=(0, 2))
            head.add_column(style="dim", overflow="fold")
            head.add_column(overflow="fold")
            for label, value in view.fields:
                head.add_row(plain(label), plain(value))
            parts.append(head)
        for grid in view.grids:
            caption = plain(f"… {grid.omitted:,} more {grid.what} not shown", "italic") if grid.omitted else None
            if not grid.rows and grid.empty:
                caption = plain(grid.empty, "italic")
            table = Table(
                title=plain(grid.title, "bold") if grid.title else None, title_justify="left",
                caption=caption, caption_justify="left", box=box.SIMPLE_HEAD, show_header=bool(grid.headers),
            )
            for header in grid.headers or ("",) * max(map(len, grid.rows), default=1):
                table.add_column(plain(header), overflow="fold")
            for row, indent in zip(grid.rows, grid.indents):
                table.add_row(*(plain("  " * indent + cell if index == 0 else cell) for index, cell in enumerate(row)))
            parts.append(table)
        parts += [plain(note, "italic") for note in view.notes]
    return Group(*parts)

"""How the ``ato`` command prints: rich tables on a terminal, aligned plain text when piped, and
JSON for ``--json``."""

from __future__ import annotations

import datetime
import json
import sys
from typing import Any

__all__ = ["emit_json", "table", "when"]


def emit_json(data: Any) -> None:
    """Print ``data`` as indented JSON (anything JSON cannot hold, by its repr)."""
    print(json.dumps(data, indent=2, default=repr))


def table(title: str | None, headers: list[str], rows: list[list[str]]) -> None:
    """Print a table: rich on a terminal, aligned columns otherwise."""
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.table import Table

        rich_table = Table(title=title)
        for header in headers:
            rich_table.add_column(header)
        for row in rows:
            rich_table.add_row(*row)
        Console().print(rich_table)
        return
    if title:
        print(title)
    widths = [max(len(str(x)) for x in column) for column in zip(headers, *rows)]
    for row in [headers, *rows]:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip())


def when(timestamp: float | None) -> str:
    """A timestamp as local date and time, or ``-``."""
    if timestamp is None:
        return "-"
    return datetime.datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M:%S")

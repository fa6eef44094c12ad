"""How the ``ato`` command prints: rich tables on a terminal, aligned plain text when piped, and
JSON for ``--json``, shaped by the running command's struct (:mod:`ato.cli.outputs`)."""

from __future__ import annotations

import contextlib
import contextvars
import datetime
import sys
from collections.abc import Iterator
from typing import Any

__all__ = ["emit_json", "running", "table", "when"]

# The command being run, set by main: emit_json shapes what a handler gives it by that command's
# struct, so no handler can print a --json output that differs from the published schema.
_command: contextvars.ContextVar[str] = contextvars.ContextVar("ato_command", default="")


@contextlib.contextmanager
def running(command: str) -> Iterator[None]:
    """While ``ato COMMAND`` runs: what :func:`emit_json` shapes its output by."""
    token = _command.set(command)
    try:
        yield
    finally:
        _command.reset(token)


def emit_json(data: Any) -> None:
    """Print ``data`` (plain data) as the running command's ``--json`` output: converted into the
    command's struct (:mod:`ato.cli.outputs`), values as :mod:`ato.cli.json_values` writes them."""
    from ato.cli.outputs import encode

    print(encode(_command.get(), data).decode())


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

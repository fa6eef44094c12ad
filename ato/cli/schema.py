"""``ato schema [COMMAND]``: the JSON Schema of a command's ``--json`` output, for scripts.

Made by msgspec from the structs every command's output is converted into
(:mod:`ato.cli.outputs`), so it cannot drift from what the commands print.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from ato.cli.output import emit_json

__all__ = ["register"]


def register(command: Callable[[str, str, str], argparse.ArgumentParser]) -> None:
    from ato.cli.outputs import SCHEMAS

    parser = command(
        "schema", "Print the JSON Schema of a command's --json output (or of the error object).",
        "ato schema runs         # what `ato runs --json` prints\n"
        "  ato schema error        # what every command prints with --json when it fails\n"
        "  ato schema              # every one, by name",
    )
    parser.add_argument("name", nargs="?", metavar="COMMAND", choices=sorted(SCHEMAS),
                        help=f"one of {', '.join(sorted(SCHEMAS))} (default: all of them)")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace, path: Path) -> int:
    from ato.cli.outputs import SCHEMAS, json_schema

    emit_json(json_schema(args.name) if args.name else {name: json_schema(name) for name in SCHEMAS})
    return 0

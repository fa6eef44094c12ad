"""The ``ato`` command's entry point: the parser, and errors as one line and an exit status.

Every subcommand takes ``--db URL`` (default: ``ATO_DB``, then ``sqlite:///experiments.db`` in the
working directory) and ``--json``. On a terminal the output uses rich; piped, it is plain text.
A user error (a missing database, an unknown run) is one line on stderr and exit status 1;
a malformed command line is argparse's usage message and exit status 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ato._version import __version__
from ato.cli import diff, maintenance, replay, runs
from ato.errors import AtoError

__all__ = ["build_parser", "main"]

_FAMILIES = (runs, replay, diff, maintenance)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ato",
        description="Ato explains why an ML result changed: how each run's config was merged, "
        "what code and environment it ran with, and what it produced.",
        epilog="Example: ato runs; ato replay 1",
    )
    parser.add_argument("--version", action="version", version=f"ato {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--db", metavar="URL", help="database (default: $ATO_DB, else sqlite:///experiments.db)")
    common.add_argument("--json", action="store_true", help="print JSON for scripts")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    def command(name: str, help: str, example: str) -> argparse.ArgumentParser:
        return commands.add_parser(
            name, parents=[common], help=help, description=help,
            epilog=f"Example:\n  {example}", formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    for family in _FAMILIES:
        family.register(command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``ato`` command; return its exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        from ato.storage.database import database_path

        return int(args.handler(args, database_path(args.db)))
    except AtoError as exc:
        print(f"ato {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130

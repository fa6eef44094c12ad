"""The ``ato`` command's entry point: the parser, and errors as one line and an exit status.

Every subcommand takes ``--db URL`` (default: ``ATO_DB``, then ``sqlite:///experiments.db`` in the
working directory) and ``--json``. On a terminal the output uses rich; piped, it is plain text.
A user error (a missing database, an unknown run, project or key) is one line on stderr and exit
status 1; a malformed command line is argparse's usage message and exit status 2. With ``--json``
both are a JSON object on stdout instead (:class:`ato.cli.outputs.ErrorOutput`), with the same
status. A reader that stops early (``ato runs | head -1``) ends the command quietly, with the
status of a process that SIGPIPE ended (141).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from ato._version import __version__
from ato.cli import diff, export, maintenance, plot, replay, report, runs, schema, show
from ato.cli.output import running
from ato.errors import AtoError

__all__ = ["build_parser", "main"]

_FAMILIES = (runs, replay, diff, maintenance, schema, export, plot, report, show)
EXIT_ERROR, EXIT_USAGE, EXIT_INTERRUPTED, EXIT_CLOSED_PIPE = 1, 2, 130, 141


class UsageError(Exception):
    """A malformed command line (what argparse would print and exit 2 for), raised instead so
    that ``--json`` can report it as JSON."""

    def __init__(self, parser: argparse.ArgumentParser, message: str) -> None:
        super().__init__(message)
        self.parser = parser


class _Parser(argparse.ArgumentParser):
    # Subcommand parsers are made of the same class, so every usage error comes through here.
    def error(self, message: str) -> NoReturn:
        raise UsageError(self, message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="ato",
        description="Ato explains why an ML result changed: how each run's config was merged, "
        "what code and environment it ran with, and what it produced.",
        epilog="Example: ato runs; ato replay 1",
    )
    parser.add_argument("--version", action="version", version=f"ato {__version__}")
    common = _Parser(add_help=False)
    common.add_argument("--db", metavar="URL", help="database (default: $ATO_DB, else sqlite:///experiments.db)")
    common.add_argument("--json", action="store_true",
                        help="print JSON for scripts (its schema: ato schema COMMAND; errors too)")
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
    arguments = list(sys.argv[1:] if argv is None else argv)
    try:
        status = _run(arguments)
        sys.stdout.flush()  # here, not at exit, so that a closed pipe is met inside the try
        return status
    except BrokenPipeError:
        # The reader is gone (`ato runs | head -1`): nothing more can reach it. Point stdout at
        # devnull so the interpreter's own flush at exit cannot raise again (Python docs, "Note
        # on SIGPIPE").
        _stdout_to_devnull()
        return EXIT_CLOSED_PIPE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


def _run(arguments: list[str]) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(arguments)
    except UsageError as exc:
        command = exc.parser.prog.removeprefix("ato").strip() or None
        if "--json" in arguments:
            _print_error(command, "UsageError", str(exc))
        else:
            exc.parser.print_usage(sys.stderr)
            print(f"{exc.parser.prog}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.command is None:
        parser.print_help()
        return 0
    try:
        from ato.storage.database import database_path

        with running(args.command):
            return int(args.handler(args, database_path(args.db)))
    except AtoError as exc:
        if args.json:
            _print_error(args.command, type(exc).__name__, str(exc), getattr(exc, "suggestions", []))
        else:
            print(f"ato {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except (BrokenPipeError, KeyboardInterrupt):
        raise
    except Exception as exc:
        if args.json:  # a bug: scripts still get an error object; the traceback goes to stderr
            _print_error(args.command, type(exc).__name__, str(exc))
        raise


def _print_error(command: str | None, kind: str, message: str, suggestions: Sequence[str] = ()) -> None:
    from ato.cli.outputs import encode

    detail = {"command": command, "type": kind, "message": message, "suggestions": list(suggestions)}
    print(encode("error", {"error": detail}).decode())


def _stdout_to_devnull() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout has no file descriptor (captured by a test, say)
        pass

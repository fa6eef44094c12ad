"""The ``ato`` command. It only parses arguments and calls the library."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from ato._version import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ato",
        description="Ato explains why an ML result changed: how each run's config was merged, "
        "what code and environment it ran with, and what it produced.",
        epilog="Example: ato --version",
    )
    parser.add_argument("--version", action="version", version=f"ato {__version__}")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``ato`` command; return its exit status."""
    parser = build_parser()
    parser.parse_args(argv)
    parser.print_help()
    return 0

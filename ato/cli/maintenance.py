"""``ato rebuild``, ``ato verify`` and ``ato merge``: maintenance of a whole database."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from ato.cli.output import emit_json

__all__ = ["register"]


def register(command: Callable[[str, str, str], argparse.ArgumentParser]) -> None:
    command("rebuild", "Drop every projection and derive it again from the log.",
            "ato rebuild --db sqlite:///experiments.db").set_defaults(handler=rebuild)
    command("verify", "Check the log and that the projections equal a fresh derivation.",
            "ato verify              # exit 1 and a report on any problem").set_defaults(handler=verify)
    parser = command("merge", "Append the events of other databases that this one lacks.",
                     "ato merge machine_b.db rank1.db   # append their events; running it twice adds nothing")
    parser.add_argument("sources", nargs="+", metavar="SRC_DB", help="databases to merge from")
    parser.set_defaults(handler=merge)



def rebuild(args: argparse.Namespace, path: Path) -> int:
    from ato.projections.maintenance import rebuild_database

    events, seconds = rebuild_database(path)
    if args.json:
        emit_json({"events": events, "seconds": seconds})
    else:
        print(f"rebuilt the projections of {path} from {events} events in {seconds:.3f} s")
    return 0


def verify(args: argparse.Namespace, path: Path) -> int:
    from ato.projections.maintenance import verify_database

    report = verify_database(path)
    if args.json:
        emit_json({"events": report.events, "ok": report.ok, "problems": report.problems, "skipped": report.skipped})
        return 0 if report.ok else 1
    for line in report.skipped:
        print(f"skipped: {line}")
    if report.problems:
        print(f"{path}: {len(report.problems)} problem(s) in {report.events} events:")
        for problem in report.problems:
            print(f"  - {problem}")
    else:
        print(f"{path}: ok ({report.events} events; projections equal a fresh derivation)")
    return 0 if report.ok else 1


def merge(args: argparse.Namespace, path: Path) -> int:
    from ato.projections.maintenance import merge_databases
    from ato.storage.database import database_path

    results = merge_databases(path, [database_path(source) for source in args.sources])
    if args.json:
        emit_json({str(source): added for source, added in results})
    else:
        for source, added in results:
            print(f"{source}: {added} new events")
    return 0

"""``ato rebuild``, ``ato verify``, ``ato merge`` and ``ato import``: maintenance of a whole database."""

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
    parser = command("import", "Bring the runs of an ato 2.1.7 database into this Ato log (the old file is only read).",
                     "ato import old_experiments.db --db sqlite:///experiments.db   # twice adds nothing")
    parser.add_argument("source", metavar="OLD_DB", help="the ato 2.1.7 database")
    parser.set_defaults(handler=import_)



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


def import_(args: argparse.Namespace, path: Path) -> int:
    from ato.projections.maintenance import import_database
    from ato.storage.database import database_path

    source = database_path(args.source)
    runs, added = import_database(path, source)
    if args.json:
        emit_json({"source": str(source), "runs": runs, "events": added})
    else:
        print(f"{source}: {runs} runs read, {added} new events in {path}")
    return 0

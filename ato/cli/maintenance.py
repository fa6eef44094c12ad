"""``ato rebuild``, ``ato verify``, ``ato merge`` and ``ato import``: maintenance of a whole database."""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ato.cli.output import emit_json

__all__ = ["register"]

PROGRESS_AFTER_S = 1.0  # work that ends sooner shows no progress bar


class _ProgressBar:
    """A progress bar (rich, on stderr) for maintenance that runs longer than
    :data:`PROGRESS_AFTER_S`: one line per stage, each drawn from its ``(done, total)``. Called
    on the tracker's loop; rich's own lock keeps its refresh thread in step."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.bar: Any = None
        self.tasks: dict[str, Any] = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        if self.bar is None:
            if time.monotonic() - self.started < PROGRESS_AFTER_S:
                return
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
            )

            self.bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                TimeRemainingColumn(), console=Console(stderr=True), transient=True)
            self.bar.start()
        task = self.tasks.get(stage)
        if task is None:
            task = self.tasks[stage] = self.bar.add_task(stage, total=total)
        self.bar.update(task, completed=done, total=total)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


@contextlib.contextmanager
def _progress() -> Iterator[Callable[[str, int, int], None] | None]:
    """What maintenance reports its progress to: a bar on a terminal, nothing when stderr is
    piped or redirected (scripts and logs get only the result)."""
    if not sys.stderr.isatty():
        yield None
        return
    bar = _ProgressBar()
    try:
        yield bar
    finally:
        bar.close()


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

    with _progress() as progress:
        events, seconds = rebuild_database(path, progress)
    if args.json:
        emit_json({"events": events, "seconds": seconds})
    else:
        print(f"rebuilt the projections of {path} from {events} events in {seconds:.3f} s")
    return 0


def verify(args: argparse.Namespace, path: Path) -> int:
    from ato.projections.maintenance import verify_database

    with _progress() as progress:
        report = verify_database(path, progress)
    if args.json:
        emit_json({"events": report.events, "ok": report.ok, "problems": report.problems, "skipped": report.skipped,
                   "notes": report.notes})
        return 0 if report.ok else 1
    for line in report.skipped:
        print(f"skipped: {line}")
    for line in report.notes:
        print(f"note: {line}")
    if report.problems:
        print(f"{path}: {len(report.problems)} problem(s) in {report.events} events:")
        for problem in report.problems:
            print(f"  - {problem}")
    else:
        compared = "" if report.notes else "; projections equal a fresh derivation"
        print(f"{path}: ok ({report.events} events{compared})")
    return 0 if report.ok else 1


def merge(args: argparse.Namespace, path: Path) -> int:
    from ato.projections.maintenance import merge_databases
    from ato.storage.database import database_path

    with _progress() as progress:
        results = merge_databases(path, [database_path(source) for source in args.sources], progress)
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

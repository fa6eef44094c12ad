"""Maintenance of a whole database: ``rebuild`` the projections, ``verify`` the log and the
projections, ``merge`` the logs of other machines or ranks. What ``ato rebuild``, ``ato verify``
and ``ato merge`` run; each is a plain function that returns data, run on the tracker's loop.

Each streams the log in pages bounded in rows and bytes (memory stays flat however large the
log) and decodes every event once. Each takes an optional ``progress(stage, done, total)``
callback, called on the tracker's loop after every page with counts that only grow and end at
``total`` (events of the log being read; tables, while ``verify`` compares them): the CLI draws
its progress bar with it.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import msgspec

from ato.errors import DatabaseError
from ato.events.codec import EVENT_TYPES, decode_event
from ato.projections.projector import Projector
from ato.projections.queries import Queries
from ato.projections.tables import TABLES
from ato.storage import loop
from ato.storage.database import connect, transaction, translate_errors
from ato.storage.legacy import LegacyDatabase
from ato.storage.log import SQLiteEventLog, event_tag
from ato.storage.store import Store

__all__ = ["Progress", "Verification", "import_database", "merge_databases", "open_store", "rebuild_database", "verify_database"]

_KNOWN_TAGS = {cls.__struct_config__.tag for cls in EVENT_TYPES}

Progress = Callable[[str, int, int], None]
"""``progress(stage, done, total)``: how far a maintenance command has got (see the module)."""


class _Stage:
    """Reports one stage's progress: ``done`` never goes back, ``total`` grows to cover it (a
    log read inside a write transaction can hold more events than were counted before it), and
    :meth:`finish` reports the end."""

    def __init__(self, progress: Progress | None, stage: str, total: int) -> None:
        self.progress, self.stage, self.done, self.total = progress, stage, 0, total

    def __call__(self, done: int) -> None:
        self.done = max(self.done, done)
        self.total = max(self.total, self.done)
        if self.progress is not None:
            self.progress(self.stage, self.done, self.total)

    def finish(self) -> None:
        self(self.total)


async def open_store(path: Path, *, must_exist: bool = False) -> Store:
    """Open the store at ``path`` with the tables projector, caught up."""
    return await Store.open(path, Projector, must_exist=must_exist)


async def _rebuild(path: Path, progress: Progress | None) -> tuple[int, float]:
    store = await open_store(path, must_exist=True)
    try:
        start = time.perf_counter()
        stage = _Stage(progress, "rebuilding the projections", await store.log.last_seq())
        with store.log.reporting(stage):
            count = await store.rebuild()
        stage.finish()
        return count, time.perf_counter() - start
    finally:
        await store.close()


def rebuild_database(path: Path, progress: Progress | None = None) -> tuple[int, float]:
    """Drop and re-derive every projection; returns (events applied, seconds)."""
    return loop.call(_rebuild, path, progress)


async def _merge(path: Path, sources: Sequence[Path], progress: Progress | None) -> list[tuple[Path, int]]:
    for source in sources:
        if not source.exists():
            raise DatabaseError(source, "no such database to merge from")
    logs: list[SQLiteEventLog] = []
    try:
        for source in sources:  # every source checked (and opened read-only) before the target
            logs.append(await SQLiteEventLog.open_read_only(source))
        store = await open_store(path)
        try:
            added = []
            for source, log in zip(sources, logs):
                stage = _Stage(progress, f"merging {source.name}", await log.last_seq())
                with log.reporting(stage):
                    added.append((source, await store.merge(log)))
                stage.finish()
            return added
        finally:
            await store.close()
    finally:
        for log in logs:
            await log.close()


async def _import(path: Path, source: Path) -> tuple[int, int]:
    if not source.exists():
        raise DatabaseError(source, "no such database to import")
    legacy = await anyio.to_thread.run_sync(LegacyDatabase, source)
    added = 0
    try:
        runs = await anyio.to_thread.run_sync(legacy.runs)
        store = await open_store(path)
        try:
            queries = Queries(store.log)
            added += await store.append_missing(await anyio.to_thread.run_sync(legacy.projects))
            for run in runs:  # one run, and one chunk of points, at a time: memory stays flat
                added += await store.append_missing([run.started])
                chunks = legacy.metrics(run, await queries.points_of(run.uid))
                while (chunk := await anyio.to_thread.run_sync(next, chunks, None)) is not None:
                    added += await store.append_missing([chunk])
                added += await store.append_missing(await anyio.to_thread.run_sync(legacy.records, run))
        finally:
            await store.close()
    finally:
        legacy.close()
    return len(runs), added


def import_database(path: Path, source: Path) -> tuple[int, int]:
    """Append the runs of the ato 2.1.7 database ``source`` to the log at ``path``; returns (runs
    read, events added). The source is only read; importing it again adds nothing."""
    return loop.call(_import, path, source)


def merge_databases(
    path: Path, sources: Sequence[Path], progress: Progress | None = None
) -> list[tuple[Path, int]]:
    """Append the events of ``sources`` that ``path`` lacks; returns how many each added."""
    return loop.call(_merge, path, sources, progress)


@dataclass
class Verification:
    """What ``ato verify`` found: ``problems`` (damage: exit status 1) and ``skipped`` (events
    this version cannot decode, each by sequence number; projections pass over them)."""

    events: int
    problems: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # neither damage nor skipped: worth knowing

    @property
    def ok(self) -> bool:
        return not self.problems


async def _verify(path: Path, progress: Progress | None) -> Verification:
    log = await SQLiteEventLog.open_read_only(path)
    try:
        with tempfile.TemporaryDirectory(prefix="ato-verify-") as folder:
            fresh_path = Path(folder) / "fresh.db"
            fresh = await connect(fresh_path)
            try:
                await fresh.execute("PRAGMA journal_mode=OFF")  # a scratch file, thrown away after
                await fresh.execute("PRAGMA synchronous=OFF")
                projector = Projector(fresh)
                async with transaction(fresh, fresh_path):
                    await projector.create_tables()
                with translate_errors(path):
                    await log.connection.execute("ATTACH DATABASE ? AS fresh", (f"file:{fresh_path}?mode=ro",))
                    try:
                        async with log.snapshot():  # the log and the projections as of one moment
                            report = await _check_log(log, projector, fresh_path, progress)
                            if await Projector(log.connection).stale():
                                report.notes.append(
                                    "the projections were derived by an earlier Ato, in another layout: they are "
                                    "derived again when a logger next opens this file (or by `ato rebuild`); "
                                    "the log was checked, the projections were not compared"
                                )
                            else:
                                report.problems += await _compare_projections(Queries(log), report.events, progress)
                    finally:
                        await log.connection.execute("DETACH DATABASE fresh")
            finally:
                await fresh.close()
    finally:
        await log.close()
    return report


async def _check_log(log: SQLiteEventLog, fresh: Projector, fresh_path: Path, progress: Progress | None) -> Verification:
    """Check every stored event, and derive the projections afresh (into the scratch file at
    ``fresh_path``) from those that decode: each is decoded once and applied as it is; the
    scratch file holds only projections, never a second copy of the log."""
    report = Verification(0)
    previous = 0
    stage = _Stage(progress, "checking the log", await log.last_seq())
    async with transaction(fresh.connection, fresh_path):
        async for row in log.read_rows(0, on_page=stage):
            report.events += 1
            if row.seq != previous + 1:
                report.problems.append(f"sequence jumps from {previous} to {row.seq}")
            previous = row.seq
            try:
                event = decode_event(row.payload)
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                known = row.type in _KNOWN_TAGS
                reason = f"damaged payload ({exc})" if known else f"type {row.type!r} is unknown to this Ato (a newer version's?)"
                (report.problems if known else report.skipped).append(f"event {row.seq}: {reason}; projections skip it")
                continue
            if (event.event_id, event.run, event_tag(event)) != (row.event_id, row.run, row.type):
                report.problems.append(f"event {row.seq}: envelope does not match its payload")
            await fresh.apply(event, row.seq)  # no position: nothing reads the fresh one
    stage.finish()
    report.problems += fresh.damaged  # metric series that do not decode (each decoded once, here)
    return report


async def _compare_projections(queries: Queries, events: int, progress: Progress | None) -> list[str]:
    """The projections against the fresh derivation attached as ``fresh``."""
    missing = await queries.missing_tables()
    if missing:
        return [f"no projection tables ({', '.join(missing)}): run `ato rebuild`"]
    problems = []
    last, position = await queries.log.last_seq(), await queries.position()
    if events and position != last:
        problems.append(f"projections are at event {position} of {last}")
    tables = [table for table in TABLES if table != "projection_position"]  # that one: checked above
    stage = _Stage(progress, "comparing the projections", len(tables))
    for done, table in enumerate(tables, 1):
        extra, lacking = await _rows_differing(queries, table)
        for count, what in ((extra, "not in a fresh derivation"), (lacking, "missing")):
            if count:
                problems.append(f"projection {table}: {count} rows {what}")
        stage(done)
    stage.finish()
    return problems


async def _rows_differing(queries: Queries, table: str) -> tuple[int, int]:
    """How many rows of ``table`` are not in the fresh derivation, and how many of the fresh
    one's are not in it: the two sides of an ``EXCEPT``, counted by primary key instead, so that
    each row (metric chunks: megabytes of packed points) is read and compared once, not sorted
    twice into temporary trees."""
    assert table in TABLES  # a name of ours, never user input
    connection = queries.log.connection
    async with connection.execute(f"PRAGMA fresh.table_info({table})") as cursor:
        columns = [(row[1], row[5]) for row in await cursor.fetchall()]  # (name, place in the key)
    key = [name for name, place in sorted(columns, key=lambda c: c[1]) if place]
    if not key:  # no primary key to pair rows by: compare them as sets
        return await queries.rows_not_in(table, "main", "fresh"), await queries.rows_not_in(table, "fresh", "main")
    same_key = " AND ".join(f"a.{name} = b.{name}" for name in key)
    differs = " OR ".join(f"a.{name} IS NOT b.{name}" for name, place in columns if not place) or "0"
    counts = []
    for sql in (
        f"SELECT COUNT(*) FROM main.{table} AS a WHERE NOT EXISTS (SELECT 1 FROM fresh.{table} AS b WHERE {same_key})",
        f"SELECT COUNT(*) FROM fresh.{table} AS a WHERE NOT EXISTS (SELECT 1 FROM main.{table} AS b WHERE {same_key})",
        f"SELECT COUNT(*) FROM main.{table} AS a JOIN fresh.{table} AS b ON {same_key} WHERE {differs}",
    ):
        async with connection.execute(sql) as cursor:
            row = await cursor.fetchone()
        counts.append(int(row[0]) if row else 0)
    unpaired, missing, changed = counts
    return unpaired + changed, missing + changed


def verify_database(path: Path, progress: Progress | None = None) -> Verification:
    """Check the log (sequence, ids, payloads) and that projections equal a fresh derivation,
    at one snapshot; the file is opened read-only."""
    return loop.call(_verify, path, progress)

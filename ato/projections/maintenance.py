"""Maintenance of a whole database: ``rebuild`` the projections, ``verify`` the log and the
projections, ``merge`` the logs of other machines or ranks. What ``ato rebuild``, ``ato verify``
and ``ato merge`` run; each is a plain function that returns data, run on the tracker's loop.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import msgspec

from ato.errors import DatabaseError
from ato.events.codec import EVENT_TYPES, decode_event
from ato.events.types import Event
from ato.projections.projector import Projector
from ato.projections.queries import Queries
from ato.projections.tables import TABLES
from ato.storage import loop
from ato.storage.database import translate_errors
from ato.storage.legacy import LegacyDatabase
from ato.storage.log import SQLiteEventLog, event_tag
from ato.storage.store import Store

__all__ = ["Verification", "import_database", "merge_databases", "open_store", "rebuild_database", "verify_database"]

_KNOWN_TAGS = {cls.__struct_config__.tag for cls in EVENT_TYPES}


async def open_store(path: Path, *, must_exist: bool = False) -> Store:
    """Open the store at ``path`` with the tables projector, caught up."""
    return await Store.open(path, Projector, must_exist=must_exist)


async def _rebuild(path: Path) -> tuple[int, float]:
    store = await open_store(path, must_exist=True)
    try:
        start = time.perf_counter()
        count = await store.rebuild()
        return count, time.perf_counter() - start
    finally:
        await store.close()


def rebuild_database(path: Path) -> tuple[int, float]:
    """Drop and re-derive every projection; returns (events applied, seconds)."""
    return loop.call(_rebuild, path)


async def _merge(path: Path, sources: Sequence[Path]) -> list[tuple[Path, int]]:
    for source in sources:
        if not source.exists():
            raise DatabaseError(source, "no such database to merge from")
    logs: list[SQLiteEventLog] = []
    try:
        for source in sources:  # every source checked (and opened read-only) before the target
            logs.append(await SQLiteEventLog.open_read_only(source))
        store = await open_store(path)
        try:
            return [(source, await store.merge(log)) for source, log in zip(sources, logs)]
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


def merge_databases(path: Path, sources: Sequence[Path]) -> list[tuple[Path, int]]:
    """Append the events of ``sources`` that ``path`` lacks; returns how many each added."""
    return loop.call(_merge, path, sources)


@dataclass
class Verification:
    """What ``ato verify`` found: ``problems`` (damage: exit status 1) and ``skipped`` (events
    this version cannot decode, each by sequence number; projections pass over them)."""

    events: int
    problems: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


async def _verify(path: Path) -> Verification:
    log = await SQLiteEventLog.open_read_only(path)
    try:
        with tempfile.TemporaryDirectory(prefix="ato-verify-") as folder:
            fresh_path = Path(folder) / "fresh.db"
            fresh = await open_store(fresh_path)
            try:
                with translate_errors(path):
                    await log.connection.execute("ATTACH DATABASE ? AS fresh", (f"file:{fresh_path}?mode=ro",))
                    try:
                        async with log.snapshot():  # the log and the projections as of one moment
                            report = await _check_log(log, fresh)
                            report.problems += await _compare_projections(Queries(log), report.events)
                    finally:
                        await log.connection.execute("DETACH DATABASE fresh")
            finally:
                await fresh.close()
    finally:
        await log.close()
    return report


async def _check_log(log: SQLiteEventLog, fresh: Store) -> Verification:
    """Check every stored event and derive the projections afresh from those that decode."""
    report = Verification(0)
    previous = 0
    batch: list[Event] = []
    async for row in log.read_rows(0):
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
        batch.append(event)
        if len(batch) >= 2000:
            await fresh.append(batch)
            batch = []
    await fresh.append(batch)
    return report


async def _compare_projections(queries: Queries, events: int) -> list[str]:
    """The projections against the fresh derivation attached as ``fresh``."""
    missing = await queries.missing_tables()
    if missing:
        return [f"no projection tables ({', '.join(missing)}): run `ato rebuild`"]
    problems = []
    last, position = await queries.log.last_seq(), await queries.position()
    if events and position != last:
        problems.append(f"projections are at event {position} of {last}")
    for table in TABLES:
        if table == "projection_position":  # checked against the log itself, above
            continue
        for a, b, what in (("main", "fresh", "not in a fresh derivation"), ("fresh", "main", "missing")):
            differing = await queries.rows_not_in(table, a, b)
            if differing:
                problems.append(f"projection {table}: {differing} rows {what}")
    return problems


def verify_database(path: Path) -> Verification:
    """Check the log (sequence, ids, payloads) and that projections equal a fresh derivation,
    at one snapshot; the file is opened read-only."""
    return loop.call(_verify, path)

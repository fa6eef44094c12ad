"""The store: the event log and its projections in one SQLite file, changed together.

Every append is one transaction that writes the events *and* brings the projections up to date,
so a reader never sees an event that the tables do not reflect, and a crash leaves both or
neither. When no other process appended since this one last projected, the events just written
are applied from memory instead of being read back.

The store knows projections only through the small :class:`Projection` interface (the tables
projector of :mod:`ato.projections` implements it), so storage never imports the layers above it.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Protocol

import aiosqlite

from ato.errors import DatabaseError
from ato.events.types import Event
from ato.storage.log import PAGE_BYTES, RawEvent, SQLiteEventLog, StoredEvent, raw_event

__all__ = ["Projection", "Store"]


class Projection(Protocol):
    """What the store needs of a projection: each method runs inside the store's transaction."""

    async def create_tables(self) -> None: ...
    async def position(self) -> int: ...
    async def apply_all(self, stored: Sequence[StoredEvent]) -> int: ...
    async def catch_up(self, log: SQLiteEventLog) -> int: ...
    async def rebuild(self, log: SQLiteEventLog) -> int: ...
    def rolled_back(self) -> None:
        """Forget whatever was cached inside a transaction that did not commit."""


class Store:
    """An open database: ``append`` events, ``merge`` other logs, ``rebuild`` projections."""

    def __init__(self, log: SQLiteEventLog, projection: Projection) -> None:
        self.log = log
        self.path = log.path
        self.projection = projection

    @classmethod
    async def open(
        cls, path: Path, projection: Callable[[aiosqlite.Connection], Projection], *, must_exist: bool = False
    ) -> Store:
        """Open the store at ``path`` (created unless ``must_exist``) and bring it up to date."""
        if must_exist and not path.exists():
            raise DatabaseError(path, "no Ato database here (run a tracked script first, or pass --db)")
        log = await SQLiteEventLog.open(path)
        store = cls(log, projection(log.connection))
        try:
            async with log.transaction():
                await store.projection.create_tables()
                await store.projection.catch_up(log)
        except BaseException:
            await log.close()
            raise
        return store

    async def close(self) -> None:
        await self.log.close()

    @contextlib.asynccontextmanager
    async def _changing(self) -> AsyncIterator[None]:
        """A write transaction; if it does not commit, the projection forgets what it cached."""
        try:
            async with self.log.transaction():
                yield
        except BaseException:
            self.projection.rolled_back()
            raise

    async def append(self, events: Sequence[Event]) -> list[StoredEvent]:
        """Append ``events`` and project them, atomically."""
        if not events:
            return []
        async with self._changing():
            caught_up = await self.projection.position() == await self.log.last_seq()
            stored = await self.log.append(events)
            if caught_up:
                await self.projection.apply_all(stored)
            else:
                await self.projection.catch_up(self.log)
        return stored

    async def append_missing(self, events: Sequence[Event] | Sequence[RawEvent]) -> int:
        """Append those of ``events`` (decoded, or rows of another log) this log does not hold
        yet, by event id, in their order, atomically; returns how many. Merges and imports are
        idempotent through it."""
        if not events:
            return 0
        async with self._changing():
            missing = await self.log.missing(event.event_id for event in events)
            rows = [raw_event(e) if isinstance(e, Event) else e for e in events if e.event_id in missing]
            if rows:
                await self.log.append_raw(rows)
                await self.projection.catch_up(self.log)
        return len(rows)

    async def merge(self, source: Path | SQLiteEventLog) -> int:
        """Append the events of the log at ``source`` that this log lacks, in their order. The
        source is read read-only, at one snapshot; events this version cannot decode are copied
        as they are."""
        other = source if isinstance(source, SQLiteEventLog) else await SQLiteEventLog.open_read_only(source)
        added = 0
        try:
            async with other.snapshot():
                batch: list[RawEvent] = []
                size = 0
                async for row in other.read_rows(0):
                    batch.append(row)
                    size += len(row.payload)
                    if len(batch) >= 2000 or size >= PAGE_BYTES:  # memory stays flat
                        added += await self.append_missing(batch)
                        batch, size = [], 0
                added += await self.append_missing(batch)
        finally:
            if other is not source:
                await other.close()
        return added

    async def rebuild(self) -> int:
        """Drop and re-derive every projection; returns the number of events applied."""
        async with self._changing():
            return await self.projection.rebuild(self.log)

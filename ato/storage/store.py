"""The store: the event log and its projections in one SQLite file, changed together.

Every append is one transaction that writes the events *and* brings the projections up to date,
so a reader never sees an event that the tables do not reflect, and a crash leaves both or
neither. When no other process appended since this one last projected, the events just written
are applied from memory instead of being read back.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ato.errors import DatabaseError
from ato.storage.log import SQLiteEventLog, StoredEvent
from ato.events.types import (
    Event,
    HalvingDecided,
    MergeCompleted,
    MergeStarted,
    MergeStepApplied,
    SearchFinished,
    SearchStarted,
    TrialRecorded,
)
from ato.projections.projector import Projector

__all__ = ["Store"]


class Store:
    """An open database: ``append`` events, ``merge`` other logs, ``rebuild`` projections."""

    def __init__(self, log: SQLiteEventLog) -> None:
        self.log = log
        self.path = log.path
        self.projector = Projector(log.connection)

    @classmethod
    async def open(cls, path: Path) -> Store:
        log = await SQLiteEventLog.open(path)
        store = cls(log)
        try:
            async with log.transaction():
                await store.projector.create_tables()
                await store.projector.catch_up(log)
        except BaseException:
            await log.close()
            raise
        return store

    @classmethod
    async def open_existing(cls, path: Path) -> Store:
        """Open a database that must already exist (readers must not create empty ones)."""
        if not path.exists():
            raise DatabaseError(path, "no Ato database here (run a tracked script first, or pass --db)")
        return await cls.open(path)

    async def close(self) -> None:
        await self.log.close()

    async def run_events(self, uid: str) -> tuple[dict[str, list[Event]], dict[str, list[Event]]]:
        """A run's merge events by scope, and its search events by search id, in log order."""
        scopes: dict[str, list[Event]] = {}
        searches: dict[str, list[Event]] = {}
        async for stored in self.log.read(run=uid):
            event = stored.event
            if isinstance(event, (MergeStarted, MergeStepApplied, MergeCompleted)):
                scopes.setdefault(event.scope, []).append(event)
            elif isinstance(event, (SearchStarted, TrialRecorded, HalvingDecided, SearchFinished)):
                searches.setdefault(event.search, []).append(event)
        return scopes, searches

    async def append(self, events: Sequence[Event]) -> list[StoredEvent]:
        """Append ``events`` and project them, atomically."""
        if not events:
            return []
        try:
            async with self.log.transaction():
                caught_up = await self.projector.position() == await self.log.last_seq()
                stored = await self.log.append(events)
                if caught_up:
                    await self.projector.apply_all(stored)
                else:
                    await self.projector.catch_up(self.log)
        except BaseException:
            self.projector._run_ids.clear()  # ids cached inside a rolled-back transaction
            raise
        return stored

    async def merge(self, source: Path) -> int:
        """Append the events of the log at ``source`` that this log lacks, in their order."""
        other = await SQLiteEventLog.open(source)
        added = 0
        try:
            batch = []
            async for stored in other.read(0):
                batch.append(stored.event)
                if len(batch) >= 2000:
                    added += await self._append_missing(batch)
                    batch = []
            added += await self._append_missing(batch)
        finally:
            await other.close()
        return added

    async def _append_missing(self, events: list[Event]) -> int:
        if not events:
            return 0
        async with self.log.transaction():
            missing = await self.log.missing(e.event_id for e in events)
            fresh = [e for e in events if e.event_id in missing]
            if fresh:
                await self.log.append(fresh)
                await self.projector.catch_up(self.log)
        return len(fresh)

    async def rebuild(self) -> int:
        """Drop and re-derive every projection; returns the number of events applied."""
        async with self.log.transaction():
            return await self.projector.rebuild(self.log)

    async def run_id(self, uid: str) -> int | None:
        return await self.projector.run_id(uid)

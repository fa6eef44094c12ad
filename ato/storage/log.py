"""The append-only event log, in SQLite through aiosqlite.

One table: a global sequence, the event's unique id, envelope columns (run, type, time) and the
msgpack payload. Triggers make the database itself refuse UPDATE and DELETE on it. The log
``append``s and ``read``s; it never interprets events (projections do).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiosqlite

from ato.events.codec import decode_event, encode_event
from ato.events.types import Event
from ato.storage.database import connect, transaction

__all__ = ["SCHEMA", "SQLiteEventLog", "StoredEvent", "event_tag"]

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS events (
        seq INTEGER PRIMARY KEY,
        event_id TEXT NOT NULL UNIQUE,
        run TEXT NOT NULL,
        type TEXT NOT NULL,
        at REAL NOT NULL,
        payload BLOB NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS events_by_run ON events (run, seq)",
    """CREATE TRIGGER IF NOT EXISTS events_are_never_updated BEFORE UPDATE ON events
    BEGIN SELECT RAISE(ABORT, 'the ato event log is append-only'); END""",
    """CREATE TRIGGER IF NOT EXISTS events_are_never_deleted BEFORE DELETE ON events
    BEGIN SELECT RAISE(ABORT, 'the ato event log is append-only'); END""",
)


def event_tag(event: Event) -> str:
    return type(event).__struct_config__.tag  # type: ignore[return-value]


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event with its position in this log."""

    seq: int
    event: Event


class SQLiteEventLog:
    """The log in one SQLite file; safe for several processes appending at once (WAL)."""

    def __init__(self, connection: aiosqlite.Connection, path: Path) -> None:
        self.connection = connection
        self.path = path

    @classmethod
    async def open(cls, path: Path) -> SQLiteEventLog:
        """Open (creating if needed) the log at ``path``."""
        connection = await connect(path)
        log = cls(connection, path)
        try:
            async with log.transaction():  # statement by statement: executescript would commit
                for statement in SCHEMA:
                    await connection.execute(statement)
        except BaseException:
            await connection.close()
            raise
        return log

    async def close(self) -> None:
        await self.connection.close()

    def transaction(self):  # type: ignore[no-untyped-def]
        """An immediate (write-locking) transaction; appends and projections share it."""
        return transaction(self.connection, self.path)

    async def last_seq(self) -> int:
        async with self.connection.execute("SELECT COALESCE(MAX(seq), 0) FROM events") as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row else 0

    async def append(self, events: Sequence[Event]) -> list[StoredEvent]:
        """Append ``events`` in order; call inside :meth:`transaction`. Returns them with seqs."""
        first = await self.last_seq() + 1
        await self.connection.executemany(
            "INSERT INTO events (seq, event_id, run, type, at, payload) VALUES (?, ?, ?, ?, ?, ?)",
            [
                (first + i, e.event_id, e.run, event_tag(e), e.at, encode_event(e))
                for i, e in enumerate(events)
            ],
        )
        return [StoredEvent(first + i, e) for i, e in enumerate(events)]

    async def missing(self, event_ids: Iterable[str]) -> set[str]:
        """Which of ``event_ids`` this log does not hold yet."""
        wanted = set(event_ids)
        held: set[str] = set()
        ids = list(wanted)
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            async with self.connection.execute(
                f"SELECT event_id FROM events WHERE event_id IN ({marks})", chunk
            ) as cursor:
                held.update(row[0] for row in await cursor.fetchall())
        return wanted - held

    async def read(
        self, after: int = 0, *, run: str | None = None, batch: int = 2000
    ) -> AsyncIterator[StoredEvent]:
        """Events with ``seq > after`` in order (only ``run``'s, if given), decoded."""
        async for seq, payload in self.read_raw(after, run=run, batch=batch):
            yield StoredEvent(seq, decode_event(payload))

    async def read_envelopes(self) -> AsyncIterator[tuple[Any, ...]]:
        """Every ``(seq, event_id, run, type, payload)`` row in order, undecoded (for ``verify``)."""
        async with self.connection.execute(
            "SELECT seq, event_id, run, type, payload FROM events ORDER BY seq"
        ) as cursor:
            async for row in cursor:
                yield tuple(row)

    async def read_raw(
        self, after: int = 0, *, run: str | None = None, batch: int = 2000
    ) -> AsyncIterator[tuple[int, bytes]]:
        """``(seq, payload)`` pairs with ``seq > after``, in order, undecoded."""
        where = "seq > ?" + (" AND run = ?" if run is not None else "")
        while True:
            params = (after, run) if run is not None else (after,)
            async with self.connection.execute(
                f"SELECT seq, payload FROM events WHERE {where} ORDER BY seq LIMIT {batch}", params
            ) as cursor:
                rows = list(await cursor.fetchall())
            for seq, payload in rows:
                yield seq, payload
            if len(rows) < batch:
                return
            after = rows[-1][0]

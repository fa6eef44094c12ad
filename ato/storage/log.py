"""The append-only event log, in SQLite through aiosqlite.

One table: a global sequence, the event's unique id, envelope columns (run, type, time) and the
msgpack payload. Triggers make the database itself refuse UPDATE and DELETE on it. The log
``append``s and ``read``s; it never interprets events (projections do).

Reading tolerates what it finds: an event this version cannot decode (a type written by a newer
Ato, a damaged payload) is skipped by :meth:`SQLiteEventLog.read` and counted in ``skipped``;
``ato verify`` reports each by its sequence number, and ``ato merge`` copies it untouched.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiosqlite
import msgspec

from ato.errors import DatabaseError
from ato.events.codec import decode_event, encode_event
from ato.events.types import Event
from ato.storage.database import (
    FORMAT_VERSION,
    connect,
    connect_read_only,
    transaction,
)

__all__ = ["PAGE_BYTES", "SCHEMA", "RawEvent", "SQLiteEventLog", "StoredEvent", "event_tag", "raw_event"]

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

PAGE_BYTES = 8 << 20  # of payload read at a time; a metrics event of 500,000 points is about 14 MB


def event_tag(event: Event) -> str:
    return type(event).__struct_config__.tag  # type: ignore[return-value]


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event with its position in this log."""

    seq: int
    event: Event


@dataclass(frozen=True, slots=True)
class RawEvent:
    """A stored row as it is, undecoded: what ``verify`` checks and ``merge`` copies."""

    seq: int
    event_id: str
    run: str
    type: str
    at: float
    payload: bytes


def raw_event(event: Event) -> RawEvent:
    """``event`` as a row to store (its seq is given when it is appended)."""
    return RawEvent(0, event.event_id, event.run, event_tag(event), event.at, encode_event(event))


class SQLiteEventLog:
    """The log in one SQLite file; safe for several processes appending at once (WAL)."""

    def __init__(self, connection: aiosqlite.Connection, path: Path, *, read_only: bool = False) -> None:
        self.connection = connection
        self.path = path
        self.read_only = read_only
        self.skipped = 0  # events :meth:`read` could not decode and passed over
        # Set only inside :meth:`reporting`, for reads made by code that cannot pass ``on_page``.
        self._on_page: Callable[[int], None] | None = None

    @classmethod
    async def open(cls, path: Path) -> SQLiteEventLog:
        """Open (creating if needed) the log at ``path`` for appending."""
        connection = await connect(path)
        log = cls(connection, path)
        try:
            async with log.transaction():  # statement by statement: executescript would commit
                for statement in SCHEMA:
                    await connection.execute(statement)
                async with connection.execute("PRAGMA user_version") as cursor:
                    row = await cursor.fetchone()
                if not row or row[0] < FORMAT_VERSION:
                    await connection.execute(f"PRAGMA user_version = {FORMAT_VERSION}")
        except BaseException:
            await connection.close()
            raise
        return log

    @classmethod
    async def open_read_only(cls, path: Path) -> SQLiteEventLog:
        """Open an existing log read-only (SQLite ``mode=ro``): it is never created or changed."""
        return cls(await connect_read_only(path), path, read_only=True)

    async def close(self) -> None:
        await self.connection.close()

    def transaction(self):  # type: ignore[no-untyped-def]
        """An immediate (write-locking) transaction; appends and projections share it."""
        if self.read_only:
            raise DatabaseError(self.path, "opened read-only: this command does not write")
        return transaction(self.connection, self.path)

    def snapshot(self):  # type: ignore[no-untyped-def]
        """A read transaction: every read inside it sees the file as of its first read."""
        return transaction(self.connection, self.path, begin="BEGIN")

    async def last_seq(self) -> int:
        async with self.connection.execute("SELECT COALESCE(MAX(seq), 0) FROM events") as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row else 0

    async def append(self, events: Sequence[Event]) -> list[StoredEvent]:
        """Append ``events`` in order; call inside :meth:`transaction`. Returns them with seqs."""
        first = await self.append_raw([raw_event(event) for event in events])
        return [StoredEvent(first + i, e) for i, e in enumerate(events)]

    async def _rows_where_in(self, select: str, column: str, values: Sequence[Any]) -> list[Any]:
        """The rows of ``select`` whose ``column`` is one of ``values``, asked 500 at a time
        (SQLite limits the parameters of one statement)."""
        rows: list[Any] = []
        for start in range(0, len(values), 500):
            chunk = list(values[start : start + 500])
            marks = ",".join("?" * len(chunk))
            async with self.connection.execute(f"{select} WHERE {column} IN ({marks})", chunk) as cursor:
                rows += await cursor.fetchall()
        return rows

    async def payloads(self, seqs: Sequence[int]) -> dict[int, bytes]:
        """The stored payloads of the events at ``seqs``, undecoded, by seq (those that exist)."""
        rows = await self._rows_where_in("SELECT seq, payload FROM events", "seq", sorted(set(seqs)))
        return {int(seq): payload for seq, payload in rows}

    async def events_by_id(self, event_ids: Iterable[str]) -> list[Event]:
        """The events of ``event_ids`` this log holds, decoded, in log order; one that does not
        decode is skipped and counted in :attr:`skipped`, as :meth:`read` does."""
        rows = await self._rows_where_in("SELECT seq, payload FROM events", "event_id", sorted(set(event_ids)))
        events = []
        for _, payload in sorted(rows):
            try:
                events.append(decode_event(payload))
            except (msgspec.DecodeError, msgspec.ValidationError):
                self.skipped += 1
        return events

    async def missing(self, event_ids: Iterable[str]) -> set[str]:
        """Which of ``event_ids`` this log does not hold yet."""
        wanted = set(event_ids)
        held = await self._rows_where_in("SELECT event_id FROM events", "event_id", list(wanted))
        return wanted - {row[0] for row in held}

    async def append_raw(self, rows: Sequence[RawEvent]) -> int:
        """Append rows in order with new seqs (theirs, from another log, are ignored); call
        inside :meth:`transaction`. Returns the first new seq."""
        first = await self.last_seq() + 1
        await self.connection.executemany(
            "INSERT INTO events (seq, event_id, run, type, at, payload) VALUES (?, ?, ?, ?, ?, ?)",
            [(first + i, r.event_id, r.run, r.type, r.at, r.payload) for i, r in enumerate(rows)],
        )
        return first

    @contextmanager
    def reporting(self, on_page: Callable[[int], None]) -> Iterator[None]:
        """Within the block, every read of this log tells ``on_page`` the last sequence of each
        page it goes through (as if passed ``on_page=``): for reads made on one's behalf, by
        :class:`~ato.storage.store.Store`'s merge or rebuild. Reset on the way out."""
        previous, self._on_page = self._on_page, on_page
        try:
            yield
        finally:
            self._on_page = previous

    async def read(
        self, after: int = 0, *, run: str | None = None, batch: int = 2000,
        on_page: Callable[[int], None] | None = None,
    ) -> AsyncIterator[StoredEvent]:
        """Events with ``seq > after`` in order (only ``run``'s, if given), decoded; an event
        that cannot be decoded is skipped and counted in :attr:`skipped`. ``on_page``: see
        :meth:`_pages`."""
        async for seq, payload in self.read_raw(after, run=run, batch=batch, on_page=on_page):
            try:
                event = decode_event(payload)
            except (msgspec.DecodeError, msgspec.ValidationError):
                self.skipped += 1
                continue
            yield StoredEvent(seq, event)

    async def read_rows(
        self, after: int = 0, *, batch: int = 2000, on_page: Callable[[int], None] | None = None
    ) -> AsyncIterator[RawEvent]:
        """Every stored row with ``seq > after`` in order, undecoded. ``on_page``: see :meth:`_pages`."""
        async for rows in self._pages("seq, event_id, run, type, at, payload", after, None, batch, on_page):
            for row in rows:
                yield RawEvent(*row)

    async def read_raw(
        self, after: int = 0, *, run: str | None = None, batch: int = 2000,
        on_page: Callable[[int], None] | None = None,
    ) -> AsyncIterator[tuple[int, bytes]]:
        """``(seq, payload)`` pairs with ``seq > after``, in order, undecoded. ``on_page``: see
        :meth:`_pages`."""
        async for rows in self._pages("seq, payload", after, run, batch, on_page):
            for seq, payload in rows:
                yield seq, payload

    async def _pages(
        self, columns: str, after: int, run: str | None, batch: int, on_page: Callable[[int], None] | None
    ) -> AsyncIterator[list[Any]]:
        """Rows with ``seq > after`` (only ``run``'s, if given), page by page: at most ``batch``
        rows and :data:`PAGE_BYTES` of payload a page (or one row, however large), so memory stays
        flat whatever the events hold. The sizes come first: SQLite reads a blob's length without
        its content. After each page, ``on_page`` (or, if none, the one set by :meth:`reporting`) is
        told the last sequence read: what maintenance shows its progress by."""
        on_page = on_page if on_page is not None else self._on_page
        where = " AND run = ?" if run is not None else ""
        extra = (run,) if run is not None else ()
        while True:
            async with self.connection.execute(
                f"SELECT seq, length(payload) FROM events WHERE seq > ?{where} ORDER BY seq LIMIT {int(batch)}",
                (after, *extra),
            ) as cursor:
                sizes = list(await cursor.fetchall())
            if not sizes:
                return
            last, total = sizes[0][0], 0
            for seq, size in sizes:
                total += size or 0
                if total > PAGE_BYTES and seq != sizes[0][0]:
                    break
                last = seq
            async with self.connection.execute(
                f"SELECT {columns} FROM events WHERE seq > ? AND seq <= ?{where} ORDER BY seq", (after, last, *extra)
            ) as cursor:
                rows = list(await cursor.fetchall())
            yield rows
            if on_page is not None:
                on_page(last)
            if last == sizes[-1][0] and len(sizes) < batch:
                return
            after = last

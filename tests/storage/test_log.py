"""The append-only log: the database refuses changes, ids are unique, reads keep order."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import anyio
import pytest

from ato.errors import AppendOnlyError
from ato.events.types import RunStatusChanged
from ato.storage.log import SQLiteEventLog

# These tests use the log alone: their files hold no projections for `ato verify` to compare.
pytestmark = pytest.mark.raw_log

async def _append(path: Path, events: list) -> list:  # type: ignore[type-arg]
    log = await SQLiteEventLog.open(path)
    try:
        async with log.transaction():
            stored = await log.append(events)
        return [(s.seq, s.event) for s in stored]
    finally:
        await log.close()


async def _read(path: Path, after: int = 0, run: str | None = None) -> list:  # type: ignore[type-arg]
    log = await SQLiteEventLog.open(path)
    try:
        return [(s.seq, s.event) async for s in log.read(after, run=run, batch=2)]
    finally:
        await log.close()


def test_append_then_read_in_order(db: Path) -> None:
    events = [RunStatusChanged(run="r1" if i % 2 else "r2", status=f"s{i}") for i in range(5)]
    stored = anyio.run(_append, db, events)
    assert [seq for seq, _ in stored] == [1, 2, 3, 4, 5]
    assert [event for _, event in anyio.run(_read, db)] == events
    assert [event.status for _, event in anyio.run(_read, db, 2, "r1")] == ["s3"]


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE events SET type = 'forged'",
        "DELETE FROM events",
        "UPDATE events SET payload = x'00' WHERE seq = 1",
    ],
)
def test_the_database_refuses_update_and_delete(db: Path, statement: str) -> None:
    anyio.run(_append, db, [RunStatusChanged(run="r", status="running")])
    connection = sqlite3.connect(db)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        connection.execute(statement)
    connection.close()
    assert len(anyio.run(_read, db)) == 1


def test_refusal_reaches_users_as_an_ato_error(db: Path) -> None:
    anyio.run(_append, db, [RunStatusChanged(run="r", status="running")])

    async def tamper() -> None:
        log = await SQLiteEventLog.open(db)
        try:
            async with log.transaction():
                await log.connection.execute("DELETE FROM events")
        finally:
            await log.close()

    with pytest.raises(AppendOnlyError, match="append-only"):
        anyio.run(tamper)
    assert len(anyio.run(_read, db)) == 1


def test_event_ids_are_unique_in_the_database(db: Path) -> None:
    event = RunStatusChanged(run="r", status="running")
    anyio.run(_append, db, [event])
    with pytest.raises(Exception, match="UNIQUE"):
        anyio.run(_append, db, [event])
    assert len(anyio.run(_read, db)) == 1


def test_missing_reports_ids_not_held(db: Path) -> None:
    held = RunStatusChanged(run="r", status="a")
    anyio.run(_append, db, [held])

    async def missing() -> set[str]:
        log = await SQLiteEventLog.open(db)
        try:
            return await log.missing([held.event_id, "nope"])
        finally:
            await log.close()

    assert anyio.run(missing) == {"nope"}


def test_schema_creation_stays_inside_its_transaction(tmp_path: Path) -> None:
    """``executescript`` would commit the open transaction: a catch-up after it would then run
    without the write lock, and two processes opening one file could project an event twice."""
    from ato.projections.projector import Projector

    async def main() -> bool:
        log = await SQLiteEventLog.open(tmp_path / "experiments.db")
        try:
            async with log.transaction():
                await Projector(log.connection).rebuild(log)
                return log.connection.in_transaction
        finally:
            await log.close()

    assert anyio.run(main)

"""Maintenance of a whole database: ``rebuild`` the projections, ``verify`` the log and the
projections, ``merge`` the logs of other machines or ranks. What ``ato rebuild``, ``ato verify``
and ``ato merge`` run; each is a plain function that returns data, run on the tracker's loop.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from ato.errors import DatabaseError
from ato.events.codec import decode_event
from ato.projections.projector import Projector
from ato.projections.tables import TABLES
from ato.storage import loop
from ato.storage.database import translate_errors
from ato.storage.log import event_tag
from ato.storage.store import Store

__all__ = ["merge_databases", "open_store", "rebuild_database", "verify_database"]


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
    store = await open_store(path)
    try:
        return [(source, await store.merge(source)) for source in sources]
    finally:
        await store.close()


def merge_databases(path: Path, sources: Sequence[Path]) -> list[tuple[Path, int]]:
    """Append the events of ``sources`` that ``path`` lacks; returns how many each added."""
    return loop.call(_merge, path, sources)


async def _verify(path: Path) -> tuple[int, list[str]]:
    store = await open_store(path, must_exist=True)
    problems: list[str] = []
    count = 0
    try:
        previous = 0
        with translate_errors(path):
            async for seq, event_id, run, tag, payload in store.log.read_envelopes():
                count += 1
                if seq != previous + 1:
                    problems.append(f"sequence jumps from {previous} to {seq}")
                previous = seq
                try:
                    event = decode_event(payload)
                except Exception as exc:
                    problems.append(f"event {seq}: payload does not decode ({exc})")
                    continue
                if (event.event_id, event.run, event_tag(event)) != (event_id, run, tag):
                    problems.append(f"event {seq}: envelope does not match its payload")
            problems += await _compare_with_fresh_derivation(store)
    finally:
        await store.close()
    return count, problems


async def _compare_with_fresh_derivation(store: Store) -> list[str]:
    problems = []
    with tempfile.TemporaryDirectory(prefix="ato-verify-") as folder:
        fresh_path = Path(folder) / "fresh.db"
        fresh = await open_store(fresh_path)
        try:
            await fresh.merge(store.path)
        finally:
            await fresh.close()
        db = store.log.connection
        await db.execute("ATTACH DATABASE ? AS fresh", (str(fresh_path),))
        try:
            for table in TABLES:
                for a, b, what in (("main", "fresh", "not in a fresh derivation"), ("fresh", "main", "missing")):
                    async with db.execute(
                        f"SELECT COUNT(*) FROM (SELECT * FROM {a}.{table} EXCEPT SELECT * FROM {b}.{table})"
                    ) as cursor:
                        row = await cursor.fetchone()
                    if row and row[0]:
                        problems.append(f"projection {table}: {row[0]} rows {what}")
        finally:
            await db.execute("DETACH DATABASE fresh")
    return problems


def verify_database(path: Path) -> tuple[int, list[str]]:
    """Check the log (sequence, ids, payloads) and that projections equal a fresh derivation."""
    return loop.call(_verify, path)

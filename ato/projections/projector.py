"""The projector: ``apply``s events to the derived tables and keeps its position with them.

Catching up and rebuilding are the same code path: read the events after the position, apply
each, store the new position, all inside one transaction.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from itertools import compress
from math import isfinite
from typing import Any

import aiosqlite
import msgspec

from ato.events.types import (
    ArtifactLogged,
    Event,
    FingerprintRecorded,
    MetricsLogged,
    ProjectCreated,
    RunFinished,
    RunStarted,
    RunStatusChanged,
)
from ato.projections.tables import DROP, SCHEMA, pack_chunk
from ato.storage.log import SQLiteEventLog, StoredEvent

__all__ = ["Projector"]

_NAME = "tables"
_encode_config = msgspec.msgpack.Encoder().encode

_UPSERT_SUMMARY = """
INSERT INTO metric_summary (run_id, key, count, last_step, last_value, min_value, max_value)
VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (run_id, key) DO UPDATE SET
    count = count + excluded.count,
    last_value = CASE WHEN excluded.last_step >= last_step THEN excluded.last_value ELSE last_value END,
    last_step = MAX(last_step, excluded.last_step),
    min_value = MIN(COALESCE(min_value, excluded.min_value), COALESCE(excluded.min_value, min_value)),
    max_value = MAX(COALESCE(max_value, excluded.max_value), COALESCE(excluded.max_value, max_value))
"""


class Projector:
    """Derives the tables of :mod:`ato.projections.tables` from the log."""

    def __init__(self, connection: aiosqlite.Connection) -> None:
        self.connection = connection
        self._run_ids: dict[str, int] = {}

    async def create_tables(self) -> None:
        """Create the tables that do not exist yet; call inside a transaction."""
        for statement in SCHEMA:
            await self.connection.execute(statement)

    async def position(self) -> int:
        async with self.connection.execute(
            "SELECT position FROM projection_position WHERE name = ?", (_NAME,)
        ) as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row else 0

    async def catch_up(self, log: SQLiteEventLog) -> int:
        """Apply every event after the position; call inside a transaction. Returns the count.
        The position moves to the log's end, past events this version cannot decode (skipped)."""
        position, last = await self.position(), await log.last_seq()
        if last <= position:
            return 0
        count = 0
        async for stored in log.read(position):  # one event at a time: memory stays flat
            await self.apply(stored.event)
            count += 1
        await self._move_to(last)
        return count

    async def apply_all(self, stored: Sequence[StoredEvent]) -> int:
        """Apply ``stored`` (in sequence order) and move the position past them."""
        if not stored:
            return 0
        for item in stored:
            await self.apply(item.event)
        await self._move_to(stored[-1].seq)
        return len(stored)

    async def _move_to(self, position: int) -> None:
        await self.connection.execute(
            "INSERT INTO projection_position (name, position) VALUES (?, ?) "
            "ON CONFLICT (name) DO UPDATE SET position = excluded.position",
            (_NAME, position),
        )

    async def rebuild(self, log: SQLiteEventLog) -> int:
        """Drop every derived table and derive it again from the whole log."""
        self._run_ids.clear()
        for statement in DROP:
            await self.connection.execute(statement)
        await self.create_tables()
        return await self.catch_up(log)

    def rolled_back(self) -> None:
        """Forget the run ids cached inside a transaction that did not commit."""
        self._run_ids.clear()

    async def run_id(self, uid: str) -> int | None:
        """This database's integer id for the run with global id ``uid``."""
        run_id = self._run_ids.get(uid)
        if run_id is None:
            async with self.connection.execute("SELECT id FROM experiments WHERE uid = ?", (uid,)) as cursor:
                row = await cursor.fetchone()
            if row is None:
                return None
            run_id = self._run_ids[uid] = int(row[0])
        return run_id

    # -- apply ------------------------------------------------------------------------------------
    async def apply(self, event: Event) -> None:
        handler = _HANDLERS.get(type(event))
        if handler is not None:
            await handler(self, event)

    async def _project_created(self, event: ProjectCreated | RunStarted) -> None:
        await self.connection.execute(
            "INSERT INTO projects (name, created_at) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
            (event.project, event.at),
        )

    async def _run_started(self, event: RunStarted) -> None:
        db = self.connection
        await self._project_created(event)  # a run's project exists from its first event on
        await db.execute(
            "INSERT INTO experiments (uid, project_id, status, tags, config, structural_hash, argv, "
            "host, pid, started_at) SELECT ?, id, 'running', ?, ?, ?, ?, ?, ?, ? FROM projects WHERE name = ? "
            "ON CONFLICT (uid) DO NOTHING",  # a run started twice (a crafted log): the first counts
            (
                event.run,
                json.dumps(list(event.tags)),
                _encode_config(event.config),
                event.structural_hash,
                json.dumps(list(event.argv)),
                event.host,
                event.pid,
                event.at,
                event.project,
            ),
        )

    async def _status_changed(self, event: RunStatusChanged) -> None:
        await self.connection.execute(
            "UPDATE experiments SET status = ? WHERE uid = ?", (event.status, event.run)
        )

    async def _run_finished(self, event: RunFinished) -> None:
        await self.connection.execute(
            "UPDATE experiments SET status = ?, finished_at = ? WHERE uid = ?",
            (event.status, event.at, event.run),
        )

    async def _metrics_logged(self, event: MetricsLogged) -> None:
        run_id = await self.run_id(event.run)
        if run_id is None:
            return
        chunks, summaries = _by_key(run_id, event)
        await self.connection.executemany(
            "INSERT INTO metric_chunks (run_id, key, count, first_step, last_step, steps, metric_values, times) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            chunks,
        )
        await self.connection.executemany(_UPSERT_SUMMARY, summaries)

    async def _artifact_logged(self, event: ArtifactLogged) -> None:
        run_id = await self.run_id(event.run)
        if run_id is None:
            return
        await self.connection.execute(
            "INSERT INTO artifacts (run_id, path, data_type, metadata, size, sha256, logged_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (run_id, event.path, event.data_type, json.dumps(event.metadata), event.size, event.sha256, event.at),
        )

    async def _fingerprint_recorded(self, event: FingerprintRecorded) -> None:
        run_id = await self.run_id(event.run)
        if run_id is None:
            return
        await self.connection.execute(
            "INSERT INTO fingerprints (run_id, trace_id, kind, fingerprint, detail) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (run_id, trace_id, kind) DO UPDATE SET fingerprint = excluded.fingerprint, "
            "detail = excluded.detail",
            (run_id, event.trace_id, event.kind, event.fingerprint, json.dumps(event.detail, sort_keys=True)),
        )


def _by_key(run_id: int, event: MetricsLogged) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Split one batch by key (in the order keys first appear): a packed chunk row and a summary
    row for each key. Batches of a few keys make every pass over the points in C (``compress``,
    ``min``, ``sum``); a batch of one key is used as it is, with no copy."""
    all_keys, all_steps, all_values, all_times = event.keys, event.steps, event.values, event.times
    size = min(len(all_keys), len(all_steps), len(all_values), len(all_times))
    if not len(all_keys) == len(all_steps) == len(all_values) == len(all_times):  # a crafted event:
        all_keys, all_steps = all_keys[:size], all_steps[:size]  # its complete points count
        all_values, all_times = all_values[:size], all_times[:size]
    keys = dict.fromkeys(all_keys)
    many: dict[str, tuple[list[int], list[float], list[float]]] = {}
    if len(keys) > 4:  # one pass over the points: cheaper than a pass per key
        for key, step, value, at in zip(all_keys, all_steps, all_values, all_times):
            column = many.get(key)
            if column is None:
                column = many[key] = ([], [], [])
            column[0].append(step)
            column[1].append(value)
            column[2].append(at)
    chunks, summaries = [], []
    low: float | None
    high: float | None
    for key in keys:
        if len(keys) == 1:
            steps, values, times = all_steps, all_values, all_times
        elif many:
            steps, values, times = many[key]
        else:
            mine = [k == key for k in all_keys]
            steps = list(compress(all_steps, mine))
            values, times = list(compress(all_values, mine)), list(compress(all_times, mine))
        last_step = max(steps)
        if steps[-1] == last_step:  # the usual case: the last point is at the highest step
            last = values[-1]
        else:  # the latest point at that step
            last = values[len(steps) - 1 - steps[::-1].index(last_step)]
        if isfinite(sum(values)):  # no NaN nor infinity among them (or a sum that overflowed)
            low, high = min(values), max(values)
        else:
            finite = [value for value in values if isfinite(value)]
            low, high = (min(finite), max(finite)) if finite else (None, None)
        chunks.append((run_id, key, len(steps), min(steps), last_step, *pack_chunk(steps, values, times)))
        summaries.append(
            (run_id, key, len(steps), last_step, None if last != last else last, low, high)
        )  # SQLite has no NaN: a NULL last value reads back as NaN
    return chunks, summaries


_HANDLERS: dict[type[Event], Any] = {
    ProjectCreated: Projector._project_created,
    RunStarted: Projector._run_started,
    RunStatusChanged: Projector._status_changed,
    RunFinished: Projector._run_finished,
    MetricsLogged: Projector._metrics_logged,
    ArtifactLogged: Projector._artifact_logged,
    FingerprintRecorded: Projector._fingerprint_recorded,
}

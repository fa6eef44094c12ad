"""The projector: ``apply``s events to the derived tables and keeps its position with them.

Catching up and rebuilding are the same code path: read the events after the position, apply
each, store the new position, all inside one transaction.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import aiosqlite
import msgspec

from ato.events.metric_encoding import KeyPoints, MetricEncodingError, key_points
from ato.events.types import (
    ArtifactLogged,
    Event,
    FingerprintRecorded,
    MetricsLogged,
    MetricsPacked,
    ProjectCreated,
    RunFinished,
    RunHeartbeat,
    RunStarted,
    RunStatusChanged,
)
from ato.projections.tables import DROP, SCHEMA, VERSION
from ato.storage.log import SQLiteEventLog, StoredEvent

__all__ = ["Projector"]

_NAME = "tables"
_VERSION_NAME = "tables.version"  # a row of projection_position: the layout the tables have
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
        self.damaged: list[str] = []  # metric series passed over because they do not decode

    async def create_tables(self) -> None:
        """Create the tables that do not exist yet; call inside a transaction. Tables of another
        layout (an earlier Ato's) are dropped first: the catch-up that follows derives them again
        from the whole log."""
        if await self.stale():
            for statement in DROP:
                await self.connection.execute(statement)
            self._run_ids.clear()
        for statement in SCHEMA:
            await self.connection.execute(statement)
        await self.connection.execute(
            "INSERT OR REPLACE INTO projection_position (name, position) VALUES (?, ?)", (_VERSION_NAME, VERSION)
        )

    async def stale(self) -> bool:
        """Whether this file holds tables of another layout than :data:`VERSION`."""
        async with self.connection.execute(
            "SELECT name FROM main.sqlite_master WHERE type = 'table' AND name = 'projection_position'"
        ) as cursor:
            if await cursor.fetchone() is None:
                return False  # a new file: nothing to replace
        async with self.connection.execute(
            "SELECT position FROM projection_position WHERE name = ?", (_VERSION_NAME,)
        ) as cursor:
            row = await cursor.fetchone()
        return (int(row[0]) if row else 1) != VERSION

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
            await self.apply(stored.event, stored.seq)
            count += 1
        await self._move_to(last)
        return count

    async def apply_all(self, stored: Sequence[StoredEvent]) -> int:
        """Apply ``stored`` (in sequence order) and move the position past them."""
        if not stored:
            return 0
        for item in stored:
            await self.apply(item.event, item.seq)
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
    async def apply(self, event: Event, seq: int) -> None:
        """Apply ``event``, stored at ``seq`` in the log."""
        handler = _HANDLERS.get(type(event))
        if handler is not None:
            await handler(self, event, seq)

    async def _project_created(self, event: ProjectCreated | RunStarted, seq: int = 0) -> None:
        await self.connection.execute(
            "INSERT INTO projects (name, created_at) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
            (event.project, event.at),
        )

    async def _run_started(self, event: RunStarted, seq: int) -> None:
        db = self.connection
        await self._project_created(event)  # a run's project exists from its first event on
        await db.execute(
            "INSERT INTO experiments (uid, project_id, status, tags, config, structural_hash, argv, "
            "host, pid, started_at, rank, world_size, run_group, last_seen) "
            "SELECT ?, id, 'running', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ? FROM projects WHERE name = ? "
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
                event.rank,
                event.world_size,
                event.group,
                event.at,
                event.project,
            ),
        )

    async def _status_changed(self, event: RunStatusChanged, seq: int) -> None:
        await self.connection.execute(
            "UPDATE experiments SET status = ?, ended = MAX(ended, ?) WHERE uid = ?",
            (event.status, int(event.final), event.run),
        )

    async def _run_finished(self, event: RunFinished, seq: int) -> None:
        await self.connection.execute(
            "UPDATE experiments SET status = ?, finished_at = ?, ended = 1 WHERE uid = ?",
            (event.status, event.at, event.run),
        )

    async def _heartbeat(self, event: RunHeartbeat, seq: int) -> None:
        await self._seen(event.run, event.at)

    async def _seen(self, uid: str, at: float) -> None:
        """The run's process was alive at ``at`` (a heartbeat, a metric flush)."""
        await self.connection.execute(
            "UPDATE experiments SET last_seen = MAX(last_seen, ?) WHERE uid = ?", (at, uid)
        )

    async def _metrics_logged(self, event: MetricsPacked | MetricsLogged, seq: int) -> None:
        """Index the event's points (they stay in the log) and fold them into the summaries."""
        run_id = await self.run_id(event.run)
        if run_id is None:
            return
        batches, summaries = [], []
        for part, points in _decoded(event, seq, self.damaged):
            batch, summary = _batch_row(run_id, seq, part, points)
            batches.append(batch)
            summaries.append(summary)
        await self.connection.executemany(
            "INSERT INTO metric_batches (run_id, key, seq, part, count, first_step, last_step, last_value, "
            "low_step, low_value, low_time, high_step, high_value, high_time) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            batches,
        )
        await self.connection.executemany(_UPSERT_SUMMARY, summaries)
        await self._seen(event.run, event.at)

    async def _artifact_logged(self, event: ArtifactLogged, seq: int) -> None:
        run_id = await self.run_id(event.run)
        if run_id is None:
            return
        await self.connection.execute(
            "INSERT INTO artifacts (run_id, path, data_type, metadata, size, sha256, logged_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (run_id, event.path, event.data_type, json.dumps(event.metadata), event.size, event.sha256, event.at),
        )

    async def _fingerprint_recorded(self, event: FingerprintRecorded, seq: int) -> None:
        run_id = await self.run_id(event.run)
        if run_id is None:
            return
        await self.connection.execute(
            "INSERT INTO fingerprints (run_id, trace_id, kind, fingerprint, detail) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (run_id, trace_id, kind) DO UPDATE SET fingerprint = excluded.fingerprint, "
            "detail = excluded.detail",
            (run_id, event.trace_id, event.kind, event.fingerprint, json.dumps(event.detail, sort_keys=True)),
        )


def _decoded(event: MetricsPacked | MetricsLogged, seq: int, damaged: list[str]) -> list[tuple[int, KeyPoints]]:
    """The event's points by key with their part numbers; a series that does not decode is
    passed over and named in ``damaged`` (the others still count)."""
    if isinstance(event, MetricsLogged):
        return list(enumerate(key_points(event)))
    decoded = []
    for part in range(len(event.series)):
        try:
            decoded.append((part, key_points(event, part)[0]))
        except MetricEncodingError as exc:
            damaged.append(f"event {seq}: metric series {part} ({event.series[part].key!r}) does not decode: {exc}")
    return decoded


def _batch_row(run_id: int, seq: int, part: int, points: KeyPoints) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """The ``metric_batches`` row of one key's points of one event, and its ``metric_summary``
    row (numpy: every pass in C). The index keeps the lowest and highest points *including*
    infinities (a plot drawn from it shows a loss that blew up); the summary's extremes are the
    finite ones (what ``find_best_run`` ranks)."""
    import numpy as np

    steps, values, times = points.steps, points.values, points.times
    last_step = int(steps.max())
    # the latest point at the highest step (usually the last point)
    at = len(steps) - 1 if steps[-1] == last_step else len(steps) - 1 - int(np.argmax(steps[::-1] == last_step))
    finite = np.isfinite(values)
    if finite.all():
        low, high = int(np.argmin(values)), int(np.argmax(values))
        finite_low, finite_high = low, high
    else:
        numbers = ~np.isnan(values)
        low, high = _extremes(values, numbers)
        finite_low, finite_high = _extremes(values, finite)
    last = float(values[at])

    def point(i: int) -> tuple[int | None, float | None, float | None]:
        return (None, None, None) if i < 0 else (int(steps[i]), float(values[i]), float(times[i]))

    last_value = None if last != last else last  # SQLite has no NaN: a NULL last value reads back as NaN
    batch = (run_id, points.key, seq, part, len(steps), int(steps.min()), last_step, last_value, *point(low), *point(high))
    summary = (
        run_id, points.key, len(steps), last_step, last_value,
        None if finite_low < 0 else float(values[finite_low]), None if finite_high < 0 else float(values[finite_high]),
    )
    return batch, summary


def _extremes(values: Any, mask: Any) -> tuple[int, int]:
    """Where the lowest and highest of ``values[mask]`` are (``-1, -1`` where none is)."""
    import numpy as np

    if not mask.any():
        return -1, -1
    return int(np.argmin(np.where(mask, values, np.inf))), int(np.argmax(np.where(mask, values, -np.inf)))


_HANDLERS: dict[type[Event], Any] = {
    ProjectCreated: Projector._project_created,
    RunStarted: Projector._run_started,
    RunStatusChanged: Projector._status_changed,
    RunFinished: Projector._run_finished,
    RunHeartbeat: Projector._heartbeat,
    MetricsLogged: Projector._metrics_logged,
    MetricsPacked: Projector._metrics_logged,
    ArtifactLogged: Projector._artifact_logged,
    FingerprintRecorded: Projector._fingerprint_recorded,
}

"""The one read model: every query of the derived tables, and of a run's own events, lives here.

Readers (the finders, the logger, ``ato replay``/``diff``/``runs``) ask a :class:`Queries` and get
plain, detached records back: :class:`Run`, :class:`Project`, :class:`MetricSummary`. Driver
errors are translated into Ato's errors here, once, as writes are at the store's transaction.

``best_run`` ranks each run by its best *finite* value of the metric over all its steps (the
largest for ``mode='max'``, the smallest for ``'min'``): a NaN or infinite value is recorded,
shown, and never wins. ``similar_runs`` looks across every project of the database.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec

from ato.errors import QueryError, UnknownRunError
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
from ato.events.values import decode_value
from ato.projections.tables import TABLES, unpack_chunk
from ato.storage.database import translate_errors
from ato.storage.log import SQLiteEventLog

__all__ = ["Fingerprint", "MetricSummary", "Project", "Queries", "Run", "RunEvents"]

_decode_config = msgspec.msgpack.Decoder().decode


@dataclass(frozen=True)
class Project:
    id: int
    name: str
    created_at: float


@dataclass(frozen=True)
class MetricSummary:
    """One metric of one run: how many points, the last (at the highest step), the finite extremes."""

    count: int
    last_step: int
    last: float
    min: float | None
    max: float | None


@dataclass(frozen=True)
class Run:
    """A run as the projections hold it (``config`` is an ADict when read through a finder)."""

    id: int
    uid: str
    project: str
    status: str
    tags: list[str]
    config: Any
    structural_hash: str
    started_at: float
    finished_at: float | None
    argv: list[str]
    host: str
    pid: int
    metrics: dict[str, MetricSummary] = field(default_factory=dict)


@dataclass(frozen=True)
class Fingerprint:
    """One recorded fingerprint of a run: ``kind`` is static (code), runtime or environment."""

    trace_id: str
    kind: str
    fingerprint: str
    detail: dict[str, Any]


@dataclass(frozen=True)
class RunEvents:
    """A run's merge events by scope and its search events by search id, each in log order."""

    scopes: dict[str, list[Event]]
    searches: dict[str, list[Event]]


_RUN_COLUMNS = (
    "e.id, e.uid, p.name, e.status, e.tags, e.config, e.structural_hash, e.started_at, "
    "e.finished_at, e.argv, e.host, e.pid"
)
_RUN_FROM = "experiments e JOIN projects p ON p.id = e.project_id"
_MERGE_EVENTS = (MergeStarted, MergeStepApplied, MergeCompleted)
_SEARCH_EVENTS = (SearchStarted, TrialRecorded, HalvingDecided, SearchFinished)


def _check_argument(value: Any) -> None:
    """Refuse, with a one-line QueryError, an argument SQLite could not even compare."""
    if isinstance(value, str):
        try:
            str.encode(value, "utf-8")
        except UnicodeEncodeError:
            raise QueryError(f"{value[:40]!r} is not valid text, so nothing is named by it") from None
    elif isinstance(value, int) and not -(2**63) <= value < 2**63:
        raise QueryError(f"{str(value)[:40]}... is beyond 64 bits, so no id or name matches it")
    elif value is not None and not isinstance(value, (int, float, bytes)):
        raise QueryError(f"expected text or a number, got {type(value).__name__} {value!r:.40}")


class Queries:
    """Reads over one open log and its projections. ``config`` turns a run's decoded config into
    what callers want it to be (the finders pass ADict)."""

    def __init__(self, log: SQLiteEventLog, config: Callable[[Any], Any] = lambda value: value) -> None:
        self.log = log
        self.path = log.path
        self._config = config

    async def _rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        for value in params:
            _check_argument(value)
        with translate_errors(self.path):
            async with self.log.connection.execute(sql, params) as cursor:
                return list(await cursor.fetchall())

    # -- ids -------------------------------------------------------------------------------------
    async def run_id(self, uid: str) -> int | None:
        """This database's integer id for the run with global id ``uid``."""
        rows = await self._rows("SELECT id FROM experiments WHERE uid = ?", (uid,))
        return int(rows[0][0]) if rows else None

    async def run_uid(self, run_id: int) -> str:
        """The global id of run ``run_id`` of this database."""
        rows = await self._rows("SELECT uid FROM experiments WHERE id = ?", (run_id,))
        if not rows:
            raise UnknownRunError(f"no run {run_id} in {self.path}")
        return str(rows[0][0])

    # -- projects and runs -----------------------------------------------------------------------
    async def find_project(self, name: str) -> Project | None:
        rows = await self._rows("SELECT id, name, created_at FROM projects WHERE name = ?", (name,))
        return Project(*rows[0]) if rows else None

    async def projects(self) -> list[Project]:
        return [Project(*row) for row in await self._rows("SELECT id, name, created_at FROM projects ORDER BY id")]

    async def runs(self, where: str, params: tuple[Any, ...]) -> list[Run]:
        rows = await self._rows(f"SELECT {_RUN_COLUMNS} FROM {_RUN_FROM} WHERE {where} ORDER BY e.id", params)
        if not rows:
            return []
        ids = [row[0] for row in rows]
        marks = ",".join("?" * len(ids))
        summaries: dict[int, dict[str, MetricSummary]] = {run_id: {} for run_id in ids}
        for run_id, key, count, last_step, last, low, high in await self._rows(
            f"SELECT run_id, key, count, last_step, last_value, min_value, max_value FROM metric_summary "
            f"WHERE run_id IN ({marks}) ORDER BY key",
            tuple(ids),
        ):
            summaries[run_id][key] = MetricSummary(count, last_step, math.nan if last is None else last, low, high)
        return [self._run(row, summaries[row[0]]) for row in rows]

    def _run(self, row: Any, metrics: dict[str, MetricSummary]) -> Run:
        run_id, uid, project, status, tags, config, shash, started, finished, argv, host, pid = row
        return Run(
            id=run_id,
            uid=uid,
            project=project,
            status=status,
            tags=json.loads(tags),
            config=self._config(decode_value(_decode_config(config))),
            structural_hash=shash,
            started_at=started,
            finished_at=finished,
            argv=json.loads(argv),
            host=host,
            pid=pid,
            metrics=metrics,
        )

    async def find_run(self, run_id: int | str) -> Run:
        """A run by id, or by a unique prefix of its global uid."""
        if not isinstance(run_id, (int, str)) or isinstance(run_id, bool):
            raise QueryError(f"a run is named by its id (int) or a prefix of its uid (str), not {type(run_id).__name__}")
        if isinstance(run_id, str) and len(run_id) > 19 and run_id.isascii() and run_id.isdigit():
            runs = []  # beyond any int64 id
        elif isinstance(run_id, str) and not (run_id.isascii() and run_id.isdigit()):
            # A uid prefix: hex, so anything else (or a LIKE wildcard) matches nothing.
            text = run_id.lower()
            prefix = text if text and len(text) <= 32 and all(c in "0123456789abcdef" for c in text) else None
            runs = await self.runs("e.uid LIKE ?", (f"{prefix}%",)) if prefix else []
        else:
            number = int(run_id)
            runs = await self.runs("e.id = ?", (number,)) if 0 < number < 2**63 else []
        if len(runs) != 1:
            problem = "no run" if not runs else f"{len(runs)} runs match"
            raise UnknownRunError(f"{problem} {str(run_id)[:40]!r} in {self.path}")
        return runs[0]

    async def runs_in_project(self, project_name: str) -> list[Run]:
        return await self.runs("p.name = ?", (project_name,))

    async def all_runs(self) -> list[Run]:
        return await self.runs("1", ())

    async def best_run(self, project_name: str, metric_key: str, mode: str = "max") -> Run | None:
        if mode not in ("max", "min"):
            raise QueryError(f"mode must be 'max' or 'min', not {mode!r:.40}")
        column, direction = ("s.max_value", "DESC") if mode == "max" else ("s.min_value", "ASC")
        rows = await self._rows(
            f"SELECT e.id FROM {_RUN_FROM} JOIN metric_summary s ON s.run_id = e.id "
            f"WHERE p.name = ? AND s.key = ? AND {column} IS NOT NULL "  # finite values only
            f"ORDER BY {column} {direction}, e.id LIMIT 1",
            (project_name, metric_key),
        )
        return await self.find_run(rows[0][0]) if rows else None

    async def similar_runs(self, run_id: int | str) -> list[Run]:
        """Other runs with the same structural hash; none for a run that does not exist (as in
        ato 2.1.7, whose README asks for run 123 in a new database)."""
        try:
            run = await self.find_run(run_id)
        except UnknownRunError:
            return []
        return await self.runs("e.structural_hash = ? AND e.id != ?", (run.structural_hash, run.id))

    async def similar_runs_by_trace(self, run_id: int | str, trace_id: str, trace_type: str = "static") -> list[Run]:
        try:
            run = await self.find_run(run_id)
        except UnknownRunError:
            return []
        kind = trace_type
        rows = await self._rows(
            "SELECT fingerprint FROM fingerprints WHERE run_id = ? AND trace_id = ? AND kind = ?",
            (run.id, trace_id, kind),
        )
        if not rows:
            return []
        return await self.runs(
            "e.id != ? AND e.id IN (SELECT run_id FROM fingerprints WHERE trace_id = ? AND kind = ? "
            "AND fingerprint = ?)",
            (run.id, trace_id, kind, rows[0][0]),
        )

    async def trace_statistics(self, project_name: str, trace_id: str) -> dict[str, Any]:
        rows = await self._rows(
            f"SELECT f.kind, COUNT(DISTINCT f.fingerprint), COUNT(DISTINCT f.run_id) FROM {_RUN_FROM} "
            f"JOIN fingerprints f ON f.run_id = e.id WHERE p.name = ? AND f.trace_id = ? GROUP BY f.kind",
            (project_name, trace_id),
        )
        counts = {kind: (versions, runs) for kind, versions, runs in rows}
        return {
            "project_name": project_name,
            "trace_id": trace_id,
            "static_trace_versions": counts.get("static", (0, 0))[0],
            "runtime_trace_versions": counts.get("runtime", (0, 0))[0],
            "runs": max((runs for _, runs in counts.values()), default=0),
        }

    # -- what a run recorded ---------------------------------------------------------------------
    async def metrics(self, run_id: int | str, key: str) -> list[tuple[int, float]]:
        """Every ``(step, value)`` of one metric of one run, in step order."""
        run = await self.find_run(run_id)
        rows = await self._rows(
            "SELECT steps, metric_values, times FROM metric_chunks WHERE run_id = ? AND key = ? ORDER BY id",
            (run.id, key),
        )
        points: list[tuple[int, float]] = []
        for packed in rows:
            steps, values, _ = unpack_chunk(*packed)
            points.extend(zip(steps, values))
        points.sort(key=lambda point: point[0])  # stable: points of one step keep log order
        return points

    async def points_of(self, uid: str) -> int:
        """How many metric points the run with global id ``uid`` holds (0 for an unknown run)."""
        rows = await self._rows(
            "SELECT COALESCE(SUM(s.count), 0) FROM metric_summary s JOIN experiments e ON e.id = s.run_id "
            "WHERE e.uid = ?", (uid,)
        )
        return int(rows[0][0])

    async def fingerprints(self, run_id: int | str) -> list[Fingerprint]:
        """Every fingerprint the run recorded, by trace id and kind."""
        run = await self.find_run(run_id)
        rows = await self._rows(
            "SELECT trace_id, kind, fingerprint, detail FROM fingerprints WHERE run_id = ? ORDER BY trace_id, kind",
            (run.id,),
        )
        return [Fingerprint(trace_id, kind, value, json.loads(detail)) for trace_id, kind, value, detail in rows]

    # -- what maintenance compares -------------------------------------------------------------------
    async def missing_tables(self) -> list[str]:
        """The projection tables this file lacks."""
        rows = await self._rows("SELECT name FROM main.sqlite_master WHERE type = 'table'")
        present = {row[0] for row in rows}
        return [table for table in TABLES if table not in present]

    async def position(self) -> int:
        """The last log sequence the projections reflect."""
        rows = await self._rows("SELECT position FROM main.projection_position")
        return int(rows[0][0]) if rows else 0

    async def rows_not_in(self, table: str, schema: str, other: str) -> int:
        """How many rows of ``schema.table`` are not in ``other.table`` (``other`` attached)."""
        assert table in TABLES and {schema, other} <= {"main", "fresh"}  # names, never user input
        rows = await self._rows(f"SELECT COUNT(*) FROM (SELECT * FROM {schema}.{table} EXCEPT SELECT * FROM {other}.{table})")
        return int(rows[0][0])

    async def run_events(self, run_id: int | str) -> RunEvents:
        """The run's merge events (by scope) and search events (by search id), from the log."""
        run = await self.find_run(run_id)
        scopes: dict[str, list[Event]] = {}
        searches: dict[str, list[Event]] = {}
        with translate_errors(self.path):
            async for stored in self.log.read(run=run.uid):
                event = stored.event
                if isinstance(event, _MERGE_EVENTS):
                    scopes.setdefault(event.scope, []).append(event)
                elif isinstance(event, _SEARCH_EVENTS):
                    searches.setdefault(event.search, []).append(event)
        return RunEvents(scopes, searches)

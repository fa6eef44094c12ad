"""Queries over the projections. ``SQLFinder`` reads only the derived tables, never the log.

Results are plain, detached data (:class:`Run`, :class:`Project`, :class:`MetricSummary`) with
attribute access; ``run.config`` is an ADict. ``find_best_run`` ranks each run by its best
*finite* value of the metric over all its steps (the largest for ``mode='max'``, the smallest for
``'min'``): a NaN or infinite value is recorded, shown, and never wins. ``find_similar_runs``
looks across every project of the database.
"""

from __future__ import annotations

import json
import math
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from ato.storage import loop as portal
from ato.config.adict import ADict
from ato.storage.database import database_path
from ato.errors import UnknownRunError
from ato.events.values import decode_value
from ato.projections.tables import unpack_chunk
from ato.storage.store import Store

__all__ = ["MetricSummary", "Project", "Run", "SQLFinder"]

_decode_config = msgspec.msgpack.Decoder().decode
_open_finders: weakref.WeakSet[_FinderCore] = weakref.WeakSet()


def _close_open_finders() -> None:
    for core in list(_open_finders):
        if core._store is not None:
            portal.call(core.close)


portal.at_exit(_close_open_finders)


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
    """A run as the projections hold it."""

    id: int
    uid: str
    project: str
    status: str
    tags: list[str]
    config: ADict
    structural_hash: str
    started_at: float
    finished_at: float | None
    argv: list[str]
    host: str
    pid: int
    metrics: dict[str, MetricSummary] = field(default_factory=dict)


_RUN_COLUMNS = (
    "e.id, e.uid, p.name, e.status, e.tags, e.config, e.structural_hash, e.started_at, "
    "e.finished_at, e.argv, e.host, e.pid"
)
_RUN_FROM = "experiments e JOIN projects p ON p.id = e.project_id"


class _FinderCore:
    """The async queries; run on the tracker's loop."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._store: Store | None = None
        _open_finders.add(self)

    async def store(self) -> Store:
        if self._store is None:
            self._store = await Store.open_existing(self.path)
        return self._store

    async def close(self) -> None:
        if self._store is not None:
            await self._store.close()
            self._store = None

    async def _rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        store = await self.store()
        async with store.log.connection.execute(sql, params) as cursor:
            return list(await cursor.fetchall())

    async def _runs(self, where: str, params: tuple[Any, ...], order: str = "e.id") -> list[Run]:
        rows = await self._rows(f"SELECT {_RUN_COLUMNS} FROM {_RUN_FROM} WHERE {where} ORDER BY {order}", params)
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
        return [_run(row, summaries[row[0]]) for row in rows]

    async def find_project(self, name: str) -> Project | None:
        rows = await self._rows("SELECT id, name, created_at FROM projects WHERE name = ?", (name,))
        return Project(*rows[0]) if rows else None

    async def projects(self) -> list[Project]:
        return [Project(*row) for row in await self._rows("SELECT id, name, created_at FROM projects ORDER BY id")]

    async def find_run(self, run_id: int | str) -> Run:
        if isinstance(run_id, str) and not run_id.isdigit():
            runs = await self._runs("e.uid LIKE ?", (f"{run_id}%",))
        else:
            runs = await self._runs("e.id = ?", (int(run_id),))
        if len(runs) != 1:
            problem = "no run" if not runs else f"{len(runs)} runs match"
            raise UnknownRunError(f"{problem} {run_id!r} in {self.path}")
        return runs[0]

    async def get_runs_in_project(self, project_name: str) -> list[Run]:
        return await self._runs("p.name = ?", (project_name,))

    async def all_runs(self) -> list[Run]:
        return await self._runs("1", ())

    async def find_best_run(self, project_name: str, metric_key: str, mode: str = "max") -> Run | None:
        if mode not in ("max", "min"):
            raise ValueError(f"mode must be 'max' or 'min', not {mode!r}")
        column, direction = ("s.max_value", "DESC") if mode == "max" else ("s.min_value", "ASC")
        rows = await self._rows(
            f"SELECT e.id FROM {_RUN_FROM} JOIN metric_summary s ON s.run_id = e.id "
            f"WHERE p.name = ? AND s.key = ? AND {column} IS NOT NULL "  # finite values only
            f"ORDER BY {column} {direction}, e.id LIMIT 1",
            (project_name, metric_key),
        )
        return await self.find_run(rows[0][0]) if rows else None

    async def find_similar_runs(self, run_id: int | str) -> list[Run]:
        run = await self.find_run(run_id)
        return await self._runs("e.structural_hash = ? AND e.id != ?", (run.structural_hash, run.id))

    async def find_similar_runs_by_trace(self, run_id: int | str, trace_id: str, kind: str = "static") -> list[Run]:
        run = await self.find_run(run_id)
        rows = await self._rows(
            "SELECT fingerprint FROM fingerprints WHERE run_id = ? AND trace_id = ? AND kind = ?",
            (run.id, trace_id, kind),
        )
        if not rows:
            return []
        return await self._runs(
            "e.id != ? AND e.id IN (SELECT run_id FROM fingerprints WHERE trace_id = ? AND kind = ? "
            "AND fingerprint = ?)",
            (run.id, trace_id, kind, rows[0][0]),
        )

    async def get_trace_statistics(self, project_name: str, trace_id: str) -> dict[str, Any]:
        rows = await self._rows(
            f"SELECT f.kind, COUNT(DISTINCT f.fingerprint), COUNT(DISTINCT f.run_id) FROM {_RUN_FROM} "
            f"JOIN fingerprints f ON f.run_id = e.id WHERE p.name = ? AND f.trace_id = ? GROUP BY f.kind",
            (project_name, trace_id),
        )
        counts = {kind: (versions, runs) for kind, versions, runs in rows}
        return {
            "trace_id": trace_id,
            "static_trace_versions": counts.get("static", (0, 0))[0],
            "runtime_trace_versions": counts.get("runtime", (0, 0))[0],
            "runs": max((runs for _, runs in counts.values()), default=0),
        }

    async def get_metrics(self, run_id: int | str, key: str) -> list[tuple[int, float]]:
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


def _run(row: Any, metrics: dict[str, MetricSummary]) -> Run:
    run_id, uid, project, status, tags, config, shash, started, finished, argv, host, pid = row
    return Run(
        id=run_id,
        uid=uid,
        project=project,
        status=status,
        tags=json.loads(tags),
        config=ADict(decode_value(_decode_config(config))),
        structural_hash=shash,
        started_at=started,
        finished_at=finished,
        argv=json.loads(argv),
        host=host,
        pid=pid,
        metrics=metrics,
    )


class SQLFinder:
    """Find projects, runs, the best run, similar runs and trace statistics, synchronously."""

    def __init__(self, config: Mapping[str, Any] | str | Path | None = None) -> None:
        self._core = _FinderCore(database_path(config))

    @property
    def path(self) -> Path:
        return self._core.path

    def find_project(self, name: str) -> Project | None:
        return portal.call(self._core.find_project, name)

    def find_run(self, run_id: int | str) -> Run:
        """A run by id, or by a unique prefix of its global uid."""
        return portal.call(self._core.find_run, run_id)

    def get_runs_in_project(self, project_name: str) -> list[Run]:
        return portal.call(self._core.get_runs_in_project, project_name)

    def find_best_run(self, project_name: str, metric_key: str, mode: str = "max") -> Run | None:
        """The run with the best finite value of ``metric_key`` (see the module docstring)."""
        return portal.call(self._core.find_best_run, project_name, metric_key, mode)

    def find_similar_runs(self, run_id: int | str) -> list[Run]:
        """Other runs whose config has the same structural hash."""
        return portal.call(self._core.find_similar_runs, run_id)

    def find_similar_runs_by_trace(self, run_id: int | str, trace_id: str, kind: str = "static") -> list[Run]:
        """Other runs with the same ``kind`` fingerprint for ``trace_id``."""
        return portal.call(self._core.find_similar_runs_by_trace, run_id, trace_id, kind)

    def get_trace_statistics(self, project_name: str, trace_id: str) -> dict[str, Any]:
        """How many distinct code and runtime versions of ``trace_id`` the project's runs saw."""
        return portal.call(self._core.get_trace_statistics, project_name, trace_id)

    def get_metrics(self, run_id: int | str, key: str) -> list[tuple[int, float]]:
        """Every ``(step, value)`` of one metric of one run, in step order."""
        return portal.call(self._core.get_metrics, run_id, key)

    def close(self) -> None:
        portal.call(self._core.close)

    def __enter__(self) -> SQLFinder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


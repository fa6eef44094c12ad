"""Finding runs: ``SQLFinder`` (sync) and ``AsyncSQLFinder`` (async), two facades over one core.

Both read only through :class:`ato.projections.queries.Queries`, the one read model; results are
plain, detached data (:class:`Run`, :class:`Project`, :class:`MetricSummary`) with attribute
access, and ``run.config`` is an ADict. ``find_best_run`` ranks each run by its best *finite*
value of the metric (a NaN never wins); ``find_similar_runs`` looks across every project.

A run's ``metrics``, ``artifacts`` and ``fingerprints`` are read on first use, never when it is
found (:class:`RunReader`): through the finder's connection while it is open, and once it is
closed (or dropped) through a short-lived read-only connection of their own, so runs keep working
after ``with SQLFinder(...)`` ends (where ato 2.1.7 raised ``DetachedInstanceError``). A run found
by ``AsyncSQLFinder`` never blocks a running event loop: in async code ``await run.metrics.load()``
reads them (a plain access there raises, saying so); outside any event loop they read on first use.

A run is named by its id (``3`` or ``"3"``) or a prefix of its uid (``"a3f9"``, or ``"uid:0412"``
for one of digits only); a question that names an unknown project, metric key or run raises an
error suggesting the closest names instead of answering empty (:mod:`ato.tracking.lookup`).
"""

from __future__ import annotations

import asyncio
import os
import sys
import weakref
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import anyio

from ato.config.adict import ADict
from ato.errors import TrackerError
from ato.projections.queries import (
    Artifact,
    Fingerprint,
    MetricPoint,
    MetricSummary,
    Project,
    Queries,
    Records,
    Run,
    RunEvents,
)
from ato.projections.series import MetricSeries
from ato.storage import loop
from ato.storage.database import database_path
from ato.storage.log import SQLiteEventLog
from ato.tracking import frames, lookup

if TYPE_CHECKING:
    import pandas

__all__ = [
    "Artifact",
    "AsyncSQLFinder",
    "Fingerprint",
    "MetricPoint",
    "MetricSeries",
    "MetricSummary",
    "Project",
    "Records",
    "Run",
    "RunEvents",
    "RunReader",
    "SQLFinder",
]

T = TypeVar("T")


class FinderCore:
    """The database behind a finder, opened read-only on first use; runs on the tracker's loop."""

    def __init__(self, path: Path, reader: RunReader | None = None) -> None:
        self.path = path
        self.reader = reader if reader is not None else RunReader(path)
        self._log: SQLiteEventLog | None = None
        self._queries: Queries | None = None
        self._opening: anyio.Lock | None = None  # made on the tracker's loop, where it is used
        self._closing: anyio.Event | None = None
        self._forked = False

    async def ask(self, query: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Run one query of the read model."""
        if self._forked:
            raise TrackerError("finders do not cross fork(); create one in the child")
        if self._opening is None:
            self._opening = anyio.Lock()
        async with self._opening:
            if self._queries is None:
                self._log = await SQLiteEventLog.open_read_only(self.path)
                self._queries = Queries(self._log, config=ADict, reader=self.reader)
                loop.close_at_exit(self)
            queries = self._queries
        return await query(queries, *args)

    @classmethod
    async def ask_once(cls, path: Path, reader: RunReader, query: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Run one query through a read-only connection opened for it and closed after it."""
        own = cls(path, reader)
        try:
            return await own.ask(query, *args)
        finally:
            await own.close()

    async def close(self) -> None:
        # A dropped finder is closed by a background task, which exit may meet half-way: a second
        # close waits for the first (two closes of one aiosqlite connection would wait for ever).
        if self._closing is not None:
            await self._closing.wait()
            return
        log = self._log
        if log is not None and not self._forked:
            self._closing = anyio.Event()
            try:
                await log.close()
            finally:
                self._log = self._queries = None
                self._closing.set()
                self._closing = None
        loop.closed(self)

    def forked(self) -> None:
        """Called in a fork()ed child: the connection belongs to the parent."""
        self._forked = True

    @property
    def is_open(self) -> bool:
        return self._log is not None and not self._forked


def _in_event_loop() -> bool:
    """Whether this thread runs an event loop (asyncio or trio) that a blocking read would stall."""
    try:
        asyncio.get_running_loop()
        return True
    except RuntimeError:
        pass
    trio = sys.modules.get("trio")
    if trio is not None:
        try:
            trio.lowlevel.current_task()
            return True
        except RuntimeError:
            pass
    return False


class RunReader:
    """Reads the records of the runs a finder (or logger) found, on first use: through the
    finder's open connection, else through a short-lived read-only connection of its own (the
    finder was closed or dropped; a logger's runs always). It holds the finder weakly, so runs
    never keep a finder open. ``blocking=False`` (the async finder's runs): a plain access inside
    a running event loop raises instead of stalling it; ``await records.load()`` reads there."""

    def __init__(self, path: Path, finder: _FinderFacade | None = None, *, blocking: bool = True) -> None:
        self.path = path
        self._finder = None if finder is None else weakref.ref(finder)
        self._blocking = blocking

    def _finder_now(self) -> _FinderFacade | None:
        return None if self._finder is None else self._finder()

    def read(self, query: Callable[..., Awaitable[T]], *args: Any) -> T:
        if not self._blocking and _in_event_loop():
            raise TrackerError(
                "this run's records are not read yet, and reading them here would block the event loop: "
                "`await run.metrics.load()` (or run.artifacts, run.fingerprints) first"
            )
        return loop.call(self._ask, self._finder_now(), query, *args)

    async def aread(self, query: Callable[..., Awaitable[T]], *args: Any) -> T:
        return await loop.to_loop(self._ask, self._finder_now(), query, *args)

    async def _ask(self, finder: _FinderFacade | None, query: Callable[..., Awaitable[T]], *args: Any) -> T:
        # ``finder`` is held for the whole read, so it cannot be dropped (and closed) meanwhile.
        core = None if finder is None else finder._core
        if core is not None and core.is_open:
            return await core.ask(query, *args)
        return await FinderCore.ask_once(self.path, self, query, *args)


class _FinderFacade:
    """What both facades share: where the database is."""

    _blocking_reads = True

    def __init__(self, config: Mapping[str, Any] | str | os.PathLike[str] | None = None) -> None:
        path = database_path(config)
        self._core = FinderCore(path, RunReader(path, self, blocking=self._blocking_reads))

    @property
    def path(self) -> Path:
        """The database file."""
        return self._core.path

    def __del__(self) -> None:
        core = self.__dict__.get("_core")
        if core is not None and core.is_open:
            loop.close_soon(core)  # a finder dropped unclosed: close its connection in the background


class SQLFinder(_FinderFacade):
    """Find projects, runs, the best run, similar runs and trace statistics, synchronously.
    ``with SQLFinder(config) as finder:`` closes the database at the end."""

    def _ask(self, query: Callable[..., Awaitable[T]], *args: Any) -> T:
        return loop.call(self._core.ask, query, *args)

    def find_project(self, name: str) -> Project | None:
        """The project called ``name``, or None."""
        return self._ask(Queries.find_project, name)

    def get_project(self, name: str) -> Project:
        """:meth:`find_project`, raising :class:`UnknownProjectError` (with the closest names) if
        there is none."""
        return self._ask(lookup.project, name)

    def get_projects(self) -> list[Project]:
        """Every project, oldest first."""
        return self._ask(Queries.projects)

    def find_run(self, run_id: int | str) -> Run | None:
        """A run by id (``3``, ``"3"``) or by a unique prefix of its global uid (``"a3f9"``,
        ``"uid:0412"``); None if there is none (as in ato 2.1.7). A prefix that several runs share
        raises :class:`UnknownRunError` listing them."""
        return self._ask(lookup.run_or_none, run_id)

    def get_run(self, run_id: int | str) -> Run:
        """:meth:`find_run`, raising :class:`UnknownRunError` (naming the database and its runs) if
        there is none."""
        return self._ask(lookup.with_run, Queries.find_run, run_id)

    def get_runs_in_project(self, project_name: str) -> list[Run]:
        """Every run of a project, in id order (none for an unknown project, as in ato 2.1.7:
        :meth:`get_project` tells the two apart)."""
        return self._ask(Queries.runs_in_project, project_name)

    def get_all_runs(self) -> list[Run]:
        """Every run of the database, in id order."""
        return self._ask(Queries.all_runs)

    def find_best_run(self, project_name: str, metric_key: str, mode: str = "max") -> Run | None:
        """The run with the best finite value of ``metric_key`` (``mode`` 'max' or 'min'). An
        unknown project raises :class:`UnknownProjectError`, a key that none of the project's runs
        logged :class:`UnknownMetricError` (both suggest the closest names); None where no run has a
        finite value of the key, or none logged any metric yet."""
        return self._ask(lookup.best_run, project_name, metric_key, mode)

    def find_similar_runs(self, run_id: int | str) -> list[Run]:
        """Other runs whose config has the same structural hash (none for an unknown run)."""
        return self._ask(lookup.with_run, Queries.similar_runs, run_id)

    def find_similar_runs_by_trace(self, run_id: int | str, trace_id: str, trace_type: str = "static") -> list[Run]:
        """Other runs with the same ``trace_type`` (static, runtime) fingerprint for ``trace_id``."""
        return self._ask(lookup.with_run, Queries.similar_runs_by_trace, run_id, trace_id, trace_type)

    def get_trace_statistics(self, project_name: str, trace_id: str) -> dict[str, Any]:
        """How many distinct code and runtime versions of ``trace_id`` the project's runs saw; an
        unknown project raises :class:`UnknownProjectError`."""
        return self._ask(lookup.trace_statistics, project_name, trace_id)

    def get_metrics(self, run_id: int | str, key: str, max_points: int | None = None) -> MetricSeries:
        """One metric of one run: numpy arrays ``steps``, ``values``, ``timestamps`` in step
        order; iterates as ``(step, value)`` pairs. ``max_points``: a shape-preserving
        downsample (min and max per bucket, first and last kept) for plotting. A key the run never
        logged raises :class:`UnknownMetricError` naming those it did (a run that logged no metric
        yet: an empty series)."""
        return self._ask(lookup.metrics, run_id, key, max_points)

    def get_metrics_of_runs(
        self, run_ids: Sequence[int | str], key: str, max_points: int | None = None
    ) -> dict[int, MetricSeries]:
        """:meth:`get_metrics` of several runs at once, by run id: a run without the key gets an
        empty series; a key that none of them logged raises :class:`UnknownMetricError`."""
        return self._ask(lookup.metrics_of, run_ids, key, max_points)

    def runs_frame(self, project: str, metrics: str | Iterable[str] | None = None) -> pandas.DataFrame:
        """The runs of ``project`` as a pandas DataFrame, one row per run in id order: ``id``,
        ``uid``, ``project``, ``status``, ``started``, ``finished``, ``duration`` (seconds),
        ``tags`` (comma-joined), ``host``, the config flattened (``model.depth``), and for each
        of ``metrics`` (``"loss"``, ``"val/acc:max"``) ``KEY:last``, ``KEY:min``, ``KEY:max``,
        plus ``KEY:best`` where a direction is given; None: every key the runs logged. NaN stays
        NaN. An unknown project or metric raises (suggesting names); needs ``ato[export]``.
        Details: :mod:`ato.tracking.frames`."""
        frames.pandas_module("SQLFinder.runs_frame")
        specs = frames.metric_specs(metrics)
        runs = self._ask(frames.runs_of_project, project)
        return frames.frame(frames.runs_table(runs, specs, f"in project {project!r}"))

    def metrics_frame(self, runs: Any, keys: str | Iterable[str] | None = None) -> pandas.DataFrame:
        """The points of ``runs`` (run objects, ids or uid prefixes) for ``keys`` (None: every key
        they logged) as a long-form pandas DataFrame: ``run``, ``key``, ``step``, ``value``,
        ``timestamp``, by run, key and step, made from :meth:`get_metrics_of_runs`' arrays. An
        unknown run, or a key none of them logged, raises; needs ``ato[export]``."""
        frames.pandas_module("SQLFinder.metrics_frame")
        wanted = frames.point_keys(keys)
        series = self._ask(frames.points_of_runs, frames.run_refs(runs), wanted)
        return frames.points_frame(series, wanted)

    def get_fingerprints(self, run_id: int | str) -> list[Fingerprint]:
        """Every fingerprint a run recorded: code, runtime outputs, environment."""
        return self._ask(lookup.with_run, Queries.fingerprints, run_id)

    def get_run_events(self, run_id: int | str) -> RunEvents:
        """A run's recorded merge events (by scope) and search events (by search id)."""
        return self._ask(lookup.with_run, Queries.run_events, run_id)

    def close(self) -> None:
        """Close the database (a later query opens it again)."""
        loop.call(self._core.close)

    def __enter__(self) -> SQLFinder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncSQLFinder(_FinderFacade):
    """The same finder for async code (asyncio or trio): every query is a coroutine.
    ``async with AsyncSQLFinder(config) as finder:`` closes the database at the end. A run's
    records are read with ``await run.metrics.load()`` (and ``.artifacts``, ``.fingerprints``)."""

    _blocking_reads = False

    async def _ask(self, query: Callable[..., Awaitable[T]], *args: Any) -> T:
        return await loop.to_loop(self._core.ask, query, *args)

    async def find_project(self, name: str) -> Project | None:
        """The project called ``name``, or None."""
        return await self._ask(Queries.find_project, name)

    async def get_project(self, name: str) -> Project:
        """:meth:`find_project`, raising :class:`UnknownProjectError` (with the closest names) if
        there is none."""
        return await self._ask(lookup.project, name)

    async def get_projects(self) -> list[Project]:
        """Every project, oldest first."""
        return await self._ask(Queries.projects)

    async def find_run(self, run_id: int | str) -> Run | None:
        """A run by id (``3``, ``"3"``) or by a unique prefix of its global uid (``"a3f9"``,
        ``"uid:0412"``); None if there is none (as in ato 2.1.7). A prefix that several runs share
        raises :class:`UnknownRunError` listing them."""
        return await self._ask(lookup.run_or_none, run_id)

    async def get_run(self, run_id: int | str) -> Run:
        """:meth:`find_run`, raising :class:`UnknownRunError` (naming the database and its runs) if
        there is none."""
        return await self._ask(lookup.with_run, Queries.find_run, run_id)

    async def get_runs_in_project(self, project_name: str) -> list[Run]:
        """Every run of a project, in id order (none for an unknown project, as in ato 2.1.7:
        :meth:`get_project` tells the two apart)."""
        return await self._ask(Queries.runs_in_project, project_name)

    async def get_all_runs(self) -> list[Run]:
        """Every run of the database, in id order."""
        return await self._ask(Queries.all_runs)

    async def find_best_run(self, project_name: str, metric_key: str, mode: str = "max") -> Run | None:
        """The run with the best finite value of ``metric_key`` (``mode`` 'max' or 'min'). An
        unknown project raises :class:`UnknownProjectError`, a key that none of the project's runs
        logged :class:`UnknownMetricError` (both suggest the closest names); None where no run has a
        finite value of the key, or none logged any metric yet."""
        return await self._ask(lookup.best_run, project_name, metric_key, mode)

    async def find_similar_runs(self, run_id: int | str) -> list[Run]:
        """Other runs whose config has the same structural hash (none for an unknown run)."""
        return await self._ask(lookup.with_run, Queries.similar_runs, run_id)

    async def find_similar_runs_by_trace(self, run_id: int | str, trace_id: str, trace_type: str = "static") -> list[Run]:
        """Other runs with the same ``trace_type`` (static, runtime) fingerprint for ``trace_id``."""
        return await self._ask(lookup.with_run, Queries.similar_runs_by_trace, run_id, trace_id, trace_type)

    async def get_trace_statistics(self, project_name: str, trace_id: str) -> dict[str, Any]:
        """How many distinct code and runtime versions of ``trace_id`` the project's runs saw; an
        unknown project raises :class:`UnknownProjectError`."""
        return await self._ask(lookup.trace_statistics, project_name, trace_id)

    async def get_metrics(self, run_id: int | str, key: str, max_points: int | None = None) -> MetricSeries:
        """One metric of one run: numpy arrays ``steps``, ``values``, ``timestamps`` in step
        order; iterates as ``(step, value)`` pairs. ``max_points``: a shape-preserving
        downsample (min and max per bucket, first and last kept) for plotting. A key the run never
        logged raises :class:`UnknownMetricError` naming those it did (a run that logged no metric
        yet: an empty series)."""
        return await self._ask(lookup.metrics, run_id, key, max_points)

    async def get_metrics_of_runs(
        self, run_ids: Sequence[int | str], key: str, max_points: int | None = None
    ) -> dict[int, MetricSeries]:
        """:meth:`get_metrics` of several runs at once, by run id: a run without the key gets an
        empty series; a key that none of them logged raises :class:`UnknownMetricError`."""
        return await self._ask(lookup.metrics_of, run_ids, key, max_points)

    async def runs_frame(self, project: str, metrics: str | Iterable[str] | None = None) -> pandas.DataFrame:
        """The runs of ``project`` as a pandas DataFrame, one row per run in id order: ``id``,
        ``uid``, ``project``, ``status``, ``started``, ``finished``, ``duration`` (seconds),
        ``tags`` (comma-joined), ``host``, the config flattened (``model.depth``), and for each
        of ``metrics`` (``"loss"``, ``"val/acc:max"``) ``KEY:last``, ``KEY:min``, ``KEY:max``,
        plus ``KEY:best`` where a direction is given; None: every key the runs logged. NaN stays
        NaN. An unknown project or metric raises (suggesting names); needs ``ato[export]``.
        Details: :mod:`ato.tracking.frames`."""
        frames.pandas_module("AsyncSQLFinder.runs_frame")
        specs = frames.metric_specs(metrics)
        runs = await self._ask(frames.runs_of_project, project)
        return frames.frame(frames.runs_table(runs, specs, f"in project {project!r}"))

    async def metrics_frame(self, runs: Any, keys: str | Iterable[str] | None = None) -> pandas.DataFrame:
        """The points of ``runs`` (run objects, ids or uid prefixes) for ``keys`` (None: every key
        they logged) as a long-form pandas DataFrame: ``run``, ``key``, ``step``, ``value``,
        ``timestamp``, by run, key and step, made from :meth:`get_metrics_of_runs`' arrays. An
        unknown run, or a key none of them logged, raises; needs ``ato[export]``."""
        frames.pandas_module("AsyncSQLFinder.metrics_frame")
        wanted = frames.point_keys(keys)
        series = await self._ask(frames.points_of_runs, frames.run_refs(runs), wanted)
        return frames.points_frame(series, wanted)

    async def get_fingerprints(self, run_id: int | str) -> list[Fingerprint]:
        """Every fingerprint a run recorded: code, runtime outputs, environment."""
        return await self._ask(lookup.with_run, Queries.fingerprints, run_id)

    async def get_run_events(self, run_id: int | str) -> RunEvents:
        """A run's recorded merge events (by scope) and search events (by search id)."""
        return await self._ask(lookup.with_run, Queries.run_events, run_id)

    async def close(self) -> None:
        """Close the database (a later query opens it again)."""
        await loop.to_loop(self._core.close)

    async def __aenter__(self) -> AsyncSQLFinder:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

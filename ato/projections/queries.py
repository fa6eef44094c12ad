"""The one read model: every query of the derived tables, and of a run's own events, lives here.

Readers (the finders, the logger, ``ato replay``/``diff``/``runs``) ask a :class:`Queries` and get
plain, detached records back: :class:`Run`, :class:`Project`, :class:`MetricSummary`. Driver
errors are translated into Ato's errors here, once, as writes are at the store's transaction.

A run's own records (``run.metrics``, ``run.artifacts``, ``run.fingerprints``, as ato 2.1.7 names
them) are :class:`Records`: read on first use through a :class:`RecordReader` the caller supplies
(the finders supply one that goes through their connection), never when the run is found, so a
run with a million points is found as fast as one with none.

``best_run`` ranks each run by its best *finite* value of the metric over all its steps (the
largest for ``mode='max'``, the smallest for ``'min'``): a NaN or infinite value is recorded,
shown, and never wins. ``similar_runs`` looks across every project of the database.
"""

from __future__ import annotations

import json
import math
from array import array
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from itertools import repeat, starmap
from typing import Any, NamedTuple, Protocol, TypeVar, overload

import anyio
import msgspec

from ato.display import render_html, render_rich
from ato.errors import QueryError, UnknownRunError
from ato.events.metric_encoding import KeyPoints, MetricEncodingError, key_points
from ato.events.types import (
    Event,
    HalvingDecided,
    MergeCompleted,
    MergeStarted,
    MergeStepApplied,
    MetricsLogged,
    MetricsPacked,
    RunStatus,
    SearchFinished,
    SearchStarted,
    TrialRecorded,
)
from ato.events.values import decode_value
from ato.projections.display import project_view, run_repr, run_view, summary_view
from ato.projections.liveness import run_died
from ato.projections.series import (
    BatchSummary,
    MetricSeries,
    batches_in_step_order,
    check_max_points,
    decode_parts,
    downsample,
    downsample_batches,
    series_from_points,
    series_from_rows,
)
from ato.projections.tables import TABLES
from ato.storage.database import translate_errors
from ato.storage.log import SQLiteEventLog

__all__ = [
    "Artifact",
    "Fingerprint",
    "MetricPoint",
    "MetricPoints",
    "MetricSummary",
    "Project",
    "Queries",
    "RecordReader",
    "Records",
    "Run",
    "RunEvents",
]

_decode_config = msgspec.msgpack.Decoder().decode
T = TypeVar("T")


def utc_datetime(seconds: float) -> datetime:
    """Seconds since the epoch as ato 2.1.7 gave times: a naive datetime, in UTC."""
    return datetime.fromtimestamp(seconds, timezone.utc).replace(tzinfo=None)


@dataclass(frozen=True)
class Project:
    """A project. ``created_at`` is a naive UTC datetime, as ato 2.1.7 gave it; ``description`` is a
    column of 2.1.7 that Ato never records (always None)."""

    id: int
    name: str
    created_at: datetime
    description: str | None = None

    def _repr_html_(self) -> str:
        """The project as an HTML table, for Jupyter."""
        return render_html(project_view(self))

    def __rich__(self) -> Any:
        """The project as a rich table (rich imported only now)."""
        return render_rich(project_view(self))


@dataclass(frozen=True)
class MetricSummary:
    """One metric of one run: how many points, the last (at the highest step), the finite extremes."""

    count: int
    last_step: int
    last: float
    min: float | None
    max: float | None

    def _repr_html_(self) -> str:
        """The summary as an HTML table, for Jupyter."""
        return render_html(summary_view(self))

    def __rich__(self) -> Any:
        """The summary as a rich table (rich imported only now)."""
        return render_rich(summary_view(self))


class MetricPoint(NamedTuple):
    """One logged point, as ato 2.1.7's ``Metric`` row: ``timestamp`` is when it was logged, a naive
    UTC datetime (``at`` is the same in seconds since the epoch). A named tuple: a run may have
    millions, and one is made each time a point is read from :class:`MetricPoints`."""

    run_id: int
    key: str
    value: float
    step: int
    at: float

    @property
    def timestamp(self) -> datetime:
        return utc_datetime(self.at)


@dataclass(frozen=True)
class Artifact:
    """One recorded artifact, as ato 2.1.7's ``Artifact`` row: ``data_info`` is 2.1.7's name for the
    metadata (``metadata`` reads the same; ``{}`` where none was given, where 2.1.7 kept None). Ato
    adds the file's size and SHA-256 where it was a local file, and when it was logged."""

    run_id: int
    path: str
    data_type: str | None
    data_info: dict[str, Any]
    size: int | None
    sha256: str | None
    logged_at: float

    @property
    def metadata(self) -> dict[str, Any]:
        return self.data_info


@dataclass(frozen=True)
class Fingerprint:
    """One recorded fingerprint of a run: ``kind`` (ato 2.1.7's ``trace_type``) is static (code),
    runtime or environment."""

    trace_id: str
    kind: str
    fingerprint: str
    detail: dict[str, Any]

    @property
    def trace_type(self) -> str:
        return self.kind


class RecordReader(Protocol):
    """How a run's records are read: ``read`` blocks the calling thread, ``aread`` is awaited; both
    return ``query(queries, *args)`` asked of the database the run was found in."""

    def read(self, query: Callable[..., Awaitable[T]], *args: Any) -> T: ...

    async def aread(self, query: Callable[..., Awaitable[T]], *args: Any) -> T: ...


class Records(Sequence[T]):
    """A run's metrics, artifacts or fingerprints, read on first use and then held: ``len()``,
    indexing (negative too), slices (a list) and iteration work as on ato 2.1.7's lists. In async
    code, ``await run.metrics.load()`` reads them without blocking the event loop."""

    __slots__ = ("_args", "_items", "_query", "_reader", "_run_id", "_size", "_what")

    def __init__(
        self,
        what: str,
        run_id: int,
        reader: RecordReader | None,
        query: Callable[..., Awaitable[Sequence[T]]] | None = None,
        args: tuple[Any, ...] = (),
        size: int | None = None,
        items: Sequence[T] | None = None,
    ) -> None:
        self._what, self._run_id, self._reader, self._query, self._args = what, run_id, reader, query, args
        self._size = size  # known without reading (the metrics' count), or None
        self._items = items

    @classmethod
    def of(cls, what: str, run_id: int, items: Sequence[T]) -> Records[T]:
        """Records already read."""
        return cls(what, run_id, None, items=items)

    @property
    def loaded(self) -> bool:
        """Whether the records have been read."""
        return self._items is not None

    def _read(self) -> Sequence[T]:
        items = self._items
        if items is None:
            assert self._reader is not None and self._query is not None
            items = self._items = self._reader.read(self._query, *self._args)
            self._reader = None  # read once: let go of the finder
        return items

    async def load(self) -> Records[T]:
        """Read the records now (awaited: the event loop never blocks); returns them."""
        reader = self._reader
        if self._items is None and reader is not None and self._query is not None:
            self._items = await reader.aread(self._query, *self._args)
            self._reader = None
        return self

    def __len__(self) -> int:
        if self._items is None and self._size is not None:
            return self._size
        return len(self._read())

    @overload
    def __getitem__(self, index: int) -> T: ...

    @overload
    def __getitem__(self, index: slice) -> list[T]: ...

    def __getitem__(self, index: int | slice) -> T | list[T]:
        items = self._read()
        if isinstance(index, slice):
            return list(items[index])
        return items[index]

    def __iter__(self) -> Iterator[T]:
        return iter(self._read())

    def __reversed__(self) -> Iterator[T]:
        return reversed(self._read())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (Records, list, tuple)):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # compared by content, like a list

    def __repr__(self) -> str:
        if self._items is None:
            count = "" if self._size is None else f"{self._size} "
            return f"<{count}{self._what} of run {self._run_id}, not read yet>"
        if len(self._items) > 6:
            return f"<{len(self._items)} {self._what} of run {self._run_id}: {self._items[0]!r}, ...>"
        return repr(list(self._items))

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled (or deep-copied) as what it holds, read now: the reader is a live connection.
        return (Records.of, (self._what, self._run_id, list(self._read())))


class MetricPoints(Sequence[MetricPoint]):
    """A run's points held column by column (a million points take tens of megabytes, not a
    million objects); each :class:`MetricPoint` is made when it is asked for."""

    __slots__ = ("_key_index", "_keys", "_run_id", "_steps", "_times", "_values")

    def __init__(
        self,
        run_id: int,
        keys: list[str],
        key_index: array,  # type: ignore[type-arg]
        steps: array,  # type: ignore[type-arg]
        values: array,  # type: ignore[type-arg]
        times: array,  # type: ignore[type-arg]
    ) -> None:
        self._run_id, self._keys, self._key_index = run_id, keys, key_index
        self._steps, self._values, self._times = steps, values, times

    def __len__(self) -> int:
        return len(self._steps)

    @overload
    def __getitem__(self, index: int) -> MetricPoint: ...

    @overload
    def __getitem__(self, index: slice) -> list[MetricPoint]: ...

    def __getitem__(self, index: int | slice) -> MetricPoint | list[MetricPoint]:
        if isinstance(index, slice):
            return [self._point(i) for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"point {index} of run {self._run_id}, which has {len(self)}")
        return self._point(index)

    def _point(self, i: int) -> MetricPoint:
        return MetricPoint(self._run_id, self._keys[self._key_index[i]], self._values[i], self._steps[i], self._times[i])

    def __iter__(self) -> Iterator[MetricPoint]:
        keys = map(self._keys.__getitem__, self._key_index)
        return starmap(MetricPoint, zip(repeat(self._run_id), keys, self._values, self._steps, self._times))


def _points(run_id: int, parts: list[tuple[int, KeyPoints]], counts: dict[str, int]) -> MetricPoints:
    """A run's points from its metric events' series (in log order), at most ``counts[key]`` of
    each key, in the order they were logged: event by event, and within an event by time, then
    step (a coarse clock gives many points one time). Time and step are taken as running maxima
    within each series, so a clock set back never reorders a key's own points."""
    import numpy as np  # on the first read only: `import ato` loads no numpy

    keys: dict[str, int] = {}
    left = dict(counts)
    kept: list[tuple[int, int, Any, Any, Any]] = []  # event, key, steps, values, times
    for seq, (key, s, v, t) in parts:
        room = left.get(key, 0)
        if room <= 0:
            continue  # logged after the run was found
        if len(s) > room:
            s, v, t = s[:room], v[:room], t[:room]
        left[key] = room - len(s)
        kept.append((seq, keys.setdefault(key, len(keys)), s, v, t))
    if not kept:
        return MetricPoints(run_id, [], array("I"), array("q"), array("d"), array("d"))
    lengths = [len(part[2]) for part in kept]
    steps = [part[2] for part in kept]
    times = [part[4] for part in kept]
    order = np.lexsort((
        np.arange(sum(lengths)),  # last resort: log order within a series, then series order
        np.concatenate([np.maximum.accumulate(column) for column in steps]),
        np.concatenate([np.maximum.accumulate(column) for column in times]),
        np.repeat([part[0] for part in kept], lengths),
    ))
    values = np.concatenate([part[3] for part in kept])
    return MetricPoints(
        run_id,
        list(keys),
        array("I", np.repeat(np.array([part[1] for part in kept], np.uint32), lengths)[order].tobytes()),
        array("q", np.concatenate(steps)[order].tobytes()),
        array("d", values[order].tobytes()),
        array("d", np.concatenate(times)[order].tobytes()),
    )


@dataclass(frozen=True)
class Run:
    """A run as the projections hold it, under Ato's names and ato 2.1.7's.

    ``config`` is an ADict when read through a finder. ``started_at``/``finished_at`` are seconds
    since the epoch; ``start_time``/``end_time`` give the same as naive UTC datetimes, as 2.1.7
    did, so 2.1.7 code (``run.end_time - run.start_time``, comparisons with ``datetime.utcnow()``)
    keeps working. ``metric_summaries`` (per key: count, last, finite min and max) is read with the
    run. ``metrics`` (point records: ``key``, ``value``, ``step``, ``timestamp``, in the order they
    were logged), ``artifacts`` and ``fingerprints`` are :class:`Records`, read on first use, so
    finding a run never reads its points; ``len(run.metrics)`` needs no read. ``metrics`` holds the
    points the run had when it was found; artifacts and fingerprints are read as they are then.

    ``status`` is ``died`` for a run that never ended whose process is gone, judged when the run
    is read (:mod:`ato.projections.liveness`; nothing is written). ``rank``, ``world_size`` and
    ``group`` place the run's process within a distributed job (None, None, ``""`` for one process).
    """

    id: int
    uid: str
    project: str
    project_id: int
    status: str
    tags: list[str]
    config: Any
    structural_hash: str
    started_at: float
    finished_at: float | None
    argv: list[str]
    host: str
    pid: int
    metric_summaries: dict[str, MetricSummary]
    metrics: Records[MetricPoint] = field(compare=False)
    artifacts: Records[Artifact] = field(compare=False)
    fingerprints: Records[Fingerprint] = field(compare=False)
    rank: int | None = None
    world_size: int | None = None
    group: str = ""

    @property
    def start_time(self) -> datetime:
        """When the run started: a naive UTC datetime, as ato 2.1.7 gave it."""
        return utc_datetime(self.started_at)

    @property
    def end_time(self) -> datetime | None:
        """When the run finished (None while it runs): a naive UTC datetime, as ato 2.1.7 gave it."""
        return None if self.finished_at is None else utc_datetime(self.finished_at)

    def __repr__(self) -> str:
        # One short line (the dataclass's own would print the whole config); dataclass keeps a
        # __repr__ the class defines.
        return run_repr(self)

    def _repr_html_(self) -> str:
        """The run as HTML tables, for Jupyter: fields, a compact config, metric summaries.
        Escaped and bounded (:mod:`ato.display`); reads none of the run's points."""
        return render_html(run_view(self))

    def __rich__(self) -> Any:
        """The run as rich tables (rich imported only now); the same as :meth:`_repr_html_`."""
        return render_rich(run_view(self))


@dataclass(frozen=True)
class RunEvents:
    """A run's merge events by scope and its search events by search id, each in log order."""

    scopes: dict[str, list[Event]]
    searches: dict[str, list[Event]]


_RUN_COLUMNS = (
    "e.id, e.uid, p.name, e.project_id, e.status, e.tags, e.config, e.structural_hash, e.started_at, "
    "e.finished_at, e.argv, e.host, e.pid"
)
# Of this layout (tables.VERSION 3); a file of layout 2, read as it is, has none of them.
_PROCESS_COLUMNS = ", e.rank, e.world_size, e.run_group, e.last_seen, e.ended"
_NO_PROCESS_COLUMNS = ", NULL, NULL, '', NULL, e.finished_at IS NOT NULL"
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


class _OwnReader:
    """Reads records through the Queries that found the run, awaited on its loop only: runs found
    without a reader (maintenance's) are never handed to users."""

    def __init__(self, queries: Queries) -> None:
        self._queries = queries

    def read(self, query: Callable[..., Awaitable[T]], *args: Any) -> T:
        raise QueryError("this run was not found through a finder: await run.metrics.load() (or artifacts, fingerprints)")

    async def aread(self, query: Callable[..., Awaitable[T]], *args: Any) -> T:
        return await query(self._queries, *args)


def _project(project_id: int, name: str, created_at: float) -> Project:
    return Project(project_id, name, utc_datetime(created_at))


class Queries:
    """Reads over one open log and its projections. ``config`` turns a run's decoded config into
    what callers want it to be (the finders pass ADict); ``reader`` reads a run's records on
    first use (the finders pass one that goes through their own connection)."""

    def __init__(
        self,
        log: SQLiteEventLog,
        config: Callable[[Any], Any] = lambda value: value,
        reader: RecordReader | None = None,
    ) -> None:
        self.log = log
        self.path = log.path
        self._has_index = False  # whether the tables index the metric events (metric_batches)
        self._process_columns: str | None = None  # the run columns this file's layout has
        self._config = config
        self._reader: RecordReader = _OwnReader(self) if reader is None else reader

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
        return _project(*rows[0]) if rows else None

    async def projects(self) -> list[Project]:
        return [_project(*row) for row in await self._rows("SELECT id, name, created_at FROM projects ORDER BY id")]

    async def runs(self, where: str, params: tuple[Any, ...]) -> list[Run]:
        extra = await self._run_process_columns()
        rows = await self._rows(f"SELECT {_RUN_COLUMNS}{extra} FROM {_RUN_FROM} WHERE {where} ORDER BY e.id", params)
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

    async def _run_process_columns(self) -> str:
        """The process and liveness columns of ``experiments``, or constants where this file's
        tables are of an earlier layout (readers read such a file as it is)."""
        if self._process_columns is None:
            rows = await self._rows("SELECT 1 FROM pragma_table_info('experiments') WHERE name = 'last_seen'")
            if not rows:
                return _NO_PROCESS_COLUMNS  # asked again next time: a writer may derive them meanwhile
            self._process_columns = _PROCESS_COLUMNS
        return self._process_columns

    def _run(self, row: Any, summaries: dict[str, MetricSummary]) -> Run:
        (run_id, uid, project, project_id, status, tags, config, shash, started, finished, argv, host, pid,
         rank, world_size, group, last_seen, ended) = row
        if not ended and finished is None and run_died(host, pid, started, last_seen):
            status = RunStatus.DIED.value
        counts = {key: summary.count for key, summary in summaries.items()}
        reader = self._reader
        return Run(
            id=run_id,
            uid=uid,
            project=project,
            project_id=project_id,
            status=status,
            tags=json.loads(tags),
            config=self._config(decode_value(_decode_config(config))),
            structural_hash=shash,
            started_at=started,
            finished_at=finished,
            argv=json.loads(argv),
            host=host,
            pid=pid,
            metric_summaries=summaries,
            metrics=Records("metric points", run_id, reader, Queries.metric_points, (run_id, counts), sum(counts.values())),
            artifacts=Records("artifacts", run_id, reader, Queries.artifacts_of, (run_id,)),
            fingerprints=Records("fingerprints", run_id, reader, Queries.fingerprints_of, (run_id,)),
            rank=rank,
            world_size=world_size,
            group=group,
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
            raise UnknownRunError(f"{problem} {str(run_id)[:40]!r} in {self.path}", missing=not runs)
        return runs[0]

    async def run_or_none(self, run_id: int | str) -> Run | None:
        """:meth:`find_run`, with None where no run matches (an ambiguous prefix still raises)."""
        try:
            return await self.find_run(run_id)
        except UnknownRunError as exc:
            if exc.missing:
                return None
            raise

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
    async def metrics(self, run_id: int | str, key: str, max_points: int | None = None) -> MetricSeries:
        """One metric of one run as arrays, in step order (:mod:`ato.projections.series`);
        ``max_points``: a shape-preserving downsample of at most that many points."""
        run = await self.find_run(run_id)
        if max_points is not None:
            check_max_points(max_points)
            sampled = await self._downsample_from_index(run.id, key, max_points)
            if sampled is not None:
                return sampled
        if await self._indexed():
            rows = await self._metric_rows(run.id, key)
            series = await anyio.to_thread.run_sync(series_from_rows, run.id, key, rows)  # the loop keeps serving
        else:  # tables of an earlier Ato: no index to say which events hold the points
            parts = await self._metric_parts_from_log(run.uid, key)
            series = await anyio.to_thread.run_sync(series_from_points, run.id, key, [p for _, p in parts])
        return series if max_points is None else downsample(series, max_points)

    async def _downsample_from_index(self, run_id: int, key: str, max_points: int) -> MetricSeries | None:
        """The downsample of a long curve from its batches' summaries, decoding only the first
        and last batch (:func:`~ato.projections.series.downsample_batches`); None where the
        curve is short, its batches overlap in steps, or the file has no index."""
        if not await self._indexed():
            return None
        rows = await self._rows(
            "SELECT seq, part, count, first_step, last_step, low_step, low_value, low_time, high_step, high_value, "
            "high_time FROM metric_batches WHERE run_id = ? AND key = ? ORDER BY seq, part",
            (run_id, key),
        )
        batches = [BatchSummary(*row[2:]) for row in rows]
        if len(batches) <= (max_points - 2) // 2 or sum(b.points for b in batches) <= max_points:
            return None
        if not batches_in_step_order(batches):
            return None
        ends = await self._with_payloads([(seq, part) for seq, part, *_ in (rows[0], rows[-1])])
        decoded = await anyio.to_thread.run_sync(decode_parts, ends)
        first = [points for seq, points in decoded if seq == rows[0][0]]
        last = [points for seq, points in decoded if seq == rows[-1][0]]
        return downsample_batches(
            run_id, key, batches, series_from_points(run_id, key, first[:1]),
            series_from_points(run_id, key, last[-1:]), max_points,
        )

    async def _metric_parts(self, run_id: int, uid: str, key: str | None) -> list[tuple[int, KeyPoints]]:
        """The run's points of ``key`` (of every key for None) by event, in log order, decoded
        off the loop's thread. The ``metric_batches`` index says which events hold them; a file
        whose tables an earlier Ato derived (no index yet) is read through the run's events."""
        if not await self._indexed():
            return await self._metric_parts_from_log(uid, key)
        return await anyio.to_thread.run_sync(decode_parts, await self._metric_rows(run_id, key))

    async def _metric_rows(self, run_id: int, key: str | None) -> list[Any]:
        """``(seq, part, payload)`` of the events that hold the run's points of ``key`` (of every
        key for None), in log order: the index names them, the log holds them."""
        where, params = ("run_id = ?", (run_id,)) if key is None else ("run_id = ? AND key = ?", (run_id, key))
        batches = await self._rows(f"SELECT seq, part FROM metric_batches WHERE {where} ORDER BY seq, part", params)
        return await self._with_payloads(batches)

    async def _with_payloads(self, batches: Sequence[tuple[int, int]]) -> list[tuple[int, int, bytes]]:
        """``(seq, part, payload)`` of the index's ``(seq, part)`` rows: the log holds the points."""
        with translate_errors(self.path):
            payloads = await self.log.payloads([seq for seq, _ in batches])
        return [(seq, part, payloads[seq]) for seq, part in batches if seq in payloads]

    async def _metric_parts_from_log(self, uid: str, key: str | None) -> list[tuple[int, KeyPoints]]:
        parts = []
        with translate_errors(self.path):
            async for stored in self.log.read(run=uid):
                if isinstance(stored.event, (MetricsPacked, MetricsLogged)):
                    try:
                        decoded = key_points(stored.event)
                    except MetricEncodingError:
                        continue
                    parts += [(stored.seq, points) for points in decoded if key is None or points.key == key]
        return parts

    async def _indexed(self) -> bool:
        """Whether this file's tables index the metric events (tables of this Ato's layout)."""
        if not self._has_index:  # asked until it is there (a writer may derive the tables meanwhile)
            rows = await self._rows("SELECT 1 FROM main.sqlite_master WHERE type = 'table' AND name = 'metric_batches'")
            self._has_index = bool(rows)
        return self._has_index

    async def metrics_of(
        self, run_ids: Sequence[int | str], key: str, max_points: int | None = None
    ) -> dict[int, MetricSeries]:
        """:meth:`metrics` of several runs, by run id (a run without the key: an empty series)."""
        if isinstance(run_ids, (str, bytes)) or not isinstance(run_ids, Sequence):
            raise QueryError(f"run_ids must be a list of run ids, not {type(run_ids).__name__}")
        found: dict[int, MetricSeries] = {}
        for run_id in run_ids:
            series = await self.metrics(run_id, key, max_points)
            found[series.run_id] = series
        return found

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
        return await self.fingerprints_of(run.id)

    # -- a run's records, read on first use (``Run.metrics``, ``.artifacts``, ``.fingerprints``) ------
    async def fingerprints_of(self, run_id: int) -> list[Fingerprint]:
        """The fingerprints of run ``run_id`` of this database, by trace id and kind."""
        rows = await self._rows(
            "SELECT trace_id, kind, fingerprint, detail FROM fingerprints WHERE run_id = ? ORDER BY trace_id, kind",
            (run_id,),
        )
        return [Fingerprint(trace_id, kind, value, json.loads(detail)) for trace_id, kind, value, detail in rows]

    async def artifacts_of(self, run_id: int) -> list[Artifact]:
        """The artifacts of run ``run_id`` of this database, in the order they were logged."""
        rows = await self._rows(
            "SELECT path, data_type, metadata, size, sha256, logged_at FROM artifacts WHERE run_id = ? ORDER BY id",
            (run_id,),
        )
        return [
            Artifact(run_id, path, data_type, json.loads(metadata), size, sha256, logged_at)
            for path, data_type, metadata, size, sha256, logged_at in rows
        ]

    async def metric_points(self, run_id: int, counts: dict[str, int]) -> MetricPoints:
        """The points of run ``run_id`` of this database as it was found (``counts``: how many
        points each key had then), in the order they were logged: flush by flush, and within a
        flush by time, then step (:func:`_points`). Each key's own points keep their order."""
        run = await self.run_uid(run_id)
        parts = await self._metric_parts(run_id, run, None)
        return await anyio.to_thread.run_sync(_points, run_id, parts, counts)  # the loop keeps serving

    # -- what maintenance compares -------------------------------------------------------------------
    async def missing_tables(self) -> list[str]:
        """The projection tables this file lacks."""
        rows = await self._rows("SELECT name FROM main.sqlite_master WHERE type = 'table'")
        present = {row[0] for row in rows}
        return [table for table in TABLES if table not in present]

    async def position(self) -> int:
        """The last log sequence the projections reflect."""
        rows = await self._rows("SELECT position FROM main.projection_position WHERE name = 'tables'")
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

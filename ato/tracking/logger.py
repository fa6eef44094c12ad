"""The experiment logger: one async core, a sync facade (``SQLLogger``) and an async one
(``AsyncSQLLogger``).

``log_metric`` never touches the disk: it appends a point to an in-memory buffer and returns. A
writer task on the tracker's loop (:mod:`ato.storage.loop`) turns the buffer into one
``metrics.logged`` event per flush, when ``batch_size`` points are waiting or ``flush_interval``
seconds have passed. ``flush()`` and ``finish()`` make everything durable; interpreter exit
flushes too. When ``max_buffer`` points are waiting, ``log_metric`` itself flushes before it
returns (backpressure): nothing is ever dropped. A crash loses at most the unflushed window.

The project is ``config.experiment.project_name`` (``"default"`` where absent); the database,
see :mod:`ato.storage.database`. A run started inside a ``@scope`` function records that scope's merge
trace with it (:func:`ato.config.scope.active_scopes`); keys changed after the merge are recorded as one
more step, so the run's config always replays.
"""

from __future__ import annotations

import enum
import hashlib
import os
import socket
import sys
import time
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import anyio

from ato.storage import loop as portal
from ato.config.adict import ADict
from ato.storage.database import database_path
from ato.errors import MetricValueError, TrackerError, UnknownRunError
from ato.events.types import (
    ArtifactLogged,
    Event,
    FingerprintRecorded,
    MetricsLogged,
    RunFinished,
    RunStarted,
    RunStatusChanged,
    new_event_id,
)
from ato.events.values import encode_value
from ato.fingerprints.runtime import RuntimeRecord
from ato.fingerprints.tracing import watch_runtime
from ato.storage.store import Store
from ato.config.structural_hash import structural_hash

__all__ = ["AsyncSQLLogger", "LoggerState", "SQLLogger"]


class LoggerState(enum.Enum):
    IDLE = "idle"  # created, or between runs
    RUNNING = "running"  # run() was called; metrics are accepted
    CLOSED = "closed"  # closed for good


# Cores with an open database, held strongly so that a logger dropped mid-run still has its
# buffered points flushed at exit.
_open_cores: set[_LoggerCore] = set()


def _close_open_cores() -> None:
    """At exit: flush what is buffered and close every database (runs keep their status)."""
    for core in list(_open_cores):
        portal.call(core.close)


portal.at_exit(_close_open_cores)


class _LoggerCore:
    """Everything the two facades share. Coroutines run on the tracker's loop; ``add`` runs in
    the caller's thread and is the whole hot path."""

    def __init__(
        self,
        config: Mapping[str, Any],
        *,
        batch_size: int = 10_000,
        max_buffer: int = 500_000,
        flush_interval: float = 0.5,
    ) -> None:
        self.config = config if isinstance(config, ADict) else ADict(config)
        self.path = database_path(self.config)
        experiment = self.config.get("experiment")
        name = experiment.get("project_name") if isinstance(experiment, Mapping) else None
        self.project = str(name) if name else "default"
        self.batch_size = batch_size
        self.max_buffer = max_buffer
        self.flush_interval = flush_interval
        self.state = LoggerState.IDLE
        self.points: list[tuple[str, int, float, float]] = []
        self.wake_pending = False
        self.run_uid = ""
        self.run_id: int | None = None
        self._steps: dict[str, int] = {}
        self._store: Store | None = None
        self._lock: anyio.Lock | None = None
        self._wake: anyio.Event | None = None
        self._writer_stopped: anyio.Event | None = None
        self._stopping = False
        self._runtime: dict[str, RuntimeRecord] = {}

    def record_runtime(self, trace_id: str, digest: str) -> None:
        """Called by ``@runtime_trace`` functions (any thread) while this run is in progress."""
        record = self._runtime.get(trace_id)
        if record is None:
            record = self._runtime[trace_id] = RuntimeRecord()
        record.add(digest)

    def _runtime_events(self) -> list[Event]:
        records, self._runtime = self._runtime, {}
        return [
            FingerprintRecorded(
                run=self.run_uid, trace_id=trace_id, kind="runtime", fingerprint=record.fingerprint,
                detail=record.detail(),
            )
            for trace_id, record in sorted(records.items())
        ]

    # -- the hot path (caller's thread) ---------------------------------------------------------
    def add(self, key: str, value: Any, step: int | None) -> int:
        """Buffer one point; return the buffer's length once it reaches ``batch_size``, else 0."""
        if self.state is not LoggerState.RUNNING:
            raise TrackerError(f"log_metric({key!r}) before run() or after finish(): call logger.run() first")
        if type(key) is not str:
            raise TypeError(f"metric key must be a str, got {type(key).__name__} {key!r}")
        if type(value) is not float:
            value = _as_number(key, value, step)
        if step is None:
            step = self._steps.get(key, -1) + 1
            self._steps[key] = step
        points = self.points
        points.append((key, step, value, time.time()))
        n = len(points)
        return n if n >= self.batch_size else 0

    # -- coroutines (tracker loop) ----------------------------------------------------------------
    async def _open(self) -> Store:
        if self._store is None:
            self._store = await Store.open(self.path)
            self._lock = anyio.Lock()
            _open_cores.add(self)
        return self._store

    async def start_run(self, tags: Sequence[str], context: list[Event]) -> int:
        if self.state is LoggerState.RUNNING:
            raise TrackerError(f"run {self.run_id} is still running: finish() it before starting another")
        if self.state is LoggerState.CLOSED:
            raise TrackerError("this logger is closed; create a new one")
        store = await self._open()
        uid = new_event_id()
        started = RunStarted(
            run=uid,
            project=self.project,
            config=encode_value(self.config),
            structural_hash=structural_hash(self.config),
            tags=tuple(str(tag) for tag in tags),
            argv=tuple(sys.argv),
            host=socket.gethostname(),
            pid=os.getpid(),
        )
        events = [started, *(_with_run(event, uid) for event in context)]
        await store.append(events)
        run_id = await store.run_id(uid)
        assert run_id is not None
        self.run_uid, self.run_id, self._steps = uid, run_id, {}
        self._runtime = {}
        self.state = LoggerState.RUNNING
        watch_runtime(self, True)
        self._stopping = False
        self._wake = anyio.Event()
        self._writer_stopped = anyio.Event()
        return run_id

    async def writer(self) -> None:
        """Flush by time and by size until the run finishes."""
        assert self._writer_stopped is not None
        try:
            while not self._stopping:
                with anyio.move_on_after(self.flush_interval):
                    assert self._wake is not None
                    await self._wake.wait()
                self._wake = anyio.Event()
                self.wake_pending = False
                try:
                    await self.flush()
                except Exception as exc:  # keep the points; flush()/finish() will report it
                    warnings.warn(f"ato: background flush failed, will retry: {exc}", RuntimeWarning)
        finally:
            self._writer_stopped.set()

    async def wake(self) -> None:
        if self._wake is not None:
            self._wake.set()

    async def flush(self) -> None:
        """Write every buffered point as one event; on failure the points stay buffered."""
        if self._store is None or self._lock is None:
            return
        async with self._lock:
            points = self.points
            n = len(points)
            if not n:
                return
            batch = points[:n]  # appends from other threads land after index n: untouched here
            del points[:n]
            keys, steps, values, times = zip(*batch)
            event = MetricsLogged(
                run=self.run_uid, keys=list(keys), steps=list(steps), values=list(values), times=list(times)
            )
            try:
                await self._store.append([event])
            except BaseException:
                points[0:0] = batch
                raise

    async def append(self, *events: Event) -> None:
        """Append events of the running run (after the buffered points, to keep the order)."""
        self._require_running("log")
        assert self._store is not None
        await self.flush()
        await self._store.append([_with_run(event, self.run_uid) if not event.run else event for event in events])

    async def artifact(
        self, run_id: int | None, path: str | os.PathLike[str], data_type: str | None, metadata: Mapping[str, Any] | None
    ) -> None:
        store = await self._open()
        uid = self.run_uid if run_id in (None, self.run_id) else await _uid_of(store, run_id)
        if not uid:
            raise TrackerError("log_artifact() needs a run: call logger.run() first")
        size, digest = await anyio.to_thread.run_sync(_file_digest, Path(os.fspath(path)))
        event = ArtifactLogged(
            run=uid, path=os.fspath(path), data_type=data_type, metadata=dict(metadata or {}), size=size, sha256=digest
        )
        if uid == self.run_uid and self.state is LoggerState.RUNNING:
            await self.flush()
        await store.append([event])

    async def finish(self, status: str) -> None:
        self._require_running("finish")
        await self._stop_writer()
        await self.flush()
        watch_runtime(self, False)
        assert self._store is not None
        await self._store.append([*self._runtime_events(), RunFinished(run=self.run_uid, status=status)])
        self.state = LoggerState.IDLE
        await self._close_store()  # a next run() reopens it

    async def _close_store(self) -> None:
        if self._store is not None:
            await self._store.close()
            self._store = None
        _open_cores.discard(self)

    async def close(self) -> None:
        """Flush, stop the writer, close the database (the run keeps its status)."""
        if self.state is LoggerState.RUNNING:
            await self._stop_writer()
            await self.flush()
            watch_runtime(self, False)
            if self._runtime and self._store is not None:
                await self._store.append(self._runtime_events())
        await self._close_store()
        self.state = LoggerState.CLOSED

    async def _stop_writer(self) -> None:
        self._stopping = True
        if self._wake is not None:
            self._wake.set()
        if self._writer_stopped is not None:
            with anyio.move_on_after(5):  # the writer was started by the facade; never hang on it
                await self._writer_stopped.wait()

    def _require_running(self, what: str) -> None:
        if self.state is not LoggerState.RUNNING:
            raise TrackerError(f"cannot {what}: no run is in progress (call logger.run() first)")


def _with_run(event: Event, uid: str) -> Event:
    import msgspec

    return msgspec.structs.replace(event, run=uid, event_id=new_event_id())


async def _uid_of(store: Store, run_id: int) -> str:
    async with store.log.connection.execute("SELECT uid FROM experiments WHERE id = ?", (run_id,)) as cursor:
        row = await cursor.fetchone()
    if row is None:
        raise UnknownRunError(f"no run {run_id} in {store.path}")
    return str(row[0])


def _file_digest(path: Path) -> tuple[int | None, str | None]:
    if not path.is_file():
        return None, None  # a URI or a file that lives elsewhere: recorded by name only
    with path.open("rb") as handle:
        digest = hashlib.file_digest(handle, "sha256").hexdigest()
    return path.stat().st_size, digest


def _as_number(key: str, value: Any, step: int | None) -> float:
    if isinstance(value, (str, bytes)) or not hasattr(value, "__float__"):
        where = f" at step {step}" if step is not None else ""
        raise MetricValueError(
            f"metric {key!r}{where}: expected a number, got {type(value).__name__} {value!r:.60}"
        )
    try:
        return float(value)
    except (TypeError, ValueError) as exc:
        raise MetricValueError(f"metric {key!r}: {value!r:.60} is not a single number ({exc})") from None


def _run_context(config: ADict) -> list[Event]:
    """Events that travel with a new run: the environment and code fingerprints, and the merge
    traces of the scopes running it."""
    from ato.fingerprints.tracing import fingerprint_events
    from ato.config.scope import active_scopes

    events: list[Event] = list(fingerprint_events())
    seen: set[int] = set()
    for scope in active_scopes():
        trace = scope._trace
        if trace is None or id(scope) in seen:
            continue
        seen.add(id(scope))
        events += trace.events_for_run(scope._config)
    return events


# -- the facades ------------------------------------------------------------------------------------------
class SQLLogger:
    """Log a run to SQLite, synchronously. ``with SQLLogger(config) as logger:`` finishes the run
    ``completed`` (or ``failed`` on an exception) and closes the database."""

    def __init__(self, config: Mapping[str, Any], **options: Any) -> None:
        self._core = _LoggerCore(config, **options)

    @property
    def state(self) -> LoggerState:
        return self._core.state

    @property
    def run_id(self) -> int | None:
        return self._core.run_id

    @property
    def path(self) -> Path:
        return self._core.path

    def run(self, tags: Sequence[str] = ()) -> int:
        """Start a run; returns its id in this database."""
        core = self._core
        run_id = portal.call(core.start_run, tags, _run_context(core.config))
        portal.get_portal().start_task_soon(core.writer)
        return run_id

    def log_metric(self, key: str, value: Any, step: int | None = None) -> None:
        """Buffer one metric point (``step`` defaults to one past this key's last)."""
        if self._core.add(key, value, step):
            self._attend()

    def _attend(self) -> None:
        core = self._core
        if len(core.points) >= core.max_buffer:
            portal.call(core.flush)
        elif not core.wake_pending:
            core.wake_pending = True
            portal.get_portal().start_task_soon(core.wake)

    def log_artifact(
        self,
        run_id: int | None,
        path: str | os.PathLike[str],
        data_type: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        """Record a file the run produced (size and SHA-256 where it is a local file)."""
        portal.call(self._core.artifact, run_id, path, data_type, metadata)

    def update_status(self, status: str) -> None:
        portal.call(self._core.append, RunStatusChanged(run=self._core.run_uid, status=status))

    def flush(self) -> None:
        """Make every buffered point durable."""
        portal.call(self._core.flush)

    def record(self, *events: Event) -> None:
        """Append events to the running run (used by HyperBand for its decisions)."""
        portal.call(self._core.append, *events)

    def finish(self, status: str = "completed") -> None:
        """Flush and end the run with ``status``."""
        portal.call(self._core.finish, status)

    def close(self) -> None:
        portal.call(self._core.close)

    def __enter__(self) -> SQLLogger:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        try:
            if self._core.state is LoggerState.RUNNING:
                self.finish("failed" if exc_type is not None else "completed")
        finally:
            self.close()

    def __del__(self) -> None:
        _warn_unclosed(self._core, "SQLLogger", "with SQLLogger(config) as logger:")


class AsyncSQLLogger:
    """The same logger for async code (asyncio or trio): every method is a coroutine.
    ``async with AsyncSQLLogger(config) as logger:`` finishes and closes like ``SQLLogger``."""

    def __init__(self, config: Mapping[str, Any], **options: Any) -> None:
        self._core = _LoggerCore(config, **options)

    @property
    def state(self) -> LoggerState:
        return self._core.state

    @property
    def run_id(self) -> int | None:
        return self._core.run_id

    async def run(self, tags: Sequence[str] = ()) -> int:
        core = self._core
        run_id = await portal.to_portal(core.start_run, tags, _run_context(core.config))
        await anyio.to_thread.run_sync(portal.get_portal().start_task_soon, core.writer)
        return run_id

    async def log_metric(self, key: str, value: Any, step: int | None = None) -> None:
        if self._core.add(key, value, step):
            await self._attend()

    async def _attend(self) -> None:
        core = self._core
        if len(core.points) >= core.max_buffer:
            await portal.to_portal(core.flush)
        elif not core.wake_pending:
            core.wake_pending = True
            await anyio.to_thread.run_sync(portal.get_portal().start_task_soon, core.wake)

    async def log_artifact(
        self,
        run_id: int | None,
        path: str | os.PathLike[str],
        data_type: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        await portal.to_portal(self._core.artifact, run_id, path, data_type, metadata)

    async def update_status(self, status: str) -> None:
        await portal.to_portal(self._core.append, RunStatusChanged(run=self._core.run_uid, status=status))

    async def flush(self) -> None:
        await portal.to_portal(self._core.flush)

    async def finish(self, status: str = "completed") -> None:
        await portal.to_portal(self._core.finish, status)

    async def close(self) -> None:
        await portal.to_portal(self._core.close)

    async def __aenter__(self) -> AsyncSQLLogger:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if self._core.state is LoggerState.RUNNING:
                await self.finish("failed" if exc_type is not None else "completed")
        finally:
            await self.close()

    def __del__(self) -> None:
        _warn_unclosed(self._core, "AsyncSQLLogger", "async with AsyncSQLLogger(config) as logger:")


def _warn_unclosed(core: _LoggerCore, name: str, fix: str) -> None:
    # A finished run that was never closed is fine (the seed never calls close(); exit closes).
    if core.state is not LoggerState.RUNNING:
        return
    # Only warn: blocking on the loop from a finalizer can deadlock. Exit still flushes and closes.
    warnings.warn(
        f"{name} for {core.path} was dropped with run {core.run_id} still running; use `{fix}` "
        "or call finish()", ResourceWarning, stacklevel=2
    )

"""The experiment logger: one core that takes every decision, and two thin facades over it,
``SQLLogger`` (sync) and ``AsyncSQLLogger`` (async, under asyncio or trio).

``log_metric`` never touches the disk: it appends a point to an in-memory buffer and returns. A
writer task on the tracker's loop (:mod:`ato.storage.loop`) turns the buffer into one compact
``metrics.packed`` event per flush (:mod:`ato.events.metric_encoding`), when ``batch_size`` points
are waiting or ``flush_interval`` seconds have passed. When nothing was written for
:data:`HEARTBEAT_S` seconds, it writes a ``run.heartbeat`` instead (one small event a minute at
most, none while points flow), so readers elsewhere can tell a live run from one whose process
died (:mod:`ato.projections.liveness`). ``flush()`` and ``finish()`` make
everything durable; interpreter exit flushes too. When ``max_buffer`` points are waiting,
``log_metric`` itself flushes before it returns (backpressure): nothing is ever dropped. A crash loses at most the unflushed window.

The project is ``config.experiment.project_name`` (``"default"`` where absent); the database,
see :mod:`ato.storage.database`. A run started inside a ``@scope`` function records that scope's
merge trace with it (:data:`ato.config.merge_trace.running_merges`); keys changed after the merge
are recorded as one more step, so the run's config always replays.

How a run ends without ``finish()`` (a ``with`` block, Ctrl-C, SIGTERM, an uncaught exception,
interpreter exit) is :mod:`ato.tracking.endings`; its rank, world size and job group,
:mod:`ato.tracking.processes` (``SQLLogger(config, group=...)`` names the group yourself).

A logger does not cross processes: a fork()ed child (a DataLoader worker under the ``fork``
start method) gets a TrackerError from any call, which the DataLoader re-raises in the parent;
pickling one (a ``spawn`` worker gets its dataset pickled) raises a TrackerError at once, in the
parent. Log what workers compute from the main process (return it with the batch).

The facades only bridge: the sync one calls the core's coroutines through the loop's portal, the
async one awaits the same calls from a worker thread. Everything else (when to wake the writer,
when to flush, which events to build) is decided once, in :class:`LoggerCore`.
"""

from __future__ import annotations

import enum
import hashlib
import os
import socket
import sys
import threading
import time
import warnings
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from time import monotonic  # apart from `time`: the heartbeat's clock never goes back
from types import TracebackType
from typing import Any, TypeVar

import anyio
import msgspec

from ato.config.adict import ADict
from ato.config.merge_trace import running_merge_events
from ato.config.structural_hash import structural_hash
from ato.errors import TrackerError
from ato.events.metric_encoding import pack_points
from ato.events.types import (
    ArtifactLogged,
    Event,
    FingerprintKind,
    FingerprintRecorded,
    MetricsPacked,
    ProjectCreated,
    RunFinished,
    RunHeartbeat,
    RunStarted,
    RunStatus,
    RunStatusChanged,
    SourceRecorded,
    new_event_id,
)
from ato.events.values import INT64_MIN, encode_value
from ato.fingerprints.runtime import Digest, RuntimeRecord, settle
from ato.fingerprints.tracing import fingerprint_events, watch_runtime
from ato.projections.maintenance import open_store
from ato.projections.queries import Project, Queries, Run
from ato.storage import loop
from ato.storage.database import database_path
from ato.storage.store import Store
from ato.tracking import endings
from ato.tracking.endings import Ending
from ato.tracking.finder import FinderCore, RunReader
from ato.tracking.processes import Position, position
from ato.tracking.tensors import Kept, metric_value, read_back
from ato.tracking.validation import (
    INT64_MAX,
    check_event,
    check_key,
    check_status_label,
    check_step,
    check_tags,
    check_text,
    plain_metadata,
)

__all__ = ["AsyncSQLLogger", "LoggerCore", "LoggerState", "SQLLogger"]

T = TypeVar("T")

HEARTBEAT_S = 60.0
"""Seconds without a write after which a running logger writes a ``run.heartbeat``."""


class LoggerState(enum.Enum):
    IDLE = "idle"  # created, or between runs
    RUNNING = "running"  # run() was called; metrics are accepted
    FINISHING = "finishing"  # finish() is writing the run's end; new points are refused
    CLOSED = "closed"  # closed for good
    FORKED = "forked"  # this is a fork()ed child's copy: the database and loop stayed in the parent


class _WriterControl:
    """One run's writer task: how to wake it, stop it, and see that it stopped."""

    def __init__(self) -> None:
        self.wake = anyio.Event()
        self.stopped = anyio.Event()
        self.stopping = False


class LoggerCore:
    """Everything the two facades share. Coroutines run on the tracker's loop; :meth:`add` runs
    in the caller's thread and is the whole hot path; :meth:`start` and :meth:`attend` block the
    calling thread (the async facade calls them from a worker thread)."""

    def __init__(
        self,
        config: Mapping[str, Any],
        *,
        batch_size: int = 10_000,
        max_buffer: int = 500_000,
        flush_interval: float = 0.5,
        blocking_reads: bool = True,
        group: str | None = None,
    ) -> None:
        self.config = config if isinstance(config, ADict) else ADict(config)
        self.path = database_path(self.config)
        # Reads the records of the runs get_current_run() returns, through its own connection.
        self.reader = RunReader(self.path, blocking=blocking_reads)
        experiment = self.config.get("experiment")
        name = experiment.get("project_name") if isinstance(experiment, Mapping) else None
        self.project = str(name) if name else "default"
        self.batch_size = batch_size
        self.max_buffer = max_buffer
        self.flush_interval = flush_interval
        self.group = None if group is None else check_text("group", group)
        self.terminated = False  # SIGTERM arrived during this run (ato.tracking.endings)
        self._last_write = 0.0  # monotonic() of this logger's last append (the heartbeat's clock)
        self.state = LoggerState.IDLE
        self.points: list[tuple[str, int, Any, float]] = []  # values: float, or a tensor kept for the flush
        self._kept = False  # whether the buffer holds a tensor value (ato.tracking.tensors)
        self.run_uid = ""
        self.run_id: int | None = None
        # Guards the buffer and the state the hot path reads: a point is either in this run's
        # buffer before finish() takes it, or refused; never left over for the next run.
        self._buffer_lock = threading.Lock()
        self._keys: set[str] = set()  # metric keys already checked
        self._wake_pending = False
        self._steps: dict[str, int] = {}
        self._store: Store | None = None
        self._queries: Queries | None = None
        self._lock: anyio.Lock | None = None
        self._writer: _WriterControl | None = None
        # Serialises start, artifacts, finish and close (made on the tracker's loop, where it is
        # used): an exit-time close waits for a finish() that a Ctrl-C left running there.
        self._lifecycle_lock: anyio.Lock | None = None
        self._runtime: dict[str, RuntimeRecord] = {}

    # -- the caller's thread ----------------------------------------------------------------------
    def add(self, key: str, value: Any, step: Any) -> bool:
        """Buffer one point; True when the buffer needs attention (call :meth:`attend`)."""
        if type(key) is not str or key not in self._keys:
            key = self._new_key(key, value, step)
        kept = False
        if type(value) is not float:
            value = metric_value(key, value, step)  # a GPU tensor stays on its device (tensors.py)
            kept = type(value) is Kept
        at = time.time()
        lock = self._buffer_lock
        lock.acquire()  # cheaper than `with` on the hot path; released in every branch below
        try:
            if self.state is not LoggerState.RUNNING:
                raise self._not_running(f"log_metric({key!r})")
            if step is None:
                step = self._steps.get(key, -1) + 1
                self._steps[key] = step
            elif type(step) is not int or not INT64_MIN <= step <= INT64_MAX:
                step = check_step(key, value, step)
            points = self.points
            points.append((key, step, value, at))
            if kept:
                self._kept = True  # under the lock: the flush that takes this point reads it back
            return len(points) >= self.batch_size
        finally:
            lock.release()

    def _new_key(self, key: Any, value: Any, step: Any) -> str:
        checked = check_key(key, value, step)
        self._keys.add(checked)
        return checked

    def attend(self) -> None:
        """A full batch is waiting: flush now when the buffer is at its limit (backpressure),
        else wake the writer once (it flushes in the background)."""
        self._alive()
        if len(self.points) >= self.max_buffer:
            loop.call(self.flush)
        elif not self._wake_pending:
            self._wake_pending = True
            loop.spawn(self.wake)

    def start(self, tags: Sequence[str] | None, merges: list[Event]) -> int:
        """Start a run and its writer task; returns the run's id in this database.

        ``merges`` are the events of the ``@scope`` merges running in the caller's context
        (:func:`running_merge_events`, read in the caller's own thread and context); the
        environment and code fingerprints are added here.
        """
        self._alive()
        checked = check_tags(tags)
        # What the writer encodes points with, imported here in the caller's thread: an import
        # running on the writer's thread when the process forks would leave the child's import
        # lock held by a thread it does not have (a DataLoader worker that logs would hang).
        import numpy  # noqa: F401
        import zstandard  # noqa: F401

        context = [*fingerprint_events(), *merges]
        run_id = loop.call(self.start_run, checked, context, position(self.group))
        assert self._writer is not None
        loop.spawn(self.writer, self._writer)
        return run_id

    def record_runtime(self, trace_id: str, digest: Digest) -> None:
        """Called by ``@runtime_trace`` functions (any thread) while this run is in progress."""
        record = self._runtime.get(trace_id)
        if record is None:
            record = self._runtime[trace_id] = RuntimeRecord()
        record.add(digest)

    # -- coroutines (tracker loop) ----------------------------------------------------------------
    @property
    def _lifecycle(self) -> anyio.Lock:
        if self._lifecycle_lock is None:
            self._lifecycle_lock = anyio.Lock()
        return self._lifecycle_lock

    async def _open(self) -> tuple[Store, Queries]:
        """The open store (opened on first use); call holding the lifecycle lock."""
        if self._store is None or self._queries is None:
            self._store = await open_store(self.path)
            self._queries = Queries(self._store.log, config=ADict, reader=self.reader)
            self._lock = anyio.Lock()
            loop.close_at_exit(self)
        return self._store, self._queries

    @property
    def running(self) -> bool:
        """Whether a run is in progress (or being ended)."""
        return self.state in (LoggerState.RUNNING, LoggerState.FINISHING)

    async def start_run(self, tags: tuple[str, ...], context: list[Event], where: Position | None = None) -> int:
        async with self._lifecycle:
            return await self._start_run(tags, context, where or Position(None, None, self.group or ""))

    async def _start_run(self, tags: tuple[str, ...], context: list[Event], where: Position) -> int:
        self._alive()
        if self.state in (LoggerState.RUNNING, LoggerState.FINISHING):
            raise TrackerError(f"run {self.run_id} is still running: finish() it before starting another")
        if self.state is LoggerState.CLOSED:
            raise TrackerError("this logger is closed; create a new one")
        store, queries = await self._open()
        uid = new_event_id()
        started = RunStarted(
            run=uid,
            project=self.project,
            config=encode_value(self.config),
            structural_hash=structural_hash(self.config),
            tags=tags,
            argv=tuple(sys.argv),
            host=socket.gethostname(),
            pid=os.getpid(),
            rank=where.rank,
            world_size=where.world_size,
            group=where.group,
        )
        assert self._lock is not None
        # Source texts belong to no run and are stored once per database (ids from their hashes):
        # appended first, where missing, so a run never names a text the file lacks.
        shared = [check_event(event) for event in context if isinstance(event, SourceRecorded)]
        context = [event for event in context if not isinstance(event, SourceRecorded)]
        async with self._lock:
            await store.append_missing(shared)
            await store.append([check_event(started), *(_with_run(event, uid) for event in context)])
        run_id = await queries.run_id(uid)
        assert run_id is not None
        with self._buffer_lock:
            self.run_uid, self.run_id, self._steps, self._runtime = uid, run_id, {}, {}
            self.terminated = False
            self._last_write = monotonic()  # the start is a sign of life
            self.state = LoggerState.RUNNING
        watch_runtime(self, True)
        self._writer = _WriterControl()
        return run_id

    async def writer(self, control: _WriterControl) -> None:
        """Flush by time and by size until ``control`` (this run's, not a later one's) stops it."""
        try:
            while not control.stopping:
                with anyio.move_on_after(self.flush_interval):
                    await control.wake.wait()
                control.wake = anyio.Event()
                self._wake_pending = False
                try:
                    await self.flush()
                    if monotonic() - self._last_write >= HEARTBEAT_S and not control.stopping:
                        await self._write([RunHeartbeat(run=self.run_uid)])
                except Exception as exc:  # keep the points; flush()/finish() will report it
                    warnings.warn(f"ato: background flush failed, will retry: {exc}", RuntimeWarning)
        finally:
            control.stopped.set()

    async def wake(self) -> None:
        if self._writer is not None:
            self._writer.wake.set()

    async def flush(self) -> None:
        """Write every buffered point as one event; on failure the points stay buffered."""
        self._alive()
        await self._write(())

    async def _write(self, events: Sequence[Event]) -> None:
        """The one writer path of this logger: the buffered points, then ``events``, appended in
        one transaction, one call at a time. On failure the points go back to the buffer."""
        if self._store is None or self._lock is None:
            if events:
                raise TrackerError("cannot record: the logger's database is closed")
            return
        async with self._lock:
            with self._buffer_lock:
                batch, self.points = self.points, []
                kept, self._kept = self._kept, False
            pending = list(events)
            try:
                if kept:  # tensors: one batched read-back per flush, off the loop's thread
                    batch, kept = await self._read_back(batch), False
                if batch:
                    keys, steps, values, times = zip(*batch)
                    pending.insert(0, MetricsPacked(run=self.run_uid, series=pack_points(keys, steps, values, times)))
                if pending:
                    await self._store.append(pending)
                    self._last_write = monotonic()
            except BaseException:
                with self._buffer_lock:
                    self.points[0:0] = batch  # before anything logged meanwhile: order kept
                    self._kept = self._kept or kept
                raise

    async def _read_back(self, batch: list[tuple[str, int, Any, float]]) -> list[tuple[str, int, Any, float]]:
        """The batch with its tensors read back as floats; a point whose tensor cannot be read is
        left out, with a warning that names it (the others are still written)."""
        values, failed = await anyio.to_thread.run_sync(read_back, [point[2] for point in batch])
        for index, why in failed.items():
            key, step = batch[index][0], batch[index][1]
            warnings.warn(f"ato: metric {key!r} at step {step}: its tensor could not be read back ({why}); "
                          "that point is not recorded", RuntimeWarning, stacklevel=2)
        return [(key, step, value, at) for (key, step, _, at), value in zip(batch, values) if value is not None]

    async def record(self, *events: Event) -> None:
        """Append events of the running run (after the buffered points, to keep the order)."""
        self._alive()
        self._require_running("record events")
        await self._write([check_event(_with_run(event, self.run_uid) if not event.run else event) for event in events])

    async def update_status(self, status: str) -> None:
        await self.record(RunStatusChanged(status=check_status_label(status)))

    async def log_artifact(
        self, run_id: int | None, path: str | os.PathLike[str], data_type: str | None, metadata: Mapping[str, Any] | None
    ) -> None:
        self._alive()
        try:
            where = check_text("artifact path", os.fspath(path))
        except TypeError:
            raise TrackerError(f"artifact path must be a str or a path, got {type(path).__name__} {path!r:.60}") from None
        kind = None if data_type is None else check_text("artifact data_type", data_type)
        plain = plain_metadata(metadata)
        if run_id is not None and (type(run_id) is not int or not 0 < run_id <= INT64_MAX):
            raise TrackerError(f"log_artifact(run_id=...) takes a run id (a positive int) or None, got {run_id!r:.60}")
        async with self._lifecycle:
            if run_id is None:
                # The current run: it must still be running, so the artifact lands before its end.
                self._require_running("log_artifact (pass the id of a finished run to add to it)")
                uid = self.run_uid
            elif run_id == self.run_id and self.state is LoggerState.RUNNING:
                uid = self.run_uid
            else:
                _, queries = await self._open()
                uid = await queries.run_uid(run_id)
            size, digest = await anyio.to_thread.run_sync(_file_digest, Path(where))
            event = ArtifactLogged(run=uid, path=where, data_type=kind, metadata=plain, size=size, sha256=digest)
            await self._write([check_event(event)])

    async def current_run(self) -> Run | None:
        """The current (or last) run as the projections hold it; None before the first run."""
        self._alive()
        if self.run_id is None:
            return None
        return await self._read(Queries.find_run, self.run_id)

    async def project_record(self) -> Project:
        """This logger's project, recorded now (``project.created``) if no run has named it yet."""
        self._alive()
        async with self._lifecycle:
            if self.state is LoggerState.CLOSED:
                raise TrackerError("this logger is closed; create a new one")
            store, queries = await self._open()
            try:
                found = await queries.find_project(self.project)
                if found is None:
                    assert self._lock is not None
                    async with self._lock:
                        await store.append([check_event(ProjectCreated(project=self.project))])
                    found = await queries.find_project(self.project)
            finally:
                if self.state is LoggerState.IDLE:
                    await self._close_store()  # opened only for this: a next run() reopens it
        assert found is not None
        return found

    async def _read(self, query: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Ask the read model through the open store, else through a read-only connection of its
        own: a finished or closed logger never reopens its database (nor creates one) to read."""
        async with self._lifecycle:
            if self._queries is not None:
                return await query(self._queries, *args)
        return await FinderCore.ask_once(self.path, self.reader, query, *args)

    async def finish(self, status: str) -> None:
        self._alive()
        if not isinstance(status, str):
            raise TrackerError(f"finish(status={status!r:.60}): a status is a str such as 'completed' or 'failed'")
        if status not in _ENDINGS:
            check_status_label(status)  # a label of the user's own: refused before anything ends
        async with self._lifecycle:
            await self._finish(status)

    async def end(self, how: Ending) -> None:
        """End the run in progress as ``how`` says (a context manager, a signal, exit); nothing
        where it has ended already."""
        if self.state is LoggerState.FORKED:
            return
        async with self._lifecycle:
            if self.running:
                await self._finish(how.status, how.error_type, how.error_message)

    async def _finish(self, status: str, error_type: str = "", error_message: str = "") -> None:
        with self._buffer_lock:  # from here on new points are refused, so none is left over
            if self.state not in (LoggerState.RUNNING, LoggerState.FINISHING):  # FINISHING: a retry
                raise self._not_running("finish")
            self.state = LoggerState.FINISHING
        # completed/failed/interrupted/killed end the run; any other word (ato 2.1.7 took any)
        # becomes its status label, as `ato import` records such runs: the logging ends, the run
        # gets no end time (and, marked final, is never taken for one that died).
        ending: Event = (
            RunFinished(run=self.run_uid, status=RunStatus(status), error_type=error_type,
                        error_message=error_message)
            if status in _ENDINGS
            else RunStatusChanged(run=self.run_uid, status=status, final=True)
        )
        await self._stop_writer()
        watch_runtime(self, False)
        await self._settle_runtime()
        await self._write([*self._runtime_events(), ending])
        self._runtime = {}  # only once written: a finish retried after a failure records them still
        self.state = LoggerState.IDLE
        await self._close_store()  # a next run() reopens it

    async def close(self) -> None:
        """Flush, stop the writer, close the database (the run keeps its status)."""
        if self.state is LoggerState.FORKED:
            return
        async with self._lifecycle:
            if self.state in (LoggerState.RUNNING, LoggerState.FINISHING):
                with self._buffer_lock:
                    self.state = LoggerState.FINISHING
                await self._stop_writer()
                watch_runtime(self, False)
                await self._settle_runtime()
                await self._write(self._runtime_events())
                self._runtime = {}
            await self._close_store()
            self.state = LoggerState.CLOSED

    def forked(self) -> None:
        """Called in a fork()ed child: this copy must never touch the parent's database or loop."""
        self.state = LoggerState.FORKED
        watch_runtime(self, False)

    async def _close_store(self) -> None:
        store, self._store, self._queries = self._store, None, None
        if store is not None:
            await store.close()
        loop.closed(self)

    async def _stop_writer(self) -> None:
        control = self._writer
        if control is None:
            return
        control.stopping = True
        control.wake.set()
        with anyio.move_on_after(5):  # a flush stuck behind a lock must not hang finish()
            await control.stopped.wait()

    async def _settle_runtime(self) -> None:
        """Wait, off the loop's thread, for the digests of traced GPU outputs still being copied
        and hashed (:mod:`ato.fingerprints.deferred`): the run's record is complete when it ends.
        The wait is bounded (``ato.fingerprints.runtime.SETTLE_TIMEOUT_S``, 60 s): a digest not
        known by then (a wedged GPU) is recorded as failed, with a RuntimeWarning, so neither
        finish() nor the exit hook hangs."""
        from ato.fingerprints import runtime as fingerprints

        records = list(self._runtime.values())
        if any(record.pending for record in records):
            timeout = fingerprints.SETTLE_TIMEOUT_S
            if not await anyio.to_thread.run_sync(settle, records, timeout):
                count = fingerprints.abandon(
                    records, TimeoutError(f"the device did not finish its copies within {timeout} s"))
                warnings.warn(f"ato: {count} runtime fingerprint(s) still being computed after {timeout} s "
                              f"are recorded as failed", RuntimeWarning, stacklevel=2)

    def _runtime_events(self) -> list[Event]:
        records = dict(self._runtime)
        return [
            FingerprintRecorded(
                run=self.run_uid, trace_id=trace_id, kind=FingerprintKind.RUNTIME, fingerprint=record.fingerprint,
                detail=record.detail(),
            )
            for trace_id, record in sorted(records.items())
        ]

    def _require_running(self, what: str) -> None:
        if self.state is not LoggerState.RUNNING:
            raise self._not_running(what)

    def _not_running(self, what: str) -> TrackerError:
        if self.state is LoggerState.FORKED:
            return TrackerError(f"cannot {what}: loggers do not cross fork(); create one in the child")
        if self.state is LoggerState.FINISHING:
            return TrackerError(f"cannot {what}: finish() is ending run {self.run_id}; start a new run() after it")
        if self.state is LoggerState.CLOSED:
            return TrackerError(f"cannot {what}: this logger is closed; create a new one")
        return TrackerError(f"cannot {what}: no run is in progress (call logger.run() first)")

    def _alive(self) -> None:
        if self.state is LoggerState.FORKED:
            raise self._not_running("use this logger")

    def exit_ending(self, exc: BaseException | None) -> Ending | None:
        """How a context manager ends a still-running run that ``exc`` (or nothing) left, or
        None if none runs (:func:`ato.tracking.endings.ending`)."""
        if not self.running:
            return None
        return endings.ending(exc, self.terminated)

    def warn_if_dropped_running(self, facade: str, fix: str) -> None:
        # A finished run that was never closed is fine (the seed never calls close(); exit closes).
        if self.state is not LoggerState.RUNNING:
            return
        # Only warn: blocking on the loop from a finalizer can deadlock. Exit still flushes and closes.
        warnings.warn(
            f"{facade} for {self.path} was dropped with run {self.run_id} still running; use `{fix}` "
            "or call finish()", ResourceWarning, stacklevel=3
        )


_ENDINGS = (RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.INTERRUPTED, RunStatus.KILLED)
"""The statuses that end a run (with an end time); ``died`` is only ever a reader's verdict."""


def _with_run(event: Event, uid: str) -> Event:
    return msgspec.structs.replace(event, run=uid, event_id=new_event_id())


def _file_digest(path: Path) -> tuple[int | None, str | None]:
    if not path.is_file():
        return None, None  # a URI or a file that lives elsewhere: recorded by name only
    with path.open("rb") as handle:
        digest = hashlib.file_digest(handle, "sha256").hexdigest()
    return path.stat().st_size, digest


# -- the facades ------------------------------------------------------------------------------------------
class _LoggerFacade:
    """What both facades share: construction, state, and the unclosed-run warning."""

    _fix = ""
    _blocking_reads = True  # whether a run's records may block a running event loop (see RunReader)

    def __init__(
        self,
        config: Mapping[str, Any],
        *,
        batch_size: int = 10_000,
        max_buffer: int = 500_000,
        flush_interval: float = 0.5,
        group: str | None = None,
    ) -> None:
        # group: the id this run shares with the other processes of its job (default: derived,
        # ato.tracking.processes).
        self._core = LoggerCore(
            config, batch_size=batch_size, max_buffer=max_buffer, flush_interval=flush_interval,
            blocking_reads=self._blocking_reads, group=group,
        )

    @property
    def state(self) -> LoggerState:
        """Idle (no run), running, or closed."""
        return self._core.state

    @property
    def run_id(self) -> int | None:
        """The id of the current (or last) run in this database."""
        return self._core.run_id

    @property
    def path(self) -> Path:
        """The database file."""
        return self._core.path

    @property
    def project(self) -> str:
        """The project the runs belong to (``config.experiment.project_name``)."""
        return self._core.project

    def __reduce__(self) -> Any:
        # A spawn DataLoader worker (or any multiprocessing child) gets its objects pickled: say
        # so here, in the parent, rather than let the points of a copy go nowhere.
        raise TrackerError(
            f"a {type(self).__name__} cannot be sent to another process (pickled for a spawn DataLoader worker "
            "or a multiprocessing child): log from the main process (return the values with the batch), "
            "or create a logger in the child")

    def __del__(self) -> None:
        core = self.__dict__.get("_core")
        if core is not None:
            core.warn_if_dropped_running(type(self).__name__, self._fix)


class SQLLogger(_LoggerFacade):
    """Log runs to SQLite, synchronously. ``with SQLLogger(config) as logger:`` finishes the run
    ``completed`` (or ``failed`` on an exception) and closes the database."""

    _fix = "with SQLLogger(config) as logger:"

    def run(self, tags: Sequence[str] = ()) -> int:
        """Start a run; returns its id in this database."""
        run_id = self._core.start(tags, running_merge_events())
        endings.watch(self._core)
        return run_id

    def log_metric(self, key: str, value: Any, step: int | None = None) -> None:
        """Buffer one metric point (``step`` defaults to one past this key's last)."""
        if self._core.add(key, value, step):
            self._core.attend()

    def get_current_run_id(self) -> int | None:
        """The id of the current (or last) run; None before the first (ato 2.1.7's name)."""
        return self._core.run_id

    def get_current_run(self) -> Run | None:
        """The current (or last) run, read back from the database (ato 2.1.7's name); its
        ``metrics`` are the points flushed so far, read on first use."""
        return loop.call(self._core.current_run)

    def get_or_create_project(self) -> Project:
        """The project of this logger's runs (ato 2.1.7's name): ``id``, ``name``, ``created_at``.
        A project no run has named yet is recorded now."""
        return loop.call(self._core.project_record)

    def log_artifact(
        self,
        run_id: int | None,
        path: str | os.PathLike[str],
        data_type: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        """Record a file a run produced (size and SHA-256 where it is a local file)."""
        loop.call(self._core.log_artifact, run_id, path, data_type, metadata)

    def update_status(self, status: str) -> None:
        """Record a new status of the running run (``evaluating``, say)."""
        loop.call(self._core.update_status, status)

    def record(self, *events: Event) -> None:
        """Append events to the running run (HyperBand records its decisions this way)."""
        loop.call(self._core.record, *events)

    def flush(self) -> None:
        """Make every buffered point durable."""
        loop.call(self._core.flush)

    def finish(self, status: str = "completed") -> None:
        """Flush and end the run: ``completed``, ``failed``, ``interrupted`` or ``killed``; any
        other word becomes the run's status label, and the run keeps no end time (as ``ato
        import`` does)."""
        loop.call(self._core.finish, status)
        endings.unwatch(self._core)

    def close(self) -> None:
        """Flush and close the database; a running run keeps its status. The logger is done."""
        try:
            loop.call(self._core.close)
        finally:
            endings.unwatch(self._core)

    def __enter__(self) -> SQLLogger:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        try:
            how = self._core.exit_ending(exc)
            if how is not None:
                loop.call(self._core.end, how)
        finally:
            self.close()


class AsyncSQLLogger(_LoggerFacade):
    """Log runs to SQLite from async code (asyncio or trio): every method is a coroutine.
    ``async with AsyncSQLLogger(config) as logger:`` finishes and closes like ``SQLLogger``."""

    _fix = "async with AsyncSQLLogger(config) as logger:"
    _blocking_reads = False

    async def run(self, tags: Sequence[str] = ()) -> int:
        """Start a run; returns its id in this database."""
        run_id = await anyio.to_thread.run_sync(self._core.start, tags, running_merge_events())
        endings.watch(self._core)  # here, in the caller's thread: the SIGTERM handler needs the main one
        return run_id

    async def log_metric(self, key: str, value: Any, step: int | None = None) -> None:
        """Buffer one metric point (``step`` defaults to one past this key's last)."""
        if self._core.add(key, value, step):
            await anyio.to_thread.run_sync(self._core.attend)

    async def get_current_run_id(self) -> int | None:
        """The id of the current (or last) run; None before the first (ato 2.1.7's name)."""
        return self._core.run_id

    async def get_current_run(self) -> Run | None:
        """The current (or last) run, read back from the database (ato 2.1.7's name); its
        ``metrics`` are the points flushed so far, read with ``await run.metrics.load()``."""
        return await loop.to_loop(self._core.current_run)

    async def get_or_create_project(self) -> Project:
        """The project of this logger's runs (ato 2.1.7's name): ``id``, ``name``, ``created_at``.
        A project no run has named yet is recorded now."""
        return await loop.to_loop(self._core.project_record)

    async def log_artifact(
        self,
        run_id: int | None,
        path: str | os.PathLike[str],
        data_type: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        """Record a file a run produced (size and SHA-256 where it is a local file)."""
        await loop.to_loop(self._core.log_artifact, run_id, path, data_type, metadata)

    async def update_status(self, status: str) -> None:
        """Record a new status of the running run (``evaluating``, say)."""
        await loop.to_loop(self._core.update_status, status)

    async def record(self, *events: Event) -> None:
        """Append events to the running run (HyperBand records its decisions this way)."""
        await loop.to_loop(self._core.record, *events)

    async def flush(self) -> None:
        """Make every buffered point durable."""
        await loop.to_loop(self._core.flush)

    async def finish(self, status: str = "completed") -> None:
        """Flush and end the run: ``completed``, ``failed``, ``interrupted`` or ``killed``; any
        other word becomes the run's status label, and the run keeps no end time (as ``ato
        import`` does)."""
        await loop.to_loop(self._core.finish, status)
        endings.unwatch(self._core)

    async def close(self) -> None:
        """Flush and close the database; a running run keeps its status. The logger is done."""
        try:
            await loop.to_loop(self._core.close)
        finally:
            endings.unwatch(self._core)

    async def __aenter__(self) -> AsyncSQLLogger:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        # Shielded: a cancelled task still records how its run ended, never `running` for ever.
        with anyio.CancelScope(shield=True):
            try:
                how = self._core.exit_ending(exc)
                if how is not None:
                    await loop.to_loop(self._core.end, how)
            finally:
                await self.close()


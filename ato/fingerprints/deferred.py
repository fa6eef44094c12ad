"""Digests of device tensors computed off the caller's thread, and chunk digests hashed in parallel.

A traced function that returns a CUDA tensor must not make the host wait for the GPU. Its digest
is planned on the caller's thread and computed here:

- the caller enqueues a non-blocking copy of the tensor's bytes into a pinned host ring buffer, on
  the tensor's current stream (so the bytes are those of the call, whatever runs on the stream
  next), records a CUDA event after it and returns; a tensor longer than a piece (4 MiB) is
  copied piece by piece, so copy and hash overlap;
- one worker thread takes the copies in the order they were enqueued and waits for their events;
  a pool of hashing threads hashes the pieces in parallel (xxhash releases the GIL);
- a call's digest is a :class:`Pending` that resolves to exactly the digest the host computes
  for the same values (:func:`chunk_digests` defines the chunks, the same on both).

When the ring is full the caller waits for the worker (backpressure: pinned memory stays bounded).
No wait is unbounded: a caller waiting for room, or for a digest, checks every :data:`POLL` seconds
that the threads are still there; if they are gone, the digests in flight resolve as failed (an
error digest, with a message), and later calls hash on their own thread.
:data:`DEVICES` names the device types that take this path (``cuda``); :func:`configure` adds
``cpu`` in tests, so the same code runs without a GPU. Ato imports torch here only when handed a
tensor. The threads are daemons of our own (not ``concurrent.futures``' executor, which refuses
work once interpreter shutdown begins, before the atexit hooks that write a run have run).
"""

from __future__ import annotations

import collections
import os
import queue
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import xxhash

__all__ = ["CHUNK", "DEVICES", "Pending", "Target", "caller_waits", "chunk_digests", "configure", "hash_chunks", "open_target"]

CHUNK = 1 << 18  # bytes per chunk digest: part of the digest's definition (scheme 2), never change
PIECE = 1 << 22  # bytes per device-to-host copy and per hashing task (a multiple of CHUNK)
RING = 1 << 27  # pinned host bytes for copies in flight
POLL = 1.0  # seconds between checks, while waiting, that the worker and hashing threads still run
DEVICES: frozenset[str] = frozenset({"cuda"})

_lock = threading.Lock()
_pipeline: _Pipeline | None = None
_pool: _Pool | None = None
_broken = False  # the pipeline could not start here (no thread, no pinned memory): hash on the host
_finished = threading.Condition()  # one for every Pending: a result is rarely waited for


class Pending:
    """A result another thread is computing: a digest, or a piece's chunk digests. Lighter than
    :class:`concurrent.futures.Future` (no lock of its own): one is made per traced call."""

    __slots__ = ("_done", "_value", "_error", "_callbacks", "_owner")

    def __init__(self, owner: _Pipeline | None = None) -> None:
        self._done = False
        self._value: Any = None
        self._error: BaseException | None = None
        self._callbacks: list[Callable[[Pending], None]] | None = None
        self._owner = owner  # the pipeline computing it: checked, while waiting, to be still running

    def done(self) -> bool:
        return self._done

    def result(self, timeout: float | None = None) -> Any:
        """The result, once there (raises :class:`TimeoutError` if ``timeout`` seconds pass first)."""
        if not self._done:
            deadline = None if timeout is None else time.monotonic() + timeout
            while True:
                left = POLL if deadline is None else min(POLL, max(0.0, deadline - time.monotonic()))
                with _finished:
                    if _finished.wait_for(self.done, left):
                        break
                if deadline is not None and time.monotonic() >= deadline:
                    raise TimeoutError("the digest is still being computed")
                if self._owner is not None:
                    self._owner.check()  # its threads are gone: it resolves (as failed), no endless wait
        if self._error is not None:
            raise self._error
        return self._value

    def add_done_callback(self, fn: Callable[[Pending], None]) -> None:
        """Call ``fn(self)`` once the result is there (now, if it is)."""
        with _finished:
            if not self._done:
                if self._callbacks is None:
                    self._callbacks = []
                self._callbacks.append(fn)
                return
        fn(self)

    def give_up(self, exc: BaseException) -> None:
        """Resolve now, as failed (``exc`` says why), if it has not resolved: its threads are stuck
        (a wedged GPU). Every digest its pipeline has in flight fails with it, and later calls hash
        on the caller's thread (see :meth:`_Pipeline.abort`)."""
        if self._done:
            return
        if self._owner is not None:
            self._owner.abort(exc)
        self.set_result(_error_digest(exc))  # (ignored where the abort resolved it)

    def set_result(self, value: Any, error: BaseException | None = None) -> None:
        with _finished:
            if self._done:  # resolved already (given up on, say): the first result stands
                return
            self._value, self._error, self._done = value, error, True
            callbacks, self._callbacks = self._callbacks, None
            _finished.notify_all()
        for fn in callbacks or ():
            try:
                fn(self)
            except Exception as exc:  # one callback's failure neither stops the others nor the thread
                print(f"ato: a runtime fingerprint callback failed: {type(exc).__name__}: {exc}", file=sys.stderr)


def hash_chunks(data: Any) -> bytes:
    """The XXH3-128 digests of ``data``'s ``CHUNK``-byte pieces (the last one shorter), joined."""
    digest = xxhash.xxh3_128_digest
    return b"".join([digest(data[i : i + CHUNK]) for i in range(0, len(data), CHUNK)])


def chunk_digests(data: memoryview) -> bytes:
    """:func:`hash_chunks` of ``data`` (bytes), spread over the hashing threads when it is large."""
    count = -(-len(data) // CHUNK)
    pool = _hashing_pool()
    tasks = min(pool.size + 1, count // 4)  # at least 1 MiB a task: less is not worth a thread
    if tasks < 2:
        return hash_chunks(data)
    step = -(-count // tasks) * CHUNK
    futures = [pool.submit(hash_chunks, data[start : start + step]) for start in range(step, len(data), step)]
    head = hash_chunks(data[:step])  # this thread takes a share too
    return head + b"".join(future.result() for future in futures)


def configure(
    *, devices: Sequence[str] | None = None, ring_bytes: int | None = None, piece_bytes: int | None = None
) -> None:
    """Choose the device types whose tensors are hashed off the caller's thread, and the sizes of
    the pinned ring and of a piece (tests take ``cpu`` tensors through the same path this way).
    Work already queued still completes; new calls use a new pipeline."""
    global DEVICES, RING, PIECE, _pipeline, _broken
    ring, piece = ring_bytes or RING, piece_bytes or PIECE
    if piece % CHUNK or 2 * piece > ring:
        raise ValueError(f"piece_bytes must be a multiple of {CHUNK} and at most half of ring_bytes")
    with _lock:
        old, _pipeline, _broken = _pipeline, None, False
        RING, PIECE = ring, piece
        if devices is not None:
            DEVICES = frozenset(devices)
    if old is not None:
        old.stopping = True
        old.items.put(None)  # the worker stops once it has taken what was queued before


def caller_waits() -> int:
    """How many times a caller has waited for room in the ring (backpressure), in this pipeline."""
    pipeline = _pipeline
    return pipeline.waits if pipeline is not None else 0


def open_target(hasher: Any) -> Target | None:
    """A digest to finish off the caller's thread, continuing ``hasher`` (what the caller has fed it
    so far); None where the pipeline cannot run in this process (then the caller hashes itself)."""
    global _pipeline, _broken
    pipeline = _pipeline
    if pipeline is None:
        with _lock:
            if _broken:
                return None
            if _pipeline is None:
                try:
                    _pipeline = _Pipeline(RING, PIECE)
                except (RuntimeError, MemoryError) as exc:  # no thread at shutdown; no pinned memory
                    _broken = True
                    print(f"ato: runtime fingerprints are hashed on the caller's thread: {exc}", file=sys.stderr)
                    return None
            pipeline = _pipeline
    return Target(pipeline, hasher)


class Target:
    """One digest in the making. The caller feeds it (:meth:`update`, :meth:`tensor`,
    :meth:`later`) and closes it (:meth:`close`); the worker and the hashing threads finish it."""

    __slots__ = ("pipeline", "hasher", "buffer", "parts", "chunks", "lock", "closed", "finished", "error", "future")

    def __init__(self, pipeline: _Pipeline, hasher: Any) -> None:
        self.pipeline = pipeline
        self.hasher = hasher
        self.buffer: list[bytes] = []  # the caller's bytes since its last item
        self.parts: collections.deque[Any] = collections.deque()  # the worker's, not yet fed, in order
        self.chunks: _Chunks | None = None  # the chunked tensor the worker is receiving
        self.lock = threading.Lock()
        self.closed = self.finished = False
        self.error: BaseException | None = None
        self.future = Pending(pipeline)
        pipeline.open.add(self)

    # -- the caller's thread ----------------------------------------------------------------------
    def update(self, data: Any) -> None:
        self.buffer.append(bytes(data))  # a copy: the caller's buffer may change once we return

    def tensor(self, flat: Any) -> None:
        """Feed the bytes of ``flat`` (a contiguous uint8 tensor, on any device) as
        ``runtime._feed_data`` would: raw up to ``CHUNK`` bytes, else ``K<n>:`` and chunk digests."""
        self._flush()
        self.pipeline.copy(self, flat)

    def later(self, futures: list[Pending], make: Callable[[], bytes]) -> None:
        """Feed ``make()`` once every one of ``futures`` (digests ``make`` reads) is known."""
        self._flush()
        self.pipeline.put(_Later(self, futures, make))

    def close(self) -> Pending:
        self._flush()
        self.pipeline.put(_Close(self))
        return self.future

    def _flush(self) -> None:
        if self.buffer:
            data = b"".join(self.buffer)
            self.buffer.clear()
            self.pipeline.put(_Bytes(self, data))

    # -- the worker and the hashing threads -------------------------------------------------------
    def push(self, part: Any) -> None:
        with self.lock:
            self.parts.append(part)
        self.drain()

    def fail(self, exc: BaseException) -> None:
        with self.lock:
            self.error = self.error or exc
        self.drain()

    def drain(self) -> None:
        """Feed the parts that are ready, in order; resolve the digest once all are fed."""
        with self.lock:
            parts = self.parts
            while parts and (parts[0].ready() or self.error is not None):
                part = parts.popleft()
                if self.error is not None:  # the digest failed: what is left only gives back its room
                    part.drop()
                    continue
                try:
                    part.feed(self.hasher)
                except BaseException as exc:
                    self.error = exc
            if not self.closed or parts or self.finished:
                return
            self.finished = True
            self.pipeline.open.discard(self)
            error = self.error
            digest = self.hasher.hexdigest() if error is None else _error_digest(error)
        if isinstance(error, Exception):  # (an interrupt was raised to the caller already)
            print(f"ato: a runtime fingerprint could not be computed: {type(error).__name__}: {error}",
                  file=sys.stderr)
        self.future.set_result(digest)


def _replaced() -> RuntimeError:
    return RuntimeError("queued after its runtime fingerprint pipeline was replaced (configure) and stopped")


def _error_digest(error: BaseException) -> str:
    """Stands for a digest that failed (a CUDA error, say): it differs from any value's digest."""
    return xxhash.xxh3_128_hexdigest(f"!error {type(error).__qualname__}: {error}".encode())


# -- what the worker receives, in order -----------------------------------------------------------
class _Bytes:
    __slots__ = ("target", "data")

    def __init__(self, target: Target, data: bytes) -> None:
        self.target, self.data = target, data

    def run(self) -> None:
        self.target.push(self)

    def abandon(self) -> None:
        pass

    def ready(self) -> bool:
        return True

    def feed(self, hasher: Any) -> None:
        hasher.update(self.data)

    def drop(self) -> None:
        pass


class _Close:
    __slots__ = ("target",)

    def __init__(self, target: Target) -> None:
        self.target = target

    def run(self) -> None:
        with self.target.lock:
            self.target.closed = True
        self.target.drain()

    def abandon(self) -> None:
        with self.target.lock:
            self.target.closed = True  # no worker runs it: the failed digest resolves all the same


class _Later:
    __slots__ = ("target", "futures", "make")

    def __init__(self, target: Target, futures: list[Pending], make: Callable[[], bytes]) -> None:
        self.target, self.futures, self.make = target, futures, make

    def run(self) -> None:
        target = self.target
        target.push(self)
        for future in self.futures:
            future.add_done_callback(lambda _: target.drain())

    def abandon(self) -> None:
        pass

    def ready(self) -> bool:
        return all(future.done() for future in self.futures)

    def feed(self, hasher: Any) -> None:
        hasher.update(self.make())

    def drop(self) -> None:
        pass


class _Chunks:
    """A chunked tensor: the chunk digests of its pieces, hashed in parallel, fed in order."""

    __slots__ = ("futures", "complete")

    def __init__(self) -> None:
        self.futures: list[Pending] = []
        self.complete = False

    def ready(self) -> bool:
        return self.complete and all(future.done() for future in self.futures)

    def feed(self, hasher: Any) -> None:
        digests = b"".join(future.result() for future in self.futures)
        hasher.update(b"K" + str(len(digests) // 16).encode() + b":" + digests)

    def drop(self) -> None:
        pass  # each piece gives its room back when hashed


class _Copy:
    """One piece of a tensor copied into the ring; ``event`` is set when the copy is done."""

    __slots__ = ("target", "pipeline", "region", "size", "event", "chunked", "first", "last", "view")

    def __init__(self, target: Target, pipeline: _Pipeline, region: list[Any], size: int, event: Any,
                 chunked: bool, first: bool, last: bool) -> None:
        self.target, self.pipeline, self.region, self.size, self.event = target, pipeline, region, size, event
        self.chunked, self.first, self.last = chunked, first, last
        self.view: memoryview | None = None

    def run(self) -> None:
        pipeline, target, region = self.pipeline, self.target, self.region
        if self.event is not None:
            self.event.synchronize()  # the copy has landed (torch lets go of the GIL meanwhile)
        view = pipeline.ring.view[region[0] : region[0] + self.size]
        if not self.chunked:
            self.view = view
            target.push(self)  # fed as it is, then its room is given back
            return
        with target.lock:
            if self.first or target.chunks is None:
                target.chunks = _Chunks()
                target.parts.append(target.chunks)
            chunks = target.chunks
            future = _hashing_pool().submit(hash_chunks, view)
            chunks.futures.append(future)
            chunks.complete = self.last

        def hashed(_: Pending) -> None:
            pipeline.free(region)
            target.drain()

        future.add_done_callback(hashed)

    def abandon(self) -> None:
        self.pipeline.free(self.region)

    # as a part of the target (a tensor of at most CHUNK bytes): fed as it is, then let go
    def ready(self) -> bool:
        return True

    def feed(self, hasher: Any) -> None:
        try:
            hasher.update(self.view)  # set by run() before it became a part
        finally:
            self.drop()

    def drop(self) -> None:
        self.view = None
        self.pipeline.free(self.region)


# -- the pipeline -----------------------------------------------------------------------------------
class _Ring:
    """Pinned host memory handed out in order and given back in (about) the same order."""

    def __init__(self, size: int) -> None:
        import torch

        self.tensor = torch.empty(size, dtype=torch.uint8, pin_memory=torch.cuda.is_available())
        self.view = self.tensor.numpy().data
        self.size = size
        self.head = 0
        self.live: collections.deque[list[Any]] = collections.deque()  # [start, end, given back]

    def reserve(self, size: int) -> list[Any] | None:
        """Room for ``size`` bytes, or None while the ring is too full (the caller waits)."""
        size = (size + 63) & ~63
        live = self.live
        if not live:
            start: int | None = 0
        else:
            oldest, head = live[0][0], self.head
            if live[-1][0] < oldest:  # wrapped: the room is between the newest and the oldest
                start = head if oldest - head >= size else None
            elif self.size - head >= size:
                start = head
            else:
                start = 0 if oldest >= size else None
        if start is None:
            return None
        region = [start, start + size, False]
        live.append(region)
        self.head = start + size
        return region

    def give_back(self, region: list[Any]) -> None:
        region[2] = True
        live = self.live
        while live and live[0][2]:
            live.popleft()


class _Pipeline:
    def __init__(self, ring_bytes: int, piece_bytes: int) -> None:
        self.items: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.cond = threading.Condition()
        self.piece = piece_bytes
        self.ring = _Ring(ring_bytes)  # here, where a failure (no pinned memory) is caught
        self.waits = 0
        self.open: set[Target] = set()  # digests not resolved yet: failed if the threads are gone
        self.stopping = False  # told to stop (configure): its worker ends once the queue is done
        self.dead: BaseException | None = None  # its threads are gone: items fail as they come
        self.worker = threading.Thread(target=self._work, name="ato-fingerprints", daemon=True)
        self.worker.start()

    def put(self, item: Any) -> None:
        self.items.put(item)
        if self.dead is not None:
            self._fail_queued(self.dead)
        elif self._orphaned():
            self._fail_queued(_replaced())

    def copy(self, target: Target, flat: Any) -> None:
        """Copy ``flat`` into the ring, piece by piece, each followed by an event (caller's thread)."""
        size = flat.numel()
        chunked = size > CHUNK
        stream = event_type = None
        if flat.is_cuda:
            import torch

            stream, event_type = torch.cuda.current_stream(flat.device), torch.cuda.Event
        piece = self.piece
        for start in range(0, size, piece):
            end = min(size, start + piece)
            source = flat if end - start == size else flat[start:end]
            try:
                with self.cond:
                    ring = self.ring
                    region = self._room(end - start)
                    if region is not None:
                        copied = False
                        try:
                            ring.tensor[region[0] : region[0] + end - start].copy_(source, non_blocking=True)
                            copied = True
                            event = None
                            if event_type is not None:
                                event = event_type(blocking=True)  # the worker sleeps, not spins, on it
                                event.record(stream)
                            # put under the lock: the worker takes pieces in the order the ring gave them
                            self.items.put(_Copy(target, self, region, end - start, event, chunked,
                                                 start == 0, end == size))
                        except BaseException:  # a CUDA error, a KeyboardInterrupt: give the room back
                            if copied and stream is not None:
                                try:
                                    stream.synchronize()  # the copy may still be writing into the room
                                except BaseException:
                                    pass
                            ring.give_back(region)
                            self.cond.notify_all()
                            raise
            except BaseException as exc:
                target.fail(exc)  # (not under cond: a worker feeding this target takes cond to free)
                raise
            if region is None:  # the threads that give room back are gone
                self.abort(self._gone() or RuntimeError("the runtime fingerprint threads stopped"))
                target.fail(self.dead or RuntimeError())
                return
            if self.dead is not None:
                self._fail_queued(self.dead)
            elif self._orphaned():
                self._fail_queued(_replaced())

    def _room(self, size: int) -> list[Any] | None:
        """A region of ``size`` bytes, waiting for the worker while the ring is full (under
        ``cond``); None if the threads that give room back are gone."""
        region = self.ring.reserve(size)
        if region is None:
            self.waits += 1
        while region is None:
            if self.dead is not None:
                return None
            if not self.cond.wait(POLL):
                if self._orphaned():  # what holds the room was queued after the worker stopped
                    self._fail_queued(_replaced())
                elif self._gone() is not None:
                    return None
            region = self.ring.reserve(size)
        return region

    def _orphaned(self) -> bool:
        """Replaced (:func:`configure`) and its worker has stopped: what is queued now (by a call
        that took this pipeline just before it was replaced) no worker will ever take."""
        return self.stopping and self.dead is None and not self.worker.is_alive()

    def _gone(self) -> BaseException | None:
        """Why this pipeline's work can no longer finish: its worker, or every hashing thread,
        is gone (never, unless something kills them); None while it can."""
        if self.dead is not None:
            return self.dead
        if self.stopping:
            return None
        if not self.worker.is_alive():
            return RuntimeError("the runtime fingerprint worker thread stopped")
        pool = _pool
        if pool is not None and pool.threads and not any(thread.is_alive() for thread in pool.threads):
            return RuntimeError("the runtime fingerprint hashing threads stopped")
        return None

    def check(self) -> None:
        """Fail what is in flight if its threads are gone: a wait then ends instead of hanging."""
        if self._orphaned():  # replaced: only what was queued too late fails, the rest completes
            self._fail_queued(_replaced())
            return
        reason = self._gone()
        if reason is not None:
            self.abort(reason)

    def abort(self, exc: BaseException) -> None:
        """The threads are gone: every digest in flight resolves as failed; later calls hash on
        the caller's thread (a new pipeline is not tried again in this process)."""
        global _pipeline, _broken
        with _lock:
            if self.dead is not None:
                return
            self.dead = exc
            if _pipeline is self:
                _pipeline, _broken = None, True
        print(f"ato: {exc}: {len(self.open)} runtime fingerprint(s) in flight are recorded as failed; "
              f"later ones are computed on the caller's thread", file=sys.stderr)
        self._fail_queued(exc)
        for target in list(self.open):
            with target.lock:
                target.closed = True  # its close() may never reach a worker now
            target.fail(exc)
        with self.cond:
            self.cond.notify_all()  # callers waiting for room give up

    def _fail_queued(self, exc: BaseException) -> None:
        """Take what no worker will: give back its room, fail its digest (on a dead pipeline)."""
        while True:
            try:
                item = self.items.get_nowait()
            except queue.Empty:
                return
            if item is None:
                continue
            try:
                item.abandon()
                item.target.fail(exc)
            except BaseException as error:
                print(f"ato: a runtime fingerprint could not be given up: {type(error).__name__}: {error}",
                      file=sys.stderr)

    def free(self, region: list[Any]) -> None:
        with self.cond:
            self.ring.give_back(region)
            self.cond.notify_all()

    def _work(self) -> None:
        items = self.items
        stop = False
        while True:
            if stop:  # told to stop: take what a call racing configure() queued after the sentinel
                try:
                    item = items.get_nowait()
                except queue.Empty:
                    return  # (what comes later still: _orphaned, failed by whoever waits for it)
            else:
                item = items.get()
            if item is None:
                stop = True
                continue
            try:
                item.run()
            except BaseException as exc:  # a CUDA error, say: this digest fails, the others go on
                try:
                    item.abandon()
                    item.target.fail(exc)
                except BaseException as error:  # the worker goes on whatever happens
                    print(f"ato: a runtime fingerprint could not be given up: {type(error).__name__}: {error}",
                          file=sys.stderr)


class _Pool:
    """Hashing threads, started on first use (or none: then the submitting thread hashes)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.started = 0
        self.threads: list[threading.Thread] = []
        self.tasks: queue.SimpleQueue[Any] = queue.SimpleQueue()

    def submit(self, fn: Callable[..., Any], *args: Any) -> Pending:
        future = Pending()
        if self.started < self.size:
            self._start()
        if self.started:
            self.tasks.put((future, fn, args))
        else:
            _run(future, fn, args)
        return future

    def _start(self) -> None:
        with _lock:
            while self.started < self.size:
                thread = threading.Thread(target=self._work, name=f"ato-hash-{self.started}", daemon=True)
                try:
                    thread.start()
                except RuntimeError:  # interpreter shutdown: hash in the submitting thread
                    self.size = self.started
                    return
                self.threads.append(thread)
                self.started += 1

    def _work(self) -> None:
        tasks = self.tasks
        while True:
            task = tasks.get()
            try:
                _run(*task)
            except BaseException as exc:  # the thread goes on: room in the ring depends on it
                print(f"ato: a runtime fingerprint task failed: {type(exc).__name__}: {exc}", file=sys.stderr)


def _run(future: Pending, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
    try:
        result = fn(*args)
    except BaseException as exc:
        future.set_result(None, exc)
    else:
        future.set_result(result)


def _hashing_pool() -> _Pool:
    global _pool
    pool = _pool
    if pool is None:
        try:
            cores = len(os.sched_getaffinity(0))
        except AttributeError:  # not on Linux
            cores = os.cpu_count() or 1
        pool = _pool = _Pool(max(1, min(16, cores)))
    return pool


def _forget_after_fork() -> None:
    """A fork()ed child has none of these threads: it starts its own on first use (and its own
    locks: one held by a parent's thread at the fork would never be released here)."""
    global _lock, _pipeline, _pool, _finished
    _lock, _pipeline, _pool, _finished = threading.Lock(), None, None, threading.Condition()


os.register_at_fork(after_in_child=_forget_after_fork)

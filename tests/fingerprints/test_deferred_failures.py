"""The deferred fingerprint pipeline when something goes wrong: an interrupt while a copy is being
enqueued, threads that are gone, a callback that raises, a fork while a lock is held. Whatever
happens, no later call and no wait hangs (CPU tensors through the same code as CUDA ones)."""

from __future__ import annotations

import os
import threading
import time
import types
from collections.abc import Callable, Iterator
from typing import Any

import anyio
import pytest
import xxhash

from ato.fingerprints import deferred, runtime
from ato.fingerprints.deferred import CHUNK, Pending
from ato.fingerprints.runtime import (
    RuntimeRecord,
    _flat_bytes,
    deferred_digest,
    runtime_digest,
)
from ato.tracking.logger import LoggerCore

torch = pytest.importorskip("torch")


@pytest.fixture
def on_cpu() -> Iterator[None]:
    saved = (deferred.DEVICES, deferred.RING, deferred.PIECE)
    deferred.configure(devices=("cpu", "cuda"), ring_bytes=4 * CHUNK, piece_bytes=2 * CHUNK)
    yield
    deferred.configure(devices=tuple(saved[0]), ring_bytes=saved[1], piece_bytes=saved[2])


def _host(value: Any) -> str:
    devices = deferred.DEVICES
    deferred.DEVICES = frozenset()
    try:
        return runtime_digest(value)
    finally:
        deferred.DEVICES = devices


def _within(seconds: float, fn: Callable[[], Any]) -> Any:
    """``fn()`` in a thread; fails (instead of hanging the test) if it is not done in time."""
    result: list[Any] = []
    thread = threading.Thread(target=lambda: result.append(fn()), daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still waiting after {seconds} s"
    assert result, "it raised"
    return result[0]


class _Raises:
    """Stands for the ring's tensor: indexing it (to copy into it) raises ``error``."""

    def __init__(self, error: BaseException) -> None:
        self.error = error

    def __getitem__(self, key: Any) -> Any:
        raise self.error


@pytest.mark.parametrize("error", [KeyboardInterrupt(), RuntimeError("CUDA error: out of memory")])
@pytest.mark.parametrize("size", [CHUNK // 8, 3 * CHUNK])  # in one piece; in pieces, the 2nd failing
def test_an_interrupt_while_a_copy_is_enqueued_gives_its_room_back(on_cpu: None, error: BaseException,
                                                                   size: int) -> None:
    runtime_digest(torch.ones(4))  # the ring is made on first use
    pipeline = deferred._pipeline
    assert pipeline is not None
    ring, tensor = pipeline.ring, pipeline.ring.tensor
    copy_ = pipeline.copy
    pieces = 0

    def interrupted(target: Any, flat: Any) -> None:
        # the piece that fails is the last one: earlier pieces are already in the ring
        nonlocal pieces
        pieces = -(-flat.numel() // pipeline.piece)
        original_reserve = ring.reserve
        taken = 0

        def reserve(n: int) -> Any:
            nonlocal taken
            taken += 1
            if taken == pieces:
                ring.tensor = _Raises(error)
            return original_reserve(n)

        ring.reserve = reserve  # type: ignore[method-assign]
        try:
            copy_(target, flat)
        finally:
            del ring.reserve
            ring.tensor = tensor

    pipeline.copy = interrupted  # type: ignore[method-assign]
    try:
        with pytest.raises(type(error)):
            deferred_digest(torch.ones(size // 4))
    finally:
        del pipeline.copy
    assert pieces == (1 if size <= pipeline.piece else 2)
    # every region is given back (the earlier pieces once hashed): later calls never wait forever
    values = [torch.full((CHUNK,), float(i)) for i in range(12)]
    digests = _within(30, lambda: [runtime_digest(value) for value in values])
    assert digests == [_host(value) for value in values]
    assert _within(10, lambda: _wait_until(lambda: not ring.live))
    assert not pipeline.open  # the interrupted digest resolved too (nobody waits for it)


def _wait_until(condition: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + 10
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)
    return condition()


def test_waits_end_when_the_worker_is_gone(on_cpu: None, monkeypatch: pytest.MonkeyPatch,
                                           capfd: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(deferred, "POLL", 0.05)
    runtime_digest(torch.ones(4))
    pipeline = deferred._pipeline
    assert pipeline is not None
    pipeline.items.put(None)  # the worker stops (as if something had killed it)
    pipeline.worker.join(10)
    record = RuntimeRecord()
    small = torch.ones(CHUNK // 8)
    record.add(deferred_digest(small))  # queued; no worker takes it
    # a tensor larger than the ring: the caller waits for room that never comes, then gives up
    large = torch.ones(3 * CHUNK)
    failed = _within(10, lambda: runtime_digest(large))
    assert failed != _host(large)
    assert _within(10, lambda: record.settle(timeout=None))  # the queued digest resolved (as failed)
    assert record.detail()["digests"][0] != _host(small)[:16]
    err = capfd.readouterr().err
    assert "worker thread stopped" in err and "caller's thread" in err
    assert deferred._pipeline is None and deferred.open_target(None) is None  # later calls hash here
    assert runtime_digest(large) == _host(large)


def test_a_digest_waited_for_resolves_when_the_worker_is_gone(on_cpu: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(deferred, "POLL", 0.05)
    runtime_digest(torch.ones(4))
    pipeline = deferred._pipeline
    assert pipeline is not None
    pipeline.items.put(None)
    pipeline.worker.join(10)
    digest = deferred_digest(torch.ones(10))
    assert isinstance(digest, Pending)
    assert _within(10, digest.result) != _host(torch.ones(10))


def test_a_callback_that_raises_stops_neither_the_others_nor_the_thread(capfd: pytest.CaptureFixture[str]) -> None:
    called: list[int] = []
    pending = Pending()

    def bad(_: Pending) -> None:
        raise ValueError("bad callback")

    pending.add_done_callback(bad)
    pending.add_done_callback(lambda p: called.append(p.result()))
    pending.set_result(7)
    assert called == [7] and "bad callback" in capfd.readouterr().err


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_a_forked_child_has_its_own_locks() -> None:
    """A fork while another thread holds the lock every Pending takes: the child must not inherit
    it held (it would wait forever for the first digest)."""
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with deferred._finished:
            holding.set()
            release.wait(30)

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    assert holding.wait(10)
    try:
        pid = os.fork()
        if pid == 0:  # the child: one Pending, resolved and read
            code = 1
            try:
                pending = Pending()
                pending.set_result("x")
                code = 0 if pending.result(timeout=5) == "x" else 1
            finally:
                os._exit(code)
    finally:
        release.set()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            assert os.waitstatus_to_exitcode(status) == 0
            return
        time.sleep(0.05)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    pytest.fail("the forked child hung on a lock held at the fork")


def test_a_run_ends_when_the_device_never_finishes_its_copies(on_cpu: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """finish() and the exit hook wait for deferred digests at most SETTLE_TIMEOUT_S: then those
    still being computed (a worker stuck waiting for a wedged GPU's copy) are recorded as failed."""
    monkeypatch.setattr(deferred, "POLL", 0.05)
    monkeypatch.setattr(runtime, "SETTLE_TIMEOUT_S", 0.3)
    runtime_digest(torch.ones(4))
    gate = threading.Event()  # the GPU never finishes the copy
    run = deferred._Copy.run

    def stuck(self: Any) -> None:
        gate.wait()
        run(self)

    monkeypatch.setattr(deferred._Copy, "run", stuck)
    try:
        record = RuntimeRecord()
        value = torch.ones(10)
        record.add(deferred_digest(value))
        record.add(deferred_digest(torch.ones(3 * CHUNK // 4)))  # a chunked one too
        assert record.pending == 2
        core = types.SimpleNamespace(_runtime={"f": record})
        with pytest.warns(RuntimeWarning, match="2 runtime fingerprint"):
            _within(10, lambda: anyio.run(LoggerCore._settle_runtime, core) or True)
        assert record.pending == 0
        detail = _within(10, record.detail)  # no longer blocks
        assert detail["calls"] == 2 and detail["digests"][0] != _host(value)[:16]
        assert isinstance(_within(10, lambda: record.fingerprint), str)
    finally:
        gate.set()  # the stuck worker lets go of the (given up) copy
    assert deferred.open_target(None) is None  # the pipeline was given up: later calls hash here
    assert runtime_digest(value) == _host(value)


def test_a_call_racing_configure_does_not_wait_forever(on_cpu: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(deferred, "POLL", 0.05)
    runtime_digest(torch.ones(4))
    old = deferred._pipeline
    assert old is not None
    deferred.configure(devices=("cpu", "cuda"), ring_bytes=4 * CHUNK, piece_bytes=2 * CHUNK)
    old.worker.join(10)
    assert not old.worker.is_alive()
    # a thread that read _pipeline just before configure() queues its work after the sentinel
    monkeypatch.setattr(deferred, "_pipeline", old)
    record = RuntimeRecord()
    small = torch.ones(10)
    record.add(deferred_digest(small))
    assert _within(10, lambda: record.settle(timeout=None))
    assert record.detail()["digests"][0] != _host(small)[:16]  # failed, not waited for forever
    # pieces of 2 * CHUNK bytes: the ring (4 * CHUNK) holds two; the third waits for room
    values = [torch.full((CHUNK // 2,), float(i)) for i in range(3)]
    digests = _within(10, lambda: [deferred_digest(value) for value in values])
    assert all(isinstance(digest, str) for digest in (_within(10, d.result) for d in digests))
    assert _within(10, lambda: _wait_until(lambda: not old.open and not old.ring.live))


def test_the_worker_takes_what_was_queued_after_the_sentinel(on_cpu: None) -> None:
    runtime_digest(torch.ones(4))
    old = deferred._pipeline
    assert old is not None
    gate = threading.Event()
    old.items.put(types.SimpleNamespace(run=gate.wait))  # holds the worker until the sentinel is in
    deferred.configure(devices=("cpu", "cuda"), ring_bytes=4 * CHUNK, piece_bytes=2 * CHUNK)
    target = deferred.Target(old, xxhash.xxh3_128())  # the racing call
    value = torch.ones(10)
    target.update(b"X" + str(value.dtype).encode() + repr(tuple(value.shape)).encode())
    target.tensor(_flat_bytes(value))
    future = target.close()
    gate.set()
    assert _within(10, future.result) == _host(value)  # computed, not failed


class _BadRepr:
    __slots__ = ()

    def __repr__(self) -> str:
        raise ValueError("no repr")


@pytest.mark.parametrize("make", [lambda bad: {"k": [torch.ones(10), bad]}, lambda bad: {(torch.ones(10), bad)}],
                         ids=["dict", "set"])
def test_a_sub_digest_that_fails_closes_its_target(on_cpu: None, make: Callable[[Any], Any]) -> None:
    runtime_digest(torch.ones(4))
    pipeline = deferred._pipeline
    assert pipeline is not None
    value = make(_BadRepr())
    with pytest.raises(ValueError, match="no repr"):
        deferred_digest(value)
    assert _within(10, lambda: _wait_until(lambda: not pipeline.open and not pipeline.ring.live))

"""The tracker's event loop: anyio's blocking portal, started on first use and held for the process.

The async core (store, writer tasks, queries) always runs here. The sync API calls it through the
portal (:func:`call`); the async API awaits the same calls from a worker thread (:func:`to_loop`),
so it works under any anyio backend (asyncio or trio) although aiosqlite itself needs asyncio.
``start_blocking_portal`` raises when the loop cannot start, so a broken start is an error, never
a hang; its thread is a daemon, so a forgotten logger cannot keep the interpreter alive.

One exit registry serves loggers and finders: whatever is open at interpreter exit is closed
(loggers flush their buffered points first) while the loop thread is still alive. It holds weak
references: a running logger is kept alive by its writer task, so it is still flushed at exit
however its facade was dropped.

Neither the loop nor SQLite connections survive ``fork()``: in a child, every registered resource
is told (``forked()``, after which it refuses to work with a clear error), the inherited portal
is let go without waiting for a loop thread that does not exist there, and a new loop starts on
first use. The child then exits normally.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
import threading
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

import anyio
from anyio.from_thread import BlockingPortal, start_blocking_portal

__all__ = ["Closeable", "call", "close_at_exit", "close_soon", "closed", "portal", "spawn", "to_loop"]

T = TypeVar("T")


class Closeable(Protocol):
    async def close(self) -> None: ...

    def forked(self) -> None:
        """This is a fork()ed child's copy: never touch the parent's connections again."""


_lock = threading.Lock()
_portal: BlockingPortal | None = None
_stack = contextlib.ExitStack()
_open: weakref.WeakSet[Any] = weakref.WeakSet()


def portal() -> BlockingPortal:
    """The process's portal, started on first use."""
    global _portal
    with _lock:
        if _portal is None:
            _portal = _stack.enter_context(start_blocking_portal("asyncio", name="ato-event-loop"))
        return _portal


def call(fn: Callable[..., Awaitable[T]], *args: Any) -> T:
    """Run ``fn(*args)`` on the tracker's loop and wait for it (from any thread but the loop's)."""
    return portal().call(fn, *args)


async def to_loop(fn: Callable[..., Awaitable[T]], *args: Any) -> T:
    """Await ``fn(*args)`` on the tracker's loop from any anyio backend (the portal is fetched,
    and started if need be, in the worker thread, never on the caller's event loop)."""
    return await anyio.to_thread.run_sync(call, fn, *args)


def spawn(fn: Callable[..., Awaitable[Any]], *args: Any) -> None:
    """Start ``fn(*args)`` as a background task on the tracker's loop; return at once."""
    portal().start_task_soon(fn, *args)


def close_soon(resource: Closeable) -> None:
    """Close ``resource`` in the background, from a finalizer: never blocks, never starts a loop."""
    running = _portal
    if running is None:
        return
    try:
        running.start_task_soon(resource.close)
    except RuntimeError:  # the loop's own thread, or a loop already stopping: exit closes it
        pass


def close_at_exit(resource: Closeable) -> None:
    """Close ``resource`` at interpreter exit unless it was closed (and dropped) before."""
    _open.add(resource)


def closed(resource: Closeable) -> None:
    """``resource`` closed itself: exit has nothing left to do for it."""
    _open.discard(resource)


@atexit.register
def _close_everything_open() -> None:
    """Close what is open, then stop the loop while its thread still runs (left to the garbage
    collector, the portal's context manager would try to stop a loop that can no longer run)."""
    global _portal
    for resource in list(_open):
        try:
            call(resource.close)
        except Exception as exc:  # exit must go on; say what was lost
            print(f"ato: at exit: {type(exc).__name__}: {exc}", file=sys.stderr)
    with _lock:
        running, _portal = _portal, None
    if running is not None:
        try:
            running.call(running.stop, True)  # cancel whatever still waits (a stuck writer, say)
        finally:
            _stack.close()  # joins the loop thread, outside the lock


def _refuse_after_fork(*args: Any) -> Any:
    raise RuntimeError("the tracker's event loop did not survive fork()")


def _after_fork_in_child() -> None:
    global _lock, _portal, _stack, _open
    _lock = threading.Lock()  # another thread may have held it at the fork
    inherited, portal_, resources = _stack, _portal, list(_open)
    _portal, _stack, _open = None, contextlib.ExitStack(), weakref.WeakSet()
    for resource in resources:
        resource.forked()
    if portal_ is not None:
        # Its loop thread is not in this process: make the portal refuse at once, so that ending
        # the inherited context manager (which asks the portal to stop, then joins a thread
        # that fork() marked stopped) returns instead of waiting for ever.
        portal_.call = _refuse_after_fork  # type: ignore[method-assign, assignment]
        inherited.close()


os.register_at_fork(after_in_child=_after_fork_in_child)

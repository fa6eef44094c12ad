"""The tracker's own event loop: one asyncio loop in a daemon thread, behind an anyio portal.

The async core (store, writer tasks) always runs here. The sync API calls it through the portal
(``portal.call``); the async API awaits the same calls from a worker thread, so it works under
any anyio backend (asyncio or trio) although aiosqlite itself needs asyncio. At interpreter exit,
registered flushers run first (the loop thread is a daemon, so it is still alive then).
"""

from __future__ import annotations

import atexit
import queue
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import anyio
from anyio.from_thread import BlockingPortal

__all__ = ["at_exit", "call", "get_portal", "to_portal"]

T = TypeVar("T")
_lock = threading.Lock()
_portal: BlockingPortal | None = None
_exit_hooks: list[Callable[[], None]] = []


def get_portal() -> BlockingPortal:
    """The process's portal, started on first use."""
    global _portal
    with _lock:
        if _portal is None:
            ready: queue.Queue[BlockingPortal] = queue.Queue()
            thread = threading.Thread(target=_serve, args=(ready,), name="ato-event-loop", daemon=True)
            thread.start()
            _portal = ready.get()
        return _portal


def _serve(ready: queue.Queue[BlockingPortal]) -> None:
    async def main() -> None:
        async with BlockingPortal() as portal:
            ready.put(portal)
            await portal.sleep_until_stopped()

    anyio.run(main, backend="asyncio")


def call(fn: Callable[..., Awaitable[T]], *args: Any) -> T:
    """Run ``fn(*args)`` on the tracker's loop and wait for it (from any other thread)."""
    return get_portal().call(fn, *args)


async def to_portal(fn: Callable[..., Awaitable[T]], *args: Any) -> T:
    """Await ``fn(*args)`` on the tracker's loop from any anyio backend."""
    portal = get_portal()
    return await anyio.to_thread.run_sync(portal.call, fn, *args)


def at_exit(hook: Callable[[], None]) -> None:
    """Run ``hook`` at interpreter exit, before the loop thread goes away."""
    _exit_hooks.append(hook)


@atexit.register
def _run_exit_hooks() -> None:
    for hook in reversed(_exit_hooks):
        try:
            hook()
        except Exception as exc:  # exit must go on; say what was lost
            print(f"ato: at exit: {type(exc).__name__}: {exc}", file=__import__("sys").stderr)

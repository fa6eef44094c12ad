"""How a run ends when the script does not call ``finish()``: honest end states.

- ``with SQLLogger(config) as logger:`` (or ``async with``) ends the run by what left the block
  (:func:`ending`): nothing -> ``completed``; ``KeyboardInterrupt`` (Ctrl-C) or a cancellation ->
  ``interrupted``; ``SystemExit(0)`` -> ``completed``, another code -> ``failed``; any other
  exception -> ``failed``, with its type and message recorded in ``run.finished``.
- A script that just ends with a run still in progress: an uncaught exception is seen through
  ``sys.excepthook`` (chained: the hook that was there still prints the traceback), and at
  interpreter exit the run is ended as above (an exit without an uncaught exception is
  ``completed``; ``sys.exit(1)`` too, since an exit handler cannot see the exit code).
- SIGTERM (preemption under SLURM or Kubernetes): while a run is in progress, and only where
  the run was started in the main thread, a handler is installed that marks every running run
  ``killed``. With the default disposition it records the end (waiting at most
  :data:`END_TIMEOUT_S`), puts the default back and sends itself SIGTERM again, so the process
  ends exactly as SIGTERM would have ended it (status -15). With a handler of the user's own, that
  handler is called next: if it raises (``sys.exit``), the run ends ``killed`` on the way out; if
  it returns (it set a flag to stop after this epoch, say), logging goes on and the run still ends
  ``killed`` when the script ends, since SIGTERM is why it stopped. An ignored SIGTERM is left
  ignored. The handler that was there before is put back when the last run ends.
- SIGKILL cannot be caught: a reader shows such a run as ``died`` (:mod:`ato.projections.liveness`).
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
import threading
import weakref
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any, NamedTuple

from ato.events.types import RunStatus

# Imported first: its exit handler must run after this module's (atexit runs the last one first).
from ato.storage import loop

if TYPE_CHECKING:
    from ato.tracking.logger import LoggerCore

__all__ = ["END_TIMEOUT_S", "Ending", "ending", "unwatch", "watch"]

END_TIMEOUT_S = 20.0
"""The longest a SIGTERM handler or the exit hook waits for a run's end to be written (SLURM
and Kubernetes wait 30 s by default between SIGTERM and SIGKILL)."""

_MESSAGE_LIMIT = 2000  # characters of an exception's message kept in the log


class Ending(NamedTuple):
    """How a run ended: its status, and for an exception its type and message."""

    status: RunStatus
    error_type: str = ""
    error_message: str = ""


def ending(exc: BaseException | None, terminated: bool = False) -> Ending:
    """The end state for what ended the run (None: it ran to its end). ``terminated``: SIGTERM
    arrived meanwhile, so an end that is not an error's is ``killed``."""
    if exc is None:
        found = Ending(RunStatus.COMPLETED)
    elif isinstance(exc, SystemExit):
        code = exc.code
        found = Ending(RunStatus.COMPLETED) if code in (None, 0) else Ending(
            RunStatus.FAILED, "SystemExit", _message(code))
    elif isinstance(exc, Exception):
        kind = type(exc)
        name = kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"
        found = Ending(RunStatus.FAILED, name, _message(exc))
    else:  # KeyboardInterrupt, and cancellations (asyncio.CancelledError, trio.Cancelled)
        found = Ending(RunStatus.INTERRUPTED)
    if terminated and (found.status in (RunStatus.COMPLETED, RunStatus.INTERRUPTED) or isinstance(exc, SystemExit)):
        return Ending(RunStatus.KILLED)
    return found


def _message(value: object) -> str:
    try:
        text = str(value)
    except Exception as exc:  # a broken __str__ must not lose the run's end
        text = f"<str() failed: {type(exc).__name__}>"
    text = text.replace("\x00", "\\x00")  # the log's text fields refuse NUL
    return text if len(text) <= _MESSAGE_LIMIT else text[: _MESSAGE_LIMIT - 3] + "..."


# -- the runs in progress, and the hooks installed for them ---------------------------------------------
_running: weakref.WeakSet[LoggerCore] = weakref.WeakSet()
_lock = threading.RLock()  # re-entered by a signal handler that interrupts its own thread
_uncaught: BaseException | None = None
_previous_excepthook: Any = None
_previous_sigterm: Any = None  # the disposition our handler replaced; None: ours is not installed


def watch(core: LoggerCore) -> None:
    """``core`` has a run in progress: end it honestly (call in the thread that started it)."""
    global _previous_excepthook, _previous_sigterm
    with _lock:
        _running.add(core)
        if _previous_excepthook is None:
            _previous_excepthook = sys.excepthook
            sys.excepthook = _excepthook
    if threading.current_thread() is not threading.main_thread() or _previous_sigterm is not None:
        return
    current = signal.getsignal(signal.SIGTERM)
    if current is signal.SIG_IGN or current is None:  # ignored, or set outside Python: left alone
        return
    _previous_sigterm = current
    signal.signal(signal.SIGTERM, _on_sigterm)


def unwatch(core: LoggerCore) -> None:
    """``core``'s run ended: the SIGTERM handler goes back when no run is left (main thread only;
    elsewhere it stays, and with no run in progress only passes SIGTERM on)."""
    global _previous_sigterm
    with _lock:
        _running.discard(core)
        left = len(_running)
    if left or _previous_sigterm is None or threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is _on_sigterm:  # not replaced by the user since
        signal.signal(signal.SIGTERM, _previous_sigterm)
    _previous_sigterm = None


def _excepthook(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
    global _uncaught
    _uncaught = value
    previous = _previous_excepthook if _previous_excepthook is not None else sys.__excepthook__
    previous(kind, value, tb)


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    global _previous_sigterm
    cores = list(_running)
    for core in cores:
        core.terminated = True
    previous = _previous_sigterm
    if callable(previous):
        previous(signum, frame)  # the user's own: what happens next is theirs (see the docstring)
        return
    for core in cores:
        _end(core, Ending(RunStatus.KILLED))
    signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)
    _previous_sigterm = None
    os.kill(os.getpid(), signal.SIGTERM)  # as the default would have: the process ends by SIGTERM


def _end(core: LoggerCore, how: Ending) -> None:
    """End ``core``'s run, waiting at most :data:`END_TIMEOUT_S` (a handler may have interrupted
    the very thread that holds the logger's buffer; a run not ended then is shown ``died``)."""
    if not core.running:
        return
    try:
        future = loop.portal().start_task_soon(core.end, how)
        future.result(timeout=END_TIMEOUT_S)
    except Exception as exc:  # whatever happens, the process goes on ending: say what was lost
        print(f"ato: could not record how run {core.run_id} ended ({how.status}): {type(exc).__name__}: {exc}",
              file=sys.stderr)
    unwatch(core)


@atexit.register
def _at_exit() -> None:
    """End the runs still in progress (registered after the loop's own exit handler, so it runs
    before it, while the loop still serves)."""
    uncaught = _uncaught if _uncaught is not None else getattr(sys, "last_value", None)
    for core in list(_running):
        _end(core, ending(uncaught, core.terminated))


def _after_fork_in_child() -> None:
    # A fork()ed child's loggers are the parent's: never ended from here (LoggerCore.forked).
    global _lock
    _lock = threading.RLock()
    _running.clear()


os.register_at_fork(after_in_child=_after_fork_in_child)

"""The decorators behind ``@scope.trace`` and ``@scope.runtime_trace``, and what a run records.

Static traces are registered per process: every run started while a traced function is
registered records its code fingerprint (for a trace id defined twice, the last definition).
Runtime traces hash each call's result and hand the digest to every run in progress in this
process; the decorated function returns its result unchanged. Where the result holds CUDA
tensors, the digest handed over is a future (:func:`deferred_digest`): the call returns without
waiting for the GPU, and the run's :class:`RuntimeRecord` waits for it when it is written.
"""

from __future__ import annotations

import functools
import inspect
import threading
import weakref
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from ato.events.types import FingerprintKind, FingerprintRecorded, SourceRecorded
from ato.fingerprints.code import code_fingerprint
from ato.fingerprints.environment import environment_fingerprint, git_patch
from ato.fingerprints.runtime import deferred_digest
from ato.fingerprints.sources import source_event, texts

__all__ = ["fingerprint_events", "runtime_trace", "static_trace", "watch_runtime"]

F = TypeVar("F", bound=Callable[..., Any])
_static: dict[str, tuple[Callable[..., Any], bool]] = {}
_lock = threading.Lock()


class RuntimeSink(Protocol):
    def record_runtime(self, trace_id: str, digest: Any) -> None:
        """Take one call's digest: a ``str``, or a :class:`deferred.Pending` one where the output
        holds CUDA tensors (``runtime.Digest``; hand either to ``RuntimeRecord.add``)."""


_sinks: weakref.WeakSet[Any] = weakref.WeakSet()


def static_trace(trace_id: str | None = None, *, follow_calls: bool = True) -> Callable[[F], F]:
    """Register ``fn``'s code fingerprint under ``trace_id`` (default: its qualified name)."""

    def decorate(fn: F) -> F:
        original = inspect.unwrap(fn)
        with _lock:
            _static[trace_id or original.__qualname__] = (fn, follow_calls)
        return fn

    return decorate


def runtime_trace(
    trace_id: str | None = None,
    init_fn: Callable[[], Any] | None = None,
    inspect_fn: Callable[[Any], Any] | None = None,
) -> Callable[[F], F]:
    """Hash what ``fn`` returns (or ``inspect_fn(result)``) on every call; return the result."""

    def decorate(fn: F) -> F:
        name = trace_id or inspect.unwrap(fn).__qualname__

        def record(result: Any) -> Any:
            sinks = list(_sinks)
            if sinks:
                digest = deferred_digest(inspect_fn(result) if inspect_fn is not None else result)
                for sink in sinks:
                    sink.record_runtime(name, digest)
            return result

        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                if init_fn is not None:
                    init_fn()
                return record(await fn(*args, **kwargs))

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if init_fn is not None:
                init_fn()
            return record(fn(*args, **kwargs))

        return wrapper  # type: ignore[return-value]

    return decorate


def watch_runtime(sink: RuntimeSink, active: bool) -> None:
    """Start (or stop) handing runtime digests to ``sink`` (a running logger)."""
    if active:
        _sinks.add(sink)
    else:
        _sinks.discard(sink)


def fingerprint_events() -> list[FingerprintRecorded | SourceRecorded]:
    """Events a new run records: the environment and every registered code fingerprint, then
    the texts they name (:class:`SourceRecorded`: each function's source, the git patch), which
    belong to no run and are appended only where the database lacks them (their ids are
    derived from their hashes)."""
    digest, detail = environment_fingerprint()
    events: list[FingerprintRecorded | SourceRecorded] = [
        FingerprintRecorded(trace_id="environment", kind=FingerprintKind.ENVIRONMENT, fingerprint=digest, detail=detail)
    ]
    with _lock:
        registered = sorted(_static.items())
    named: dict[str, None] = {}  # source digests, in first-seen order
    for trace_id, (fn, follow_calls) in registered:
        fingerprint, info = code_fingerprint(fn, follow_calls=follow_calls)
        events.append(FingerprintRecorded(trace_id=trace_id, kind=FingerprintKind.STATIC, fingerprint=fingerprint, detail=info))
        named.update(dict.fromkeys(info.get("sources", {}).values()))
    events += [source_event(text) for text in texts(named).values()]
    patch = git_patch()
    if patch is not None:
        events.append(source_event(patch, kind="git-diff"))
    return events

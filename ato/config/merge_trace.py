"""The merge trace: every step of a config merge as events, its exact replay, and per-key provenance.

Recording works by snapshots: before the first step and after each one, the config is flattened
to ``{path: value}`` (values copied or encoded, so later in-place mutation cannot alter them), and
the difference between two snapshots is the step's list of :class:`KeyChange`. Diffing the whole
config catches every way a view can change it: assignment, ``update``, deleting keys, appending to
a nested list.

In a snapshot a non-empty mapping is only its leaves; an empty mapping is a leaf of its own. Replay
mirrors that: removing the last key of a mapping removes the mapping, and an empty mapping is set
explicitly, so the replayed config has exactly the recorded paths.
"""

from __future__ import annotations

import contextlib
import contextvars
import struct
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec
from msgspec import UNSET

from ato.config.adict import ADict
from ato.config.structural_hash import structural_hash
from ato.events.types import (
    Event,
    KeyChange,
    MergeCompleted,
    MergeStarted,
    MergeStepApplied,
    StepKind,
)
from ato.events.values import (
    INT64_MIN,
    UINT64_MAX,
    OpaqueValue,
    decode_value,
    encode_value,
    opaque_paths,
)

__all__ = [
    "KeyHistory",
    "RunningMerge",
    "running",
    "running_merge_events",
    "running_merges",
    "flatten",
    "same",
    "snapshot_value",
    "MergeTrace",
    "ReplayResult",
    "TraceRecorder",
    "format_path",
    "replay",
]

_Path = tuple[Any, ...]
_pack_float = struct.Struct("<d").pack
_encode_msgpack = msgspec.msgpack.Encoder().encode


class _Encoded:
    """A snapshot of a non-scalar value: its encoding, and the bytes that compare it."""

    __slots__ = ("tree", "data")

    def __init__(self, value: Any) -> None:
        self.tree = encode_value(value)
        self.data = _encode_msgpack(self.tree)


class _EmptyMapping:
    __slots__ = ()
    tree = ["dict", []]


_EMPTY = _EmptyMapping()
_SCALARS = frozenset({str, float, bool, bytes, type(None)})


def _snap(value: Any) -> Any:
    cls = type(value)
    if cls in _SCALARS or (cls is int and INT64_MIN <= value <= UINT64_MAX):
        return value
    return _Encoded(value)


def _flatten(mapping: Mapping[Any, Any], prefix: _Path, out: dict[_Path, Any]) -> dict[_Path, Any]:
    if not mapping and prefix:
        out[prefix] = _EMPTY
    for key, value in mapping.items():
        path = prefix + (key,)
        cls = type(value)
        if cls in _SCALARS:  # the common case, inlined: this runs once per key per step
            out[path] = value
        elif isinstance(value, dict):
            _flatten(value, path, out)
        else:
            out[path] = _snap(value)
    return out


def _same(a: Any, b: Any) -> bool:
    if a is b:
        return True
    cls = type(a)
    if cls is not type(b):
        return False
    if cls is float:
        return _pack_float(a) == _pack_float(b)
    if cls is _Encoded:
        return a.data == b.data  # type: ignore[no-any-return]
    return a == b  # type: ignore[no-any-return]


def _tree(snap: Any) -> Any:
    return snap.tree if isinstance(snap, (_Encoded, _EmptyMapping)) else snap


def _diff(before: dict[_Path, Any], after: dict[_Path, Any]) -> list[KeyChange]:
    changes = [
        KeyChange(path=_encode_path(path), old=_tree(old))
        for path, old in before.items()
        if path not in after
    ]
    get = before.get
    for path, new in after.items():
        old = get(path, UNSET)
        if old is new:  # an untouched scalar is the very same object
            continue
        if old is UNSET:
            changes.append(KeyChange(path=_encode_path(path), new=_tree(new)))
        elif not _same(old, new):
            changes.append(KeyChange(path=_encode_path(path), old=_tree(old), new=_tree(new)))
    return changes


def _encode_path(path: _Path) -> _Path:
    if all(type(key) is str for key in path):
        return path
    return tuple(encode_value(key) for key in path)


def flatten(config: Mapping[Any, Any]) -> dict[_Path, Any]:
    """``{path: snapshot}`` of every leaf (an empty mapping is a leaf); compare with :func:`same`."""
    return _flatten(config, (), {})


def same(a: Any, b: Any) -> bool:
    """Whether two snapshots hold equal values of equal types (floats bit for bit)."""
    return _same(a, b)


def snapshot_value(snap: Any) -> Any:
    """The value a snapshot stands for."""
    return decode_value(_tree(snap))


def apply_change(config: ADict, change: KeyChange) -> None:
    """Apply one recorded change to ``config`` in place (the inverse of a snapshot diff)."""
    path = [decode_value(key) for key in change.path]
    parents: list[dict[Any, Any]] = [config]
    for key in path[:-1]:
        child = parents[-1].get(key)
        if not isinstance(child, dict):
            if change.new is UNSET:
                return
            child = ADict()
            dict.__setitem__(parents[-1], key, child)
        parents.append(child)
    if change.new is UNSET:
        dict.pop(parents[-1], path[-1], None)
        # A mapping whose last key went away goes with it (an empty mapping is its own leaf).
        for parent, key in zip(reversed(parents[:-1]), reversed(path[:-1])):
            if parent[key]:
                break
            dict.__delitem__(parent, key)
    else:
        parents[-1].update({path[-1]: decode_value(change.new)})  # a tuple key stays one key


def format_path(path: Sequence[Any]) -> str:
    """``('model', 'lr')`` as ``model.lr``; non-string keys in brackets (``stages[1]``)."""
    text = ""
    for key in path:
        key = decode_value(key)
        text += f"[{key!r}]" if not isinstance(key, str) else (f".{key}" if text else key)
    return text


@dataclass
class MergeTrace:
    """The recorded merge of one scope: its start, its steps in order, its result."""

    started: MergeStarted
    steps: list[MergeStepApplied] = field(default_factory=list)
    completed: MergeCompleted | None = None

    @property
    def scope(self) -> str:
        return self.started.scope

    @property
    def events(self) -> list[Event]:
        tail: list[Event] = [self.completed] if self.completed is not None else []
        return [self.started, *self.steps, *tail]

    @classmethod
    def from_events(cls, events: Iterable[Event]) -> MergeTrace:
        """Rebuild a trace from its events (as stored in the log)."""
        started: MergeStarted | None = None
        steps: list[MergeStepApplied] = []
        completed: MergeCompleted | None = None
        for event in events:
            if isinstance(event, MergeStarted):
                started = event
            elif isinstance(event, MergeStepApplied):
                steps.append(event)
            elif isinstance(event, MergeCompleted):
                completed = event
        if started is None:
            raise ValueError("a merge trace needs its merge.started event")
        return cls(started, sorted(steps, key=lambda step: step.index), completed)

    def events_for_run(self, config: ADict | None) -> list[Event]:
        """The trace's events; where ``config`` (the live object) changed after the merge, one
        more ``after_merge`` step and a new completion record those changes, so it replays."""
        events = self.events
        if config is None or self.completed is None:
            return events
        recorded = ADict(decode_value(self.completed.config))
        changes = _diff(_flatten(recorded, (), {}), _flatten(config, (), {}))
        if not changes:
            return events
        step = MergeStepApplied(
            scope=self.scope,
            index=len(self.steps),
            step="(changed after the merge)",
            kind=StepKind.AFTER_MERGE,
            changes=tuple(changes),
        )
        completed = MergeCompleted(
            scope=self.scope, config=encode_value(config), structural_hash=structural_hash(config)
        )
        return [self.started, *self.steps, step, completed]

    def provenance(self) -> dict[str, KeyHistory]:
        """For each key path ever touched, the steps that changed it, in applying order."""
        histories: dict[str, KeyHistory] = {}
        for step in self.steps:
            for change in step.changes:
                name = format_path(change.path)
                histories.setdefault(name, KeyHistory(name)).changes.append((step, change))
        return histories

    def history(self, key: str) -> KeyHistory:
        """The steps that set ``key`` (a dotted path) or anything below it."""
        found = KeyHistory(key)
        for name, history in self.provenance().items():
            if name == key or name.startswith(f"{key}.") or name.startswith(f"{key}["):
                found.changes.extend(history.changes)
        found.changes.sort(key=lambda pair: pair[0].index)
        return found


@dataclass
class KeyHistory:
    """Who set one key: ``(step, change)`` pairs in applying order; the last one won."""

    key: str
    changes: list[tuple[MergeStepApplied, KeyChange]] = field(default_factory=list)

    @property
    def winner(self) -> MergeStepApplied | None:
        return self.changes[-1][0] if self.changes else None


class TraceRecorder:
    """Records a merge as it happens: call :meth:`record` after each step."""

    def __init__(self, scope: str, config: ADict, argv: Sequence[str] = ()) -> None:
        self._snapshot = _flatten(config, (), {})
        self.trace = MergeTrace(
            MergeStarted(scope=scope, argv=tuple(argv), initial=encode_value(config))
        )

    def capture(self, config: ADict) -> list[KeyChange]:
        """The changes made since the last capture; the current state becomes the new baseline."""
        after = _flatten(config, (), {})
        changes = _diff(self._snapshot, after)
        self._snapshot = after
        return changes

    def revert(self, config: ADict) -> None:
        """Undo every change made since the last capture."""
        for change in _diff(_flatten(config, (), {}), self._snapshot):
            apply_change(config, change)

    def record(
        self,
        config: ADict,
        step: str,
        kind: StepKind,
        priority: int | None = None,
        chained_by: str | None = None,
        changes: Sequence[KeyChange] | None = None,
    ) -> MergeStepApplied:
        """Append one step with the changes since the last capture (or the ``changes`` given)."""
        event = MergeStepApplied(
            scope=self.trace.scope,
            index=len(self.trace.steps),
            step=step,
            kind=kind,
            priority=priority,
            chained_by=chained_by,
            changes=tuple(self.capture(config) if changes is None else changes),
        )
        self.trace.steps.append(event)
        return event

    def complete(self, config: ADict) -> MergeTrace:
        """Record the final config and return the finished trace."""
        self.trace.completed = MergeCompleted(
            scope=self.trace.scope,
            config=encode_value(config),
            structural_hash=structural_hash(config),
        )
        return self.trace


@dataclass(frozen=True)
class ReplayResult:
    """A config rebuilt from a trace, and whether it equals the recorded one exactly."""

    config: ADict
    exact: bool
    differences: list[str]
    not_replayable: list[str]


def replay(trace: MergeTrace) -> ReplayResult:
    """Apply the recorded steps, in order, to the recorded starting state.

    ``exact`` holds when the result equals the recorded final config in values, types (float bits
    included) and structural hash, and no value was recorded as opaque.
    """
    config = ADict(decode_value(trace.started.initial))
    for step in trace.steps:
        for change in step.changes:
            apply_change(config, change)
    not_replayable = [
        f"{format_path(change.path)}{where} (set by {step.step})"
        for step in trace.steps
        for change in step.changes
        if change.new is not UNSET
        for where in opaque_paths(change.new)
    ]
    differences: list[str] = []
    if trace.completed is None:
        differences.append("the trace has no merge.completed event to compare with")
    else:
        recorded = ADict(decode_value(trace.completed.config))
        differences = [
            f"{format_path(change.path)}: replayed {_show(change.old)}, recorded {_show(change.new)}"
            for change in _diff(_flatten(config, (), {}), _flatten(recorded, (), {}))
        ]
        if not differences and structural_hash(config) != trace.completed.structural_hash:
            differences.append("structural hash differs from the recorded one")
    return ReplayResult(config, not differences and not not_replayable, differences, not_replayable)


def _show(encoded: Any) -> str:
    if encoded is UNSET:
        return "nothing"
    value = decode_value(encoded)
    return repr(value) if not isinstance(value, OpaqueValue) else str(value)


# -- merges whose functions are running ------------------------------------------------------------
@dataclass
class RunningMerge:
    """The merge behind a running ``@scope`` function: its trace and the live config (both None
    until the scope has merged). A scope owns one and updates it after each merge."""

    trace: MergeTrace | None = None
    config: ADict | None = None


running_merges: contextvars.ContextVar[tuple[RunningMerge, ...]] = contextvars.ContextVar(
    "ato_running_merges", default=()
)
"""The merges of the ``@scope`` functions running in this context, innermost last. Scopes push
(:func:`running`); the tracker reads it when a run starts, so a run records the merge that
configured it without reaching into ``Scope``."""


@contextlib.contextmanager
def running(*merges: RunningMerge) -> Iterator[None]:
    """Mark ``merges`` as running for the duration of the block (in this context only)."""
    token = running_merges.set((*running_merges.get(), *merges))
    try:
        yield
    finally:
        running_merges.reset(token)


def running_merge_events() -> list[Event]:
    """The events of every running merge, once per trace, with its innermost live config (a
    search trial runs the same trace with its own config)."""
    latest: dict[int, RunningMerge] = {}
    for merge in running_merges.get():
        if merge.trace is not None:
            latest.pop(id(merge.trace), None)
            latest[id(merge.trace)] = merge
    events: list[Event] = []
    for merge in latest.values():
        assert merge.trace is not None
        events += merge.trace.events_for_run(merge.config)
    return events

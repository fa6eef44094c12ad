"""Replay a run's config merge from its recorded events: the applying order of views, every
final key with the chain of steps that set it, and whether the replayed config equals the
recorded one exactly (values, types, structural hash). What ``ato replay`` prints.

It reads through a finder (the one read model) and returns plain data; ``to_json()`` gives the
same as dicts of native values (what ``ato replay --json`` shapes by its schema). A ``key`` that
names nothing in the run's config raises :class:`UnknownConfigKeyError` with the closest keys. A
run's searches are replayed by :mod:`ato.hyperopt.replay`.
"""

from __future__ import annotations

import functools
import operator
from dataclasses import dataclass
from typing import Any

from msgspec import UNSET

from ato.config.merge_trace import (
    MergeTrace,
    flatten,
    format_path,
    replay,
)
from ato.display import render_html, render_rich, text
from ato.errors import UnknownConfigKeyError
from ato.events.values import OpaqueValue, decode_value
from ato.tracking.display import replay_views, scope_view
from ato.tracking.finder import Run, SQLFinder

__all__ = ["KeyChain", "MergeReplay", "ScopeReplay", "replay_merges", "type_name"]


@dataclass
class KeyChain:
    """One final key: its value and every step that set it, oldest first."""

    key: str
    value: Any
    chain: list[dict[str, Any]]


@dataclass
class ScopeReplay:
    """The merge audit of one scope of one run."""

    scope: str
    argv: list[str]
    order: list[dict[str, Any]]
    keys: list[KeyChain]
    exact: bool
    differences: list[str]
    not_replayable: list[str]

    def to_json(self) -> dict[str, Any]:
        return {
            "scope": self.scope,
            "argv": self.argv,
            "order": self.order,
            "keys": [{"key": k.key, "value": k.value, "type": type_name(k.value), "chain": k.chain} for k in self.keys],
            "exact": self.exact,
            "differences": self.differences,
            "not_replayable": self.not_replayable,
        }

    def __repr__(self) -> str:
        # One short line: the dataclass's own would print every key's chain.
        return (f"ScopeReplay(scope={text(repr(self.scope), 80)}, steps={len(self.order)}, keys={len(self.keys)}, "
                f"exact={self.exact})")

    def _repr_html_(self) -> str:
        """The scope's merge audit as HTML tables, for Jupyter: applying order, final keys with
        the steps that set them, exactness. Escaped and bounded (:mod:`ato.display`)."""
        return render_html(scope_view(self))

    def __rich__(self) -> Any:
        """The scope's merge audit as rich tables (rich imported only now)."""
        return render_rich(scope_view(self))


@dataclass
class MergeReplay:
    """The merge audit of a run: one :class:`ScopeReplay` per scope that configured it."""

    run: Run
    scopes: list[ScopeReplay]

    @property
    def exact(self) -> bool:
        return all(scope.exact for scope in self.scopes)

    def __repr__(self) -> str:
        # One short line: the dataclass's own would print the run and every scope's keys.
        return f"MergeReplay(run={self.run.id}, scopes={len(self.scopes)}, exact={self.exact})"

    def _repr_html_(self) -> str:
        """The run's merge audit as HTML tables, for Jupyter (each scope as
        :meth:`ScopeReplay._repr_html_`)."""
        return render_html(*replay_views(self))

    def __rich__(self) -> Any:
        """The run's merge audit as rich tables (rich imported only now)."""
        return render_rich(*replay_views(self))


def replay_merges(finder: SQLFinder, run: int | str, key: str | None = None) -> MergeReplay:
    """The merge audit of ``run``: applying order, each final key's chain (only ``key`` and what
    is below it, if given), and exactness."""
    found = finder.get_run(run)
    if key is not None:
        _check_key(found, key)
    recorded = finder.get_run_events(found.id)
    traces = [MergeTrace.from_events(events) for events in recorded.scopes.values()]
    return MergeReplay(found, [_scope_replay(trace, key) for trace in traces])


def type_name(value: Any) -> str:
    """The Python type of a replayed value (of a value that could not be recorded: its recorded type)."""
    return value.type_name.rpartition(".")[2] if isinstance(value, OpaqueValue) else type(value).__name__


def _check_key(run: Run, key: str) -> None:
    """Raise unless ``key`` is a key of the run's config, or a part of one (``model`` of
    ``model.lr``)."""
    names: set[str] = set()
    for path in flatten(run.config):
        names.update(format_path(path[:end]) for end in range(1, len(path) + 1))
    if key not in names:
        raise UnknownConfigKeyError(key, names, f"in run {run.id}'s config")


def _shown(encoded: Any) -> Any:
    return None if encoded is UNSET else decode_value(encoded)


def _scope_replay(trace: MergeTrace, key: str | None) -> ScopeReplay:
    result = replay(trace)
    order = [
        {"index": s.index + 1, "step": s.step, "kind": s.kind, "priority": s.priority, "chained_by": s.chained_by}
        for s in trace.steps
    ]
    keys = []
    histories = trace.provenance()
    for path in flatten(result.config):
        # The value itself, not its snapshot: a snapshot of a value that could not be recorded
        # would wrap its OpaqueValue stand-in once more.
        name, value = format_path(path), functools.reduce(operator.getitem, path, result.config)
        if key is not None and name != key and not name.startswith(f"{key}.") and not name.startswith(f"{key}["):
            continue
        history = histories.get(name)
        chain = [
            {
                "step": step.step,
                "kind": step.kind,
                "old": _shown(change.old),
                "new": _shown(change.new),
                "added": change.old is UNSET,
            }
            for step, change in (history.changes if history else [])
        ]
        keys.append(KeyChain(name, value, chain))
    return ScopeReplay(
        trace.scope, list(trace.started.argv), order, keys, result.exact, result.differences, result.not_replayable
    )



"""Reading a database back: replay a run's merge, list runs, verify, rebuild and merge logs.

These are the operations behind the ``ato`` command; each returns plain data (``to_json()``
gives what ``--json`` prints), so the command module only formats.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from msgspec import UNSET

from ato.storage import loop as portal
from ato.errors import DatabaseError
from ato.events.codec import decode_event
from ato.storage.log import event_tag
from ato.events.types import (
    HalvingDecided,
    SearchFinished,
    SearchStarted,
    TrialRecorded,
)
from ato.events.values import OpaqueValue, decode_value
from ato.tracking.finder import Run, _FinderCore
from ato.config.merge_trace import MergeTrace, flatten, format_path, replay, snapshot_value
from ato.projections.tables import TABLES
from ato.storage.store import Store

__all__ = [
    "KeyChain",
    "ScopeReplay",
    "merge_databases",
    "rebuild_database",
    "replay_run",
    "verify_database",
]


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
            "keys": [
                {"key": k.key, "value": _jsonable(k.value), "type": type(k.value).__name__, "chain": k.chain}
                for k in self.keys
            ],
            "exact": self.exact,
            "differences": self.differences,
            "not_replayable": self.not_replayable,
        }


@dataclass
class SearchReplay:
    """A recorded search: its rounds, and whether the trial metrics reproduce every decision."""

    search: str
    settings: dict[str, Any]
    rounds: list[dict[str, Any]]
    winner: int | None
    metric: float | None
    problems: list[str]

    @property
    def reproduces(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {"search": self.search, "settings": self.settings, "rounds": self.rounds, "winner": self.winner,
                "metric": self.metric, "reproduces": self.reproduces, "problems": self.problems}


@dataclass
class RunReplay:
    run: Run
    scopes: list[ScopeReplay] = field(default_factory=list)
    searches: list[SearchReplay] = field(default_factory=list)

    @property
    def exact(self) -> bool:
        return all(scope.exact for scope in self.scopes) and all(s.reproduces for s in self.searches)

    def to_json(self) -> dict[str, Any]:
        return {
            "run": {"id": self.run.id, "uid": self.run.uid, "project": self.run.project, "status": self.run.status},
            "scopes": [scope.to_json() for scope in self.scopes],
            "searches": [search.to_json() for search in self.searches],
            "exact": self.exact,
        }


def _search_replay(events: list[Any]) -> SearchReplay:
    """Feed the recorded trial metrics through a fresh schedule and compare its decisions."""
    from ato.hyperopt.schedule import HalvingSchedule

    started = next(e for e in events if isinstance(e, SearchStarted))
    trials = [e for e in events if isinstance(e, TrialRecorded)]
    halvings = sorted((e for e in events if isinstance(e, HalvingDecided)), key=lambda e: e.round)
    finished = next((e for e in events if isinstance(e, SearchFinished)), None)
    settings = dict(started.settings)
    schedule = HalvingSchedule(settings["trials"], settings["halving_rate"], settings["num_min_samples"], settings["mode"])
    problems: list[str] = []
    rounds = []
    for recorded in halvings:
        metrics = {t.trial: t.metric for t in trials if t.round == recorded.round}
        try:
            decision = schedule.report(metrics)
        except ValueError as exc:
            problems.append(f"round {recorded.round}: {exc}")
            break
        if (decision.kept, decision.dropped) != (list(recorded.kept), list(recorded.dropped)):
            problems.append(f"round {recorded.round}: the recorded metrics give a different decision")
        failed = sum(1 for t in trials if t.round == recorded.round and t.metric is None)
        rounds.append({"round": recorded.round, "trials": len(metrics), "kept": list(recorded.kept),
                       "dropped": len(recorded.dropped), "cutoff": recorded.cutoff, "failed": failed})
    if finished is not None and schedule.winner != finished.winner:
        problems.append(f"recorded winner {finished.winner}, replayed winner {schedule.winner}")
    return SearchReplay(started.search, settings, rounds, finished.winner if finished else None,
                        finished.metric if finished else None, problems)


def _jsonable(value: Any) -> Any:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return repr(value)


def _shown(encoded: Any) -> Any:
    if encoded is UNSET:
        return None
    value = decode_value(encoded)
    return str(value) if isinstance(value, OpaqueValue) else value


def _scope_replay(trace: MergeTrace, key: str | None) -> ScopeReplay:
    result = replay(trace)
    order = [
        {"index": s.index + 1, "step": s.step, "kind": s.kind, "priority": s.priority, "chained_by": s.chained_by}
        for s in trace.steps
    ]
    keys = []
    histories = trace.provenance()
    for path, snap in flatten(result.config).items():
        name, value = format_path(path), snapshot_value(snap)
        if key is not None and name != key and not name.startswith(f"{key}.") and not name.startswith(f"{key}["):
            continue
        history = histories.get(name)
        chain = [
            {
                "step": step.step,
                "kind": step.kind,
                "old": _jsonable(_shown(change.old)),
                "new": _jsonable(_shown(change.new)),
                "added": change.old is UNSET,
            }
            for step, change in (history.changes if history else [])
        ]
        keys.append(KeyChain(name, value, chain))
    return ScopeReplay(
        trace.scope, list(trace.started.argv), order, keys, result.exact, result.differences, result.not_replayable
    )


async def _replay_run(path: Path, run: int | str, key: str | None) -> RunReplay:
    finder = _FinderCore(path)
    try:
        found = await finder.find_run(run)
        by_scope, by_search = await (await finder.store()).run_events(found.uid)
        report = RunReplay(found)
        for events in by_scope.values():
            report.scopes.append(_scope_replay(MergeTrace.from_events(events), key))
        report.searches = [_search_replay(events) for events in by_search.values()]
        return report
    finally:
        await finder.close()


def replay_run(path: Path, run: int | str, key: str | None = None) -> RunReplay:
    """The merge audit of ``run``: applying order, each final key's chain, and exactness."""
    return portal.call(_replay_run, path, run, key)


async def _list_runs(path: Path, project: str | None) -> list[Run]:
    finder = _FinderCore(path)
    try:
        return await (finder.get_runs_in_project(project) if project else finder.all_runs())
    finally:
        await finder.close()


def list_runs(path: Path, project: str | None = None) -> list[Run]:
    return portal.call(_list_runs, path, project)


async def _rebuild(path: Path) -> tuple[int, float]:
    store = await Store.open_existing(path)
    try:
        start = time.perf_counter()
        count = await store.rebuild()
        return count, time.perf_counter() - start
    finally:
        await store.close()


def rebuild_database(path: Path) -> tuple[int, float]:
    """Drop and re-derive every projection; returns (events applied, seconds)."""
    return portal.call(_rebuild, path)


async def _merge(path: Path, sources: Sequence[Path]) -> list[tuple[Path, int]]:
    for source in sources:
        if not source.exists():
            raise DatabaseError(source, "no such database to merge from")
    store = await Store.open(path)
    try:
        return [(source, await store.merge(source)) for source in sources]
    finally:
        await store.close()


def merge_databases(path: Path, sources: Sequence[Path]) -> list[tuple[Path, int]]:
    """Append the events of ``sources`` that ``path`` lacks; returns how many each added."""
    return portal.call(_merge, path, sources)


async def _verify(path: Path) -> tuple[int, list[str]]:
    store = await Store.open_existing(path)
    problems: list[str] = []
    count = 0
    try:
        previous = 0
        async with store.log.connection.execute(
            "SELECT seq, event_id, run, type, payload FROM events ORDER BY seq"
        ) as cursor:
            async for seq, event_id, run, tag, payload in cursor:
                count += 1
                if seq != previous + 1:
                    problems.append(f"sequence jumps from {previous} to {seq}")
                previous = seq
                try:
                    event = decode_event(payload)
                except Exception as exc:
                    problems.append(f"event {seq}: payload does not decode ({exc})")
                    continue
                if (event.event_id, event.run, event_tag(event)) != (event_id, run, tag):
                    problems.append(f"event {seq}: envelope does not match its payload")
        problems += await _compare_with_fresh_derivation(store)
    finally:
        await store.close()
    return count, problems


async def _compare_with_fresh_derivation(store: Store) -> list[str]:
    problems = []
    with tempfile.TemporaryDirectory(prefix="ato-verify-") as folder:
        fresh_path = Path(folder) / "fresh.db"
        fresh = await Store.open(fresh_path)
        try:
            await fresh.merge(store.path)
        finally:
            await fresh.close()
        db = store.log.connection
        await db.execute("ATTACH DATABASE ? AS fresh", (str(fresh_path),))
        try:
            for table in TABLES:
                for a, b, what in (("main", "fresh", "not in a fresh derivation"), ("fresh", "main", "missing")):
                    async with db.execute(
                        f"SELECT COUNT(*) FROM (SELECT * FROM {a}.{table} EXCEPT SELECT * FROM {b}.{table})"
                    ) as cursor:
                        row = await cursor.fetchone()
                    if row and row[0]:
                        problems.append(f"projection {table}: {row[0]} rows {what}")
        finally:
            await db.execute("DETACH DATABASE fresh")
    return problems


def verify_database(path: Path) -> tuple[int, list[str]]:
    """Check the log (sequence, ids, payloads) and that projections equal a fresh derivation."""
    return portal.call(_verify, path)

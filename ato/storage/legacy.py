"""Reading an ato 2.1.7 database (SQLAlchemy tables ``projects``, ``experiments``, ``metrics``,
``artifacts``, ``fingerprints``) as the events that would have recorded it. ``ato import`` appends
them to an Ato log; the old file is only read (SQLite ``mode=ro``, one snapshot), never changed.

What carries over, per run, in the old id order (so an import into an empty log keeps the ids
when the old ones have no gaps): the project, the config (JSON, as 2.1.7 stored it), its
recorded structural hash (kept as it was), tags, the start time, every metric point with its
step, value and recorded timestamp (2.1.7 stamped every point with one time, the moment its
module was imported: that is what it recorded, so that is what is kept), artifacts (path, type,
metadata), fingerprints, and the status. ``completed`` and ``failed`` end the run at its end
time; ``running`` leaves it running; any other status (``interrupted``, ``evaluating``) becomes
the run's status label, with the end time as the label's time. ``RunStarted.origin`` names the
source file and old id. Every project comes first (``project.created``, at its creation time), so
projects that never had a run carry over too; runs whose project row is missing do not.

Importing is idempotent and resumable: event ids come from the source run and the old rows, and
metric points already imported for a run (counted in the target) are skipped, so importing a
file again after 2.1.7 logged more adds exactly the new points.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import sqlite3
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ato.errors import DatabaseError
from ato.events.metric_encoding import pack_points
from ato.events.types import (
    ArtifactLogged,
    Event,
    FingerprintKind,
    FingerprintRecorded,
    MetricsPacked,
    ProjectCreated,
    RunFinished,
    RunStarted,
    RunStatus,
    RunStatusChanged,
)
from ato.events.values import encode_value

__all__ = ["LEGACY_TABLES", "LegacyDatabase", "LegacyRun", "is_legacy"]

LEGACY_TABLES = frozenset({"projects", "experiments", "metrics"})
CHUNK = 10_000  # metric points per event, as the logger writes them


def is_legacy(tables: set[str]) -> bool:
    """Whether a file with these tables (and no event log) is an ato 2.1.7 database."""
    return LEGACY_TABLES <= tables and "events" not in tables


@dataclass(frozen=True)
class LegacyRun:
    """One experiment row of the old file, and the global id its events get."""

    old_id: int
    uid: str
    started: RunStarted
    status: str | None
    ended_at: float


class LegacyDatabase:
    """An ato 2.1.7 file opened read-only, at one snapshot, for reading run by run. Its methods
    may be called from any one thread at a time (the import calls them from worker threads)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        uri = f"file:{urllib.parse.quote(str(path))}?mode=ro"
        try:
            self._db = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
            self._db.execute("BEGIN")  # one snapshot, even while 2.1.7 still writes to it
            tables = {row[0] for row in self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        except sqlite3.Error as exc:
            raise DatabaseError(path, f"cannot read the ato 2.1.7 database: {exc}") from None
        if not is_legacy(tables):
            self.close()
            raise DatabaseError(path, "not an ato 2.1.7 database (no projects/experiments/metrics tables)")
        self._has = {table: table in tables for table in ("artifacts", "fingerprints")}

    def close(self) -> None:
        self._db.close()

    def projects(self) -> list[ProjectCreated]:
        """Every project, as created (2.1.7 never wrote its ``description``)."""
        return [
            ProjectCreated(event_id=_digest(f"ato-2.1.7\0project\0{name}"), at=_timestamp(created) or 0.0,
                           project=str(name))
            for name, created in self._read("SELECT name, created_at FROM projects ORDER BY id")
        ]

    def runs(self) -> list[LegacyRun]:
        rows = self._read(
            "SELECT e.id, p.name, e.config, e.structural_hash, e.tags, e.status, e.start_time, e.end_time "
            "FROM experiments e JOIN projects p ON p.id = e.project_id ORDER BY e.id"
        )
        return [self._run(row) for row in rows]

    def _run(self, row: tuple[Any, ...]) -> LegacyRun:
        old_id, project, config, shash, tags, status, start_time, end_time = row
        started_at = _timestamp(start_time) or 0.0
        uid = _digest(f"ato-2.1.7\0{project}\0{old_id}\0{start_time}\0{config}")
        started = RunStarted(
            event_id=_digest(f"{uid}\0started"), at=started_at, run=uid, project=str(project),
            config=encode_value(_json(config, {})), structural_hash=str(shash or ""),
            tags=tuple(str(tag) for tag in _json(tags, []) or []), origin=f"ato 2.1.7 {self.path}, run {old_id}",
        )
        return LegacyRun(old_id, uid, started, status, _timestamp(end_time) or started_at)

    def metrics(self, run: LegacyRun, skip: int) -> Iterator[MetricsPacked]:
        """The run's points after the first ``skip`` (already imported), in chunks."""
        cursor = self._db.execute(
            'SELECT "key", step, value, timestamp FROM metrics WHERE run_id = ? ORDER BY id LIMIT -1 OFFSET ?',
            (run.old_id, skip),
        )
        offset = skip
        while batch := cursor.fetchmany(CHUNK):
            yield MetricsPacked(
                event_id=_digest(f"{run.uid}\0metrics\0{offset}"), at=run.started.at, run=run.uid,
                series=pack_points(
                    [str(key) for key, _, _, _ in batch], [int(step) for _, step, _, _ in batch],
                    [float(value) for _, _, value, _ in batch], [_timestamp(at) or run.started.at for _, _, _, at in batch],
                ),
            )
            offset += len(batch)

    def records(self, run: LegacyRun) -> list[Event]:
        """The run's artifacts, fingerprints and ending."""
        events: list[Event] = []
        if self._has["artifacts"]:
            for row_id, file, data_type, info in self._read(
                "SELECT id, path, data_type, data_info FROM artifacts WHERE run_id = ? ORDER BY id", (run.old_id,)
            ):
                metadata = _json(info, {})
                events.append(ArtifactLogged(
                    event_id=_digest(f"{run.uid}\0artifact\0{row_id}"), at=run.started.at, run=run.uid,
                    path=str(file), data_type=None if data_type is None else str(data_type),
                    metadata={} if metadata is None else metadata if isinstance(metadata, dict) else {"data_info": metadata},
                ))
        if self._has["fingerprints"]:
            for row_id, trace_id, kind, fingerprint in self._read(
                "SELECT id, trace_id, trace_type, fingerprint FROM fingerprints WHERE run_id = ? ORDER BY id",
                (run.old_id,),
            ):
                if kind in (FingerprintKind.STATIC, FingerprintKind.RUNTIME):
                    events.append(FingerprintRecorded(
                        event_id=_digest(f"{run.uid}\0fingerprint\0{row_id}"), at=run.started.at, run=run.uid,
                        trace_id=str(trace_id), kind=FingerprintKind(kind), fingerprint=str(fingerprint),
                    ))
        ending = _digest(f"{run.uid}\0status\0{run.status}\0{run.ended_at}")  # a later status is a new event
        if run.status in (RunStatus.COMPLETED, RunStatus.FAILED):
            events.append(RunFinished(event_id=ending, at=run.ended_at, run=run.uid, status=RunStatus(run.status)))
        elif run.status and run.status != RunStatus.RUNNING:
            events.append(RunStatusChanged(event_id=ending, at=run.ended_at, run=run.uid, status=str(run.status)))
        return events

    def _read(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        try:
            return self._db.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise DatabaseError(self.path, f"cannot read the ato 2.1.7 database: {exc}") from None


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def _json(text: Any, default: Any) -> Any:
    if text is None:
        return default
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return default


def _timestamp(text: Any) -> float | None:
    """2.1.7 stored naive UTC datetimes as ISO text."""
    if not text:
        return None
    try:
        moment = datetime.datetime.fromisoformat(str(text))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return moment.timestamp()

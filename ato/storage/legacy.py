"""Reading an ato 2.1.7 database (SQLAlchemy tables ``projects``, ``experiments``, ``metrics``,
``artifacts``, ``fingerprints``) as the events that would have recorded it. ``ato import`` appends
them to an Ato log; the old file is only read (SQLite ``mode=ro``), never changed.

What carries over, per run (in the old id order, so an import into an empty log keeps the ids):
the project, the config (JSON, as 2.1.7 stored it), the recorded structural hash (2.1.7's own
hash, kept as it was), tags, start and end times, every metric point with its step, value and
timestamp, artifacts (path, type, metadata), fingerprints, and the status: ``completed`` and
``failed`` end the run; ``running`` leaves it running; any other status is kept as the run's
last status label. ``RunStarted.origin`` names the source file and old id.

Event ids are derived from the source run (project, id, start time, config) and the record's
position, so importing the same file twice adds nothing. Projects that never had a run are not
imported (the log knows projects through their runs).
"""

from __future__ import annotations

import datetime
import hashlib
import json
import sqlite3
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ato.errors import DatabaseError
from ato.events.types import (
    ArtifactLogged,
    Event,
    FingerprintKind,
    FingerprintRecorded,
    MetricsLogged,
    RunFinished,
    RunStarted,
    RunStatus,
    RunStatusChanged,
)
from ato.events.values import encode_value

__all__ = ["LEGACY_TABLES", "is_legacy", "read_legacy"]

LEGACY_TABLES = frozenset({"projects", "experiments", "metrics"})
_CHUNK = 10_000  # metric points per event, as the logger writes them


def is_legacy(tables: set[str]) -> bool:
    """Whether a file with these tables (and no event log) is an ato 2.1.7 database."""
    return LEGACY_TABLES <= tables and "events" not in tables


def read_legacy(path: Path) -> Iterator[list[Event]]:
    """The events of each run of the ato 2.1.7 database at ``path``, one list per run."""
    uri = f"file:{urllib.parse.quote(str(path))}?mode=ro"
    try:
        connection = sqlite3.connect(uri, uri=True)
    except sqlite3.Error as exc:
        raise DatabaseError(path, f"cannot open the ato 2.1.7 database: {exc}") from None
    try:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not is_legacy(tables):
            raise DatabaseError(path, "not an ato 2.1.7 database (no projects/experiments/metrics tables)")
        has = {table: table in tables for table in ("artifacts", "fingerprints")}
        runs = connection.execute(
            "SELECT e.id, p.name, e.config, e.structural_hash, e.tags, e.status, e.start_time, e.end_time "
            "FROM experiments e JOIN projects p ON p.id = e.project_id ORDER BY e.id"
        ).fetchall()
        for row in runs:
            yield list(_run_events(connection, path, row, has))
    except sqlite3.Error as exc:
        raise DatabaseError(path, f"cannot read the ato 2.1.7 database: {exc}") from None
    finally:
        connection.close()


def _run_events(connection: sqlite3.Connection, path: Path, row: tuple[Any, ...], has: dict[str, bool]) -> Iterator[Event]:
    old_id, project, config, shash, tags, status, start_time, end_time = row
    started_at = _timestamp(start_time) or 0.0
    identity = f"ato-2.1.7\0{project}\0{old_id}\0{start_time}\0{config}"
    uid = hashlib.sha256(identity.encode()).hexdigest()[:32]
    serial = iter(range(1 << 62))

    def event_id() -> str:
        return hashlib.sha256(f"{uid}\0{next(serial)}".encode()).hexdigest()[:32]

    yield RunStarted(
        event_id=event_id(), at=started_at, run=uid, project=str(project),
        config=encode_value(_json(config, {})), structural_hash=str(shash or ""),
        tags=tuple(str(tag) for tag in _json(tags, []) or []), origin=f"ato 2.1.7 {path}, run {old_id}",
    )
    points = connection.execute(
        'SELECT "key", step, value, timestamp FROM metrics WHERE run_id = ? ORDER BY id', (old_id,)
    )
    while batch := points.fetchmany(_CHUNK):
        yield MetricsLogged(
            event_id=event_id(), at=started_at, run=uid,
            keys=[str(key) for key, _, _, _ in batch], steps=[int(step) for _, step, _, _ in batch],
            values=[float(value) for _, _, value, _ in batch],
            times=[_timestamp(at) or started_at for _, _, _, at in batch],
        )
    if has["artifacts"]:
        for file, data_type, info in connection.execute(
            "SELECT path, data_type, data_info FROM artifacts WHERE run_id = ? ORDER BY id", (old_id,)
        ):
            metadata = _json(info, {})
            yield ArtifactLogged(
                event_id=event_id(), at=started_at, run=uid, path=str(file), data_type=data_type,
                metadata=metadata if isinstance(metadata, dict) else {"data_info": metadata},
            )
    if has["fingerprints"]:
        for trace_id, kind, fingerprint in connection.execute(
            "SELECT trace_id, trace_type, fingerprint FROM fingerprints WHERE run_id = ? ORDER BY id", (old_id,)
        ):
            if kind in (FingerprintKind.STATIC, FingerprintKind.RUNTIME):
                yield FingerprintRecorded(
                    event_id=event_id(), at=started_at, run=uid, trace_id=str(trace_id),
                    kind=FingerprintKind(kind), fingerprint=str(fingerprint),
                )
    ended_at = _timestamp(end_time) or started_at
    if status in (RunStatus.COMPLETED, RunStatus.FAILED):
        yield RunFinished(event_id=event_id(), at=ended_at, run=uid, status=RunStatus(status))
    elif status and status != RunStatus.RUNNING:
        yield RunStatusChanged(event_id=event_id(), at=ended_at, run=uid, status=str(status))


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

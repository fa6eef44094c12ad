"""The derived tables that queries read. Every row here can be dropped and re-derived from the log.

- ``projects``: one row per project name.
- ``experiments``: one row per run. ``id`` is this database's integer id for the run, assigned in
  log order (so a rebuild gives the same ids); ``uid`` is the run's global id from its events.
  ``rank``/``world_size``/``run_group``: its process within a job; ``last_seen``: the time of
  its latest start, heartbeat or metric event; ``ended``: 1 once it finished or ``finish(label)``
  ended its logging (such a run's process may go away: it did not die).
- ``metric_batches``: an *index* of the log's metric points, which stay stored once, in the log's
  ``metrics.packed`` events (:mod:`ato.events.metric_encoding`). One row per run, key and flush:
  where the points are (the event's ``seq`` and which of its series, ``part``), how many, their
  step range, the value at the highest step, and the lowest and highest value (infinities
  included, NaN never) with their step and time (what a downsample of a long curve is made of
  without decoding it).
- ``metric_summary``: per run and key, the count, the last value (at the highest step) and the
  smallest and largest *finite* values: what ``find_best_run`` ranks.
- ``artifacts``, ``fingerprints``: as logged.
- ``projection_position``: the last log sequence applied, written in the same transaction as
  the rows it accounts for, and the version of these tables (:data:`VERSION`).
"""

from __future__ import annotations

__all__ = ["DROP", "RETIRED_TABLES", "SCHEMA", "TABLES", "VERSION"]

VERSION = 3
"""Of the tables' layout. Tables of another version (1: the points copied into ``metric_chunks``;
2: runs without rank, group and liveness) are dropped and derived again when a writer opens the
file; readers read them as they are (a run of a version-2 file has no rank or group, and its
liveness is judged from its start)."""

RETIRED_TABLES = ("metric_chunks",)  # of earlier versions: dropped with the others

TABLES = (
    "projects",
    "experiments",
    "metric_batches",
    "metric_summary",
    "artifacts",
    "fingerprints",
    "projection_position",
)

_SCHEMA_SCRIPT = """
CREATE TABLE IF NOT EXISTS projection_position (
    name TEXT PRIMARY KEY,
    position INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS projects (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS experiments (
    id INTEGER PRIMARY KEY,
    uid TEXT NOT NULL UNIQUE,
    project_id INTEGER NOT NULL,
    status TEXT NOT NULL,
    tags TEXT NOT NULL,
    config BLOB NOT NULL,
    structural_hash TEXT NOT NULL,
    argv TEXT NOT NULL,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    started_at REAL NOT NULL,
    finished_at REAL,
    rank INTEGER,
    world_size INTEGER,
    run_group TEXT NOT NULL DEFAULT '',
    last_seen REAL NOT NULL,
    ended INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS experiments_by_project ON experiments (project_id);
CREATE INDEX IF NOT EXISTS experiments_by_structure ON experiments (structural_hash);
CREATE TABLE IF NOT EXISTS metric_batches (
    run_id INTEGER NOT NULL,
    key TEXT NOT NULL,
    seq INTEGER NOT NULL,
    part INTEGER NOT NULL,
    count INTEGER NOT NULL,
    first_step INTEGER NOT NULL,
    last_step INTEGER NOT NULL,
    last_value REAL,
    low_step INTEGER,
    low_value REAL,
    low_time REAL,
    high_step INTEGER,
    high_value REAL,
    high_time REAL,
    PRIMARY KEY (run_id, key, seq, part)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS metric_summary (
    run_id INTEGER NOT NULL,
    key TEXT NOT NULL,
    count INTEGER NOT NULL,
    last_step INTEGER NOT NULL,
    last_value REAL,
    min_value REAL,
    max_value REAL,
    PRIMARY KEY (run_id, key)
);
CREATE INDEX IF NOT EXISTS metric_summary_by_key ON metric_summary (key);
CREATE TABLE IF NOT EXISTS artifacts (
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL,
    path TEXT NOT NULL,
    data_type TEXT,
    metadata TEXT NOT NULL,
    size INTEGER,
    sha256 TEXT,
    logged_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS fingerprints (
    run_id INTEGER NOT NULL,
    trace_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    detail TEXT NOT NULL,
    PRIMARY KEY (run_id, trace_id, kind)
);
CREATE INDEX IF NOT EXISTS fingerprints_by_trace ON fingerprints (trace_id, kind);
"""

# Statement by statement: ``executescript`` would commit the transaction it runs in, and schema
# changes must be atomic with the catch-up that follows them.
SCHEMA = tuple(statement.strip() for statement in _SCHEMA_SCRIPT.split(";") if statement.strip())
DROP = tuple(f"DROP TABLE IF EXISTS {table}" for table in (*TABLES, *RETIRED_TABLES))

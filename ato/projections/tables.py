"""The derived tables that queries read. Every row here can be dropped and re-derived from the log.

- ``projects``: one row per project name.
- ``experiments``: one row per run. ``id`` is this database's integer id for the run, assigned in
  log order (so a rebuild gives the same ids); ``uid`` is the run's global id from its events.
- ``metric_chunks``: every point, stored per run, key and flush as packed little-endian arrays
  (``steps`` int64, ``metric_values`` float64 bit for bit, NaN included, ``times`` float64): one row per
  key per flush instead of one per point, which is what lets logging keep up with raw inserts.
  :func:`unpack_chunk` reads one back (as numpy arrays: the one decoder of the format).
- ``metric_summary``: per run and key, the count, the last value (at the highest step) and the
  smallest and largest *finite* values: what ``find_best_run`` ranks.
- ``artifacts``, ``fingerprints``: as logged.
- ``projection_position``: the last log sequence applied, written in the same transaction as
  the rows it accounts for.
"""

from __future__ import annotations

import sys
from array import array
from typing import Any

__all__ = ["DROP", "SCHEMA", "TABLES", "pack_chunk", "unpack_chunk"]


def pack_chunk(steps: list[int], values: list[float], times: list[float]) -> tuple[bytes, bytes, bytes]:
    """Pack one key's points of one flush as little-endian arrays."""
    packed = array("q", steps), array("d", values), array("d", times)
    if sys.byteorder != "little":
        for column in packed:
            column.byteswap()
    return packed[0].tobytes(), packed[1].tobytes(), packed[2].tobytes()


def unpack_chunk(steps: bytes, values: bytes, times: bytes) -> tuple[Any, Any, Any]:
    """The inverse of :func:`pack_chunk`, as numpy arrays of native int64 steps and float64
    values and times: read-only views on the bytes (copies only on a big-endian machine)."""
    import numpy as np  # here, not at the top: `import ato` loads no numpy

    return (
        np.frombuffer(steps, "<i8").astype(np.int64, copy=False),
        np.frombuffer(values, "<f8").astype(np.float64, copy=False),
        np.frombuffer(times, "<f8").astype(np.float64, copy=False),
    )


TABLES = (
    "projects",
    "experiments",
    "metric_chunks",
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
    finished_at REAL
);
CREATE INDEX IF NOT EXISTS experiments_by_project ON experiments (project_id);
CREATE INDEX IF NOT EXISTS experiments_by_structure ON experiments (structural_hash);
CREATE TABLE IF NOT EXISTS metric_chunks (
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL,
    key TEXT NOT NULL,
    count INTEGER NOT NULL,
    first_step INTEGER NOT NULL,
    last_step INTEGER NOT NULL,
    steps BLOB NOT NULL,
    metric_values BLOB NOT NULL,
    times BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS metric_chunks_by_run_key ON metric_chunks (run_id, key, id);
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
DROP = tuple(f"DROP TABLE IF EXISTS {table}" for table in TABLES)

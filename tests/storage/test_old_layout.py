"""Files written before metric points were stored once: ``metrics.logged`` events, and tables of
layout 1 (every point copied into ``metric_chunks``). They open, read and verify as they are; the
first writer derives the tables again in today's layout."""

from __future__ import annotations

import sqlite3
import struct
from pathlib import Path

import anyio
import pytest

from ato.events.types import MetricsLogged, RunFinished, RunStarted
from ato.projections.maintenance import open_store, verify_database
from ato.tracking.finder import SQLFinder
from ato.tracking.logger import SQLLogger

NAN = struct.unpack("<d", struct.pack("<Q", 0x7FF800000000BEEF))[0]

# The metric table of layout 1, as Ato wrote it (ato/projections/tables.py before VERSION 2).
_LAYOUT_1 = """
CREATE TABLE metric_chunks (
    id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL, key TEXT NOT NULL, count INTEGER NOT NULL,
    first_step INTEGER NOT NULL, last_step INTEGER NOT NULL,
    steps BLOB NOT NULL, metric_values BLOB NOT NULL, times BLOB NOT NULL
);
CREATE INDEX metric_chunks_by_run_key ON metric_chunks (run_id, key, id);
"""


def _old_file(path: Path) -> None:
    """A run whose points are ``metrics.logged`` events, with tables of layout 1."""

    async def write() -> None:
        store = await open_store(path)
        try:
            await store.append([
                RunStarted(run="r1", project="old", config=["dict", [["lr", 0.1]]], structural_hash="h"),
                MetricsLogged(run="r1", keys=["loss", "acc", "loss"], steps=[0, 0, 1], values=[2.0, 0.5, NAN],
                              times=[10.0, 10.5, 11.0]),
                MetricsLogged(run="r1", keys=["loss"], steps=[2], values=[-0.0], times=[12.0]),
                RunFinished(run="r1", status="completed"),
            ])
        finally:
            await store.close()

    anyio.run(write)
    connection = sqlite3.connect(path)
    with connection:
        connection.execute("DROP TABLE metric_batches")
        connection.executescript(_LAYOUT_1)
        connection.execute("DELETE FROM projection_position WHERE name = 'tables.version'")
    connection.close()


def _tables(path: Path) -> set[str]:
    connection = sqlite3.connect(path)
    try:
        return {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    finally:
        connection.close()


def _expect_points(finder: SQLFinder) -> None:
    loss = finder.get_metrics(1, "loss")
    assert loss.steps.tolist() == [0, 1, 2]
    assert loss.values.tobytes() == struct.pack("<3d", 2.0, NAN, -0.0)
    assert loss.timestamps.tolist() == [10.0, 11.0, 12.0]
    assert finder.get_metrics(1, "acc") == [(0, 0.5)]
    run = finder.find_run(1)
    assert [(p.key, p.step) for p in run.metrics] == [("loss", 0), ("acc", 0), ("loss", 1), ("loss", 2)]
    assert run.metric_summaries["loss"].count == 3


def test_a_reader_reads_an_old_file_as_it_is(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    _old_file(path)
    before = path.read_bytes()
    with SQLFinder(path) as finder:
        _expect_points(finder)  # through the run's events: the old tables have no index
    assert path.read_bytes() == before  # a reader never writes
    report = verify_database(path)
    assert report.ok and report.notes and "derived by an earlier Ato" in report.notes[0]


def test_the_first_writer_derives_the_tables_again_and_keeps_every_point(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    _old_file(path)
    config = {"experiment": {"project_name": "old", "sql": {"db_path": f"sqlite:///{path}"}}}
    with SQLLogger(config) as logger:
        logger.run()
        logger.log_metric("loss", 1.0, 0)
    assert "metric_chunks" not in _tables(path) and "metric_batches" in _tables(path)
    with SQLFinder(path) as finder:
        _expect_points(finder)
        assert finder.get_metrics(2, "loss") == [(0, 1.0)]
    report = verify_database(path)
    assert report.ok and not report.notes  # compared: equal to a fresh derivation


@pytest.mark.parametrize("command", ["rebuild", "verify"])
def test_the_commands_work_on_an_old_file(tmp_path: Path, command: str) -> None:
    from tests.conftest import ato

    path = tmp_path / "old.db"
    _old_file(path)
    result = ato(command, "--db", f"sqlite:///{path}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    if command == "verify":
        assert "note: the projections were derived by an earlier Ato" in result.stdout
    else:
        assert "metric_chunks" not in _tables(path)
        with SQLFinder(path) as finder:
            _expect_points(finder)

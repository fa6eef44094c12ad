"""Files whose tables are of layout 2 (runs without rank, group and liveness columns): readers read
them as they are (a run that never ended is judged from its start), the first writer derives them
again in today's layout."""

from __future__ import annotations

import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import anyio

from ato.events.types import RunFinished, RunHeartbeat, RunStarted
from ato.projections.maintenance import open_store
from ato.tracking.finder import SQLFinder
from ato.tracking.logger import SQLLogger


def _layout_2_file(path: Path, dead_pid: int) -> None:
    async def write() -> None:
        store = await open_store(path)
        try:
            await store.append([
                RunStarted(run="r1", project="old", config=["dict", []], structural_hash="h", host=socket.gethostname(),
                           pid=dead_pid, rank=1, world_size=2, group="g"),
                RunHeartbeat(run="r1"),
                RunStarted(run="r2", project="old", config=["dict", []], structural_hash="h", host=socket.gethostname(),
                           pid=dead_pid),
                RunFinished(run="r2", status="killed"),
            ])
        finally:
            await store.close()

    anyio.run(write)
    connection = sqlite3.connect(path)
    with connection:
        for column in ("rank", "world_size", "run_group", "last_seen", "ended"):
            connection.execute(f"ALTER TABLE experiments DROP COLUMN {column}")
        connection.execute("UPDATE projection_position SET position = 2 WHERE name = 'tables.version'")
    connection.close()


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_reader_reads_layout_2_as_it_is_and_a_writer_derives_it_again(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    _layout_2_file(path, _dead_pid())
    before = path.read_bytes()
    with SQLFinder(path) as finder:
        runs = finder.get_runs_in_project("old")
        # No rank or group in these tables; the dead process is still seen from the recorded pid.
        assert [(r.status, r.rank, r.group) for r in runs] == [("died", None, ""), ("killed", None, "")]
    assert path.read_bytes() == before  # a reader never writes
    with SQLLogger({"experiment": {"project_name": "old", "sql": {"db_path": f"sqlite:///{path}"}}}) as logger:
        logger.run()
    with SQLFinder(path) as finder:
        runs = finder.get_runs_in_project("old")
        assert [(r.status, r.rank, r.world_size, r.group) for r in runs] == [
            ("died", 1, 2, "g"), ("killed", None, None, ""), ("completed", None, None, "")]

"""The log's edges: what readers find in a file (a newer version's events, damage, another
application's database, special files), read-only files, and maintenance beside live writers
and under SIGKILL. Real files, real processes."""

from __future__ import annotations

import hashlib
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import msgspec
import pytest

from ato import ADict, SQLFinder, SQLLogger
from ato.errors import DatabaseError
from ato.projections.maintenance import verify_database
from tests.conftest import ato, run_script


def _config(db: Path) -> ADict:
    return ADict(experiment=ADict(project_name="proj", sql=ADict(db_path=f"sqlite:///{db}")), lr=0.1)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _two_runs(db: Path) -> None:
    for lr in (0.1, 0.2):
        config = _config(db)
        config.lr = lr
        with SQLLogger(config) as logger:
            logger.run()
            for step in range(5):
                logger.log_metric("loss", lr * step, step)


def _insert_raw(db: Path, type_: str, payload: bytes, run: str = "") -> int:
    connection = sqlite3.connect(db)
    with connection:
        seq = connection.execute("SELECT MAX(seq) + 1 FROM events").fetchone()[0]
        connection.execute(
            "INSERT INTO events (seq, event_id, run, type, at, payload) VALUES (?, ?, ?, ?, ?, ?)",
            (seq, f"{seq:032x}", run, type_, 1.0, payload),
        )
    connection.close()
    return int(seq)


# -- what readers find -----------------------------------------------------------------------------------
def test_an_event_from_a_newer_version_is_skipped_reported_and_merged_untouched(tmp_path: Path) -> None:
    db = tmp_path / "experiments.db"
    _two_runs(db)
    future = msgspec.msgpack.encode({"type": "run.annotated", "event_id": "f" * 32, "at": 1.0, "note": "hi"})
    seq = _insert_raw(db, "run.annotated", future)
    _two_runs(db)  # writers go on: catch-up passes over it
    with SQLFinder(_config(db)) as finder:
        assert len(finder.get_runs_in_project("proj")) == 4
    report = verify_database(db)
    assert report.problems == []
    assert report.skipped == [f"event {seq}: type 'run.annotated' is unknown to this Ato (a newer version's?); projections skip it"]
    shown = ato("verify", cwd=tmp_path)
    assert shown.returncode == 0 and f"skipped: event {seq}" in shown.stdout
    assert ato("rebuild", cwd=tmp_path).returncode == 0
    assert ato("replay", "3", cwd=tmp_path).returncode == 0
    other = tmp_path / "other.db"
    assert ato("merge", str(db), "--db", str(other), cwd=tmp_path).returncode == 0
    copied = sqlite3.connect(other).execute("SELECT payload FROM events WHERE type = 'run.annotated'").fetchall()
    assert copied == [(future,)]  # nothing recorded is lost by an older Ato


@pytest.mark.broken_database
def test_a_damaged_payload_is_reported_by_sequence_and_everything_else_works(tmp_path: Path) -> None:
    db = tmp_path / "experiments.db"
    _two_runs(db)
    seq = _insert_raw(db, "run.status", b"\xc1\xc1garbage")
    _two_runs(db)
    report = verify_database(db)
    assert len(report.problems) == 1 and report.problems[0].startswith(f"event {seq}: damaged payload (")
    result = ato("verify", cwd=tmp_path)
    assert result.returncode == 1 and f"event {seq}: damaged payload" in result.stdout
    assert ato("runs", cwd=tmp_path).returncode == 0
    assert ato("rebuild", cwd=tmp_path).returncode == 0
    assert ato("diff", "1", "4", cwd=tmp_path).returncode == 0


def test_a_file_from_a_newer_incompatible_version_is_refused_and_left_alone(tmp_path: Path) -> None:
    db = tmp_path / "experiments.db"
    _two_runs(db)
    connection = sqlite3.connect(db)
    connection.execute("PRAGMA user_version = 99")
    connection.close()
    before = _digest(db)
    message = "written by a newer Ato (log format 99; this one reads up to 1): upgrade ato"
    for args in (("runs",), ("verify",), ("replay", "1"), ("rebuild",)):
        result = ato(*args, cwd=tmp_path)
        assert result.returncode == 1 and message in result.stderr and len(result.stderr.splitlines()) == 1
    with pytest.raises(DatabaseError, match="newer Ato"):
        SQLLogger(_config(db)).run()
    assert _digest(db) == before
    connection = sqlite3.connect(db)
    connection.execute("PRAGMA user_version = 1")  # so that the after-test verify can read it
    connection.close()


@pytest.mark.broken_database  # leaves files that are not Ato databases on purpose
def test_another_applications_database_is_refused_by_readers_and_writers_and_left_alone(tmp_path: Path) -> None:
    db = tmp_path / "experiments.db"
    connection = sqlite3.connect(db)
    connection.execute("CREATE TABLE users (name TEXT)")
    connection.execute("INSERT INTO users VALUES ('ada')")
    connection.commit()
    connection.close()
    before = _digest(db)
    for args in (("runs",), ("verify",), ("replay", "1"), ("diff", "1", "2"), ("rebuild",)):
        result = ato(*args, cwd=tmp_path)
        assert result.returncode == 1 and "not an Ato database (it holds other tables: users)" in result.stderr
    with pytest.raises(DatabaseError, match="not an Ato database"):
        SQLLogger(_config(db)).run()
    assert _digest(db) == before and sorted(p.name for p in tmp_path.iterdir()) == ["experiments.db"]


@pytest.mark.broken_database  # leaves files that are not Ato databases on purpose
@pytest.mark.parametrize("kind", ["devnull", "fifo", "folder"])
def test_special_files_are_refused(tmp_path: Path, kind: str) -> None:
    if kind == "devnull":
        target = Path(os.devnull)
    elif kind == "fifo":
        target = tmp_path / "pipe.db"
        os.mkfifo(target)
    else:
        target = tmp_path / "folder.db"
        target.mkdir()
    for args in (("runs", "--db", str(target)), ("verify", "--db", str(target)), ("merge", str(target))):
        result = ato(*args, cwd=tmp_path)
        assert result.returncode == 1 and "not a regular file" in result.stderr, args
    with pytest.raises(DatabaseError, match="not a regular file"):
        SQLLogger(_config(target)).run()


# -- readers only read -------------------------------------------------------------------------------------
def test_readers_never_take_the_write_lock_or_change_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "experiments.db"
    _two_runs(db)
    connection = sqlite3.connect(db)
    connection.execute("PRAGMA journal_mode=DELETE")  # a reader must not switch it back to WAL
    connection.close()
    before = _digest(db)
    monkeypatch.setattr("ato.storage.database.BUSY_TIMEOUT_S", 0.2)
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # a writer holds the write lock meanwhile
    try:
        for args in (("runs",), ("replay", "1"), ("diff", "1", "2")):
            assert ato(*args, cwd=tmp_path).returncode == 0, args
        with SQLFinder(_config(db)) as finder:
            assert finder.find_best_run("proj", "loss", "max") is not None
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert ato("verify", cwd=tmp_path).returncode == 0
    assert _digest(db) == before and sorted(p.name for p in tmp_path.iterdir()) == ["experiments.db"]


def test_merge_never_writes_to_its_sources(tmp_path: Path) -> None:
    source = tmp_path / "source" / "experiments.db"
    source.parent.mkdir()
    _two_runs(source)
    before = _digest(source)
    assert ato("merge", str(source), cwd=tmp_path).returncode == 0
    assert _digest(source) == before
    # A read-only WAL reader may leave SQLite's (empty) coordination files; never content.
    wal = source.parent / "experiments.db-wal"
    assert not wal.exists() or wal.stat().st_size == 0


def test_readers_work_on_a_read_only_mount(tmp_path: Path) -> None:
    source, mount = tmp_path / "source", tmp_path / "mount"
    source.mkdir()
    mount.mkdir()
    _two_runs(source / "experiments.db")
    if subprocess.run(["mount", "--bind", str(source), str(mount)], capture_output=True).returncode:
        pytest.skip("bind mounts need privileges this machine does not grant")
    try:
        if subprocess.run(["mount", "-o", "remount,bind,ro", str(mount)], capture_output=True).returncode:
            pytest.skip("cannot remount read-only here")
        url = f"sqlite:///{mount / 'experiments.db'}"
        for args in (("runs", "--db", url), ("replay", "2", "--db", url), ("verify", "--db", url)):
            result = ato(*args, cwd=tmp_path)
            assert result.returncode == 0, (args, result.stderr)
        with SQLFinder(url) as finder:
            assert len(finder.get_runs_in_project("proj")) == 2
        refused = ato("rebuild", "--db", url, cwd=tmp_path)
        assert refused.returncode == 1 and "database is read-only" in refused.stderr
    finally:
        subprocess.run(["umount", str(mount)], check=True)


# -- maintenance beside writers, and under SIGKILL ------------------------------------------------------------
WRITER = """
import sys
from ato import SQLLogger
with SQLLogger({'experiment': {'project_name': 'p', 'sql': {'db_path': sys.argv[1]}}}, batch_size=500) as logger:
    logger.run()
    for step in range(int(sys.argv[2])):
        logger.log_metric('x', float(step), step)
"""


@pytest.mark.slow
def test_rebuild_and_verify_beside_a_live_writer_lose_nothing(tmp_path: Path) -> None:
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    db = tmp_path / "experiments.db"
    writer = subprocess.Popen([sys.executable, str(script), str(db), "200000"], stderr=subprocess.PIPE, text=True)
    try:
        while not db.exists():
            time.sleep(0.01)
        rounds = 0
        while writer.poll() is None or rounds < 3:
            assert ato("rebuild", "--db", str(db), cwd=tmp_path).returncode == 0
            verified = ato("verify", "--db", str(db), cwd=tmp_path)
            assert verified.returncode == 0, verified.stdout
            rounds += 1
    finally:
        _, stderr = writer.communicate(timeout=120)
    assert writer.returncode == 0, stderr
    with SQLFinder(f"sqlite:///{db}") as finder:
        assert [step for step, _ in finder.get_metrics(1, "x")] == list(range(200000))


@pytest.mark.slow
def test_sigkill_at_any_moment_of_a_rebuild_leaves_a_file_that_verifies(tmp_path: Path) -> None:
    db = tmp_path / "experiments.db"
    run_script(tmp_path, WRITER, str(db), "300000")
    rebuild = f"import sys\nfrom ato.cli import main\nwhile True:\n    main(['rebuild', '--db', {str(db)!r}])\n"
    generator = random.Random(7)
    for _ in range(3):
        process = subprocess.Popen([sys.executable, "-c", rebuild], stdout=subprocess.DEVNULL)
        time.sleep(0.3 + generator.random() * 0.8)  # start-up, then anywhere in a rebuild or between two
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        report = verify_database(db)
        assert report.problems == []
        with SQLFinder(f"sqlite:///{db}") as finder:
            assert finder.find_run(1).metric_summaries["x"].count == 300000


# -- one-line errors --------------------------------------------------------------------------------------------
@pytest.mark.broken_database  # leaves files that are not Ato databases on purpose
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("replay", "99999999999999999999999"), "no run '99999999999999999999999'"),
        (("replay", "²"), "no run '²'"),
        (("replay", "ünï%"), "no run 'ünï%'"),
        (("runs", "--db", "sqlite:///" + "a" * 5000), "File name too long"),
        (("verify", "--db", "garbage.db"), "not an Ato database, or damaged"),
        (("merge", "garbage.db"), "not an Ato database, or damaged"),
    ],
)
def test_hostile_command_lines_get_one_line(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    _two_runs(tmp_path / "experiments.db")
    (tmp_path / "garbage.db").write_bytes(os.urandom(4096))
    result = ato(*args, cwd=tmp_path)
    assert result.returncode == 1 and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr

"""Maintenance streams the log in bounded pages and reports its progress: ``verify``, ``rebuild``
and ``merge`` tell a callback how far they have got (counts that only grow and end at the total),
the ``ato`` command draws a bar from it on a terminal only, and verify still catches every kind
of damage, now that it compares projections row by row instead of with ``EXCEPT``."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from ato.adict import ADict
from ato.db_routers.sql.manager import SQLLogger
from ato.projections.maintenance import (
    Progress,
    merge_databases,
    rebuild_database,
    verify_database,
)
from tests.conftest import ato


def _log(config: ADict, runs: int = 2, points: int = 3000) -> None:
    for run in range(runs):
        with SQLLogger(config, batch_size=200) as logger:
            logger.run(tags=[f"r{run}"])
            for step in range(points // 2):
                logger.log_metric("loss", 1.0 / (step + 1) + run, step)
                logger.log_metric("acc", step / points, step)


def _events(path: Path) -> int:
    connection = sqlite3.connect(path)
    try:
        return int(connection.execute("SELECT MAX(seq) FROM events").fetchone()[0])
    finally:
        connection.close()


def _record() -> tuple[dict[str, list[tuple[int, int]]], Progress]:
    calls: dict[str, list[tuple[int, int]]] = defaultdict(list)

    def progress(stage: str, done: int, total: int) -> None:
        calls[stage].append((done, total))

    return calls, progress


def _assert_monotonic_to_the_end(calls: list[tuple[int, int]], total: int) -> None:
    done = [d for d, _ in calls]
    assert done == sorted(done) and all(0 <= d <= t for d, t in calls)
    assert calls[-1] == (total, total)


def test_verify_rebuild_and_merge_report_progress_that_grows_to_the_total(config: ADict, db: Path, tmp_path: Path) -> None:
    _log(config)
    events = _events(db)
    calls, progress = _record()
    assert verify_database(db, progress).ok
    assert list(calls) == ["checking the log", "comparing the projections"]
    _assert_monotonic_to_the_end(calls["checking the log"], events)
    _assert_monotonic_to_the_end(calls["comparing the projections"], 6)

    calls, progress = _record()
    assert rebuild_database(db, progress)[0] == events
    assert list(calls) == ["rebuilding the projections"]
    _assert_monotonic_to_the_end(calls["rebuilding the projections"], events)

    calls, progress = _record()
    target = tmp_path / "merged.db"
    assert merge_databases(target, [db], progress) == [(db, events)]
    assert list(calls) == [f"merging {db.name}"]
    _assert_monotonic_to_the_end(calls[f"merging {db.name}"], events)
    assert verify_database(target).ok


def test_the_log_is_read_in_pages_bounded_in_bytes(config: ADict, db: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """With a page of one byte, every event is a page of its own: the reads never hold more than
    the budget (or one event), whatever the number of rows a page may have."""
    _log(config, runs=1, points=2000)
    events = _events(db)
    assert events > 3
    monkeypatch.setattr("ato.storage.log.PAGE_BYTES", 1)
    monkeypatch.setattr("ato.storage.store.PAGE_BYTES", 1)
    calls, progress = _record()
    assert verify_database(db, progress).ok
    pages = calls["checking the log"]
    assert [done for done, _ in pages[:-1]] == list(range(1, events + 1))  # one call per event read
    calls, progress = _record()
    rebuild_database(db, progress)
    assert len(calls["rebuilding the projections"]) == events + 1
    merged = tmp_path / "merged.db"
    assert merge_databases(merged, [db]) == [(db, events)]
    assert verify_database(merged).ok


def test_no_progress_output_when_not_a_terminal(config: ADict, db: Path, tmp_path: Path) -> None:
    _log(config, runs=1, points=200)
    other = tmp_path / "other.db"
    for args in (["verify", "--db", str(db)], ["rebuild", "--db", str(db)], ["merge", str(db), "--db", str(other)]):
        # The installed command, with pipes for its output.
        shown = subprocess.run([str(Path(sys.executable).parent / "ato"), *args],
                               capture_output=True, text=True, cwd=tmp_path, timeout=120)
        assert shown.returncode == 0 and shown.stderr == "" and len(shown.stdout.splitlines()) == 1, shown
        # Even with no delay before the bar, a pipe gets none.
        forced = subprocess.run(
            [sys.executable, "-c", "import sys, ato.cli.maintenance as m; m.PROGRESS_AFTER_S = 0; "
             "from ato.cli import main; sys.exit(main(sys.argv[1:]))", *args],
            capture_output=True, text=True, cwd=tmp_path, timeout=120)
        assert forced.returncode == 0 and forced.stderr == "" and len(forced.stdout.splitlines()) == 1, forced


@pytest.mark.skipif(sys.platform == "win32", reason="a pseudo-terminal")
def test_a_terminal_gets_a_progress_bar_for_long_work(config: ADict, db: Path, tmp_path: Path) -> None:
    import pty

    _log(config, runs=1, points=200)
    code = ("import sys, ato.cli.maintenance as m; m.PROGRESS_AFTER_S = 0; "
            "from ato.cli import main; sys.exit(main(['verify', '--db', sys.argv[1]]))")
    pid, fd = pty.fork()
    if pid == 0:  # the child: its stdout and stderr are the terminal
        os.execv(sys.executable, [sys.executable, "-c", code, str(db)])
    output = b""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # the terminal closed: the child is done
            break
        if not chunk:
            break
        output += chunk
    _, status = os.waitpid(pid, 0)
    text = output.decode(errors="replace")
    assert os.waitstatus_to_exitcode(status) == 0, text
    assert "checking the log" in text and "comparing the projections" in text
    assert "ok (" in text  # the report comes after the bar, which clears itself


def test_a_second_is_the_threshold(config: ADict, db: Path) -> None:
    """Work shorter than a second draws nothing, even on a terminal."""
    from ato.cli.maintenance import PROGRESS_AFTER_S, _ProgressBar

    assert PROGRESS_AFTER_S == 1.0
    bar = _ProgressBar()
    bar("checking the log", 1, 10)
    assert bar.bar is None
    bar.close()


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ("UPDATE metric_batches SET high_value = high_value + 1 WHERE (run_id, key, seq, part) = "
         "(SELECT run_id, key, seq, part FROM metric_batches ORDER BY seq LIMIT 1)",
         ["projection metric_batches: 1 rows not in a fresh derivation", "projection metric_batches: 1 rows missing"]),
        ("DELETE FROM metric_batches WHERE (run_id, key, seq) = (SELECT run_id, key, MAX(seq) FROM metric_batches)",
         ["projection metric_batches: 1 rows missing"]),
        ("INSERT INTO metric_batches SELECT run_id, key, seq + 1000, part, count, first_step, last_step, last_value, "
         "low_step, low_value, low_time, high_step, high_value, high_time FROM metric_batches LIMIT 1",
         ["projection metric_batches: 1 rows not in a fresh derivation"]),
        ("UPDATE metric_summary SET max_value = 7 WHERE key = 'acc'",
         ["projection metric_summary: 2 rows not in a fresh derivation", "projection metric_summary: 2 rows missing"]),
        ("UPDATE metric_summary SET last_value = NULL WHERE key = 'loss' AND run_id = 1",
         ["projection metric_summary: 1 rows not in a fresh derivation", "projection metric_summary: 1 rows missing"]),
        ("UPDATE experiments SET finished_at = NULL WHERE id = 2",
         ["projection experiments: 1 rows not in a fresh derivation", "projection experiments: 1 rows missing"]),
    ],
)
def test_verify_catches_every_tampered_projection_row(config: ADict, db: Path, change: str, expected: list[str]) -> None:
    _log(config, points=600)
    connection = sqlite3.connect(db)
    connection.execute(change)
    connection.commit()
    connection.close()
    report = verify_database(db)
    assert report.problems == expected
    shown = ato("verify", "--db", str(db), cwd=db.parent)
    assert shown.returncode == 1 and all(line in shown.stdout for line in expected)
    assert ato("rebuild", "--db", str(db), cwd=db.parent).returncode == 0
    assert verify_database(db).ok


def test_a_log_reports_pages_only_inside_reporting_or_when_asked(db: Path, config: ADict) -> None:
    import asyncio

    from ato.storage.log import SQLiteEventLog

    _log(config, runs=1, points=200)

    async def check() -> tuple[list[int], list[int]]:
        log = await SQLiteEventLog.open_read_only(db)
        try:
            passed: list[int] = []
            inside: list[int] = []
            _ = [row async for row in log.read_rows(0, on_page=passed.append)]
            with log.reporting(inside.append):
                _ = [row async for row in log.read_rows(0)]
            _ = [row async for row in log.read_rows(0)]  # after the block: inside hears nothing more
            return passed, inside
        finally:
            await log.close()

    passed, inside = asyncio.run(check())
    assert passed[-1] == _events(db) and inside == passed

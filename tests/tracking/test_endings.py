"""Honest end states, with real processes and real signals: completed, failed (with the
exception), interrupted (Ctrl-C), killed (SIGTERM), and died (SIGKILL: judged by readers)."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from ato.adict import ADict
from ato.db_routers.sql.manager import SQLFinder, SQLLogger
from ato.events.codec import decode_event
from ato.events.types import RunFinished
from ato.projections import liveness
from tests.conftest import ato

SCRIPT = """
import os, signal, sys, time
from ato.adict import ADict
from ato.db_routers.sql.manager import SQLLogger

mode, how = sys.argv[1], sys.argv[2]
config = ADict(experiment=ADict(project_name='ends', sql=ADict(db_path=os.environ['DB_URL'])), lr=0.1)

stop = []
if 'flag' in how:
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.append(signum))   # stop after this step
elif 'exit_handler' in how:
    def handler(signum, frame):
        sys.exit(3)
    signal.signal(signal.SIGTERM, handler)

def work(logger):
    logger.run()
    for step in range(3):
        logger.log_metric('loss', 1 / (step + 1), step)
    logger.flush()
    if how == 'raise':
        raise ValueError('lr too high: 0.1')
    if how == 'end':
        return
    print('ready', flush=True)
    step = 3
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not stop:
        time.sleep(0.01)
    if stop:  # the flag handler: logging goes on after the signal, then the script ends
        logger.log_metric('loss', 0.01, step)

if mode == 'with':
    with SQLLogger(config) as logger:
        work(logger)
else:
    logger = SQLLogger(config)
    work(logger)
"""


def _start(tmp_path: Path, mode: str, how: str) -> subprocess.Popen[str]:
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(SCRIPT))
    url = f"sqlite:///{tmp_path / 'experiments.db'}"
    return subprocess.Popen([sys.executable, str(script), mode, how], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "DB_URL": url})


def _ready(process: subprocess.Popen[str]) -> None:
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line.strip() == "ready", process.stderr.read() if process.stderr else line


def _finished(db: Path) -> list[RunFinished]:
    connection = sqlite3.connect(db)
    try:
        rows = connection.execute("SELECT payload FROM events WHERE type = 'run.finished' ORDER BY seq").fetchall()
    finally:
        connection.close()
    found = [decode_event(row[0]) for row in rows]
    assert all(isinstance(event, RunFinished) for event in found)
    return found  # type: ignore[return-value]


def _run(db: Path) -> object:
    config = ADict(experiment=ADict(project_name="ends", sql=ADict(db_path=f"sqlite:///{db}")))
    with SQLFinder(config) as finder:
        (run,) = finder.get_runs_in_project("ends")
    return run


@pytest.mark.parametrize("mode", ["with", "bare"])
def test_an_exception_ends_the_run_failed_with_its_type_and_message(tmp_path: Path, mode: str) -> None:
    process = _start(tmp_path, mode, "raise")
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 1 and "ValueError: lr too high: 0.1" in stderr  # the traceback still prints
    (finished,) = _finished(tmp_path / "experiments.db")
    assert (finished.status, finished.error_type, finished.error_message) == ("failed", "ValueError", "lr too high: 0.1")
    run = _run(tmp_path / "experiments.db")
    assert run.status == "failed" and run.finished_at is not None and len(run.metrics) == 3  # type: ignore[attr-defined]


@pytest.mark.parametrize("mode", ["with", "bare"])
def test_a_script_that_just_ends_completes_its_run(tmp_path: Path, mode: str) -> None:
    process = _start(tmp_path, mode, "end")
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr
    (finished,) = _finished(tmp_path / "experiments.db")
    assert (finished.status, finished.error_type) == ("completed", "")


@pytest.mark.parametrize("mode", ["with", "bare"])
def test_ctrl_c_ends_the_run_interrupted(tmp_path: Path, mode: str) -> None:
    process = _start(tmp_path, mode, "wait")
    _ready(process)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode in (-signal.SIGINT, 130) and "KeyboardInterrupt" in stderr
    (finished,) = _finished(tmp_path / "experiments.db")
    assert finished.status == "interrupted"
    assert _run(tmp_path / "experiments.db").status == "interrupted"  # type: ignore[attr-defined]


@pytest.mark.parametrize("mode", ["with", "bare"])
def test_sigterm_ends_the_run_killed_and_the_process_as_sigterm_would(tmp_path: Path, mode: str) -> None:
    process = _start(tmp_path, mode, "wait")
    _ready(process)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == -signal.SIGTERM, stderr  # the default disposition's end, kept
    (finished,) = _finished(tmp_path / "experiments.db")
    assert finished.status == "killed"
    run = _run(tmp_path / "experiments.db")
    assert run.status == "killed" and len(run.metrics) == 3  # type: ignore[attr-defined]


def test_sigterm_chains_to_the_users_handler_that_exits(tmp_path: Path) -> None:
    process = _start(tmp_path, "with", "exit_handler")
    _ready(process)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 3, stderr  # the user's handler ran: sys.exit(3)
    assert [f.status for f in _finished(tmp_path / "experiments.db")] == ["killed"]


@pytest.mark.parametrize("mode", ["with", "bare"])
def test_sigterm_with_a_flag_handler_lets_logging_go_on_and_ends_killed(tmp_path: Path, mode: str) -> None:
    process = _start(tmp_path, mode, "flag")
    _ready(process)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr
    assert [f.status for f in _finished(tmp_path / "experiments.db")] == ["killed"]
    run = _run(tmp_path / "experiments.db")
    assert [point.step for point in run.metrics] == [0, 1, 2, 3]  # type: ignore[attr-defined]  # logged after SIGTERM


def test_sigkill_leaves_a_run_that_readers_show_as_died(tmp_path: Path) -> None:
    process = _start(tmp_path, "with", "wait")
    _ready(process)
    url = f"sqlite:///{tmp_path / 'experiments.db'}"
    listed = json.loads(ato("runs", "--json", "--db", url, cwd=tmp_path).stdout)
    assert [row["status"] for row in listed] == ["running"]  # its process is alive
    process.kill()
    process.communicate(timeout=120)
    assert _finished(tmp_path / "experiments.db") == []  # nothing could record the end
    listed = json.loads(ato("runs", "--json", "--db", url, cwd=tmp_path).stdout)
    assert [(row["status"], row["finished_at"]) for row in listed] == [("died", None)]
    table = ato("runs", "--status", "died", "--db", url, cwd=tmp_path)
    assert table.returncode == 0 and "died" in table.stdout
    # A reader judged; it wrote nothing: the log and the tables are as the dead process left them.
    connection = sqlite3.connect(tmp_path / "experiments.db")
    assert connection.execute("SELECT status FROM experiments").fetchall() == [("running",)]
    connection.close()


def test_the_sigterm_handler_is_there_only_while_a_run_is(config: ADict) -> None:
    before = signal.getsignal(signal.SIGTERM)
    with SQLLogger(config) as logger:
        logger.run()
        assert signal.getsignal(signal.SIGTERM) is not before
        logger.finish()
        assert signal.getsignal(signal.SIGTERM) is before
    ignored = signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        with SQLLogger(config) as logger:
            logger.run()
            assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN  # an ignored SIGTERM stays ignored
    finally:
        signal.signal(signal.SIGTERM, ignored)


def test_a_quiet_run_writes_heartbeats_and_none_before_the_interval(config: ADict, db: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("ato.tracking.logger.HEARTBEAT_S", 0.05)
    with SQLLogger(config, flush_interval=0.02) as logger:
        logger.run()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and _count(db, "run.heartbeat") < 2:
            time.sleep(0.02)
        assert _count(db, "run.heartbeat") >= 2
        seen = logger.get_current_run()
    connection = sqlite3.connect(db)
    started, last_seen = connection.execute("SELECT started_at, last_seen FROM experiments").fetchone()
    connection.close()
    assert seen is not None and last_seen > started  # the projection keeps the latest sign of life
    monkeypatch.setattr("ato.tracking.logger.HEARTBEAT_S", 3600.0)
    with SQLLogger(config, flush_interval=0.02) as logger:
        logger.run()
        before = _count(db, "run.heartbeat")
        time.sleep(0.2)
        assert _count(db, "run.heartbeat") == before


def _count(db: Path, kind: str) -> int:
    connection = sqlite3.connect(db)
    try:
        return int(connection.execute("SELECT COUNT(*) FROM events WHERE type = ?", (kind,)).fetchone()[0])
    finally:
        connection.close()


def test_liveness_judges_another_host_by_its_last_sign_of_life() -> None:
    now = 1_000_000.0
    assert not liveness.run_died("elsewhere", 123, now - 1000, now - 10, now=now)  # a heartbeat 10 s ago
    assert liveness.run_died("elsewhere", 123, now - 1000, now - liveness.DEAD_AFTER_S - 1, now=now)
    assert liveness.run_died("elsewhere", 123, now - 1000, None, now=now)  # an earlier layout: from its start
    assert not liveness.run_died("", 0, now - 1000, None, now=now)  # imported from ato 2.1.7: not judged


def test_liveness_on_this_host_checks_the_pid_and_its_start_time() -> None:
    import socket

    here = socket.gethostname()
    assert not liveness.run_died(here, os.getpid(), time.time(), None)
    if Path(f"/proc/{os.getpid()}/stat").exists():
        # This pid names a process started long after a run of a day ago: the pid was reused.
        assert liveness.run_died(here, os.getpid(), time.time() - 86_400 * 365, None)
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert liveness.run_died(here, child.pid, time.time() - 5, None)

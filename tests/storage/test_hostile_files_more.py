"""Found by a hostile pass: payloads that decode but could not be projected, a newer version's
event at the end of the log, hostile query arguments, and fork() beside a writer mid-transaction."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import msgspec
import pytest

from ato import ADict, SQLFinder, SQLLogger
from ato.errors import QueryError
from ato.projections.maintenance import verify_database
from tests.conftest import ato, run_script


def _config(db: Path) -> ADict:
    return ADict(experiment=ADict(project_name="proj", sql=ADict(db_path=f"sqlite:///{db}")))


def _one_run(db: Path) -> str:
    with SQLLogger(_config(db)) as logger:
        logger.run()
        logger.log_metric("loss", 0.5, 0)
    with SQLFinder(_config(db)) as finder:
        return finder.find_run(1).uid


def _insert_raw(db: Path, type_: str, payload: bytes, run: str = "", event_id: str | None = None) -> int:
    connection = sqlite3.connect(db)
    with connection:
        seq = connection.execute("SELECT MAX(seq) + 1 FROM events").fetchone()[0]
        connection.execute(
            "INSERT INTO events (seq, event_id, run, type, at, payload) VALUES (?, ?, ?, ?, ?, ?)",
            (seq, event_id or f"{seq:032x}", run, type_, 1.0, payload),
        )
    connection.close()
    return int(seq)


@pytest.mark.broken_database
@pytest.mark.parametrize("damage", ["invalid utf-8 in a string", "a step beyond int64"])
def test_payloads_that_decode_but_cannot_be_projected_are_skipped_and_reported(tmp_path: Path, damage: str) -> None:
    db = tmp_path / "experiments.db"
    uid = _one_run(db)
    if damage == "invalid utf-8 in a string":
        payload = msgspec.msgpack.encode({"type": "run.status", "event_id": "e" * 32, "at": 1.0, "run": uid,
                                          "status": "ok"}).replace(b"\xa2ok", b"\xa3\xed\xa0\x80")
        seq = _insert_raw(db, "run.status", payload, uid)
    else:
        payload = msgspec.msgpack.encode({"type": "metrics.logged", "event_id": "e" * 32, "at": 1.0, "run": uid,
                                          "keys": ["loss"], "steps": [2**64 - 1], "values": [1.0], "times": [1.0]})
        seq = _insert_raw(db, "metrics.logged", payload, uid)
    _one_run(db)  # a new run on the same file works
    result = ato("verify", cwd=tmp_path)
    assert result.returncode == 1 and f"event {seq}: damaged payload" in result.stdout
    for args in (("rebuild",), ("runs",), ("replay", "1"), ("diff", "1", "2")):
        outcome = ato(*args, cwd=tmp_path)
        assert outcome.returncode == 0 and "Traceback" not in outcome.stderr, args
    with SQLFinder(_config(db)) as finder:
        assert finder.get_metrics(1, "loss") == [(0, 0.5)]


def test_a_run_started_twice_keeps_the_first_start(tmp_path: Path) -> None:
    db = tmp_path / "experiments.db"
    _one_run(db)
    connection = sqlite3.connect(db)
    (payload,) = connection.execute("SELECT payload FROM events WHERE type = 'run.started'").fetchone()
    connection.close()
    again = msgspec.msgpack.decode(payload)
    again["event_id"] = "d" * 32
    _insert_raw(db, "run.started", msgspec.msgpack.encode(again), again["run"], again["event_id"])
    _one_run(db)
    assert ato("rebuild", cwd=tmp_path).returncode == 0
    assert verify_database(db).problems == []
    with SQLFinder(_config(db)) as finder:
        assert [run.id for run in finder.get_all_runs()] == [1, 2]


def test_a_newer_versions_event_at_the_end_is_only_skipped(tmp_path: Path) -> None:
    db = tmp_path / "experiments.db"
    _one_run(db)
    _insert_raw(db, "future.thing", msgspec.msgpack.encode({"type": "future.thing", "event_id": "f" * 32, "at": 1.0}))
    assert ato("rebuild", cwd=tmp_path).returncode == 0
    report = verify_database(db)
    assert report.problems == [] and len(report.skipped) == 1
    assert ato("verify", cwd=tmp_path).returncode == 0


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda finder: finder.find_run(None), "a run is named by its id (int) or a prefix of its uid (str), not NoneType"),
        (lambda finder: finder.get_run("9" * 5000), "no run '9999999999"),
        (lambda finder: finder.get_runs_in_project(10**30), "is beyond 64 bits"),
        (lambda finder: finder.get_runs_in_project("\ud800"), "is not valid text"),
        (lambda finder: finder.find_best_run("proj", "loss", mode="x"), "mode must be 'max' or 'min', not 'x'"),
    ],
)
def test_hostile_query_arguments_are_one_line_errors(tmp_path: Path, call: object, message: str) -> None:
    db = tmp_path / "experiments.db"
    _one_run(db)
    from ato.errors import AtoError

    with SQLFinder(_config(db)) as finder, pytest.raises(AtoError) as caught:
        call(finder)  # type: ignore[operator]
    assert message in str(caught.value) and "\n" not in str(caught.value)
    assert isinstance(caught.value, (QueryError, LookupError))


def test_hostile_command_lines_reach_the_database_as_one_line(tmp_path: Path) -> None:
    _one_run(tmp_path / "experiments.db")
    for args in (("replay", "9" * 5000), ("runs", "\udcff"), ("replay", "\udcff")):
        result = ato(*args, cwd=tmp_path)
        assert result.returncode == 1 and len(result.stderr.strip().splitlines()) == 1, args


def test_merging_a_special_file_creates_no_target(tmp_path: Path) -> None:
    result = ato("merge", "/dev/null", "--db", str(tmp_path / "new.db"), cwd=tmp_path)
    assert result.returncode == 1 and "not a regular file" in result.stderr
    assert not (tmp_path / "new.db").exists()


@pytest.mark.slow
def test_a_child_forked_while_the_parent_writes_can_log_at_once(tmp_path: Path) -> None:
    result = run_script(tmp_path, """
        import os, sys, threading, time
        from ato import SQLLogger
        cfg = {'experiment': {'project_name': 'p'}}
        parent = SQLLogger(cfg, batch_size=200, flush_interval=0.001)
        parent.run()
        stop = False
        def spam():
            step = 0
            while not stop:
                parent.log_metric('x', float(step), step)
                step += 1
        writer = threading.Thread(target=spam)
        writer.start()
        failed = 0
        for _ in range(10):
            time.sleep(0.03)
            pid = os.fork()
            if pid == 0:
                import ato.storage.database as database
                database.BUSY_TIMEOUT_S = 3.0  # a phantom lock would show as 'locked' here
                try:
                    with SQLLogger(cfg) as child:
                        child.run()
                        child.log_metric('y', 1.0, 0)
                except Exception as exc:
                    print('child:', exc, flush=True)
                    os._exit(1)
                os._exit(0)
            failed += os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) != 0
        stop = True
        writer.join()
        parent.finish()
        print('failed forks:', failed)
    """, timeout=120)
    assert result.stdout.strip().splitlines()[-1] == "failed forks: 0", result.stdout

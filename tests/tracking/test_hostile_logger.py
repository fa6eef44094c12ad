"""The logger under hostile input, races and faults: a bad value is refused at the call that made
it, nothing recorded is lost or moved to another run, and the database always verifies."""

from __future__ import annotations

import math
import threading
from pathlib import Path
from typing import Any

import anyio
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ato import ADict, AsyncSQLLogger, SQLFinder, SQLLogger
from ato.errors import AtoError, MetricValueError, TrackerError
from ato.projections.maintenance import verify_database
from tests.conftest import run_script


def _config(db: Path) -> ADict:
    return ADict(experiment=ADict(project_name="proj", sql=ADict(db_path=f"sqlite:///{db}")))


# -- steps, keys and values --------------------------------------------------------------------------
def test_integer_steps_of_any_kind_are_stored_exactly(db: Path) -> None:
    torch = pytest.importorskip("torch")
    with SQLLogger(_config(db)) as logger:
        run_id = logger.run()
        logger.log_metric("x", np.float32(0.5), np.int64(3))
        logger.log_metric("x", torch.tensor(1.5), torch.tensor(7))
        logger.log_metric("x", 2, np.uint8(9))
        logger.log_metric("x", 3.0, 2**63 - 1)
    with SQLFinder(_config(db)) as finder:
        assert finder.get_metrics(run_id, "x") == [(3, 0.5), (7, 1.5), (9, 2.0), (2**63 - 1, 3.0)]


@pytest.mark.parametrize(
    ("key", "value", "step", "message"),
    [
        ("loss", 1.0, 2.5, "metric 'loss': step must be an integer, got float 2.5 (value 1.0)"),
        ("loss", 1.0, 3.0, "step must be an integer, got float 3.0"),
        ("loss", 1.0, math.nan, "step must be an integer, got float nan"),
        ("loss", 1.0, "4", "step must be an integer, got str '4'"),
        ("loss", 1.0, True, "step must be an integer, got bool True"),
        ("loss", 1.0, 2**63, "step 9223372036854775808 is outside the int64 range"),
        ("loss", 1.0, -(2**63) - 1, "outside the int64 range"),
        ("lo\udcffss", 1.0, 0, "metric key 'lo\\udcffss' is not valid text (surrogates not allowed at index 2)"),
        ("", 1.0, 0, "metric key must be a non-empty str"),
        (3, 1.0, 0, "metric key must be a non-empty str, got int 3"),
        (["k"], 1.0, 0, "metric key must be a non-empty str, got list"),
        ("loss", "0.5", 0, "metric 'loss' at step 0: expected a number, got str '0.5'"),
        ("loss", 10**400, 0, "is not a single number"),
        ("loss", np.zeros(3), 0, "is not a single number"),
    ],
)
def test_bad_points_are_refused_with_key_step_and_value(db: Path, key: Any, value: Any, step: Any, message: str) -> None:
    with SQLLogger(_config(db)) as logger:
        run_id = logger.run()
        logger.log_metric("loss", 0.25, 0)
        with pytest.raises(MetricValueError) as caught:
            logger.log_metric(key, value, step)
        assert message in str(caught.value) and "\n" not in str(caught.value)
        logger.log_metric("loss", 0.5, 1)  # the logger keeps working; nothing was lost
    with SQLFinder(_config(db)) as finder:
        assert finder.get_metrics(run_id, "loss") == [(0, 0.25), (1, 0.5)]


def _packed_with_bad_values() -> Any:
    from ato.events.metric_encoding import pack_points
    from ato.events.types import MetricsPacked, PackedSeries

    good = pack_points(["acc"], [0], [0.5], [1.0])[0]
    return MetricsPacked(series=[PackedSeries(key="acc", count=1, steps=good.steps, values=b"\x04\0\0\0", times=good.times)])


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda logger: logger.update_status(None), "status must be a str, got NoneType"),
        (lambda logger: logger.update_status(""), "status must not be empty"),
        (lambda logger: logger.update_status("x\ud800"), "status 'x\\ud800' is not valid text"),
        (lambda logger: logger.finish(5), "finish(status=5): a status is a str such as 'completed' or 'failed'"),
        (lambda logger: logger.log_artifact(None, "m.pt", metadata={1: "a"}), "keys must be str, got int 1"),
        (lambda logger: logger.log_artifact(None, "m.pt", metadata={"a": object()}), "metadata.a: object"),
        (lambda logger: logger.log_artifact(None, 3), "artifact path must be a str or a path, got int 3"),
        (lambda logger: logger.log_artifact(None, "m.pt", data_type=7), "artifact data_type must be a str"),
        (lambda logger: logger.log_artifact("1", "m.pt"), "takes a run id (a positive int) or None, got '1'"),
        (lambda logger: logger.record(__import__("ato.events.types").events.types.RunStatusChanged(status=5)),
         "cannot record RunStatusChanged: Expected `str`, got `int` - at `$.status`"),
        (lambda logger: logger.record(_packed_with_bad_values()),
         "cannot record MetricsPacked: series 0 ('acc') does not decode: 3 bytes of 8-byte words for 1 points"),
    ],
)
def test_bad_arguments_are_refused_and_nothing_bad_is_stored(db: Path, call: Any, message: str) -> None:
    with SQLLogger(_config(db)) as logger:
        logger.run()
        logger.log_metric("loss", 1.0, 0)
        with pytest.raises(TrackerError) as caught:
            call(logger)
        assert message in str(caught.value)
        logger.update_status("still fine")
    assert verify_database(db).problems == []


def test_numpy_metadata_is_stored_as_plain_numbers_and_none_tags_mean_none(db: Path) -> None:
    with SQLLogger(_config(db)) as logger:
        run_id = logger.run(tags=None)  # type: ignore[arg-type]
        logger.log_artifact(None, "model.pt", metadata={"epoch": np.int64(3), "acc": np.float32(0.5), "ok": True})
    with SQLFinder(_config(db)) as finder:
        assert finder.find_run(run_id).tags == []
    import sqlite3

    (metadata,) = sqlite3.connect(db).execute("SELECT metadata FROM artifacts").fetchone()
    assert metadata == '{"epoch": 3, "acc": 0.5, "ok": true}'


# -- fuzz: whatever the arguments, the log stays readable ----------------------------------------------
_hostile = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(st.characters(codec=None), max_size=8),
    st.binary(max_size=4), st.lists(st.integers(), max_size=2), st.dictionaries(st.integers(), st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers() | st.floats(), max_size=2),
    st.builds(np.int64, st.integers(-(2**63), 2**63 - 1)), st.builds(np.float32, st.floats(width=32)),
)
_calls = st.lists(
    st.one_of(
        st.tuples(st.just("log_metric"), st.tuples(_hostile, _hostile, _hostile)),
        st.tuples(st.just("log_metric"), st.tuples(st.sampled_from(["a", "b"]), _hostile, _hostile)),
        st.tuples(st.just("update_status"), st.tuples(_hostile)),
        st.tuples(st.just("log_artifact"), st.tuples(st.none(), _hostile, _hostile, _hostile)),
        st.tuples(st.just("finish"), st.tuples(_hostile)),
        st.tuples(st.just("run"), st.tuples(_hostile)),
    ),
    max_size=12,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(calls=_calls)
def test_no_arguments_can_make_the_log_unreadable(tmp_path_factory: pytest.TempPathFactory, calls: list) -> None:  # type: ignore[type-arg]
    db = tmp_path_factory.mktemp("fuzz") / "experiments.db"
    logger = SQLLogger(_config(db), batch_size=3)
    logger.run()
    for name, args in calls:
        try:
            getattr(logger, name)(*args)
        except AtoError as exc:
            assert "\n" not in str(exc).strip()  # one line that says what was wrong
    logger.flush()
    if logger.run_id is not None and logger.state.value in ("running", "finishing"):
        logger.finish()
    logger.close()
    report = verify_database(db)
    assert report.problems == [] and report.events > 0


# -- races ---------------------------------------------------------------------------------------------
def test_points_logged_while_finish_runs_stay_in_their_run_or_are_refused(db: Path) -> None:
    logger = SQLLogger(_config(db), batch_size=100)
    first = logger.run()
    accepted: list[int] = []
    started = threading.Event()

    def log_until_refused() -> None:
        step = 0
        while True:
            try:
                logger.log_metric("x", float(step), step)
            except TrackerError:
                return
            accepted.append(step)
            step += 1
            if step == 1000:
                started.set()

    worker = threading.Thread(target=log_until_refused)
    worker.start()
    started.wait(10)
    logger.finish()
    worker.join(10)
    second = logger.run()
    logger.log_metric("x", -1.0, 0)
    logger.finish()
    logger.close()
    with SQLFinder(_config(db)) as finder:
        assert [step for step, _ in finder.get_metrics(first, "x")] == accepted
        assert finder.get_metrics(second, "x") == [(0, -1.0)]


def test_status_artifacts_and_finish_racing_with_flushes_do_not_collide(db: Path, tmp_path: Path) -> None:
    artifact = tmp_path / "weights.bin"
    artifact.write_bytes(b"w" * 1000)
    logger = SQLLogger(_config(db), batch_size=20, flush_interval=0.001)
    run_id = logger.run()
    errors: list[BaseException] = []

    def log() -> None:
        try:
            for step in range(20_000):
                logger.log_metric("x", float(step), step)
        except BaseException as exc:  # noqa: BLE001  (any failure is the test's finding)
            errors.append(exc)

    worker = threading.Thread(target=log)
    worker.start()
    for i in range(30):
        logger.update_status(f"phase {i}")
        logger.log_artifact(None, artifact)
    worker.join(60)
    logger.finish()
    logger.close()
    assert errors == []
    with SQLFinder(_config(db)) as finder:
        assert [step for step, _ in finder.get_metrics(run_id, "x")] == list(range(20_000))
        assert finder.find_run(run_id).status == "completed"


# -- processes and cancellation ---------------------------------------------------------------------------
def test_a_forked_child_gets_a_clear_error_and_exits_normally(tmp_path: Path) -> None:
    result = run_script(tmp_path, """
        import os, sys, time
        from ato import SQLLogger
        from ato.errors import TrackerError
        logger = SQLLogger({'experiment': {'project_name': 'p'}})
        logger.run()
        logger.log_metric('loss', 1.0, 0)
        pid = os.fork()
        if pid == 0:
            for call in (lambda: logger.log_metric('loss', 2.0, 1), logger.flush, logger.finish):
                try:
                    call()
                except TrackerError as exc:
                    print('child:', exc, flush=True)
            sys.exit(0)  # a normal exit: atexit hooks run and must not hang
        deadline = time.monotonic() + 30
        while not os.waitpid(pid, os.WNOHANG)[0]:
            if time.monotonic() > deadline:
                os.kill(pid, 9)
                sys.exit('the child hung')
            time.sleep(0.02)
        logger.log_metric('loss', 3.0, 2)
        logger.finish()
    """, timeout=60)
    lines = result.stdout.splitlines()
    assert lines == ["child: cannot log_metric('loss'): loggers do not cross fork(); create one in the child"] + [
        "child: cannot use this logger: loggers do not cross fork(); create one in the child"
    ] * 2
    with SQLFinder(f"sqlite:///{tmp_path / 'experiments.db'}") as finder:
        assert finder.get_metrics(1, "loss") == [(0, 1.0), (2, 3.0)]


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_a_cancelled_async_run_is_recorded_interrupted(db: Path, backend: str) -> None:
    async def main() -> int | None:
        logger = AsyncSQLLogger(_config(db))
        with anyio.move_on_after(0.3):
            async with logger:
                await logger.run()
                await logger.log_metric("loss", 0.5, 0)
                await anyio.sleep(30)
        return logger.run_id

    run_id = anyio.run(main, backend=backend)
    with SQLFinder(_config(db)) as finder:
        run = finder.find_run(run_id)
        # Cancelled, like Ctrl-C: interrupted, not an error of the run's own.
        assert run.status == "interrupted" and finder.get_metrics(run.id, "loss") == [(0, 0.5)]


def test_finish_can_be_retried_after_a_failed_write(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A finish that could not write keeps the points and the run; a retry ends it."""
    import sqlite3

    monkeypatch.setattr("ato.storage.database.BUSY_TIMEOUT_S", 0.2)
    logger = SQLLogger(_config(db))
    run_id = logger.run()
    logger.log_metric("x", 1.0, 0)
    logger.flush()
    holder = sqlite3.connect(db, timeout=0)
    holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    try:
        logger.log_metric("x", 2.0, 1)
        with pytest.raises(AtoError, match="locked"):
            logger.finish()
        with pytest.raises(TrackerError, match="finish\\(\\) is ending run"):
            logger.log_metric("x", 3.0, 2)
    finally:
        holder.rollback()
        holder.close()
    logger.finish()
    logger.close()
    with SQLFinder(_config(db)) as finder:
        assert finder.find_run(run_id).status == "completed"
        assert finder.get_metrics(run_id, "x") == [(0, 1.0), (1, 2.0)]


# -- found by a hostile pass ----------------------------------------------------------------------------------
def test_a_ctrl_c_during_finish_still_ends_the_run_and_the_process(tmp_path: Path) -> None:
    result = run_script(tmp_path, """
        import os, signal, threading, time
        from ato import SQLLogger
        logger = SQLLogger({'experiment': {'project_name': 'p'}})
        logger.run()
        for step in range(300_000):
            logger.log_metric('x', 1.0, step)
        threading.Timer(0.05, os.kill, (os.getpid(), signal.SIGINT)).start()
        try:
            logger.finish()
            time.sleep(30)  # a finish faster than the timer: the interrupt lands here instead
        except KeyboardInterrupt:
            print('interrupted', flush=True)
    """, timeout=60, check=False)
    # The exit did not hang behind the interrupted finish, and the interrupt did arrive.
    assert result.returncode == 0 and result.stdout.strip() == "interrupted", result.stderr
    with SQLFinder(f"sqlite:///{tmp_path / 'experiments.db'}") as finder:
        run = finder.find_run(1)
        assert run.status == "completed" and run.metric_summaries["x"].count == 300_000


def test_a_str_subclass_cannot_smuggle_invalid_text_into_the_log(db: Path) -> None:
    class Sneaky(str):
        def encode(self, *args: object, **kwargs: object) -> bytes:  # type: ignore[override]
            return b"fine"

    with SQLLogger(_config(db)) as logger:
        logger.run()
        with pytest.raises(MetricValueError, match="is not valid text"):
            logger.log_metric(Sneaky("s\ud800"), 1.0, 1)
        logger.log_metric(Sneaky("plain"), 1.0, 1)  # a well-formed subclass is stored as plain text
        logger.flush()
    with SQLFinder(_config(db)) as finder:
        assert finder.get_metrics(1, "plain") == [(1, 1.0)]


def test_a_retried_finish_keeps_the_runtime_fingerprints(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sqlite3

    from ato import Scope

    monkeypatch.setattr("ato.storage.database.BUSY_TIMEOUT_S", 0.2)
    scope = Scope()

    @scope.runtime_trace("double")
    def double(x: int) -> int:
        return 2 * x

    logger = SQLLogger(_config(db))
    logger.run()
    double(3)
    holder = sqlite3.connect(db, timeout=0)
    holder.execute("BEGIN IMMEDIATE")
    with pytest.raises(AtoError, match="locked"):
        logger.finish()
    holder.rollback()
    holder.close()
    logger.finish()
    logger.close()
    with SQLFinder(_config(db)) as finder:
        kinds = {(f.trace_id, f.kind) for f in finder.get_fingerprints(1)}
    assert ("double", "runtime") in kinds


def test_artifacts_of_the_current_run_land_before_its_end_or_are_refused(db: Path, tmp_path: Path) -> None:
    artifact = tmp_path / "weights.bin"
    artifact.write_bytes(b"w" * 100)
    logger = SQLLogger(_config(db))
    run_id = logger.run()
    outcomes: list[str] = []

    def log_artifacts() -> None:
        for _ in range(200):
            try:
                logger.log_artifact(None, artifact)
                outcomes.append("logged")
            except TrackerError:
                outcomes.append("refused")

    worker = threading.Thread(target=log_artifacts)
    worker.start()
    logger.finish()
    worker.join(30)
    with pytest.raises(TrackerError, match="no run is in progress"):
        logger.log_artifact(None, artifact)
    logger.log_artifact(run_id, artifact)  # naming a finished run adds to it on purpose
    logger.close()
    import sqlite3

    types = [row[0] for row in sqlite3.connect(db).execute("SELECT type FROM events ORDER BY seq")]
    finished = types.index("run.finished")
    assert types[finished + 1:] == ["artifact.logged"]  # only the deliberate one comes after the end
    assert types.count("artifact.logged") == outcomes.count("logged") + 1


def test_an_artifact_for_an_impossible_run_id_is_one_line(db: Path) -> None:
    with SQLLogger(_config(db)) as logger:
        logger.run()
        with pytest.raises(TrackerError, match="takes a run id"):
            logger.log_artifact(10**30, "model.pt")

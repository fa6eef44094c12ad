"""The tracker end to end on real SQLite files: loggers, finder, projections, crashes, concurrency."""

from __future__ import annotations

import math
import os
import signal
import sqlite3
import subprocess
import sys
import time
import warnings
from pathlib import Path

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ato.config.adict import ADict
from ato.config.merge_trace import MergeTrace, replay
from ato.db_routers.sql.manager import (
    AsyncSQLFinder,
    AsyncSQLLogger,
    SQLFinder,
    SQLLogger,
)
from ato.errors import DatabaseError, MetricValueError, TrackerError, UnknownMetricError
from ato.events.codec import decode_event
from ato.events.metric_encoding import key_points
from ato.events.types import MergeCompleted, MergeStepApplied, MetricsPacked
from ato.projections.maintenance import open_store
from ato.tracking.logger import LoggerState
from tests.conftest import run_script

SEED_TRACKER = """
from ato.db_routers.sql.manager import SQLLogger
from ato.adict import ADict

# Setup config
config = ADict(
    experiment=ADict(
        project_name='image_classification',
        sql=ADict(db_path='sqlite:///experiments.db')
    ),
    # Your hyperparameters
    lr=0.001,
    batch_size=32,
    model='resnet50'
)

def train_one_epoch():
    return 1.0 / (epoch + 1)

def validate():
    return epoch / 100

best_epoch = 99

# Create logger
logger = SQLLogger(config)

# Start experiment run
run_id = logger.run(tags=['baseline', 'resnet50', 'cifar10'])

# Training loop
for epoch in range(100):
    # Your training code
    train_loss = train_one_epoch()
    val_acc = validate()

    # Log metrics
    logger.log_metric('train_loss', train_loss, step=epoch)
    logger.log_metric('val_accuracy', val_acc, step=epoch)

# Log artifacts
logger.log_artifact(run_id, 'checkpoints/model_best.pt',
                   data_type='model',
                   metadata={'epoch': best_epoch})

# Finish run
logger.finish(status='completed')

from ato.db_routers.sql.manager import SQLFinder

finder = SQLFinder(config)

# Get all runs in project
runs = finder.get_runs_in_project('image_classification')
for run in runs:
    print(f"Run {run.id}: {run.config.model} - {run.status}")

# Find best performing run
best_run = finder.find_best_run(
    project_name='image_classification',
    metric_key='val_accuracy',
    mode='max'  # or 'min' for loss
)
print(f"Best config: {best_run.config}")

# Find similar experiments (same config structure)
similar = finder.find_similar_runs(run_id=1)
print(f"Found {len(similar)} runs with similar config structure")

# Trace statistics (code fingerprints)
stats = finder.get_trace_statistics('image_classification', trace_id='model_forward')
print(f"Model forward pass has {stats['static_trace_versions']} versions")
"""


def test_seed_sql_tracker_example_runs_unchanged(tmp_path: Path) -> None:
    first = run_script(tmp_path, SEED_TRACKER).stdout.splitlines()
    assert first[0] == "Run 1: resnet50 - completed"
    assert first[1].startswith("Best config: {'experiment'")
    assert first[2] == "Found 0 runs with similar config structure"
    assert first[3] == "Model forward pass has 0 versions"
    second = run_script(tmp_path, SEED_TRACKER).stdout.splitlines()
    assert second[:2] == ["Run 1: resnet50 - completed", "Run 2: resnet50 - completed"]
    assert "Found 1 runs with similar config structure" in second
    finder = SQLFinder(f"sqlite:///{tmp_path / 'experiments.db'}")
    run = finder.find_run(2)
    assert run.tags == ["baseline", "resnet50", "cifar10"]
    assert run.metric_summaries["val_accuracy"].count == 100 and run.metric_summaries["val_accuracy"].max == 0.99
    assert finder.get_metrics(2, "train_loss")[:2] == [(0, 1.0), (1, 0.5)]
    finder.close()


COMBINED = """
import sys
from ato.scope import Scope
from ato.db_routers.sql.manager import SQLLogger

scope = Scope()

@scope.observe(default=True)
def defaults(config):
    config.data = {'dataset': 'cifar10'}
    config.model = {'backbone': 'resnet50'}
    config.train = {'lr': 0.001, 'epochs': 3}
    config.experiment = {'project_name': 'my_project', 'sql': {'db_path': 'sqlite:///experiments.db'}}

@scope.observe()
def fast(config):
    config.train.lr = 0.01

def train_epoch():
    return 0.5

def validate():
    return 0.9

@scope
def train(config):
    # Setup experiment tracking
    logger = SQLLogger(config)
    run_id = logger.run(tags=[config.model.backbone, config.data.dataset])

    try:
        # Training loop
        for epoch in range(config.train.epochs):
            loss = train_epoch()
            acc = validate()

            logger.log_metric('loss', loss, epoch)
            logger.log_metric('accuracy', acc, epoch)
            if config.get('explode'):
                raise RuntimeError('boom')

        logger.finish(status='completed')

    except Exception as e:
        logger.finish(status='failed')
        raise e

if __name__ == '__main__':
    train()
"""


def _merge_trace(db: Path, run_id: int) -> MergeTrace:
    connection = sqlite3.connect(db)
    uid = connection.execute("SELECT uid FROM experiments WHERE id = ?", (run_id,)).fetchone()[0]
    payloads = connection.execute("SELECT payload FROM events WHERE run = ? ORDER BY seq", (uid,)).fetchall()
    connection.close()
    return MergeTrace.from_events(
        event for event in (decode_event(p) for (p,) in payloads) if type(event).__name__.startswith("Merge")
    )


def test_combined_workflow_records_the_merge_trace_with_the_run(tmp_path: Path) -> None:
    run_script(tmp_path, COMBINED, "fast", "train.epochs=2")
    db = tmp_path / "experiments.db"
    trace = _merge_trace(db, 1)
    assert [(s.step, s.kind) for s in trace.steps] == [
        ("defaults", "default"),
        ("fast", "named"),
        ("train.epochs=2", "cli"),
    ]
    result = replay(trace)
    assert result.exact and result.config.train == {"lr": 0.01, "epochs": 2}
    finder = SQLFinder(f"sqlite:///{db}")
    run = finder.find_run(1)
    assert run.status == "completed" and run.tags == ["resnet50", "cifar10"]
    assert run.config == result.config
    failed = run_script(tmp_path, COMBINED, "+explode=True", check=False)
    assert failed.returncode != 0
    # '+explode' is not a key: it is refused before anything runs, and nothing is recorded
    assert "expected a view name or key=value" in failed.stderr or "not a config key" in failed.stderr
    failed = run_script(tmp_path, COMBINED, "explode=True", check=False)
    assert "RuntimeError: boom" in failed.stderr
    assert finder.find_run(2).status == "failed"
    assert finder.find_run(2).metric_summaries["loss"].count == 1
    finder.close()


def test_changes_after_the_merge_are_one_more_step(tmp_path: Path) -> None:
    script = COMBINED.replace(
        "    logger = SQLLogger(config)", "    config.train.epochs = 1\n    logger = SQLLogger(config)"
    )
    run_script(tmp_path, script)
    trace = _merge_trace(tmp_path / "experiments.db", 1)
    assert trace.steps[-1].kind == "after_merge"
    assert [(c.path, c.old, c.new) for c in trace.steps[-1].changes] == [(("train", "epochs"), 3, 1)]
    assert replay(trace).exact


def test_non_finite_values_are_recorded_faithfully_and_never_win(config: ADict, db: Path) -> None:
    with SQLLogger(config) as logger:
        first = logger.run()
        for step, value in enumerate([0.5, math.nan, math.inf, -math.inf, 0.7]):
            logger.log_metric("acc", value, step)
    with SQLLogger(config) as logger:
        second = logger.run()
        logger.log_metric("acc", 0.6, 0)
        logger.log_metric("acc", math.inf, 1)
    with SQLFinder(config) as finder:
        values = [v for _, v in finder.get_metrics(first, "acc")]
        assert values[0] == 0.5 and math.isnan(values[1]) and values[2:4] == [math.inf, -math.inf]
        assert finder.find_best_run("proj", "acc", "max").id == first  # 0.7 beats 0.6; inf never counts
        assert finder.find_best_run("proj", "acc", "min").id == first  # 0.5
        assert finder.find_run(first).metric_summaries["acc"].last == 0.7
        assert finder.find_run(second).metric_summaries["acc"].max == 0.6
        with pytest.raises(UnknownMetricError, match="no metric 'acx' in project 'proj'; did you mean 'acc'"):
            finder.find_best_run("proj", "acx", "max")
        with pytest.raises(ValueError, match="mode must be 'max' or 'min'"):
            finder.find_best_run("proj", "acc", "best")


def test_nan_payload_bits_survive_in_the_log(config: ADict, db: Path) -> None:
    import struct

    odd_nan = struct.unpack("<d", struct.pack("<Q", 0x7FF800000000BEEF))[0]
    with SQLLogger(config) as logger:
        logger.run()
        logger.log_metric("loss", odd_nan, 0)
    connection = sqlite3.connect(db)
    payloads = [decode_event(p) for (p,) in connection.execute("SELECT payload FROM events WHERE type = 'metrics.packed'")]
    connection.close()
    assert isinstance(payloads[0], MetricsPacked)
    (stored,) = key_points(payloads[0])
    assert struct.pack("<d", float(stored.values[0])) == struct.pack("<d", odd_nan)
    with SQLFinder(config) as finder:  # and read back through the finder, bit for bit
        assert finder.get_metrics(1, "loss").values.tobytes() == struct.pack("<d", odd_nan)


@pytest.mark.parametrize("value", ["0.5", b"1", None, object(), [1.0, 2.0]])
def test_non_numeric_metric_values_are_refused_and_nothing_is_lost(config: ADict, value: object) -> None:
    with SQLLogger(config) as logger:
        run_id = logger.run()
        logger.log_metric("loss", 1.0, 0)
        with pytest.raises(MetricValueError, match=r"metric 'loss' at step 1: expected a number|not a single number"):
            logger.log_metric("loss", value, 1)
        logger.log_metric("loss", 2.0, 2)
    with SQLFinder(config) as finder:
        assert finder.get_metrics(run_id, "loss") == [(0, 1.0), (2, 2.0)]


def test_numpy_and_int_values_are_numbers(config: ADict) -> None:
    np = pytest.importorskip("numpy")
    with SQLLogger(config) as logger:
        run_id = logger.run()
        logger.log_metric("a", np.float32(0.5))
        logger.log_metric("a", 3)
        logger.log_metric("a", np.array(1.5))
    with SQLFinder(config) as finder:
        assert finder.get_metrics(run_id, "a") == [(0, 0.5), (1, 3.0), (2, 1.5)]


def test_lifecycle_errors_say_what_to_do(config: ADict) -> None:
    logger = SQLLogger(config)
    with pytest.raises(TrackerError, match=r"call logger.run\(\) first"):
        logger.log_metric("loss", 1.0)
    logger.run()
    with pytest.raises(TrackerError, match="still running"):
        logger.run()
    logger.finish()
    assert logger.state is LoggerState.IDLE
    with pytest.raises(TrackerError, match=r"no run is in progress"):
        logger.finish()
    logger.close()
    assert logger.state is LoggerState.CLOSED


def test_unclosed_logger_warns_with_the_fix(config: ADict) -> None:
    import gc

    logger = SQLLogger(config)
    logger.run()
    with pytest.warns(ResourceWarning, match="still running; use `with SQLLogger\\(config\\) as logger:`"):
        del logger
        gc.collect()
    finished = SQLLogger(config)
    finished.run()
    finished.finish()  # the seed's pattern: finish() without close() is not a leak worth a warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        del finished
        gc.collect()


def test_context_manager_marks_failed_on_exception(config: ADict) -> None:
    with pytest.raises(ZeroDivisionError), SQLLogger(config) as logger:
        run_id = logger.run()
        1 / 0
    with SQLFinder(config) as finder:
        assert finder.find_run(run_id).status == "failed"


def test_update_status_and_artifacts(config: ADict, tmp_path: Path) -> None:
    checkpoint = tmp_path / "model.pt"
    checkpoint.write_bytes(b"weights")
    with SQLLogger(config) as logger:
        run_id = logger.run()
        logger.update_status("evaluating")
        logger.log_artifact(run_id, checkpoint, data_type="model", metadata={"epoch": 3})
        logger.log_artifact(None, "s3://bucket/elsewhere.pt")
    connection = sqlite3.connect(tmp_path / "experiments.db")
    rows = connection.execute("SELECT path, data_type, metadata, size, sha256 FROM artifacts ORDER BY id").fetchall()
    statuses = [decode_event(p).status for (p,) in connection.execute(
        "SELECT payload FROM events WHERE type IN ('run.status', 'run.finished') ORDER BY seq")]
    connection.close()
    import hashlib

    assert rows[0] == (str(checkpoint), "model", '{"epoch": 3}', 7, hashlib.sha256(b"weights").hexdigest())
    assert rows[1] == ("s3://bucket/elsewhere.pt", None, "{}", None, None)
    assert statuses == ["evaluating", "completed"]


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_async_logger_under_each_backend(config: ADict, backend: str) -> None:
    async def main() -> int:
        async with AsyncSQLLogger(config) as logger:
            run_id = await logger.run(tags=["async"])
            for step in range(1000):
                await logger.log_metric("loss", 1.0 / (step + 1), step)
            await logger.flush()
            return run_id

    run_id = anyio.run(main, backend=backend)
    with SQLFinder(config) as finder:
        run = finder.find_run(run_id)
        assert run.status == "completed" and run.tags == ["async"] and run.metric_summaries["loss"].count == 1000


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_async_finder_answers_every_query_as_the_sync_one_does(config: ADict, backend: str) -> None:
    with SQLLogger(config) as logger:
        for lr in (0.1, 0.2):
            config.lr = lr
            logger.run(tags=[f"lr{lr}"])
            for step in range(5):
                logger.log_metric("acc", lr * step, step)
            logger.finish()
    calls = {  # every public query, with arguments that find something
        "find_project": ("proj",), "get_project": ("proj",), "get_projects": (), "find_run": (2,), "get_run": (1,), "get_runs_in_project": ("proj",),
        "get_all_runs": (), "find_best_run": ("proj", "acc", "max"), "find_similar_runs": (1,),
        "find_similar_runs_by_trace": (1, "environment", "environment"),
        "get_trace_statistics": ("proj", "environment"), "get_metrics": (2, "acc"), "get_metrics_of_runs": ([1, 2], "acc", 4), "get_fingerprints": (1,),
        "get_run_events": (1,),
    }
    # The two frame methods return DataFrames, which == cannot compare: tests/tracking/test_frames.py
    # checks that the async twins give the same frames.
    frames = {"runs_frame", "metrics_frame"}
    assert set(calls) | {"close", "path"} | frames == {name for name in dir(SQLFinder) if not name.startswith("_")}

    async def ask() -> dict[str, object]:
        async with AsyncSQLFinder(config) as finder:
            return {name: await getattr(finder, name)(*args) for name, args in calls.items()}

    with SQLFinder(config) as finder:
        expected = {name: getattr(finder, name)(*args) for name, args in calls.items()}
    assert expected["find_best_run"].tags == ["lr0.2"] and type(expected["find_run"].config) is ADict
    assert len(expected["find_similar_runs"]) == 1 and expected["get_fingerprints"]
    assert anyio.run(ask, backend=backend) == expected


def test_async_context_manager_marks_failed(config: ADict) -> None:
    async def main() -> int:
        logger = AsyncSQLLogger(config)
        try:
            async with logger:
                run_id = await logger.run()
                raise KeyError("x")
        except KeyError:
            return run_id

    run_id = anyio.run(main)
    with SQLFinder(config) as finder:
        assert finder.find_run(run_id).status == "failed"


def test_backpressure_flushes_instead_of_dropping(config: ADict) -> None:
    with SQLLogger(config, batch_size=100, max_buffer=250, flush_interval=60) as logger:
        run_id = logger.run()
        for step in range(5000):
            logger.log_metric("x", float(step), step)
            assert len(logger._core.points) <= 250
    with SQLFinder(config) as finder:
        assert [v for _, v in finder.get_metrics(run_id, "x")] == [float(s) for s in range(5000)]


def test_writer_flushes_by_time(config: ADict, db: Path) -> None:
    with SQLLogger(config, flush_interval=0.05) as logger:
        logger.run()
        logger.log_metric("x", 1.0)
        deadline = time.monotonic() + 10
        count = 0
        while time.monotonic() < deadline and not count:
            time.sleep(0.05)
            connection = sqlite3.connect(db)
            count = connection.execute("SELECT COUNT(*) FROM events WHERE type = 'metrics.packed'").fetchone()[0]
            connection.close()
        assert count == 1


def test_process_exit_flushes_without_finish(tmp_path: Path) -> None:
    run_script(tmp_path, """
        from ato import SQLLogger
        logger = SQLLogger({'experiment': {'project_name': 'p'}}, flush_interval=3600)
        logger.run()
        for step in range(1234):
            logger.log_metric('loss', 0.5, step)
        # no flush(), no finish(): exit must flush
    """)
    with SQLFinder(f"sqlite:///{tmp_path / 'experiments.db'}") as finder:
        assert finder.find_run(1).metric_summaries["loss"].count == 1234


KILLED = """
import os, sys
from ato import SQLLogger
logger = SQLLogger({'experiment': {'project_name': 'p'}}, flush_interval=3600)
logger.run()
for step in range(20000):
    logger.log_metric('loss', float(step), step)
logger.flush()
for step in range(20000, 30000):
    logger.log_metric('loss', float(step), step)  # never flushed
print('flushed', flush=True)
sys.stdin.read()
"""


def test_sigkill_after_flush_loses_nothing_flushed(tmp_path: Path) -> None:
    script = tmp_path / "killed.py"
    script.write_text(KILLED)
    with subprocess.Popen(
        [sys.executable, str(script)], cwd=tmp_path, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as process:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "flushed"
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    db = tmp_path / "experiments.db"
    assert sqlite3.connect(db).execute("PRAGMA integrity_check").fetchone() == ("ok",)
    with SQLFinder(f"sqlite:///{db}") as finder:
        values = [v for _, v in finder.get_metrics(1, "loss")]
    assert values[:20000] == [float(s) for s in range(20000)]

    async def rebuild() -> int:
        store = await open_store(db)
        try:
            return await store.rebuild()
        finally:
            await store.close()

    assert anyio.run(rebuild) >= 2


WRITER = """
import sys
from ato import SQLLogger
worker = int(sys.argv[1])
with SQLLogger({'experiment': {'project_name': 'p', 'sql': {'db_path': sys.argv[2]}}}, batch_size=2500) as logger:
    logger.run(tags=[f'worker{worker}'])
    for step in range(25000):
        logger.log_metric('loss', float(worker * 100000 + step), step)
"""


@pytest.mark.slow
def test_four_processes_logging_to_one_file_lose_nothing(tmp_path: Path) -> None:
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    processes = [
        subprocess.Popen([sys.executable, str(script), str(w), url], cwd=tmp_path, stderr=subprocess.PIPE, text=True)
        for w in range(4)
    ]
    for process in processes:
        _, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, stderr
    with SQLFinder(url) as finder:
        runs = finder.get_runs_in_project("p")
        assert len(runs) == 4
        for run in runs:
            worker = int(run.tags[0].removeprefix("worker"))
            values = [v for _, v in finder.get_metrics(run.id, "loss")]
            assert values == [float(worker * 100000 + s) for s in range(25000)]


def _finder_answers(url: str) -> list[object]:
    with SQLFinder(url) as finder:
        runs = finder.get_runs_in_project("proj")
        return [
            runs,
            finder.find_best_run("proj", "acc", "max"),
            finder.find_best_run("proj", "acc", "min"),
            [finder.find_similar_runs(run.id) for run in runs],
            [finder.get_metrics(run.id, "acc") for run in runs],
        ]


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(
    runs=st.lists(
        st.tuples(
            st.lists(st.tuples(st.integers(0, 5), st.floats(allow_nan=True, allow_infinity=True)), max_size=30),
            st.sampled_from(["completed", "failed"]),
            st.booleans(),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_rebuild_gives_identical_finder_answers(tmp_path_factory: pytest.TempPathFactory, runs: list) -> None:  # type: ignore[type-arg]
    db = tmp_path_factory.mktemp("rebuild") / "experiments.db"
    config = ADict(experiment=ADict(project_name="proj", sql=ADict(db_path=f"sqlite:///{db}")), lr=0.1)
    for points, status, with_extra_key in runs:
        run_config = config.clone()
        if with_extra_key:
            run_config.extra = 1
        with SQLLogger(run_config, batch_size=7) as logger:
            logger.run()
            for step, value in points:
                logger.log_metric("acc", value, step)
            logger.finish(status)
    url = f"sqlite:///{db}"
    before = _finder_answers(url)

    async def rebuild() -> None:
        store = await open_store(db)
        try:
            await store.rebuild()
        finally:
            await store.close()

    anyio.run(rebuild)
    after = _finder_answers(url)
    assert repr(after) == repr(before)  # repr: NaN compares unequal to itself


def test_merge_appends_missing_events_once(tmp_path: Path) -> None:
    machine_a, machine_b = tmp_path / "a.db", tmp_path / "b.db"
    for path, tag in ((machine_a, "a"), (machine_b, "b")):
        with SQLLogger({"experiment": {"project_name": "p", "sql": {"db_path": f"sqlite:///{path}"}}}) as logger:
            logger.run(tags=[tag])
            logger.log_metric("loss", 1.0, 0)

    async def merge(source: Path) -> int:
        store = await open_store(machine_a)
        try:
            return await store.merge(source)
        finally:
            await store.close()

    first = anyio.run(merge, machine_b)
    assert first > 0
    assert anyio.run(merge, machine_b) == 0
    assert anyio.run(merge, machine_a) == 0
    with SQLFinder(f"sqlite:///{machine_a}") as finder:
        assert [run.tags for run in finder.get_runs_in_project("p")] == [["a"], ["b"]]
        assert finder.find_run(2).metric_summaries["loss"].count == 1


def _real_sqlite_error(db: Path, how: str) -> sqlite3.Error:
    """Make SQLite itself fail the way a user's database would."""
    sqlite3.connect(db).execute("CREATE TABLE IF NOT EXISTS t (x BLOB)").connection.commit()
    if how == "read-only":
        connection = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        statement = "INSERT INTO t VALUES (1)"
    elif how == "full":
        connection = sqlite3.connect(db)
        connection.execute("PRAGMA max_page_count = 2")
        statement = "INSERT INTO t VALUES (zeroblob(100000))"
    else:
        db.write_bytes(b"this is not a database at all" * 100)
        connection = sqlite3.connect(db)
        statement = "SELECT * FROM sqlite_master"
    try:
        connection.execute(statement)
    except sqlite3.Error as exc:
        return exc
    finally:
        connection.close()
    raise AssertionError("SQLite did not fail")


@pytest.mark.broken_database
@pytest.mark.parametrize(
    ("how", "error", "advice"),
    [
        ("read-only", "DatabaseReadOnlyError", "make the file and its folder writable"),
        ("full", "DatabaseFullError", "nothing unflushed was dropped"),
        ("garbage", "DatabaseError", "not an Ato database, or damaged"),
    ],
)
def test_driver_errors_become_ato_errors_with_advice(db: Path, how: str, error: str, advice: str) -> None:
    import ato.errors
    from ato.storage.database import translate_errors

    original = _real_sqlite_error(db, how)
    with pytest.raises(getattr(ato.errors, error)) as info:
        with translate_errors(db):
            raise original
    assert str(db) in str(info.value) and advice in str(info.value)


@pytest.mark.broken_database
def test_garbage_file_is_refused_by_the_logger_and_left_alone(tmp_path: Path) -> None:
    db = tmp_path / "experiments.db"
    db.write_bytes(b"not sqlite" * 1000)
    with pytest.raises(DatabaseError, match="not an Ato database"), SQLLogger(
        {"experiment": {"sql": {"db_path": f"sqlite:///{db}"}}}
    ) as logger:
        logger.run()
    assert db.read_bytes() == b"not sqlite" * 1000


def test_locked_database_is_a_clear_error_and_keeps_points(config: ADict, db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("ato.storage.database.BUSY_TIMEOUT_S", 0.2)
    logger = SQLLogger(config, flush_interval=3600)
    run_id = logger.run()
    logger.log_metric("loss", 1.0, 0)
    blocker = sqlite3.connect(db, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        from ato.errors import DatabaseLockedError

        with pytest.raises(DatabaseLockedError, match="locked.*nothing unflushed was dropped"):
            logger.flush()
        assert len(logger._core.points) == 1
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    logger.finish()
    logger.close()
    with SQLFinder(config) as finder:
        assert finder.get_metrics(run_id, "loss") == [(0, 1.0)]


def test_finder_on_a_missing_database_says_so(tmp_path: Path) -> None:
    with pytest.raises(DatabaseError, match="no Ato database here"), SQLFinder(f"sqlite:///{tmp_path}/none.db") as finder:
        finder.get_runs_in_project("p")


def test_finish_with_a_word_of_the_users_own_ends_the_logging_with_that_label(config: ADict) -> None:
    with SQLLogger(config) as logger:
        first = logger.run()
        logger.log_metric("loss", 1.0, 0)
        logger.finish("aborted")  # ato 2.1.7 took any status
        second = logger.run()  # the logger is free for the next run
        logger.finish("completed")
    with SQLFinder(config) as finder:
        aborted, completed = finder.find_run(first), finder.find_run(second)
        assert (aborted.status, aborted.finished_at, len(aborted.metrics)) == ("aborted", None, 1)
        assert completed.status == "completed" and completed.finished_at is not None
    with SQLLogger(config) as logger, pytest.raises(TrackerError, match="status must not be empty"):
        logger.run()
        logger.finish("")


def test_database_url_resolution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ato.storage.database import database_path

    monkeypatch.chdir(tmp_path)
    assert database_path(None) == tmp_path / "experiments.db"
    assert database_path("sqlite:///rel/x.db") == tmp_path / "rel" / "x.db"
    assert database_path("sqlite:////abs/x.db") == Path("/abs/x.db")
    assert database_path({"experiment": {"sql": {"db_path": "y.db"}}}) == tmp_path / "y.db"
    monkeypatch.setenv("ATO_DB", "sqlite:///env.db")
    assert database_path({"lr": 1}) == tmp_path / "env.db"
    with pytest.raises(DatabaseError, match="only sqlite:/// URLs"):
        database_path("postgresql://host/db")
    with pytest.raises(DatabaseError, match="must outlive the process"):
        database_path("sqlite:///:memory:")


def test_merge_events_decode_from_the_log(tmp_path: Path) -> None:
    run_script(tmp_path, COMBINED)
    trace = _merge_trace(tmp_path / "experiments.db", 1)
    assert isinstance(trace.steps[0], MergeStepApplied)
    assert isinstance(trace.completed, MergeCompleted)


def test_a_dropped_unclosed_finder_closes_its_connection(config: ADict) -> None:
    import gc
    import threading

    with SQLLogger(config) as logger:
        logger.run()
    before = threading.active_count()
    for _ in range(5):
        finder = SQLFinder(config)
        assert finder.get_all_runs()
        del finder
        gc.collect()
    deadline = time.monotonic() + 10
    while threading.active_count() > before and time.monotonic() < deadline:
        time.sleep(0.01)  # the closes run in the background
    assert threading.active_count() <= before  # no connection thread left behind


def test_the_current_run_under_ato_2_1_7s_names(config: ADict) -> None:
    logger = SQLLogger(config)
    assert logger.get_current_run_id() is None and logger.get_current_run() is None
    run_id = logger.run(tags=["t"])
    assert logger.get_current_run_id() == run_id
    current = logger.get_current_run()
    assert current is not None and current.id == run_id and current.status == "running"
    assert type(current.config) is ADict and current.config.lr == config.lr
    logger.finish()
    finished = logger.get_current_run()
    assert finished is not None and finished.status == "completed"
    logger.close()

    async def main() -> tuple[int | None, str | None]:
        async with AsyncSQLLogger(config) as async_logger:
            await async_logger.run()
            run = await async_logger.get_current_run()
            return await async_logger.get_current_run_id(), run.status if run else None

    assert anyio.run(main) == (run_id + 1, "running")


def test_a_run_inside_a_search_trial_records_its_scope_once_with_the_trial_config(db: Path) -> None:
    """Scope pushes its merge on ``running_merges`` when its function runs and again for a trial
    (``running_with``); the run records the trace once, with the innermost (trial) config."""
    from ato import Scope

    scope = Scope()

    @scope.observe(default=True)
    def defaults(config):  # type: ignore[no-untyped-def]
        config.lr = 0.1
        config.experiment = {"project_name": "p", "sql": {"db_path": f"sqlite:///{db}"}}

    @scope
    def search(config):  # type: ignore[no-untyped-def]
        trial = config.clone()
        trial.lr = 0.5
        with scope.running_with(trial), SQLLogger(trial) as logger:
            logger.run()

    scope.apply([])
    search()
    with SQLFinder(f"sqlite:///{db}") as finder:
        recorded = finder.get_run_events(1).scopes
        assert list(recorded) == [scope.name]
        result = replay(MergeTrace.from_events(recorded[scope.name]))
        assert result.exact and result.config.lr == 0.5 and finder.find_run(1).config.lr == 0.5


def test_a_finder_closed_twice_at_once_closes_once_and_both_return(config: ADict) -> None:
    """A dropped finder is closed in the background; exit may close it at the same moment."""
    from ato.storage import loop

    with SQLLogger(config) as logger:
        logger.run()
    finder = SQLFinder(config)
    assert finder.find_run(1).status == "completed"
    core = finder._core

    async def close_twice() -> None:
        with anyio.fail_after(30):  # a hang detector, not a speed limit
            async with anyio.create_task_group() as group:
                group.start_soon(core.close)
                group.start_soon(core.close)

    loop.call(close_twice)
    assert not core.is_open
    finder.close()  # and once more, afterwards

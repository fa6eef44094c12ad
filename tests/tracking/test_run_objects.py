"""Run objects as ato 2.1.7 users touch them: ``project_id``, ``start_time``/``end_time``, and
``metrics``, ``artifacts``, ``fingerprints`` as sequences of records, read on first use only."""

from __future__ import annotations

import datetime
import json
import os
import pickle
import subprocess
import types
from pathlib import Path

import anyio
import pytest

from ato import ADict, AsyncSQLFinder, AsyncSQLLogger, SQLFinder, SQLLogger
from ato.errors import TrackerError
from ato.projections.maintenance import rebuild_database
from ato.projections.queries import MetricSummary, Project, Queries, Records
from tests.conftest import ato, reference_python


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The run ids whose points were read, in order."""
    seen: list[int] = []
    original = Queries.metric_points

    async def counted(self: Queries, run_id: int, counts: dict[str, int]) -> object:
        seen.append(run_id)
        return await original(self, run_id, counts)

    monkeypatch.setattr(Queries, "metric_points", counted)
    return seen


def _log(config: ADict, points: int = 3, *, artifact: Path | None = None) -> int:
    with SQLLogger(config) as logger:
        run_id = logger.run(tags=["t"])
        for step in range(points):
            logger.log_metric("loss", 1.0 / (step + 1), step)
            logger.log_metric("acc", step / 10, step)
        if artifact is not None:
            logger.log_artifact(run_id, artifact, "model", {"epoch": 2})
    return run_id


def test_a_run_has_ato_2_1_7_s_fields(config: ADict, tmp_path: Path) -> None:
    checkpoint = tmp_path / "model.pt"
    checkpoint.write_bytes(b"weights")
    run_id = _log(config, artifact=checkpoint)
    with SQLFinder(config) as finder:
        run = finder.find_run(run_id)
        project = finder.find_project("proj")
    assert project is not None and run.project_id == project.id and run.project == project.name == "proj"
    assert isinstance(project.created_at, datetime.datetime) and project.description is None
    # Naive UTC datetimes, as 2.1.7 gave them; the floats stay under Ato's names.
    assert run.start_time.tzinfo is None and run.end_time is not None and run.end_time.tzinfo is None
    assert run.start_time == datetime.datetime.fromtimestamp(run.started_at, datetime.timezone.utc).replace(tzinfo=None)
    assert run.start_time <= run.end_time and (run.end_time - run.start_time).total_seconds() < 60
    assert abs(datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None) - run.end_time).total_seconds() < 60

    # Point records in the order they were logged, as 2.1.7's list of Metric rows.
    assert [(m.key, m.value, m.step) for m in run.metrics] == [
        ("loss", 1.0, 0), ("acc", 0.0, 0), ("loss", 0.5, 1), ("acc", 0.1, 1), ("loss", 1 / 3, 2), ("acc", 0.2, 2)
    ]
    assert len(run.metrics) == 6 and run.metrics[-1].key == "acc" and run.metrics[-1].step == 2
    assert [m.step for m in run.metrics[1:5:2]] == [0, 1] and run.metrics[::-1][0] == run.metrics[5]
    assert all(m.run_id == run_id and m.timestamp.tzinfo is None for m in run.metrics)
    assert run.metrics[0].timestamp >= run.start_time - datetime.timedelta(seconds=1)
    with pytest.raises(IndexError):
        run.metrics[6]
    assert run.metric_summaries["loss"] == MetricSummary(count=3, last_step=2, last=1 / 3, min=1 / 3, max=1.0)

    (artifact,) = run.artifacts
    assert (artifact.path, artifact.data_type, artifact.data_info) == (str(checkpoint), "model", {"epoch": 2})
    assert artifact.metadata == artifact.data_info and artifact.size == 7 and artifact.run_id == run_id
    assert "environment" in {f.trace_type for f in run.fingerprints}
    assert all(f.trace_type == f.kind for f in run.fingerprints)


def test_finding_runs_never_reads_their_points(config: ADict, reads: list[int]) -> None:
    run_id = _log(config, points=50_000)
    with SQLFinder(config) as finder:
        found = [
            finder.find_run(run_id),
            *finder.get_runs_in_project("proj"),
            *finder.get_all_runs(),
            finder.find_best_run("proj", "acc"),
            *finder.find_similar_runs(run_id),
        ]
        assert all(run is not None and not run.metrics.loaded for run in found)
        assert reads == []
        run = found[0]
        assert run is not None
        assert len(run.metrics) == 100_000 and bool(run.metrics) and reads == []  # the count needs no read
        assert "not read yet" in repr(run.metrics) and "not read yet" in repr(run)
        assert run.metrics[-1].key == "acc" and run.metrics.loaded and reads == [run_id]
        assert sum(1 for _ in run.metrics) == 100_000 and reads == [run_id]  # read once, then held


def test_runs_keep_working_after_their_finder_is_closed_or_dropped(config: ADict) -> None:
    run_id = _log(config)
    with SQLFinder(config) as finder:
        closed_with = finder.find_run(run_id)
    assert closed_with.metrics[0].key == "loss" and len(closed_with.artifacts) == 0  # 2.1.7 raised here
    dropped_with = SQLFinder(config).find_run(run_id)
    assert [m.step for m in dropped_with.metrics] == [0, 0, 1, 1, 2, 2]
    again = pickle.loads(pickle.dumps(SQLFinder(config).find_run(run_id)))  # pickled as what it holds
    assert again.metrics == closed_with.metrics and again.metrics.loaded


def test_the_points_are_those_the_run_had_when_it_was_found(config: ADict) -> None:
    with SQLLogger(config) as logger:
        run_id = logger.run()
        for step in range(10):
            logger.log_metric("loss", float(step), step)
        logger.flush()
        with SQLFinder(config) as finder:
            early = finder.find_run(run_id)
            for step in range(10, 20):
                logger.log_metric("loss", float(step), step)
            logger.log_metric("late", 1.0)
            logger.flush()
            assert len(early.metrics) == 10 and [m.step for m in early.metrics] == list(range(10))
            assert len(finder.find_run(run_id).metrics) == 21
        current = logger.get_current_run()
        assert current is not None and len(current.metrics) == 21 and current.metrics[-1].key == "late"


def test_points_come_back_in_logged_order_whatever_the_clock(config: ADict, monkeypatch: pytest.MonkeyPatch) -> None:
    # A coarse clock gives many points one time; a clock set back must not reorder a key's points.
    clock = iter([5.0] * 6 + [9.0, 9.0, 4.0, 4.0] + [4.0] * 4)
    monkeypatch.setattr("ato.tracking.logger.time", types.SimpleNamespace(time=lambda: next(clock)))
    logged = []
    with SQLLogger(config, batch_size=1_000_000, flush_interval=60) as logger:
        run_id = logger.run()
        for step in range(7):
            for key in ("a", "b"):
                logger.log_metric(key, float(step), step)
                logged.append((key, step))
    with SQLFinder(config) as finder:
        run = finder.find_run(run_id)
    assert [(m.key, m.step) for m in run.metrics if m.key == "a"] == [p for p in logged if p[0] == "a"]
    assert [(m.key, m.step) for m in run.metrics if m.key == "b"] == [p for p in logged if p[0] == "b"]
    assert [(m.key, m.step) for m in run.metrics] == logged


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_the_async_finder_reads_records_only_when_awaited(config: ADict, backend: str, reads: list[int]) -> None:
    run_id = _log(config)

    async def main() -> tuple[object, object]:
        async with AsyncSQLFinder(config) as finder:
            run = await finder.find_run(run_id)
            untouched = (await finder.get_runs_in_project("proj"))[0]
        assert len(run.metrics) == 6 and reads == []
        with pytest.raises(TrackerError, match=r"would block the event loop: `await run.metrics.load\(\)`"):
            run.metrics[0]
        with pytest.raises(TrackerError, match="block the event loop"):
            list(run.artifacts)
        points = await run.metrics.load()
        assert points is run.metrics and points[0].key == "loss" and reads == [run_id]
        assert len(await run.fingerprints.load()) == len(run.fingerprints) > 0
        assert list(await run.artifacts.load()) == []
        return run, untouched

    run, untouched = anyio.run(main, backend=backend)
    # Outside any event loop, nothing can be blocked: an unread run reads on first use.
    assert [m.step for m in untouched.metrics] == [0, 0, 1, 1, 2, 2]  # type: ignore[attr-defined]
    assert run.metrics[-1].value == 0.2  # type: ignore[attr-defined]


def test_a_sync_finder_s_runs_read_in_a_worker_thread_of_async_code(config: ADict) -> None:
    run_id = _log(config)

    async def main() -> int:
        run = SQLFinder(config).find_run(run_id)
        return await anyio.to_thread.run_sync(lambda: len(list(run.metrics)))

    assert anyio.run(main) == 6


def test_get_or_create_project_and_get_current_run(config: ADict) -> None:
    with SQLLogger(config) as logger:
        before = logger.get_or_create_project()
        assert isinstance(before, Project) and before.name == "proj" and isinstance(before.id, int)
        assert logger.get_or_create_project() == before  # recorded once
        assert logger.get_current_run() is None
        run_id = logger.run()
        logger.log_metric("loss", 0.5, 0)
        logger.flush()
        project = logger.get_or_create_project()
        run = logger.get_current_run()
        assert run is not None and run.id == run_id == logger.get_current_run_id()
        assert project == before and project.id == run.project_id
        assert isinstance(project.created_at, datetime.datetime) and project.created_at.tzinfo is None
        assert run.end_time is None and run.start_time.tzinfo is None and run.status == "running"
        assert [(m.key, m.value, m.step) for m in run.metrics] == [("loss", 0.5, 0)]
    finished = logger.get_current_run()
    assert finished is not None and finished.end_time is not None and finished.status == "completed"


def test_the_async_logger_s_project_and_current_run(config: ADict) -> None:
    async def main() -> None:
        async with AsyncSQLLogger(config) as logger:
            before = await logger.get_or_create_project()
            run_id = await logger.run()
            await logger.log_metric("loss", 0.5, 0)
            await logger.flush()
            project = await logger.get_or_create_project()
            run = await logger.get_current_run()
            assert run is not None and run.id == run_id and project.id == run.project_id == before.id
            with pytest.raises(TrackerError, match="block the event loop"):
                run.metrics[0]
            assert [m.value for m in await run.metrics.load()] == [0.5]

    anyio.run(main)


def test_a_project_named_before_any_run_is_found_and_survives_a_rebuild(config: ADict, db: Path) -> None:
    with SQLLogger(config) as logger:
        project = logger.get_or_create_project()
    with SQLFinder(config) as finder:
        assert finder.find_project("proj") == project and finder.get_runs_in_project("proj") == []
    rebuild_database(db)
    with SQLFinder(config) as finder:
        assert finder.find_project("proj") == project


def test_records_compare_as_lists(config: ADict) -> None:
    run_id = _log(config, points=1)
    with SQLFinder(config) as finder:
        run = finder.find_run(run_id)
        assert run.artifacts == [] and run.metrics == list(run.metrics) and run.metrics != [run.metrics[0]]
        assert run == finder.find_run(run_id)  # compared by what the run is, not by its records
    assert isinstance(run.metrics, Records) and Records.of("metric points", 1, []) == ()


# -- what the real ato 2.1.7 gave ---------------------------------------------------------------------------
WRITE_AND_DUMP_WITH_ATO_2_1_7 = """
import json, sys
from ato.adict import ADict
from ato.db_routers.sql.manager import SQLLogger

config = ADict(experiment=ADict(project_name='old', sql=ADict(db_path='sqlite:///' + sys.argv[1])), lr=0.1)
logger = SQLLogger(config)
run_id = logger.run(tags=['x'])
for step in range(4):
    logger.log_metric('loss', 1 / (step + 1), step)
    if step % 2:
        logger.log_metric('acc', step / 10, step)
logger.log_artifact(run_id, 'ckpt.pt', 'model', {'epoch': 3})
logger.finish()
run = logger.get_current_run()
project = logger.get_or_create_project()
print(json.dumps({
    'project_id': run.project_id, 'project': [project.id, project.name, project.created_at.isoformat()],
    'start_time': run.start_time.isoformat(), 'end_time': run.end_time.isoformat(),
    'metrics': [[m.key, m.value, m.step] for m in run.metrics],
    'artifacts': [[a.path, a.data_type, a.data_info] for a in run.artifacts],
}))
"""


def test_an_imported_run_reads_as_ato_2_1_7_gave_it(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    reference = reference_python()
    folder = tmp_path_factory.mktemp("ato-2.1.7")  # outside tmp_path: `ato verify` reads only Ato's files
    script, old = folder / "write.py", folder / "old.db"
    script.write_text(WRITE_AND_DUMP_WITH_ATO_2_1_7)
    written = subprocess.run([reference, str(script), str(old)], check=True, capture_output=True, text=True,
                             timeout=300, cwd=folder, env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    expected = json.loads(written.stdout)
    target = tmp_path / "experiments.db"
    assert ato("import", str(old), "--db", str(target), cwd=tmp_path).returncode == 0
    with SQLFinder(target) as finder:
        (run,) = finder.get_runs_in_project("old")
        project = finder.find_project("old")
    assert project is not None and run.project_id == project.id
    assert run.start_time.isoformat() == expected["start_time"] and run.end_time is not None
    assert run.end_time.isoformat() == expected["end_time"]
    assert [[m.key, m.value, m.step] for m in run.metrics] == expected["metrics"]
    assert [[a.path, a.data_type, a.data_info] for a in run.artifacts] == expected["artifacts"]


def test_find_run_of_an_unknown_id_is_none_as_in_2_1_7_and_get_run_says_why(config: ADict, db: Path) -> None:
    from ato.errors import UnknownRunError

    first = _log(config, points=1)
    second = _log(config, points=1)
    with SQLFinder(config) as finder:
        assert finder.find_run(999) is None and finder.find_run("f" * 20) is None
        with pytest.raises(UnknownRunError, match=f"no run 999 in {db}|no run '999' in {db}"):
            finder.get_run(999)
        assert finder.get_run(first).id == first == finder.find_run(first).id
        assert finder.find_run(finder.get_run(second).uid).id == second


def test_a_uid_prefix_that_two_runs_share_is_an_error_never_a_silent_none(db: Path) -> None:
    from ato.errors import UnknownRunError
    from ato.events.types import RunStarted
    from ato.events.values import encode_value
    from ato.projections.maintenance import open_store

    async def two_runs() -> None:
        store = await open_store(db)
        try:
            await store.append([
                RunStarted(run=uid, project="p", config=encode_value({}), structural_hash="")
                for uid in ("abc1" + "0" * 28, "abc2" + "0" * 28)
            ])
        finally:
            await store.close()

    anyio.run(two_runs)
    with SQLFinder(str(db)) as finder:
        with pytest.raises(UnknownRunError, match="2 runs match the uid prefix 'abc' .*: run 1 .*, run 2 ") as raised:
            finder.find_run("abc")
        assert raised.value.suggestions == ["1", "2"]
        assert finder.find_run("abc2").uid.startswith("abc2") and finder.find_run("abd") is None

"""``ato import``: an ato 2.1.7 database, written by the real ato 2.1.7 from the registry (in its
own environment, as the benchmarks use it), becomes events without losing anything."""

from __future__ import annotations

import datetime
import hashlib
import os
import sqlite3
import subprocess
from pathlib import Path

import pytest

from ato import ADict, SQLFinder, SQLLogger
from ato.errors import DatabaseError
from ato.projections.maintenance import verify_database
from tests.conftest import ato, reference_python

WRITE_WITH_ATO_2_1_7 = """
import sqlite3, sys
from ato.adict import ADict
from ato.db_routers.sql.manager import SQLLogger

url = 'sqlite:///' + sys.argv[1]
for project, lrs in (('vision', (0.1, 0.2, 0.3)), ('text', (0.5,))):
    for lr in lrs:
        config = ADict(experiment=ADict(project_name=project, sql=ADict(db_path=url)),
                       lr=lr, model='resnet', layers=[1, 2, {'k': None}], flags=(True, 'x'))
        logger = SQLLogger(config)
        run_id = logger.run(tags=[project, f'lr{lr}'])
        for step in range(25):
            logger.log_metric('loss', lr / (step + 1), step)
            logger.log_metric('acc', 1 - lr / (step + 1), step)
        logger.log_artifact(run_id, f'ckpt/{run_id}.pt', 'model', {'epoch': 24, 'best': True})
        if lr == 0.2:
            logger.finish(status='failed')
        elif lr == 0.3:
            logger.update_status('evaluating')   # never finished
        elif lr == 0.5:
            pass                                 # crashed: still 'running'
        else:
            logger.finish(status='completed')
SQLLogger(ADict(experiment=ADict(project_name='empty', sql=ADict(db_path=url)))).get_or_create_project()
# 2.1.7 never writes fingerprints itself; its schema has the table, so one row exercises it.
connection = sqlite3.connect(sys.argv[1])
connection.execute("INSERT INTO fingerprints (run_id, trace_id, trace_type, fingerprint) VALUES (1, 'step', 'static', 'abc')")
connection.commit()
"""


@pytest.fixture(scope="module")
def legacy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("ato-2.1.7")
    script = folder / "write.py"
    script.write_text(WRITE_WITH_ATO_2_1_7)
    path = folder / "old.db"
    subprocess.run([reference_python(), str(script), str(path)], check=True, capture_output=True, timeout=300,
                   cwd=folder, env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    return path


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_an_import_keeps_every_run_point_and_hash_and_twice_adds_nothing(legacy: Path, tmp_path: Path) -> None:
    before = _digest(legacy)
    target = tmp_path / "experiments.db"
    first = ato("import", str(legacy), "--db", str(target), cwd=tmp_path)
    assert first.returncode == 0 and "4 runs read" in first.stdout, first.stderr
    again = ato("import", str(legacy), "--db", str(target), cwd=tmp_path)
    assert again.returncode == 0 and ", 0 new events" in again.stdout
    assert _digest(legacy) == before

    old = sqlite3.connect(f"file:{legacy}?mode=ro", uri=True)
    rows = old.execute(
        "SELECT e.id, p.name, e.config, e.structural_hash, e.tags, e.status, e.start_time, e.end_time "
        "FROM experiments e JOIN projects p ON p.id = e.project_id ORDER BY e.id"
    ).fetchall()
    projects = old.execute("SELECT id, name, created_at FROM projects ORDER BY id").fetchall()
    with SQLFinder(f"sqlite:///{target}") as finder:
        assert [(p.id, p.name, p.created_at.replace(tzinfo=datetime.timezone.utc).timestamp()) for p in finder.get_projects()] == [
            (old_id, name, _utc(created)) for old_id, name, created in projects  # 'empty' has no run
        ] and len(projects) == 3
        runs = finder.get_all_runs()
        assert [run.id for run in runs] == [row[0] for row in rows]  # ids kept (imported into an empty log)
        for run, (old_id, project, config, shash, tags, status, start, end) in zip(runs, rows):
            assert run.project == project and run.structural_hash == shash
            assert run.config == ADict(__import__("json").loads(config))
            assert run.tags == __import__("json").loads(tags)
            assert run.status == status
            assert run.started_at == _utc(start) and run.finished_at == (_utc(end) if end else None)
            for key in ("loss", "acc"):
                expected = old.execute(
                    'SELECT step, value FROM metrics WHERE run_id = ? AND "key" = ? ORDER BY step', (old_id, key)
                ).fetchall()
                assert finder.get_metrics(run.id, key) == [tuple(point) for point in expected]
        assert {(f.trace_id, f.kind, f.fingerprint) for f in finder.get_fingerprints(1)} >= {("step", "static", "abc")}
        assert [r.status for r in runs] == ["completed", "failed", "evaluating", "running"]
    artifacts = sqlite3.connect(target).execute("SELECT run_id, path, data_type, metadata FROM artifacts").fetchall()
    assert artifacts[0] == (1, "ckpt/1.pt", "model", '{"epoch": 24, "best": true}') and len(artifacts) == 4
    assert verify_database(target).problems == []


def test_pointing_ato_at_a_2_1_7_file_says_to_import_it_and_changes_nothing(legacy: Path, tmp_path: Path) -> None:
    before = _digest(legacy)
    for args in (("runs",), ("replay", "1"), ("verify",)):
        result = ato(*args, "--db", str(legacy), cwd=tmp_path)
        assert result.returncode == 1 and "an ato 2.1.7 database: `ato import" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    with pytest.raises(DatabaseError, match="ato 2.1.7 database"), SQLFinder(f"sqlite:///{legacy}") as finder:
        finder.get_all_runs()
    config = ADict(experiment=ADict(project_name="p", sql=ADict(db_path=f"sqlite:///{legacy}")))
    with pytest.raises(DatabaseError, match="ato 2.1.7 database"):
        SQLLogger(config).run()
    assert _digest(legacy) == before


def _utc(text: str) -> float:
    return datetime.datetime.fromisoformat(text).replace(tzinfo=datetime.timezone.utc).timestamp()


GROWING = """
import sys
from ato.adict import ADict
from ato.db_routers.sql.manager import SQLLogger

config = ADict(experiment=ADict(project_name='p', sql=ADict(db_path='sqlite:///' + sys.argv[1])), lr=0.1)
logger = SQLLogger(config)
run_id = logger.run()
for step in range(3):
    logger.log_metric('loss', float(step), step)
logger.log_artifact(run_id, 'plain.bin', 'blob')          # no metadata: 2.1.7 stores JSON null
print('ready', flush=True)
sys.stdin.readline()                                       # the test imports here, mid-run
for step in range(3, 6):
    logger.log_metric('loss', float(step), step)
logger.finish(status='interrupted')                        # a status of the user's own
"""


def test_a_file_that_grew_since_the_last_import_adds_exactly_the_new_points(tmp_path_factory: pytest.TempPathFactory) -> None:
    folder = tmp_path_factory.mktemp("growing")
    old, target = folder / "old.db", folder / "new.sqlite"
    (folder / "grow.py").write_text(GROWING)
    writer = subprocess.Popen([reference_python(), str(folder / "grow.py"), str(old)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, cwd=folder,
                              env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    assert writer.stdout is not None and writer.stdout.readline().strip() == "ready"
    assert ato("import", str(old), "--db", str(target), cwd=folder).returncode == 0
    with SQLFinder(f"sqlite:///{target}") as finder:
        assert finder.find_run(1).status == "running" and len(finder.get_metrics(1, "loss")) == 3
    writer.communicate("go\n", timeout=120)
    assert writer.returncode == 0
    for _ in range(2):  # the second import of the grown file adds nothing more
        assert ato("import", str(old), "--db", str(target), cwd=folder).returncode == 0
    with SQLFinder(f"sqlite:///{target}") as finder:
        run = finder.find_run(1)
        assert finder.get_metrics(1, "loss") == [(step, float(step)) for step in range(6)]
        assert run.status == "interrupted"  # kept as the run's label
    metadata = sqlite3.connect(target).execute("SELECT metadata FROM artifacts").fetchall()
    assert metadata == [("{}",)]
    assert verify_database(target).problems == []


def test_an_import_into_a_log_that_has_runs_appends_after_them(legacy: Path, tmp_path: Path) -> None:
    target = tmp_path / "experiments.db"
    with SQLLogger(ADict(experiment=ADict(project_name="mine", sql=ADict(db_path=f"sqlite:///{target}")))) as logger:
        logger.run()
        logger.log_metric("x", 1.0, 0)
    assert ato("import", str(legacy), "--db", str(target), cwd=tmp_path).returncode == 0
    with SQLFinder(f"sqlite:///{target}") as finder:
        runs = finder.get_all_runs()
        assert [run.project for run in runs] == ["mine", "vision", "vision", "vision", "text"]
        assert len(finder.get_metrics(2, "loss")) == 25

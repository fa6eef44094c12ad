"""Runs of several processes: ranks and job groups under real torch.distributed (gloo, CPU), the
environment launchers set, and DataLoader workers (fork and spawn) that try to log."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from ato.adict import ADict
from ato.db_routers.sql.manager import SQLFinder, SQLLogger
from tests.conftest import ato, run_script

DISTRIBUTED = """
import os, sys
import torch.distributed as dist
from ato.adict import ADict
from ato.db_routers.sql.manager import SQLLogger

dist.init_process_group(backend='gloo')
config = ADict(experiment=ADict(project_name='ddp', sql=ADict(db_path=os.environ['DB_URL'])), lr=0.1)
with SQLLogger(config) as logger:
    logger.run()
    logger.log_metric('loss', 1.0 + dist.get_rank(), 0)
dist.barrier()
dist.destroy_process_group()
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _job(tmp_path: Path, world_size: int, env: dict[str, str] | None = None) -> None:
    script = tmp_path / "ddp.py"
    script.write_text(DISTRIBUTED)
    port = str(_free_port())
    processes = [
        subprocess.Popen(
            [sys.executable, str(script)], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "DB_URL": f"sqlite:///{tmp_path / 'experiments.db'}", "MASTER_ADDR": "127.0.0.1",
                 "MASTER_PORT": port, "RANK": str(rank), "WORLD_SIZE": str(world_size), **(env or {})},
        )
        for rank in range(world_size)
    ]
    for process in processes:
        _, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, stderr


def _runs(db: Path, project: str) -> list:  # type: ignore[type-arg]
    with SQLFinder(ADict(experiment=ADict(project_name=project, sql=ADict(db_path=f"sqlite:///{db}")))) as finder:
        return list(finder.get_runs_in_project(project))


@pytest.mark.slow
def test_ranks_of_a_gloo_job_share_a_group_that_the_next_job_does_not(tmp_path: Path) -> None:
    pytest.importorskip("torch.distributed")
    _job(tmp_path, 2)
    _job(tmp_path, 2)
    runs = _runs(tmp_path / "experiments.db", "ddp")
    assert sorted((r.rank, r.world_size) for r in runs) == [(0, 2), (0, 2), (1, 2), (1, 2)]
    first, second = {r.group for r in runs[:2]}, {r.group for r in runs[2:]}
    assert len(first) == len(second) == 1 and first != second  # one id per job, told apart
    assert all(r.group.startswith("dist:") for r in runs)  # from the process group's own store
    assert {r.status for r in runs} == {"completed"}

    url = f"sqlite:///{tmp_path / 'experiments.db'}"
    rows = json.loads(ato("runs", "--json", "--db", url, cwd=tmp_path).stdout)
    assert [(row["rank"], row["world_size"], row["group"]) for row in rows] == [(r.rank, 2, r.group) for r in runs]
    grouped = ato("runs", "--group", "job", "--db", url, cwd=tmp_path)
    assert grouped.returncode == 0, grouped.stderr
    titles = [line for line in grouped.stdout.splitlines() if line.startswith("job ")]
    assert titles == [f"job {group}: 2 run(s) of world size 2; completed" for group in (*first, *second)]
    table = ato("runs", "--db", url, cwd=tmp_path).stdout
    assert "rank" in table.splitlines()[0] and "1/2" in table


@pytest.mark.slow
def test_torchrun_s_run_id_names_the_group(tmp_path: Path) -> None:
    pytest.importorskip("torch.distributed")
    _job(tmp_path, 2, {"TORCHELASTIC_RUN_ID": "job-42"})
    runs = _runs(tmp_path / "experiments.db", "ddp")
    assert [(r.rank, r.group) for r in sorted(runs, key=lambda r: r.rank)] == [(0, "torchrun:job-42"), (1, "torchrun:job-42")]


def test_the_environment_gives_rank_and_world_size_and_group_is_yours(
    config: ADict, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("TORCHELASTIC_RUN_ID", "SLURM_JOB_ID", "SLURM_STEP_ID", "ATO_GROUP", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("WORLD_SIZE", "8")
    with SQLLogger(config, group="sweep-7") as logger:
        logger.run()
    monkeypatch.setenv("SLURM_JOB_ID", "991")
    monkeypatch.setenv("SLURM_STEP_ID", "0")
    with SQLLogger(config) as logger:
        logger.run()
    for name in ("RANK", "WORLD_SIZE", "SLURM_JOB_ID", "SLURM_STEP_ID"):
        monkeypatch.delenv(name)
    with SQLLogger(config) as logger:
        logger.run()
    with SQLFinder(config) as finder:
        runs = finder.get_runs_in_project("proj")
    assert [(r.rank, r.world_size, r.group) for r in runs] == [(3, 8, "sweep-7"), (3, 8, "slurm:991.0"), (None, None, "")]


WORKERS = """
import os, sys
import torch
from torch.utils.data import DataLoader, Dataset
from ato.adict import ADict
from ato.db_routers.sql.manager import SQLLogger
from ato.errors import TrackerError


class Logging(Dataset):
    def __init__(self, logger):
        self.logger = logger

    def __len__(self):
        return 8

    def __getitem__(self, index):
        self.logger.log_metric('item', float(index), index)
        return torch.tensor(float(index))


if __name__ == '__main__':
    method = sys.argv[1]
    config = ADict(experiment=ADict(project_name='workers', sql=ADict(db_path=os.environ['DB_URL'])))
    with SQLLogger(config) as logger:
        logger.run()
        loader = DataLoader(Logging(logger), batch_size=2, num_workers=2, multiprocessing_context=method)
        try:
            for batch in loader:
                pass
        except TrackerError as exc:
            print('TrackerError:', str(exc).replace(chr(10), ' '))
        logger.log_metric('after', 1.0, 0)  # the parent's logger still works
    print('done')
"""


@pytest.mark.slow
@pytest.mark.parametrize(("method", "says"), [
    ("fork", "loggers do not cross fork(); create one in the child"),
    ("spawn", "cannot be sent to another process (pickled for a spawn DataLoader worker"),
])
def test_a_dataloader_worker_that_logs_gets_a_clear_error(tmp_path: Path, method: str, says: str) -> None:
    pytest.importorskip("torch")
    result = run_script(tmp_path, WORKERS, method, env={"DB_URL": f"sqlite:///{tmp_path / 'experiments.db'}"},
                        timeout=300)
    lines = result.stdout.splitlines()
    assert lines[-1] == "done", result.stderr
    assert lines[0].startswith("TrackerError:") and says in lines[0], lines
    (run,) = _runs(tmp_path / "experiments.db", "workers")
    # Nothing was lost without a word: the worker's points were refused (loudly), the parent's kept.
    assert run.status == "completed" and [(p.key, p.value) for p in run.metrics] == [("after", 1.0)]

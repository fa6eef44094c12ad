"""The ``ato`` command on real databases: in-process through ``main(argv)``, with a few real
subprocesses where the process boundary is what is tested."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ato, run_script

TRAIN = """
import sys
import numpy as np
from ato.scope import Scope
from ato.db_routers.sql.manager import SQLLogger

scope = Scope()

@scope.observe(default=True)
def defaults(config):
    config.lr = 0.1
    config.pair = (1, 2)
    config.count = 3
    config.ratio = 3.0
    config.sum = 0.1 + 0.2
    config.nested = {'a': {'b': None}}
    config.flag = True
    config.scale = np.float32(0.5)
    config.experiment = {'project_name': 'cli'}

@scope.observe(priority=1)
def high_lr(config):
    config.lr = 0.5

@scope
def main(config):
    with SQLLogger(config) as logger:
        logger.run(tags=['t'])
        for step in range(5):
            logger.log_metric('loss', 1.0 / (step + 1), step)

main()
"""


def ato_process(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run ``python -m ato ARGS`` as a real process."""
    return subprocess.run([sys.executable, "-m", "ato", *args], capture_output=True, text=True, cwd=cwd, timeout=120)


@pytest.fixture(scope="module")
def two_runs_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("two_runs")
    run_script(folder, TRAIN)
    run_script(folder, TRAIN, "high_lr", "lr=0.25", "count=4")
    return folder / "experiments.db"


@pytest.fixture
def two_runs(tmp_path: Path, two_runs_template: Path) -> Path:
    """A folder with a database of two tracked runs (made once, copied for each test)."""
    for part in two_runs_template.parent.glob("experiments.db*"):  # -wal and -shm too, if any
        shutil.copy(part, tmp_path / part.name)
    return tmp_path


def test_runs_lists_every_run(two_runs: Path) -> None:
    result = ato("runs", cwd=two_runs)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:8] == ["id", "uid", "status", "started", "duration", "host", "tags", "structure"]
    assert lines[1].split()[0] == "1" and lines[2].split()[0] == "2"
    assert lines[1].split()[2] == "completed" and lines[2].split()[2] == "completed"
    assert lines[1].split()[-1] == "0.2"  # loss, last value
    data = json.loads(ato("runs", "--json", cwd=two_runs).stdout)
    assert [run["id"] for run in data] == [1, 2]
    assert data[0]["metrics"]["loss"]["count"] == 5
    unknown = ato("runs", "nope", "--json", cwd=two_runs)
    assert unknown.returncode == 1 and json.loads(unknown.stdout)["error"]["type"] == "UnknownProjectError"


def test_replay_shows_order_chains_and_exactness(two_runs: Path) -> None:
    result = ato("replay", "2", cwd=two_runs)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "1. defaults" in out and "2. high_lr" in out and "3. lr=0.25" in out and "4. count=4" in out
    assert "  lr = 0.25\n      defaults (default): set 0.1\n      high_lr (named): 0.1 -> 0.5\n      lr=0.25 (cli): 0.5 -> 0.25" in out
    assert out.rstrip().endswith("replay: exact (values, types and structural hash equal the recorded config)")
    narrowed = ato("replay", "2", "--key", "nested", cwd=two_runs).stdout
    assert "nested.a.b = None" in narrowed and "  lr =" not in narrowed


def test_replay_json_keeps_awkward_values_exact(two_runs: Path) -> None:
    data = json.loads(ato("replay", "1", "--json", cwd=two_runs).stdout)
    assert data["exact"] is True
    values = {entry["key"]: entry["value"] for entry in data["scopes"][0]["keys"]}
    assert values["sum"] == 0.1 + 0.2 and values["count"] == 3 and values["ratio"] == 3.0
    assert values["pair"] == [1, 2] and values["flag"] is True and values["nested.a.b"] is None
    assert values["scale"] == 0.5  # a numpy scalar as its number; "type" says float32
    types = {entry["key"]: entry["type"] for entry in data["scopes"][0]["keys"]}
    assert (types["pair"], types["count"], types["ratio"], types["scale"]) == ("tuple", "int", "float", "float32")


def test_replay_of_an_unreplayable_value_says_so_and_exits_1(tmp_path: Path) -> None:
    run_script(tmp_path, """
        from ato.scope import Scope
        from ato import SQLLogger
        scope = Scope()
        class Head:
            def __repr__(self): return 'Head()'
        @scope.observe(default=True)
        def defaults(config):
            config.head = Head()
        @scope
        def main(config):
            with SQLLogger(config) as logger:
                logger.run()
        main()
    """)
    result = ato("replay", "1", cwd=tmp_path)
    assert result.returncode == 1
    assert "replay: NOT exact" in result.stdout
    assert "not replayable: head (set by defaults)" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("replay", "9"), "ato replay: error: no run '9'"),
        (("runs", "--db", "sqlite:///missing/x.db"), "no Ato database here"),
        (("verify", "--db", "postgresql://x"), "only sqlite:/// URLs are supported"),
        (("merge", "nothing.db"), "no such database to merge from"),
    ],
)
def test_user_errors_are_one_line_and_exit_1(two_runs: Path, args: tuple[str, ...], message: str) -> None:
    result = ato(*args, cwd=two_runs)
    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_a_real_process_prints_one_line_errors_and_replays(two_runs: Path) -> None:
    failed = ato_process("replay", "9", cwd=two_runs)
    assert failed.returncode == 1 and failed.stderr.strip().splitlines() == [
        f"ato replay: error: no run '9' in {two_runs / 'experiments.db'} (it holds runs 1 to 2)"
    ]
    replayed = ato_process("replay", "2", cwd=two_runs)
    assert replayed.returncode == 0 and replayed.stdout.rstrip().endswith("replay: exact "
                                                                          "(values, types and structural hash equal the recorded config)")


def test_a_malformed_command_line_is_a_usage_error(tmp_path: Path) -> None:
    result = ato("replay", cwd=tmp_path)
    assert result.returncode == 2 and "the following arguments are required: run" in result.stderr


def test_rebuild_and_verify(two_runs: Path) -> None:
    rebuilt = ato("rebuild", cwd=two_runs)
    assert rebuilt.returncode == 0 and "from" in rebuilt.stdout and "events" in rebuilt.stdout
    verified = ato("verify", "--json", cwd=two_runs)
    assert json.loads(verified.stdout)["ok"] is True
    # A projection edited behind the log's back is caught.
    connection = sqlite3.connect(two_runs / "experiments.db")
    connection.execute("UPDATE experiments SET status = 'tampered' WHERE id = 1")
    connection.commit()
    connection.close()
    result = ato("verify", cwd=two_runs)
    assert result.returncode == 1
    assert "projection experiments: 1 rows not in a fresh derivation" in result.stdout
    assert ato("rebuild", cwd=two_runs).returncode == 0
    assert ato("verify", cwd=two_runs).returncode == 0


def test_verify_on_a_database_several_processes_wrote(tmp_path: Path) -> None:
    script = tmp_path / "w.py"
    script.write_text(
        "import sys\nfrom ato import SQLLogger\n"
        "with SQLLogger({'experiment': {'project_name': 'p'}}, batch_size=500) as logger:\n"
        "    logger.run()\n"
        "    for step in range(3000):\n"
        "        logger.log_metric('x', float(step), step)\n"
    )
    processes = [subprocess.Popen([sys.executable, str(script)], cwd=tmp_path) for _ in range(3)]
    assert [p.wait(timeout=120) for p in processes] == [0, 0, 0]
    assert ato("verify", cwd=tmp_path).returncode == 0
    assert ato("rebuild", cwd=tmp_path).returncode == 0
    assert ato("verify", cwd=tmp_path).returncode == 0


def test_merge_two_machines_is_idempotent(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    run_script(tmp_path / "a", TRAIN)
    run_script(tmp_path / "b", TRAIN, "high_lr")
    first = ato("merge", "../b/experiments.db", cwd=tmp_path / "a")
    assert first.returncode == 0 and " 0 new events" not in first.stdout
    second = ato("merge", "sqlite:///../b/experiments.db", "--json", cwd=tmp_path / "a")
    assert list(json.loads(second.stdout).values()) == [0]
    runs = json.loads(ato("runs", "--json", cwd=tmp_path / "a").stdout)
    assert len(runs) == 2
    assert ato("replay", "2", cwd=tmp_path / "a").returncode == 0
    assert ato("verify", cwd=tmp_path / "a").returncode == 0


def test_every_subcommand_has_help_with_an_example(tmp_path: Path) -> None:
    for command in ("replay", "runs", "rebuild", "verify", "merge"):
        result = ato(command, "--help", cwd=tmp_path)
        assert result.returncode == 0
        assert "Example:" in result.stdout and "--db URL" in result.stdout and "--json" in result.stdout

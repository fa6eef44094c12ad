"""No silent empty answers from the ``ato`` command: an unknown project, metric, config key or run
is one line on stderr that suggests the closest names, and exit status 1."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from tests.cli.test_cli import TRAIN, ato_process
from tests.conftest import ato, run_script


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("names")
    run_script(folder, TRAIN)
    run_script(folder, TRAIN, "lr=0.25")
    return folder / "experiments.db"


@pytest.fixture
def two_runs(tmp_path: Path, template: Path) -> Path:
    shutil.copy(template, tmp_path / "experiments.db")
    return tmp_path


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("runs", "nosuchproject"), "no project 'nosuchproject' in {db}; the projects are cli"),
        (("runs", "clj"), "no project 'clj' in {db}; did you mean 'cli'?"),
        (("runs", "--metric", "los"), "no metric 'los' in {db}; did you mean 'loss'?"),
        (("runs", "cli", "--metric", "accuracy"), "no metric 'accuracy' in project 'cli'; the metrics are loss"),
        (("replay", "1", "--key", "lrr"), "no config key 'lrr' in run 1's config; did you mean 'lr'?"),
        (("replay", "1", "--key", "nested.b"), "no config key 'nested.b' in run 1's config; did you mean 'nested.a.b' or 'nested.a' or 'nested'?"),
        (("replay", "9"), "no run '9' in {db} (it holds runs 1 to 2)"),
        (("replay", "uid:xyz"), "no run 'uid:xyz' in {db} (it holds runs 1 to 2)"),
        (("diff", "1", "3"), "no run '3' in {db} (it holds runs 1 to 2)"),
    ],
)
def test_an_unknown_name_is_one_line_with_the_closest_names_and_exit_1(
    two_runs: Path, args: tuple[str, ...], message: str
) -> None:
    result = ato(*args, cwd=two_runs)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.splitlines() == [f"ato {args[0]}: error: " + message.format(db=two_runs / "experiments.db")]


def test_a_key_that_is_part_of_a_key_is_known(two_runs: Path) -> None:
    result = ato("replay", "1", "--key", "nested.a", cwd=two_runs)
    assert result.returncode == 0 and "nested.a.b = None" in result.stdout


def test_runs_are_named_by_uid_prefix_with_or_without_uid(two_runs: Path) -> None:
    connection = sqlite3.connect(two_runs / "experiments.db")
    uid = connection.execute("SELECT uid FROM experiments WHERE id = 2").fetchone()[0]
    connection.close()
    for ref in (f"uid:{uid[:8]}", uid[:8] if not uid[:8].isdigit() else f"uid:{uid[:8]}", uid.upper()):
        result = ato("replay", ref, cwd=two_runs)
        assert result.returncode == 0 and result.stdout.startswith(f"run 2 ({uid[:12]})"), ref
    assert ato("diff", "1", f"uid:{uid[:6]}", cwd=two_runs).stdout.startswith("Why do runs 1 and 2 differ?")


def test_an_ambiguous_prefix_lists_the_candidates(tmp_path: Path) -> None:
    from tests.tracking.test_unknown_names import _runs_with_uids

    _runs_with_uids(tmp_path / "experiments.db", "0412" + "a" * 28, "0412" + "b" * 28, "5555" + "c" * 28)
    result = ato_process("replay", "uid:0412", cwd=tmp_path)
    assert result.returncode == 1 and result.stderr.splitlines() == [
        f"ato replay: error: 2 runs match the uid prefix 'uid:0412' in {tmp_path / 'experiments.db'}: "
        "run 1 (uid 0412aaaaaaaa), run 2 (uid 0412bbbbbbbb); give more of the uid"
    ]
    assert "run 2 (0412bbbbbbbb)" in ato("replay", "uid:0412b", cwd=tmp_path).stdout
    digits = ato("replay", "5555", cwd=tmp_path)  # digits only: a local id, which is not there
    assert digits.returncode == 1 and digits.stderr.endswith(
        "did you mean run 3 (uid 5555cccccccc)? (a uid prefix of digits only is written uid:5555)\n")
    assert "did you mean" not in ato("replay", "0412", cwd=tmp_path).stderr  # two uids start so: no guess


def test_an_empty_database_lists_no_runs_without_an_error(tmp_path: Path) -> None:
    run_script(tmp_path, "from ato import SQLLogger\nSQLLogger({'experiment': {'project_name': 'p'}}).get_or_create_project()\n")
    assert ato("runs", "p", cwd=tmp_path).returncode == 0  # a known project with no runs yet: an empty table
    assert ato("runs", "--metric", "loss", cwd=tmp_path).returncode == 0  # no run to have logged it

"""``--json`` is one schema for machines: every command's real output validates against the JSON
Schema ``ato schema`` publishes, values are native (NaN as a documented string, never a repr),
errors are a JSON object on stdout, and a reader that stops early ends the command quietly."""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from ato.cli.main import build_parser
from ato.cli.outputs import OUTPUTS, SCHEMAS, json_schema
from tests.conftest import ato, reference_python, run_script

TRAIN = """
import math, pathlib, sys
import numpy as np
from ato.scope import Scope
from ato.db_routers.sql.manager import SQLLogger

scope = Scope()

class Head:
    def __repr__(self):
        return 'Head()'

@scope.observe(default=True)
def defaults(config):
    config.lr = 0.1
    config.pair = (1, 2)
    config.scale = np.float32(0.5)
    config.huge = 2 ** 70
    config.ids = {3, 1, 2}
    config.where = pathlib.PurePosixPath('/data/x')
    config.head = Head()
    config.nested = {'a': {'b': None}, 7: 'seven'}
    config.experiment = {'project_name': 'json'}

@scope
def main(config):
    with SQLLogger(config) as logger:
        logger.run(tags=['t'])
        for step in range(4):
            logger.log_metric('loss', config.lr / (step + 1), step)
        logger.log_metric('loss', math.nan if config.lr == 0.1 else math.inf, 4)
        logger.log_metric('acc', -math.inf, 0)

main()
"""

SEARCH = """
from ato.adict import ADict
from ato.hyperopt.hyperband import HyperBand
from ato.scope import Scope

scope = Scope()

@scope.observe(default=True)
def defaults(config):
    config.experiment = ADict(project_name='search')

space = ADict(x=ADict(param_type='INTEGER', param_range=(0, 3), num_samples=4))
hyperband = HyperBand(scope, space, halving_rate=0.5, num_min_samples=1, mode='max')

@hyperband.main
def train(config):
    return float('nan') if config.x == 0 else float(config.x)

train()
"""


@pytest.fixture(scope="module")
def database_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("json")
    run_script(folder, TRAIN)                 # 1
    run_script(folder, TRAIN, "lr=0.25")      # 2
    (folder / "search").mkdir()
    run_script(folder / "search", SEARCH)
    return folder


@pytest.fixture
def folder(tmp_path: Path, database_template: Path) -> Path:
    """Two tracked runs in ./experiments.db and a search in ./search/experiments.db (copies)."""
    shutil.copytree(database_template, tmp_path, dirs_exist_ok=True)
    return tmp_path


def _validate(output: str, name: str) -> Any:
    data = json.loads(output)
    jsonschema.Draft202012Validator(json_schema(name)).validate(data)
    return data


def test_every_command_has_a_published_schema_that_is_valid_json_schema(tmp_path: Path) -> None:
    parser = build_parser()
    commands = next(a.choices for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert set(commands) == set(OUTPUTS)
    published = ato("schema", cwd=tmp_path)
    assert published.returncode == 0
    assert json.loads(published.stdout) == {name: json_schema(name) for name in SCHEMAS}
    for name in SCHEMAS:
        one = json.loads(ato("schema", name, cwd=tmp_path).stdout)
        assert one == json_schema(name)
        jsonschema.Draft202012Validator.check_schema(one)
    _validate(published.stdout, "schema")
    assert "Example:" in ato("schema", "--help", cwd=tmp_path).stdout


def test_the_schema_says_how_non_finite_numbers_are_written() -> None:
    runs = json.dumps(json_schema("runs"))
    assert '"enum": ["-Infinity", "Infinity", "NaN"]' in runs and "NaN and infinities as" in runs


def test_runs_json_validates_and_writes_non_finite_values_as_strings(folder: Path) -> None:
    result = ato("runs", "--json", cwd=folder)
    assert result.returncode == 0, result.stderr
    assert '"last": "NaN"' in result.stdout and ": NaN" not in result.stdout  # a string, never a bare NaN
    runs = _validate(result.stdout, "runs")
    assert [run["id"] for run in runs] == [1, 2]
    first, second = runs[0]["metrics"], runs[1]["metrics"]
    assert first["loss"]["last"] == "NaN" and second["loss"]["last"] == "Infinity"
    assert first["acc"]["last"] == "-Infinity" and first["acc"]["min"] is None and first["acc"]["max"] is None
    assert first["loss"]["max"] == 0.1 and isinstance(runs[0]["finished_at"], float)
    assert float(first["loss"]["last"]) != float(first["loss"]["last"])  # float() reads it back as NaN


def test_replay_json_validates_and_keeps_values_native(folder: Path) -> None:
    result = ato("replay", "1", "--json", cwd=folder)
    assert result.returncode == 1  # the Head() object is not replayable: exit 1, the usual output
    data = _validate(result.stdout, "replay")
    keys = {entry["key"]: entry for entry in data["scopes"][0]["keys"]}
    assert (keys["pair"]["value"], keys["pair"]["type"]) == ([1, 2], "tuple")
    assert (keys["scale"]["value"], keys["scale"]["type"]) == (0.5, "float32")
    assert keys["huge"]["value"] == 2**70 and keys["ids"]["value"] == [1, 2, 3]
    assert keys["where"]["value"] == "/data/x" and keys["nested[7]"]["value"] == "seven"
    assert keys["head"]["value"] == {"$type": "__main__.Head", "$repr": "Head()"} and keys["head"]["type"] == "Head"
    assert keys["lr"]["chain"] == [{"step": "defaults", "kind": "default", "old": None, "new": 0.1, "added": True}]


def test_replay_of_a_search_validates_with_a_nan_trial(folder: Path) -> None:
    result = ato("replay", "1", "--json", cwd=folder / "search")
    assert result.returncode == 0, result.stdout
    search = _validate(result.stdout, "replay")["searches"][0]
    assert search["reproduces"] is True and search["winner"] is not None
    assert search["settings"]["mode"] == "max" and search["rounds"][0]["trials"] == 4


def test_diff_json_validates_with_native_values(folder: Path) -> None:
    result = ato("diff", "1", "2", "--json", cwd=folder)
    assert result.returncode == 0, result.stderr
    data = _validate(result.stdout, "diff")
    assert [(c["key"], c["a"], c["b"], c["set_by_b"]) for c in data["config"]] == [("lr", 0.1, 0.25, "lr=0.25 (cli)")]
    metrics = {m["key"]: m["first_difference"] for m in data["metrics"]}
    assert metrics["acc"] is None and metrics["loss"] == {"step": 0, "a": 0.1, "b": 0.25}


def test_diff_json_writes_a_non_finite_first_difference_as_a_string(folder: Path) -> None:
    # Run 1 and a copy of it that differs only where run 1 went NaN: the difference is at step 4.
    run_script(folder, TRAIN.replace("math.nan if config.lr == 0.1 else math.inf", "math.inf"))
    data = _validate(ato("diff", "1", "3", "--json", cwd=folder).stdout, "diff")
    loss = next(m for m in data["metrics"] if m["key"] == "loss")
    assert loss["first_difference"] == {"step": 4, "a": "NaN", "b": "Infinity"}


def test_maintenance_json_validates(folder: Path, tmp_path: Path) -> None:
    assert _validate(ato("rebuild", "--json", cwd=folder).stdout, "rebuild")["events"] > 0
    assert _validate(ato("verify", "--json", cwd=folder).stdout, "verify")["ok"] is True
    merged = _validate(ato("merge", "search/experiments.db", "--json", cwd=folder).stdout, "merge")
    assert list(merged.values())[0] > 0


def test_import_json_validates(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    python = reference_python()
    elsewhere = tmp_path_factory.mktemp("ato-2.1.7")  # not under tmp_path, which must hold Ato files only
    old, script = elsewhere / "old.db", elsewhere / "write.py"
    script.write_text(
        "import sys\nfrom ato.adict import ADict\nfrom ato.db_routers.sql.manager import SQLLogger\n"
        "logger = SQLLogger(ADict(experiment=ADict(project_name='p', sql=ADict(db_path='sqlite:///' + sys.argv[1]))))\n"
        "logger.run()\nlogger.log_metric('loss', 0.5, 0)\nlogger.finish(status='completed')\n"
    )
    subprocess.run([python, str(script), str(old)], check=True, capture_output=True, timeout=300, cwd=tmp_path,
                   env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    data = _validate(ato("import", str(old), "--json", cwd=tmp_path).stdout, "import")
    assert data["runs"] == 1 and data["source"] == str(old)


@pytest.mark.parametrize(
    ("args", "status", "kind"),
    [
        (("runs", "nosuchproject"), 1, "UnknownProjectError"),
        (("runs", "--metric", "los"), 1, "UnknownMetricError"),
        (("replay", "9"), 1, "UnknownRunError"),
        (("replay", "1", "--key", "lrr"), 1, "UnknownConfigKeyError"),
        (("diff", "1"), 2, "UsageError"),
        (("runs", "--db", "sqlite:///missing/x.db"), 1, "DatabaseError"),
    ],
)
def test_errors_in_json_mode_are_an_object_on_stdout(folder: Path, args: tuple[str, ...], status: int, kind: str) -> None:
    result = ato(*args, "--json", cwd=folder)
    assert result.returncode == status and result.stderr == ""
    error = _validate(result.stdout, "error")["error"]
    assert error["type"] == kind and error["command"] == args[0] and error["message"]


def test_a_json_error_carries_the_suggestions(folder: Path) -> None:
    error = json.loads(ato("runs", "jsn", "--json", cwd=folder).stdout)["error"]
    assert error["suggestions"] == ["json"] and "did you mean 'json'?" in error["message"]
    without = ato("runs", "jsn", cwd=folder)
    assert without.stdout == "" and without.stderr.strip().splitlines() == [f"ato runs: error: {error['message']}"]


def _long_replay(folder: Path) -> None:
    """A run whose replay prints far more than a pipe holds (64 KiB), so a reader that stops after
    one line leaves the command writing into a closed pipe."""
    run_script(folder, """
        from ato import SQLLogger
        from ato.scope import Scope
        scope = Scope()
        @scope.observe(default=True)
        def defaults(config):
            config.experiment = {'project_name': 'wide'}
            for i in range(3000):
                config[f'key_{i}'] = i
        @scope
        def main(config):
            with SQLLogger(config) as logger:
                logger.run()
        main()
    """)


@pytest.mark.parametrize("json_mode", [False, True])
def test_a_reader_that_stops_early_ends_the_command_quietly(tmp_path: Path, json_mode: bool) -> None:
    _long_replay(tmp_path)
    command = [sys.executable, "-m", "ato", "replay", "1", *(["--json"] if json_mode else [])]
    process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None and process.stderr is not None
    first = process.stdout.readline()
    process.stdout.close()  # as `| head -1` does
    errors = process.stderr.read()
    process.stderr.close()
    assert process.wait(timeout=120) == 141  # the status of a process that SIGPIPE ended
    assert first and errors == ""  # no BrokenPipeError traceback, no "Exception ignored" either


def test_a_shell_pipe_into_head_prints_one_line_and_no_traceback(tmp_path: Path) -> None:
    _long_replay(tmp_path)
    result = subprocess.run(f"{sys.executable} -m ato replay 1 | head -1", shell=True, cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.startswith("run 1 ") and result.stderr == ""


def test_number_rules() -> None:
    from ato.cli.json_values import json_value, number

    assert [number(x) for x in (1.5, math.nan, math.inf, -math.inf, -0.0)] == [1.5, "NaN", "Infinity", "-Infinity", -0.0]
    assert json_value({"a": (1, math.nan), 2: {frozenset({"b", "a"})}}) == {"a": [1, "NaN"], "2": [["a", "b"]]}
    assert json_value(1 + 2j) == {"$type": "builtins.complex", "$repr": "(1+2j)"}
    # keys 1 and "1" both survive (as JSON object keys they would read the same)
    assert json_value({1: "int", "1": "str", (2, 3): "tuple"}) == {"int:1": "int", "1": "str", "(2, 3)": "tuple"}

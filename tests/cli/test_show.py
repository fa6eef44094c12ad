"""``ato show RUN``: one run's config with who set each key, metrics, artifacts, environment,
duration and status, as text and as JSON that validates against the published schema."""

from __future__ import annotations

import json
import platform
from pathlib import Path

import jsonschema
import pytest

from ato.cli.outputs import json_schema
from tests.cli.databases import copy_database
from tests.conftest import ato, run_script

TRAIN = """
from pathlib import Path
from ato.scope import Scope
from ato.db_routers.sql.manager import SQLLogger

scope = Scope()

@scope.observe(default=True)
def defaults(config):
    config.lr = 0.1
    config.model = {'depth': 18, 'name': 'resnet'}
    config.pair = (1, 2)
    config.experiment = {'project_name': 'show'}

@scope.observe()
def deep(config):
    config.model.depth = 50

@scope
def main(config):
    with SQLLogger(config) as logger:
        logger.run(tags=['baseline', 'v2'])
        for step in range(4):
            logger.log_metric('loss', 1.0 / (step + 1), step)
        logger.log_metric('acc', float('nan'), 0)
        Path('weights.bin').write_bytes(b'0123456789')
        logger.log_artifact(logger.run_id, 'weights.bin', data_type='model', metadata={'epoch': 3})

main()
"""


@pytest.fixture(scope="module")
def shown_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("show")
    run_script(folder, TRAIN, "deep", "lr=0.25")
    return folder / "experiments.db"


@pytest.fixture
def shown(tmp_path: Path, shown_template: Path) -> Path:
    return copy_database(shown_template, tmp_path)


def test_show_prints_config_with_provenance_metrics_artifacts_and_environment(shown: Path) -> None:
    result = ato("show", "1", cwd=shown)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    lines = out.splitlines()
    assert lines[0].startswith("run 1 (") and lines[0].endswith("project show, completed")
    assert "script.py deep lr=0.25\n" in out and "tags: baseline, v2" in out
    assert "duration " in lines[1] and "finished " in lines[1]
    config = {line.split()[0]: line for line in lines if line.startswith(("lr ", "model.", "pair "))}
    assert config["lr"].split()[1:] == ["0.25", "lr=0.25", "(cli),", "over", "1", "earlier", "step(s)"]
    assert config["model.depth"].split()[1:4] == ["50", "deep", "(named),"]
    assert config["model.name"].split()[1:] == ["resnet", "defaults", "(default)"]
    assert config["pair"].split()[1:3] == ["(1,", "2)"]  # a tuple stays a tuple
    metric = {line.split()[0]: line.split() for line in lines if line.startswith(("loss ", "acc "))}
    assert metric["loss"][1:] == ["4", "3", "0.25", "0.25", "1"]
    assert metric["acc"][1:] == ["1", "0", "nan", "-", "-"]  # NaN is recorded and shown, never a min
    artifact = next(line for line in lines if line.startswith("weights.bin"))
    assert artifact.split()[1:3] == ["model", "10"]
    assert f"python {platform.python_version()} ({platform.python_implementation()})" in out
    assert "packages installed" in out


def test_show_json_validates_and_keeps_values_native(shown: Path) -> None:
    result = ato("show", "1", "--json", cwd=shown)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    jsonschema.Draft202012Validator(json_schema("show")).validate(data)
    keys = {entry["key"]: entry for entry in data["config"]}
    assert keys["lr"] == {"key": "lr", "value": 0.25, "type": "float", "set_by": "lr=0.25", "kind": "cli",
                          "earlier_steps": 1}
    assert keys["pair"]["value"] == [1, 2] and keys["pair"]["type"] == "tuple"
    assert data["metrics"]["acc"]["last"] == "NaN" and data["metrics"]["loss"]["count"] == 4
    artifact = data["artifacts"][0]
    assert artifact["metadata"] == {"epoch": 3} and artifact["size"] == 10 and len(artifact["sha256"]) == 64
    run = data["run"]
    assert run["duration"] == pytest.approx(run["finished_at"] - run["started_at"])
    assert run["argv"][0].endswith("script.py") and run["argv"][1:] == ["deep", "lr=0.25"]
    assert run["status"] == "completed" and run["tags"] == ["baseline", "v2"]
    environment = data["environment"]
    assert environment["python"] == platform.python_version() and "msgspec" in environment["packages"]
    assert data["searches"] == []


def test_show_of_an_unknown_run_is_one_line_and_exit_1(shown: Path) -> None:
    result = ato("show", "7", cwd=shown)
    assert result.returncode == 1 and result.stderr.startswith("ato show: error: no run '7'")
    as_json = ato("show", "7", "--json", cwd=shown)
    assert as_json.returncode == 1 and json.loads(as_json.stdout)["error"]["type"] == "UnknownRunError"

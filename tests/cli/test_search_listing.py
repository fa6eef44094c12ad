"""Searches: ``ato replay`` of a search's run lists its trials (the config values that vary, the
round reached, the metric, the outcome), and ``ato runs --group search`` groups a search's runs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest

from ato.cli.outputs import json_schema
from tests.cli.databases import copy_database
from tests.conftest import ato, run_script

SEARCH = """
import os
from ato.adict import ADict
from ato.db_routers.sql.manager import SQLLogger
from ato.hyperopt.hyperband import HyperBand
from ato.scope import Scope

scope = Scope()

@scope.observe(default=True)
def defaults(config):
    config.experiment = ADict(project_name='search')
    config.depth = 3

space = ADict(x=ADict(param_type='INTEGER', param_range=(0, 3), num_samples=4),
              opt=ADict(param_type='CATEGORY', categories=['sgd', 'adam']))
hyperband = HyperBand(scope, space, halving_rate=0.5, num_min_samples=1, mode='max')

@hyperband.main
def train(config):
    if os.environ.get('OWN_RUNS'):  # each trial records a run of its own
        with SQLLogger(config) as logger:
            logger.run(tags=['trial'])
            logger.log_metric('score', float(config.x), 0)
    if config.x == 0 and config.opt == 'sgd':
        raise ValueError('boom')
    return float('nan') if config.x == 0 else float(config.x) + (config.opt == 'adam') * 0.5

train()
"""

PLAIN = """
from ato.db_routers.sql.manager import SQLLogger
from ato.adict import ADict
with SQLLogger(ADict(experiment=ADict(project_name='search'), lr=0.1)) as logger:
    logger.run()
    logger.log_metric('score', 9.0, 0)
"""


@pytest.fixture(scope="module")
def searches_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("searches")
    run_script(folder, SEARCH)                               # run 1: the search, trials are not runs
    run_script(folder, SEARCH, env={"OWN_RUNS": "1"})        # run 2: the search, runs 3-17: its trials
    run_script(folder, PLAIN)                                # run 18: no search
    return folder / "experiments.db"


@pytest.fixture
def searches(tmp_path: Path, searches_template: Path) -> Path:
    return copy_database(searches_template, tmp_path)


def _trial_rows(out: str) -> list[list[str]]:
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("(Trials"))
    rows = []
    for line in lines[start + 2:]:
        if not line.strip() or line.startswith("search replay"):
            break
        rows.append(re.split(r" {2,}", line.strip()))
    return rows


def test_replay_of_a_search_lists_its_trials_best_first(searches: Path) -> None:
    result = ato("replay", "1", cwd=searches)
    assert result.returncode == 0, result.stdout
    lines = result.stdout.splitlines()
    header = lines[lines.index("(Trials, best first)") + 1].split()
    assert header == ["trial", "x", "opt", "round", "metric", "outcome"]  # depth did not vary
    rows = _trial_rows(result.stdout)
    assert rows[0] == ["7", "3", "adam", "3", "3.5", "winner"]
    assert rows[1] == ["6", "3", "sgd", "2", "3", "dropped"]
    assert [row[0] for row in rows] == ["7", "6", "5", "4", "3", "2", "0", "1"]  # by round reached, then rank
    failed = {row[0]: row for row in rows[-2:]}
    assert failed["0"][4:] == ["-", "failed: ValueError: boom"] and failed["1"][5].startswith("failed")
    assert result.stdout.count("search replay: the recorded metrics reproduce every decision") == 1
    limited = ato("replay", "1", "--trials", "2", cwd=searches).stdout
    assert "(Trials, best first: 2 of 8)" in limited and len(_trial_rows(limited)) == 2


def test_replay_json_lists_the_trials_and_validates(searches: Path) -> None:
    result = ato("replay", "1", "--json", cwd=searches)
    assert result.returncode == 0
    data = json.loads(result.stdout)
    jsonschema.Draft202012Validator(json_schema("replay")).validate(data)
    search = data["searches"][0]
    assert search["keys"] == ["x", "opt"] and len(search["trials"]) == 8  # --json lists them all
    winner = search["trials"][0]
    assert winner == {"trial": 7, "values": {"x": 3, "opt": "adam"}, "round": 3, "metric": 3.5,
                      "metrics": [3.5, 3.5, 3.5, 3.5], "outcome": "winner", "error": None}
    failed = next(t for t in search["trials"] if t["trial"] == 0)
    assert failed["outcome"] == "failed" and failed["metric"] is None and "boom" in failed["error"]


def test_runs_group_search_puts_each_search_with_its_trial_runs(searches: Path) -> None:
    result = ato("runs", "--group", "search", "--metric", "score:max", cwd=searches)
    assert result.returncode == 0, result.stderr
    blocks = result.stdout.strip().split("\n\n")
    assert len(blocks) == 3
    first, second, rest = ([line for line in block.splitlines()] for block in blocks)
    assert first[0].startswith("search ") and "recorded by run 1: 8 trials, 4 round(s), winner trial 7" in first[0]
    assert [line.split()[0] for line in first[2:]] == ["1"]
    assert "recorded by run 2" in second[0] and second[0].endswith("trials: ato replay 2")
    assert [int(line.split()[0]) for line in second[2:]] == list(range(2, 18))
    header = re.split(r" {2,}", second[1].strip())
    assert {"x", "opt", "__num_halved__"} <= set(header)  # what varied within the search
    assert rest[0] == "runs of no search" and [line.split()[0] for line in rest[2:]] == ["18"]


def test_runs_json_names_each_runs_search(searches: Path) -> None:
    data = json.loads(ato("runs", "--json", cwd=searches).stdout)
    jsonschema.Draft202012Validator(json_schema("runs")).validate(data)
    by_id = {run["id"]: run for run in data}
    assert by_id[1]["search"] and by_id[2]["search"] and by_id[1]["search"] != by_id[2]["search"]
    assert all(by_id[i]["search"] == by_id[2]["search"] for i in range(3, 18))
    assert by_id[18]["search"] is None
    assert by_id[3]["config"]["__hyperopt_id__"] == by_id[2]["search"]


def test_show_of_a_search_run_names_its_search(searches: Path) -> None:
    shown = ato("show", "1", cwd=searches)
    assert shown.returncode == 0 and "recorded search " in shown.stdout and "ato replay 1 lists its trials" in shown.stdout
    data = json.loads(ato("show", "1", "--json", cwd=searches).stdout)
    runs = json.loads(ato("runs", "--json", cwd=searches).stdout)
    assert data["searches"] == [runs[0]["search"]]

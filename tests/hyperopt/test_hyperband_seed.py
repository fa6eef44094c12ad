"""HyperBand as ato 2.1.7's users call it: the positional signature with ``tracker``, the
result's ``logs``, ``num_generations``/``compute_optimized_initial_training_steps``, the
``ato.hyperopt.base`` classes and ``DistributedHyperBand``; checked against the real 2.1.7 where
``.venv-ref`` (or ``ATO_REFERENCE_PYTHON``) has it, against values it gave otherwise."""

from __future__ import annotations

import inspect
import json
import math
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ato.config.adict import ADict
from ato.config.scope import Scope
from ato.errors import ConfigError, TrackerError
from ato.hyperopt.base import (
    DistributedHyperOpt,
    DistributedMixIn,
    GridSpaceMixIn,
    HyperOpt,
)
from ato.hyperopt.hyperband import DistributedHyperBand, HyperBand, SearchResult
from ato.hyperopt.schedule import HalvingSchedule
from ato.tracking.finder import SQLFinder
from ato.tracking.logger import LoggerState, SQLLogger
from tests.conftest import reference_python, run_script


def _run_reference(tmp_path: Path, script: str, stdin: str = "") -> Any:
    """Run ``script`` under the real ato 2.1.7 (from ``tmp_path``, so ours is not on the path)."""
    path = tmp_path / "reference.py"
    path.write_text(script)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([reference_python(), str(path)], input=stdin, capture_output=True, text=True,
                          timeout=300, cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def _scope() -> Scope:
    scope = Scope()
    scope.apply([])
    return scope


SPACE = ADict(
    x=ADict(param_type="INTEGER", param_range=(0, 9), num_samples=10),
    kind=ADict(param_type="CATEGORY", categories=["a", "b"]),
)


# -- the signature --------------------------------------------------------------------------------
def test_the_positional_order_is_2_1_7s() -> None:
    assert list(inspect.signature(HyperBand).parameters)[:6] == [
        "scope", "search_spaces", "halving_rate", "num_min_samples", "tracker", "mode"]
    assert list(inspect.signature(DistributedHyperBand).parameters)[:9] == [
        "scope", "search_spaces", "halving_rate", "num_min_samples", "tracker", "mode", "rank", "world_size", "backend"]
    assert list(inspect.signature(DistributedHyperOpt).parameters) == [
        "scope", "search_spaces", "tracker", "mode", "rank", "world_size", "backend"]
    assert list(inspect.signature(HyperOpt).parameters) == ["scope", "search_spaces", "tracker", "mode"]
    for cls in (HyperBand, DistributedHyperBand):
        assert inspect.signature(cls).parameters["track"].kind is inspect.Parameter.KEYWORD_ONLY


def test_mode_given_by_position_after_the_tracker() -> None:
    hyperband = HyperBand(_scope(), SPACE, 0.5, 2, None, "min", track=False)
    assert hyperband.mode == "min" and hyperband.tracker is None

    @hyperband.main
    def objective(config):  # type: ignore[no-untyped-def]
        return config.x + (0.5 if config.kind == "b" else 0)

    assert (objective().config.x, objective().config.kind) == (0, "a")


@pytest.mark.parametrize(
    "arguments",
    [(0.0, 1), (1.0, 1), (1.5, 1), (0.5, 0), (0.5, 1, None, "best")],
)
def test_bad_settings_are_value_errors_as_in_2_1_7(arguments: tuple[Any, ...]) -> None:
    with pytest.raises(ValueError) as caught:
        HyperBand(_scope(), SPACE, *arguments, track=False)
    assert isinstance(caught.value, ConfigError)


def test_a_tracker_must_be_a_sql_logger(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="tracker must be an ato SQLLogger"):
        HyperBand(_scope(), SPACE, 0.5, 2, object())
    logger = SQLLogger(ADict(experiment=ADict(project_name="p", sql=ADict(db_path=f"sqlite:///{tmp_path / 'e.db'}"))))
    with pytest.raises(ValueError, match="track=False records nothing"):
        HyperBand(_scope(), SPACE, 0.5, 2, logger, track=False)
    logger.close()


# -- the tracker ----------------------------------------------------------------------------------
TRACKED = """
from ato.adict import ADict
from ato.db_routers.sql.manager import SQLLogger
from ato.hyperopt.hyperband import HyperBand
from ato.scope import Scope

scope = Scope()

@scope.observe(default=True)
def defaults(config):
    config.experiment = ADict(project_name='search', sql=ADict(db_path='sqlite:///search.db'))

search_spaces = ADict(
    x=ADict(param_type='INTEGER', param_range=(0, 9), num_samples=10),
    kind=ADict(param_type='CATEGORY', categories=['a', 'b']),
)

# Record the search into my own tracker (another database, another project)
tracker = SQLLogger(ADict(experiment=ADict(project_name='tracked', sql=ADict(db_path='sqlite:///tracked.db'))))
hyperband = HyperBand(scope, search_spaces, 0.5, 2, tracker, 'max')

@hyperband.main
def train(config):
    return config.x + (0.5 if config.kind == 'b' else 0)

if __name__ == '__main__':
    result = train()                        # a run of its own, tagged hyperband, finished
    print('first', result.run_id, tracker.state.value)
    tracker.run(tags=['mine'])              # a run of mine: the search joins it
    tracker.log_metric('before', 1.0)
    again = train()
    tracker.log_metric('after', 2.0)        # still mine, still running
    print('second', again.run_id, tracker.state.value)
    tracker.finish()
    tracker.close()
"""


def test_the_search_records_into_the_tracker_given(tmp_path: Path) -> None:
    out = run_script(tmp_path, TRACKED).stdout.splitlines()
    assert out == ["first 1 idle", "second 2 running"]
    assert not (tmp_path / "search.db").exists()  # the scope config's database was not used
    with SQLFinder(f"sqlite:///{tmp_path / 'tracked.db'}") as finder:
        first, second = finder.find_run(1), finder.find_run(2)
        assert (first.project, first.tags, first.status) == ("tracked", ["hyperband"], "completed")
        assert (second.tags, second.status) == (["mine"], "completed")
        assert sorted(second.metric_summaries) == ["after", "before"]
        for run in (1, 2):
            searches = finder.get_run_events(run).searches
            assert len(searches) == 1
            events = next(iter(searches.values()))
            trials = [e for e in events if type(e).__name__ == "TrialRecorded"]
            assert len(trials) == sum(HalvingSchedule.round_sizes(20, 0.5, 2))


def test_without_a_tracker_the_search_uses_the_scope_configs_database(tmp_path: Path) -> None:
    script = TRACKED.split("# Record the search")[0] + """
hyperband = HyperBand(scope, search_spaces, 0.5, 2, None, 'max')

@hyperband.main
def train(config):
    return config.x

print(train().run_id)
"""
    assert run_script(tmp_path, script).stdout.split() == ["1"]
    with SQLFinder(f"sqlite:///{tmp_path / 'search.db'}") as finder:
        run = finder.find_run(1)
        assert (run.project, run.tags, run.status) == ("search", ["hyperband"], "completed")


def test_a_closed_tracker_fails_before_any_trial(tmp_path: Path) -> None:
    logger = SQLLogger(ADict(experiment=ADict(project_name="p", sql=ADict(db_path=f"sqlite:///{tmp_path / 'e.db'}"))))
    logger.close()
    hyperband = HyperBand(_scope(), SPACE, 0.5, 2, logger)
    calls = []

    @hyperband.main
    def objective(config):  # type: ignore[no-untyped-def]
        calls.append(config)
        return 0.0

    with pytest.raises(TrackerError):  # the logger is closed
        objective()
    assert calls == [] and logger.state is LoggerState.CLOSED


# -- num_generations and the step schedule -----------------------------------------------------------
# What the real ato 2.1.7 returned: (grid size, halving_rate, num_min_samples, max_steps) ->
# (num_generations(), compute_optimized_initial_training_steps(max_steps)).
GIVEN_BY_2_1_7 = [
    ((300, 0.3, 3, 100), (4, [3, 9, 31, 100])),
    ((20, 0.5, 2, 100), (4, [13, 25, 50, 100])),
    ((20, 0.3, 3, 100), (2, [30, 100])),
    ((3, 0.3, 3, 10), (0, [10])),
    ((2, 0.5, 3, 10), (0, [10])),
    ((100, 0.5, 1, 1000), (7, [16, 32, 63, 125, 250, 500, 1000])),
    ((1000, 0.25, 4, 81), (4, [2, 6, 21, 81])),
    ((27, 1 / 3, 1, 27), (3, [3, 9, 27])),
    ((64, 0.5, 1, 64), (6, [2, 4, 8, 16, 32, 64])),
    ((7, 0.9, 1, 5), (19, [1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 5, 5, 5])),
]


def _hyperband_of_size(size: int, rate: float, minimum: int) -> HyperBand:
    space = {"x": {"param_type": "CATEGORY", "categories": list(range(size))}}
    return HyperBand(_scope(), space, rate, minimum, track=False)


@pytest.mark.parametrize(("case", "expected"), GIVEN_BY_2_1_7)
def test_the_step_schedule_is_2_1_7s(case: tuple[int, float, int, int], expected: tuple[int, list[int]]) -> None:
    size, rate, minimum, steps = case
    hyperband = _hyperband_of_size(size, rate, minimum)
    assert (hyperband.num_generations(), hyperband.compute_optimized_initial_training_steps(steps)) == expected


NUM_GENERATIONS_IN_2_1_7 = """
import json, sys
from ato.hyperopt.hyperband import HyperBand
out = []
for size, rate, minimum, steps in json.load(sys.stdin):
    hyperband = object.__new__(HyperBand)
    hyperband.distributions, hyperband.halving_rate, hyperband.num_min_samples = [None] * size, rate, minimum
    out.append([hyperband.num_generations(), hyperband.compute_optimized_initial_training_steps(steps)])
print(json.dumps(out))
"""

CASES = st.tuples(
    st.integers(1, 3000), st.floats(0.01, 0.99), st.integers(1, 40), st.integers(1, 100_000),
)


@pytest.mark.slow
@settings(max_examples=4)
@given(cases=st.lists(CASES, min_size=50, max_size=120))
def test_the_step_schedule_matches_the_real_2_1_7(tmp_path_factory: pytest.TempPathFactory,
                                                  cases: list[tuple[int, float, int, int]]) -> None:
    folder = tmp_path_factory.mktemp("reference")
    expected = _run_reference(folder, NUM_GENERATIONS_IN_2_1_7, json.dumps(cases))
    for (size, rate, minimum, steps), (generations, schedule) in zip(cases, expected):
        hyperband = object.__new__(HyperBand)  # the grid's size is all that counts: skip building one
        hyperband.grid, hyperband.halving_rate, hyperband.num_min_samples = [{}] * size, rate, minimum
        assert hyperband.num_generations() == generations, (size, rate, minimum)
        assert hyperband.compute_optimized_initial_training_steps(steps) == schedule, (size, rate, minimum, steps)


def test_num_generations_against_num_rounds() -> None:
    """2.1.7's halving rounds are num_generations; Ato's last round stands for its final run."""
    hyperband = _hyperband_of_size(300, 0.3, 3)
    assert hyperband.num_generations() == 4 and hyperband.schedule_sizes == [300, 90, 27, 8, 2]
    assert hyperband.num_rounds == 5 and hyperband.budget(100) == [1, 3, 9, 30, 100]
    assert len(hyperband.compute_optimized_initial_training_steps(100)) == hyperband.num_generations()


# -- the result and its logs -------------------------------------------------------------------------
SEARCH = """
import json
from ato.adict import ADict
from ato.hyperopt.hyperband import HyperBand
from ato.scope import Scope

scope = Scope()

@scope.observe(default=True)
def defaults(config):
    config.experiment = ADict(project_name='search')

search_spaces = ADict(
    x=ADict(param_type='INTEGER', param_range=(0, 9), num_samples=10),
    kind=ADict(param_type='CATEGORY', categories=['a', 'b']),
)
hyperband = HyperBand(scope, search_spaces, 0.5, 2, None, 'max')

@hyperband.main
def train(config):
    bonus = 0.3 if config.kind == 'b' else 0.0
    return -(config.x - 6) ** 2 + bonus + 0.001 * config.x + 0.01 * config.__num_halved__

if __name__ == '__main__':
    result = train()
    assert result['config'] is result.config and result['logs'] is result.logs and result['metric'] == result.metric
    assert result.config.__metric__ == result.metric
    print(json.dumps({
        'logs': [[[c.x, c.kind, c.__metric__, c.__num_halved__] for c in round_] for round_ in result.logs],
        'config': [result.config.x, result.config.kind, result.config.__num_halved__],
        'metric': result.metric,
        'num_generations': hyperband.num_generations(),
        'hyperopt_ids': sorted({c.__hyperopt_id__ for round_ in result.logs for c in round_}),
    }))
"""


def test_logs_are_the_rounds_best_first_then_the_winner(tmp_path: Path) -> None:
    ours = json.loads(run_script(tmp_path, SEARCH).stdout.strip().splitlines()[-1])
    rounds, last = ours["logs"][:-1], ours["logs"][-1]
    assert [len(r) for r in rounds] == HalvingSchedule.round_sizes(20, 0.5, 2) == [20, 10, 5, 2]
    for index, round_ in enumerate(rounds):
        metrics = [entry[2] for entry in round_]
        assert metrics == sorted(metrics, reverse=True)
        assert {entry[3] for entry in round_} == {index}  # the __num_halved__ each ran with
    assert last == [rounds[-1][0]] and ours["config"] == [6, "b", 3] and ours["metric"] == last[0][2]
    assert len(ours["hyperopt_ids"]) == 1  # one search, one id in every config


def test_logs_match_the_real_2_1_7(tmp_path: Path) -> None:
    """The same script under both: the same rounds, the same configs in the same order with the
    same metrics; 2.1.7 then runs its best config once more (``__num_halved__`` 4)."""
    reference = _run_reference(tmp_path, SEARCH)
    ours = json.loads(run_script(tmp_path, SEARCH).stdout.strip().splitlines()[-1])
    assert len(reference["logs"]) == len(ours["logs"]) == 5
    for theirs, mine in zip(reference["logs"][:-1], ours["logs"][:-1]):
        assert [entry[:3] for entry in theirs] == [entry[:3] for entry in mine]
    assert reference["config"][:2] == ours["config"][:2] == [6, "b"]
    assert reference["config"][2] == 4 and ours["config"][2] == 3  # 2.1.7's extra final run
    assert reference["num_generations"] == ours["num_generations"] == 4


def test_the_result_reads_like_2_1_7s_adict() -> None:
    hyperband = HyperBand(_scope(), SPACE, 0.5, 2, track=False)

    @hyperband.main
    def objective(config):  # type: ignore[no-untyped-def]
        return config.x

    result = objective()
    assert isinstance(result, SearchResult)
    assert result.keys()[:3] == ["config", "metric", "logs"] and "logs" in result and "nope" not in result
    assert result.get("metric") == 9 and result.get("nope", 1) == 1 and dict(result)["trial"] == result.trial
    with pytest.raises(KeyError):
        result["nope"]
    assert result.config.__metric__ == 9 and result.config.__hyperopt_id__ == result.search_id


def test_failed_trials_are_in_the_logs_last_with_no_metric() -> None:
    hyperband = HyperBand(_scope(), SPACE, 0.5, 1, track=False)

    @hyperband.main
    def objective(config):  # type: ignore[no-untyped-def]
        if config.x == 9:
            raise RuntimeError("diverged")
        return math.nan if config.x == 8 else config.x

    first = objective().logs[0]
    assert [c.__metric__ for c in first[-4:]] == [None] * 4
    assert {(c.x, c.kind) for c in first[-4:]} == {(8, "a"), (8, "b"), (9, "a"), (9, "b")}


# -- calling the objective ----------------------------------------------------------------------------
def test_the_config_goes_where_the_scope_would_put_it() -> None:
    seen = []
    hyperband = HyperBand(_scope(), SPACE, 0.5, 10, track=False)

    @hyperband.main
    def with_epochs(config, epochs):  # type: ignore[no-untyped-def]
        seen.append((config.x, epochs))
        return config.x

    assert with_epochs(3).config.x == 9 and seen[0] == (0, 3)

    @hyperband.main
    def keyword_only(*, config, epochs=1):  # type: ignore[no-untyped-def]
        return config.x * epochs

    assert keyword_only(epochs=2).metric == 18

    @hyperband.main
    def no_config(value):  # type: ignore[no-untyped-def]
        return value

    assert no_config(5).metric == 5  # called with the caller's arguments only, as in 2.1.7


def test_every_trial_goes_through_estimate_single_run() -> None:
    class Doubled(HyperBand):
        def estimate_single_run(self, estimator, config, *args, **kwargs):  # type: ignore[no-untyped-def]
            return 2 * super().estimate_single_run(estimator, config, *args, **kwargs)

    hyperband = Doubled(_scope(), SPACE, 0.5, 2, track=False)

    @hyperband.main
    def objective(config):  # type: ignore[no-untyped-def]
        return config.x

    assert objective().metric == 18


# -- ato.hyperopt.base --------------------------------------------------------------------------------
def test_the_seed_paths_re_export_the_framework_classes() -> None:
    import ato.hyperopt.base as base
    import ato.hyperopt.framework as framework
    import ato.hyperopt.hyperband as hyperband

    for name in ("HyperOpt", "DistributedMixIn", "DistributedHyperOpt", "GridSpaceMixIn"):
        assert getattr(base, name) is getattr(framework, name) and getattr(framework, name).__module__ == framework.__name__
    for name in ("HyperOpt", "DistributedMixIn", "GridSpaceMixIn"):  # 2.1.7's hyperband module imported them
        assert getattr(hyperband, name) is getattr(framework, name)


def test_the_classes_are_built_as_in_2_1_7() -> None:
    assert issubclass(HyperBand, HyperOpt) and issubclass(HyperBand, GridSpaceMixIn)
    assert issubclass(DistributedHyperBand, DistributedMixIn) and issubclass(DistributedHyperBand, HyperBand)
    assert issubclass(DistributedHyperOpt, DistributedMixIn) and issubclass(DistributedHyperOpt, HyperOpt)
    with pytest.raises(NotImplementedError):
        HyperOpt(_scope(), SPACE).main(lambda config: 0)
    with pytest.raises(ValueError, match="mode"):
        HyperOpt(_scope(), SPACE, None, "best")
    assert len(HyperOpt.get_hyperopt_id()) == 36


OWN_SEARCH = """
import random
from ato.adict import ADict
from ato.hyperopt.base import GridSpaceMixIn, HyperOpt
from ato.scope import Scope

scope = Scope()

@scope.observe(default=True)
def defaults(config):
    config.epochs = 3

class RandomSearch(HyperOpt, GridSpaceMixIn):
    def __init__(self, scope, search_spaces, num_trials, tracker=None, mode='max'):
        super().__init__(scope, search_spaces, tracker, mode)
        self.num_trials = num_trials

    def main(self, func):
        def launch():
            configs = self.prepare_distributions(self.config, self.search_spaces)
            chosen = random.Random(0).sample(configs, self.num_trials)
            scored = [(scope(func)(**{scope.name: c}), c) for c in chosen]
            best = max(scored, key=lambda item: item[0]) if self.mode == 'max' else min(scored, key=lambda item: item[0])
            return ADict(config=best[1], metric=best[0])
        return launch

search = RandomSearch(scope, ADict(lr=ADict(param_type='FLOAT', param_range=(0.1, 0.5), num_samples=5)), 5)

@search.main
def train(config):
    return -abs(config.lr - 0.3) * config.epochs

result = train()
print(round(result.config.lr, 6), result.config.epochs)
"""


def test_a_search_of_ones_own_built_on_the_base_classes(tmp_path: Path) -> None:
    assert run_script(tmp_path, OWN_SEARCH).stdout.split() == ["0.3", "3"]


def test_prepare_distributions_gives_2_1_7s_values() -> None:
    def values(space: dict[str, Any]) -> list[Any]:
        return [d.x for d in GridSpaceMixIn.prepare_distributions(ADict(a=1), {"x": space})]

    assert values({"param_type": "INTEGER", "param_range": (16, 128), "num_samples": 5, "space_type": "LOG"}) == [16, 26, 45, 76, 128]
    assert values({"param_type": "INTEGER", "param_range": (1, 1000), "num_samples": 4, "space_type": "LOG", "base": 10}) == [1, 9, 99, 999]
    assert values({"param_type": "INTEGER", "param_range": (-5, 5), "num_samples": 4}) == [-5, -2, 1, 5]
    assert values({"param_type": "INTEGER", "param_range": (1, 3), "num_samples": 6}) == [1, 1, 1, 2, 2, 3]
    assert values({"param_type": "FLOAT", "param_range": (1e-4, 1e-1), "num_samples": 4, "space_type": "LOG"}) == [
        9.999999747378752e-05, 0.0010000000474974513, 0.009999999776482582, 0.10000000149011612]
    assert values({"param_type": "FLOAT", "param_range": (0, 1), "num_samples": 1}) == [0.0]
    assert values({"param_type": "CATEGORY", "categories": "xyz"}) == ["x", "y", "z"]
    base = ADict(a=1, x=0, nested=ADict(b=[1]))
    configs = GridSpaceMixIn.prepare_distributions(base, {"x": {"param_type": "CATEGORY", "categories": [1, 2]}})
    assert configs == [{"a": 1, "x": 1, "nested": {"b": [1]}}, {"a": 1, "x": 2, "nested": {"b": [1]}}]
    configs[0].nested.b.append(2)
    assert base.nested.b == [1] and configs[1].nested.b == [1]  # copies, as 2.1.7's deepcopy
    first = HyperBand.prepare_distributions(base, {"x": {"param_type": "CATEGORY", "categories": [1, 2]}})
    assert [c.__num_halved__ for c in first] == [0, 0]


def test_hyperband_searches_ato_values_unless_told_otherwise() -> None:
    space = {"n": {"param_type": "INTEGER", "param_range": (1, 1000), "num_samples": 4, "space_type": "LOG", "base": 10},
             "lr": {"param_type": "FLOAT", "param_range": (1e-4, 1e-1), "num_samples": 4, "space_type": "LOG"},
             "k": {"param_type": "INTEGER", "param_range": (1, 3), "num_samples": 6}}
    hyperband = HyperBand(_scope(), space, 0.5, 1, track=False)
    assert sorted({p["n"] for p in hyperband.grid}) == [1, 10, 100, 1000]
    assert sorted({p["lr"] for p in hyperband.grid}) == [0.0001, 0.001, 0.01, 0.1]
    assert sorted({p["k"] for p in hyperband.grid}) == [1, 2, 3] and len(hyperband.grid) == 48
    assert [(d.n, d.lr, d.k) for d in hyperband.distributions] == [(p["n"], p["lr"], p["k"]) for p in hyperband.grid]

    class AsIn217(HyperBand):
        space_numerics = "2.1.7"

    exact = AsIn217(_scope(), space, 0.5, 1, track=False)
    assert len(exact.grid) == 96 and exact.grid[-1] == {"n": 999, "lr": 0.10000000149011612, "k": 3}


PREPARE_IN_2_1_7 = """
import json, sys
from ato.adict import ADict
from ato.hyperopt.base import GridSpaceMixIn
out = []
for spaces in json.load(sys.stdin):
    spaces = ADict({name: ADict(space) for name, space in spaces.items()})
    out.append([dict(c) for c in GridSpaceMixIn.prepare_distributions(ADict(base=1), spaces)])
print(json.dumps(out))
"""


@st.composite
def _spaces(draw: st.DrawFn) -> dict[str, Any]:
    def one() -> dict[str, Any]:
        kind = draw(st.sampled_from(["INTEGER", "FLOAT", "CATEGORY"]))
        if kind == "CATEGORY":
            return {"param_type": draw(st.sampled_from(["CATEGORY", "category"])),
                    "categories": draw(st.lists(st.one_of(st.integers(-5, 5), st.text("abc", max_size=2)), min_size=1, max_size=4))}
        space: dict[str, Any] = {"param_type": kind, "num_samples": draw(st.integers(1, 9))}
        if draw(st.booleans()):
            low = draw(st.floats(1e-6, 1e3)) if kind == "FLOAT" else draw(st.integers(1, 1000))
            high = low * draw(st.floats(1.0, 1e4)) if kind == "FLOAT" else low + draw(st.integers(0, 100_000))
            space.update(space_type="LOG", param_range=[low, high])
            if draw(st.booleans()):
                space["base"] = draw(st.sampled_from([2, 3, 10, math.e]))
        else:
            low = draw(st.floats(-1e4, 1e4)) if kind == "FLOAT" else draw(st.integers(-1000, 1000))
            high = low + (draw(st.floats(0, 1e4)) if kind == "FLOAT" else draw(st.integers(0, 5000)))
            space["param_range"] = [low, high]
            if draw(st.booleans()):
                space["space_type"] = "LINEAR"
        return space

    return {f"p{index}": one() for index in range(draw(st.integers(1, 3)))}


@pytest.mark.slow
@settings(max_examples=4)
@given(batch=st.lists(_spaces(), min_size=30, max_size=60))
def test_prepare_distributions_matches_the_real_2_1_7(tmp_path_factory: pytest.TempPathFactory,
                                                      batch: list[dict[str, Any]]) -> None:
    expected = _run_reference(tmp_path_factory.mktemp("reference"), PREPARE_IN_2_1_7, json.dumps(batch))
    for spaces, theirs in zip(batch, expected):
        ours = json.loads(json.dumps([dict(c) for c in GridSpaceMixIn.prepare_distributions(ADict(base=1), spaces)]))
        assert ours == theirs, spaces


# -- DistributedHyperBand ----------------------------------------------------------------------------
DISTRIBUTED = """
import json
import torch.distributed as dist
from ato.adict import ADict
from ato.hyperopt.hyperband import DistributedHyperBand
from ato.scope import Scope

scope = Scope()

@scope.observe(default=True)
def defaults(config):
    config.experiment = ADict(project_name='dist')

dist.init_process_group(backend='gloo')
rank = dist.get_rank()
world_size = dist.get_world_size()

search_spaces = ADict(
    x=ADict(param_type='INTEGER', param_range=(0, 9), num_samples=10),
    kind=ADict(param_type='CATEGORY', categories=['a', 'b']),
)
# 2.1.7's positional order: ..., tracker, mode, rank, world_size, backend
hyperband = DistributedHyperBand(scope, search_spaces, 0.5, 2, None, 'max', rank, world_size, 'pytorch')

@hyperband.main
def train(config):
    bonus = 0.3 if config.kind == 'b' else 0.0
    return -(config.x - 6) ** 2 + bonus + 0.001 * config.x + 0.01 * config.__num_halved__

if __name__ == '__main__':
    result = train()
    print(json.dumps({
        'rank': rank, 'is_root': hyperband.is_root,
        'from_root': hyperband.broadcast_object_from_root(rank), 'gathered': hyperband.all_gather_object(rank),
        'logs': [[[c.x, c.kind, c.__metric__, c.__num_halved__] for c in round_] for round_ in result.logs],
        'config': [result.config.x, result.config.kind, result.config.__num_halved__], 'metric': result.metric,
    }))
    hyperband.destroy()
    print(json.dumps({'destroyed': not dist.is_initialized()}))
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
def test_distributed_hyperband_in_2_1_7s_order_gives_the_local_result(tmp_path: Path) -> None:
    pytest.importorskip("torch.distributed")
    script = tmp_path / "dist.py"
    script.write_text(DISTRIBUTED)
    port = str(_free_port())
    processes = [
        subprocess.Popen(
            [sys.executable, str(script)], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": port, "RANK": str(rank), "WORLD_SIZE": "2"},
        )
        for rank in range(2)
    ]
    outputs = []
    for process in processes:
        stdout, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, stderr
        lines = stdout.strip().splitlines()
        assert json.loads(lines[-1]) == {"destroyed": True}
        outputs.append(json.loads(lines[-2]))
    local = json.loads(run_script(tmp_path, SEARCH).stdout.strip().splitlines()[-1])
    for rank, output in enumerate(outputs):
        assert (output["rank"], output["is_root"], output["from_root"], output["gathered"]) == (rank, rank == 0, 0, [0, 1])
        assert (output["logs"], output["config"], output["metric"]) == (local["logs"], local["config"], local["metric"])


def test_distributed_settings_are_checked_when_created() -> None:
    pytest.importorskip("torch.distributed")
    with pytest.raises(ValueError, match="backend 'mpi' is not supported"):
        DistributedHyperBand(_scope(), SPACE, 0.5, 2, None, "max", 0, 1, "mpi")
    with pytest.raises(ValueError, match="rank 2 is outside world_size 2"):
        DistributedHyperBand(_scope(), SPACE, 0.5, 2, None, "max", 2, 2)

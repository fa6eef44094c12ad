"""No silent empty answers from the API: a question that names an unknown project, metric key or
run raises an AtoError that suggests the closest names; where nothing is known yet, the answer is
empty (None, an empty series), as documented. Runs are named by id or by uid prefix, unambiguously."""

from __future__ import annotations

import math
from pathlib import Path

import anyio
import pytest

from ato import ADict, AsyncSQLFinder, SQLFinder, SQLLogger
from ato.errors import (
    AtoError,
    UnknownMetricError,
    UnknownProjectError,
    UnknownRunError,
)
from ato.events.types import RunStarted
from ato.events.values import encode_value
from ato.projections.maintenance import open_store


def _log(config: ADict, metrics: dict[str, list[float]]) -> int:
    with SQLLogger(config) as logger:
        run_id = logger.run()
        for key, values in metrics.items():
            for step, value in enumerate(values):
                logger.log_metric(key, value, step)
    return run_id


def test_find_best_run_of_a_misspelled_key_names_the_projects_keys(config: ADict) -> None:
    _log(config, {"val_loss": [0.5, 0.4], "train_loss": [0.9]})
    with SQLFinder(config) as finder:
        with pytest.raises(UnknownMetricError, match=r"no metric 'val_los' in project 'proj'; did you mean 'val_loss'\?") as raised:
            finder.find_best_run("proj", "val_los", mode="min")
        assert raised.value.known == ["train_loss", "val_loss"] and raised.value.suggestions[0] == "val_loss"
        with pytest.raises(UnknownMetricError, match="the metrics are train_loss, val_loss"):
            finder.find_best_run("proj", "accuracy")
        assert finder.find_best_run("proj", "val_loss", mode="min").id == 1


def test_find_best_run_of_an_unknown_project_suggests_the_closest(config: ADict) -> None:
    _log(config, {"loss": [1.0]})
    with SQLFinder(config) as finder:
        with pytest.raises(UnknownProjectError, match=r"no project 'prj' in .*; did you mean 'proj'\?"):
            finder.find_best_run("prj", "loss")
        with pytest.raises(LookupError):  # the builtin it specialises
            finder.find_best_run("nothing like it", "loss")


def test_find_best_run_is_none_where_nothing_can_be_misspelled(config: ADict) -> None:
    """Documented Nones: a project none of whose runs logged a metric yet, and a known key with no
    finite value (a NaN never wins)."""
    with SQLLogger(config) as logger:
        logger.get_or_create_project()
    with SQLFinder(config) as finder:
        assert finder.find_best_run("proj", "loss") is None  # an empty project
    _log(config, {})
    _log(config, {"loss": [math.nan]})
    with SQLFinder(config) as finder:
        assert finder.find_best_run("proj", "loss") is None


def test_get_metrics_of_several_runs_raises_only_when_none_logged_the_key(config: ADict) -> None:
    first = _log(config, {"loss": [1.0, 0.5]})
    second = _log(config, {"acc": [0.1]})
    with SQLFinder(config) as finder:
        series = finder.get_metrics_of_runs([first, second], "loss")
        assert series[first] == [(0, 1.0), (1, 0.5)] and series[second] == []
        with pytest.raises(UnknownMetricError, match=f"no metric 'los' in runs {first}, {second}; did you mean 'loss'"):
            finder.get_metrics_of_runs([first, second], "los")


def test_get_project_raises_where_find_project_and_get_runs_in_project_keep_2_1_7s_answers(config: ADict) -> None:
    _log(config, {})
    with SQLFinder(config) as finder:
        assert finder.get_project("proj").name == "proj"
        with pytest.raises(UnknownProjectError, match="did you mean 'proj'"):
            finder.get_project("prof")
        assert finder.find_project("prof") is None and finder.get_runs_in_project("prof") == []
        with pytest.raises(UnknownProjectError):
            finder.get_trace_statistics("prof", "step")
        assert finder.get_trace_statistics("proj", "step")["runs"] == 0


def _runs_with_uids(db: Path, *uids: str) -> None:
    async def append() -> None:
        store = await open_store(db)
        try:
            await store.append([
                RunStarted(run=uid, project="p", config=encode_value({"lr": 0.1}), structural_hash="s") for uid in uids
            ])
        finally:
            await store.close()

    anyio.run(append)


def test_digits_name_a_local_id_and_uid_names_a_prefix(db: Path) -> None:
    _runs_with_uids(db, "1234" + "0" * 28, "abc1" + "0" * 28, "abc2" + "0" * 28, "9fff" + "0" * 28)
    with SQLFinder(str(db)) as finder:
        assert finder.find_run("1").uid.startswith("1234") and finder.find_run(2).uid.startswith("abc1")
        assert finder.find_run("1234") is None  # digits only: a local id, and there is no run 1234
        assert finder.find_run("uid:1234").id == 1 and finder.find_run("UID:12").id == 1
        assert finder.find_run("abc2").id == 3 and finder.find_run("ABC2").id == 3 and finder.find_run("uid:abc2").id == 3
        assert [run.id for run in finder.find_similar_runs("uid:1234")] == [2, 3, 4]
        assert finder.get_run_events("uid:9f").scopes == {}
        with pytest.raises(UnknownRunError, match=r"no run '1234' in .* \(it holds runs 1 to 4\); did you mean run 1 "
                                                  r"\(uid 123400000000\)\? \(a uid prefix of digits only is written uid:1234\)"):
            finder.get_run("1234")
        with pytest.raises(UnknownRunError, match=r"no run '123' in .* \(it holds runs 1 to 4\)$"):
            finder.get_run("123")  # under 4 digits: a run id, never a guess at a uid (one starts 123 here)
        with pytest.raises(UnknownRunError, match=r"no run 'abd1' .*; did you mean run 2 \(uid abc100000000\)") as raised:
            finder.get_metrics("abd1", "loss")
        assert raised.value.suggestions[0] == "2" and raised.value.missing


def test_an_ambiguous_prefix_is_an_error_listing_the_candidates(db: Path) -> None:
    _runs_with_uids(db, "abc1" + "0" * 28, "abc2" + "0" * 28)
    with SQLFinder(str(db)) as finder:
        for ref in ("abc", "uid:ab"):
            with pytest.raises(UnknownRunError, match=r"2 runs match the uid prefix .*: run 1 \(uid abc100000000\), "
                                                      r"run 2 \(uid abc200000000\); give more of the uid") as raised:
                finder.find_run(ref)
            assert raised.value.suggestions == ["1", "2"] and not raised.value.missing
        with pytest.raises(UnknownRunError, match="2 runs match"):
            finder.find_similar_runs("abc")  # never an empty answer for an ambiguous name


def test_an_unknown_run_in_an_empty_database_says_so(config: ADict, db: Path) -> None:
    with SQLLogger(config) as logger:
        logger.get_or_create_project()
    with SQLFinder(config) as finder:
        with pytest.raises(UnknownRunError, match=f"no run '1' in {db}: it holds no runs yet"):
            finder.get_run(1)
        assert finder.find_run(1) is None and finder.find_similar_runs(1) == []


def test_uid_names_work_wherever_a_run_is_named(config: ADict) -> None:
    run_id = _log(config, {"loss": [1.0, 0.5]})
    with SQLFinder(config) as finder:
        uid = finder.get_run(run_id).uid
        assert finder.get_metrics(f"uid:{uid[:10]}", "loss") == [(0, 1.0), (1, 0.5)]
        assert finder.get_metrics_of_runs([f"uid:{uid}"], "loss", 2)[run_id].total == 2
        assert finder.get_fingerprints(f"uid:{uid}") == finder.get_fingerprints(run_id)


def test_the_async_finder_raises_the_same_errors(config: ADict) -> None:
    _log(config, {"loss": [1.0]})

    async def ask() -> list[str]:
        messages = []
        async with AsyncSQLFinder(config) as finder:
            for call in (finder.find_best_run("proj", "los"), finder.get_metrics(1, "los"), finder.get_project("prj"),
                         finder.get_run(5)):
                try:
                    await call
                except AtoError as exc:
                    messages.append(f"{type(exc).__name__}: {exc}")
        return messages

    with SQLFinder(config) as finder:
        expected = []
        for call in (lambda: finder.find_best_run("proj", "los"), lambda: finder.get_metrics(1, "los"),
                     lambda: finder.get_project("prj"), lambda: finder.get_run(5)):
            with pytest.raises(AtoError) as raised:
                call()
            expected.append(f"{type(raised.value).__name__}: {raised.value}")
    assert anyio.run(ask) == expected
    assert [message.split(":")[0] for message in expected] == [
        "UnknownMetricError", "UnknownMetricError", "UnknownProjectError", "UnknownRunError"]


@pytest.mark.parametrize("ref", ["", "uid:", " "])
def test_an_empty_uid_prefix_names_no_run_even_where_one_run_exists(config: ADict, ref: str) -> None:
    with SQLLogger(config) as logger:
        logger.run()
    with SQLFinder(config) as finder:
        with pytest.raises(UnknownRunError, match="names no run: give a run id or the start of a uid"):
            finder.get_run(ref)

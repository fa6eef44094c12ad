"""Runs and metric points as pandas DataFrames: ``runs_frame`` (one row per run, the config
flattened, last/min/max/best per metric) and ``metrics_frame`` (long-form points from the series'
arrays), the same on ``SQLFinder`` and ``AsyncSQLFinder``; NaN stays NaN; unknown names raise;
without pandas, one line naming the extra."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import anyio
import numpy as np
import pandas as pd
import pytest

from ato import ADict, AsyncSQLFinder, SQLFinder, SQLLogger
from ato.errors import UnknownMetricError, UnknownProjectError, UnknownRunError
from ato.tracking.frames import RUN_COLUMNS

NAN, INF = math.nan, math.inf

# A small sweep: run 1 is the best by val/acc, run 2's loss went NaN at the end, run 3's loss
# never had a finite value; run 3 has no "warmup" key, and only run 1 logged "lr_now".
SWEEP = [
    {"depth": 2, "lr": 0.1, "optimizer": "sgd", "acc": [0.5, 0.9, 0.8], "loss": [1.0, 0.5, 0.25], "warmup": True},
    {"depth": 4, "lr": 0.01, "optimizer": "adam", "acc": [0.6, 0.7, 0.75], "loss": [0.9, 0.4, NAN], "warmup": False},
    {"depth": 8, "lr": 0.001, "optimizer": "adam_w", "acc": [0.1, 0.2, 0.3], "loss": [INF, NAN, INF]},
]


def sweep_config(db: Path, **values: object) -> ADict:
    config = ADict(experiment=ADict(project_name="sweep", sql=ADict(db_path=f"sqlite:///{db}")))
    config.model = ADict(depth=values["depth"], layers=[64] * int(values["depth"]))  # type: ignore[operator]
    config.lr = values["lr"]
    config.optimizer = ADict(name=values["optimizer"])
    if "warmup" in values:
        config.warmup = values["warmup"]
    return config


def log_sweep(db: Path) -> list[int]:
    """Log :data:`SWEEP` into ``db``; the run ids."""
    ids = []
    for index, values in enumerate(SWEEP):
        with SQLLogger(sweep_config(db, **values)) as logger:
            ids.append(logger.run(tags=["sweep", f"d{values['depth']}"]))
            for step, (acc, loss) in enumerate(zip(values["acc"], values["loss"])):  # type: ignore[call-overload]
                logger.log_metric("val/acc", acc, step)
                logger.log_metric("loss", loss, step)
            if index == 0:
                logger.log_metric("lr_now", 0.1, 0)
    return ids


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    db = tmp_path / "experiments.db"
    assert log_sweep(db) == [1, 2, 3]
    return db


def test_runs_frame_has_one_row_per_run_with_the_config_flattened(sweep: Path) -> None:
    with SQLFinder(sweep) as finder:
        frame = finder.runs_frame("sweep", metrics=["val/acc:max", "loss:min"])
        runs = finder.get_runs_in_project("sweep")
    assert list(frame.columns[:len(RUN_COLUMNS)]) == list(RUN_COLUMNS)
    assert frame["id"].tolist() == [1, 2, 3] and frame["uid"].tolist() == [run.uid for run in runs]
    assert frame["status"].tolist() == ["completed"] * 3 and frame["project"].tolist() == ["sweep"] * 3
    assert frame["tags"].tolist() == ["sweep,d2", "sweep,d4", "sweep,d8"]
    assert frame["host"].tolist() == [run.host for run in runs]
    # Flattened config: nested keys dotted, typed as pandas infers them, a list kept in one cell.
    assert frame["model.depth"].tolist() == [2, 4, 8] and frame["model.depth"].dtype == np.int64
    assert frame["lr"].tolist() == [0.1, 0.01, 0.001]
    assert frame["optimizer.name"].tolist() == ["sgd", "adam", "adam_w"]
    assert frame["model.layers"].tolist() == [[64, 64], [64] * 4, [64] * 8]
    assert frame["experiment.project_name"].tolist() == ["sweep"] * 3
    # Times: UTC datetimes of the recorded seconds; duration in seconds, the same subtraction.
    assert str(frame["started"].dtype) == "datetime64[ns, UTC]"
    assert [ts.timestamp() for ts in frame["started"]] == pytest.approx([run.started_at for run in runs], abs=1e-6)
    assert frame["duration"].tolist() == [run.finished_at - run.started_at for run in runs]  # type: ignore[operator]
    assert (frame["duration"] > 0).all()


def test_runs_frame_metric_columns_last_min_max_and_best_in_the_direction_given(sweep: Path) -> None:
    with SQLFinder(sweep) as finder:
        frame = finder.runs_frame("sweep", ["val/acc:max", "loss:min", "lr_now"])
        best = finder.find_best_run("sweep", "val/acc", "max")
    metric_columns = [column for column in frame.columns if ":" in column]
    assert metric_columns == [
        "val/acc:last", "val/acc:min", "val/acc:max", "val/acc:best",
        "loss:last", "loss:min", "loss:max", "loss:best",
        "lr_now:last", "lr_now:min", "lr_now:max",  # no direction given: no best column
    ]
    assert frame["val/acc:last"].tolist() == [0.8, 0.75, 0.3]
    assert frame["val/acc:min"].tolist() == [0.5, 0.6, 0.1]
    assert frame["val/acc:best"].tolist() == frame["val/acc:max"].tolist() == [0.9, 0.75, 0.3]
    assert best is not None and frame.loc[frame["val/acc:best"].idxmax(), "id"] == best.id
    assert frame["loss:best"].tolist()[:2] == [0.25, 0.4]
    assert all(frame[column].dtype == np.float64 for column in metric_columns)


def test_nan_stays_nan_and_what_is_missing_is_nan(sweep: Path) -> None:
    with SQLFinder(sweep) as finder:
        frame = finder.runs_frame("sweep", ["loss:min", "lr_now"])
    last = frame["loss:last"].tolist()
    assert last[0] == 0.25 and math.isnan(last[1]) and last[2] == INF  # as logged: NaN, inf
    # Run 3 never had a finite loss: no min, max or best; runs 2 and 3 never logged lr_now.
    assert math.isnan(frame["loss:min"][2]) and math.isnan(frame["loss:best"][2])
    assert frame["loss:max"].tolist()[:2] == [1.0, 0.9]
    assert frame["lr_now:last"].tolist()[0] == 0.1 and frame["lr_now:last"][1:].isna().all()
    # A config key some runs lack is missing there.
    assert frame["warmup"].tolist()[:2] == [True, False] and pd.isna(frame["warmup"][2])


def test_metrics_none_asks_for_every_key_without_guessing_a_direction(sweep: Path) -> None:
    with SQLFinder(sweep) as finder:
        frame = finder.runs_frame("sweep")
    assert [column for column in frame.columns if ":" in column] == [
        f"{key}:{stat}" for key in ("loss", "lr_now", "val/acc") for stat in ("last", "min", "max")
    ]


def test_a_config_key_named_like_a_run_column_is_prefixed(tmp_path: Path) -> None:
    db = tmp_path / "experiments.db"
    config = ADict(experiment=ADict(project_name="p", sql=ADict(db_path=f"sqlite:///{db}")), status="ablation",
                   id=7, extra=ADict(), pair=(1, 2))
    with SQLLogger(config) as logger:
        logger.run()
    with SQLFinder(db) as finder:
        frame = finder.runs_frame("p")
    assert frame["status"].tolist() == ["completed"] and frame["config.status"].tolist() == ["ablation"]
    assert frame["id"].tolist() == [1] and frame["config.id"].tolist() == [7]
    assert frame["pair"].tolist() == [(1, 2)] and frame["extra"].tolist() == [{}]  # one cell each


def test_a_running_run_has_no_finish_and_no_duration(sweep: Path, tmp_path: Path) -> None:
    with SQLLogger(sweep_config(sweep, depth=16, lr=0.5, optimizer="sgd")) as logger:
        logger.run()
        logger.log_metric("val/acc", 0.1, 0)
        logger.flush()
        with SQLFinder(sweep) as finder:
            frame = finder.runs_frame("sweep", ["val/acc:max"])
    assert frame["status"].tolist()[-1] == "running" and pd.isna(frame["finished"].iloc[-1])
    assert math.isnan(frame["duration"].iloc[-1]) and frame["val/acc:best"].iloc[-1] == 0.1


def test_unknown_project_and_metric_raise_with_suggestions(sweep: Path) -> None:
    with SQLFinder(sweep) as finder:
        with pytest.raises(UnknownProjectError, match="did you mean 'sweep'"):
            finder.runs_frame("swep")
        with pytest.raises(UnknownMetricError, match=r"no metric 'val/ac' in project 'sweep'; did you mean 'val/acc'"):
            finder.runs_frame("sweep", ["loss", "val/ac:max"])
        with pytest.raises(UnknownMetricError, match="did you mean 'loss'"):
            finder.metrics_frame([1, 2], ["los"])
        with pytest.raises(UnknownRunError):
            finder.metrics_frame([1, 99], "loss")


def test_a_project_without_metrics_has_nan_columns_for_a_requested_key(tmp_path: Path) -> None:
    db = tmp_path / "experiments.db"
    with SQLLogger(sweep_config(db, depth=1, lr=0.1, optimizer="sgd")) as logger:
        logger.run()
    with SQLFinder(db) as finder:
        frame = finder.runs_frame("sweep", ["acc:max"])  # nothing logged yet: nothing to misspell
    assert frame["acc:best"].isna().all() and len(frame) == 1


def test_metrics_frame_is_long_form_in_run_key_step_order(sweep: Path) -> None:
    with SQLFinder(sweep) as finder:
        frame = finder.metrics_frame([1, 2, 3], ["val/acc", "loss"])
        series = {(run, key): finder.get_metrics(run, key) for run in (1, 2, 3) for key in ("val/acc", "loss")}
    assert list(frame.columns) == ["run", "key", "step", "value", "timestamp"]
    assert frame["run"].dtype == np.int64 and frame["step"].dtype == np.int64 and frame["value"].dtype == np.float64
    assert isinstance(frame["key"].dtype, pd.CategoricalDtype) and list(frame["key"].cat.categories) == ["val/acc", "loss"]
    assert str(frame["timestamp"].dtype) == "datetime64[ns, UTC]"
    assert list(dict.fromkeys(zip(frame["run"], frame["key"]))) == list(series)
    for (run, key), one in series.items():
        part = frame[(frame["run"] == run) & (frame["key"] == key)]
        assert part["step"].tolist() == one.steps.tolist()
        np.testing.assert_array_equal(part["value"].to_numpy(), one.values)  # NaN where NaN, inf where inf
        expected = pd.to_datetime(one.timestamps, unit="s", utc=True)
        assert part["timestamp"].tolist() == list(expected)
    loss_of_3 = frame[(frame["run"] == 3) & (frame["key"] == "loss")]["value"].tolist()
    assert loss_of_3[0] == INF and math.isnan(loss_of_3[1])


def test_metrics_frame_takes_run_objects_uid_prefixes_a_frame_column_and_every_key(sweep: Path) -> None:
    with SQLFinder(sweep) as finder:
        runs = finder.get_runs_in_project("sweep")
        by_ids = finder.metrics_frame([1, 2, 3])
        by_objects = finder.metrics_frame(runs)
        by_uids = finder.metrics_frame([f"uid:{run.uid[:12]}" for run in runs])
        by_column = finder.metrics_frame(finder.runs_frame("sweep")["id"])
        one = finder.metrics_frame(2, "loss")
        none = finder.metrics_frame([], "loss")
    assert list(by_ids["key"].cat.categories) == ["loss", "lr_now", "val/acc"]  # None: every key, by name
    for other in (by_objects, by_uids, by_column):
        pd.testing.assert_frame_equal(other, by_ids)
    assert set(one["run"]) == {2} and len(one) == 3
    assert len(none) == 0 and list(none.columns) == ["run", "key", "step", "value", "timestamp"]


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_the_async_finder_gives_the_same_frames(sweep: Path, backend: str) -> None:
    async def frames() -> tuple[pd.DataFrame, pd.DataFrame]:
        async with AsyncSQLFinder(sweep) as finder:
            return await finder.runs_frame("sweep", ["val/acc:max"]), await finder.metrics_frame([1, 3], "loss")

    runs, points = anyio.run(frames, backend=backend)
    with SQLFinder(sweep) as finder:
        pd.testing.assert_frame_equal(runs, finder.runs_frame("sweep", ["val/acc:max"]))
        pd.testing.assert_frame_equal(points, finder.metrics_frame([1, 3], "loss"))


def test_without_pandas_the_frames_say_which_extra_to_install(sweep: Path, tmp_path: Path) -> None:
    script = f"""
import sys
sys.modules["pandas"] = None  # as if it were not installed
import ato
from ato.tracking.frames import MissingExtraError
finder = ato.SQLFinder({str(sweep)!r})
print(len(finder.get_runs_in_project("sweep")))  # the rest of the finder works
for ask in (lambda: finder.runs_frame("sweep"), lambda: finder.metrics_frame([1], "loss")):
    try:
        ask()
    except MissingExtraError as error:
        assert isinstance(error, ImportError)
        print(error)
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "3",
        "SQLFinder.runs_frame needs pandas, which is not installed: pip install 'ato[export]'",
        "SQLFinder.metrics_frame needs pandas, which is not installed: pip install 'ato[export]'",
    ]


def test_the_finder_imports_pandas_only_when_a_frame_is_asked_for(tmp_path: Path) -> None:
    script = "import sys, ato.tracking.finder, ato.cli.main; print('pandas' in sys.modules, 'pyarrow' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "False"]


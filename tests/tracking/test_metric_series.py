"""get_metrics returns arrays (and still reads as (step, value) pairs); max_points downsamples."""

from __future__ import annotations

import math
import struct

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ato.config.adict import ADict
from ato.db_routers.sql.manager import SQLFinder, SQLLogger
from ato.errors import QueryError, UnknownMetricError
from ato.projections.series import MetricSeries, downsample


def _log(config: ADict, values: list[float], key: str = "loss", steps: list[int] | None = None) -> int:
    with SQLLogger(config, batch_size=97) as logger:  # several chunks
        run_id = logger.run()
        for index, value in enumerate(values):
            logger.log_metric(key, value, None if steps is None else steps[index])
    return run_id


def test_get_metrics_gives_arrays_in_step_order_and_reads_as_the_old_list(config: ADict) -> None:
    steps = [5, 1, 3, 1, 0, 9]  # out of order, step 1 twice: log order kept within a step
    values = [0.5, 0.1, 0.3, -0.0, math.nan, 1e308]
    run_id = _log(config, values, steps=steps)
    with SQLFinder(config) as finder:
        series = finder.get_metrics(run_id, "loss")
    assert isinstance(series, MetricSeries) and len(series) == 6 and not series.downsampled
    assert series.steps.dtype == np.int64 and series.values.dtype == np.float64
    assert series.steps.tolist() == [0, 1, 1, 3, 5, 9]
    assert [struct.pack("<d", v) for v in series.values.tolist()] == [
        struct.pack("<d", v) for v in (math.nan, 0.1, -0.0, 0.3, 0.5, 1e308)
    ]  # bit for bit: NaN and -0.0 kept
    assert len(series.timestamps) == 6 and bool(np.all(series.timestamps > 1.6e9))
    pairs = list(series)
    assert pairs[1:] == [(1, 0.1), (1, -0.0), (3, 0.3), (5, 0.5), (9, 1e308)] and series[1] == (1, 0.1)
    assert series[1:3] == [(1, 0.1), (1, -0.0)] and series[-1] == (9, 1e308)
    assert [type(x) for x in pairs[0]] == [int, float]


def test_an_unknown_key_raises_naming_the_runs_keys(config: ADict) -> None:
    run_id = _log(config, [1.0])
    with SQLFinder(config) as finder:
        with pytest.raises(UnknownMetricError, match=f"no metric 'los' in run {run_id}; did you mean 'loss'"):
            finder.get_metrics(run_id, "los")


def test_a_run_that_logged_no_metric_yet_has_empty_series(config: ADict) -> None:
    with SQLLogger(config) as logger:
        run_id = logger.run()
    with SQLFinder(config) as finder:
        assert finder.get_metrics(run_id, "loss") == [] and len(finder.get_metrics(run_id, "loss")) == 0


def test_max_points_keeps_first_last_and_each_buckets_extremes(config: ADict) -> None:
    values = [math.sin(step / 50) for step in range(10_000)]
    values[4321] = 50.0  # a spike the plot must not lose
    values[777] = -50.0
    run_id = _log(config, values)
    with SQLFinder(config) as finder:
        full = finder.get_metrics(run_id, "loss")
        sampled = finder.get_metrics(run_id, "loss", max_points=200)
    assert sampled.downsampled and sampled.total == 10_000 and len(sampled) <= 200
    assert sampled[0] == full[0] and sampled[-1] == full[-1]
    assert (4321, 50.0) in list(sampled) and (777, -50.0) in list(sampled)
    assert sampled.values.max() == full.values.max() and sampled.values.min() == full.values.min()
    assert bool(np.all(np.diff(sampled.steps) > 0))  # still in step order, no point twice


@given(st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=1, max_size=300), st.integers(2, 40))
def test_a_downsample_is_a_subsequence_with_the_range_of_the_whole(values: list[float], max_points: int) -> None:
    array = np.asarray(values, dtype=np.float64)
    series = MetricSeries(1, "k", np.arange(len(values), dtype=np.int64), array, np.zeros(len(values)))
    sampled = downsample(series, max_points)
    assert len(sampled) == min(len(values), len(sampled)) and len(sampled) <= max(max_points, len(values) * (len(values) <= max_points))
    index = sampled.steps.tolist()
    assert index == sorted(set(index)) and index[0] == 0 and index[-1] == len(values) - 1
    assert [struct.pack("<d", v) for v in sampled.values.tolist()] == [struct.pack("<d", values[i]) for i in index]
    if not np.isnan(array).all() and len(values) > max_points >= 4:  # at least one bucket
        assert np.nanmax(sampled.values) == np.nanmax(array) and np.nanmin(sampled.values) == np.nanmin(array)


def test_several_runs_at_once(config: ADict) -> None:
    first = _log(config, [1.0, 2.0, 3.0])
    second = _log(config, [4.0] * 50)
    with SQLFinder(config) as finder:
        both = finder.get_metrics_of_runs([first, second], "loss", max_points=10)
        with pytest.raises(QueryError, match="max_points must be an int of at least 2"):
            finder.get_metrics(first, "loss", max_points=1)
        with pytest.raises(QueryError, match="run_ids must be a list"):
            finder.get_metrics_of_runs("12", "loss")
    assert list(both) == [first, second]
    assert both[first] == [(0, 1.0), (1, 2.0), (2, 3.0)] and len(both[second]) <= 10 and both[second].total == 50

"""A long curve is downsampled from its batches' summaries, without decoding the points between
its first and last batch; where the summaries cannot say (batches overlapping in steps), the
points are decoded. Either way: a subsequence of the curve with its ends and its range."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from ato.config.adict import ADict
from ato.tracking.finder import SQLFinder
from ato.tracking.logger import SQLLogger


def _log(config: ADict, steps: list[int], values: list[float], every: int) -> int:
    """Log the points, flushing every ``every`` points: one event (one batch) per flush."""
    with SQLLogger(config) as logger:
        run_id = logger.run()
        for i, (step, value) in enumerate(zip(steps, values)):
            logger.log_metric("loss", value, step)
            if i % every == every - 1:
                logger.flush()
    return run_id


def _check_downsample(sampled: Any, full: Any, max_points: int) -> None:
    assert sampled.downsampled and sampled.total == len(full) and len(sampled) <= max_points
    assert sampled[0] == full[0] and sampled[-1] == full[-1]
    assert set(sampled) <= set(full)  # real points only
    assert bool(np.all(np.diff(sampled.steps) >= 0))
    finite = full.values[np.isfinite(full.values)]
    assert np.nanmin(sampled.values) == finite.min() and np.nanmax(sampled.values) == finite.max()


def _decoding_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    import ato.projections.queries as queries

    def refuse(*args: Any) -> None:
        raise AssertionError("the whole curve was decoded")

    monkeypatch.setattr(queries, "series_from_rows", refuse)


def test_a_long_curve_is_downsampled_from_the_summaries(config: ADict, monkeypatch: pytest.MonkeyPatch) -> None:
    n = 20_000
    values = [math.exp(-i / 5000) + 0.01 * math.sin(i) for i in range(n)]
    values[12_345] = 9.0  # a spike the plot must keep
    values[777] = float("nan")  # a NaN is recorded, never drawn as a bucket's extreme
    run_id = _log(config, list(range(n)), values, every=100)
    with SQLFinder(config) as finder:
        full = finder.get_metrics(run_id, "loss")
        _decoding_refused(monkeypatch)
        sampled = finder.get_metrics(run_id, "loss", max_points=60)
        both = finder.get_metrics_of_runs([run_id], "loss", max_points=60)
    _check_downsample(sampled, full, 60)
    assert (12_345, 9.0) in list(sampled)
    assert both[run_id] == sampled


def test_batches_that_overlap_in_steps_are_decoded(config: ADict, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each flush's steps restart (a curve logged twice): the summaries cannot order the points."""
    steps = [i % 1000 for i in range(10_000)]
    values = [math.cos(i / 100) for i in range(10_000)]
    run_id = _log(config, steps, values, every=1000)
    with SQLFinder(config) as finder:
        full = finder.get_metrics(run_id, "loss")
        sampled = finder.get_metrics(run_id, "loss", max_points=40)
        _decoding_refused(monkeypatch)
        with pytest.raises(AssertionError, match="the whole curve was decoded"):
            finder.get_metrics(run_id, "loss", max_points=40)
    _check_downsample(sampled, full, 40)


def test_a_curve_of_few_batches_is_decoded_and_bucketed_by_points(config: ADict) -> None:
    values = [float(i % 17) for i in range(3000)]
    run_id = _log(config, list(range(3000)), values, every=3000)  # one batch
    with SQLFinder(config) as finder:
        full = finder.get_metrics(run_id, "loss")
        sampled = finder.get_metrics(run_id, "loss", max_points=30)
    _check_downsample(sampled, full, 30)
    assert len(sampled) >= 20  # every bucket gives its two extremes: the points were decoded


def test_an_infinity_shows_in_a_downsample_from_the_summaries(config: ADict, monkeypatch: pytest.MonkeyPatch) -> None:
    """A loss that blew up is drawn, as the decoded downsample would draw it; it is still no
    run's best value."""
    values = [1.0 / (i + 1) for i in range(5000)]
    values[3210] = math.inf
    run_id = _log(config, list(range(5000)), values, every=50)
    with SQLFinder(config) as finder:
        _decoding_refused(monkeypatch)
        sampled = finder.get_metrics(run_id, "loss", max_points=40)
        summary = finder.find_run(run_id).metric_summaries["loss"]
    assert (3210, math.inf) in list(sampled)
    assert summary.max == 1.0  # the finite extremes rank

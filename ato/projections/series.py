"""A metric's points as numpy arrays, and a shape-preserving downsample for plotting.

:class:`MetricSeries` is what ``SQLFinder.get_metrics`` returns: ``steps`` (int64), ``values``
(float64, bit for bit as logged) and ``timestamps`` (float64 Unix seconds), in step order, the
points of one step in the order they were logged. Iterating it yields ``(step, value)`` pairs and
it compares equal to a list of them, so code written for the list that earlier releases returned
keeps working.

``max_points=N`` keeps the first and the last point and, of the points between, the lowest and
the highest value of each of ``(N - 2) // 2`` buckets of consecutive points (in step order), so a
plotted curve keeps its spikes and its range. NaN values are passed over when a bucket has
other values.

A long curve is downsampled without decoding it (:func:`downsample_batches`): where it spans more
batches (flushes) than there are buckets, and its batches follow each other in step order, each
bucket is a run of consecutive batches, and its lowest and highest points are read from the
batches' summaries in the ``metric_batches`` index; only the first and the last batch are decoded
(for the first and last points). A bucket of batches whose values are all NaN gives no point,
and the summaries' values are as SQLite keeps them (``-0.0`` reads back as ``0.0``).
Otherwise the points are decoded and bucketed as above (numpy never imported by ``import ato``;
only here, when points are read).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple, overload

import msgspec

from ato.display import render_html, render_rich
from ato.errors import QueryError
from ato.events.metric_encoding import (
    KeyPoints,
    MetricEncodingError,
    decode_column,
    key_points,
)
from ato.events.types import MetricsLogged, MetricsPacked, PackedSeries
from ato.projections.display import series_view

__all__ = [
    "BatchSummary",
    "MetricSeries",
    "batches_in_step_order",
    "check_max_points",
    "decode_parts",
    "downsample",
    "downsample_batches",
    "metrics_of_event",
    "series_from_points",
    "series_from_rows",
]

_metrics_decoder = msgspec.msgpack.Decoder(MetricsPacked | MetricsLogged)


class MetricSeries:
    """One metric of one run as arrays; see the module docstring."""

    __slots__ = ("run_id", "key", "steps", "values", "timestamps", "total")

    def __init__(self, run_id: int, key: str, steps: Any, values: Any, timestamps: Any, total: int | None = None) -> None:
        self.run_id = run_id
        self.key = key
        self.steps = steps
        self.values = values
        self.timestamps = timestamps
        self.total = len(steps) if total is None else total  # points before any downsample

    @property
    def downsampled(self) -> bool:
        return self.total != len(self.steps)

    def __len__(self) -> int:
        return len(self.steps)

    def __iter__(self) -> Iterator[tuple[int, float]]:
        return zip(self.steps.tolist(), self.values.tolist())

    @overload
    def __getitem__(self, index: int) -> tuple[int, float]: ...
    @overload
    def __getitem__(self, index: slice) -> list[tuple[int, float]]: ...
    def __getitem__(self, index: int | slice) -> tuple[int, float] | list[tuple[int, float]]:
        if isinstance(index, slice):  # a list of pairs, as slicing the list of earlier releases gave
            return list(zip(self.steps[index].tolist(), self.values[index].tolist()))
        return int(self.steps[index]), float(self.values[index])

    def __eq__(self, other: object) -> bool:
        if isinstance(other, MetricSeries):
            return (
                self.run_id == other.run_id and self.key == other.key
                and self.steps.tobytes() == other.steps.tobytes()
                and self.values.tobytes() == other.values.tobytes()  # bit for bit: NaN equals itself
                and self.timestamps.tobytes() == other.timestamps.tobytes()
            )
        if isinstance(other, (list, tuple)):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        sampled = f" (of {self.total})" if self.downsampled else ""
        return f"MetricSeries(run {self.run_id}, {self.key!r}: {len(self)} points{sampled})"

    def _repr_html_(self) -> str:
        """A summary of the series as HTML, for Jupyter: counts, range, extremes, first and last
        points (never all of them)."""
        return render_html(series_view(self))

    def __rich__(self) -> Any:
        """The same summary as :meth:`_repr_html_`, as rich tables (rich imported only now)."""
        return render_rich(series_view(self))


def metrics_of_event(payload: bytes) -> MetricsPacked | MetricsLogged:
    """Decode the payload of a metric event of the log."""
    return _metrics_decoder.decode(payload)


def decode_parts(rows: Sequence[tuple[int, int, bytes]], keys: Sequence[str] | None = None) -> list[tuple[int, KeyPoints]]:
    """The points of ``(seq, part, payload)`` rows of metric events (each payload decoded once
    for all its rows), with their seq; a series that no longer decodes is passed over."""
    decoded: list[tuple[int, KeyPoints]] = []
    event, event_seq = None, None
    for seq, part, payload in rows:
        if seq != event_seq:
            event, event_seq = metrics_of_event(payload), seq
        try:
            decoded += [(seq, points) for points in key_points(event, part)]  # type: ignore[arg-type]
        except MetricEncodingError:
            continue  # `ato verify` names it; the projection left it out of every summary too
    return decoded


def series_from_rows(run_id: int, key: str, rows: Sequence[tuple[int, int, bytes]]) -> MetricSeries:
    """One key's points from the ``(seq, part, payload)`` rows of its metric events (in log
    order), decoded straight into the series' arrays (no per-event arrays to concatenate), in
    step order. A series that no longer decodes is passed over, as :func:`decode_parts` does."""
    import numpy as np

    chosen: list[Any] = []  # PackedSeries, or KeyPoints of an earlier Ato's metrics.logged event
    event, event_seq = None, None
    for seq, part, payload in rows:
        if seq != event_seq:
            event, event_seq = metrics_of_event(payload), seq
        if isinstance(event, MetricsPacked):
            chosen += event.series[part : part + 1]
        else:
            chosen += key_points(event, part)  # type: ignore[arg-type]
    total = sum(one.count if isinstance(one, PackedSeries) else len(one.steps) for one in chosen)
    steps, values, times = (np.empty(total, dtype=np.int64) for _ in range(3))
    filled = 0
    for one in chosen:
        if isinstance(one, PackedSeries):
            end = filled + one.count
            try:
                decode_column(one.steps, one.count, False, steps[filled:end])
                decode_column(one.values, one.count, True, values[filled:end])
                decode_column(one.times, one.count, True, times[filled:end])
            except MetricEncodingError:
                continue  # `ato verify` names it; the projection left it out of every summary too
        else:
            end = filled + len(one.steps)
            steps[filled:end], values.view(np.float64)[filled:end], times.view(np.float64)[filled:end] = one[1:]
        filled = end
    return _in_step_order(run_id, key, steps[:filled], values[:filled].view(np.float64), times[:filled].view(np.float64))


def series_from_points(run_id: int, key: str, parts: Sequence[KeyPoints]) -> MetricSeries:
    """One key's points, event by event in log order, as one series in step order."""
    import numpy as np

    if not parts:
        empty = np.empty(0, dtype=np.float64)
        return MetricSeries(run_id, key, np.empty(0, dtype=np.int64), empty, empty.copy())
    if len(parts) == 1:
        steps, values, times = parts[0].steps, parts[0].values, parts[0].times
    else:
        steps, values, times = (np.concatenate([part[i] for part in parts]) for i in (1, 2, 3))
    return _in_step_order(run_id, key, steps, values, times)


def _in_step_order(run_id: int, key: str, steps: Any, values: Any, times: Any) -> MetricSeries:
    """The series of these points (in log order), sorted by step where they are not already."""
    import numpy as np

    if len(steps) > 1 and not bool(np.all(steps[1:] >= steps[:-1])):
        order = np.argsort(steps, kind="stable")  # stable: points of one step keep log order
        steps, values, times = steps[order], values[order], times[order]
    return MetricSeries(run_id, key, steps, values, times)


def check_max_points(max_points: Any) -> None:
    if type(max_points) is not int or max_points < 2:
        raise QueryError(f"max_points must be an int of at least 2, not {max_points!r:.40}")


def downsample(series: MetricSeries, max_points: int) -> MetricSeries:
    """At most ``max_points`` points that keep the curve's shape (see the module docstring)."""
    import numpy as np

    check_max_points(max_points)
    n = len(series)
    if n <= max_points:
        return series
    buckets = (max_points - 2) // 2
    keep = [0, n - 1]
    if buckets:
        edges = np.linspace(1, n - 1, buckets + 1).astype(np.int64)
        values = series.values
        for start, stop in zip(edges[:-1].tolist(), edges[1:].tolist()):
            if stop <= start:
                continue
            part = values[start:stop]
            if np.isnan(part).all():
                keep.append(start)
                continue
            keep.append(start + int(np.nanargmin(part)))
            keep.append(start + int(np.nanargmax(part)))
    index = np.unique(np.asarray(keep, dtype=np.int64))
    return MetricSeries(
        series.run_id, series.key, series.steps[index], series.values[index], series.timestamps[index], total=n
    )


class BatchSummary(NamedTuple):
    """A ``metric_batches`` row: one key's points of one event, summarised (``points``: how
    many; the table's ``count``)."""

    points: int
    first_step: int
    last_step: int
    low_step: int | None
    low_value: float | None
    low_time: float | None
    high_step: int | None
    high_value: float | None
    high_time: float | None


def batches_in_step_order(batches: Sequence[BatchSummary]) -> bool:
    """Whether each batch's steps all come at or after the previous batch's (so the curve in
    step order is the batches one after the other)."""
    return all(later.first_step >= earlier.last_step for earlier, later in zip(batches, batches[1:]))


def downsample_batches(
    run_id: int, key: str, batches: Sequence[BatchSummary], first: MetricSeries, last: MetricSeries, max_points: int
) -> MetricSeries:
    """The downsample of a curve made of ``batches`` (in step order, more than there are buckets)
    from their summaries; ``first`` and ``last``: the decoded first and last batch."""
    import numpy as np

    buckets = (max_points - 2) // 2
    edges = np.linspace(0, len(batches), buckets + 1).astype(np.int64).tolist() if buckets else [0, 0]
    points: list[tuple[int, float, float]] = []
    if len(first):
        points.append((int(first.steps[0]), float(first.values[0]), float(first.timestamps[0])))
    for start, stop in zip(edges[:-1], edges[1:]):
        group = [b for b in batches[start:stop] if b.low_value is not None]
        if not group:
            continue  # every value NaN (or no batch): nothing to draw
        low = min(group, key=lambda b: b.low_value)  # type: ignore[arg-type, return-value]
        high = max(group, key=lambda b: b.high_value)  # type: ignore[arg-type, return-value]
        points += sorted({(low.low_step, low.low_value, low.low_time), (high.high_step, high.high_value, high.high_time)})  # type: ignore[arg-type]
    if len(last):
        points.append((int(last.steps[-1]), float(last.values[-1]), float(last.timestamps[-1])))
    points.sort(key=lambda point: point[0])  # stable: the first point stays first at its step
    kept = [point for i, point in enumerate(points) if i == 0 or point != points[i - 1]]
    return MetricSeries(
        run_id, key, np.array([p[0] for p in kept], dtype=np.int64),
        np.array([p[1] for p in kept], dtype=np.float64), np.array([p[2] for p in kept], dtype=np.float64),
        total=sum(b.points for b in batches),
    )

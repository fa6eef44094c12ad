"""A metric's points as numpy arrays, and a shape-preserving downsample for plotting.

:class:`MetricSeries` is what ``SQLFinder.get_metrics`` returns: ``steps`` (int64), ``values``
(float64, bit for bit as logged) and ``timestamps`` (float64 Unix seconds), in step order, the
points of one step in the order they were logged. Iterating it yields ``(step, value)`` pairs and
it compares equal to a list of them, so code written for the list that earlier releases returned
keeps working.

``max_points=N`` keeps the first and the last point and, of the points between, the lowest and
the highest value of each of ``(N - 2) // 2`` buckets of consecutive points (in step order), so a
plotted curve keeps its spikes and its range. NaN values are passed over when a bucket has
other values. The downsample is computed from the decoded points (numpy never imported by
``import ato``; only here, when points are read).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, overload

from ato.errors import QueryError
from ato.projections.tables import unpack_chunk

__all__ = ["MetricSeries", "downsample", "series_from_chunks"]


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


def series_from_chunks(run_id: int, key: str, chunks: Sequence[tuple[bytes, bytes, bytes]]) -> MetricSeries:
    """Decode packed chunks (see :func:`~ato.projections.tables.unpack_chunk`) into one series."""
    import numpy as np

    if not chunks:
        empty = np.empty(0, dtype=np.float64)
        return MetricSeries(run_id, key, np.empty(0, dtype=np.int64), empty, empty.copy())
    columns = [unpack_chunk(*chunk) for chunk in chunks]
    steps, values, times = (np.concatenate([column[i] for column in columns]) for i in range(3))
    if len(steps) > 1 and not bool(np.all(steps[1:] >= steps[:-1])):
        order = np.argsort(steps, kind="stable")  # stable: points of one step keep log order
        steps, values, times = steps[order], values[order], times[order]
    return MetricSeries(run_id, key, steps, values, times)


def downsample(series: MetricSeries, max_points: int) -> MetricSeries:
    """At most ``max_points`` points that keep the curve's shape (see the module docstring)."""
    import numpy as np

    if type(max_points) is not int or max_points < 2:
        raise QueryError(f"max_points must be an int of at least 2, not {max_points!r:.40}")
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

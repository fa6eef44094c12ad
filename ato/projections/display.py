"""What the read model's records show in a notebook or a rich console: a run, a project, a
metric's summary, a metric series (see :mod:`ato.display` for the bounds and the escaping).

A run's view shows what was read with it (fields, config, metric summaries), never its points,
artifacts or fingerprints: displaying a run must not read a million points. A series' view is a
summary and its first and last points, never all of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from itertools import islice
from typing import TYPE_CHECKING

from ato.display import (
    Grid,
    View,
    config_grid,
    count,
    duration,
    limited,
    moment,
    number,
    text,
)

if TYPE_CHECKING:
    from ato.projections.queries import MetricSummary, Project, Run
    from ato.projections.series import MetricSeries

__all__ = ["RUN_CONFIG_ROWS", "project_view", "run_repr", "run_view", "series_view", "summaries_grid", "summary_view"]

RUN_CONFIG_ROWS = 40  # a run's config table is compact: its full config is `run.config` itself
_ENDS = 3  # points a series' view shows at each end


def run_view(run: Run) -> View:
    """A run: who, what, when, how long, its tags and hash, a compact config and its metrics."""
    points = sum(summary.count for summary in run.metric_summaries.values())
    ended = run.finished_at is not None
    view = View(
        f"Run {run.id} · {text(run.project, 60)} · {text(run.status, 20)}",
        [
            ("uid", text(run.uid)),
            ("project", f"{text(run.project)} (id {run.project_id})"),
            ("status", text(run.status)),
            ("tags", limited(run.tags, 20, "tags") if run.tags else "—"),
            ("started", moment(run.started_at)),
            ("finished", moment(run.finished_at) if ended else "— (not finished)"),
            ("duration", duration(run.finished_at - run.started_at) if run.finished_at is not None else "—"),
            ("structural hash", text(run.structural_hash)),
            ("host", f"{text(run.host, 80)} (pid {run.pid})"),
            ("argv", text(" ".join(map(str, run.argv))) if run.argv else "—"),
            ("metrics", f"{count(points, 'point')} of {count(len(run.metric_summaries), 'key')}"),
        ],
    )
    view.grids.append(config_grid(run.config, limit=RUN_CONFIG_ROWS))
    view.grids.append(summaries_grid(run.metric_summaries))
    return view


def summaries_grid(summaries: Mapping[str, MetricSummary], limit: int = 50) -> Grid:
    """Each metric's points, last value (and its step) and finite extremes."""
    grid = Grid("Metrics", ("key", "points", "last @ step", "min", "max"), what="metrics", empty="(none logged)")
    for key, summary in islice(summaries.items(), limit):
        grid.add(text(key, 80), f"{summary.count:,}", f"{number(summary.last)} @ {summary.last_step:,}",
                 number(summary.min), number(summary.max))
    grid.omitted = max(0, len(summaries) - limit)
    return grid


def run_repr(run: Run) -> str:
    """A run's plain repr, one short line: what identifies it, and what it holds counted (its
    first few metric summaries in full, so two reprs still compare the numbers)."""
    config = run.config
    keys = f"<{count(len(config), 'key')}>" if isinstance(config, Mapping) else text(type(config).__name__, 40)
    summaries = list(run.metric_summaries.items())
    shown = ", ".join(f"{text(repr(key), 40)}: {summary!r}" for key, summary in summaries[:3])
    more = f", ... {len(summaries) - 3:,} more" if len(summaries) > 3 else ""
    loaded = getattr(run.metrics, "loaded", True)  # Records say so; anything else is held already
    metrics = f"<{len(run.metrics):,} metric points, read>" if loaded else repr(run.metrics)  # "not read yet"
    return (
        f"Run(id={run.id}, uid={run.uid!r}, project={text(repr(run.project), 60)}, status={text(repr(run.status), 30)}, "
        f"tags=[{limited([repr(tag) for tag in run.tags], 4, 'tags')}], config={keys}, "
        f"structural_hash={text(repr(run.structural_hash), 70)}, "
        f"metric_summaries={{{shown}{more}}}, metrics={metrics})"
    )


def project_view(project: Project) -> View:
    """A project: its id, when it was created, its description where it has one."""
    fields = [("id", str(project.id)), ("created", f"{project.created_at:%Y-%m-%d %H:%M:%S} UTC")]
    if project.description:
        fields.append(("description", text(project.description)))
    return View(f"Project {text(project.name, 80)}", fields)


def summary_view(summary: MetricSummary) -> View:
    """One metric's summary of one run."""
    return View("Metric summary", [
        ("points", f"{summary.count:,}"),
        ("last", f"{number(summary.last)} at step {summary.last_step}"),
        ("min", number(summary.min)),
        ("max", number(summary.max)),
    ])


def series_view(series: MetricSeries) -> View:
    """A series: how many points (of how many before a downsample), its steps, last value,
    finite extremes, how many values are not finite, and its first and last points."""
    import numpy as np  # a series holds numpy arrays: numpy is loaded already

    n = len(series)
    values = np.asarray(series.values, dtype=np.float64)
    finite = values[np.isfinite(values)]
    nan = int(np.isnan(values).sum())
    sampled = f" (downsampled from {series.total:,})" if series.downsampled else ""
    fields = [("points", f"{n:,}{sampled}")]
    if n:
        fields += [
            ("steps", f"{int(series.steps[0]):,} … {int(series.steps[-1]):,}"),
            ("last", f"{number(float(values[-1]))} at step {int(series.steps[-1]):,}"),
            ("min", number(float(finite.min())) if finite.size else "—"),
            ("max", number(float(finite.max())) if finite.size else "—"),
        ]
    if finite.size != n:
        fields.append(("not finite", f"{nan:,} NaN, {n - finite.size - nan:,} infinite"))
    grid = Grid("First and last points" if n > 2 * _ENDS else "Points", ("step", "value", "time"), empty="(no points)")
    ends = list(range(n)) if n <= 2 * _ENDS else [*range(_ENDS), *range(n - _ENDS, n)]
    for position, index in enumerate(ends):
        if position == _ENDS and n > 2 * _ENDS:
            grid.add("…", f"{n - 2 * _ENDS:,} points between", "")
        grid.add(f"{int(series.steps[index]):,}", number(float(values[index])), moment(float(series.timestamps[index])))
    return View(f"Metric {text(series.key, 80)} of run {series.run_id}", fields, [grid])

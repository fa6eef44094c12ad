"""``ato runs [PROJECT]``: list runs with their status, structure and one metric."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from ato.cli.output import emit_json, table, when

__all__ = ["register"]


def register(command: Callable[[str, str, str], argparse.ArgumentParser]) -> None:
    parser = command("runs", "List runs.", "ato runs                # every run\n  ato runs demo --metric accuracy")
    parser.add_argument("project", nargs="?", help="only this project")
    parser.add_argument("--metric", help="show this metric (default: the first the runs logged)")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace, path: Path) -> int:
    from ato.errors import UnknownMetricError
    from ato.tracking.finder import SQLFinder

    with SQLFinder(path) as finder:
        if args.project is not None:
            finder.get_project(args.project)  # an unknown project is an error, not an empty list
            runs = finder.get_runs_in_project(args.project)
        else:
            runs = finder.get_all_runs()
    logged = sorted({key for run in runs for key in run.metric_summaries})
    if args.metric is not None and runs and args.metric not in logged:
        where = f"in project {args.project!r}" if args.project is not None else f"in {path}"
        raise UnknownMetricError(args.metric, logged, where)
    metric = args.metric or next((key for run in runs for key in sorted(run.metric_summaries)), None)
    if args.json:
        emit_json([
            {
                "id": r.id, "uid": r.uid, "project": r.project, "status": r.status, "started_at": r.started_at,
                "finished_at": r.finished_at, "tags": r.tags, "structural_hash": r.structural_hash,
                "metrics": {k: vars(v) for k, v in r.metric_summaries.items()},
            }
            for r in runs
        ])
        return 0
    rows = []
    for run in runs:
        summary = run.metric_summaries.get(metric) if metric else None
        value = f"{summary.last:.6g}" if summary else "-"
        rows.append([str(run.id), run.project, run.status, when(run.started_at), ",".join(run.tags),
                     run.structural_hash[:12], value])
    table(None, ["id", "project", "status", "started", "tags", "structure", f"{metric or 'metric'} (last)"], rows)
    return 0

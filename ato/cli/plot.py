"""``ato plot RUN... --metric KEY [--out FILE]``: one metric of several runs, as curves.

Without ``--out`` the chart is drawn in the terminal (Unicode braille, :mod:`ato.cli.charts`);
with ``--out`` it is written as PNG, SVG or a self-contained HTML page (matplotlib, the optional
extra ``ato[plot]``). Points are read downsampled (``get_metrics(..., max_points=N)``: each
bucket's extremes are kept, so spikes show), ``--points`` of them per run at most: by default
twice the chart's width in the terminal (one per braille dot), 2,000 in a file. A run that did
not log the metric is listed with no points; a metric none of the runs logged is an error that
suggests the closest keys.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ato.cli.output import emit_json

if TYPE_CHECKING:
    from ato.cli.charts import Curve
    from ato.tracking.finder import SQLFinder

__all__ = ["read_curves", "register"]

FILE_POINTS = 2000


def register(command: Callable[[str, str, str], argparse.ArgumentParser]) -> None:
    parser = command(
        "plot", "Plot one metric of several runs: in the terminal, or to a PNG, SVG or HTML file.",
        "ato plot 1 2 --metric val/loss             # curves drawn in the terminal\n"
        "  ato plot 1 2 3 --metric val/loss --out loss.png",
    )
    parser.add_argument("runs", nargs="+", metavar="RUN", help="run ids (or uid prefixes)")
    parser.add_argument("--metric", required=True, metavar="KEY", help="the metric to plot")
    parser.add_argument("--out", metavar="FILE", help="write FILE.png, FILE.svg or FILE.html (needs ato[plot])")
    parser.add_argument("--points", type=int, metavar="N",
                        help=f"read at most N points per run (default: the chart's width, {FILE_POINTS} in a file)")
    parser.set_defaults(handler=handle)


def read_curves(finder: SQLFinder, runs: Sequence[int | str], key: str, max_points: int) -> list[Curve]:
    """Each run's ``key`` downsampled to ``max_points``, labelled ``run ID``, in the order given."""
    from ato.cli.charts import Curve

    series = finder.get_metrics_of_runs(list(runs), key, max_points=max_points)
    return [Curve(f"run {run_id}", found.steps, found.values, found.total, run_id) for run_id, found in series.items()]


def handle(args: argparse.Namespace, path: Path) -> int:
    from ato.cli import charts
    from ato.errors import AtoError
    from ato.tracking.finder import SQLFinder

    if args.points is not None and args.points < 2:
        raise AtoError("--points must be at least 2")
    width = None
    if args.out is None:
        width = charts.chart_width()
        points = args.points or width * 2
    else:
        points = args.points or FILE_POINTS
        if Path(args.out).suffix.lower() not in charts.FILE_FORMATS:
            raise AtoError(f"cannot plot to {args.out}: the file must end in {', '.join(charts.FILE_FORMATS)}")
    with SQLFinder(path) as finder:
        curves = read_curves(finder, args.runs, args.metric, points)
    panel = charts.Panel(args.metric, curves)
    if args.out is not None:
        charts.save_figure([panel], Path(args.out), f"{args.metric}: {', '.join(c.label for c in curves)}")
    if args.json:
        emit_json({"metric": args.metric, "out": args.out, "curves": [_curve_json(c) for c in curves]})
    elif args.out is not None:
        print(f"wrote {args.out} ({args.metric} of {', '.join(c.label for c in curves)})")
    else:
        print(charts.render_terminal(panel, width=width))
    return 0


def _curve_json(curve: Curve) -> dict[str, Any]:
    return {"run": curve.run, "label": curve.label, "total": curve.total, "steps": curve.steps.tolist(), "values": curve.values.tolist()}

"""``ato report A B [C ...] -o report.html``: why runs differ, as one HTML file to send.

The first run is the base; each other run is compared with it as ``ato diff`` does (config keys
with the chain of merge steps that set each side, structure, code fingerprints with a unified
diff per changed function and of the git patches, runtime outputs, numerics, environment,
metrics), and every metric any of them logged is drawn, all runs' curves together, with the
first step at which each run differs from the base marked. The page is self-contained
(:mod:`ato.cli.report_html`). The curves need matplotlib (``ato[plot]``); without it the page
says so in their place and everything else is there.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ato.cli.output import emit_json, when

if TYPE_CHECKING:
    from ato.cli.report_html import Comparison
    from ato.tracking.finder import Run, SQLFinder

__all__ = ["register"]


def register(command: Callable[[str, str, str], argparse.ArgumentParser]) -> None:
    parser = command(
        "report", "Write one self-contained HTML file on why runs differ: diff, provenance, code diffs, curves.",
        "ato report 1 2 -o report.html       # run 2 compared with run 1\n"
        "  ato report 1 2 3 -o sweep.html      # runs 2 and 3, each compared with run 1",
    )
    parser.add_argument("runs", nargs="+", metavar="RUN", help="run ids (or uid prefixes); the first is the base")
    parser.add_argument("-o", "--out", required=True, metavar="FILE", help="the HTML file to write")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace, path: Path) -> int:
    from ato.cli.report_html import ReportData, render
    from ato.errors import AtoError
    from ato.tracking.finder import SQLFinder

    if len(args.runs) < 2:
        raise AtoError("a report compares runs: name at least two (the first is the base)")
    out = Path(args.out)
    with SQLFinder(path) as finder:
        runs = [finder.get_run(ref) for ref in args.runs]
        comparisons = [_compare(finder, runs[0], other) for other in runs[1:]]
        figures, note = _figures(finder, runs, comparisons)
    title = f"Why do runs {', '.join(str(run.id) for run in runs)} differ?"
    page = render(ReportData(title, [_run_row(run) for run in runs], comparisons, figures, note))
    out.write_text(page, encoding="utf-8")
    if args.json:
        emit_json({"out": str(out), "runs": [run.id for run in runs], "bytes": len(page.encode()),
                   "curves": [metric for metric, _ in figures]})
    else:
        print(f"wrote {out} (runs {', '.join(str(run.id) for run in runs)}; {len(figures)} curve(s))")
        if note:
            print(f"note: {note}")
    return 0


def _run_row(run: Run) -> dict[str, Any]:
    return {"id": run.id, "uid": run.uid, "project": run.project, "status": run.status,
            "started": when(run.started_at), "tags": list(run.tags), "host": run.host}


def _compare(finder: SQLFinder, a: Run, b: Run) -> Comparison:
    from ato.cli.report_html import Comparison
    from ato.tracking.code_diff import code_changes
    from ato.tracking.diff import diff_runs

    diff = diff_runs(finder, a.id, b.id)
    comparison = Comparison(a.id, b.id, diff.to_json(), code_changes(finder, a.id, b.id).to_json())
    keys = [item["key"] for item in comparison.diff["config"]]
    for run in (a, b):
        chains = _chains(finder, run, keys)
        for key, chain in chains.items():
            comparison.provenance.setdefault(key, {})[run.id] = chain
    return comparison


def _chains(finder: SQLFinder, run: Run, keys: list[str]) -> dict[str, list[str]]:
    """For each key, the merge steps of ``run`` that set it, in applying order, as lines."""
    import msgspec

    from ato.config.merge_trace import MergeTrace

    traces = [MergeTrace.from_events(events) for events in finder.get_run_events(run.id).scopes.values()]
    chains: dict[str, list[str]] = {}
    for key in keys:
        lines = chains.setdefault(key, [])
        for trace in traces:
            for step, change in trace.history(key).changes:
                old = "(added)" if change.old is msgspec.UNSET else repr(change.old)
                new = "(removed)" if change.new is msgspec.UNSET else repr(change.new)
                lines.append(f"{step.step} ({step.kind}): {old} -> {new}")
    return chains


def _figures(finder: SQLFinder, runs: list[Run], comparisons: list[Comparison]) -> tuple[list[tuple[str, str]], str | None]:
    """One inline SVG per metric any run logged, with each run's first difference from the base."""
    from ato.cli.charts import MissingExtraError, Panel, svg_figure
    from ato.cli.plot import FILE_POINTS, read_curves

    keys = sorted({key for run in runs for key in run.metric_summaries})
    figures = []
    for key in keys:
        markers = []
        for comparison in comparisons:
            for item in comparison.diff["metrics"]:
                if item["key"] == key and item["first_difference"] is not None:
                    step = item["first_difference"]["step"]
                    markers.append((step, f"run {comparison.b} first differs from run {comparison.a} at step {step}"))
        curves = read_curves(finder, [run.id for run in runs], key, FILE_POINTS)
        try:
            figures.append((key, svg_figure([Panel(key, curves, markers)])))
        except MissingExtraError as exc:
            return [], f"no curves: {exc}"
    return figures, None

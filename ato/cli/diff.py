"""``ato diff RUN_A RUN_B``: why two runs differ, most likely cause first.

``--code`` adds what changed in the code (:mod:`ato.tracking.code_diff`): a unified diff per
changed function (the traced ones and their helpers) and the difference of the two runs' git
patches; in ``--json`` it is ``code_diff`` (null without ``--code``).

``--plot`` draws each metric both runs logged (``--metric KEY``: that one only), the two curves
with the first step at which they differ marked (found on every point, not on the downsample
drawn): in the terminal, or with ``--out FILE`` (``.png``, ``.svg``, ``.html``; ``ato[plot]``)
in a file. With ``--json`` the JSON is unchanged and only ``--out`` is written."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ato.cli.output import emit_json

if TYPE_CHECKING:
    from ato.cli.charts import Panel
    from ato.tracking.code_diff import CodeChanges
    from ato.tracking.diff import RunDiff
    from ato.tracking.finder import SQLFinder

__all__ = ["divergence_panels", "print_code_changes", "register"]


def register(command: Callable[[str, str, str], argparse.ArgumentParser]) -> None:
    parser = command(
        "diff", "Explain why two runs differ: config, structure, code, runtime, numerics, environment, metrics.",
        "ato diff 1 2            # why runs 1 and 2 differ, most likely cause first\n"
        "  ato diff 1 2 --code     # and the lines of code that changed\n"
        "  ato diff 1 2 --plot     # the curves, the first step where they differ marked\n  ato diff 1 2 --json",
    )
    parser.add_argument("run_a", help="run id")
    parser.add_argument("run_b", help="run id")
    parser.add_argument("--code", action="store_true",
                        help="show a unified diff per changed function, and of the runs' git patches")
    parser.add_argument("--plot", action="store_true",
                        help="plot the metrics both runs logged, marking the first step where they differ")
    parser.add_argument("--metric", metavar="KEY", help="with --plot: plot this metric only")
    parser.add_argument("--out", metavar="FILE", help="with --plot: write FILE.png, .svg or .html (needs ato[plot])")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace, path: Path) -> int:
    from ato.errors import AtoError
    from ato.tracking.code_diff import code_changes
    from ato.tracking.diff import diff_runs
    from ato.tracking.display import where_diverged
    from ato.tracking.finder import SQLFinder

    if (args.metric or args.out) and not args.plot:
        raise AtoError("--metric and --out go with --plot")
    with SQLFinder(path) as finder:
        report = diff_runs(finder, args.run_a, args.run_b)
        changes = code_changes(finder, args.run_a, args.run_b) if args.code else None
        panels = divergence_panels(finder, report, args.metric, args.out is not None) if args.plot else []
    if args.out:
        from ato.cli.charts import save_figure

        save_figure(panels, Path(args.out), f"runs {report.a.id} and {report.b.id}")
    if args.json:
        emit_json({**report.to_json(), "code_diff": changes.to_json() if changes else None})
        return 0
    print(f"Why do runs {report.a.id} and {report.b.id} differ? (most likely cause first)\n")
    if report.config:
        print(f"config: {len(report.config)} key(s) differ")
        for item in report.config:
            a = repr(item["a"]) if item["set_by_a"] != "absent" else "absent"
            b = repr(item["b"]) if item["set_by_b"] != "absent" else "absent"
            print(f"  {item['key']}: {a} [{item['set_by_a']}]  ->  {b} [{item['set_by_b']}]")
    else:
        print("config: same values")
    if report.structure:
        print(f"structure: differs ({report.structure['a'][:12]} vs {report.structure['b'][:12]})")
    else:
        print("structure: same")
    for item in report.code:
        changed = ", ".join(item["changed"]) if "changed" in item else "recorded in only one run"
        print(f"code: {item['trace_id']} changed ({changed})")
    if not report.code:
        print("code: same fingerprints")
    if changes is not None:
        print_code_changes(changes)
    for item in report.runtime:
        at = where_diverged(item)  # the same words as the notebook view
        note = f"; {item['note']}" if item.get("note") else ""
        print(f"runtime: {item['trace_id']} {at} ({item['calls_a']} vs {item['calls_b']} calls){note}")
    if not report.runtime:
        print("runtime: same outputs")
    for item in report.process:
        print(f"{item['what']}: {_shown(item['a'])} -> {_shown(item['b'])}")
    if not report.process:
        print(f"script, arguments, rank, group: {'same' if 'script' in report.checked else 'not recorded'}")
    for item in report.seeds:
        print(f"seed of {item['generator']}: {item['a']} -> {item['b']} ({item['note']})")
    if not report.seeds:
        compared = [name.removesuffix(" seed") for name in report.checked if name.endswith(" seed")]
        print(f"seeds: same ({', '.join(compared)})" if compared else "seeds: none compared")
    for item in report.numerics:
        print(f"numerics changed: {item['switch']} {item['a']} -> {item['b']} (may change results)")
    if not report.numerics:
        if report.numerics_recorded:
            print("numerics: same switches")
        elif report.numerics_recorded_by:
            print("numerics: not compared (only one run recorded torch's switches)")
        else:
            print("numerics: not recorded (neither run recorded torch's switches)")
    if report.environment:
        print(f"environment: {len(report.environment)} difference(s)")
        for item in report.environment:
            print(f"  {item['what']}: {item['a']} -> {item['b']}")
    else:
        print("environment: same")
    for item in report.metrics:
        first = item["first_difference"]
        if first is None:
            print(f"metric {item['key']}: identical")
        else:
            print(f"metric {item['key']}: first differs at step {first['step']} ({first['a']} vs {first['b']})")
    if args.out:
        print(f"plot: wrote {args.out}")
    elif panels:
        from ato.cli.charts import render_terminal

        for panel in panels:
            print(f"\n{render_terminal(panel)}")
    for note in report.notes:
        print(f"note: {note}")
    print(f"\n{report.verdict}")
    return 0


def _shown(value: object) -> str:
    if isinstance(value, list):
        return " ".join(map(str, value)) or "(none)"
    return "not set" if value is None or value == "" else str(value)


def print_code_changes(changes: CodeChanges) -> None:
    """The unified diffs of ``ato diff --code``, indented under the code lines."""
    if not changes.functions and changes.patch is None:
        print("  (no change in the recorded sources or the git patch)")
    for change in changes.functions:
        traces = ", ".join(change.trace_ids)
        print(f"\n  --- {change.function} (in {traces}){': ' + change.note if change.note else ''}")
        if change.diff:
            print(_indented(change.diff))
    if changes.patch is not None:
        note = f": {changes.patch.note}" if changes.patch.note else ""
        print(f"\n  --- uncommitted changes (git diff HEAD) differ{note}")
        if changes.patch.diff:
            print(_indented(changes.patch.diff))
    print()


def _indented(text: str) -> str:
    return "\n".join(f"    {line}" for line in text.rstrip("\n").split("\n"))


def divergence_panels(finder: SQLFinder, report: RunDiff, metric: str | None, to_file: bool) -> list[Panel]:
    """A chart per metric both runs logged (or ``metric`` only), each marking the first step at
    which the runs differ (from ``report``, which compared every point)."""
    from ato.cli.charts import Panel, chart_width
    from ato.cli.plot import FILE_POINTS, read_curves
    from ato.errors import AtoError, UnknownMetricError

    compared = {item["key"]: item["first_difference"] for item in report.metrics}
    if metric is not None and metric not in compared:
        raise UnknownMetricError(metric, compared, f"logged by both runs {report.a.id} and {report.b.id}")
    if not compared:
        raise AtoError(f"runs {report.a.id} and {report.b.id} logged no metric in common: nothing to plot")
    points = FILE_POINTS if to_file else chart_width() * 2
    panels = []
    for key in [metric] if metric is not None else list(compared):
        first = compared[key]
        curves = read_curves(finder, [report.a.id, report.b.id], key, points)
        if first is None:
            panels.append(Panel(f"{key} (identical)", curves))
        else:
            panels.append(Panel(key, curves, [(first["step"], f"runs first differ at step {first['step']}")]))
    return panels

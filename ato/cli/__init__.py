"""The ``ato`` command. It parses arguments, calls :mod:`ato.tracking.audit`, and formats the answer.

Every subcommand takes ``--db URL`` (default: ``ATO_DB``, then ``sqlite:///experiments.db`` in the
working directory) and ``--json``. On a terminal the output uses rich; piped, it is plain text.
A user error (a missing database, an unknown run) is one line on stderr and exit status 1.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ato._version import __version__
from ato.errors import AtoError

_EXAMPLES = {
    "replay": "ato replay 3            # how run 3's config was merged, key by key\n"
    "  ato replay 3 --key lr   # only lr\n  ato replay 3 --json",
    "runs": "ato runs                # every run\n  ato runs demo --metric accuracy",
    "rebuild": "ato rebuild --db sqlite:///experiments.db",
    "verify": "ato verify              # exit 1 and a report on any problem",
    "merge": "ato merge machine_b.db rank1.db   # append their events; running it twice adds nothing",
    "diff": "ato diff 1 2            # why runs 1 and 2 differ, most likely cause first\n  ato diff 1 2 --json",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ato",
        description="Ato explains why an ML result changed: how each run's config was merged, "
        "what code and environment it ran with, and what it produced.",
        epilog="Example: ato runs; ato replay 1",
    )
    parser.add_argument("--version", action="version", version=f"ato {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--db", metavar="URL", help="database (default: $ATO_DB, else sqlite:///experiments.db)")
    common.add_argument("--json", action="store_true", help="print JSON for scripts")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    def command(name: str, help: str) -> argparse.ArgumentParser:
        return commands.add_parser(
            name, parents=[common], help=help, description=help,
            epilog=f"Example:\n  {_EXAMPLES[name]}", formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    replay = command("replay", "Show how a run's config was merged and check that it replays exactly.")
    replay.add_argument("run", help="run id (or a prefix of its uid)")
    replay.add_argument("--key", help="only this key (dotted), and what is below it")
    runs = command("runs", "List runs.")
    runs.add_argument("project", nargs="?", help="only this project")
    runs.add_argument("--metric", help="show this metric (default: the first the runs logged)")
    command("rebuild", "Drop every projection and derive it again from the log.")
    command("verify", "Check the log and that the projections equal a fresh derivation.")
    diff = command("diff", "Explain why two runs differ: config, structure, code, runtime, environment, metrics.")
    diff.add_argument("run_a", help="run id")
    diff.add_argument("run_b", help="run id")
    merge = command("merge", "Append the events of other databases that this one lacks.")
    merge.add_argument("sources", nargs="+", metavar="SRC_DB", help="databases to merge from")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``ato`` command; return its exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    handler: Callable[[argparse.Namespace, Path], int] = _HANDLERS[args.command]
    try:
        from ato.storage.database import database_path

        return handler(args, database_path(args.db))
    except AtoError as exc:
        print(f"ato {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


# -- output -------------------------------------------------------------------------------------------
def _emit_json(data: Any) -> None:
    print(json.dumps(data, indent=2, default=repr))


def _table(title: str | None, headers: list[str], rows: list[list[str]]) -> None:
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.table import Table

        table = Table(title=title)
        for header in headers:
            table.add_column(header)
        for row in rows:
            table.add_row(*row)
        Console().print(table)
        return
    if title:
        print(title)
    widths = [max(len(str(x)) for x in column) for column in zip(headers, *rows)]
    for row in [headers, *rows]:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip())


def _when(timestamp: float | None) -> str:
    if timestamp is None:
        return "-"
    return datetime.datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M:%S")


# -- commands -------------------------------------------------------------------------------------------
def _runs(args: argparse.Namespace, path: Path) -> int:
    from ato.tracking.audit import list_runs

    runs = list_runs(path, args.project)
    metric = args.metric or next((key for run in runs for key in sorted(run.metrics)), None)
    if args.json:
        _emit_json([
            {
                "id": r.id, "uid": r.uid, "project": r.project, "status": r.status, "started_at": r.started_at,
                "tags": r.tags, "structural_hash": r.structural_hash,
                "metrics": {k: vars(v) for k, v in r.metrics.items()},
            }
            for r in runs
        ])
        return 0
    rows = []
    for run in runs:
        summary = run.metrics.get(metric) if metric else None
        value = f"{summary.last:.6g}" if summary else "-"
        rows.append([str(run.id), run.project, run.status, _when(run.started_at), ",".join(run.tags),
                     run.structural_hash[:12], value])
    _table(None, ["id", "project", "status", "started", "tags", "structure", f"{metric or 'metric'} (last)"], rows)
    return 0


def _replay(args: argparse.Namespace, path: Path) -> int:
    from ato.tracking.audit import replay_run

    report = replay_run(path, args.run, args.key)
    if args.json:
        _emit_json(report.to_json())
        return 0 if report.exact else 1
    run = report.run
    print(f"run {run.id} ({run.uid[:12]}), project {run.project}, {run.status}")
    for search in report.searches:
        print(f"\n[Search {search.search[:12]}]  {search.settings.get('trials')} trials, "
              f"halving_rate {search.settings.get('halving_rate')}, mode {search.settings.get('mode')}")
        print("(Rounds)")
        for item in search.rounds:
            cutoff = f", cut-off {item['cutoff']:.6g}" if item["cutoff"] is not None else ""
            failed = f", {item['failed']} failed" if item["failed"] else ""
            print(f"  round {item['round']}: {item['trials']} trials, kept {len(item['kept'])}, "
                  f"dropped {item['dropped']}{cutoff}{failed}")
        print(f"  winner: trial {search.winner} (metric {search.metric})")
        if search.reproduces:
            print("search replay: the recorded metrics reproduce every decision")
        else:
            print("search replay: NOT reproduced")
            for problem in search.problems:
                print(f"  - {problem}")
    if not report.scopes:
        print("no merge trace: this run was not started inside a @scope function")
        return 0
    for scope in report.scopes:
        print(f'\n[Scope "{scope.scope}"]' + (f"  argv: {' '.join(scope.argv)}" if scope.argv else ""))
        print("(The Applying Order of Views)")
        for step in scope.order:
            priority = f"priority {step['priority']}" if step["priority"] is not None else ""
            via = f"chained by {step['chained_by']}" if step["chained_by"] else ""
            extra = "  ".join(x for x in (priority, via) if x)
            print(f"  {step['index']:>3}. {step['step']:<28} {step['kind']:<11} {extra}".rstrip())
        print("\n(Final Keys)")
        for entry in scope.keys:
            print(f"  {entry.key} = {entry.value!r}")
            for link in entry.chain:
                change = f"set {link['new']!r}" if link["added"] else f"{link['old']!r} -> {link['new']!r}"
                print(f"      {link['step']} ({link['kind']}): {change}")
        if scope.exact:
            print("\nreplay: exact (values, types and structural hash equal the recorded config)")
        else:
            print("\nreplay: NOT exact")
            for problem in scope.differences + [f"not replayable: {p}" for p in scope.not_replayable]:
                print(f"  - {problem}")
    return 0 if report.exact else 1


def _diff(args: argparse.Namespace, path: Path) -> int:
    from ato.tracking.diff import diff_runs

    report = diff_runs(path, args.run_a, args.run_b)
    if args.json:
        _emit_json(report.to_json())
        return 0
    print(f"Why do runs {report.a.id} and {report.b.id} differ? (most likely cause first)\n")
    if report.config:
        print(f"config: {len(report.config)} key(s) differ")
        for item in report.config:
            print(f"  {item['key']}: {item['a']} [{item['set_by_a']}]  ->  {item['b']} [{item['set_by_b']}]")
    else:
        print("config: same values")
    if report.structure:
        print(f"structure: differs ({report.structure['a'][:12]} vs {report.structure['b'][:12]})")
    else:
        print("structure: same")
    for item in report.code:
        changed = ", ".join(item.get("changed", [])) or "recorded in only one run"
        print(f"code: {item['trace_id']} changed ({changed})")
    if not report.code:
        print("code: same fingerprints")
    for item in report.runtime:
        where = item.get("first_divergent_call")
        at = f"first diverged at call {where}" if where is not None else "recorded in only one run"
        print(f"runtime: {item['trace_id']} {at} ({item['calls_a']} vs {item['calls_b']} calls)")
    if not report.runtime:
        print("runtime: same outputs")
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
    print(f"\n{report.verdict}")
    return 0


def _rebuild(args: argparse.Namespace, path: Path) -> int:
    from ato.tracking.audit import rebuild_database

    events, seconds = rebuild_database(path)
    if args.json:
        _emit_json({"events": events, "seconds": seconds})
    else:
        print(f"rebuilt the projections of {path} from {events} events in {seconds:.3f} s")
    return 0


def _verify(args: argparse.Namespace, path: Path) -> int:
    from ato.tracking.audit import verify_database

    events, problems = verify_database(path)
    if args.json:
        _emit_json({"events": events, "ok": not problems, "problems": problems})
    elif problems:
        print(f"{path}: {len(problems)} problem(s) in {events} events:")
        for problem in problems:
            print(f"  - {problem}")
    else:
        print(f"{path}: ok ({events} events; projections equal a fresh derivation)")
    return 1 if problems else 0


def _merge(args: argparse.Namespace, path: Path) -> int:
    from ato.tracking.audit import merge_databases
    from ato.storage.database import database_path

    results = merge_databases(path, [database_path(source) for source in args.sources])
    if args.json:
        _emit_json({str(source): added for source, added in results})
    else:
        for source, added in results:
            print(f"{source}: {added} new events")
    return 0


_HANDLERS: dict[str, Callable[[argparse.Namespace, Path], int]] = {
    "replay": _replay,
    "runs": _runs,
    "rebuild": _rebuild,
    "verify": _verify,
    "merge": _merge,
    "diff": _diff,
}

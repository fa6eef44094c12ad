"""``ato replay RUN``: how a run's config was merged, key by key, and whether it replays exactly;
for a search run, its rounds and whether the recorded metrics reproduce every decision."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from ato.cli.output import emit_json

__all__ = ["register"]


def register(command: Callable[[str, str, str], argparse.ArgumentParser]) -> None:
    parser = command(
        "replay", "Show how a run's config was merged and check that it replays exactly.",
        "ato replay 3            # how run 3's config was merged, key by key\n"
        "  ato replay 3 --key lr   # only lr\n  ato replay 3 --json",
    )
    parser.add_argument("run", help="run id (or a prefix of its uid)")
    parser.add_argument("--key", help="only this key (dotted), and what is below it")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace, path: Path) -> int:
    from ato.hyperopt.replay import replay_search
    from ato.tracking.finder import SQLFinder
    from ato.tracking.replay import replay_merges

    with SQLFinder(path) as finder:
        report = replay_merges(finder, args.run, args.key)
        searches = [replay_search(events) for events in finder.get_run_events(report.run.id).searches.values()]
    exact = report.exact and all(search.reproduces for search in searches)
    run = report.run
    if args.json:
        emit_json({
            "run": {"id": run.id, "uid": run.uid, "project": run.project, "status": run.status},
            "scopes": [scope.to_json() for scope in report.scopes],
            "searches": [search.to_json() for search in searches],
            "exact": exact,
        })
        return 0 if exact else 1
    print(f"run {run.id} ({run.uid[:12]}), project {run.project}, {run.status}")
    for search in searches:
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
    return 0 if exact else 1

"""``ato replay RUN``: how a run's config was merged, key by key, and whether it replays exactly;
for a search run, its rounds, whether the recorded metrics reproduce every decision, and its
trials (:mod:`ato.hyperopt.trials`): best first, each with the config values that vary across
the trials, the round it reached, its metric there and its outcome (winner, kept, dropped,
failed). ``--trials N`` shows the best N only (default 20 on a terminal or piped; ``--json`` lists
all)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ato.cli.output import emit_json

if TYPE_CHECKING:
    from ato.hyperopt.trials import SearchTrials

__all__ = ["register"]


def register(command: Callable[[str, str, str], argparse.ArgumentParser]) -> None:
    parser = command(
        "replay", "Show how a run's config was merged and check that it replays exactly.",
        "ato replay 3            # how run 3's config was merged, key by key\n"
        "  ato replay 3 --key lr   # only lr\n  ato replay 3 --json",
    )
    parser.add_argument("run", help="run id (or a prefix of its uid)")
    parser.add_argument("--key", help="only this key (dotted), and what is below it")
    parser.add_argument("--trials", type=int, default=20, metavar="N",
                        help="of a search, list the best N trials (default 20; 0: all)")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace, path: Path) -> int:
    from ato.hyperopt.replay import replay_search
    from ato.hyperopt.trials import search_trials
    from ato.tracking.finder import SQLFinder
    from ato.tracking.replay import replay_merges

    with SQLFinder(path) as finder:
        report = replay_merges(finder, args.run, args.key)
        recorded = list(finder.get_run_events(report.run.id).searches.values())
    searches = [replay_search(events) for events in recorded]
    trials = [search_trials(events) for events in recorded]
    exact = report.exact and all(search.reproduces for search in searches)
    run = report.run
    if args.json:
        emit_json({
            "run": {"id": run.id, "uid": run.uid, "project": run.project, "status": run.status},
            "scopes": [scope.to_json() for scope in report.scopes],
            "searches": [
                {**search.to_json(), "keys": listing.keys, "trials": [row.to_json() for row in listing.trials]}
                for search, listing in zip(searches, trials)
            ],
            "exact": exact,
        })
        return 0 if exact else 1
    print(f"run {run.id} ({run.uid[:12]}), project {run.project}, {run.status}")
    for search, listing in zip(searches, trials):
        print(f"\n[Search {search.search[:12]}]  {search.settings.get('trials')} trials, "
              f"halving_rate {search.settings.get('halving_rate')}, mode {search.settings.get('mode')}")
        print("(Rounds)")
        for item in search.rounds:
            cutoff = f", cut-off {item['cutoff']:.6g}" if item["cutoff"] is not None else ""
            failed = f", {item['failed']} failed" if item["failed"] else ""
            print(f"  round {item['round']}: {item['trials']} trials, kept {len(item['kept'])}, "
                  f"dropped {item['dropped']}{cutoff}{failed}")
        print(f"  winner: trial {search.winner} (metric {search.metric})")
        _print_trials(listing, args.trials)
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


def _print_trials(listing: SearchTrials, limit: int) -> None:
    """The trials, best first, as a table (the best ``limit`` of them; 0: all)."""
    from ato.cli.output import table
    from ato.cli.run_table import format_number, format_value

    shown = listing.trials if limit <= 0 else listing.trials[:limit]
    print(f"(Trials, best first{'' if len(shown) == len(listing.trials) else f': {len(shown)} of {len(listing.trials)}'})")
    rows = []
    for row in shown:
        values = [format_value(row.values[key]) if key in row.values else "-" for key in listing.keys]
        outcome = row.outcome if row.error is None else f"{row.outcome}: {row.error.splitlines()[-1][:60]}"
        rows.append([str(row.trial), *values, str(row.round), format_number(row.metric), outcome])
    table(None, ["trial", *listing.keys, "round", "metric", "outcome"], rows)

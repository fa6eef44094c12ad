"""``ato runs [PROJECT]``: which run is best, and what varied between them.

What is listed, in this order: the runs (of ``PROJECT``, else all), those of ``--status``, those
whose config matches every ``--where KEY=VALUE``, then the ``--last N`` started last; then
sorted by ``--sort`` (default: by id).

- **Config columns**: by default (``--changed``) the config keys whose values differ among the
  listed runs (or that some lack), compared by value and type (``1`` and ``1.0`` differ);
  ``--cols lr,model`` shows those keys instead (a key that names a mapping shows every key below
  it). ``--where KEY=VALUE`` reads VALUE as a command-line literal (``lr=0.1``, ``model=resnet``,
  ``pair=(1,2)``) and keeps the runs whose value is equal: numbers by value (``depth=50`` matches
  50 and 50.0, never ``True``), the rest by value and type.
- **Metrics**: ``--metric KEY[:max|:min]``, repeatable; without it, the first metric key the runs
  logged. Each shows its best finite value (``:max`` the largest, ``:min`` the smallest; without
  a suffix ``min`` where the key names a loss or error -- loss, err, mse, mae, nll, perplexity,
  ppl, wer, cer -- else ``max``) and its last value (at the highest step).
- **Sorting**: ``--sort COLUMN``: ``id``, ``started``, ``duration``, ``status``, ``host``,
  ``project``, a config key (ascending), a metric key (its best, best first) or ``KEY:last``
  (ascending); ``--sort=-COLUMN`` reverses. Runs without the value go last.
- **Jobs**: runs record their rank, world size and job group (torch.distributed, torchrun,
  SLURM, or ``SQLLogger(config, group=...)``: :mod:`ato.tracking.processes`); a ``rank`` column
  (``RANK/WORLD``) and a ``group`` column appear where some run has them, and ``--group job``
  prints a table per job group (its ranks in rank order), then the runs of no group.
- **Status**: as recorded (``completed``, ``failed``, ``interrupted``, ``killed``, or a label),
  ``running``, or ``died`` for a run that never ended whose process is gone
  (:mod:`ato.projections.liveness`: judged as the runs are read; nothing is written).
- **Searches**: ``--group search`` prints a table per recorded search: the run that recorded it
  and the runs its trials started (their config's ``__hyperopt_id__``), under a title with its
  size and winner, the config columns chosen within the group; then the runs of no search. The
  trials themselves are listed by ``ato replay`` of the search's run.

On a terminal the table fits its width (:mod:`ato.cli.run_table`); piped, it is plain aligned
text with every cell whole. ``--json`` lists every run with every field (the struct ``RunRow``).
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ato.cli.output import emit_json, when

if TYPE_CHECKING:
    from ato.cli.run_table import Column
    from ato.projections.searches import SearchSummary
    from ato.tracking.finder import Run

__all__ = ["MetricChoice", "guess_mode", "parse_metric", "register"]

_LOWER_IS_BETTER = ("loss", "err", "mse", "mae", "nll", "perplexity", "ppl", "wer", "cer")
_FIELDS = ("id", "started", "duration", "status", "host", "project", "rank", "group")
_SEARCH_KEY = "__hyperopt_id__"


def register(command: Callable[[str, str, str], argparse.ArgumentParser]) -> None:
    parser = command(
        "runs", "List runs: what varied between them, and which is best.",
        "ato runs                               # every run, the config keys that differ, a metric\n"
        "  ato runs sweep --metric val/acc:max --sort val/acc   # best first\n"
        "  ato runs --where model=resnet --status completed --last 5\n"
        "  ato runs --cols lr,model.depth --metric loss:min --metric acc\n"
        "  ato runs --group search                # a table per hyperparameter search\n"
        "  ato runs --group job --status died     # a table per distributed job",
    )
    parser.add_argument("project", nargs="?", help="only this project")
    parser.add_argument("--metric", action="append", metavar="KEY[:max|:min]",
                        help="a metric to show (best and last); repeatable (default: the first the runs logged)")
    columns = parser.add_mutually_exclusive_group()
    columns.add_argument("--cols", metavar="KEY,...", help="show these config keys (a mapping: every key below it)")
    columns.add_argument("--changed", action="store_true",
                         help="show the config keys whose values differ among the runs (the default)")
    parser.add_argument("--sort", metavar="COLUMN",
                        help="id, started, duration, status, host, project, a config key, a metric (its best, "
                        "best first) or METRIC:last; --sort=-COLUMN reverses")
    parser.add_argument("--status", help="only runs of this status (completed, failed, interrupted, killed, running, "
                        "died, ...)")
    parser.add_argument("--last", type=_positive, metavar="N", help="only the N runs started last")
    parser.add_argument("--where", action="append", default=[], metavar="KEY=VALUE",
                        help="only runs whose config KEY equals the literal VALUE; repeatable")
    parser.add_argument("--group", choices=["search", "job"],
                        help="search: a table per hyperparameter search; job: a table per distributed job (its ranks)")
    parser.set_defaults(handler=handle)


def _positive(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a positive number of runs, not {text!r}")
    return number


@dataclass(frozen=True)
class MetricChoice:
    """A metric column: its key, and which way is best."""

    key: str
    mode: str
    explicit: bool = False


def guess_mode(key: str) -> str:
    """``min`` for a key that names a loss or an error, else ``max``."""
    lowered = key.lower()
    return "min" if any(word in lowered for word in _LOWER_IS_BETTER) else "max"


def parse_metric(text: str) -> MetricChoice:
    """``val/acc:max`` -> key ``val/acc``, mode ``max``; ``loss`` -> mode by :func:`guess_mode`."""
    key, colon, mode = text.rpartition(":")
    if colon and mode in ("max", "min") and key:
        return MetricChoice(key, mode, True)
    return MetricChoice(text, guess_mode(text))


def handle(args: argparse.Namespace, path: Path) -> int:
    from ato.config.flat import flat_config
    from ato.errors import UnknownMetricError
    from ato.tracking.finder import SQLFinder

    with SQLFinder(path) as finder:
        if args.project is not None:
            finder.get_project(args.project)  # an unknown project is an error, not an empty list
            runs = finder.get_runs_in_project(args.project)
        else:
            runs = finder.get_all_runs()
    flats = {run.id: flat_config(run.config) for run in runs}
    logged = sorted({key for run in runs for key in run.metric_summaries})
    where = f"in project {args.project!r}" if args.project is not None else f"in {path}"
    choices = [parse_metric(text) for text in args.metric or []]
    for choice in choices:
        if runs and choice.key not in logged:
            raise UnknownMetricError(choice.key, logged, where)
    if not choices:
        first = next((key for run in runs for key in sorted(run.metric_summaries)), None)
        choices = [MetricChoice(first, guess_mode(first))] if first is not None else []

    if args.status is not None:
        runs = [run for run in runs if run.status == args.status]
    for condition in args.where:
        runs = _where(runs, flats, condition, where)
    if args.last is not None:
        runs = sorted(sorted(runs, key=lambda r: (r.started_at, r.id))[-args.last:], key=lambda r: r.id)
    if args.sort is not None:
        runs = _sort(runs, flats, args.sort, choices)

    searches = _searches(path, runs) if args.group == "search" or args.json else {}
    if args.json:
        emit_json([_json_row(run, flats[run.id], choices, searches.get(run.id)) for run in runs])
        return 0
    from ato.cli.run_table import print_table

    if args.group == "job":
        _print_jobs(runs, flats, args.cols, choices)
        return 0
    if args.group != "search":
        print_table(None, _columns(runs, flats, args.cols, choices))
        return 0
    groups: dict[str | None, list[Run]] = {}
    for run in runs:
        groups.setdefault(searches.get(run.id), []).append(run)
    summaries = {summary.search: summary for summary in _read_searches(path)}
    gap = False
    for search in [s for s in groups if s is not None] + ([None] if None in groups else []):
        members = groups[search]
        if gap:
            print()
        gap = True
        title = _search_title(search, summaries.get(search) if search else None, members)
        print_table(title, _columns(members, flats, args.cols, choices))
    return 0


def _print_jobs(runs: Sequence[Run], flats: dict[int, dict[str, Any]], cols: str | None,
                choices: list[MetricChoice]) -> None:
    """A table per job group, its runs in rank order, under a title with its size and statuses;
    then the runs of no group."""
    from ato.cli.run_table import print_table

    jobs: dict[str, list[Run]] = {}
    for run in runs:
        jobs.setdefault(run.group, []).append(run)
    gap = False
    for group in [g for g in jobs if g] + ([""] if "" in jobs else []):
        members = sorted(jobs[group], key=lambda r: (r.rank is None, r.rank or 0, r.id))
        if gap:
            print()
        gap = True
        print_table(_job_title(group, members), _columns(members, flats, cols, choices))


def _job_title(group: str, members: Sequence[Run]) -> str:
    if not group:
        return f"runs of no job group: {len(members)}"
    sizes = sorted({r.world_size for r in members if r.world_size is not None})
    statuses = sorted({r.status for r in members})
    size = f" of world size {'/'.join(map(str, sizes))}" if sizes else ""
    return f"job {group}: {len(members)} run(s){size}; {', '.join(statuses)}"


def _read_searches(path: Path) -> list[SearchSummary]:
    from ato.projections.searches import read_searches
    from ato.storage import loop

    return loop.call(read_searches, path)


def _searches(path: Path, runs: Sequence[Run]) -> dict[int, str]:
    """The search each run belongs to: the one it recorded, or the one its trial config names."""
    recorded = {summary.run_uid: summary.search for summary in _read_searches(path)}
    found = {}
    for run in runs:
        search = recorded.get(run.uid)
        if search is None:
            named = run.config.get(_SEARCH_KEY) if hasattr(run.config, "get") else None
            search = named if isinstance(named, str) else None
        if search is not None:
            found[run.id] = search
    return found


def _search_title(search: str | None, summary: SearchSummary | None, members: Sequence[Run]) -> str:
    if search is None:
        return "runs of no search"
    if summary is None:
        return f"search {search[:12]}: {len(members)} trial run(s) (the search's own run is not listed)"
    from ato.cli.run_table import format_number

    owner = next((run.id for run in members if run.uid == summary.run_uid), None)
    recorded = f"recorded by run {owner}" if owner is not None else "recorded by a run not listed"
    ending = (f"winner trial {summary.winner} (metric {format_number(summary.metric)})"
              if summary.winner is not None else "not finished")
    return (f"search {search[:12]}, {recorded}: {summary.trials} trials, {summary.rounds} round(s), {ending}; "
            f"trials: ato replay {owner if owner is not None else summary.run_uid[:12]}")


def _where(runs: list[Run], flats: dict[int, dict[str, Any]], condition: str, where: str) -> list[Run]:
    from ato.config.literals import parse_value
    from ato.errors import CLIArgumentError, UnknownConfigKeyError

    key, equals, text = condition.partition("=")
    key = key.strip()
    if not equals or not key:
        raise CLIArgumentError(condition, "--where takes KEY=VALUE (a config key, and a literal to compare with)")
    value = parse_value(text, token=condition)
    known = {k for flat in flats.values() for k in flat}
    if key not in known:
        raise UnknownConfigKeyError(key, known, f"in the runs' configs {where}")
    missing = object()
    return [run for run in runs if _equal(flats[run.id].get(key, missing), value)]


def _equal(found: Any, wanted: Any) -> bool:
    """Whether a config value equals a --where literal (numbers by value, bools only as bools)."""
    from ato.config.flat import same_value

    def number(x: Any) -> bool:
        return isinstance(x, (int, float)) and not isinstance(x, bool)

    if number(found) and number(wanted):
        return bool(found == wanted) or (math.isnan(found) and math.isnan(wanted))
    item = getattr(found, "item", None)  # a numpy scalar: its Python value
    if callable(item) and type(found).__module__ == "numpy" and getattr(found, "ndim", None) == 0:
        return _equal(item(), wanted)
    return same_value(found, wanted)


def _best(run: Run, choice: MetricChoice) -> float | None:
    summary = run.metric_summaries.get(choice.key)
    if summary is None:
        return None
    return summary.max if choice.mode == "max" else summary.min


def _sort(runs: list[Run], flats: dict[int, dict[str, Any]], spec: str, choices: list[MetricChoice]) -> list[Run]:
    from ato.errors import UnknownNameError

    reverse = spec.startswith("-")
    name = spec[1:] if reverse else spec
    metrics = {key for run in runs for key in run.metric_summaries}
    configs = {k for flat in flats.values() for k in flat}
    modes = {choice.key: choice.mode for choice in choices}

    def keyed(value: Any) -> tuple[int, Any]:
        return (1, 0) if value is None else (0, value)

    key: Callable[[Run], Any]
    if name in _FIELDS:
        key = {
            "id": lambda r: (0, r.id),
            "started": lambda r: (0, r.started_at),
            "duration": lambda r: keyed(None if r.finished_at is None else r.finished_at - r.started_at),
            "status": lambda r: (0, r.status),
            "host": lambda r: (0, r.host),
            "project": lambda r: (0, r.project),
            "rank": lambda r: keyed(r.rank),
            "group": lambda r: (0, r.group),
        }[name]
    elif name.endswith(":last") and name[: -len(":last")] in metrics:
        metric = name[: -len(":last")]

        def key(r: Run) -> Any:
            summary = r.metric_summaries.get(metric)
            return keyed(None if summary is None or math.isnan(summary.last) else summary.last)
    elif name.removesuffix(":best") in metrics or parse_metric(name).key in metrics:
        choice = parse_metric(name.removesuffix(":best"))
        mode = choice.mode if choice.explicit else modes.get(choice.key, choice.mode)

        def key(r: Run) -> Any:
            best = _best(r, MetricChoice(choice.key, mode))
            return keyed(None if best is None else (-best if mode == "max" else best))
    elif name in configs:
        def key(r: Run) -> Any:
            # (0, ...) for every run with a value, numbers before text (a reverse sort reverses
            # both); a missing value or a NaN stays last either way.
            value = flats[r.id].get(name)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return (2, 0, "", 0) if value != value else (0, 0, "", value)
            if value is None:
                return (2, 0, "", 0)
            return (0, 1, type(value).__name__, repr(value))
    else:
        known = [*_FIELDS, *configs, *metrics, *(f"{m}:last" for m in metrics)]
        raise UnknownNameError(name, known, "among the columns ato runs sorts by")
    if not reverse:
        return sorted(runs, key=key)
    # Reversed, runs without the value stay last and ties keep id order (a stable reverse sort).
    present = sorted((r for r in runs if key(r)[0] == 0), key=key, reverse=True)
    return present + sorted((r for r in runs if key(r)[0] != 0), key=key)


def _config_keys(runs: Sequence[Run], flats: dict[int, dict[str, Any]], cols: str | None) -> list[str]:
    from ato.config.flat import select_keys, varying_keys
    from ato.errors import UnknownConfigKeyError

    if cols is None:
        return [key for key in varying_keys([flats[run.id] for run in runs]) if key != _SEARCH_KEY]
    known: dict[str, None] = {}
    for run in runs:
        known.update(dict.fromkeys(flats[run.id]))
    keys: list[str] = []
    for wanted, named in select_keys([c.strip() for c in cols.split(",") if c.strip()], known).items():
        if not named and runs:
            parents = {key.rsplit(".", 1)[0] for key in known if "." in key}
            raise UnknownConfigKeyError(wanted, [*known, *parents], "in the listed runs' configs")
        keys += [key for key in named if key not in keys]
    return keys


def _columns(runs: Sequence[Run], flats: dict[int, dict[str, Any]], cols: str | None,
             choices: list[MetricChoice]) -> list[Column]:
    from ato.cli.run_table import Column, format_duration, format_number, format_value

    keys = _config_keys(runs, flats, cols)
    columns = [
        Column("id", [str(r.id) for r in runs], numeric=True),
        Column("uid", [r.uid[:8] for r in runs], drop="uid"),
    ]
    if len({r.project for r in runs}) > 1:
        columns.append(Column("project", [r.project for r in runs], drop="project"))
    columns += [
        Column("status", [r.status for r in runs], drop="status"),
        Column("started", [when(r.started_at) for r in runs], drop="started"),
        Column("duration", [format_duration(_duration(r)) for r in runs], numeric=True, drop="duration"),
        Column("host", [r.host or "-" for r in runs], drop="host"),
    ]
    if any(r.rank is not None or r.world_size is not None for r in runs):
        columns.append(Column("rank", [_rank(r) for r in runs], drop="rank"))
    if any(r.group for r in runs):
        columns.append(Column("group", [r.group or "-" for r in runs], drop="group"))
    columns += [
        Column("tags", [",".join(r.tags) for r in runs], drop="tags"),
        Column("structure", [r.structural_hash[:8] for r in runs], drop="structure"),
    ]
    missing = object()
    for key in keys:
        values = [flats[r.id].get(key, missing) for r in runs]
        numeric = all(v is missing or (isinstance(v, (int, float)) and not isinstance(v, bool)) for v in values)
        columns.append(Column(key, ["-" if v is missing else format_value(v) for v in values], numeric=numeric))
    for choice in choices:
        summaries = [r.metric_summaries.get(choice.key) for r in runs]
        columns.append(Column(choice.key, [format_number(_best(r, choice)) for r in runs], numeric=True,
                              sub=f"best({choice.mode})"))
        columns.append(Column(choice.key, [format_number(s.last) if s else "-" for s in summaries], numeric=True,
                              sub="last"))
    return columns


def _rank(run: Run) -> str:
    """``RANK/WORLD`` (``?`` for a part not recorded), ``-`` for a run of one process."""
    if run.rank is None and run.world_size is None:
        return "-"
    return f"{'?' if run.rank is None else run.rank}/{'?' if run.world_size is None else run.world_size}"


def _duration(run: Run) -> float | None:
    return None if run.finished_at is None else max(run.finished_at - run.started_at, 0.0)


def _json_row(run: Run, flat: dict[str, Any], choices: list[MetricChoice], search: str | None) -> dict[str, Any]:
    chosen = []
    for choice in choices:
        summary = run.metric_summaries.get(choice.key)
        chosen.append({"key": choice.key, "mode": choice.mode, "best": _best(run, choice),
                       "last": summary.last if summary else None})
    return {
        "id": run.id, "uid": run.uid, "project": run.project, "status": run.status, "started_at": run.started_at,
        "finished_at": run.finished_at, "tags": run.tags, "structural_hash": run.structural_hash,
        "metrics": {k: vars(v) for k, v in run.metric_summaries.items()},
        "host": run.host, "duration": _duration(run), "config": flat, "chosen": chosen, "search": search,
        "rank": run.rank, "world_size": run.world_size, "group": run.group,
    }

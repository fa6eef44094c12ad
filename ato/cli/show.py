"""``ato show RUN``: one run on one page: what it was, its config and who set each key, its
metrics, its artifacts and the environment it ran in.

- **Run**: id, uid, project, status, tags, host, pid, command line, start, finish, duration (a
  running run: none yet), structural hash, and the searches it recorded (``ato replay RUN`` lists
  their trials).
- **Config**: every key, flattened (``model.depth``), with its value and its provenance: the step
  that set it last (a view, a CLI literal, a lazy block, ...) and how many steps set it before.
  Keys outside any recorded merge (a run started without ``@scope``) say ``-``; ``ato replay RUN
  --key KEY`` shows a key's whole chain.
- **Metrics**: per key, the count, the last step and value, the finite minimum and maximum.
- **Artifacts**: path, type, size and SHA-256 (of a local file), as logged.
- **Environment**: from the run's environment fingerprint: Python and platform, numpy/torch/CUDA
  versions where the script imported them, git commit and dirty state, torch's numerics
  switches and the relevant environment variables; the installed packages are counted (``--json``
  lists them all).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ato.cli.output import emit_json, table, when

if TYPE_CHECKING:
    from ato.tracking.finder import Run

__all__ = ["register"]


def register(command: Callable[[str, str, str], argparse.ArgumentParser]) -> None:
    parser = command(
        "show", "Show one run: config with who set each key, metrics, artifacts, environment, duration.",
        "ato show 3              # run 3\n  ato show a3f9 --json    # by uid prefix, for scripts",
    )
    parser.add_argument("run", help="run id (or a prefix of its uid)")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace, path: Path) -> int:
    from ato.tracking.finder import SQLFinder

    with SQLFinder(path) as finder:
        run = finder.get_run(args.run)
        data = _collect(finder, run)
    if args.json:
        emit_json(data)
        return 0
    _print(data)
    return 0


def _collect(finder: Any, run: Run) -> dict[str, Any]:
    from ato.config.flat import flat_config
    from ato.tracking.replay import replay_merges, type_name

    setters: dict[str, tuple[str, str, int]] = {}
    for scope in replay_merges(finder, run.id).scopes:
        for entry in scope.keys:
            if entry.chain and entry.key not in setters:
                last = entry.chain[-1]
                setters[entry.key] = (last["step"], last["kind"], len(entry.chain) - 1)
    config = []
    for key, value in flat_config(run.config).items():
        step, kind, earlier = setters.get(key, (None, None, 0))
        config.append({"key": key, "value": value, "type": type_name(value), "set_by": step, "kind": kind,
                       "earlier_steps": earlier})
    environment = next((f.detail for f in run.fingerprints if f.kind == "environment"), None)
    searches = list(finder.get_run_events(run.id).searches)
    duration = None if run.finished_at is None else max(run.finished_at - run.started_at, 0.0)
    return {
        "run": {
            "id": run.id, "uid": run.uid, "project": run.project, "status": run.status, "tags": run.tags,
            "host": run.host, "pid": run.pid, "argv": run.argv, "started_at": run.started_at,
            "finished_at": run.finished_at, "duration": duration, "structural_hash": run.structural_hash,
        },
        "config": config,
        "metrics": {key: vars(summary) for key, summary in run.metric_summaries.items()},
        "artifacts": [
            {"path": a.path, "data_type": a.data_type, "metadata": a.data_info, "size": a.size, "sha256": a.sha256,
             "logged_at": a.logged_at}
            for a in run.artifacts
        ],
        "environment": None if environment is None else _environment(environment),
        "searches": searches,
    }


def _environment(detail: dict[str, Any]) -> dict[str, Any]:
    """The parts of an environment fingerprint's detail that ``ato show`` names (absent: null)."""
    packages = detail.get("packages")
    return {
        "python": detail.get("python"), "implementation": detail.get("implementation"),
        "platform": detail.get("platform"), "machine": detail.get("machine"),
        "frameworks": detail.get("frameworks") or {}, "git": detail.get("git"),
        "numerics": detail.get("numerics") or {}, "variables": detail.get("variables") or {},
        "packages": packages if isinstance(packages, dict) else {},
    }


def _print(data: dict[str, Any]) -> None:
    from ato.cli.run_table import format_duration, format_number, format_value

    run = data["run"]
    print(f"run {run['id']} ({run['uid']}), project {run['project']}, {run['status']}")
    ended = f"finished {when(run['finished_at'])}" if run["finished_at"] is not None else "not finished"
    print(f"  started {when(run['started_at'])}, {ended}, duration {format_duration(run['duration'])}")
    print(f"  host {run['host'] or '-'}, pid {run['pid']}, command line: {' '.join(run['argv']) or '-'}")
    print(f"  tags: {', '.join(run['tags']) or '-'}; structure {run['structural_hash'][:12]}")
    for search in data["searches"]:
        print(f"  recorded search {search[:12]}: ato replay {run['id']} lists its trials")

    print()
    rows = []
    for entry in data["config"]:
        setter = "-" if entry["set_by"] is None else f"{entry['set_by']} ({entry['kind']})"
        if entry["earlier_steps"]:
            setter += f", over {entry['earlier_steps']} earlier step(s)"
        rows.append([entry["key"], format_value(entry["value"]), setter])
    if rows:
        table("config", ["key", "value", "set by"], rows)
    else:
        print("config: empty")

    print()
    metrics = data["metrics"]
    if metrics:
        table("metrics", ["key", "points", "last step", "last", "min", "max"], [
            [key, str(m["count"]), str(m["last_step"]), format_number(m["last"]), format_number(m["min"]),
             format_number(m["max"])]
            for key, m in metrics.items()
        ])
    else:
        print("metrics: none logged")

    print()
    if data["artifacts"]:
        table("artifacts", ["path", "type", "size", "sha256"], [
            [a["path"], a["data_type"] or "-", "-" if a["size"] is None else str(a["size"]), (a["sha256"] or "-")[:12]]
            for a in data["artifacts"]
        ])
    else:
        print("artifacts: none logged")

    print()
    env = data["environment"]
    if env is None:
        print("environment: not recorded")
        return
    print("environment")
    print(f"  python {env['python'] or '?'} ({env['implementation'] or '?'}), {env['platform'] or '?'}, "
          f"{env['machine'] or '?'}")
    if env["frameworks"]:
        print("  " + ", ".join(f"{name} {version}" for name, version in env["frameworks"].items()))
    git = env["git"]
    if isinstance(git, dict):
        state = "dirty" if git.get("dirty") else "clean"
        print(f"  git {str(git.get('commit') or '?')[:12]} ({state})")
    else:
        print("  git: not a git work tree")
    if env["numerics"]:
        print(f"  numerics: {len(env['numerics'])} torch switch(es) recorded (ato show --json lists them)")
    for name, value in env["variables"].items():
        print(f"  ${name}={value}")
    print(f"  {len(env['packages'])} packages installed (ato show --json lists them)")

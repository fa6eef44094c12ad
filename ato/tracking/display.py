"""What the answers of ``ato diff`` and ``ato replay`` show in a notebook or a rich console: a
:class:`~ato.tracking.diff.RunDiff` and a :class:`~ato.tracking.replay.MergeReplay` (with its
:class:`~ato.tracking.replay.ScopeReplay` per scope) as tables, with the same sections and words
as the command prints (see :mod:`ato.display` for the bounds and the escaping).

Fingerprints are shown by their first 12 hex digits, as the command shows uids; the full values
are in the objects and in ``to_json()``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ato.display import ROWS, Grid, View, count, limited, text, value_text

if TYPE_CHECKING:
    from ato.projections.queries import Run
    from ato.tracking.diff import RunDiff
    from ato.tracking.replay import MergeReplay, ScopeReplay

__all__ = ["diff_repr", "diff_view", "divergence", "replay_views", "scope_view", "where_diverged"]

_CHAIN = 4  # steps of a key's chain shown (the latest); the earlier ones are counted
_SCOPES = 20  # scopes of one replay shown; the rest are counted


def _who(run: Run) -> str:
    return f"run {run.id} ({text(run.uid[:12])}), project {text(run.project, 60)}, {text(run.status, 20)}"


def _short(value: Any) -> str:
    return "—" if value is None else text(value, 12)


def _side(value: Any, set_by: str) -> str:
    if set_by == "absent":
        return "absent"
    how = text(set_by) if set_by.startswith("not set") else f"set by {text(set_by)}"
    return f"{value_text(value)}\n{how}"


def diff_view(diff: RunDiff) -> View:
    """Why two runs differ: a line per section, then a table per section that differs."""
    view = View(f"Why do runs {diff.a.id} and {diff.b.id} differ?", [("a", _who(diff.a)), ("b", _who(diff.b))])
    structure = diff.structure
    if diff.numerics:
        numerics = f"{count(len(diff.numerics), 'changed switch', 'changed switches')} (may change results)"
    elif diff.numerics_recorded:
        numerics = "same switches"
    elif diff.numerics_recorded_by:
        numerics = "not compared (only one run recorded torch's switches)"
    else:
        numerics = "not recorded (neither run recorded torch's switches)"
    differing = sum(m["first_difference"] is not None for m in diff.metrics)
    view.fields += [
        ("config", count(len(diff.config), "differing key") if diff.config else "same values"),
        ("structure", f"differs ({_short(structure['a'])} vs {_short(structure['b'])})" if structure else "same"),
        ("code", count(len(diff.code), "changed function") if diff.code else "same fingerprints"),
        ("runtime", count(len(diff.runtime), "differing output") if diff.runtime else "same outputs"),
        ("numerics", numerics),
        ("environment", count(len(diff.environment), "difference") if diff.environment else "same"),
        ("metrics", f"shared {len(diff.metrics):,}, differing {differing:,}" if diff.metrics else "none shared"),
    ]
    config = [(text(c["key"]), _side(c["a"], c["set_by_a"]), _side(c["b"], c["set_by_b"])) for c in diff.config]
    grids = [Grid.of("Config", ("key", f"run {diff.a.id}", f"run {diff.b.id}"), config, what="keys")]
    code = [
        (text(c["trace_id"]), limited(c["changed"], 10, "helpers") if "changed" in c else "recorded in only one run",
         _short(c["a"]), _short(c["b"]))
        for c in diff.code
    ]
    grids.append(Grid.of("Code", ("trace id", "what changed", f"run {diff.a.id}", f"run {diff.b.id}"), code,
                         what="functions"))
    grids.append(Grid.of("Runtime", ("trace id", "calls", "first divergence"),
                         [(text(r["trace_id"]), f"{r['calls_a']:,} vs {r['calls_b']:,}", divergence(r))
                          for r in diff.runtime], what="functions"))
    grids.append(Grid.of("Numerics", ("switch", f"run {diff.a.id}", f"run {diff.b.id}"),
                         [(text(n["switch"]), value_text(n["a"]), value_text(n["b"])) for n in diff.numerics],
                         what="switches"))
    grids.append(Grid.of("Environment", ("what", f"run {diff.a.id}", f"run {diff.b.id}"),
                         [(text(e["what"]), value_text(e["a"]), value_text(e["b"])) for e in diff.environment],
                         what="differences"))
    grids.append(Grid.of("Metrics", ("key", "first difference"),
                         [(text(m["key"]), _first_difference(m["first_difference"])) for m in diff.metrics],
                         what="metrics"))
    view.grids = [grid for grid in grids if grid.rows]  # a section with no difference is its field's line
    view.notes.append(diff.verdict)
    return view


def where_diverged(entry: dict[str, Any]) -> str:
    """Where a runtime difference of a diff (``RunDiff.runtime``) first diverged, in words: what
    the ``ato diff`` text and this view both say."""
    at = entry.get("first_divergent_call")
    if at is not None:
        return f"first diverged at call {at:,}"
    if "diverged_after" in entry:
        return f"diverged after call {entry['diverged_after'] - 1:,} (digests are kept for the first calls only)"
    return "recorded in only one run"


def divergence(entry: dict[str, Any]) -> str:
    """Where a runtime entry of a diff first diverged, in words (and its note, if any)."""
    shown = where_diverged(entry)
    return f"{shown}\n{text(entry['note'])}" if entry.get("note") else shown


def _first_difference(first: dict[str, Any] | None) -> str:
    if first is None:
        return "identical"
    return f"step {first['step']:,}: {value_text(first['a'], 40)} vs {value_text(first['b'], 40)}"


def diff_repr(diff: RunDiff) -> str:
    """A diff's plain repr, one short line: the runs, how many differences per section."""
    counts = ", ".join(
        f"{name}={len(getattr(diff, name))}" for name in ("config", "code", "runtime", "numerics", "environment")
    )
    differing = sum(m["first_difference"] is not None for m in diff.metrics)
    return (f"RunDiff(a={diff.a.id}, b={diff.b.id}, {counts}, structure={'differs' if diff.structure else 'same'}, "
            f"metrics={differing} of {len(diff.metrics)} differ)")


def scope_view(scope: ScopeReplay) -> View:
    """One scope's merge: the applying order of its views, every final key with the steps that
    set it (the latest few), and whether the replay is exact."""
    view = View(f'Scope "{text(scope.scope, 80)}"', [
        ("argv", text(" ".join(map(str, scope.argv))) if scope.argv else "—"),
        ("replay", "exact (values, types and structural hash equal the recorded config)" if scope.exact
         else "NOT exact"),
    ])
    order = [
        (str(step["index"]), text(step["step"]), text(step["kind"]),
         "" if step["priority"] is None else str(step["priority"]),
         text(step["chained_by"]) if step["chained_by"] else "")
        for step in scope.order
    ]
    view.grids.append(Grid.of("Applying order", ("#", "view", "kind", "priority", "chained by"), order, what="steps"))
    keys = [(text(entry.key), value_text(entry.value), _chain(entry.chain)) for entry in scope.keys]
    view.grids.append(Grid.of("Final keys", ("key", "value", "set by"), keys, ROWS * 2, "keys", "(no keys)"))
    problems = scope.differences + [f"not replayable: {path}" for path in scope.not_replayable]
    if problems:
        view.grids.append(Grid.of("Why not exact", ("problem",), [(text(p),) for p in problems], what="problems"))
    return view


def _chain(chain: list[dict[str, Any]]) -> str:
    lines = [f"… {count(len(chain) - _CHAIN, 'earlier step')}"] if len(chain) > _CHAIN else []
    for link in chain[-_CHAIN:]:
        change = (f"set {value_text(link['new'], 60)}" if link["added"]
                  else f"{value_text(link['old'], 60)} -> {value_text(link['new'], 60)}")
        lines.append(f"{text(link['step'], 60)} ({text(link['kind'], 20)}): {change}")
    return "\n".join(lines) if lines else "—"


def replay_views(replay: MergeReplay) -> list[View]:
    """A run's merge audit: the run and whether it replays exactly, then each scope's view."""
    head = View(f"Merge replay of run {replay.run.id}", [
        ("run", _who(replay.run)),
        ("replay", "exact" if replay.exact else "NOT exact"),
        ("scopes", f"{len(replay.scopes):,}"),
    ])
    if not replay.scopes:
        head.notes.append("no merge trace: this run was not started inside a @scope function")
    if len(replay.scopes) > _SCOPES:
        head.notes.append(f"the first {_SCOPES} of {len(replay.scopes):,} scopes are shown")
    return [head, *map(scope_view, replay.scopes[:_SCOPES])]

"""Views: the named pieces a config is merged from, and the order a merge applies them in.

The order, for the views a command line asks for (every ``default=True`` view plus the named
ones, plus whatever they chain with, transitively):

1. Non-lazy views, sorted by ``priority`` (ties keep registration order for defaults, then
   command-line order). A view's ``chain_with`` views are applied just before it, unless their
   own turn came earlier. Each view is applied once.
2. The command line's ``key=value`` literals, left to right.
3. The ``with Scope.lazy():`` blocks of the views from step 1, in the order those views ran.
4. Lazy views (``lazy=True``), ordered like step 1. A lazy view's non-lazy dependencies run in
   step 1.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ato.errors import CLIArgumentError, ConfigError
from ato.events.types import StepKind

__all__ = ["PlannedView", "View", "order_views", "suggest"]


@dataclass(frozen=True)
class View:
    """A registered view: a function ``f(config)`` or a mapping merged into the config."""

    name: str
    source: Callable[..., Any] | Mapping[Any, Any] | Any
    default: bool = False
    priority: int = 0
    lazy: bool = False
    chain_with: tuple[str, ...] = ()
    registered: int = 0


@dataclass(frozen=True)
class PlannedView:
    view: View
    kind: StepKind
    chained_by: str | None = None


def suggest(name: str, candidates: Iterable[str]) -> str:
    """A ``; did you mean 'x'?`` hint, or nothing when no candidate is close."""
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def order_views(
    views: Mapping[str, View], requested: Iterable[str], scope: str, *, strict: bool = True
) -> tuple[list[PlannedView], list[PlannedView]]:
    """Return the (eager, lazy) applying order for the views the command line named.

    With ``strict=False`` (for the manual page) a chained view that is not registered is left
    out instead of raising.
    """
    wanted: dict[str, PlannedView] = {}
    for view in sorted(views.values(), key=lambda v: v.registered):
        if view.default:
            wanted[view.name] = PlannedView(view, StepKind.DEFAULT)
    for name in requested:
        if name not in views:
            known = ", ".join(sorted(views)) or "none"
            raise CLIArgumentError(
                name, f"no view named {name!r} in scope {scope!r}{suggest(name, views)} (views: {known})"
            )
        wanted.setdefault(name, PlannedView(views[name], StepKind.NAMED))
    _add_chained(views, wanted, scope, strict)
    eager = [p for p in wanted.values() if not p.view.lazy]
    lazy = [
        PlannedView(p.view, StepKind.LAZY, p.chained_by) for p in wanted.values() if p.view.lazy
    ]
    return _ordered(eager), _ordered(lazy)


def check_chains(views: Mapping[str, View], scope: str) -> None:
    """Raise :class:`ConfigError` for a ``chain_with`` cycle among the registered views."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(name: str, path: list[str]) -> None:
        if state.get(name) == 2 or name not in views:
            return
        if state.get(name) == 1:
            cycle = " -> ".join([*path[path.index(name):], name])
            raise ConfigError(f"chain_with cycle in scope {scope!r}: {cycle}")
        state[name] = 1
        for dep in views[name].chain_with:
            visit(dep, [*path, name])
        state[name] = 2

    for name in views:
        visit(name, [])


def _add_chained(
    views: Mapping[str, View], wanted: dict[str, PlannedView], scope: str, strict: bool
) -> None:
    check_chains(views, scope)
    stack = list(wanted.values())
    while stack:
        planned = stack.pop(0)
        for dep in planned.view.chain_with:
            if dep not in views and not strict:
                continue
            if dep not in views:
                raise ConfigError(
                    f"view {planned.view.name!r} chains with {dep!r}, which scope {scope!r} "
                    f"does not have{suggest(dep, views)}"
                )
            if dep not in wanted:
                wanted[dep] = PlannedView(views[dep], StepKind.NAMED, planned.view.name)
                stack.append(wanted[dep])


def _ordered(planned: list[PlannedView]) -> list[PlannedView]:
    by_name = {p.view.name: p for p in planned}
    ranked = sorted(planned, key=lambda p: p.view.priority)  # stable: ties keep request order
    out: list[PlannedView] = []
    placed: set[str] = set()

    def visit(p: PlannedView) -> None:
        if p.view.name in placed:
            return
        placed.add(p.view.name)
        for dep in p.view.chain_with:
            if dep in by_name:
                visit(by_name[dep])
        out.append(p)

    for p in ranked:
        visit(p)
    return out

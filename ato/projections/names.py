"""The names a database knows: project names, metric keys, run ids and uids.

Read only when a question names something that is not there, so that the error can say what is
(``SQLFinder.find_best_run(project, "val_los")`` suggests ``val_loss``). Each function takes the
:class:`~ato.projections.queries.Queries` of an open database as its first argument, as every query
a finder asks does. Arguments are names that a query of :class:`Queries` has already accepted, or
ints: nothing here is the first to see user input.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ato.projections.queries import Queries
from ato.storage.database import translate_errors

__all__ = [
    "metric_keys_of_project",
    "metric_keys_of_runs",
    "project_names",
    "run_id_range",
    "runs_by_uid_prefix",
    "uids",
]


async def _rows(queries: Queries, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
    with translate_errors(queries.path):
        async with queries.log.connection.execute(sql, params) as cursor:
            return list(await cursor.fetchall())


async def project_names(queries: Queries) -> list[str]:
    """Every project's name."""
    return [row[0] for row in await _rows(queries, "SELECT name FROM projects ORDER BY name")]


async def metric_keys_of_project(queries: Queries, project: str) -> list[str]:
    """Every metric key that a run of ``project`` logged."""
    rows = await _rows(
        queries,
        "SELECT DISTINCT s.key FROM metric_summary s JOIN experiments e ON e.id = s.run_id "
        "JOIN projects p ON p.id = e.project_id WHERE p.name = ? ORDER BY s.key",
        (project,),
    )
    return [row[0] for row in rows]


async def metric_keys_of_runs(queries: Queries, run_ids: Sequence[int]) -> list[str]:
    """Every metric key that one of the runs ``run_ids`` (this database's ids) logged."""
    marks = ",".join("?" * len(run_ids))
    rows = await _rows(
        queries, f"SELECT DISTINCT key FROM metric_summary WHERE run_id IN ({marks}) ORDER BY key", tuple(run_ids)
    )
    return [row[0] for row in rows]


async def run_id_range(queries: Queries) -> tuple[int, int, int]:
    """How many runs there are, and the lowest and highest id (0, 0 where there is none)."""
    rows = await _rows(queries, "SELECT COUNT(*), COALESCE(MIN(id), 0), COALESCE(MAX(id), 0) FROM experiments")
    count, low, high = rows[0]
    return int(count), int(low), int(high)


async def uids(queries: Queries) -> list[tuple[int, str]]:
    """Every run's ``(id, uid)``, in id order."""
    return [(int(i), str(u)) for i, u in await _rows(queries, "SELECT id, uid FROM experiments ORDER BY id")]


async def runs_by_uid_prefix(queries: Queries, prefix: str, limit: int) -> list[tuple[int, str]]:
    """``(id, uid)`` of at most ``limit`` runs whose uid starts with ``prefix`` (lowercase hex)."""
    if not prefix or any(c not in "0123456789abcdef" for c in prefix):
        return []  # uids are hex: anything else (a LIKE wildcard included) names no run
    rows = await _rows(queries, "SELECT id, uid FROM experiments WHERE uid LIKE ? ORDER BY id LIMIT ?",
                       (f"{prefix}%", limit))
    return [(int(i), str(u)) for i, u in rows]

"""Which run recorded which search, and how each search ended: what ``ato runs --group search``
groups runs by.

Searches have no derived table (a database holds a handful), so this reads the log's search
events directly, by their envelope ``type`` column: never the metric events around them. An event
this version cannot decode is skipped, as the projections skip it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import msgspec

from ato.events.codec import decode_event
from ato.events.types import HalvingDecided, SearchFinished, SearchStarted
from ato.projections.queries import Queries
from ato.storage.database import translate_errors
from ato.storage.log import SQLiteEventLog

__all__ = ["SearchSummary", "read_searches", "searches"]

_TAGS = tuple(str(cls.__struct_config__.tag) for cls in (SearchStarted, HalvingDecided, SearchFinished))


@dataclass(frozen=True)
class SearchSummary:
    """One recorded search: the run that recorded it (its uid), its size, and its winner."""

    search: str
    run_uid: str
    trials: int | None
    rounds: int
    winner: int | None
    metric: float | None


async def searches(queries: Queries) -> list[SearchSummary]:
    """Every search the log records, in the order they started."""
    marks = ",".join("?" * len(_TAGS))
    with translate_errors(queries.path):
        async with queries.log.connection.execute(
            f"SELECT run, payload FROM events WHERE type IN ({marks}) ORDER BY seq", _TAGS
        ) as cursor:
            rows = list(await cursor.fetchall())
    started: dict[str, tuple[str, int | None]] = {}
    rounds: dict[str, int] = {}
    finished: dict[str, SearchFinished] = {}
    for run, payload in rows:
        try:
            event = decode_event(payload)
        except (msgspec.DecodeError, msgspec.ValidationError):
            continue
        if isinstance(event, SearchStarted):
            trials = event.settings.get("trials")
            started.setdefault(event.search, (run, trials if isinstance(trials, int) else None))
        elif isinstance(event, HalvingDecided):
            rounds[event.search] = rounds.get(event.search, 0) + 1
        elif isinstance(event, SearchFinished):
            finished[event.search] = event
    out = []
    for search, (run, trials) in started.items():
        end = finished.get(search)
        out.append(SearchSummary(search, run, trials, rounds.get(search, 0),
                                 end.winner if end else None, end.metric if end else None))
    return out


async def read_searches(path: Path) -> list[SearchSummary]:
    """:func:`searches` of the database at ``path``, opened read-only for it."""
    log = await SQLiteEventLog.open_read_only(path)
    try:
        return await searches(Queries(log))
    finally:
        await log.close()

"""How finders name runs, and why they never answer an unknown name with silence.

A run is named by:

- an ``int``, or text of digits only (``3``, ``"3"``): this database's id for it;
- ``"uid:PREFIX"``: a prefix of its global uid, digits only or not (``"uid:0412"``);
- any other text (``"a3f9"``): a prefix of its global uid.

A prefix that several runs share is an :class:`UnknownRunError` listing them; an unknown run's
error says which runs there are, and suggests the uid a digits-only argument may have meant.

A question that names something the database does not know raises instead of answering empty:
an unknown project (:class:`UnknownProjectError`), a metric key that no run in question logged
(:class:`UnknownMetricError`), each suggesting the closest known names. Where nothing is known yet
there is nothing to misspell, and the answer stays empty: ``find_best_run`` of a project none of
whose runs logged a metric yet is None, ``get_metrics`` of a run that logged no metric yet is an
empty series. Each function takes the :class:`Queries` of an open database first, as every query a
finder asks does.
"""

from __future__ import annotations

import difflib
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from ato.errors import (
    QueryError,
    UnknownMetricError,
    UnknownProjectError,
    UnknownRunError,
)
from ato.projections import names
from ato.projections.queries import Project, Queries, Run
from ato.projections.series import MetricSeries

__all__ = [
    "UID",
    "best_run",
    "metrics",
    "metrics_of",
    "project",
    "resolve",
    "run_or_none",
    "trace_statistics",
    "uid_prefix",
    "with_run",
]

T = TypeVar("T")
UID = "uid:"
_CANDIDATES = 10  # runs listed for an ambiguous prefix
_DIGITS_AS_UID = 4  # the fewest digits of an unknown run id that may be a uid prefix, as a hint


def uid_prefix(ref: object) -> str | None:
    """The uid prefix ``ref`` names (lowercase), or None where it names a local id (or is no name)."""
    if not isinstance(ref, str):
        return None
    if ref[:len(UID)].lower() == UID:
        return ref[len(UID):].lower()
    if ref.isascii() and ref.isdigit():
        return None
    return ref.lower()


def _shown(ref: object) -> str:
    return repr(str(ref)[:40])


async def resolve(queries: Queries, ref: Any) -> Any:
    """This database's id of the one run whose uid starts with the prefix ``ref`` names; ``ref``
    itself where it names a local id, or no run (the query it is passed to says so)."""
    prefix = uid_prefix(ref)
    if prefix is None:
        return ref
    if not prefix.strip():  # it would match every uid: in a file of one run, silently that one
        raise UnknownRunError(f"{_shown(ref)} names no run: give a run id or the start of a uid")
    found = await names.runs_by_uid_prefix(queries, prefix, _CANDIDATES + 1)
    if len(found) == 1:
        return found[0][0]
    if found:
        many = f"more than {_CANDIDATES}" if len(found) > _CANDIDATES else str(len(found))
        listed = ", ".join(f"run {run_id} (uid {uid[:12]})" for run_id, uid in found[:_CANDIDATES])
        raise UnknownRunError(
            f"{many} runs match the uid prefix {_shown(ref)} in {queries.path}: {listed}; give more of the uid",
            missing=False, suggestions=[str(run_id) for run_id, _ in found[:_CANDIDATES]],
        )
    return ref


async def _unknown_run(queries: Queries, ref: Any) -> UnknownRunError:
    """That there is no run ``ref``: which runs there are, and which one ``ref`` may mean."""
    count, low, high = await names.run_id_range(queries)
    if count == 0:
        return UnknownRunError(f"no run {_shown(ref)} in {queries.path}: it holds no runs yet")
    if count == 1:
        runs = f"run {low}"
    elif high - low + 1 == count:
        runs = f"runs {low} to {high}"
    else:
        runs = f"{count} runs, ids {low} to {high}"
    text = str(ref).lower()
    text = text[len(UID):] if text.startswith(UID) else text
    uids = await names.uids(queries)
    if not text:
        meant = []
    elif uid_prefix(ref) is None:
        # A local id that is not there: it may be the start of a uid written without "uid:"
        # (suggested only where that names one run, and for 4 digits or more: a shorter number
        # is a run id, and would start some random uid by chance).
        meant = [(run_id, uid) for run_id, uid in uids if uid.startswith(text)]
        meant = meant if len(meant) == 1 and len(text) >= _DIGITS_AS_UID else []
    else:
        # A uid prefix that is not there: the uids whose start is closest to it (a typo).
        starts = {uid[:len(text)]: (run_id, uid) for run_id, uid in uids}
        meant = [starts[start] for start in difflib.get_close_matches(text, list(starts), n=3)]
    hint = ""
    if meant:
        options = " or ".join(f"run {run_id} (uid {uid[:12]})" for run_id, uid in meant)
        hint = f"; did you mean {options}?"
        if uid_prefix(ref) is None:
            hint += f" (a uid prefix of digits only is written {UID}{text})"
    return UnknownRunError(f"no run {_shown(ref)} in {queries.path} (it holds {runs}){hint}",
                           suggestions=[str(run_id) for run_id, _ in meant])


async def with_run(queries: Queries, query: Callable[..., Awaitable[T]], ref: Any, *args: Any) -> T:
    """``query(queries, run, *args)`` for the run ``ref`` names; an unknown run explained."""
    resolved = await resolve(queries, ref)
    try:
        return await query(queries, resolved, *args)
    except UnknownRunError:
        raise await _unknown_run(queries, ref) from None


async def run_or_none(queries: Queries, ref: Any) -> Run | None:
    """The run ``ref`` names, or None where there is none (as in ato 2.1.7); an ambiguous uid
    prefix raises."""
    return await Queries.run_or_none(queries, await resolve(queries, ref))


async def project(queries: Queries, name: str) -> Project:
    """The project called ``name``; an unknown one raises, suggesting the closest names."""
    found = await queries.find_project(name)
    if found is None:
        raise UnknownProjectError(name, await names.project_names(queries), f"in {queries.path}")
    return found


async def _check_metric(queries: Queries, run_ids: Sequence[int], key: str, where: str) -> None:
    known = await names.metric_keys_of_runs(queries, run_ids)
    if known and key not in known:
        raise UnknownMetricError(key, known, where)


async def metrics(queries: Queries, ref: Any, key: str, max_points: int | None = None) -> MetricSeries:
    """One metric of the run ``ref`` names; a key the run never logged raises (among others it
    logged), an empty series where it logged none yet."""
    series = await with_run(queries, Queries.metrics, ref, key, max_points)
    if series.total == 0:
        await _check_metric(queries, [series.run_id], key, f"in run {series.run_id}")
    return series


async def metrics_of(
    queries: Queries, refs: Sequence[Any], key: str, max_points: int | None = None
) -> dict[int, MetricSeries]:
    """:func:`metrics` of several runs, by run id: a run without the key gets an empty series,
    but a key that none of them logged raises (among the others they logged)."""
    if isinstance(refs, (str, bytes)) or not isinstance(refs, Sequence):
        raise QueryError(f"run_ids must be a list of run ids, not {type(refs).__name__}")
    found: dict[int, MetricSeries] = {}
    for ref in refs:
        series = await with_run(queries, Queries.metrics, ref, key, max_points)
        found[series.run_id] = series
    if found and all(series.total == 0 for series in found.values()):
        ids = list(found)
        await _check_metric(queries, ids, key, f"in runs {', '.join(map(str, ids))}" if len(ids) > 1 else f"in run {ids[0]}")
    return found


async def best_run(queries: Queries, project_name: str, metric_key: str, mode: str = "max") -> Run | None:
    """The run of ``project_name`` with the best finite value of ``metric_key``. An unknown
    project, or a key that none of its runs logged while they logged others, raises; None where
    no run has a finite value of the key, or no run logged any metric yet."""
    found = await queries.best_run(project_name, metric_key, mode)
    if found is None:
        await project(queries, project_name)
        known = await names.metric_keys_of_project(queries, project_name)
        if known and metric_key not in known:
            raise UnknownMetricError(metric_key, known, f"in project {project_name!r}")
    return found


async def trace_statistics(queries: Queries, project_name: str, trace_id: str) -> dict[str, Any]:
    """How many code and runtime versions of ``trace_id`` the project's runs saw; an unknown
    project raises."""
    stats = await queries.trace_statistics(project_name, trace_id)
    if stats["runs"] == 0:
        await project(queries, project_name)
    return stats

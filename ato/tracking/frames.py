"""Runs and metric points as tables: ``SQLFinder.runs_frame`` / ``metrics_frame`` and ``ato export``.

**The runs table** (:func:`runs_table`, as a pandas DataFrame :func:`frame`) has one row per run,
in id order, and these columns:

- ``id``, ``uid``, ``project``, ``status``, ``host``;
- ``started``, ``finished``: when (a frame holds them as ``datetime64[ns, UTC]``; ``finished`` is
  NaT while a run runs); ``duration``: seconds from start to finish (NaN while it runs);
- ``tags``: the run's tags joined by commas (``df.tags.str.split(",")`` gives lists back; a run
  without tags has ``""``);
- the config, flattened: ``model.depth`` for ``config.model.depth`` (a non-text dict key is
  written with ``str``); a key some runs lack is missing (NaN/None) in theirs. Lists, tuples, an
  empty dict and values that could not be recorded stay one cell each, as the run object holds
  them. A config key named like one of the columns above is ``config.KEY`` (``config.status``);
- for each requested metric ``KEY``: ``KEY:last`` (the value at the highest step), ``KEY:min``
  and ``KEY:max`` (the finite extremes), and ``KEY:best`` where a direction is given
  (``"val/acc:max"``, ``"loss:min"``: the best finite value that way, as ``find_best_run``
  ranks). Without a direction there is no ``:best`` column: Ato does not guess whether a key is a
  loss. ``metrics=None`` asks for every key the project's runs logged. A NaN or infinite last
  value stays NaN or infinite; a run without the key, or with no finite value, has NaN there.

**The points table** (:func:`points_frame`) is long-form: columns ``run`` (the id), ``key``
(categorical), ``step`` (int64), ``value`` (float64, bit for bit as logged: NaN stays NaN) and
``timestamp`` (``datetime64[ns, UTC]``), one row per point, ordered by run (as given), key (as
given), then step. It is made from :meth:`SQLFinder.get_metrics_of_runs`' numpy arrays, never
point by point.

pandas is an optional extra (``pip install 'ato[export]'``), imported only here and only when a
frame is asked for; without it the frame methods raise :class:`MissingExtraError` in one line.
The plain :class:`Table` needs no pandas, so ``ato export --format json|markdown|latex`` works
without the extra (csv and parquet are written by pandas, parquet through pyarrow).
"""

from __future__ import annotations

import json
import math
import numbers
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Any

from ato.errors import AtoError, UnknownMetricError, UnknownNameError
from ato.events.values import OpaqueValue
from ato.projections.queries import Queries, Run
from ato.projections.series import MetricSeries
from ato.tracking import lookup

if TYPE_CHECKING:
    import pandas

__all__ = [
    "MissingExtraError",
    "Table",
    "UnknownColumnError",
    "cell_text",
    "for_files",
    "frame",
    "metric_specs",
    "pandas_module",
    "point_keys",
    "points_frame",
    "points_of_runs",
    "points_rows",
    "run_refs",
    "runs_of_project",
    "runs_table",
]

EXTRA = "pip install 'ato[export]'"
RUN_COLUMNS = ("id", "uid", "project", "status", "started", "finished", "duration", "tags", "host")
TIME_COLUMNS = frozenset({"started", "finished"})
STATS = ("last", "min", "max")
MODES = ("min", "max")
POINT_COLUMNS = ("run", "key", "step", "value", "timestamp")


class MissingExtraError(AtoError, ImportError):
    """An optional dependency is not installed; says which extra brings it."""

    def __init__(self, module: str, needed_by: str, extra: str = EXTRA) -> None:
        self.module = module
        super().__init__(f"{needed_by} needs {module}, which is not installed: {extra}")


class UnknownColumnError(UnknownNameError):
    """No column of that name in the table (``ato export --columns``, ``--sort``)."""

    what, plural = "column", "columns"


def pandas_module(needed_by: str) -> ModuleType:
    """pandas, or :class:`MissingExtraError` naming the extra (asked before any database work)."""
    try:
        import pandas
    except ImportError:  # also where sys.modules["pandas"] is None (how the tests block it)
        raise MissingExtraError("pandas", needed_by) from None
    return pandas


# -- the runs table ----------------------------------------------------------------------------------
@dataclass
class Table:
    """Columns of plain values, one per run, in order (None: missing). ``times`` are Unix seconds
    (datetimes in a frame); ``floats`` are float columns (float64 in a frame, missing as NaN)."""

    columns: dict[str, list[Any]]
    times: set[str] = field(default_factory=set)
    floats: set[str] = field(default_factory=set)

    @property
    def rows(self) -> int:
        return len(next(iter(self.columns.values()), []))

    def records(self) -> Iterator[dict[str, Any]]:
        """Each row as a dict, by column name."""
        names = list(self.columns)
        for values in zip(*self.columns.values()):
            yield dict(zip(names, values))


def metric_specs(metrics: str | Iterable[str] | None) -> list[tuple[str, str | None]] | None:
    """``"loss"``, ``["val/acc:max", "loss:min"]``: (key, direction or None) pairs; None: every key.
    Only a ``:min``/``:max`` suffix is a direction, so a key may itself hold colons."""
    if metrics is None:
        return None
    if isinstance(metrics, str):
        metrics = [metrics]
    specs: list[tuple[str, str | None]] = []
    for spec in metrics:
        if not isinstance(spec, str):
            raise TypeError(f"a metric is named by text ('loss', 'val/acc:max'), not {type(spec).__name__}")
        key, _, mode = spec.rpartition(":")
        specs.append((key, mode) if key and mode in MODES else (spec, None))
    return specs


async def runs_of_project(queries: Queries, project: str) -> list[Run]:
    """Every run of ``project``, in id order; an unknown project raises (suggesting names)."""
    await lookup.project(queries, project)
    return await queries.runs_in_project(project)


def runs_table(runs: Sequence[Run], metrics: list[tuple[str, str | None]] | None, where: str) -> Table:
    """The runs table of ``runs`` (see the module docstring). A requested metric key that none of
    the runs logged raises :class:`UnknownMetricError` (``where``: "in project 'x'"), unless they
    logged none at all: there is nothing to misspell then, and its columns are all NaN."""
    logged = list(dict.fromkeys(key for run in runs for key in run.metric_summaries))
    if metrics is None:
        metrics = [(key, None) for key in sorted(logged)]
    for key, _ in metrics:
        if logged and key not in logged:
            raise UnknownMetricError(key, logged, where)
    columns: dict[str, list[Any]] = {
        "id": [run.id for run in runs],
        "uid": [run.uid for run in runs],
        "project": [run.project for run in runs],
        "status": [run.status for run in runs],
        "started": [run.started_at for run in runs],
        "finished": [run.finished_at for run in runs],
        "duration": [None if run.finished_at is None else run.finished_at - run.started_at for run in runs],
        "tags": [",".join(run.tags) for run in runs],
        "host": [run.host for run in runs],
    }
    configs = [dict(_flatten(run.config)) for run in runs]
    for key in dict.fromkeys(key for config in configs for key in config):  # first-seen order
        name = f"config.{key}" if key in RUN_COLUMNS else key
        columns[name] = [config.get(key) for config in configs]
    floats = {"duration"}
    for key, mode in metrics:
        summaries = [run.metric_summaries.get(key) for run in runs]
        # best is the finite extreme in the direction given: the summary's min or max.
        wanted = [(stat, stat) for stat in STATS] + ([("best", mode)] if mode else [])
        for stat, attribute in wanted:
            name = f"{key}:{stat}"
            columns[name] = [None if summary is None else getattr(summary, attribute) for summary in summaries]
            floats.add(name)
    return Table(columns, set(TIME_COLUMNS), floats)


def _flatten(config: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            yield from _flatten(value, f"{name}.")
        else:
            yield name, _plain(value)


def _plain(value: Any) -> Any:
    """A numpy scalar as its Python value (a float32 config value reads as a float)."""
    if type(value).__module__ == "numpy" and hasattr(value, "item") and getattr(value, "ndim", None) == 0:
        return value.item()
    return value


def frame(table: Table) -> pandas.DataFrame:
    """``table`` as a DataFrame: times as ``datetime64[ns, UTC]``, float columns as float64
    (missing as NaN), other columns as pandas infers them (one value per cell, lists included)."""
    pd = pandas_module("a runs frame")
    import numpy as np

    data: dict[str, Any] = {}
    for name, values in table.columns.items():
        if name in table.times or name in table.floats:
            array = np.array([math.nan if value is None else value for value in values], dtype=np.float64)
            data[name] = pd.to_datetime(array, unit="s", utc=True) if name in table.times else array
        elif any(_is_cell_object(value) for value in values):
            # Lists, dicts and recorded objects: one cell each (pandas would try to spread them).
            data[name] = pd.Series(values, dtype=object)
        else:
            data[name] = pd.Series(values)
    return pd.DataFrame(data, index=pd.RangeIndex(table.rows))


def _is_cell_object(value: Any) -> bool:
    return value is not None and not isinstance(value, (str, bool, numbers.Number))


def for_files(table: Table) -> Table:
    """``table`` for csv/parquet, which hold one scalar type per column: a list, tuple, dict or
    recorded object becomes its JSON text (``[64, 64]``), and so does every value of a config
    column whose runs hold values of different types (``1`` in one, ``"a"`` in another)."""
    columns: dict[str, list[Any]] = {}
    for name, values in table.columns.items():
        if name in table.times or name in table.floats:
            columns[name] = values
            continue
        kinds = {_kind(value) for value in values if value is not None}
        if len(kinds) > 1 or "other" in kinds:
            columns[name] = [None if value is None else cell_text(value) for value in values]
        else:
            columns[name] = values
    return Table(columns, set(table.times), set(table.floats))


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, numbers.Real):
        return "number"
    if isinstance(value, str):
        return "text"
    return "other"


def cell_text(value: Any) -> str:
    """A config value as one cell of text: itself for text, else compact JSON (``[64, 64]``)."""
    if isinstance(value, str):
        return value
    return json.dumps(_jsonable(value), separators=(", ", ": "))


def _jsonable(value: Any) -> Any:
    """As ``ato ... --json`` writes a config value (tuples and sets as arrays, dict keys as text, a
    recorded object as ``{"$type", "$repr"}``); a float is left to ``json.dumps`` (``NaN``)."""
    if value is None or isinstance(value, (bool, str, int, float)):
        return value
    if isinstance(value, Mapping):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(item) for item in value]
    if isinstance(value, (set, frozenset)):
        return [_jsonable(item) for item in sorted(value, key=lambda item: (type(item).__name__, repr(item)))]
    if isinstance(value, OpaqueValue):
        return {"$type": value.type_name, "$repr": value.repr}
    if type(value).__module__ == "numpy" and hasattr(value, "tolist"):
        return _jsonable(value.tolist())
    return {"$type": f"{type(value).__module__}.{type(value).__qualname__}", "$repr": repr(value)[:1000]}


# -- the points table --------------------------------------------------------------------------------
def run_refs(runs: Any) -> list[Any]:
    """The runs a points table is asked for: run objects, ids or uid prefixes, one or a sequence
    (a pandas column of ids too)."""
    if isinstance(runs, (str, int, Run)) or not isinstance(runs, Iterable):
        runs = [runs]
    refs = []
    for ref in runs:
        if isinstance(ref, Run):
            ref = ref.id
        elif not isinstance(ref, (str, bool)) and isinstance(ref, numbers.Integral):
            ref = int(ref)  # a numpy integer from a frame's id column
        refs.append(ref)
    return refs


async def points_of_runs(queries: Queries, refs: Sequence[Any], keys: Sequence[str] | None) -> list[MetricSeries]:
    """The series of every (run, key), run-major; ``keys=None``: every key those runs logged (in
    name order). An unknown run or a key none of them logged raises, as ``get_metrics_of_runs``."""
    runs = [await lookup.with_run(queries, Queries.find_run, ref) for ref in refs]
    ids = list(dict.fromkeys(run.id for run in runs))
    if keys is None:
        keys = sorted({key for run in runs for key in run.metric_summaries})
    by_key = {key: await lookup.metrics_of(queries, ids, key) for key in dict.fromkeys(keys)} if ids else {}
    return [by_key[key][run_id] for run_id in ids for key in by_key]


def point_keys(keys: str | Iterable[str] | None) -> list[str] | None:
    """``"loss"`` or ``["loss", "acc"]`` as a list; None: every key."""
    if keys is None:
        return None
    keys = [keys] if isinstance(keys, str) else list(keys)
    for key in keys:
        if not isinstance(key, str):
            raise TypeError(f"a metric key is text, not {type(key).__name__}")
    return keys


def points_frame(series: Sequence[MetricSeries], keys: Sequence[str] | None = None) -> pandas.DataFrame:
    """The long-form points of ``series`` (see the module docstring): whole arrays concatenated,
    no Python object per point."""
    pd = pandas_module("a metrics frame")
    import numpy as np

    counts = [len(one) for one in series]
    categories = list(dict.fromkeys([*(keys or ()), *(one.key for one in series)]))
    code = {key: index for index, key in enumerate(categories)}

    def joined(arrays: list[Any], dtype: Any) -> Any:
        return np.concatenate(arrays).astype(dtype, copy=False) if arrays else np.empty(0, dtype=dtype)

    runs = np.repeat(np.array([one.run_id for one in series], dtype=np.int64), counts)
    codes = np.repeat(np.array([code[one.key] for one in series], dtype=np.int64), counts)
    timestamps = joined([one.timestamps for one in series], np.float64)
    return pd.DataFrame({
        "run": runs,
        "key": pd.Categorical.from_codes(codes, categories=categories),
        "step": joined([one.steps for one in series], np.int64),
        "value": joined([one.values for one in series], np.float64),
        "timestamp": pd.to_datetime(timestamps, unit="s", utc=True),
    })


def points_rows(series: Sequence[MetricSeries]) -> Iterator[dict[str, Any]]:
    """The same points as plain rows (for JSON: NaN stays a float, which JSON output spells)."""
    for one in series:
        for step, value, at in zip(one.steps.tolist(), one.values.tolist(), one.timestamps.tolist()):
            yield {"run": one.run_id, "key": one.key, "step": step, "value": value, "timestamp": at}


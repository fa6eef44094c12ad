"""What the framework integrations share: the run's settings, a logger started on first need,
and a metric filter. Nothing here imports a framework."""

from __future__ import annotations

import math
import numbers
import os
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

from ato.config.adict import ADict
from ato.tracking.logger import LoggerState, SQLLogger


def missing(module: str, what: str, extra: str) -> ImportError:
    """The one-line error of an integration whose framework is not installed."""
    return ImportError(f"{module} needs {what}: pip install 'ato[{extra}]'")


def base_config(config: Mapping[str, Any] | None, db: str | os.PathLike[str] | None, project: str | None) -> ADict:
    """The logger's own config: ``config`` (a copy) with ``db`` and ``project`` written into
    ``experiment.sql.db_path`` and ``experiment.project_name`` where given. A bare path is read as
    a SQLite file (``sqlite:///PATH``)."""
    merged = ADict(config or {}).clone() if config is not None else ADict()
    if db is not None or project is not None:
        experiment = merged.get("experiment")
        experiment = ADict(experiment) if isinstance(experiment, Mapping) else ADict()
        if db is not None:
            url = os.fspath(db)
            sql = experiment.get("sql")
            sql = ADict(sql) if isinstance(sql, Mapping) else ADict()
            sql["db_path"] = url if "://" in url else f"sqlite:///{url}"
            experiment["sql"] = sql
        if project is not None:
            experiment["project_name"] = project
        merged["experiment"] = experiment
    return merged


def with_values(config: ADict, values: Mapping[str, Any], what: str) -> ADict:
    """``config`` with ``values`` written over its top-level keys; ``experiment`` (where the
    database and project live) stays the logger's own, with a warning if ``values`` names it."""
    merged = config.clone()
    for key, value in values.items():
        if key == "experiment" and "experiment" in config:
            warnings.warn(f"ato: {what} key 'experiment' is not recorded: it is where Ato keeps the run's "
                          "database and project", UserWarning, stacklevel=3)
            continue
        merged[str(key)] = value
    return merged


class RunOwner:
    """What a framework's logger or callback keeps: its settings and the SQLLogger of its current
    (or last) run, created with each run, since a run's config is fixed when it starts."""

    def _own(self, config: Mapping[str, Any] | None, db: str | os.PathLike[str] | None, project: str | None,
             tags: Sequence[str], auto_finish: bool) -> None:
        self._config = base_config(config, db, project)
        self._tags = tuple(tags)
        self._auto_finish = auto_finish
        self._logger: SQLLogger | None = None

    def finish(self, status: str = "completed") -> None:
        """End the current run (with ``auto_finish=False``, call it when training and
        evaluation are done); a no-op where none is running."""
        if self._running():
            assert self._logger is not None
            self._logger.finish(status)
            self._logger.close()

    def _running(self) -> bool:
        return self._logger is not None and self._logger.state is LoggerState.RUNNING

    def _start_with(self, values: Mapping[str, Any], what: str) -> SQLLogger:
        """Start a new run whose config is the logger's own with ``values`` over it."""
        self._logger = start(with_values(self._config, values, what), self._tags)
        return self._logger


def start(config: ADict, tags: Sequence[str]) -> SQLLogger:
    """A new SQLLogger with its run started."""
    logger = SQLLogger(config)
    logger.run(tags=tags)
    return logger


def numeric(value: Any) -> bool:
    """Whether a framework's logged value is a metric Ato records: a real number, or a tensor or
    array holding one number (a string, a dict or a whole array is left out, as the frameworks'
    own loggers do). Non-finite values are numbers: a loss that went NaN is recorded as such."""
    if isinstance(value, bool):
        return False
    if isinstance(value, numbers.Real):
        return True
    shape = getattr(value, "shape", None)
    return shape is not None and math.prod(shape) == 1 and hasattr(value, "item")

"""Kept for the seed's import paths: ``from ato.db_routers.sql.manager import SQLLogger``.

``BaseLogger`` and ``BaseFinder`` are ato 2.1.7's bases of its SQL logger and finder, kept so that
2.1.7 code that names them keeps working: a logger or finder of one's own subclasses them
(``super().__init__(config)`` sets ``self.config``, as in 2.1.7), and type hints and
``isinstance(logger, BaseLogger)`` accept Ato's loggers and finders, which are registered as
virtual subclasses (they keep their own construction, and no ``.config`` attribute).
"""

from abc import ABCMeta
from typing import Any

from ato.tracking.finder import AsyncSQLFinder, SQLFinder
from ato.tracking.logger import AsyncSQLLogger, SQLLogger

__all__ = ["BaseFinder", "BaseLogger"]


class BaseLogger(metaclass=ABCMeta):  # noqa: B024  (2.1.7's base has no abstract method either)
    """ato 2.1.7's base of loggers; Ato's SQLLogger and AsyncSQLLogger count as ones."""

    def __init__(self, config: Any) -> None:
        self.config = config


class BaseFinder(metaclass=ABCMeta):  # noqa: B024
    """ato 2.1.7's base of finders; Ato's SQLFinder and AsyncSQLFinder count as ones."""

    def __init__(self, config: Any) -> None:
        self.config = config


BaseLogger.register(SQLLogger)
BaseLogger.register(AsyncSQLLogger)
BaseFinder.register(SQLFinder)
BaseFinder.register(AsyncSQLFinder)

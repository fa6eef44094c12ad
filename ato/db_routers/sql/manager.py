"""The seed's import path for the tracker: ``from ato.db_routers.sql.manager import SQLLogger``."""

from ato.tracking.finder import AsyncSQLFinder, SQLFinder
from ato.tracking.logger import AsyncSQLLogger, SQLLogger

__all__ = ["AsyncSQLFinder", "AsyncSQLLogger", "SQLFinder", "SQLLogger"]

"""The seed's import path for the tracker: ``from ato.db_routers.sql.manager import SQLLogger``."""

from ato.finder import SQLFinder
from ato.logger import AsyncSQLLogger, SQLLogger

__all__ = ["AsyncSQLLogger", "SQLFinder", "SQLLogger"]

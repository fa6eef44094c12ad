"""Kept for the seed's import paths: ``from ato.db_routers.sql.manager import SQLLogger``."""

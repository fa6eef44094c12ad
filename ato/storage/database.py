"""Where the database is, how a connection is opened, and how driver errors become Ato's own.

The URL comes from ``config.experiment.sql.db_path`` (``sqlite:///experiments.db`` as in the
seed, relative to the working directory; ``sqlite:////abs/path.db`` absolute; a plain path works
too); where the config has none, from ``ATO_DB``; else ``sqlite:///experiments.db``.

Connections use WAL (readers never block the writer, several processes can append), a 30 s busy
timeout, and ``synchronous=NORMAL``: a committed transaction survives the process being killed;
a power cut may lose the last few commits, never corrupt the file.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path
from typing import Any

import aiosqlite

from ato.errors import (
    AppendOnlyError,
    DatabaseError,
    DatabaseFullError,
    DatabaseLockedError,
    DatabaseReadOnlyError,
)

__all__ = ["DEFAULT_URL", "connect", "database_path", "translate_errors"]

DEFAULT_URL = "sqlite:///experiments.db"
BUSY_TIMEOUT_S = 30.0


def database_path(source: Mapping[str, Any] | str | os.PathLike[str] | None = None) -> Path:
    """The database file named by a config, a URL or path, ``ATO_DB``, or the default."""
    url: Any = source
    if isinstance(source, Mapping):
        url = _config_url(source)
    if url is None:
        url = os.environ.get("ATO_DB") or DEFAULT_URL
    text = os.fspath(url)
    if text.startswith("sqlite://"):
        text = text[len("sqlite://") :]
        if text.startswith("/"):
            text = text[1:]  # sqlite:///rel.db -> rel.db, sqlite:////abs.db -> /abs.db
    elif "://" in text:
        raise DatabaseError(text, "only sqlite:/// URLs are supported (Ato is local-first)")
    if not text or text == ":memory:":
        raise DatabaseError(text or url, "name a database file; Ato's log must outlive the process")
    return Path(text).expanduser().absolute()


def _config_url(config: Mapping[str, Any]) -> Any:
    experiment = config.get("experiment")
    sql = experiment.get("sql") if isinstance(experiment, Mapping) else None
    return sql.get("db_path") if isinstance(sql, Mapping) else None


async def connect(path: Path) -> aiosqlite.Connection:
    """Open ``path`` (creating it) in autocommit mode with Ato's pragmas."""
    with translate_errors(path):
        pending = aiosqlite.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        # aiosqlite's worker thread is not a daemon: an unclosed connection would hang interpreter
        # exit before atexit hooks (which flush and close) can run. SQLite's journal keeps the
        # file consistent however the thread ends.
        worker = getattr(pending, "_thread", None)
        if worker is not None:
            worker.daemon = True
        connection = await pending
        try:
            await connection.execute("PRAGMA journal_mode=WAL")
            await connection.execute("PRAGMA synchronous=NORMAL")
            await connection.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
        except BaseException:
            await connection.close()
            raise
    return connection


@contextlib.asynccontextmanager
async def transaction(connection: aiosqlite.Connection, path: Path) -> AsyncIterator[None]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``, rolled back on any error, errors translated."""
    with translate_errors(path):
        await connection.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            await connection.rollback()
            raise
        await connection.commit()


@contextlib.contextmanager
def translate_errors(path: Path) -> Iterator[None]:
    """Turn ``sqlite3`` errors into Ato's, with what to do about them."""
    try:
        yield
    except sqlite3.Error as exc:
        raise _translate(exc, path) from exc


def _translate(exc: sqlite3.Error, path: Path) -> DatabaseError:
    message = str(exc)
    lowered = message.lower()
    if "append-only" in lowered:
        return AppendOnlyError(path, "the event log is append-only; stored events cannot change")
    if "locked" in lowered or "busy" in lowered:
        return DatabaseLockedError(
            path,
            f"database is locked: another process held it for over {BUSY_TIMEOUT_S:.0f} s; "
            "nothing unflushed was dropped, retry flush() or finish()",
        )
    if "readonly" in lowered or "read-only" in lowered:
        return DatabaseReadOnlyError(
            path,
            "database is read-only: make the file and its folder writable, or point "
            "config.experiment.sql.db_path (or ATO_DB) elsewhere",
        )
    if "full" in lowered:
        return DatabaseFullError(
            path, "disk full: free space and retry flush(); nothing unflushed was dropped"
        )
    if "unable to open" in lowered:
        return DatabaseError(path, "cannot open the database file: does its folder exist and is it writable?")
    if "not a database" in lowered or "malformed" in lowered:
        return DatabaseError(path, f"not an Ato database, or damaged ({message})")
    return DatabaseError(path, message)

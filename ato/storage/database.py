"""Where the database is, how a connection is opened, and how driver errors become Ato's own.

The URL comes from ``config.experiment.sql.db_path`` (``sqlite:///experiments.db`` as in the
seed, relative to the working directory; ``sqlite:////abs/path.db`` absolute; a plain path works
too); where the config has none, from ``ATO_DB``; else ``sqlite:///experiments.db``.

Writers' connections use WAL (readers never block the writer, several processes can append), a
30 s busy timeout, and ``synchronous=NORMAL``: a committed transaction survives the process being
killed; a power cut may lose the last few commits, never corrupt the file.

Readers open the file read-only (SQLite's ``mode=ro``): they never create, migrate or lock it, so
they work on a read-only file or mount, and leave any file they are pointed at byte-identical. On
a read-only mount where SQLite cannot create the WAL index, a file with no pending WAL is opened as
immutable (nothing can change it there). Both sides refuse what is not a plain file (``/dev/null``,
a FIFO, a folder) and an SQLite file that is not Ato's; the log format version is kept in the
file (``PRAGMA user_version``) and a file from a newer, incompatible Ato is refused, not guessed.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat
import threading
import urllib.parse
import warnings
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

__all__ = ["DEFAULT_URL", "FORMAT_VERSION", "connect", "connect_read_only", "database_path", "translate_errors"]

DEFAULT_URL = "sqlite:///experiments.db"
BUSY_TIMEOUT_S = 30.0
_READ_ONLY_ADVICE = (
    "database is read-only: make the file and its folder writable, or point "
    "config.experiment.sql.db_path (or ATO_DB) elsewhere"
)
FORK_WAIT_S = 5.0  # how long fork() waits for this process's open transactions (see _ForkGate)
FORMAT_VERSION = 1  # raised only for changes an older Ato cannot read; new event types are not one


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
    """Open ``path`` for writing (creating it) in autocommit mode with Ato's pragmas."""
    if _require_plain_file(path) and not (os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)):
        raise DatabaseReadOnlyError(path, _READ_ONLY_ADVICE)
    connection = await _open(path, str(path), uri=False)
    try:
        with translate_errors(path):
            await check_format(connection, path, new_file_ok=True)
            await connection.execute("PRAGMA journal_mode=WAL")
            await connection.execute("PRAGMA synchronous=NORMAL")
    except BaseException:
        await connection.close()
        raise
    return connection


async def connect_read_only(path: Path) -> aiosqlite.Connection:
    """Open an existing Ato database read-only: nothing is created, migrated or locked."""
    if not _require_plain_file(path):
        raise DatabaseError(path, "no Ato database here (run a tracked script first, or pass --db)")
    quoted = urllib.parse.quote(str(path))
    try:
        connection = await _open(path, f"file:{quoted}?mode=ro", uri=True)
    except DatabaseError:
        if os.access(path.parent, os.W_OK) or _has_pending_wal(path):
            raise
        # A read-only mount: SQLite cannot create the WAL index, and no WAL holds anything the
        # main file lacks, so the file is read as it is.
        connection = await _open(path, f"file:{quoted}?mode=ro&immutable=1", uri=True)
    try:
        with translate_errors(path):
            await check_format(connection, path, new_file_ok=False)
    except BaseException:
        await connection.close()
        raise
    return connection


async def _open(path: Path, target: str, *, uri: bool) -> aiosqlite.Connection:
    with translate_errors(path):
        pending = aiosqlite.connect(target, timeout=BUSY_TIMEOUT_S, isolation_level=None, uri=uri)
        # aiosqlite's worker thread is not a daemon: an unclosed connection would hang interpreter
        # exit before atexit hooks (which flush and close) can run. SQLite's journal keeps the
        # file consistent however the thread ends.
        worker = getattr(pending, "_thread", None)
        if worker is not None:
            worker.daemon = True
        connection = await pending
        try:
            await connection.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
            # Reading the schema is the first real read: a file that is not SQLite fails here.
            await connection.execute("SELECT COUNT(*) FROM sqlite_master")
        except BaseException:
            await connection.close()
            raise
    return connection


def _require_plain_file(path: Path) -> bool:
    """Whether ``path`` exists; refuse it when it is not a regular file, or cannot be looked at."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise DatabaseError(path, f"cannot use this path: {exc.strerror or exc}") from None
    if not stat.S_ISREG(mode):
        raise DatabaseError(path, "not a regular file (a device, FIFO or folder); Ato keeps its log in a plain file")
    return True


def _has_pending_wal(path: Path) -> bool:
    wal = path.with_name(path.name + "-wal")
    return wal.exists() and wal.stat().st_size > 0


async def check_format(connection: aiosqlite.Connection, path: Path, *, new_file_ok: bool) -> None:
    """Refuse a file that is not an Ato database, or that a newer, incompatible Ato wrote."""
    async with connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'") as cursor:
        tables = {row[0] for row in await cursor.fetchall()}
    if "events" not in tables:
        from ato.storage.legacy import (
            is_legacy,  # here: legacy imports this module's errors
        )

        if is_legacy(tables):
            raise DatabaseError(
                path, f"an ato 2.1.7 database: `ato import {path} --db NEW.db` brings its runs into an Ato log "
                "(this file is left as it is)"
            )
        if tables:
            shown = ", ".join(sorted(tables)[:5])
            raise DatabaseError(path, f"not an Ato database (it holds other tables: {shown}); left untouched")
        if not new_file_ok:
            raise DatabaseError(path, "not an Ato database (no event log in it)")
        return
    async with connection.execute("PRAGMA user_version") as cursor:
        row = await cursor.fetchone()
    version = int(row[0]) if row else 0
    if version > FORMAT_VERSION:
        raise DatabaseError(
            path, f"written by a newer Ato (log format {version}; this one reads up to {FORMAT_VERSION}): upgrade ato"
        )


class _ForkGate:
    """Keeps ``fork()`` from copying this process's SQLite lock state in the middle of a
    transaction: a child that opens the file then would see a lock that nobody holds (SQLite's
    own advice: no connection across fork). Transactions pass the gate; a fork waits until none
    is open (up to ``FORK_WAIT_S``, then it warns and goes on), and new ones wait for the fork,
    which takes microseconds."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._open = 0
        self._forking = False

    def enter(self) -> None:
        with self._changed:
            while self._forking:
                self._changed.wait()
            self._open += 1

    def leave(self) -> None:
        with self._changed:
            self._open -= 1
            self._changed.notify_all()

    def before_fork(self) -> None:
        with self._changed:
            # Transactions take milliseconds; one waiting for another process's lock can take the
            # busy timeout, and a DataLoader starting its workers should not wait that long.
            if not self._changed.wait_for(lambda: self._open == 0, timeout=FORK_WAIT_S):
                warnings.warn(
                    f"ato: fork() waited {FORK_WAIT_S:.0f} s for an open database transaction and goes on; "
                    "a database opened in the child may see a lock until it times out",
                    RuntimeWarning, stacklevel=2,
                )
            self._forking = True

    def after_fork_in_parent(self) -> None:
        with self._changed:
            self._forking = False
            self._changed.notify_all()

    def after_fork_in_child(self) -> None:
        self.__init__()  # type: ignore[misc]


_fork_gate = _ForkGate()
os.register_at_fork(
    before=_fork_gate.before_fork,
    after_in_parent=_fork_gate.after_fork_in_parent,
    after_in_child=_fork_gate.after_fork_in_child,
)


@contextlib.asynccontextmanager
async def transaction(connection: aiosqlite.Connection, path: Path, *, begin: str = "BEGIN IMMEDIATE") -> AsyncIterator[None]:
    """``BEGIN IMMEDIATE`` (or ``begin``) ... ``COMMIT``, rolled back on any error, errors
    translated, never open across a ``fork()``."""
    _fork_gate.enter()
    try:
        with translate_errors(path):
            await connection.execute(begin)
            try:
                yield
            except BaseException:
                await connection.rollback()
                raise
            await connection.commit()
    finally:
        _fork_gate.leave()


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
        return DatabaseReadOnlyError(path, _READ_ONLY_ADVICE)
    if "full" in lowered:
        return DatabaseFullError(
            path, "disk full: free space and retry flush(); nothing unflushed was dropped"
        )
    if "unable to open" in lowered:
        return DatabaseError(path, "cannot open the database file: does its folder exist and is it writable?")
    if "not a database" in lowered or "malformed" in lowered:
        return DatabaseError(path, f"not an Ato database, or damaged ({message})")
    return DatabaseError(path, message)

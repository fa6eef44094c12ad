"""Ato's exception hierarchy.

Every error a user can cause derives from :class:`AtoError` and, where one fits, from the
builtin it specialises (so ``except KeyError`` or ``except ValueError`` keep working).
Messages say what was wrong, where, and how to fix it.
"""

from __future__ import annotations


class AtoError(Exception):
    """Base class of every error Ato raises on purpose."""


class ConfigError(AtoError):
    """A configuration could not be built or changed."""


class FrozenConfigError(ConfigError, TypeError):
    """A write to a frozen ADict."""


class ConfigFileError(ConfigError, ValueError):
    """A config file could not be read or written; names the file and, where known, the line."""

    def __init__(self, path: object, message: str, line: int | None = None) -> None:
        self.path = str(path)
        self.line = line
        self.reason = message
        where = f"{self.path}, line {line}" if line is not None else self.path
        super().__init__(f"{where}: {message}")


class ConfigFileNotFoundError(ConfigFileError, FileNotFoundError):
    """A config file (or a ``_base_`` it names) does not exist; also a ``FileNotFoundError``,
    which ato 2.1.7 raised."""


class CLIArgumentError(ConfigError, ValueError):
    """A command-line token could not be understood; names the token."""

    def __init__(self, token: str, message: str) -> None:
        self.token = token
        self.reason = message
        super().__init__(f"command-line argument {token!r}: {message}")


class ConfigWarning(UserWarning):
    """Something in a merge that is allowed but often a mistake (a new key close to an old one)."""


class TrackerError(AtoError):
    """The tracker was used out of order (a metric before ``run()``, a write after ``finish()``)."""


class MetricValueError(TrackerError, TypeError):
    """A metric value that is not a number; names the metric and step."""


class DatabaseError(AtoError):
    """The SQLite database could not be used; says which file and what to do."""

    def __init__(self, path: object, message: str) -> None:
        self.path = str(path)
        super().__init__(f"{self.path}: {message}")


class DatabaseLockedError(DatabaseError):
    """Another process held the database for longer than the busy timeout."""


class DatabaseReadOnlyError(DatabaseError):
    """The database file or its folder is not writable."""


class DatabaseFullError(DatabaseError):
    """The disk (or a size limit) is full; nothing unflushed was dropped."""


class AppendOnlyError(DatabaseError):
    """Something tried to change or delete a stored event."""


class UnknownRunError(AtoError, LookupError):
    """No run with that id in this database (``missing``), or a uid prefix that several match."""

    def __init__(self, message: str, *, missing: bool = True) -> None:
        super().__init__(message)
        self.missing = missing


class QueryError(AtoError, ValueError):
    """A query argument that no database value could match (the wrong type, text that is not
    valid UTF-8, a number beyond 64 bits, an unknown mode); names the argument."""

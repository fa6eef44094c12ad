"""Ato's exception hierarchy.

Every error a user can cause derives from :class:`AtoError` and, where one fits, from the
builtin it specialises (so ``except KeyError`` or ``except ValueError`` keep working).
Messages say what was wrong, where, and how to fix it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence


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
    """No run with that id in this database (``missing``), or a uid prefix that several match;
    ``suggestions``: the runs it may have meant (the candidates of an ambiguous prefix)."""

    def __init__(self, message: str, *, missing: bool = True, suggestions: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.missing = missing
        self.suggestions = list(suggestions)


class UnknownNameError(AtoError, LookupError):
    """A name the database does not know (a project, a metric key, a config key): says where it
    was looked for and suggests the closest known names (``suggestions``; ``known`` holds them all)."""

    what = "name"
    plural = "names"

    def __init__(self, name: str, known: Iterable[str], where: str) -> None:
        import difflib  # only when there is an error to explain

        self.name = name
        self.known = sorted(set(known))
        self.suggestions = difflib.get_close_matches(name, self.known, n=3) if isinstance(name, str) else []
        super().__init__(f"no {self.what} {name!r} {where}{self._hint()}")

    def _hint(self) -> str:
        if self.suggestions:
            return f"; did you mean {' or '.join(map(repr, self.suggestions))}?"
        if not self.known:
            return f" (there are no {self.plural} there)"
        shown = ", ".join(self.known[:_SHOWN])
        more = f" and {len(self.known) - _SHOWN} more" if len(self.known) > _SHOWN else ""
        return f"; the {self.plural} are {shown}{more}"


_SHOWN = 8  # known names listed in a message where none is close


class UnknownProjectError(UnknownNameError):
    """No project of that name in this database."""

    what, plural = "project", "projects"


class UnknownMetricError(UnknownNameError):
    """No metric of that key where it was looked for (a project's runs, a run, the listed runs)."""

    what, plural = "metric", "metrics"


class UnknownConfigKeyError(UnknownNameError):
    """No config key of that (dotted) name in a run's config."""

    what, plural = "config key", "config keys"


class QueryError(AtoError, ValueError):
    """A query argument that no database value could match (the wrong type, text that is not
    valid UTF-8, a number beyond 64 bits, an unknown mode); names the argument."""

"""The texts a run keeps so that ``ato diff --code`` can show *what* changed, not only that it did.

Two kinds, each stored once per database as a ``source.recorded`` event whose id is derived from
the text's SHA-256 (:func:`ato.events.types.source_event_id`), however many runs refer to it:

- ``python``: a traced function's (or one of its helpers') source, normalised: dedented, line
  endings as ``\\n``, trailing spaces dropped, one final newline. Comments and docstrings stay:
  this is the text a person reads in a diff (the *fingerprint* ignores them, so a comment-only
  edit changes no fingerprint and shows no diff). A function without source (built in a REPL
  or by ``exec``) has none.
- ``git-diff``: ``git diff HEAD`` of a dirty work tree (tracked files only: git does not diff
  untracked ones), kept where it is at most :data:`MAX_PATCH_BYTES`; a larger one is recorded
  by hash and size only.
"""

from __future__ import annotations

import hashlib
import inspect
import textwrap
import types
from collections.abc import Callable
from typing import Any

from ato.events.types import SourceRecorded, source_event_id

__all__ = ["MAX_PATCH_BYTES", "normalise", "source_event", "source_text", "text_sha256", "texts"]

MAX_PATCH_BYTES = 1 << 20
"""The largest git patch kept with a run (1 MiB): bigger ones are data or generated files,
which a code diff cannot usefully show."""

_by_code: dict[types.CodeType, str | None] = {}
_texts: dict[str, str] = {}  # sha256 -> text, every text seen in this process


def normalise(text: str) -> str:
    """``text`` dedented, with ``\\n`` line endings, no trailing spaces, and one final newline."""
    lines = textwrap.dedent(text.replace("\r\n", "\n").replace("\r", "\n")).split("\n")
    return "\n".join(line.rstrip() for line in lines).strip("\n") + "\n"


def text_sha256(text: str) -> str:
    """The SHA-256 of ``text`` (UTF-8), remembering the text so :func:`texts` can give it back."""
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    _texts.setdefault(digest, text)
    return digest


def source_text(fn: Callable[..., Any]) -> str | None:
    """The normalised source of ``fn`` (unwrapped), or None where Python has none; cached per
    code object, so a run start reads each file once per process."""
    code = getattr(inspect.unwrap(fn), "__code__", None)
    if code is None:
        return None
    if code not in _by_code:
        try:
            _by_code[code] = normalise(inspect.getsource(code))
        except (OSError, TypeError):
            _by_code[code] = None
    return _by_code[code]


def texts(digests: Any) -> dict[str, str]:
    """The texts of those ``digests`` this process has seen (by :func:`text_sha256`)."""
    return {digest: _texts[digest] for digest in digests if digest in _texts}


def source_event(text: str, kind: str = "python") -> SourceRecorded:
    """The event that stores ``text`` once per database."""
    digest = text_sha256(text)
    return SourceRecorded(event_id=source_event_id(digest), sha256=digest, text=text, kind=kind)

"""Event types: frozen, keyword-only msgspec Structs with explicit, stable tags.

Tags are part of the stored format: renaming a class must never change one. New fields get
defaults; a field is never retyped (``tests/test_event_samples.py`` decodes stored samples of
every type forever). Config values inside events are encoded by :mod:`ato.events.values`.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import msgspec
from msgspec import UNSET, UnsetType

__all__ = [
    "Event",
    "KeyChange",
    "MergeCompleted",
    "MergeStarted",
    "MergeStepApplied",
    "StepKind",
    "new_event_id",
]


def new_event_id() -> str:
    """A random 128-bit id, so that logs from several machines merge without collisions."""
    return uuid.uuid4().hex


class Event(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    """Base of every event: a unique id and the wall-clock time it was made."""

    event_id: str = msgspec.field(default_factory=new_event_id)
    at: float = msgspec.field(default_factory=time.time)


class StepKind:
    """The kinds of merge step, in the order a merge applies them."""

    DEFAULT = "default"  # a view applied without being asked for: @scope.observe(default=True)
    NAMED = "named"  # a view named on the command line, or chained by one
    CLI = "cli"  # a key=value literal from the command line
    LAZY_PART = "lazy_part"  # the `with Scope.lazy():` blocks of a view, run after the CLI
    LAZY = "lazy"  # a view observed with lazy=True, run after the CLI

    ALL = (DEFAULT, NAMED, CLI, LAZY_PART, LAZY)


class KeyChange(msgspec.Struct, frozen=True, omit_defaults=True):
    """One key changed by a step. ``old`` unset: the key was added; ``new`` unset: removed."""

    path: tuple[Any, ...]
    old: Any | UnsetType = UNSET
    new: Any | UnsetType = UNSET


class MergeStarted(Event, tag="merge.started"):
    """A scope began merging its config, from ``initial`` (encoded), for this command line."""

    scope: str
    initial: Any
    argv: tuple[str, ...] = ()


class MergeStepApplied(Event, tag="merge.step"):
    """One step of a merge and every key it changed, in applying order."""

    scope: str
    index: int
    step: str
    kind: str
    priority: int | None = None
    chained_by: str | None = None
    changes: tuple[KeyChange, ...] = ()


class MergeCompleted(Event, tag="merge.completed"):
    """The merged config (encoded) and its structural hash."""

    scope: str
    config: Any
    structural_hash: str

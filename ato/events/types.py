"""Event types: frozen, keyword-only msgspec Structs with explicit, stable tags.

Tags are part of the stored format: renaming a class must never change one. New fields get
defaults; a field is never retyped (``tests/events/test_events.py`` decodes stored samples of
every type forever). Config values inside events are encoded by :mod:`ato.events.values`.
"""

from __future__ import annotations

import enum
import sys
import time
import uuid
from typing import Annotated, Any

import msgspec
from msgspec import UNSET, UnsetType

__all__ = [
    "ArtifactLogged",
    "Event",
    "FingerprintKind",
    "FingerprintRecorded",
    "HalvingDecided",
    "KeyChange",
    "MAX_SERIES_POINTS",
    "MergeCompleted",
    "MergeStarted",
    "MergeStepApplied",
    "MetricsLogged",
    "MetricsPacked",
    "PackedSeries",
    "ProjectCreated",
    "RunFinished",
    "RunHeartbeat",
    "RunStarted",
    "RunStatus",
    "RunStatusChanged",
    "SearchFinished",
    "SearchStarted",
    "SourceRecorded",
    "StepKind",
    "TrialRecorded",
    "new_event_id",
    "source_event_id",
]


def new_event_id() -> str:
    """A random 128-bit id, so that logs from several machines merge without collisions."""
    return uuid.uuid4().hex


class Event(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    """Base of every event: a unique id, the wall-clock time it was made, and the run it belongs
    to (the run's global id; empty for events that belong to no run yet, such as a merge recorded
    before ``run()``)."""

    event_id: str = msgspec.field(default_factory=new_event_id)
    at: float = msgspec.field(default_factory=time.time)
    run: str = ""


if sys.version_info >= (3, 11):
    from enum import StrEnum
else:  # Python 3.10

    class StrEnum(str, enum.Enum):
        """A string-valued enum that formats as its value."""

        __str__ = str.__str__
        __format__ = str.__format__


Step = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]  # stored as int64: checked on decode

# Enum fields are checked on decode: a value outside the enum is a decode error, never a new kind.
class StepKind(StrEnum):
    """The kinds of merge step, in the order a merge applies them."""

    DEFAULT = "default"  # a view applied without being asked for: @scope.observe(default=True)
    NAMED = "named"  # a view named on the command line, or chained by one
    CLI = "cli"  # a key=value literal from the command line
    LAZY_PART = "lazy_part"  # the `with Scope.lazy():` blocks of a view, run after the CLI
    LAZY = "lazy"  # a view observed with lazy=True, run after the CLI
    AFTER_MERGE = "after_merge"  # keys the script changed after the merge, before run()


class FingerprintKind(StrEnum):
    """What a fingerprint is of."""

    STATIC = "static"  # a function's code (@scope.trace)
    RUNTIME = "runtime"  # what a function returned, call by call (@scope.runtime_trace)
    ENVIRONMENT = "environment"  # Python, platform, packages, git state


class RunStatus(StrEnum):
    """How a run ends (``finish``). While it runs, ``update_status`` records free-form labels
    (``evaluating``, say): those are the user's words, not Ato's lifecycle.

    ``interrupted``: a KeyboardInterrupt (Ctrl-C, SIGINT) ended it; ``killed``: SIGTERM (what
    SLURM and Kubernetes send on preemption); ``failed``: an exception (its type and message are in
    :class:`RunFinished`). ``died`` is never recorded: readers show it for a run that never ended
    whose process is gone (:mod:`ato.projections.liveness`), SIGKILL's only trace."""

    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    INTERRUPTED = "interrupted"
    KILLED = "killed"
    DIED = "died"


class KeyChange(msgspec.Struct, frozen=True, omit_defaults=True):
    """One key changed by a step. ``old`` unset: the key was added; ``new`` unset: removed."""

    path: tuple[Any, ...]
    old: Any | UnsetType = UNSET
    new: Any | UnsetType = UNSET


class MergeStarted(Event, frozen=True, tag="merge.started"):
    """A scope began merging its config, from ``initial`` (encoded), for this command line."""

    scope: str
    initial: Any
    argv: tuple[str, ...] = ()


class MergeStepApplied(Event, frozen=True, tag="merge.step"):
    """One step of a merge and every key it changed, in applying order."""

    scope: str
    index: int
    step: str
    kind: StepKind
    priority: int | None = None
    chained_by: str | None = None
    changes: tuple[KeyChange, ...] = ()


class MergeCompleted(Event, frozen=True, tag="merge.completed"):
    """The merged config (encoded) and its structural hash."""

    scope: str
    config: Any
    structural_hash: str


# -- projects and runs ---------------------------------------------------------------------------------
class ProjectCreated(Event, frozen=True, tag="project.created"):
    """A project was named before any of its runs (``get_or_create_project``); a run's
    ``run.started`` makes its project as well, so most projects have no such event."""

    project: str


class RunStarted(Event, frozen=True, tag="run.started"):
    """A run began: its project, config (encoded), structural hash, tags and command line.
    ``origin`` says where an imported run came from (``ato 2.1.7 old.db, run 3``); empty otherwise."""

    project: str
    config: Any
    structural_hash: str
    tags: tuple[str, ...] = ()
    argv: tuple[str, ...] = ()
    host: str = ""
    pid: int = 0
    origin: str = ""
    # Processes of one job (torch.distributed, torchrun, SLURM): this process's rank, how many
    # there are, and an id every rank of the job shares (ato.tracking.processes); unset: one process.
    rank: int | None = None
    world_size: int | None = None
    group: str = ""


class RunStatusChanged(Event, frozen=True, tag="run.status"):
    """The running run's status label changed (``update_status``; the user's own word).
    ``final``: ``finish(label)`` ended the logging with this label (the run gets no end time, yet
    its process going away later is no death)."""

    status: str
    final: bool = False


class RunFinished(Event, frozen=True, tag="run.finished"):
    """The run ended: ``completed``, ``failed``, ``interrupted`` or ``killed``. A run that
    failed on an exception records its type (``ValueError``) and message."""

    status: RunStatus
    error_type: str = ""
    error_message: str = ""


class RunHeartbeat(Event, frozen=True, tag="run.heartbeat"):
    """The run's process was alive at ``at``: written by its logger when nothing else was for a
    while (:data:`ato.tracking.logger.HEARTBEAT_S`), so a reader on another host can tell a run
    whose process is gone (``died``) from one that runs quietly."""


class MetricsLogged(Event, frozen=True, tag="metrics.logged"):
    """A batch of metric points of one run, as columns: point ``i`` is
    ``(keys[i], steps[i], values[i], times[i])``. What Ato wrote per flush before
    :class:`MetricsPacked` (about three times larger); still read, never written."""

    keys: list[str]
    steps: list[Step]
    values: list[float]
    times: list[float]


MAX_SERIES_POINTS = 1 << 22
"""The most points one series holds (a longer flush of a key is several series): a crafted
``count`` can never make a reader allocate more than this many points' arrays before it finds the
columns too short. Checked on decode."""


class PackedSeries(msgspec.Struct, frozen=True, array_like=True):
    """Points of one key, in the order they were logged: ``count`` points as three columns in the
    encoding of :mod:`ato.events.metric_encoding`."""

    key: str
    count: Annotated[int, msgspec.Meta(ge=1, le=MAX_SERIES_POINTS)]
    steps: bytes
    values: bytes
    times: bytes


class MetricsPacked(Event, frozen=True, tag="metrics.packed"):
    """A batch of metric points of one run, key by key in the order the keys first appear in the
    batch (a key with more than :data:`MAX_SERIES_POINTS` points in one flush takes several
    series, one after the other), compactly encoded. One event per flush, not per point."""

    series: list[PackedSeries]


class ArtifactLogged(Event, frozen=True, tag="artifact.logged"):
    """A file (or URI) the run produced; size and SHA-256 where it is a local file."""

    path: str
    data_type: str | None = None
    metadata: dict[str, Any] = {}
    size: int | None = None
    sha256: str | None = None


class FingerprintRecorded(Event, frozen=True, tag="fingerprint.recorded"):
    """A fingerprint of a trace id: of its code, its outputs, or (trace id ``environment``) the
    environment."""

    trace_id: str
    kind: FingerprintKind
    fingerprint: str
    detail: dict[str, Any] = {}


class SourceRecorded(Event, frozen=True, tag="source.recorded"):
    """A text that runs refer to by its SHA-256: a traced function's normalised source
    (``kind`` ``python``) or the git patch of a dirty work tree (``git-diff``).

    Stored once per database: its ``event_id`` is derived from the hash
    (:func:`source_event_id`), so appending it again (the next run, ``ato merge``) adds nothing.
    It belongs to no run (``run`` is empty); a fingerprint's ``detail`` names it by hash."""

    sha256: str
    text: str
    kind: str = "python"  # free text, not an enum: a kind added later still decodes here


def source_event_id(sha256: str) -> str:
    """The one event id of a :class:`SourceRecorded` text: the same in every database."""
    return f"source-{sha256}"


# -- searches ---------------------------------------------------------------------------------------
class SearchStarted(Event, frozen=True, tag="search.started"):
    """A hyperparameter search began: its id, the search space and settings (encoded)."""

    search: str
    space: Any
    settings: dict[str, Any] = {}


class TrialRecorded(Event, frozen=True, tag="search.trial"):
    """One trial of a search: its config (encoded) and metric, or the error it raised."""

    search: str
    trial: int
    round: int
    config: Any
    metric: float | None = None
    error: str | None = None


class HalvingDecided(Event, frozen=True, tag="search.halving"):
    """A round of successive halving: which trials go on, which stop, and the cut-off metric."""

    search: str
    round: int
    kept: list[int]
    dropped: list[int]
    cutoff: float | None = None


class SearchFinished(Event, frozen=True, tag="search.finished"):
    """The search's winner."""

    search: str
    winner: int | None
    metric: float | None = None

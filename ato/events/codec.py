"""The closed union of event types and the one encoder/decoder pair, built once."""

from __future__ import annotations

from typing import Union

import msgspec

from ato.events.types import (
    ArtifactLogged,
    Event,
    FingerprintRecorded,
    HalvingDecided,
    MergeCompleted,
    MergeStarted,
    MergeStepApplied,
    MetricsLogged,
    MetricsPacked,
    ProjectCreated,
    RunFinished,
    RunHeartbeat,
    RunStarted,
    RunStatusChanged,
    SearchFinished,
    SearchStarted,
    SourceRecorded,
    TrialRecorded,
)

__all__ = ["EVENT_TYPES", "AnyEvent", "decode_event", "encode_event"]

AnyEvent = Union[
    ProjectCreated,
    RunStarted,
    RunStatusChanged,
    RunFinished,
    RunHeartbeat,
    MergeStarted,
    MergeStepApplied,
    MergeCompleted,
    MetricsLogged,
    MetricsPacked,
    ArtifactLogged,
    FingerprintRecorded,
    SearchStarted,
    TrialRecorded,
    HalvingDecided,
    SearchFinished,
    SourceRecorded,
]
EVENT_TYPES: tuple[type[Event], ...] = AnyEvent.__args__  # type: ignore[attr-defined]

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(AnyEvent)


def encode_event(event: Event) -> bytes:
    """Encode one event as msgpack, its tag included."""
    return _encoder.encode(event)


def decode_event(payload: bytes) -> Event:
    """Decode one event; raises ``msgspec.DecodeError`` naming the bad field, whatever is wrong
    with the payload (a damaged one can fail deeper, e.g. as invalid UTF-8 inside a string)."""
    try:
        return _decoder.decode(payload)
    except msgspec.DecodeError:
        raise
    except (ValueError, TypeError, OverflowError) as exc:  # UnicodeDecodeError is a ValueError
        raise msgspec.DecodeError(f"{type(exc).__name__}: {exc}") from None

"""What the tracker accepts, checked at the call that made it (DESIGN: nothing undecodable enters
the log). A bad value is refused with its name and where it was given; nothing already recorded
is touched, and the logger keeps working.

Choices:
- a metric **key** is a non-empty ``str`` that encodes as UTF-8 (no lone surrogates);
- a **step** is an integer in the int64 range: ``int``, or anything with an exact ``__index__``
  (a numpy integer, an integer 0-d tensor); ``bool``, floats (even ``3.0``), strings and NaN are
  refused, not rounded;
- a **value** is anything ``float()`` takes that is not text: floats, ints, numpy and 0-d torch
  scalars; non-finite values are kept (a loss that went NaN is information);
- artifact **metadata** is a mapping with ``str`` keys and JSON-like values; numpy and 0-d torch
  scalars are stored as their Python number (``.item()``), anything else is refused;
- a status label, a tag, a path: ``str`` (tags: any iterable of them; ``None`` means none).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import msgspec

from ato.errors import MetricValueError, TrackerError
from ato.events.codec import decode_event, encode_event
from ato.events.metric_encoding import MetricEncodingError, key_points
from ato.events.types import Event, MetricsPacked
from ato.events.values import INT64_MIN

__all__ = [
    "INT64_MAX",
    "check_event",
    "check_key",
    "check_status_label",
    "check_step",
    "check_tags",
    "check_text",
    "check_value",
    "plain_metadata",
]

INT64_MAX = 2**63 - 1


def _text(value: str, refuse: Callable[[str], Exception]) -> str:
    """The characters of ``value`` as a plain ``str`` (a subclass's own methods are not
    trusted), if UTF-8 can hold them; else ``refuse(reason)``."""
    text = value if type(value) is str else str.__getitem__(value, slice(None))
    try:
        str.encode(text, "utf-8")
    except UnicodeEncodeError as exc:
        raise refuse(f"{text!r:.60} is not valid text ({exc.reason} at index {exc.start})") from None
    return text


def check_text(what: str, value: Any) -> str:
    """``value`` if it is a ``str`` that UTF-8 can hold; else a TrackerError naming ``what``."""
    if not isinstance(value, str):
        raise TrackerError(f"{what} must be a str, got {type(value).__name__} {value!r:.60}")
    return _text(value, lambda reason: TrackerError(f"{what} {reason}"))


def check_key(key: Any, value: Any, step: Any) -> str:
    """A metric key, checked once per distinct key (the logger caches the good ones)."""
    if not isinstance(key, str) or not key:
        raise MetricValueError(f"metric key must be a non-empty str, got {type(key).__name__} {key!r:.60} "
                               f"(value {value!r:.60}, step {step!r:.30})")
    return _text(key, lambda reason: MetricValueError(f"metric key {reason}"))


def check_step(key: str, value: Any, step: Any) -> int:
    """``step`` as an exact int64, or a MetricValueError naming key, step and value."""
    if type(step) is not bool and not isinstance(step, (float, str, bytes)):
        try:
            index = operator.index(step)
        except TypeError:
            pass
        else:
            if INT64_MIN <= index <= INT64_MAX:
                return index
            raise MetricValueError(f"metric {key!r}: step {index} is outside the int64 range (value {value!r:.60})")
    raise MetricValueError(
        f"metric {key!r}: step must be an integer, got {type(step).__name__} {step!r:.60} (value {value!r:.60})"
    )


def check_value(key: str, value: Any, step: Any) -> float:
    """``value`` as a float, or a MetricValueError naming key, step and value."""
    where = f" at step {step!r:.30}" if step is not None else ""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__float__"):
        raise MetricValueError(f"metric {key!r}{where}: expected a number, got {type(value).__name__} {value!r:.60}")
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError) as exc:
        raise MetricValueError(f"metric {key!r}{where}: {value!r:.60} is not a single number ({exc})") from None


def check_tags(tags: Iterable[Any] | None) -> tuple[str, ...]:
    """Tags as a tuple of str (``None``: no tags)."""
    if tags is None:
        return ()
    if isinstance(tags, (str, bytes)) or not isinstance(tags, Iterable):
        raise TrackerError(f"tags must be a list of str, got {type(tags).__name__} {tags!r:.60}")
    return tuple(check_text("tag", str(tag) if isinstance(tag, (int, float)) else tag) for tag in tags)


def check_status_label(status: Any) -> str:
    label = check_text("status", status)
    if not label:
        raise TrackerError("status must not be empty")
    return label


def plain_metadata(metadata: Mapping[Any, Any] | None) -> dict[str, Any]:
    """Artifact metadata as JSON-like data with str keys (see the module docstring)."""
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise TrackerError(f"artifact metadata must be a mapping, got {type(metadata).__name__}")
    return _plain(metadata, "metadata", 0)


def _plain(value: Any, where: str, depth: int) -> Any:
    if depth > 64:
        raise TrackerError(f"artifact {where}: nested more than 64 levels")
    if value is None or isinstance(value, (bool, str)):
        return check_text(f"artifact {where}", value) if isinstance(value, str) else value
    if isinstance(value, int):
        if not INT64_MIN <= value <= 2**64 - 1:
            raise TrackerError(f"artifact {where}: {value} does not fit in 64 bits")
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TrackerError(f"artifact {where}: keys must be str, got {type(key).__name__} {key!r:.40}")
            out[check_text(f"artifact {where} key", key)] = _plain(item, f"{where}.{key}", depth + 1)
        return out
    if isinstance(value, (list, tuple)):
        return [_plain(item, f"{where}[{i}]", depth + 1) for i, item in enumerate(value)]
    item = getattr(value, "item", None)
    if callable(item) and getattr(value, "ndim", None) == 0:  # a numpy or 0-d torch scalar
        return _plain(item(), where, depth)
    raise TrackerError(f"artifact {where}: {type(value).__name__} {value!r:.40} is not JSON-like data")


def check_event(event: Event) -> Event:
    """Refuse an event that could not be decoded later (msgspec round trip), naming the field;
    and a ``metrics.packed`` event whose columns do not decode, naming the series."""
    try:
        decode_event(encode_event(event))
    except (msgspec.ValidationError, msgspec.EncodeError, UnicodeEncodeError, OverflowError, TypeError) as exc:
        raise TrackerError(f"cannot record {type(event).__name__}: {exc}") from None
    if isinstance(event, MetricsPacked):
        for part, series in enumerate(event.series):
            try:
                key_points(event, part)
            except MetricEncodingError as exc:
                raise TrackerError(f"cannot record MetricsPacked: series {part} ({series.key!r}) does not decode: {exc}") from None
    return event

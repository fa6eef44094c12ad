"""Event types: explicit unique tags, one closed union, lossless encoding of values."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

import ato.events.types as types
from ato.events.codec import EVENT_TYPES, decode_event, encode_event
from ato.events.values import OpaqueValue, decode_value, encode_value, is_replayable


def _event_classes() -> list[type]:
    return [
        value
        for value in vars(types).values()
        if isinstance(value, type) and issubclass(value, types.Event) and value is not types.Event
    ]


def test_every_event_class_is_in_the_union_with_a_unique_explicit_tag() -> None:
    classes = _event_classes()
    assert set(classes) == set(EVENT_TYPES)
    tags = [cls.__struct_config__.tag for cls in classes]
    assert all(isinstance(tag, str) and "." in tag for tag in tags)  # explicit, not the class name
    assert len(set(tags)) == len(tags)


def test_events_are_frozen() -> None:
    event = types.MergeStarted(scope="config", initial=["dict", []])
    with pytest.raises(AttributeError):
        event.scope = "other"  # type: ignore[misc]


def test_round_trip_keeps_every_field() -> None:
    step = types.MergeStepApplied(
        scope="config",
        index=3,
        step="lr=0.1",
        kind=types.StepKind.CLI,
        changes=(types.KeyChange(path=("lr",), old=0.001, new=0.1), types.KeyChange(path=("x",), new=None)),
    )
    decoded = decode_event(encode_event(step))
    assert decoded == step
    assert decoded.changes[1].old is msgspec.UNSET and decoded.changes[1].new is None


def test_a_bad_payload_names_the_problem() -> None:
    payload = msgspec.msgpack.encode({"type": "merge.step", "scope": "c", "index": "three", "step": "s", "kind": "cli"})
    with pytest.raises(msgspec.ValidationError, match=r"Expected `int`, got `str` - at `\$.index`"):
        decode_event(payload)


_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text() | st.binary()
    | st.complex_numbers(allow_nan=False),
    lambda children: st.lists(children, max_size=3)
    | st.lists(children, max_size=3).map(tuple)
    | st.dictionaries(st.text(max_size=3) | st.integers(), children, max_size=3)
    | st.frozensets(st.integers(), max_size=3),
    max_leaves=12,
)


@given(_values)
def test_encoded_values_survive_msgpack_exactly(value: object) -> None:
    encoded = msgspec.msgpack.decode(msgspec.msgpack.encode(encode_value(value)))
    decoded = decode_value(encoded)
    assert msgspec.msgpack.encode(encode_value(decoded)) == msgspec.msgpack.encode(encode_value(value))
    assert is_replayable(encoded)


def test_float_bits_and_int_float_bool_stay_distinct() -> None:
    nan = struct.unpack("<d", struct.pack("<Q", 0x7FF8000000000123))[0]
    for value in (1, 1.0, True, -0.0, nan):
        back = decode_value(msgspec.msgpack.decode(msgspec.msgpack.encode(encode_value(value))))
        assert type(back) is type(value)
        assert struct.pack("<d", float(back)) == struct.pack("<d", float(value))


def test_objects_are_opaque() -> None:
    encoded = encode_value({"head": object()})
    assert not is_replayable(encoded)
    assert isinstance(decode_value(encoded)["head"], OpaqueValue)


SAMPLES = json.loads((Path(__file__).resolve().parents[1] / "data" / "event_samples.json").read_text())


def test_a_stored_sample_of_every_event_type_exists() -> None:
    assert set(SAMPLES) == {cls.__struct_config__.tag for cls in EVENT_TYPES}


@pytest.mark.parametrize("tag", sorted(SAMPLES))
def test_stored_samples_decode_forever(tag: str) -> None:
    """Samples written by an earlier release: new fields need defaults, no field is retyped."""
    payload = bytes.fromhex(SAMPLES[tag])
    event = decode_event(payload)
    assert event.__struct_config__.tag == tag
    assert event.event_id == "0123456789abcdef0123456789abcdef" and event.at == 1795000000.25
    # Re-encoded, every stored field comes back with the same value (typed enums included);
    # fields added since (with their defaults) may join them.
    original, again = msgspec.msgpack.decode(payload), msgspec.msgpack.decode(encode_event(event))
    same = msgspec.msgpack.encode  # compares NaN by its bits, not by ==
    assert {key: same(again[key]) for key in original} == {key: same(value) for key, value in original.items()}


@pytest.mark.parametrize(
    ("fields", "where"),
    [
        ({"type": "merge.step", "scope": "c", "index": 0, "step": "s", "kind": "sideways"}, "$.kind"),
        ({"type": "fingerprint.recorded", "trace_id": "t", "kind": "vibes", "fingerprint": "f"}, "$.kind"),
        ({"type": "run.finished", "status": "custom"}, "$.status"),
    ],
)
def test_enum_fields_are_checked_on_decode(fields: dict[str, object], where: str) -> None:
    with pytest.raises(msgspec.ValidationError, match=rf"Invalid enum value .* - at `\{where}`"):
        decode_event(msgspec.msgpack.encode(fields))


def test_enum_fields_decode_to_their_enum() -> None:
    step = decode_event(encode_event(types.MergeStepApplied(scope="c", index=0, step="s", kind=types.StepKind.CLI)))
    assert step.kind is types.StepKind.CLI and step.kind == "cli" and f"{step.kind}" == "cli"
    finished = decode_event(encode_event(types.RunFinished(status=types.RunStatus.FAILED)))
    assert finished.status is types.RunStatus.FAILED


def test_integers_of_any_size_round_trip() -> None:
    for value in (2**64, -(2**64) - 5, 10**5000, -(7**9000)):
        encoded = encode_value(value)
        assert decode_value(msgspec.msgpack.decode(msgspec.msgpack.encode(encoded))) == value
    assert encode_value(2**64) == ["int", "18446744073709551616"]  # the stored form of earlier releases

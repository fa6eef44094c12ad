"""The compact metric encoding: bit for bit for every input, frozen by a stored sample, small for
typical curves, and a damaged column is an error that names it, never a wrong number."""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path

import numpy as np
import pytest
import zstandard
from hypothesis import given
from hypothesis import strategies as st

from ato.events.codec import decode_event, encode_event
from ato.events.metric_encoding import (
    MetricEncodingError,
    decode_column,
    encode_floats,
    encode_ints,
    key_points,
    pack_points,
)
from ato.events.types import MetricsPacked, PackedSeries

NAN = struct.unpack("<d", struct.pack("<Q", 0x7FF800000000BEEF))[0]
SAMPLES = json.loads((Path(__file__).resolve().parents[1] / "data" / "event_samples.json").read_text())


def _grad() -> tuple[list[int], list[float], list[float]]:
    values = [struct.unpack("<f", struct.pack("<f", math.sin(i * 7.3) * (i + 1)))[0] for i in range(50)]
    steps = [i * 300 + (i * i) % 97 for i in range(50)]
    times = [1795000000.25 + i * 0.002 + ((i * 31) % 17) * 1e-5 for i in range(50)]
    return steps, values, times


def _paused() -> tuple[list[int], list[float], list[float]]:
    """Points a few microseconds apart with two pauses: one-byte time deltas with patches."""
    times, at = [], 1795000000.25
    for i in range(300):
        at += 0.5 if i in (100, 250) else (3 + i % 5) * 1e-6
        times.append(at)
    return [i * i for i in range(300)], [float(i % 7) for i in range(300)], times


def sample_points() -> dict[str, tuple[list[int], list[float], list[float]]]:
    """The points of the stored ``metrics.packed`` sample (tests/data/event_samples.json)."""
    loss = (list(range(100)), [1.0 + i / 8 for i in range(100)], [1795000000.25 + i / 1024 for i in range(100)])
    acc = ([0, 5, 3, 10**12], [NAN, -0.0, math.inf, 1e300], [1795000000.25, 1795000001.5, 1795000001.0, 1795000100.0])
    lr = (list(range(0, 400, 2)), [0.1 * math.cos(i / 300) for i in range(200)], [1795000000.25 + i * 1e-6 for i in range(200)])
    return {"loss": loss, "acc": acc, "lr": lr, "grad": _grad(), "paused": _paused()}


def _bits(values: list[float]) -> bytes:
    return struct.pack(f"<{len(values)}d", *values)


def test_the_stored_sample_decodes_to_its_points_bit_for_bit() -> None:
    """Written by the first release of the format: every later Ato must read these bytes so."""
    event = decode_event(bytes.fromhex(SAMPLES["metrics.packed"]))
    assert isinstance(event, MetricsPacked)
    expected = sample_points()
    decoded = key_points(event)
    assert [points.key for points in decoded] == list(expected)
    for points in decoded:
        steps, values, times = expected[points.key]
        assert points.steps.tolist() == steps
        assert points.values.tobytes() == _bits(values) and points.times.tobytes() == _bits(times)
    layouts = {column[0] for one in event.series for column in (one.steps, one.values, one.times)}
    # constant steps; deltas of 1, 2 and 4 bytes and patched bytes; raw, float32 and zstd values
    assert {0x08, 0x09, 0x0A, 0x0B, 0x0D, 0x04, 0x13, 0x33, 0x2C} <= layouts


_WORDS = st.lists(st.integers(-(2**63), 2**63 - 1), min_size=1, max_size=300)


@given(steps=_WORDS, values=_WORDS, times=_WORDS)
def test_every_step_value_and_time_round_trips_bit_for_bit(steps: list[int], values: list[int], times: list[int]) -> None:
    """Any int64 steps, and any float64 bit patterns (every NaN payload, -0.0, infinities,
    subnormals) as values and times."""
    n = min(len(steps), len(values), len(times))
    s = np.array(steps[:n], dtype=np.int64)
    v, t = np.array(values[:n], dtype=np.int64).view(np.float64), np.array(times[:n], dtype=np.int64).view(np.float64)
    assert decode_column(encode_ints(s), n, False).tobytes() == s.tobytes()
    assert decode_column(encode_floats(v), n, True).tobytes() == v.tobytes()
    assert decode_column(encode_floats(t, smooth=True), n, True).tobytes() == t.tobytes()


@given(
    st.lists(st.one_of(st.integers(-127, 127), st.integers(-(2**63), 2**63 - 1)), min_size=1, max_size=400),
    st.integers(-(2**63), 2**63 - 1),
)
def test_small_deltas_with_outliers_round_trip_through_patches(deltas: list[int], first: int) -> None:
    words = np.cumsum(np.array([first, *deltas], dtype=np.int64))  # wrapping, as the encoder's
    column = encode_ints(words)
    assert decode_column(column, len(words), False).tobytes() == words.tobytes()
    if column[0] & 0x07 == 5:  # patched: one byte per delta, nine per outlier
        assert len(column) <= 9 + len(deltas) + 8 * sum(not -128 < d < 128 for d in np.diff(words).tolist())


@given(st.lists(st.floats(width=32, allow_nan=False, allow_subnormal=False), min_size=1, max_size=200))
def test_float32_numbers_are_stored_in_four_bytes_and_come_back_exactly(numbers: list[float]) -> None:
    values = np.array(numbers, dtype=np.float64)
    column = encode_floats(values)
    assert len(column) <= 1 + 4 * len(numbers)
    assert decode_column(column, len(numbers), True).tobytes() == values.tobytes()


def test_float32_subnormals_and_nans_keep_all_eight_bytes() -> None:
    """A CPU that flushes denormals to zero would widen a float32 subnormal to 0.0; a NaN's
    payload need not survive float32. Such values are stored as they are."""
    subnormal = float(np.float32(1e-40))
    for values in ([subnormal, 1.0], [NAN, 1.0]):
        column = _column(values)
        assert column[0] & 0x10 == 0 and decode_column(column, 2, True).tobytes() == _bits(values)
    assert _column([0.5, -0.0, math.inf])[0] == 0x13  # zero, -0.0 and infinities are fine


def test_a_typical_curve_takes_under_ten_bytes_a_point_in_the_event() -> None:
    """Consecutive steps, a noisy decaying float64 loss, points a few microseconds apart."""
    rng = np.random.default_rng(0)
    n = 10_000
    steps = np.arange(n)
    values = (0.2 + 2.3 * np.exp(-steps / 4000)) * np.exp(0.05 * rng.standard_normal(n))
    times = 1795000000.25 + np.cumsum(rng.exponential(4e-6, n))
    event = MetricsPacked(run="r", series=pack_points(["loss"] * n, steps.tolist(), values.tolist(), times.tolist()))
    assert len(encode_event(event)) / n < 9.5
    (points,) = key_points(decode_event(encode_event(event)))  # type: ignore[arg-type]
    assert points.values.tobytes() == values.tobytes() and points.times.tobytes() == times.tobytes()


def test_points_are_split_by_key_in_the_order_keys_first_appear_each_in_log_order() -> None:
    keys = ["b", "a", "b", "c", "a", "b"]
    series = pack_points(keys, [5, 1, 3, 0, 2, 4], [0.5, 0.1, 0.3, 0.0, 0.2, 0.4], [1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    assert [(s.key, s.count) for s in series] == [("b", 3), ("a", 2), ("c", 1)]
    decoded = key_points(MetricsPacked(run="r", series=series))
    assert decoded[0].steps.tolist() == [5, 3, 4] and decoded[0].values.tolist() == [0.5, 0.3, 0.4]
    assert [points.key for points in key_points(MetricsPacked(run="r", series=series), 2)] == ["c"]


def test_a_key_with_more_points_than_a_series_holds_takes_several(monkeypatch: pytest.MonkeyPatch) -> None:
    import ato.events.metric_encoding as encoding

    monkeypatch.setattr(encoding, "MAX_SERIES_POINTS", 4)
    series = pack_points(["a"] * 10 + ["b"], list(range(10)) + [0], [float(i) for i in range(11)], [1.0] * 11)
    assert [(s.key, s.count) for s in series] == [("a", 4), ("a", 4), ("a", 2), ("b", 1)]
    decoded = key_points(MetricsPacked(run="r", series=series))
    assert np.concatenate([p.steps for p in decoded[:3]]).tolist() == list(range(10))


def test_a_crafted_count_is_refused_before_anything_is_allocated() -> None:
    """A stride column has no body to be short of: only the bound on ``count`` stops a reader
    from allocating terabytes for it."""
    import msgspec

    from ato.events.types import MAX_SERIES_POINTS

    stride = bytes([0x08]) + struct.pack("<qq", 0, 1)
    crafted = MetricsPacked(run="r", series=[PackedSeries(key="loss", count=2**40, steps=stride, values=stride, times=stride)])
    with pytest.raises(msgspec.ValidationError, match=r"Expected `int` <= 4194304 - at `\$.series\[0\]\[1\]`"):
        decode_event(encode_event(crafted))  # a reader skips it, and verify names it
    with pytest.raises(MetricEncodingError, match="a column of 1099511627776 points"):
        decode_column(stride, 2**40, False)
    assert len(decode_column(stride, MAX_SERIES_POINTS, False)) == MAX_SERIES_POINTS


def _column(values: list[float]) -> bytes:
    return encode_floats(np.array(values, dtype=np.float64))


@pytest.mark.parametrize(
    ("column", "count", "message"),
    [
        (b"", 1, "an empty column"),
        (b"\x04" + b"\0" * 8, 0, "a column of 0 points"),
        (b"\xc4" + b"\0" * 8, 1, "unknown column layout 0xc4"),
        (b"\x10" + b"\0" * 4, 1, "unknown column layout 0x10"),  # float32 needs its width
        (b"\x00", 1, "unknown column layout 0x00"),  # width 0 only with deltas
        (b"\x08\0\0", 2, "cannot hold its 17-byte header"),
        (b"\x04" + b"\0" * 12, 1, "12 bytes of 8-byte words for 1 points"),
        (b"\x0a" + b"\0" * 8 + b"\0" * 3, 3, "3 bytes of 2-byte deltas for 3 points"),
        (b"\x13" + b"\0" * 4, 2, "4 bytes of float32 values for 2 points"),
        (b"\x24" + b"not a zstd frame", 1, "damaged zstandard frame"),
        (b"\x0d" + b"\0" * 8 + b"\x80\x01", 3, "0 bytes of patches where 1 int64s belong"),
        (b"\x0d" + b"\0" * 8 + b"\x01", 3, "1 bytes of patched deltas for 3 points"),
        # a frame that claims more than the points need is refused before it is inflated
        (b"\x24" + zstandard.compress(b"\0" * 4096), 1, "a zstandard frame of 4096 bytes where 8 belong"),
    ],
)
def test_a_damaged_column_is_an_error_that_says_what_is_wrong(column: bytes, count: int, message: str) -> None:
    with pytest.raises(MetricEncodingError, match=message):
        decode_column(column, count, True)


@pytest.mark.broken_database
def test_a_series_that_does_not_decode_is_left_out_and_named_by_verify(tmp_path: Path) -> None:
    """A crafted event with one damaged series: the others still count, and verify names it."""
    import anyio

    from ato.events.types import RunStarted
    from ato.projections.maintenance import open_store, verify_database
    from ato.tracking.finder import SQLFinder

    good = pack_points(["loss", "loss"], [0, 1], [0.5, 0.25], [1.0, 2.0])[0]
    bad = PackedSeries(key="acc", count=2, steps=good.steps, values=b"\x04" + b"\0" * 3, times=good.times)
    path = tmp_path / "crafted.db"

    async def write() -> None:
        store = await open_store(path)
        try:
            await store.append([RunStarted(run="r1", project="p", config=["dict", []], structural_hash=""), MetricsPacked(run="r1", series=[bad, good])])
        finally:
            await store.close()

    anyio.run(write)
    with SQLFinder(path) as finder:
        run = finder.find_run(1)
        assert set(run.metric_summaries) == {"loss"}
        assert finder.get_metrics(1, "loss") == [(0, 0.5), (1, 0.25)]
    report = verify_database(path)
    assert report.problems == [
        "event 2: metric series 0 ('acc') does not decode: 3 bytes of 8-byte words for 2 points"
    ]

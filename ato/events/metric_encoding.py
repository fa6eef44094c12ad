"""The compact encoding of metric points inside ``metrics.packed`` events.

A flush of the logger becomes one event holding, per key, a :class:`~ato.events.types.PackedSeries`:
the key, the number of points and three *columns* (steps, values, times), each a self-describing
byte string. Every column holds 64-bit words: the steps as int64, the values and times as the bit
patterns of their float64s, so every value comes back bit for bit (NaN payloads, ``-0.0`` and
infinities included). A column is::

    byte 0       layout: bits 0-2 the width of each stored word (0: none stored, every
                 difference equals the stride; 1, 2, 3, 4: 1, 2, 4 or 8 bytes; 5: one byte
                 with patches), bit 3 "delta", bit 4 "float32", bit 5 "zstd"
    8 bytes      with "delta": the first word (int64, little-endian)
    8 bytes      with width 0: the stride, the difference between consecutive words
    the rest     the body: with "delta", the differences between consecutive words (wrapping
                 int64 arithmetic, so any words round-trip) as little-endian signed integers of
                 the width (width 5: one signed byte each, -128 marking a difference too large
                 for a byte, those differences following the bytes as int64s in their order);
                 without it, the words themselves (8 bytes, or with "float32" the
                 values as float32, used only where every value is exactly a float32 and none
                 is NaN); with "zstd", that body compressed as one zstandard frame

Steps and times are always delta-encoded and never compressed: consecutive steps take no body at
all, and times a byte or so per point (float64 timestamps a few microseconds apart differ by a
few dozen units in the last place; the occasional pause is a patch), which reads back several
times faster than a compressed body would. Values are stored as they are (8 bytes, or 4 for a
curve of float32 numbers such as a loss read from a float32 tensor), or as deltas where that is
smaller (a smooth schedule), and compressed with zstandard only where that saves at least a
quarter of them, so that noisy curves, which do not compress, read back as fast as raw arrays.

Only this module knows the format; numpy is imported on first use (``import ato`` loads none).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from itertools import compress
from typing import Any, NamedTuple

from ato.events.types import (
    MAX_SERIES_POINTS,
    MetricsLogged,
    MetricsPacked,
    PackedSeries,
)

__all__ = [
    "KeyPoints",
    "MetricEncodingError",
    "by_key",
    "decode_column",
    "encode_floats",
    "encode_ints",
    "key_points",
    "pack_columns",
    "pack_points",
]

_DELTA, _FLOAT32, _ZSTD = 0x08, 0x10, 0x20
_WIDTH_MASK = 0x07
_WIDTHS = {0: 0, 1: 1, 2: 2, 3: 4, 4: 8, 5: 1}  # width code -> bytes per stored word
_PATCHED = 5  # one byte per difference, and the differences that need more as int64 patches
_PATCH = -128
_SIGNED = {1: "<i1", 2: "<i2", 4: "<i4", 8: "<i8"}
_KNOWN = _WIDTH_MASK | _DELTA | _FLOAT32 | _ZSTD
_WORD = struct.Struct("<q")
_INT64_MAX = 2**63 - 1
_COMPRESS_IF_AT_MOST = 0.75  # of the body: compression that saves less costs more to read back


class MetricEncodingError(ValueError):
    """A column that does not decode: damaged, or not what its layout byte says."""


def _compress(body: bytes) -> bytes | None:
    """``body`` as a zstandard frame, where that saves at least a quarter of it."""
    if len(body) < 64:
        return None
    import zstandard  # the module's one-shot functions: safe from any thread

    packed = zstandard.compress(body, 3)
    return packed if len(packed) <= _COMPRESS_IF_AT_MOST * len(body) else None


def _decompress(frame: Any, size: int, exact: bool = True) -> bytes:
    """The body of ``size`` bytes (at most, unless ``exact``) in ``frame``; a frame that claims
    another size is refused before anything is allocated (a hostile one could claim gigabytes)."""
    import zstandard

    try:
        claimed = zstandard.frame_content_size(frame)
        if claimed != size if exact else not 0 <= claimed <= size:
            raise MetricEncodingError(f"a zstandard frame of {claimed} bytes where {size} belong")
        return zstandard.decompress(frame, max_output_size=max(claimed, 1))
    except zstandard.ZstdError as exc:
        raise MetricEncodingError(f"a damaged zstandard frame ({exc})") from None


def _deltas(words: Any) -> tuple[int, bytes]:
    """The layout (width code, delta bit) and the header and body of delta-encoded ``words``
    (int64, at least one)."""
    import numpy as np

    first = int(words[0])
    differences = np.diff(words)  # int64: wraps, which the decoder's cumulative sum undoes
    if len(differences) == 0 or bool((differences == differences[0]).all()):
        stride = int(differences[0]) if len(differences) else 0
        return _DELTA, _WORD.pack(first) + _WORD.pack(stride)
    low, high = int(differences.min()), int(differences.max())
    for code, width in ((1, 1), (2, 2), (3, 4)):
        limit = 1 << (8 * width - 1)
        if -limit <= low and high < limit:
            break
    else:
        code, width = 4, 8
    if width > 1:  # one byte each where that holds nearly all of them, the rest as patches
        large = (differences <= _PATCH) | (differences > 127)
        patches = differences[large]
        if len(differences) + 8 * len(patches) < width * len(differences):
            narrow = np.where(large, _PATCH, differences).astype(np.int8)
            return _DELTA | _PATCHED, _WORD.pack(first) + narrow.tobytes() + patches.astype("<i8").tobytes()
    body = differences.astype(_SIGNED[width], copy=False).tobytes()
    return _DELTA | code, _WORD.pack(first) + body


def _column(layout: int, header_and_body: bytes, header_size: int, compress: bool = True) -> bytes:
    """Put the layout byte first, compressing the body where asked and where that pays."""
    if compress:
        packed = _compress(header_and_body[header_size:])
        if packed is not None:
            return bytes((layout | _ZSTD,)) + header_and_body[:header_size] + packed
    return bytes((layout,)) + header_and_body


def _delta_column(words: Any, compress: bool = True) -> bytes:
    layout, data = _deltas(words)
    return _column(layout, data, 16 if layout & _WIDTH_MASK == 0 else 8, compress)


def encode_ints(steps: Any) -> bytes:
    """A column of int64 ``steps`` (a numpy array of at least one)."""
    return _delta_column(steps, compress=False)


def encode_floats(values: Any, *, smooth: bool = False) -> bytes:
    """A column of float64 ``values`` (a numpy array of at least one), bit for bit. ``smooth``:
    times, always delta-encoded; otherwise the smaller of the values as they are and their deltas."""
    import numpy as np

    words = values.view(np.int64)
    if smooth:
        return _delta_column(words, compress=False)
    with np.errstate(over="ignore", invalid="ignore"):  # a value beyond float32 simply is not one
        narrow = values.astype(np.float32)
    magnitude = np.abs(narrow)
    # Exactly float32, no NaN (a payload need not survive float32 everywhere) and no subnormal (a
    # reader whose CPU flushes denormals to zero, as torch.set_flush_denormal does, would read 0).
    if (
        not bool(np.isnan(values).any())
        and bool(((magnitude == 0) | (magnitude >= np.finfo(np.float32).tiny)).all())
        and narrow.astype(np.float64).view(np.int64).tobytes() == words.tobytes()
    ):
        plain = _column(_FLOAT32 | 3, narrow.astype("<f4").tobytes(), 0)
    else:
        plain = _column(4, words.astype("<i8").tobytes(), 0)  # little-endian on every machine
    delta = _delta_column(words)
    return delta if len(delta) < len(plain) else plain


def pack_columns(steps: Sequence[int], values: Sequence[float], times: Sequence[float]) -> tuple[bytes, bytes, bytes]:
    """The three columns of one key's points (at least one)."""
    import numpy as np

    return (
        encode_ints(np.asarray(steps, dtype=np.int64)),
        encode_floats(np.asarray(values, dtype=np.float64)),
        encode_floats(np.asarray(times, dtype=np.float64), smooth=True),
    )


def decode_column(column: bytes, count: int, floats: bool, out: Any = None) -> Any:
    """The ``count`` words of ``column`` as a numpy array: float64 where ``floats``, else int64;
    written into ``out`` (an int64 array of ``count``) where given, so that a reader fills one
    array from many events without concatenating. Raises :class:`MetricEncodingError` for a
    column that does not decode to ``count`` words."""
    import numpy as np

    if not column:
        raise MetricEncodingError("an empty column")
    if not 1 <= count <= MAX_SERIES_POINTS:  # checked before anything is allocated for them
        raise MetricEncodingError(f"a column of {count} points (a series holds 1 to {MAX_SERIES_POINTS:,})")
    layout = column[0]
    code = layout & _WIDTH_MASK
    plain = {_FLOAT32 | 3, 4, _ZSTD | _FLOAT32 | 3, _ZSTD | 4}  # words as they are: float32 or 8 bytes
    if layout & ~_KNOWN or code not in _WIDTHS or not (layout & _DELTA and not layout & _FLOAT32 or layout in plain):
        raise MetricEncodingError(f"unknown column layout 0x{layout:02x} (written by a newer Ato?)")
    header = 1 + (8 if layout & _DELTA else 0) + (8 if code == 0 else 0)
    if len(column) < header:
        raise MetricEncodingError(f"a column of {len(column)} bytes cannot hold its {header}-byte header")
    width = _WIDTHS[code]
    body: Any = memoryview(column)[header:]  # a view: no copy of the points
    if layout & _ZSTD:
        if code == _PATCHED:  # its size depends on the patches: at most every difference one
            body = _decompress(body, 9 * (count - 1), exact=False)
        else:
            body = _decompress(body, (count - 1 if layout & _DELTA else count) * width)
    words = np.empty(count, dtype=np.int64) if out is None else out
    if layout & _DELTA:
        first = _WORD.unpack_from(column, 1)[0]
        if code == 0:
            stride = _WORD.unpack_from(column, 9)[0]
            if stride == 1 and first <= _INT64_MAX - count:  # consecutive steps: the usual case
                words[:] = np.arange(first, first + count, dtype=np.int64)
            else:
                words.fill(stride)
                words[0] = first
                np.cumsum(words, out=words)  # int64 wraps as the encoder's differences did
        elif code == _PATCHED:
            _unpatch(body, count, words)
            words[0] = first
            np.cumsum(words, out=words)
        else:
            if len(body) != (count - 1) * width:
                raise MetricEncodingError(f"{len(body)} bytes of {width}-byte deltas for {count} points")
            words[0] = first
            words[1:] = np.frombuffer(body, _SIGNED[width])
            np.cumsum(words, out=words)
    elif layout & _FLOAT32:
        if len(body) != 4 * count:
            raise MetricEncodingError(f"{len(body)} bytes of float32 values for {count} points")
        words.view(np.float64)[:] = np.frombuffer(body, "<f4")
    else:
        if len(body) != 8 * count:
            raise MetricEncodingError(f"{len(body)} bytes of 8-byte words for {count} points")
        words[:] = np.frombuffer(body, "<i8")
    return words.view(np.float64) if floats else words


def _unpatch(body: Any, count: int, words: Any) -> None:
    """Write the ``count - 1`` differences of a patched body into ``words[1:]``."""
    import numpy as np

    if len(body) < count - 1:
        raise MetricEncodingError(f"{len(body)} bytes of patched deltas for {count} points")
    narrow = np.frombuffer(body, np.int8, count - 1)
    words[1:] = narrow
    where = np.flatnonzero(narrow == _PATCH)
    if len(body) != count - 1 + 8 * len(where):
        raise MetricEncodingError(f"{len(body) - (count - 1)} bytes of patches where {len(where)} int64s belong")
    words[1:][where] = np.frombuffer(body, "<i8", offset=count - 1)


class KeyPoints(NamedTuple):
    """One key's points of one event, decoded: numpy ``steps`` (int64), ``values`` and ``times``
    (float64), in the order they were logged."""

    key: str
    steps: Any
    values: Any
    times: Any


def by_key(
    keys: Sequence[str], steps: Sequence[int], values: Sequence[float], times: Sequence[float]
) -> dict[str, tuple[Sequence[int], Sequence[float], Sequence[float]]]:
    """Points given as columns, split by key in the order the keys first appear. Every pass over
    the points runs in C (``compress``) for a few keys; a batch of one key is used as it is."""
    size = min(len(keys), len(steps), len(values), len(times))
    if not len(keys) == len(steps) == len(values) == len(times):  # a crafted event: its
        keys, steps, values, times = keys[:size], steps[:size], values[:size], times[:size]  # complete points count
    order = dict.fromkeys(keys)
    if len(order) == 1:
        return {key: (steps, values, times) for key in order}
    if len(order) <= 4:
        split: dict[str, tuple[Sequence[int], Sequence[float], Sequence[float]]] = {}
        for key in order:
            mine = [k == key for k in keys]
            split[key] = (list(compress(steps, mine)), list(compress(values, mine)), list(compress(times, mine)))
        return split
    many: dict[str, tuple[list[int], list[float], list[float]]] = {}
    for key, step, value, at in zip(keys, steps, values, times):  # one pass: cheaper than one per key
        column = many.get(key)
        if column is None:
            column = many[key] = ([], [], [])
        column[0].append(step)
        column[1].append(value)
        column[2].append(at)
    return dict(many)  # type: ignore[arg-type]  # lists are the sequences promised


def pack_points(
    keys: Sequence[str], steps: Sequence[int], values: Sequence[float], times: Sequence[float]
) -> list[PackedSeries]:
    """A flush's points (as columns) as the series of a ``metrics.packed`` event: one per key,
    or several in a row where a key has more than ``MAX_SERIES_POINTS`` points."""
    series: list[PackedSeries] = []
    for key, (key_steps, key_values, key_times) in by_key(keys, steps, values, times).items():
        for start in range(0, len(key_steps), MAX_SERIES_POINTS):
            end = min(start + MAX_SERIES_POINTS, len(key_steps))
            if start == 0 and end == len(key_steps):  # the usual case: the whole key, no copy
                packed = pack_columns(key_steps, key_values, key_times)
            else:
                packed = pack_columns(key_steps[start:end], key_values[start:end], key_times[start:end])
            series.append(PackedSeries(key=key, count=end - start, steps=packed[0], values=packed[1], times=packed[2]))
    return series


def key_points(event: MetricsPacked | MetricsLogged, part: int | None = None) -> list[KeyPoints]:
    """The points of ``event`` by key, decoded (only its ``part``-th key where given). Raises
    :class:`MetricEncodingError` for a series that does not decode."""
    import numpy as np

    if isinstance(event, MetricsPacked):
        series = event.series if part is None else event.series[part : part + 1]
        return [
            KeyPoints(one.key, decode_column(one.steps, one.count, False),
                      decode_column(one.values, one.count, True), decode_column(one.times, one.count, True))
            for one in series
        ]
    split = list(by_key(event.keys, event.steps, event.values, event.times).items())
    if part is not None:
        split = split[part : part + 1]
    return [
        KeyPoints(key, np.asarray(steps, dtype=np.int64), np.asarray(values, dtype=np.float64),
                  np.asarray(times, dtype=np.float64))
        for key, (steps, values, times) in split
    ]

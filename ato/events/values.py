"""Lossless encoding of config values for events.

An encoded value is plain msgpack data. ``None``, ``bool``, ``int`` (64-bit), ``float`` (all 64
bits, NaN payloads and ``-0.0`` included), ``str`` and ``bytes`` stand for themselves; msgpack keeps
them apart, so ``1``, ``1.0`` and ``True`` stay distinct. Every other value is a two-or-more item
list whose first item names it (a list is never a scalar, so there is no ambiguity):

=================================  ======================================================
``["list", [items]]``              a list
``["tuple", [items]]``             a tuple
``["dict", [[key, value], ...]]``  a dict or ADict (decoded as a dict; ADict adapts it)
``["set", [items]]``               a set, items sorted by encoding (``"frozenset"`` likewise)
``["int", "digits"]``              an int beyond 64 bits (``"0x..."`` past Python's 4,300 digits)
``["complex", re, im]``            a complex number
``["numpy", "float32", value]``    a numpy scalar, its value as the exact Python number
``["ndarray", dtype, shape, raw]`` a numpy array: dtype string, shape, raw bytes
``["path", "PosixPath", "text"]``  a :mod:`pathlib` path
``["opaque", type, repr]``         anything else: **not replayable**, kept for display only
=================================  ======================================================
"""

from __future__ import annotations

import pathlib
from dataclasses import dataclass
from typing import Any

import msgspec

__all__ = ["INT64_MIN", "UINT64_MAX", "OpaqueValue", "decode_value", "encode_value", "is_replayable", "opaque_paths"]

_msgpack = msgspec.msgpack.Encoder().encode
_SELF_ENCODED = (str, bool, float, bytes, type(None))
# The integers msgpack stores natively; others are encoded as text.
INT64_MIN, UINT64_MAX = -(2**63), 2**64 - 1


@dataclass(frozen=True, slots=True)
class OpaqueValue:
    """Stands in, after decoding, for a value that could not be recorded losslessly."""

    type_name: str
    repr: str

    def __repr__(self) -> str:
        return f"<not replayable {self.type_name}: {self.repr}>"


def encode_value(value: Any) -> Any:
    """Encode ``value`` losslessly where possible, as an ``opaque`` record otherwise."""
    cls = type(value)
    if cls in _SELF_ENCODED:
        return value
    if cls is int:
        return value if INT64_MIN <= value <= UINT64_MAX else ["int", _int_text(value)]
    if cls is list:
        return ["list", [encode_value(item) for item in value]]
    if cls is tuple:
        return ["tuple", [encode_value(item) for item in value]]
    if isinstance(value, dict):
        return ["dict", [[encode_value(k), encode_value(v)] for k, v in value.items()]]
    if cls is set or cls is frozenset:
        # Canonical order: set iteration order varies with PYTHONHASHSEED.
        return [cls.__name__, sorted((encode_value(item) for item in value), key=_msgpack)]
    if cls is complex:
        return ["complex", value.real, value.imag]
    if isinstance(value, pathlib.PurePath):
        return ["path", cls.__name__, str(value)]
    if cls.__module__ == "numpy":
        encoded = _encode_numpy(value)
        if encoded is not None:
            return encoded
    return ["opaque", f"{cls.__module__}.{cls.__qualname__}", _safe_repr(value)]


def _int_text(value: int) -> str:
    try:
        return str(value)
    except ValueError:  # more digits than Python converts to decimal: hex is exact and unlimited
        return hex(value)


def decode_value(encoded: Any) -> Any:
    """Rebuild the value :func:`encode_value` recorded; opaque ones become :class:`OpaqueValue`."""
    if type(encoded) is not list:
        return encoded
    kind = encoded[0]
    if kind == "list":
        return [decode_value(item) for item in encoded[1]]
    if kind == "tuple":
        return tuple(decode_value(item) for item in encoded[1])
    if kind == "dict":
        return {decode_value(k): decode_value(v) for k, v in encoded[1]}
    if kind == "set":
        return {decode_value(item) for item in encoded[1]}
    if kind == "frozenset":
        return frozenset(decode_value(item) for item in encoded[1])
    if kind == "int":
        text = encoded[1]
        return int(text, 16) if text.lstrip("-").startswith("0x") else int(text)
    if kind == "complex":
        return complex(encoded[1], encoded[2])
    if kind == "path":
        return getattr(pathlib, encoded[1], pathlib.PurePath)(encoded[2])
    if kind == "numpy":
        import numpy as np

        return np.dtype(encoded[1]).type(decode_value(encoded[2]))
    if kind == "ndarray":
        import numpy as np

        return np.frombuffer(encoded[3], dtype=np.dtype(encoded[1])).reshape(encoded[2]).copy()
    if kind == "opaque":
        return OpaqueValue(encoded[1], encoded[2])
    raise ValueError(f"unknown encoded value kind {kind!r}")


def is_replayable(encoded: Any) -> bool:
    """False where the encoding holds an ``opaque`` record anywhere inside."""
    return not opaque_paths(encoded)


def opaque_paths(encoded: Any, where: str = "") -> list[str]:
    """Where inside ``encoded`` the opaque records are (``""`` for the value itself)."""
    if type(encoded) is not list:
        return []
    kind = encoded[0]
    if kind == "opaque":
        return [where]
    if kind in ("list", "tuple", "set", "frozenset"):
        return [p for i, item in enumerate(encoded[1]) for p in opaque_paths(item, f"{where}[{i}]")]
    if kind == "dict":
        found = []
        for key, item in encoded[1]:
            found += opaque_paths(key, f"{where}[key {key!r}]")
            found += opaque_paths(item, f"{where}.{key}" if where else str(key))
        return found
    return []


def _encode_numpy(value: Any) -> Any:
    dtype = getattr(value, "dtype", None)
    if dtype is None or dtype.kind not in "biufc":
        return None
    if type(value).__name__ == "ndarray":
        return ["ndarray", dtype.str, list(value.shape), value.tobytes()]
    return ["numpy", dtype.name, encode_value(value.item())]


def _safe_repr(value: Any) -> str:
    try:
        text = repr(value)
    except Exception as exc:  # a broken __repr__ must not lose the rest of the trace
        text = f"<repr failed: {type(exc).__name__}>"
    return text if len(text) <= 1000 else text[:997] + "..."

"""Structural hashing: a fingerprint of a config's keys and value types, not its values.

The algorithm, stable across processes, machines and Python versions:

1. Map the config to its *shape*:
   - a mapping (dict, ADict, OmegaConf ``DictConfig`` once converted) becomes a JSON object with
     the same keys (a non-string key ``k`` becomes ``"<int>1"``, its type and ``repr``), each
     mapped to the shape of its value; which mapping class held it does not count;
   - a list or tuple becomes ``["list", shape0, shape1, ...]`` (or ``"tuple"``): its length and the
     shape of each element are structure (``layers=[64, 128]`` to ``[64, 128, 256]`` adds a layer);
   - a set becomes ``["set", ...]`` with its element shapes sorted;
   - a numpy array becomes ``"numpy.ndarray[<dtype>]"``;
   - any other value becomes the name of its type: ``"int"``, ``"float"``, ``"str"``, ``"bool"``,
     ``"NoneType"`` for builtins, ``"module.QualName"`` otherwise (``"numpy.float64"``).
2. Encode the shape as compact JSON with object keys sorted (so key order never counts).
3. Hash the bytes with SHA-256; the hex digest is the structural hash.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import msgspec

__all__ = ["shape_of", "structural_hash"]

_BUILTIN_LEAVES = {
    t: t.__qualname__ for t in (int, float, str, bool, type(None), bytes, complex)
}
_encode = msgspec.json.Encoder(order="sorted").encode


def shape_of(value: Any) -> Any:
    """Return the JSON-able shape of ``value`` described in the module docstring."""
    leaf = _BUILTIN_LEAVES.get(type(value))
    if leaf is not None:
        return leaf
    if isinstance(value, Mapping):
        shape = {}
        for key, item in value.items():
            if type(key) is not str:
                key = f"<{_type_name(key)}>{key!r}"
            name = _BUILTIN_LEAVES.get(type(item))
            shape[key] = name if name is not None else shape_of(item)
        return shape
    if isinstance(value, (list, tuple)):
        return [type(value).__qualname__ if type(value) in (list, tuple) else _type_name(value)] + [
            shape_of(item) for item in value
        ]
    if isinstance(value, (set, frozenset)):
        members = sorted(_encode(shape_of(item)).decode() for item in value)
        return [_type_name(value), *members]
    dtype = getattr(value, "dtype", None)
    if dtype is not None and type(value).__name__ == "ndarray":
        return f"numpy.ndarray[{dtype}]"
    return _type_name(value)


def structural_hash(value: Any) -> str:
    """Return the SHA-256 hex digest of the shape of ``value``."""
    return hashlib.sha256(_encode(shape_of(value))).hexdigest()


def _type_name(value: Any) -> str:
    cls = type(value)
    if cls.__module__ == "builtins":
        return cls.__qualname__
    return f"{cls.__module__}.{cls.__qualname__}"

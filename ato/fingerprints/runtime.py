"""Runtime fingerprints: a hash of what a function returns, the same in every process.

Values are fed to XXH3-128 (xxhash) with a type tag before each part, so ``1``, ``1.0`` and
``True`` differ:

- ``None``, ``bool``, ``int``, ``str``, ``bytes``; ``float`` by its 64 bits;
- lists and tuples in order; dicts sorted by their keys' digests; sets by their items' digests;
- numpy arrays and scalars by dtype, shape and the raw bytes (never pickle);
- torch tensors the same way, after ``detach().cpu()`` (a CUDA tensor is copied to the host);
- dataclasses and other objects by their class name and attributes (``vars()``); objects without
  attributes by ``repr`` (make ``inspect_fn`` return plain data where that repr is not stable).

A run records, per trace id, the digest of every call in order (up to ``MAX_CALLS``, 16 hex
digits each) and a chained digest over all calls: ``ato diff`` compares the sequences to find
the first call at which two runs diverged.
"""

from __future__ import annotations

import struct
from typing import Any

import xxhash

__all__ = ["MAX_CALLS", "RuntimeRecord", "first_divergence", "runtime_digest"]

MAX_CALLS = 100_000
_pack_float = struct.Struct("<d").pack


def runtime_digest(value: Any) -> str:
    """The 128-bit hex digest of ``value`` (see the module docstring)."""
    hasher = xxhash.xxh3_128()
    _feed(hasher, value, set())
    return hasher.hexdigest()


def _feed(h: Any, value: Any, active: set[int]) -> None:
    cls = type(value)
    if value is None:
        h.update(b"N")
    elif cls is bool:
        h.update(b"T" if value else b"F")
    elif cls is int:
        h.update(b"i" + str(value).encode() + b";")
    elif cls is float:
        h.update(b"f" + _pack_float(value))
    elif cls is str:
        data = value.encode("utf-8", "surrogatepass")
        h.update(b"s" + str(len(data)).encode() + b":" + data)
    elif cls in (bytes, bytearray, memoryview):
        data = bytes(value)
        h.update(b"b" + str(len(data)).encode() + b":" + data)
    elif cls.__module__ == "numpy" or cls.__module__.startswith("numpy."):
        _feed_numpy(h, value)
    elif cls.__module__ == "torch" and hasattr(value, "detach"):
        _feed_torch(h, value)
    else:
        _feed_container(h, value, active)


def _feed_container(h: Any, value: Any, active: set[int]) -> None:
    if id(value) in active:
        h.update(b"@cycle")
        return
    active.add(id(value))
    try:
        if isinstance(value, (list, tuple)):
            h.update(b"L" if isinstance(value, list) else b"U")
            h.update(str(len(value)).encode() + b"[")
            for item in value:
                _feed(h, item, active)
            h.update(b"]")
        elif isinstance(value, dict):
            pairs = sorted((_sub_digest(k, active), _sub_digest(v, active)) for k, v in value.items())
            h.update(b"D" + str(len(pairs)).encode() + b"{" + "".join(k + v for k, v in pairs).encode() + b"}")
        elif isinstance(value, (set, frozenset)):
            items = sorted(_sub_digest(item, active) for item in value)
            h.update(b"S" + str(len(items)).encode() + b"{" + "".join(items).encode() + b"}")
        elif isinstance(value, float):  # float subclasses
            h.update(b"f" + _pack_float(value))
        elif hasattr(value, "__dict__") and vars(value):
            h.update(b"O" + f"{type(value).__module__}.{type(value).__qualname__}".encode())
            _feed_container(h, dict(vars(value)), active)
        else:
            h.update(b"R" + repr(value).encode("utf-8", "surrogatepass"))
    finally:
        active.discard(id(value))


def _sub_digest(value: Any, active: set[int]) -> str:
    hasher = xxhash.xxh3_128()
    _feed(hasher, value, active)
    return hasher.hexdigest()


def _feed_numpy(h: Any, value: Any) -> None:
    import numpy as np

    array = np.asarray(value)
    if array.dtype.hasobject:
        h.update(b"A" + array.dtype.str.encode() + repr(array.shape).encode())
        for item in array.ravel():
            _feed(h, item, set())
        return
    array = np.ascontiguousarray(array)
    h.update(b"A" + array.dtype.str.encode() + repr(array.shape).encode())
    h.update(array.data.cast("B") if array.size else b"")


def _feed_torch(h: Any, tensor: Any) -> None:
    import torch

    host = tensor.detach().cpu().contiguous()
    h.update(b"X" + str(host.dtype).encode() + repr(tuple(host.shape)).encode())
    if host.numel():
        h.update(host.reshape(-1).view(torch.uint8).numpy().data)


class RuntimeRecord:
    """The digests of one trace id's calls within one run."""

    __slots__ = ("calls", "digests", "chain")

    def __init__(self) -> None:
        self.calls = 0
        self.digests: list[str] = []
        self.chain = xxhash.xxh3_128()

    def add(self, digest: str) -> None:
        self.calls += 1
        self.chain.update(digest.encode())
        if len(self.digests) < MAX_CALLS:
            self.digests.append(digest[:16])

    def detail(self) -> dict[str, Any]:
        return {"calls": self.calls, "digests": self.digests, "truncated": self.calls > len(self.digests)}

    @property
    def fingerprint(self) -> str:
        return self.chain.hexdigest()


def first_divergence(a: list[str], b: list[str]) -> int | None:
    """The index of the first call whose digests differ (or where one sequence ends), else None."""
    for index, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return index
    return None if len(a) == len(b) else min(len(a), len(b))



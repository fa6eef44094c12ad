"""Runtime fingerprints: a hash of what a function returns, the same in every process.

Values are fed to XXH3-128 (xxhash) with a type tag before each part, so ``1``, ``1.0`` and
``True`` differ:

- ``None``, ``bool``, ``int``, ``str``, ``bytes``; ``float`` by its 64 bits;
- lists and tuples in order; dicts sorted by their keys' digests; sets by their items' digests;
- numpy arrays and scalars by dtype, shape and their data (never pickle);
- torch tensors the same way, wherever they are: a CUDA tensor and its host copy digest alike;
- dataclasses and other objects by their class name and attributes (``vars()``); objects without
  attributes by ``repr`` (make ``inspect_fn`` return plain data where that repr is not stable).

The data of an array or tensor is fed as its bytes when it is at most ``CHUNK`` (256 KiB) long,
else as ``K<n>:`` and the XXH3-128 digests (16 bytes each) of its n ``CHUNK``-byte pieces, the
last one shorter: the chunks are hashed in parallel, on the host or as a GPU's copies arrive.
That is digest scheme 2 (:data:`SCHEME`, in each record's detail). Scheme 1, recorded before
without a ``scheme``, fed all data as bytes: the two agree on every value without data over
``CHUNK`` bytes, so ``ato diff`` still compares runs of both, and where they diverge it says the
divergence may be only the scheme change.

Tensors on a device in :data:`ato.fingerprints.deferred.DEVICES` (CUDA) are hashed off the
caller's thread (:func:`deferred_digest`): the traced call returns at once, and the digest
resolves later to the same value :func:`runtime_digest` gives.

A run records, per trace id, the digest of every call in order (up to ``MAX_CALLS``, 16 hex
digits each) and a chained digest over all calls: ``ato diff`` compares the sequences to find
the first call at which two runs diverged.
"""

from __future__ import annotations

import collections
import struct
import threading
import time
from collections.abc import Iterable
from typing import Any, Union

import xxhash

from ato.fingerprints import deferred
from ato.fingerprints.deferred import CHUNK, Pending

__all__ = [
    "MAX_CALLS", "SCHEME", "Digest", "RuntimeRecord", "compare_runtime", "deferred_digest", "first_divergence",
    "SETTLE_TIMEOUT_S", "abandon", "runtime_digest", "scheme_note", "settle",
]

MAX_CALLS = 100_000
SETTLE_TIMEOUT_S = 60.0  # how long a run's end waits for deferred digests (a wedged GPU): then they fail
SCHEME = 2
Digest = Union[str, Pending]  # a digest, or one a worker thread is still computing
_pack_float = struct.Struct("<d").pack


def runtime_digest(value: Any) -> str:
    """The 128-bit hex digest of ``value`` (see the module docstring); waits for device copies."""
    digest = deferred_digest(value)
    return digest if isinstance(digest, str) else digest.result()


def deferred_digest(value: Any) -> Digest:
    """The digest of ``value`` now, or, where it holds device tensors, a future of it: their
    bytes are copied and hashed off this thread, which never waits for the device."""
    plan = _Plan()
    try:
        _feed(plan, value, set())
    except BaseException:
        if plan.target is not None:
            plan.target.close()  # what was queued for it is given back
        raise
    return plan.result()


class _Plan:
    """A digest being fed, like an xxh3 hasher; device tensors go to a :class:`deferred.Target`."""

    __slots__ = ("hasher", "update", "target")

    def __init__(self) -> None:
        self.hasher = xxhash.xxh3_128()
        self.update = self.hasher.update  # bound straight to the hasher until a tensor is deferred
        self.target: deferred.Target | None = None

    def defer(self) -> deferred.Target | None:
        """The target that finishes this digest off the caller's thread (None: hash here)."""
        if self.target is None:
            target = deferred.open_target(self.hasher)
            if target is None:
                return None
            self.target, self.update = target, target.update
        return self.target

    def result(self) -> Digest:
        return self.hasher.hexdigest() if self.target is None else self.target.close()


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
            _feed_sorted(h, b"D", [(_sub_digest(k, active), _sub_digest(v, active)) for k, v in value.items()])
        elif isinstance(value, (set, frozenset)):
            _feed_sorted(h, b"S", [(_sub_digest(item, active),) for item in value])
        elif isinstance(value, float):  # float subclasses
            h.update(b"f" + _pack_float(value))
        elif hasattr(value, "__dict__") and vars(value):
            h.update(b"O" + f"{type(value).__module__}.{type(value).__qualname__}".encode())
            _feed_container(h, dict(vars(value)), active)
        else:
            h.update(b"R" + repr(value).encode("utf-8", "surrogatepass"))
    finally:
        active.discard(id(value))


def _sub_digest(value: Any, active: set[int]) -> Digest:
    plan = _Plan()
    try:
        _feed(plan, value, active)
    except BaseException:
        if plan.target is not None:
            plan.target.close()  # what was queued for it is given back (as in deferred_digest)
        raise
    return plan.result()


def _feed_sorted(h: Any, tag: bytes, groups: list[tuple[Digest, ...]]) -> None:
    """A dict's (key, value) digests or a set's item digests, in sorted order (each digest has 32
    hex digits, so sorting the joined pairs sorts by key digest, then value digest)."""
    futures = [digest for group in groups for digest in group if type(digest) is not str]
    target = h.defer() if futures else None
    if target is None:
        h.update(_sorted_block(tag, groups))
    else:
        target.later(futures, lambda: _sorted_block(tag, groups))


def _sorted_block(tag: bytes, groups: list[tuple[Digest, ...]]) -> bytes:
    items = sorted("".join(_resolved(digest) for digest in group) for group in groups)
    return tag + str(len(items)).encode() + b"{" + "".join(items).encode() + b"}"


def _resolved(digest: Digest) -> str:
    return digest if isinstance(digest, str) else digest.result()


def _feed_data(h: Any, data: memoryview) -> None:
    """An array's bytes: as they are up to ``CHUNK``, else their chunk digests (scheme 2)."""
    if len(data) <= CHUNK:
        h.update(data)
    else:
        digests = deferred.chunk_digests(data)
        h.update(b"K" + str(len(digests) // 16).encode() + b":" + digests)


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
    _feed_data(h, array.data.cast("B") if array.size else memoryview(b""))


def _feed_torch(h: Any, tensor: Any) -> None:
    import torch

    tensor = tensor.detach()  # no autograd warning, no graph kept alive
    h.update(b"X" + str(tensor.dtype).encode() + repr(tuple(tensor.shape)).encode())
    if not tensor.numel():
        return
    if tensor.device.type in deferred.DEVICES and tensor.layout is torch.strided and not tensor.is_quantized:
        target = h.defer()
        if target is not None:
            target.tensor(_flat_bytes(tensor))  # copied now, on the tensor's stream; hashed later
            return
    _feed_data(h, memoryview(_flat_bytes(tensor.cpu()).numpy()))


def _flat_bytes(tensor: Any) -> Any:
    """The tensor's bytes as a flat uint8 tensor on its device (a view where it can be)."""
    import torch

    tensor = tensor.resolve_conj().resolve_neg()
    if not tensor.is_contiguous():
        tensor = tensor.contiguous()
    return tensor.reshape(-1).view(torch.uint8)


class RuntimeRecord:
    """The digests of one trace id's calls within one run, in call order.

    :meth:`add` takes digests and futures of digests (:func:`deferred_digest`); :meth:`detail`
    and :attr:`fingerprint` wait for the futures (:meth:`settle`), so what they return is complete.
    """

    __slots__ = ("calls", "digests", "chain", "_waiting", "_lock")

    def __init__(self) -> None:
        self.calls = 0
        self.digests: list[str] = []
        self.chain = xxhash.xxh3_128()
        self._waiting: collections.deque[Digest] = collections.deque()  # behind a future, in order
        self._lock = threading.Lock()

    def add(self, digest: Digest) -> None:
        with self._lock:
            waiting = self._waiting
            if not waiting and type(digest) is str:
                self._take(digest)
                return
            waiting.append(digest)
            self._take_ready()

    def _take(self, digest: str) -> None:
        self.calls += 1
        self.chain.update(digest.encode())
        if len(self.digests) < MAX_CALLS:
            self.digests.append(digest[:16])

    def _take_ready(self) -> None:
        waiting = self._waiting
        while waiting:
            head = waiting[0]
            if not isinstance(head, str) and not head.done():
                return
            self._take(_resolved(waiting.popleft()))

    @property
    def pending(self) -> int:
        """How many calls' digests are still being computed (or wait behind one that is)."""
        with self._lock:
            self._take_ready()
            return len(self._waiting)

    def settle(self, timeout: float | None = None) -> bool:
        """Wait until every call added so far is recorded; False if ``timeout`` (s) ran out first.
        Safe from any thread, the tracker's event loop included: the digests never need it."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._lock:
                self._take_ready()
                if not self._waiting:
                    return True
                head = self._waiting[0]
            assert not isinstance(head, str)
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                head.result(left)
            except TimeoutError:
                return False

    def detail(self) -> dict[str, Any]:
        self.settle()
        return {"calls": self.calls, "digests": self.digests, "truncated": self.calls > len(self.digests),
                "scheme": SCHEME}

    @property
    def fingerprint(self) -> str:
        self.settle()
        return self.chain.hexdigest()


def settle(records: Iterable[RuntimeRecord], timeout: float | None = None) -> bool:
    """:meth:`RuntimeRecord.settle` each of ``records`` (blocking: from async code, run it in a
    worker thread); False if ``timeout`` (s, for all of them) ran out first."""
    deadline = None if timeout is None else time.monotonic() + timeout
    for record in list(records):
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        if not record.settle(left):
            return False
    return True


def abandon(records: Iterable[RuntimeRecord], reason: BaseException) -> int:
    """Resolve, as failed digests, every digest of ``records`` still being computed (after
    :func:`settle` timed out: a device that never finishes its copies). Their pipelines are given
    up on (later calls hash on the caller's thread); returns how many digests were pending."""
    count = 0
    for record in list(records):
        with record._lock:
            waiting = [digest for digest in record._waiting if not isinstance(digest, str) and not digest.done()]
        count += len(waiting)
        for digest in waiting:
            digest.give_up(reason)
    return count


def first_divergence(a: list[str], b: list[str]) -> int | None:
    """The index of the first call whose digests differ (or where one sequence ends), else None."""
    for index, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return index
    return None if len(a) == len(b) else min(len(a), len(b))


def compare_runtime(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """How two runs' records of one trace id compare (their details): the first call at which the
    outputs diverged (None where every kept digest and the call counts agree).

    Runs recorded by different digest schemes (one before scheme 2) are still compared: the
    schemes agree on every output without arrays over ``CHUNK`` bytes, so equal digests mean equal
    outputs, and no entry is a false difference. Where they diverge, a ``note`` says the divergence
    may be only the scheme change, if those outputs hold arrays over ``CHUNK`` bytes."""
    digests_a, digests_b = a.get("digests", []), b.get("digests", [])
    at = first_divergence(digests_a, digests_b)
    calls_a, calls_b = a.get("calls", len(digests_a)), b.get("calls", len(digests_b))
    if at is None and calls_a != calls_b:  # digests kept for the first MAX_CALLS calls only
        at = min(calls_a, calls_b)
    result: dict[str, Any] = {"first_divergent_call": at}
    scheme_a, scheme_b = a.get("scheme", 1), b.get("scheme", 1)
    if scheme_a != scheme_b and (at is None or at < min(len(digests_a), len(digests_b))):
        # (where one run only made more calls, the scheme is no excuse)
        result["scheme_changed"] = {"a": scheme_a, "b": scheme_b}
        result["note"] = scheme_note(scheme_a, scheme_b)
    return result


def scheme_note(scheme_a: int, scheme_b: int) -> str:
    """Why a divergence between runs of two digest schemes may not be one."""
    return (f"this may be only the digest scheme change ({scheme_a} -> {scheme_b}), if those outputs hold "
            f"arrays over {CHUNK // 1024} KiB")

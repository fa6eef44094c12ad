"""Runtime fingerprints of device tensors, hashed off the caller's thread, and digest scheme 2.

CI has no GPU: the deferred path runs here with CPU tensors through the same code
(:func:`deferred.configure` adds ``cpu`` to the device types that take it); only the pinned ring
and the CUDA events differ on a GPU, and bench/gpu_loop.py measures those.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xxhash
from hypothesis import given, settings
from hypothesis import strategies as st

from ato.fingerprints import deferred
from ato.fingerprints.deferred import CHUNK, Pending, chunk_digests, hash_chunks
from ato.fingerprints.runtime import (
    SCHEME,
    RuntimeRecord,
    compare_runtime,
    deferred_digest,
    runtime_digest,
    settle,
)
from tests.conftest import run_script

torch = pytest.importorskip("torch")

RING, PIECE = 4 * CHUNK, 2 * CHUNK  # small: tensors larger than the ring wait for room (backpressure)


@pytest.fixture
def on_cpu() -> Iterator[None]:
    """CPU tensors take the deferred path (as CUDA tensors do), through a small ring."""
    saved = (deferred.DEVICES, deferred.RING, deferred.PIECE)
    deferred.configure(devices=("cpu", "cuda"), ring_bytes=RING, piece_bytes=PIECE)
    yield
    deferred.configure(devices=tuple(saved[0]), ring_bytes=saved[1], piece_bytes=saved[2])


def _host(value: Any) -> str:
    """The digest computed on the caller's thread, as every earlier version did."""
    devices = deferred.DEVICES
    deferred.DEVICES = frozenset()
    try:
        return runtime_digest(value)
    finally:
        deferred.DEVICES = devices


def _resolve(digest: str | Pending) -> str:
    return digest if isinstance(digest, str) else digest.result(timeout=30)


@dataclass
class Out:
    logits: Any
    label: str


# Digests recorded by scheme 1 (before this change): every value without data over CHUNK bytes
# keeps its digest, so runs recorded before still compare.
def _scheme_1_values() -> dict[str, Any]:
    return {
        "none": (None, "626d368fe0e74b4f1a038927df1311d6"),
        "int": (12345678901234567890, "3c110e91d945947e1c23c063c7449a8e"),
        "float": (0.1, "67e16bb2a22b77a8bc8edae175803a79"),
        "str": ("héllo", "eb6ea8f91cd29d8000af3553fe96e11d"),
        "list": ([1, 2.0, "3", (4,)], "202a4c18eaae013aae246f6cd612e78a"),
        "dict": ({"b": 2, "a": [1, 2]}, "e2aa41b39d1fb36f068bbfa1f741ce8c"),
        "set": ({"x", "y"}, "414dd506e1ce465edf1a04852e05fef7"),
        "numpy": (np.linspace(0, 1, 50, dtype=np.float16), "ee51d4d66ca5c0a92fc1619a1a44104f"),
        "numpy 2d": (np.arange(12, dtype=np.int32).reshape(3, 4), "32c6d16b99f15a976d04a2f5c6b9f0a2"),
        "numpy of CHUNK bytes": (np.arange(CHUNK // 4, dtype=np.float32), "dea1debc15487eafe84730af377ec934"),
        "tensor": (torch.arange(6, dtype=torch.float32).reshape(2, 3), "7c1e66929ea7cfe78a93af1ee2340490"),
        "bf16": (torch.linspace(0, 1, 7).to(torch.bfloat16), "2b836fcd8a23432678504deb1620d47c"),
        "nested": ({"t": torch.ones(3), "a": np.zeros(2)}, None),
        "empty": (torch.empty(0, 3), "a901b773987ff89db49694bd19f9c38b"),
        "object array": (np.array([1, "a"], dtype=object), "9a176a2b2fa6466ed549cfa032ce00bd"),
    }


@pytest.mark.parametrize("name", list(_scheme_1_values()))
def test_values_without_large_data_keep_their_scheme_1_digests(name: str, on_cpu: None) -> None:
    value, expected = _scheme_1_values()[name]
    assert _host(value) == _resolve(deferred_digest(value)) == runtime_digest(value)
    if expected is not None:
        assert _host(value) == expected


def _tensors() -> list[Any]:
    g = torch.Generator().manual_seed(0)
    big = torch.randn(3 * RING // 4 + 123, generator=g)  # larger than the ring: streamed in pieces
    return [
        torch.tensor(2.5),
        torch.tensor(1.5, dtype=torch.float16),
        torch.tensor(-0.75, dtype=torch.bfloat16),
        torch.randn(CHUNK // 4, generator=g),  # exactly CHUNK bytes: hashed as they are
        torch.randn(CHUNK // 4 + 1, generator=g),  # one float more: chunked
        big,
        big.to(torch.bfloat16),
        torch.randn(300, 700, generator=g).T,  # not contiguous
        torch.randn(5, dtype=torch.complex64, generator=g).conj(),  # conjugate bit
        torch.randn(50_000, generator=g).requires_grad_() * 2,  # requires grad
        torch.randint(0, 2, (999,), generator=g).bool(),
        torch.empty(0, 3),
        {"logits": torch.randn(4, 10, generator=g), "labels": [1, 2], "rng": {torch.randn(2, generator=g).sum().item()}},
        [Out(torch.randn(100_000, generator=g), "x"), (torch.ones(1), np.ones(3))],
        {"a": {"b": torch.randn(CHUNK, generator=g)}, "c": torch.zeros(2)},
    ]


def test_deferred_digests_are_bit_identical_to_the_host_digest(on_cpu: None) -> None:
    values = _tensors()
    expected = [_host(value) for value in values]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no torch warning from inside Ato (requires_grad, bf16, ...)
        digests = [deferred_digest(value) for value in values]
    assert [_resolve(d) for d in digests] == expected
    assert sum(isinstance(d, Pending) for d in digests) == len(values) - 1  # all but the empty tensor
    # The tensors three times the ring's size went through it piece by piece; whether the caller
    # had to wait for room depends on how fast the workers drained it, so that is not asserted.


def test_a_tensor_and_its_copy_digest_alike_and_differ_from_other_values(on_cpu: None) -> None:
    t = torch.randn(2 * CHUNK)
    assert runtime_digest(t) == runtime_digest(t.clone()) == _host(t.clone())
    assert runtime_digest(t) != runtime_digest(t.to(torch.float64)) != runtime_digest(t.reshape(2, -1))
    changed = t.clone()
    changed[-1] += 1
    assert runtime_digest(t) != runtime_digest(changed)


def test_the_digest_is_of_the_values_at_the_call(on_cpu: None) -> None:
    t = torch.zeros(3 * CHUNK)
    before = _host(t)
    digest = deferred_digest(t)
    t += 1  # the caller changes its tensor right after the call
    assert _resolve(digest) == before


def test_order_is_kept_across_many_calls_and_mixed_values(on_cpu: None) -> None:
    values: list[Any] = []
    for i in range(400):
        values.append(torch.full((1 + i % 7 * 40_000,), float(i)))  # up to ~1 MiB, some chunked
        if i % 5 == 0:
            values.append({"step": i})  # digested on the spot, recorded behind the pending ones
    record, reference = RuntimeRecord(), RuntimeRecord()
    for value in values:
        record.add(deferred_digest(value))
        reference.add(_host(value))
    assert record.settle(timeout=60)
    assert record.detail() == reference.detail() and record.fingerprint == reference.fingerprint
    assert record.detail()["calls"] == len(values) and record.detail()["scheme"] == SCHEME == 2


def test_records_wait_for_their_digests_when_read(on_cpu: None) -> None:
    record = RuntimeRecord()
    gate = threading.Event()
    original = deferred.hash_chunks

    def slow(data: Any) -> bytes:
        gate.wait(10)
        return original(data)

    deferred.hash_chunks = slow  # type: ignore[assignment]
    try:
        record.add(deferred_digest(torch.ones(2 * CHUNK)))
        record.add(runtime_digest("after"))
        assert record.pending == 2 and record.settle(timeout=0.05) is False
        threading.Timer(0.1, gate.set).start()
        assert record.detail()["calls"] == 2  # waits, from any thread
    finally:
        deferred.hash_chunks = original  # type: ignore[assignment]
    assert settle([record], timeout=1) and record.pending == 0
    assert record.detail()["digests"] == [_host(torch.ones(2 * CHUNK))[:16], runtime_digest("after")[:16]]


def test_a_digest_that_fails_resolves_and_the_next_ones_are_right(on_cpu: None, capfd: pytest.CaptureFixture[str]) -> None:
    original = deferred.hash_chunks

    def broken(data: Any) -> bytes:
        raise RuntimeError("CUDA error: an illegal memory access was encountered")

    deferred.hash_chunks = broken  # type: ignore[assignment]
    try:
        failed = deferred_digest(torch.ones(3 * CHUNK))
        failed_digest = _resolve(failed)
    finally:
        deferred.hash_chunks = original  # type: ignore[assignment]
    assert failed_digest != _host(torch.ones(3 * CHUNK))
    assert "illegal memory access" in capfd.readouterr().err
    after = torch.arange(3 * CHUNK)
    assert _resolve(deferred_digest(after)) == _host(after)  # the pipeline goes on


def test_the_traced_call_never_reads_the_device_on_the_callers_thread(on_cpu: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """What would make the host wait for a GPU (``.cpu()``, ``.item()``, ``.numpy()``, a wait on
    an event) happens on the worker thread only: counted, per call, on the caller's thread."""
    from ato import Scope
    from ato.fingerprints.tracing import watch_runtime

    deferred.configure(devices=("cpu", "cuda"), ring_bytes=256 * CHUNK, piece_bytes=2 * CHUNK)
    scope = Scope()

    @scope.runtime_trace("layer")
    def layer(x: Any) -> Any:
        return x * 2

    class Sink:
        def __init__(self) -> None:
            self.record = RuntimeRecord()

        def record_runtime(self, trace_id: str, digest: str | Pending) -> None:
            self.record.add(digest)

    sink = Sink()
    watch_runtime(sink, True)
    try:
        layer(torch.ones(4))  # the ring is made on first use
        caller = threading.current_thread()
        reads: list[str] = []
        waits_on: list[str] = []
        for name in ("cpu", "item", "tolist", "numpy", "__float__", "__int__", "__bool__"):
            original = getattr(torch.Tensor, name)

            def counted(self: Any, *args: Any, _name: str = name, _original: Any = original, **kwargs: Any) -> Any:
                if threading.current_thread() is caller:
                    reads.append(_name)
                return _original(self, *args, **kwargs)

            monkeypatch.setattr(torch.Tensor, name, counted)
        run = deferred._Copy.run

        def waited(self: Any) -> None:
            waits_on.append(threading.current_thread().name)
            run(self)

        monkeypatch.setattr(deferred._Copy, "run", waited)
        inputs = [torch.randn(257, 1000) for _ in range(50)]  # ~1 MiB outputs
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            outputs = [layer(x) for x in inputs]
        assert reads == [] and deferred.caller_waits() == 0
        monkeypatch.undo()
        assert sink.record.settle(timeout=60)
        assert set(waits_on) == {"ato-fingerprints"} and len(waits_on) >= 50
        assert sink.record.detail()["digests"][1:] == [_host(y)[:16] for y in outputs]
    finally:
        watch_runtime(sink, False)


def test_finishing_right_after_many_calls_loses_nothing(on_cpu: None, tmp_path: Path) -> None:
    from ato import ADict, Scope, SQLFinder, SQLLogger

    config = ADict(experiment=ADict(project_name="p", sql=ADict(db_path=f"sqlite:///{tmp_path / 'e.db'}")))
    scope = Scope()

    @scope.runtime_trace("step")
    def step(i: int) -> Any:
        return {"out": torch.full((1 + (i % 4) * CHUNK // 3,), float(i)), "i": i}

    logger = SQLLogger(config)
    logger.run()
    expected = [_host({"out": torch.full((1 + (i % 4) * CHUNK // 3,), float(i)), "i": i}) for i in range(300)]
    for i in range(300):
        step(i)
    logger.finish()
    logger.close()
    with SQLFinder(config) as finder:
        [recorded] = [f for f in finder.get_fingerprints(1) if f.kind == "runtime"]
    assert recorded.detail["calls"] == 300 and recorded.detail["scheme"] == SCHEME
    assert recorded.detail["digests"] == [d[:16] for d in expected]
    reference = RuntimeRecord()
    for digest in expected:
        reference.add(digest)
    assert recorded.fingerprint == reference.fingerprint


AT_EXIT = """
import torch
from ato import ADict, Scope, SQLLogger
from ato.fingerprints import deferred

deferred.configure(devices=("cpu", "cuda"), ring_bytes=4 << 18, piece_bytes=2 << 18)
scope = Scope()

@scope.runtime_trace("step")
def step(i):
    return torch.full((1 + (i % 3) * 100_000,), float(i), dtype=torch.bfloat16)

logger = SQLLogger(ADict(experiment=ADict(project_name="p", sql=ADict(db_path="sqlite:///e.db"))))
logger.run()
for i in range(200):
    step(i)
# no finish, no close: the interpreter exits with digests still being computed
"""


def test_digests_still_being_computed_at_exit_are_recorded(tmp_path: Path) -> None:
    from ato import SQLFinder

    run_script(tmp_path, AT_EXIT)
    with SQLFinder(f"sqlite:///{tmp_path / 'e.db'}") as finder:
        [recorded] = [f for f in finder.get_fingerprints(1) if f.kind == "runtime"]
    expected = [_host(torch.full((1 + (i % 3) * 100_000,), float(i), dtype=torch.bfloat16)) for i in range(200)]
    assert recorded.detail["calls"] == 200
    assert recorded.detail["digests"] == [d[:16] for d in expected]


def test_importing_ato_imports_neither_torch_nor_numpy(tmp_path: Path) -> None:
    result = run_script(tmp_path, """
        import sys
        import ato, ato.fingerprints.runtime, ato.fingerprints.tracing
        print(sorted(m for m in ('torch', 'numpy') if m in sys.modules))
    """)
    assert result.stdout.strip() == "[]"


# -- the chunked digest (scheme 2) -------------------------------------------------------------------
def test_large_data_is_defined_by_its_chunk_digests() -> None:
    array = np.random.default_rng(1).random(CHUNK // 8 * 3 + 5)  # 3 chunks and 40 bytes
    data = array.tobytes()
    chunks = [data[i : i + CHUNK] for i in range(0, len(data), CHUNK)]
    expected = xxhash.xxh3_128(
        b"A" + array.dtype.str.encode() + repr(array.shape).encode()
        + b"K4:" + b"".join(xxhash.xxh3_128_digest(c) for c in chunks)
    ).hexdigest()
    assert runtime_digest(array) == expected


@settings(max_examples=40, deadline=None)
@given(
    size=st.one_of(st.integers(0, 3 * CHUNK), st.integers(4 * CHUNK - 10, 9 * CHUNK)),
    seed=st.integers(0, 2**32 - 1),
    cut=st.integers(0, 9),
)
def test_chunk_digests_are_the_same_in_one_piece_in_chunks_and_in_parallel(size: int, seed: int, cut: int) -> None:
    data = np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes()
    one_by_one = b"".join(xxhash.xxh3_128_digest(data[i : i + CHUNK]) for i in range(0, size, CHUNK))
    split = min(cut * CHUNK, size)  # any split at a chunk boundary, hashed apart
    assert hash_chunks(memoryview(data)) == one_by_one
    assert chunk_digests(memoryview(data)) == one_by_one  # spread over the hashing threads
    assert hash_chunks(memoryview(data)[:split]) + hash_chunks(memoryview(data)[split:]) == one_by_one


@settings(max_examples=15, deadline=None)
@given(size=st.integers(1, 3 * RING // 2), seed=st.integers(0, 2**32 - 1))
def test_device_pieces_give_the_host_digest(size: int, seed: int) -> None:
    saved = (deferred.DEVICES, deferred.RING, deferred.PIECE)
    deferred.configure(devices=("cpu",), ring_bytes=RING, piece_bytes=PIECE)
    try:
        data = np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8)
        assert _resolve(deferred_digest(torch.from_numpy(data))) == _host(torch.from_numpy(data.copy()))
    finally:
        deferred.configure(devices=tuple(saved[0]), ring_bytes=saved[1], piece_bytes=saved[2])


# -- comparing runs: the scheme ------------------------------------------------------------------------
def test_runs_of_different_schemes_are_still_compared() -> None:
    """Schemes 1 and 2 agree on every output without arrays over CHUNK bytes: equal digests are
    equal outputs (no entry), and a divergence is reported, with a note that it may be only the
    scheme change."""
    old = {"calls": 3, "digests": ["a", "b", "c"], "truncated": False}  # scheme 1: no "scheme"
    new = {"calls": 3, "digests": ["a", "x", "c"], "truncated": False, "scheme": 2}
    changed = compare_runtime(old, new)
    assert changed["first_divergent_call"] == 1 and changed["scheme_changed"] == {"a": 1, "b": 2}
    assert "may be only the digest scheme change (1 -> 2)" in changed["note"] and "256 KiB" in changed["note"]
    assert compare_runtime(old, {**new, "digests": ["a", "b", "c"]})["first_divergent_call"] is None
    assert compare_runtime(old, {**old, "digests": ["a", "x", "c"]}) == {"first_divergent_call": 1}
    assert compare_runtime(new, {**new, "digests": ["a", "x", "d"]}) == {"first_divergent_call": 2}
    # one run made more calls: a real difference, whatever the schemes
    assert compare_runtime(old, {**new, "calls": 4, "digests": ["a", "b", "c", "d"]}) == {"first_divergent_call": 3}


def test_diff_compares_runs_of_different_schemes() -> None:
    from ato.tracking.diff import _runtime_differences

    old = ("f1", {"calls": 2, "digests": ["a", "b"], "truncated": False})
    new = ("f2", {"calls": 2, "digests": ["a", "c"], "truncated": False, "scheme": 2})
    [entry] = _runtime_differences({("pred", "runtime"): old}, {("pred", "runtime"): new})
    assert entry["trace_id"] == "pred" and entry["first_divergent_call"] == 1
    assert entry["scheme_changed"] == {"a": 1, "b": 2} and "digest scheme change" in entry["note"]
    [entry] = _runtime_differences({("pred", "runtime"): old}, {("pred", "runtime"): ("f3", {**old[1], "digests": ["x", "b"]})})
    assert entry["first_divergent_call"] == 0 and "scheme_changed" not in entry
    # only the scheme changed, every digest agrees (outputs without large arrays): no difference,
    # though the chained fingerprints, over the full digests, are stored as different strings
    same = ("f4", {**new[1], "digests": ["a", "b"]})
    assert _runtime_differences({("pred", "runtime"): old}, {("pred", "runtime"): same}) == []
    # digests kept for the first calls only, the chains differ after them
    kept = {"calls": 5, "digests": ["a", "b"], "truncated": True, "scheme": 2}
    [entry] = _runtime_differences({("pred", "runtime"): ("f5", kept)}, {("pred", "runtime"): ("f6", kept)})
    assert entry["first_divergent_call"] is None and entry["diverged_after"] == 2


def test_ato_diff_shows_a_divergence_across_schemes(tmp_path: Path) -> None:
    """Run 1 recorded by scheme 1, runs 2 and 3 by scheme 2: run 2 diverges from it at a small
    output's call 1 (a real difference the old diff hid), run 3 only by the scheme (no entry)."""
    import json

    from ato.tracking.finder import SQLFinder
    from tests.conftest import ato

    run_script(tmp_path, """
        from ato import Scope, SQLLogger
        from ato.fingerprints.runtime import RuntimeRecord

        scope = Scope()

        @scope.runtime_trace("small")
        def small(value):
            return value

        detail = RuntimeRecord.detail

        def scheme_1(self):  # as Ato recorded a run before scheme 2: no "scheme"
            recorded = detail(self)
            del recorded["scheme"]
            return recorded

        with SQLLogger({'experiment': {'project_name': 'p', 'sql': {'db_path': 'sqlite:///experiments.db'}}}) as logger:
            for run in range(3):
                RuntimeRecord.detail = scheme_1 if run == 0 else detail
                logger.run()
                for value in ([1, 2], [3, 5] if run == 1 else [3, 4], [5, 6]):
                    small(value)
                logger.finish()
    """)
    with SQLFinder(tmp_path / "experiments.db") as finder:
        [first] = [f.detail for f in finder.get_fingerprints(1) if f.kind == "runtime"]
    assert "scheme" not in first and first["calls"] == 3
    result = ato("diff", "1", "2", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert "runtime: small first diverged at call 1 (3 vs 3 calls); this may be only the digest scheme change" in text
    report = json.loads(ato("diff", "1", "3", "--json", cwd=tmp_path).stdout)
    assert report["runtime"] == []
    assert "runtime: same outputs" in ato("diff", "1", "3", cwd=tmp_path).stdout

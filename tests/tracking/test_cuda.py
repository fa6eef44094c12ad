"""On a GPU: CUDA values logged and fingerprinted are exactly those of the host.

CI has no GPU, so these are skipped there; bench/gpu_device_check.sh runs them on the GPU
machine. The CPU tests send CPU tensors down the same deferred paths
(tests/tracking/test_tensor_metrics.py, tests/fingerprints/test_async_fingerprints.py); what only
a GPU has is checked here: the caller's streams (the default one and a side stream), non-blocking
copies into pinned memory and the events after them.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import Any

import pytest

from ato.config.adict import ADict
from ato.db_routers.sql.manager import SQLFinder, SQLLogger
from ato.fingerprints import deferred
from ato.fingerprints.deferred import CHUNK
from ato.fingerprints.runtime import deferred_digest, runtime_digest

torch = pytest.importorskip("torch")

pytestmark = pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA device (bench/gpu_device_check.sh runs these on the GPU machine)"
)

DTYPES = ["float32", "bfloat16", "float16"]


def _bits(values: list[float]) -> list[bytes]:
    return [struct.pack("<d", value) for value in values]


@pytest.fixture
def side_stream() -> Iterator[Any]:
    yield torch.cuda.Stream()
    torch.cuda.synchronize()


def _busy(size: int = 2048) -> Any:
    """Work that keeps the current stream busy a while: a copy that does not wait for the stream
    reads what was there before the values below were written."""
    x = torch.randn(size, size, device="cuda")
    for _ in range(8):
        x = x @ x
        x = x / x.norm()
    return x


def _losses(dtype: Any, steps: int) -> list[Any]:
    """Losses computed on the current stream, as a training step makes them, behind other work."""
    g = torch.Generator(device="cuda").manual_seed(0)
    base = torch.randn(4096, device="cuda", generator=g)
    out = []
    for step in range(steps):
        if step % 10 == 0:
            _busy(512)
        out.append(((base * (step + 1)).sin().mean() * 3.7).to(dtype))
    return out


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("on", ["default stream", "side stream"])
def test_logged_cuda_values_equal_item_exactly(config: ADict, dtype: str, on: str, side_stream: Any) -> None:
    kind = getattr(torch, dtype)
    steps = 200
    kept: list[Any] = []
    with SQLLogger(config) as logger:
        logger.run()
        stream = side_stream if on == "side stream" else torch.cuda.current_stream()
        with torch.cuda.stream(stream):
            _busy()
            for loss in _losses(kind, steps):
                logger.log_metric("loss", loss)
                kept.append(loss.clone())  # on the same stream: the value as logged
                loss.add_(1)  # the caller changes its tensor right after logging it
        logger.finish()
    torch.cuda.synchronize()
    expected = [tensor.item() for tensor in kept]
    with SQLFinder(config) as finder:
        stored = finder.get_metrics(1, "loss")
    assert [step for step, _ in stored] == list(range(steps))
    assert _bits([value for _, value in stored]) == _bits(expected)


def _cuda_tensors() -> dict[str, Any]:
    g = torch.Generator(device="cuda").manual_seed(1)
    ring = deferred.RING
    return {
        "scalar": torch.tensor(2.5, device="cuda"),
        "small": torch.randn(100, device="cuda", generator=g),
        "CHUNK bytes": torch.randn(CHUNK // 4, device="cuda", generator=g),
        "over 256 KiB": torch.randn(CHUNK // 4 + 1000, device="cuda", generator=g),
        "bf16 over 256 KiB": torch.randn(3 * CHUNK, device="cuda", generator=g).to(torch.bfloat16),
        "not contiguous": torch.randn(700, 900, device="cuda", generator=g).T,
        "over the ring": torch.randn(ring // 4 + 12345, device="cuda", generator=g),
    }


TENSORS = ["scalar", "small", "CHUNK bytes", "over 256 KiB", "bf16 over 256 KiB", "not contiguous", "over the ring"]


@pytest.mark.parametrize("name", TENSORS)
def test_the_digest_of_a_cuda_tensor_is_that_of_its_host_copy(name: str, side_stream: Any) -> None:
    assert deferred.DEVICES >= {"cuda"}
    tensors = _cuda_tensors()
    assert list(tensors) == TENSORS
    tensor = tensors[name]
    host = runtime_digest(tensor.cpu())
    assert runtime_digest(tensor) == host
    # made on a side stream, digested there while the stream is still busy, then changed
    side_stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side_stream):
        _busy()
        again = tensor * 1
        digest = deferred_digest(again)
        again.add_(1)
    assert (digest if isinstance(digest, str) else digest.result(timeout=120)) == host


def test_a_traced_function_records_the_same_fingerprint_for_cuda_outputs_and_their_host_copies(
    config: ADict,
) -> None:
    from ato import Scope

    scope = Scope()

    @scope.runtime_trace("outputs")
    def outputs(step: int, on_gpu: bool) -> Any:
        g = torch.Generator(device="cuda").manual_seed(step)
        made = {
            "loss": torch.randn((), device="cuda", generator=g),
            "logits": torch.randn(64, 1000, device="cuda", generator=g),  # 250 KiB
            "features": torch.randn(256, 1024, device="cuda", generator=g).to(torch.bfloat16),  # 512 KiB
            "rest": [torch.arange(step + 1, device="cuda"), "label"],
        }
        if on_gpu:
            return made
        return {"loss": made["loss"].cpu(), "logits": made["logits"].cpu(), "features": made["features"].cpu(),
                "rest": [made["rest"][0].cpu(), "label"]}

    with SQLLogger(config) as logger:
        for on_gpu in (True, False):
            logger.run()
            for step in range(30):
                outputs(step, on_gpu)
            logger.finish()
    with SQLFinder(config) as finder:
        gpu, cpu = ([f for f in finder.get_fingerprints(run) if f.kind == "runtime" and f.trace_id == "outputs"]
                    for run in (1, 2))
    assert len(gpu) == len(cpu) == 1
    assert gpu[0].detail["calls"] == 30
    assert gpu[0].detail["digests"] == cpu[0].detail["digests"]
    assert gpu[0].fingerprint == cpu[0].fingerprint

"""log_metric(tensor): kept on its device, read back once per flush, exact, never lost.

CI has no GPU: these send CPU tensors down the same path (``IMMEDIATE_DEVICES`` emptied); the
CUDA-only part, waiting for the caller's streams and copying into pinned memory, is checked by
tests/tracking/test_cuda.py where a GPU is present and measured by bench/gpu_loop.py.
"""

from __future__ import annotations

import math
import struct
import sys
import warnings
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ato.config.adict import ADict
from ato.db_routers.sql.manager import SQLFinder, SQLLogger
from ato.errors import MetricValueError
from ato.tracking import tensors
from tests.conftest import run_script

torch = pytest.importorskip("torch")


@pytest.fixture(autouse=True)
def cpu_tensors_take_the_gpu_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tensors, "IMMEDIATE_DEVICES", set())


def _bits(values: list[float]) -> list[bytes]:
    return [struct.pack("<d", value) for value in values]


def _stored(config: ADict, key: str, run_id: int = 1) -> list[tuple[int, float]]:
    with SQLFinder(config) as finder:
        return finder.get_metrics(run_id, key)


@pytest.mark.parametrize("dtype", ["float32", "float64", "bfloat16", "float16", "int64", "int32", "bool"])
def test_tensor_values_are_stored_exactly_widened_to_float64(config: ADict, dtype: str) -> None:
    kind = getattr(torch, dtype)
    raw = [0.1, -2.5, 3.0, 1e-3, 65504.0, 0.0] if kind.is_floating_point else [0, 1, 7, -3, 1, 0]
    tensors = [torch.tensor(value).to(kind) for value in raw]
    with SQLLogger(config) as logger:
        logger.run()
        for tensor in tensors:
            logger.log_metric("x", tensor)
    expected = [float(tensor.to(torch.float64)) for tensor in tensors]
    assert _bits([value for _, value in _stored(config, "x")]) == _bits(expected)


def test_a_loss_that_requires_grad_logs_without_a_torch_warning_and_keeps_no_graph(config: ADict) -> None:
    weight = torch.ones(4, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with SQLLogger(config) as logger:
            logger.run()
            for step in range(50):
                loss = (weight * step).sum()
                logger.log_metric("loss", loss)
            kept = logger._core.points[-1][2].tensor
            assert not kept.requires_grad and kept.grad_fn is None
    assert [value for _, value in _stored(config, "loss")] == [4.0 * step for step in range(50)]


def test_an_in_place_change_after_logging_does_not_change_what_was_logged(config: ADict) -> None:
    with SQLLogger(config) as logger:
        logger.run()
        running = torch.tensor(1.0)
        for _ in range(3):
            logger.log_metric("acc", running)
            running.add_(1.0)  # the caller's tensor changes; the logged value must not
    assert [value for _, value in _stored(config, "acc")] == [1.0, 2.0, 3.0]


def test_order_and_steps_hold_when_floats_and_tensors_mix(config: ADict) -> None:
    expected = []
    with SQLLogger(config, max_buffer=64, batch_size=16) as logger:  # backpressure flushes too
        logger.run()
        for step in range(500):
            value = step / 7
            logger.log_metric("m", torch.tensor(value, dtype=torch.float64) if step % 3 else value)
            expected.append((step, value))
            if step % 97 == 0:
                logger.flush()
    assert _stored(config, "m") == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (torch.ones(3), r"expected a single number, got a tensor of shape \(3,\)"),
        (torch.tensor(1 + 2j), "expected a real number, got a torch.complex64 tensor"),
        (torch.empty((), device="meta"), "expected a real number"),
    ],
)
def test_a_tensor_that_is_not_one_real_number_is_refused_with_its_shape(config: ADict, value: object, message: str) -> None:
    with SQLLogger(config) as logger:
        logger.run()
        with pytest.raises(MetricValueError, match=message):
            logger.log_metric("bad", value, step=3)
        logger.log_metric("good", torch.ones(1, 1))  # one element, any shape
    assert _stored(config, "good") == [(0, 1.0)]
    with SQLFinder(config) as finder:
        assert list(finder.get_run(1).metric_summaries) == ["good"]  # nothing of "bad" was stored


def test_the_hot_path_reads_nothing_back_and_a_flush_reads_once_per_dtype(
    config: ADict, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[str] = []
    for name in ("item", "tolist", "__float__", "cpu", "numpy"):
        original = getattr(torch.Tensor, name)

        def counting(self: object, *args: object, _name: str = name, _original: object = original, **kwargs: object) -> object:
            reads.append(_name)
            return _original(self, *args, **kwargs)  # type: ignore[operator]

        monkeypatch.setattr(torch.Tensor, name, counting)
    with SQLLogger(config, batch_size=10**6, flush_interval=3600) as logger:
        logger.run()
        for step in range(1000):
            logger.log_metric("loss", torch.tensor(step, dtype=torch.float32))
            logger.log_metric("lr", torch.tensor(0.5, dtype=torch.float64))
        assert reads == []  # no device-to-host read per call
        logger.flush()
        assert sorted(reads) == ["cpu", "cpu", "tolist", "tolist"]  # one read per dtype for 2,000 points
    assert len(_stored(config, "loss")) == 1000


@given(st.lists(st.floats(width=32), min_size=1, max_size=40))
def test_float32_tensors_round_trip_bit_for_bit(tmp_path_factory: pytest.TempPathFactory, values: list[float]) -> None:
    folder = tmp_path_factory.mktemp("tensors")
    config = ADict(experiment=ADict(project_name="p", sql=ADict(db_path=f"sqlite:///{folder}/e.db")))
    with SQLLogger(config) as logger:
        logger.run()
        for value in values:
            logger.log_metric("v", torch.tensor(value, dtype=torch.float32))
    stored = [value for _, value in _stored(config, "v")]
    assert _bits(stored) == _bits(values) or all(
        (math.isnan(a) and math.isnan(b)) or a == b for a, b in zip(stored, values)
    )


def test_tensors_waiting_at_exit_are_read_back_and_written(tmp_path: Path) -> None:
    run_script(tmp_path, f"""
        import torch
        from ato.adict import ADict
        from ato.db_routers.sql.manager import SQLLogger
        from ato.tracking import tensors

        tensors.IMMEDIATE_DEVICES.clear()  # the GPU path, with CPU tensors
        logger = SQLLogger(ADict(experiment=ADict(project_name='p', sql=ADict(db_path={str(tmp_path / 'e.db')!r}))),
                           flush_interval=3600)
        logger.run()
        for step in range(5000):
            logger.log_metric('loss', torch.tensor(step / 3))
        # no finish(), no close(): exit must still read the tensors back and write them
    """)
    config = ADict(experiment=ADict(sql=ADict(db_path=str(tmp_path / "e.db"))))
    stored = _stored(config, "loss")
    assert [value for _, value in stored] == [float(torch.tensor(step / 3)) for step in range(5000)]


def test_ato_does_not_import_torch_for_numbers(tmp_path: Path) -> None:
    result = run_script(tmp_path, f"""
        import sys
        import numpy as np
        from ato.adict import ADict
        from ato.db_routers.sql.manager import SQLLogger

        with SQLLogger(ADict(experiment=ADict(project_name='p', sql=ADict(db_path={str(tmp_path / 'e.db')!r})))) as logger:
            logger.run()
            logger.log_metric('a', 1.5)
            logger.log_metric('b', np.float32(2.5))
            logger.log_metric('c', 3)
        print('torch' in sys.modules)
    """)
    assert result.stdout.strip() == "False"
    assert "torch" in sys.modules  # this test process has it; the script above did not load it


def test_a_tensor_that_cannot_be_read_back_is_reported_and_the_rest_is_written(config: ADict) -> None:
    from torch.func import vmap

    with SQLLogger(config, flush_interval=3600) as logger:
        logger.run()
        logger.log_metric("ok", 1.0)
        vmap(lambda x: logger.log_metric("inside_vmap", x.sum()) or x)(torch.ones(2, 1))  # escapes vmap
        logger.log_metric("ok", torch.tensor(2.0))
        with pytest.warns(RuntimeWarning, match="metric 'inside_vmap' at step 0: its tensor could not be read back"):
            logger.flush()
        logger.log_metric("ok", 3.0)
    with SQLFinder(config) as finder:
        assert finder.get_metrics(1, "ok") == [(0, 1.0), (1, 2.0), (2, 3.0)]
        assert finder.find_run(1).status == "completed"


def test_unusual_tensors_are_read_at_once_and_cpu_tensors_by_default(config: ADict, monkeypatch: pytest.MonkeyPatch) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torch deprecates quantized tensors
        quantized = torch.quantize_per_tensor(torch.tensor(1.0), 0.1, 0, torch.quint8)
    sparse = torch.tensor([2.0]).to_sparse()
    with SQLLogger(config) as logger:
        logger.run()
        logger.log_metric("q", quantized)
        logger.log_metric("s", sparse)
        assert [type(point[2]) for point in logger._core.points] == [float, float]
        monkeypatch.setattr(tensors, "IMMEDIATE_DEVICES", {"cpu"})
        logger.log_metric("cpu", torch.tensor(0.5, requires_grad=True) * 1)  # no autograd warning either
        assert type(logger._core.points[-1][2]) is float
    assert _stored(config, "q") == [(0, 1.0)] and _stored(config, "s") == [(0, 2.0)]


def test_a_bad_step_with_a_tensor_value_names_the_tensor_readably(config: ADict) -> None:
    with SQLLogger(config) as logger:
        logger.run()
        with pytest.raises(MetricValueError, match=r"step must be an integer, got str 'x' \(value <a torch.float32 tensor on cpu>\)"):
            logger.log_metric("loss", torch.tensor(1.0), step="x")

"""Metric values that are torch tensors: kept on their device, read back once per flush.

``float(loss)`` on a CUDA tensor makes the host wait for the GPU, every step. So ``log_metric``
keeps a one-element tensor on an accelerator as it is: detached (no autograd warning, no graph
kept alive), copied on its device (a later in-place change to the caller's tensor cannot alter
what was logged), with the CUDA stream it was made on. The writer reads a whole flush back at
once, off the caller's thread: per device and dtype, one ``stack`` and one non-blocking copy into
pinned host memory, after waiting for the streams the values were made on, then one wait on a
CUDA event. Values are exact: the tensor's own value widened to float64 on the host (bf16 and
half included).

A tensor on a device in :data:`IMMEDIATE_DEVICES` (the CPU: reading it costs no wait) is read at
once, and so is a tensor of an unusual kind (quantized, sparse, a tensor subclass) that a batched
read-back could not handle. If a flush cannot read a tensor back (a CUDA error, say), the other
points are still written and that point is reported in a ``RuntimeWarning``, never silently lost
with the rest.

Ato never imports torch: a value is a tensor only if the script imported torch and passed one.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from ato.errors import MetricValueError
from ato.tracking.validation import check_value

__all__ = ["IMMEDIATE_DEVICES", "Kept", "metric_value", "read_back"]

#: Devices whose tensors are read at once (tests empty it to send CPU tensors down the GPU path).
IMMEDIATE_DEVICES = {"cpu"}


class Kept:
    """One logged tensor value, waiting on its device for the next flush."""

    __slots__ = ("tensor", "stream")

    def __init__(self, tensor: Any, stream: Any) -> None:
        self.tensor = tensor
        self.stream = stream

    def __repr__(self) -> str:
        return f"<a {self.tensor.dtype} tensor on {self.tensor.device}>"


def metric_value(key: str, value: Any, step: Any) -> Any:
    """``value`` as a float, or a :class:`Kept` tensor to read back at the next flush."""
    cls = type(value)
    if cls is int or cls.__module__ == "numpy":  # the common numbers first: no torch check
        return check_value(key, value, step)
    torch = sys.modules.get("torch")
    if torch is None or not isinstance(value, torch.Tensor):
        return check_value(key, value, step)
    where = f" at step {step!r:.30}" if step is not None else ""
    if value.numel() != 1:
        raise MetricValueError(
            f"metric {key!r}{where}: expected a single number, got a tensor of shape {tuple(value.shape)}"
        )
    if value.is_complex() or value.device.type == "meta":
        raise MetricValueError(f"metric {key!r}{where}: expected a real number, got a {value.dtype} tensor on {value.device}")
    usual = cls in (torch.Tensor, torch.nn.Parameter) and value.layout == torch.strided and not value.is_quantized
    if not usual or value.device.type in IMMEDIATE_DEVICES:
        try:
            return float(value.detach())
        except Exception as exc:
            raise MetricValueError(f"metric {key!r}{where}: cannot read this {cls.__name__} as a number ({exc})") from None
    # clone() runs on the caller's current stream, after whatever computed the value.
    copy = value.detach().reshape(()).clone()
    stream = torch.cuda.current_stream(copy.device) if copy.is_cuda else None
    return Kept(copy, stream)


def read_back(values: Sequence[Any]) -> tuple[list[Any], dict[int, str]]:
    """``values`` with every :class:`Kept` tensor replaced by its float64 value, read in one
    batched device-to-host copy per device and dtype (call off the caller's thread); and, by
    index, the tensors that could not be read, with why (their values are None)."""
    import torch

    out = list(values)
    groups: dict[tuple[Any, Any], list[int]] = {}
    for index, value in enumerate(out):
        if type(value) is Kept:
            groups.setdefault((value.tensor.device, value.tensor.dtype), []).append(index)
    failed: dict[int, str] = {}
    for (device, _), indices in groups.items():
        kept = [out[i] for i in indices]
        try:
            host = _from_cuda(torch, device, kept) if device.type == "cuda" else torch.stack([k.tensor for k in kept]).cpu()
            numbers = host.to(torch.float64).tolist()
        except Exception:
            numbers = [_one(torch, k, failed, i) for k, i in zip(kept, indices)]  # find the bad ones
        for index, number in zip(indices, numbers):
            out[index] = number
    return out, failed


def _one(torch: Any, kept: Kept, failed: dict[int, str], index: int) -> float | None:
    try:
        return float(kept.tensor.to("cpu", torch.float64))
    except Exception as exc:
        failed[index] = f"{type(exc).__name__}: {exc}"
        return None


def _from_cuda(torch: Any, device: Any, kept: list[Kept]) -> Any:
    with torch.cuda.device(device):
        stream = torch.cuda.current_stream(device)
        # Streams compare by what they are (each current_stream() call makes a new object).
        for made_on in {k.stream for k in kept if k.stream is not None and k.stream != stream}:
            stream.wait_stream(made_on)  # the values were made on the caller's streams
        stacked = torch.stack([k.tensor for k in kept])
        host = torch.empty(stacked.shape, dtype=stacked.dtype, pin_memory=True)
        host.copy_(stacked, non_blocking=True)
        done = torch.cuda.Event(blocking=True)  # wait asleep, not spinning a core
        done.record(stream)
        done.synchronize()
    return host

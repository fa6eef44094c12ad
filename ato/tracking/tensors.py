"""Metric values that are torch tensors: kept on their device, read back once per flush.

``float(loss)`` on a CUDA tensor makes the host wait for the GPU, every step. So ``log_metric``
keeps a one-element tensor as it is: detached (no autograd warning, no graph kept alive), copied
on its device (a later in-place change to the caller's tensor cannot alter what was logged), with
the CUDA stream it was made on. The writer reads a whole flush back at once, off the caller's
thread: per device and dtype, one ``stack`` and one non-blocking copy into pinned host memory,
after waiting for the streams the values were made on, then one wait on a CUDA event. Values are
exact: the tensor's own value widened to float64 on the host (bf16 and half included).

Ato never imports torch: a value is a tensor only if the script imported torch and passed one.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from ato.errors import MetricValueError

__all__ = ["Kept", "is_tensor", "keep", "read_back"]


class Kept:
    """One logged tensor value, waiting on its device for the next flush."""

    __slots__ = ("tensor", "stream")

    def __init__(self, tensor: Any, stream: Any) -> None:
        self.tensor = tensor
        self.stream = stream


def is_tensor(value: Any) -> bool:
    """Whether ``value`` is a torch tensor (False, at no cost, where torch was never imported)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(value, torch.Tensor)


def keep(key: str, value: Any, step: Any) -> Kept:
    """Check a tensor metric value and keep a private copy of it on its device (no host sync)."""
    import torch

    where = f" at step {step!r:.30}" if step is not None else ""
    if value.numel() != 1:
        raise MetricValueError(
            f"metric {key!r}{where}: expected a single number, got a tensor of shape {tuple(value.shape)}"
        )
    if value.is_complex() or value.device.type == "meta":
        raise MetricValueError(f"metric {key!r}{where}: expected a real number, got a {value.dtype} tensor on {value.device}")
    # clone() runs on the caller's current stream, after whatever computed the value.
    copy = value.detach().reshape(()).clone()
    stream = torch.cuda.current_stream(copy.device) if copy.is_cuda else None
    return Kept(copy, stream)


def read_back(values: Sequence[Any]) -> list[float]:
    """``values`` with every :class:`Kept` tensor replaced by its float64 value, read in one
    batched device-to-host copy per device and dtype (call off the caller's thread)."""
    import torch

    out = list(values)
    groups: dict[tuple[Any, Any], list[int]] = {}
    for index, value in enumerate(out):
        if type(value) is Kept:
            groups.setdefault((value.tensor.device, value.tensor.dtype), []).append(index)
    for (device, _), indices in groups.items():
        kept = [out[i] for i in indices]
        if device.type == "cuda":
            host = _from_cuda(torch, device, kept)
        else:
            host = torch.stack([k.tensor for k in kept]).cpu()
        for index, number in zip(indices, host.to(torch.float64).tolist()):
            out[index] = number
    return out


def _from_cuda(torch: Any, device: Any, kept: list[Kept]) -> Any:
    with torch.cuda.device(device):
        stream = torch.cuda.current_stream(device)
        for made_on in {id(k.stream): k.stream for k in kept}.values():
            if made_on is not None and made_on != stream:
                stream.wait_stream(made_on)  # the values were made on the caller's streams
        stacked = torch.stack([k.tensor for k in kept])
        host = torch.empty(stacked.shape, dtype=stacked.dtype, pin_memory=True)
        host.copy_(stacked, non_blocking=True)
        done = torch.cuda.Event()
        done.record(stream)
        done.synchronize()
    return host

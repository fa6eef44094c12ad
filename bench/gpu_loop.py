"""GPU training loop: what logging a CUDA loss and fingerprinting CUDA outputs cost, beside TensorBoard.

Three figures, each with its competitor in the same process (DESIGN.md "Numbers", GPU loops):

1. Step time of a small MLP (4 layers of 1024, batch 256, Adam), median of ``--repeats`` runs of
   ``--steps`` steps, the variants interleaved: no logging; Ato ``log_metric('loss', loss)`` with
   the CUDA tensor; Ato with ``loss.item()``; TensorBoard ``add_scalar('loss', loss, step)``; and
   two references, ``loss.item()`` alone (the host sync) and keeping the tensors in a list. Each
   timing ends with the GPU synchronized and the logger flushed (Ato ``flush()``, TensorBoard
   ``flush()``), so deferred work is paid inside it. Target: Ato with a tensor at most +2%.
2. Runtime fingerprint of a 1 GiB CUDA tensor (``ato.fingerprints.runtime.runtime_digest``)
   beside ``pickle.dumps(t.cpu())`` + sha256. Target: at least 8 GB/s.
3. ``@scope.runtime_trace`` on a function returning a 1 MB CUDA tensor, per call, against the
   same function untraced, while a run is in progress. Two columns: the caller-side cost (the
   calls, then a GPU synchronize) and the cost with ``logger.finish()`` included (every digest
   recorded). Target: at most 50 us per call added to the caller.

It times; it does not check values: tests/tracking/test_cuda.py does (CUDA values logged and
fingerprinted equal the host's), and bench/gpu_device_check.sh runs both on the GPU machine.

Without a CUDA device it says so and exits 0 (``make bench`` runs it everywhere). ``--device cpu``
runs the same code on the CPU, to check the script; its numbers say nothing about a GPU.

    python bench/gpu_loop.py                           # on a CUDA machine
    python bench/gpu_loop.py --device cpu --steps 200  # check the script on a CPU
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import pickle
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _timing import median_seconds


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", help="cuda (default) or cpu, to check the script")
    parser.add_argument("--steps", type=int, default=3000, help="training steps per timing (3000)")
    parser.add_argument("--width", type=int, default=None,
                        help="the MLP's width (1024 on cuda; 128 on cpu, where 1024 takes 0.2 s a step)")
    parser.add_argument("--repeats", type=int, default=3, help="timings per variant; the median is shown (3)")
    parser.add_argument("--fingerprint-mib", type=int, default=None,
                        help="size of the fingerprinted tensor (1024 on cuda, 64 on cpu)")
    parser.add_argument("--trace-calls", type=int, default=2000, help="calls per runtime_trace timing (2000)")
    return parser.parse_args(argv)



class Loop:
    """The model, its optimizer and a fixed batch on the device; ``step()`` returns the loss tensor."""

    def __init__(self, torch: Any, device: str, width: int) -> None:
        self.torch = torch
        layers: list[Any] = []
        for _ in range(4):
            layers += [torch.nn.Linear(width, width), torch.nn.ReLU()]
        self.model = torch.nn.Sequential(*layers[:-1]).to(device)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=1e-4)
        generator = torch.Generator().manual_seed(0)
        self.x = torch.randn(256, width, generator=generator).to(device)
        self.y = torch.randn(256, width, generator=generator).to(device)
        self.device = device

    def step(self) -> Any:
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.torch.nn.functional.mse_loss(self.model(self.x), self.y)
        loss.backward()
        self.optimizer.step()
        return loss

    def synchronize(self) -> None:
        if self.device.startswith("cuda"):
            self.torch.cuda.synchronize()


def step_variants(loop: Loop, logger: Any, folder: Path, stack: contextlib.ExitStack) -> tuple[dict[str, Callable[[int], None]], list[str]]:
    """Each variant runs ``steps`` steps and leaves everything it logged flushed."""

    def none(steps: int) -> None:
        for _ in range(steps):
            loop.step()
        loop.synchronize()

    def ato_tensor(steps: int) -> None:
        log = logger.log_metric
        for step in range(steps):
            log("loss", loop.step(), step)
        loop.synchronize()
        logger.flush()

    def ato_item(steps: int) -> None:
        log = logger.log_metric
        for step in range(steps):
            log("loss", loop.step().item(), step)
        loop.synchronize()
        logger.flush()

    def item_alone(steps: int) -> None:
        for _ in range(steps):
            loop.step().item()
        loop.synchronize()

    def keep(steps: int) -> None:
        kept = [loop.step() for _ in range(steps)]
        loop.synchronize()
        del kept

    variants: dict[str, Callable[[int], None]] = {
        "no logging": none,
        ATO_TENSOR: ato_tensor,
        "ato log_metric('loss', loss.item())": ato_item,
    }
    notes = []
    try:
        from torch.utils.tensorboard import SummaryWriter
    except Exception as exc:  # tensorboard not installed
        notes.append(f"TensorBoard add_scalar: not run ({type(exc).__name__}: {exc}; pip install tensorboard)")
    else:
        writer = SummaryWriter(log_dir=str(folder / "tb"))
        stack.callback(writer.close)

        def tensorboard(steps: int) -> None:
            add = writer.add_scalar
            for step in range(steps):
                add("loss", loop.step(), step)
            loop.synchronize()
            writer.flush()

        variants["TensorBoard add_scalar('loss', loss, step)"] = tensorboard
    variants["reference: loss.item() alone, no logger"] = item_alone
    variants["reference: keep the loss tensors in a list"] = keep
    return variants, notes


ATO_TENSOR = "ato log_metric('loss', loss)  [the tensor]"


def bench_steps(torch: Any, device: str, width: int, steps: int, repeats: int, folder: Path) -> None:
    from ato import SQLFinder, SQLLogger

    loop = Loop(torch, device, width)
    config = {"experiment": {"project_name": "gpu-loop", "sql": {"db_path": f"sqlite:///{folder}/gpu.db"}}}
    samples: dict[str, list[float]] = {}
    runs: list[int] = []
    with SQLLogger(config) as logger, contextlib.ExitStack() as stack:
        variants, notes = step_variants(loop, logger, folder, stack)
        for _ in range(50):  # warm up: kernels, allocator, Adam's state
            loop.step()
        loop.synchronize()
        for _ in range(repeats):
            for name, variant in variants.items():  # interleaved: drift hits every variant alike
                in_run = name.startswith("ato")
                if in_run:  # Ato logs within a run: started and finished outside the timing
                    runs.append(logger.run())
                start = time.perf_counter()
                variant(steps)
                samples.setdefault(name, []).append(time.perf_counter() - start)
                if in_run:
                    logger.finish()
    with SQLFinder(folder / "gpu.db") as finder:
        stored = {len(finder.get_metrics(run, "loss")) for run in runs}
    assert stored == {steps}, f"Ato stored {stored} points per run, expected {steps}"

    medians = {name: statistics.median(values) / steps * 1e6 for name, values in samples.items()}
    base = medians["no logging"]
    print(f"\nstep time, 4x{width} MLP, batch 256, Adam, {steps:,} steps, median of {repeats} "
          f"(timed until the device is synchronized and the logger flushed)\n")
    print(f"{'variant':46} {'us/step':>9} {'vs none':>9}")
    for name, us in medians.items():
        print(f"{name:46} {us:9.1f} {(us / base - 1) * 100:+8.1f}%")
    for note in notes:
        print(note)
    print(f"\nato log_metric(tensor) adds {(medians[ATO_TENSOR] / base - 1) * 100:+.1f}% to the step (target <= +2%)")


def bench_fingerprint(torch: Any, device: str, mib: int, repeats: int) -> None:
    from ato.fingerprints.runtime import runtime_digest

    tensor = torch.randn(mib * 2**20 // 4, device=device)  # float32
    size = tensor.numel() * 4
    if device.startswith("cuda"):
        torch.cuda.synchronize()

    def reference() -> str:
        return hashlib.sha256(pickle.dumps(tensor.cpu())).hexdigest()

    runtime_digest(tensor)  # warm up (imports, pinned buffers where used)
    rows = [
        ("ato runtime_digest(t)", median_seconds(lambda: runtime_digest(tensor), repeats)),
        ("pickle.dumps(t.cpu()) + sha256", median_seconds(reference, repeats)),
    ]
    reference_seconds = rows[1][1]
    print(f"\nruntime fingerprint of a {mib:,} MiB float32 tensor on {device} (median of {repeats})\n")
    print(f"{'method':46} {'GB/s':>9} {'seconds':>9} {'vs pickle':>10}")
    for name, seconds in rows:
        print(f"{name:46} {size / seconds / 1e9:9.2f} {seconds:9.3f} {reference_seconds / seconds:9.1f}x")
    print(f"\nato fingerprint throughput: {size / rows[0][1] / 1e9:.2f} GB/s (target >= 8 GB/s)")


def bench_trace(torch: Any, device: str, calls: int, repeats: int, folder: Path) -> None:
    from ato import Scope, SQLLogger

    scope = Scope()
    source = torch.randn(2**20 // 4, device=device)  # 1 MB of float32

    def produce() -> Any:
        return source * 2.0

    traced = scope.runtime_trace(trace_id="gpu_output")(produce)
    config = {"experiment": {"project_name": "gpu-trace", "sql": {"db_path": f"sqlite:///{folder}/trace.db"}}}
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    samples: dict[str, list[float]] = {"untraced": [], "traced, caller side": [], "traced, finish() included": []}
    with SQLLogger(config) as logger:
        for _ in range(repeats + 1):  # the first round warms up and is dropped
            logger.run()
            start = time.perf_counter()
            for _ in range(calls):
                produce()
            sync()
            untraced = time.perf_counter() - start
            start = time.perf_counter()
            for _ in range(calls):
                traced()
            sync()
            caller = time.perf_counter() - start
            logger.finish()
            total = time.perf_counter() - start
            samples["untraced"].append(untraced)
            samples["traced, caller side"].append(caller)
            samples["traced, finish() included"].append(total)
    medians = {name: statistics.median(values[1:]) / calls * 1e6 for name, values in samples.items()}
    print(f"\n@scope.runtime_trace on a function returning a 1 MB {device} tensor, {calls:,} calls in a run, "
          f"median of {repeats}\n")
    print(f"{'variant':46} {'us/call':>9} {'added':>9}")
    for name, us in medians.items():
        print(f"{name:46} {us:9.1f} {us - medians['untraced']:+9.1f}")
    added = medians["traced, caller side"] - medians["untraced"]
    print(f"\nruntime_trace adds {added:.1f} us per call to the caller (target <= 50 us)")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        import torch
    except ImportError:
        print("gpu_loop: skipped: torch is not installed (pip install torch; a CUDA device is needed for the figures)")
        return 0
    device = args.device
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            print("gpu_loop: skipped: no CUDA device (torch.cuda.is_available() is False); "
                  "run it on a GPU machine, or with --device cpu --steps 200 to check the script")
            return 0
        index = torch.device(device).index or 0
        name = torch.cuda.get_device_name(index)
        print(f"device: {name} (torch {torch.__version__}, CUDA {torch.version.cuda}, "
              f"cuDNN {torch.backends.cudnn.version()})")
    else:
        print(f"device: {device} (torch {torch.__version__}; a script check, not GPU figures)")
    cuda = device.startswith("cuda")
    mib = args.fingerprint_mib or (1024 if cuda else 64)
    width = args.width or (1024 if cuda else 128)
    folder = Path(tempfile.mkdtemp(prefix="ato-gpu-bench-"))
    try:
        bench_steps(torch, device, width, args.steps, args.repeats, folder)
        bench_fingerprint(torch, device, mib, args.repeats)
        bench_trace(torch, device, args.trace_calls, args.repeats, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

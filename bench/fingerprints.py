"""Fingerprint speed: runtime digests of a 256 MB array and tensor beside pickle + sha256 (the
reference's method) and the raw-buffer hashes; a code fingerprint; the environment fingerprint.

DESIGN.md asks for runtime fingerprints at least 10x faster than pickle + sha256.
"""

from __future__ import annotations

import hashlib
import pickle
import sys

import numpy as np
import xxhash
from _timing import median_seconds

from ato.fingerprints.code import code_fingerprint
from ato.fingerprints.environment import environment, environment_fingerprint
from ato.fingerprints.runtime import runtime_digest

SIZE = 256 * 1024 * 1024



def fifty_line_function(config, data):  # a realistic 50-line training step, never called
    total = 0.0
    for epoch in range(config.epochs):
        for batch in data:
            x, y = batch
            logits = config.model(x)
            loss = ((logits - y) ** 2).mean()
            if loss > config.clip:
                loss = config.clip
            total += loss
            grads = [p * 0.1 for p in config.params]
            for p, g in zip(config.params, grads):
                p -= config.lr * g
            if config.verbose:
                print(epoch, loss)
        if epoch % 10 == 0:
            config.lr *= 0.5
        elif epoch % 7 == 0:
            config.lr *= 1.1
        else:
            pass
        stats = {"epoch": epoch, "loss": total}
        history = config.history
        history.append(stats)
        if len(history) > 100:
            history.pop(0)
        best = min(h["loss"] for h in history)
        if best < config.target:
            break
        try:
            config.checkpoint(epoch)
        except OSError as exc:
            print("checkpoint failed", exc)
        finally:
            total = 0.0
    with open(config.log, "a") as handle:
        handle.write(str(total))
    result = {
        "best": best,
        "epochs": epoch,
        "lr": config.lr,
    }
    assert result["best"] >= 0
    import math
    from os import path, sep
    result["log"] = path.join(sep, "tmp")
    result["sqrt"] = math.sqrt(best)
    return result


def main() -> None:
    array = np.random.default_rng(0).random(SIZE // 4, dtype=np.float32)
    rows: list[tuple[str, float]] = [
        ("ato runtime_digest(ndarray)", median_seconds(lambda: runtime_digest(array))),
        ("pickle.dumps + sha256 (reference)", median_seconds(lambda: hashlib.sha256(pickle.dumps(array)).hexdigest(), 3)),
        ("sha256 of the raw buffer", median_seconds(lambda: hashlib.sha256(memoryview(array).cast("B")).hexdigest(), 3)),
        ("xxh3-128 of the raw buffer", median_seconds(lambda: xxhash.xxh3_128(memoryview(array).cast("B")).hexdigest())),
    ]
    try:
        import torch

        tensor = torch.from_numpy(array)
        rows.insert(1, ("ato runtime_digest(torch.Tensor, CPU)", median_seconds(lambda: runtime_digest(tensor))))
    except ImportError:
        print("(torch not installed: tensor row skipped)")
    reference = next(seconds for name, seconds in rows if name.startswith("pickle"))
    print(f"runtime fingerprint of a {SIZE // 2**20} MB float32 array (median)\n")
    print(f"{'method':40} {'GB/s':>8} {'vs pickle+sha256':>17}")
    for name, seconds in rows:
        print(f"{name:40} {SIZE / seconds / 1e9:8.2f} {reference / seconds:16.1f}x")

    from ato.fingerprints import code as code_module

    def fresh_code_fingerprint() -> object:
        code_module._cache.clear()
        return code_fingerprint(fifty_line_function)

    code_us = median_seconds(fresh_code_fingerprint, 50) * 1e6
    cached_us = median_seconds(lambda: code_fingerprint(fifty_line_function), 50) * 1e6

    def fresh_environment() -> object:
        environment.cache_clear()
        return environment_fingerprint()

    env_ms = median_seconds(fresh_environment, 5) * 1e3
    print(f"\ncode fingerprint of a 50-line function: {code_us:.0f} us (cached after the first: {cached_us:.1f} us)")
    print(f"environment fingerprint (packages, git, frameworks): {env_ms:.1f} ms, once per process")


if __name__ == "__main__":
    sys.exit(main())

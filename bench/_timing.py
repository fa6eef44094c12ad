"""What the benchmark scripts share: the median wall time of repeated runs (these machines are
shared and noisy, so every figure is a median). Not a benchmark itself: `make bench` skips it."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def median_seconds(fn: Callable[[], object], repeats: int = 5) -> float:
    """The median of ``repeats`` timings of ``fn()``, in seconds."""
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)

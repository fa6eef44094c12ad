"""Metric logging throughput: Ato beside raw sqlite3, TensorBoard and MLflow, in one run.

Same workload for everyone: 3 keys, ``POINTS`` points, durable at the end (for Ato: in the log
*and* visible in the projections). MLflow gets ``MLFLOW_POINTS`` (it is slow). Prints points/s,
the median hot-path microseconds per call (median of 100-call chunks), and each ratio to Ato.
Then ``find_best_run`` over 1,000,000 points and the projection rebuild speed.

    python bench/metric_logging.py            # competitors that are installed (make bench installs all)
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import anyio

POINTS = int(os.environ.get("BENCH_POINTS", "300000"))
MLFLOW_POINTS = int(os.environ.get("BENCH_MLFLOW_POINTS", "1500"))
KEYS = ("loss", "accuracy", "lr")


class Result:
    def __init__(self, name: str, points: int, seconds: float, hot_us: float | None) -> None:
        self.name, self.points, self.seconds, self.hot_us = name, points, seconds, hot_us

    @property
    def rate(self) -> float:
        return self.points / self.seconds


def _hot_median(log: Callable[[str, float, int], None], calls: int) -> float:
    """Median microseconds per call over chunks of 100 calls."""
    samples = []
    step = 0
    for _ in range(calls // 100):
        start = time.perf_counter()
        for _ in range(100):
            log("loss", 0.5, step)
            step += 1
        samples.append((time.perf_counter() - start) / 100)
    return statistics.median(samples) * 1e6


def bench_ato_sync(folder: Path) -> Result:
    from ato import SQLLogger

    config = {"experiment": {"project_name": "bench", "sql": {"db_path": f"sqlite:///{folder}/sync.db"}}}
    with SQLLogger(config) as logger:
        logger.run()
        hot = _hot_median(logger.log_metric, 20000)
        logger.flush()
        log = logger.log_metric
        start = time.perf_counter()
        for step in range(POINTS // 3):
            log("loss", 0.5, step)
            log("accuracy", 0.9, step)
            log("lr", 0.001, step)
        logger.finish()
        seconds = time.perf_counter() - start
    return Result("ato SQLLogger.log_metric", POINTS, seconds, hot)


def bench_ato_async(folder: Path) -> Result:
    from ato import AsyncSQLLogger

    config = {"experiment": {"project_name": "bench", "sql": {"db_path": f"sqlite:///{folder}/async.db"}}}

    async def main() -> Result:
        async with AsyncSQLLogger(config) as logger:
            await logger.run()
            samples = []
            for chunk in range(200):
                start = time.perf_counter()
                for i in range(100):
                    await logger.log_metric("loss", 0.5, chunk * 100 + i)
                samples.append((time.perf_counter() - start) / 100)
            await logger.flush()
            log = logger.log_metric
            start = time.perf_counter()
            for step in range(POINTS // 3):
                await log("loss", 0.5, step)
                await log("accuracy", 0.9, step)
                await log("lr", 0.001, step)
            await logger.finish()
            seconds = time.perf_counter() - start
        return Result("ato AsyncSQLLogger.log_metric", POINTS, seconds, statistics.median(samples) * 1e6)

    return anyio.run(main)


def bench_raw_sqlite(folder: Path) -> Result:
    connection = sqlite3.connect(folder / "raw.db")
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.execute("CREATE TABLE metrics (run_id INTEGER, key TEXT, step INTEGER, value REAL, time REAL)")
    start = time.perf_counter()
    now = time.time()
    rows = [(1, key, step, 0.5, now) for step in range(POINTS // 3) for key in KEYS]
    with connection:
        connection.executemany("INSERT INTO metrics VALUES (?, ?, ?, ?, ?)", rows)
    seconds = time.perf_counter() - start
    connection.close()
    return Result("raw sqlite3 executemany, one transaction", POINTS, seconds, None)


def bench_tensorboard(folder: Path) -> Result | str:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except Exception as exc:  # torch or tensorboard missing
        return f"TensorBoard SummaryWriter: not run ({type(exc).__name__}: pip install torch tensorboard)"
    writer = SummaryWriter(log_dir=str(folder / "tb"))
    hot = _hot_median(lambda k, v, s: writer.add_scalar(k, v, s), 5000)
    writer.flush()
    add = writer.add_scalar
    start = time.perf_counter()
    for step in range(POINTS // 3):
        add("loss", 0.5, step)
        add("accuracy", 0.9, step)
        add("lr", 0.001, step)
    writer.close()
    return Result("TensorBoard SummaryWriter.add_scalar", POINTS, time.perf_counter() - start, hot)


def bench_mlflow(folder: Path) -> Result | str:
    try:
        return _bench_mlflow(folder)
    except Exception as exc:  # not installed, or installed without its SQL store
        return f"MLflow log_metric: not run ({type(exc).__name__}: {exc}; pip install mlflow)"


def _bench_mlflow(folder: Path) -> Result:
    import logging

    import mlflow

    logging.getLogger("mlflow").setLevel(logging.ERROR)
    logging.getLogger("alembic").setLevel(logging.ERROR)
    mlflow.set_tracking_uri(f"sqlite:///{folder}/mlflow.db")
    with mlflow.start_run():
        hot = _hot_median(lambda k, v, s: mlflow.log_metric(k, v, step=s), 300)
        start = time.perf_counter()
        for step in range(MLFLOW_POINTS // 3):
            mlflow.log_metric("loss", 0.5, step=step)
            mlflow.log_metric("accuracy", 0.9, step=step)
            mlflow.log_metric("lr", 0.001, step=step)
        seconds = time.perf_counter() - start
    return Result("MLflow log_metric (sqlite backend)", MLFLOW_POINTS, seconds, hot)


def bench_queries(folder: Path) -> tuple[float, float, int]:
    """find_best_run over 1,000,000 points in 100 runs, and a full projection rebuild."""
    from ato import SQLFinder, SQLLogger
    from ato.projections.maintenance import open_store

    url = f"sqlite:///{folder}/queries.db"
    for run in range(100):
        with SQLLogger({"experiment": {"project_name": "q", "sql": {"db_path": url}}, "seed": run}) as logger:
            logger.run()
            for step in range(10_000):
                logger.log_metric("val_accuracy", (run * 7919 + step) % 1000 / 1000, step)
    with SQLFinder(url) as finder:
        finder.find_best_run("q", "val_accuracy")  # open and warm
        samples = []
        for _ in range(20):
            start = time.perf_counter()
            finder.find_best_run("q", "val_accuracy")
            samples.append(time.perf_counter() - start)

    async def rebuild() -> tuple[float, int]:
        store = await open_store(folder / "queries.db")
        try:
            start = time.perf_counter()
            events = await store.rebuild()
            return time.perf_counter() - start, events
        finally:
            await store.close()

    seconds, events = anyio.run(rebuild)
    return statistics.median(samples) * 1e3, 1_000_000 / seconds, events


def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="ato-bench-"))
    try:
        results = [
            bench_ato_sync(folder),
            bench_ato_async(folder),
            bench_raw_sqlite(folder),
            bench_tensorboard(folder),
            bench_mlflow(folder),
        ]
        ato = results[0]
        assert isinstance(ato, Result)
        print(f"metric logging, {POINTS:,} points over 3 keys (MLflow: {MLFLOW_POINTS:,}), durable at the end\n")
        print(f"{'logger':44} {'points/s':>12} {'hot path':>10} {'ato sync is':>13}")
        for result in results:
            if isinstance(result, str):
                print(result)
                continue
            hot = f"{result.hot_us:7.2f}us" if result.hot_us is not None else "        -"
            ratio = ato.rate / result.rate
            print(f"{result.name:44} {result.rate:12,.0f} {hot:>10} {ratio:11.2f}x")
        raw = next(r for r in results if isinstance(r, Result) and r.name.startswith("raw"))
        print(f"\nsustained ato / raw executemany: {ato.rate / raw.rate:.2f} (target >= 0.5)")
        print(f"hot path median: sync {results[0].hot_us:.2f}us, async {results[1].hot_us:.2f}us (target <= 1.5us)")  # type: ignore[union-attr]
        best_ms, rebuild_rate, events = bench_queries(folder)
        print(f"find_best_run over 1,000,000 points: {best_ms:.2f} ms median (target < 50 ms)")
        print(f"projection rebuild: {rebuild_rate:,.0f} points/s ({events} events; target >= 500,000)")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

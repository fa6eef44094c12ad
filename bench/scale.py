"""Metrics at scale (issue 14): logging ``--points`` points, what they cost on disk and in memory,
reading them back, and maintenance speed, each beside its target from DESIGN.md "Numbers".

1. Logging: ``--points`` points (default 100,000,000) over ``--runs`` runs and 4 keys with
   realistic curves (noisy decaying loss, rising accuracy, warmup + cosine lr, noisy grad norm;
   consecutive steps), one ``SQLLogger``: points/s, and the resident memory (VmRSS) of this
   process sampled as it logs (a table at 10%, 50% and 100% of the points).
2. Disk: bytes per point, the database file with its WAL and shared-memory files, and where
   they go (SQLite's dbstat, per table and index).
3. ``verify``, ``rebuild`` and ``merge`` (``ato.projections.maintenance``) of that database:
   points per second (one timing each: at full scale each takes minutes).
4. ``SQLFinder.get_metrics`` of one 1,000,000-point series (numpy arrays) beside a plain
   ``SELECT step, value`` of the same points from a raw SQLite table built in the same run
   (medians, ratio).
5. ``find_best_run`` and ``ato runs`` over 10,000 small runs (their events appended in batches;
   what ``SQLLogger.run()``/``finish()`` costs per run is printed beside it).

    python bench/scale.py --points 2000000     # a few minutes on 2 cores
    python bench/scale.py                      # 100M points: about 2 GB of disk, some 10 minutes here
    BENCH_SCALE_POINTS=2000000 make bench      # `make bench` runs it with no options

Medians where a figure is repeated; ratios against the raw SQLite competitor of the same run.
Never asserted in the unit tests.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import math
import os
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import numpy as np
from _timing import median_seconds

KEYS = ("loss", "accuracy", "lr", "grad_norm")
CHUNK_STEPS = 8192  # steps of curve generated at a time (memory stays flat)
MIB = 1024 * 1024

# Targets (issue 14, DESIGN.md "Numbers").
TARGET_BYTES_PER_POINT = 10.0
TARGET_READ_RATIO = 20.0
TARGET_MAINTENANCE_RATE = 2_000_000
FLAT_SLACK_BYTES = 32 * MIB  # the median RSS may rise this much (or 15%) from 10-50% to 50-100% and count as flat
CONCLUSIVE_POINTS = 10_000_000  # below this, a rise may be the warm-up of buffers


def log(message: str) -> None:
    print(f"  .. {message}", flush=True)


def url_of(path: Path) -> str:
    return f"sqlite:///{path}"


def rss_bytes() -> int:
    """This process's resident set size (VmRSS), from /proc; psutil where /proc has none."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        import psutil  # type: ignore[import-not-found]
    except ImportError:
        return 0
    return int(psutil.Process().memory_info().rss)


def files_size(path: Path) -> int:
    """The database with its WAL and shared-memory files."""
    return sum(p.stat().st_size for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists())



def verdict(met: bool) -> str:
    return "met" if met else "NOT MET"


# -- curves ---------------------------------------------------------------------------------------
def curves(run: int, steps: int) -> Iterator[tuple[range, list[float], list[float], list[float], list[float]]]:
    """A run's four curves, CHUNK_STEPS consecutive steps at a time."""
    rng = np.random.default_rng(1000 + run)
    decay = steps / (3.0 + run)  # each run learns at its own pace
    start_loss, floor = 2.5 + 0.1 * run, 0.05 + 0.02 * run
    peak_lr, warmup = 1e-3 * (1 + run % 3), max(1, steps // 50)
    for first in range(0, steps, CHUNK_STEPS):
        s = np.arange(first, min(first + CHUNK_STEPS, steps), dtype=np.float64)
        clean = floor + (start_loss - floor) * np.exp(-s / decay)
        loss = clean * (1.0 + 0.05 * rng.standard_normal(s.size))
        accuracy = np.clip(1.0 - clean / start_loss * 0.9 + 0.01 * rng.standard_normal(s.size), 0.0, 1.0)
        progress = np.clip((s - warmup) / max(1, steps - warmup), 0.0, 1.0)
        lr = np.where(s < warmup, peak_lr * (s + 1) / warmup, 0.5 * peak_lr * (1.0 + np.cos(np.pi * progress)))
        grad_norm = np.abs(clean * 4.0 * np.exp(0.3 * rng.standard_normal(s.size)))
        yield range(first, first + s.size), loss.tolist(), accuracy.tolist(), lr.tolist(), grad_norm.tolist()


# -- 1. logging -----------------------------------------------------------------------------------
class Logged:
    def __init__(self) -> None:
        self.points = 0
        self.seconds = 0.0
        self.generating = 0.0
        self.rss_start = 0
        self.rss_after = 0
        self.samples: list[tuple[int, float, int]] = []  # (points, seconds, rss)
        self.marks: dict[int, tuple[int, float, int]] = {}  # percent -> sample

    @property
    def rate(self) -> float:
        return self.points / max(self.seconds - self.generating, 1e-9)


def bench_logging(path: Path, total: int, runs: int) -> Logged:
    from ato import SQLLogger

    steps = max(1, total // (runs * len(KEYS)))
    planned = steps * runs * len(KEYS)
    result = Logged()
    config = {"experiment": {"project_name": "scale", "sql": {"db_path": url_of(path)}}, "model": {"width": 512}}
    marks = [10, 20, 30, 40, 50, 60, 70, 80, 90, 100]
    with SQLLogger(config) as logger:
        log_metric = logger.log_metric
        result.rss_start = rss_bytes()
        start = time.perf_counter()
        done = 0
        for run in range(runs):
            logger.run(tags=(f"seed{run}",))
            generation = time.perf_counter()
            for steps_range, loss, accuracy, lr, grad_norm in curves(run, steps):
                result.generating += time.perf_counter() - generation
                for step, a, b, c, d in zip(steps_range, loss, accuracy, lr, grad_norm):
                    log_metric("loss", a, step)
                    log_metric("accuracy", b, step)
                    log_metric("lr", c, step)
                    log_metric("grad_norm", d, step)
                done += len(steps_range) * len(KEYS)
                now = time.perf_counter() - start
                sample = (done, now, rss_bytes())
                result.samples.append(sample)
                while marks and done * 100 >= marks[0] * planned and marks[0] < 100:
                    result.marks[marks.pop(0)] = sample
                    rate = done / max(now - result.generating, 1e-9)
                    log(f"logged {done:,} of {planned:,} points ({done * 100 // planned}%): {rate:,.0f} points/s, RSS {sample[2] / MIB:.0f} MiB")
                generation = time.perf_counter()
            logger.finish()  # durable in the log and visible in the projections
        result.seconds = time.perf_counter() - start
        result.points = done
        result.marks[100] = (done, result.seconds, rss_bytes())
        log(f"logged {done:,} points in {result.seconds:.1f} s (after the last finish()), RSS {result.marks[100][2] / MIB:.0f} MiB")
    result.rss_after = rss_bytes()
    return result


# -- 2. disk --------------------------------------------------------------------------------------
def table_bytes(path: Path) -> list[tuple[str, int]]:
    """Bytes per table or index (SQLite's dbstat), largest first; empty where dbstat is missing."""
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = connection.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC").fetchall()
    except sqlite3.Error:
        rows = []
    finally:
        connection.close()
    return [(str(name), int(size)) for name, size in rows]


# -- 3. maintenance -------------------------------------------------------------------------------
def bench_maintenance(path: Path, folder: Path, points: int) -> dict[str, tuple[float, str]]:
    from ato.projections.maintenance import (
        merge_databases,
        rebuild_database,
        verify_database,
    )

    out: dict[str, tuple[float, str]] = {}
    log("verify ...")
    start = time.perf_counter()
    report = verify_database(path)
    seconds = time.perf_counter() - start
    status = "ok" if report.ok else "PROBLEMS: " + "; ".join(report.problems[:3])
    out["verify"] = (seconds, f"{report.events:,} events, {status}")
    log(f"verify: {seconds:.1f} s ({status})")

    log("rebuild ...")
    start = time.perf_counter()
    events, _ = rebuild_database(path)
    seconds = time.perf_counter() - start
    out["rebuild"] = (seconds, f"{events:,} events")
    log(f"rebuild: {seconds:.1f} s")

    target = folder / "merged.db"
    log("merge into an empty database ...")
    start = time.perf_counter()
    added = sum(count for _, count in merge_databases(target, [path]))
    seconds = time.perf_counter() - start
    out["merge"] = (seconds, f"{added:,} events added")
    log(f"merge: {seconds:.1f} s")
    for suffix in ("", "-wal", "-shm"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    return {name: (points / seconds, note) for name, (seconds, note) in out.items()}


# -- 4. get_metrics against a raw SELECT ----------------------------------------------------------
class Read:
    def __init__(self) -> None:
        self.points = 0
        self.ato_s = self.raw_s = self.downsample_s = 0.0
        self.ato_bytes = self.raw_bytes = 0.0
        self.same = False

    @property
    def ratio(self) -> float:
        return self.raw_s / self.ato_s


def bench_read(folder: Path, points: int) -> Read:
    from ato import SQLFinder, SQLLogger

    result = Read()
    path = folder / "series.db"
    log(f"logging one {points:,}-point series ...")
    config = {"experiment": {"project_name": "series", "sql": {"db_path": url_of(path)}}}
    with SQLLogger(config) as logger:
        run_id = logger.run()
        log_metric = logger.log_metric
        for steps_range, loss, _, _, _ in curves(0, points):
            for step, value in zip(steps_range, loss):
                log_metric("loss", value, step)
    result.ato_bytes = files_size(path) / points

    with SQLFinder(url_of(path)) as finder:
        series = finder.get_metrics(run_id, "loss")
        result.points = len(series)
        raw_path = folder / "raw.db"
        raw = sqlite3.connect(raw_path)
        raw.execute("PRAGMA journal_mode=WAL")
        raw.execute("CREATE TABLE points (run INTEGER, key TEXT, step INTEGER, value REAL, PRIMARY KEY (run, key, step)) WITHOUT ROWID")
        with raw:
            raw.executemany(
                "INSERT INTO points VALUES (1, 'loss', ?, ?)", zip(series.steps.tolist(), series.values.tolist())
            )
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        result.raw_bytes = files_size(raw_path) / points
        query = "SELECT step, value FROM points WHERE run = 1 AND key = 'loss' ORDER BY step"
        rows = raw.execute(query).fetchall()
        result.same = rows == list(zip(series.steps.tolist(), series.values.tolist()))
        del rows
        ato_samples, raw_samples = [], []
        for _ in range(7):  # interleaved, so both see the same machine
            ato_samples.append(median_seconds(lambda: finder.get_metrics(run_id, "loss"), 1))
            raw_samples.append(median_seconds(lambda: raw.execute(query).fetchall(), 1))
        result.ato_s, result.raw_s = statistics.median(ato_samples), statistics.median(raw_samples)
        result.downsample_s = median_seconds(lambda: finder.get_metrics(run_id, "loss", max_points=1000), 7)
        raw.close()
    return result


# -- 5. many runs ---------------------------------------------------------------------------------
class ManyRuns:
    def __init__(self) -> None:
        self.runs = 0
        self.build_s = 0.0
        self.logger_run_ms = 0.0
        self.best_ms = 0.0
        self.best_id: int | None = None
        self.cli_ms = 0.0
        self.cli_lines = 0
        self.cli_process_ms = 0.0


def build_many_runs(path: Path, runs: int) -> float:
    """``runs`` finished runs of 5 steps of val_accuracy and loss, appended as the events an
    ``SQLLogger`` writes (run.started, one metrics.logged, run.finished), 500 runs a transaction."""
    from ato.config.structural_hash import structural_hash
    from ato.events.types import (
        MetricsLogged,
        RunFinished,
        RunStarted,
        RunStatus,
        new_event_id,
    )
    from ato.events.values import encode_value
    from ato.projections.maintenance import open_store

    host, pid, argv = socket.gethostname(), os.getpid(), tuple(sys.argv)

    async def build() -> float:
        store = await open_store(path)
        try:
            start = time.perf_counter()
            for first in range(0, runs, 500):
                events = []
                for run in range(first, min(first + 500, runs)):
                    config = {"lr": 10 ** -(2 + run % 3), "seed": run, "model": {"width": 64 * (1 + run % 4)}}
                    uid, now = new_event_id(), time.time()
                    steps = list(range(5))
                    accuracy = [0.5 + 0.4 * (1 - math.exp(-(s + 1) * (1 + run % 7) / 5)) + (run % 997) * 1e-5 for s in steps]
                    loss = [1.0 - a for a in accuracy]
                    events += [
                        RunStarted(run=uid, project="many", config=encode_value(config), structural_hash=structural_hash(config),
                                   tags=(f"seed{run}",), argv=argv, host=host, pid=pid),
                        MetricsLogged(run=uid, keys=["val_accuracy"] * 5 + ["loss"] * 5, steps=steps + steps,
                                      values=accuracy + loss, times=[now] * 10),
                        RunFinished(run=uid, status=RunStatus.COMPLETED),
                    ]
                await store.append(events)
            return time.perf_counter() - start
        finally:
            await store.close()

    return anyio.run(build)


def logger_run_cost(folder: Path, runs: int) -> float:
    """Milliseconds per ``SQLLogger.run()`` + 5 points + ``finish()`` (the way a script logs)."""
    from ato import SQLLogger

    config = {"experiment": {"project_name": "small", "sql": {"db_path": url_of(folder / "small.db")}}}
    with SQLLogger(config) as logger:
        logger.run()
        logger.finish()
        start = time.perf_counter()
        for _ in range(runs):
            logger.run()
            for step in range(5):
                logger.log_metric("val_accuracy", 0.5 + step / 10, step)
            logger.finish()
        return (time.perf_counter() - start) / runs * 1e3


def bench_many_runs(folder: Path, runs: int) -> ManyRuns:
    from ato import SQLFinder
    from ato.cli import main as cli_main

    result = ManyRuns()
    path = folder / "many.db"
    log(f"appending {runs:,} small runs ...")
    result.build_s = build_many_runs(path, runs)
    result.runs = runs
    result.logger_run_ms = logger_run_cost(folder, 20)
    with SQLFinder(url_of(path)) as finder:
        best = finder.find_best_run("many", "val_accuracy")  # open and warm
        result.best_id = best.id if best else None
        result.best_ms = median_seconds(lambda: finder.find_best_run("many", "val_accuracy"), 20) * 1e3

    def cli_runs() -> None:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            status = cli_main(["runs", "--db", url_of(path)])
        assert status == 0, status
        result.cli_lines = out.getvalue().count("\n")

    result.cli_ms = median_seconds(cli_runs, 3) * 1e3
    command = [sys.executable, "-m", "ato", "runs", "--db", url_of(path)]
    result.cli_process_ms = median_seconds(lambda: subprocess.run(command, stdout=subprocess.DEVNULL, check=True), 3) * 1e3
    return result


# -- report ---------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=int(os.environ.get("BENCH_SCALE_POINTS", "100000000")),
                        help="metric points to log (default $BENCH_SCALE_POINTS, else 100,000,000)")
    parser.add_argument("--runs", type=int, default=4, help=f"runs to spread them over, {len(KEYS)} keys each (default 4)")
    parser.add_argument("--series-points", type=int, default=1_000_000, help="points of the get_metrics series (default 1,000,000)")
    parser.add_argument("--many-runs", type=int, default=10_000, help="runs for find_best_run and `ato runs` (default 10,000)")
    parser.add_argument("--dir", type=Path, help="where to write the databases (default: a temporary folder, removed)")
    args = parser.parse_args(argv)

    folder = Path(tempfile.mkdtemp(prefix="ato-scale-", dir=args.dir))
    free = shutil.disk_usage(folder).free
    need = args.points * 10 * 2 + (1 << 30)  # the database and its merged copy (verify's fresh tables are small)
    print(f"metrics at scale: {args.points:,} points, {args.runs} runs x {len(KEYS)} keys ({', '.join(KEYS)}), in {folder}")
    if need > free:
        print(f"warning: this may need about {need / 1e9:.1f} GB of disk at 10 bytes/point; {free / 1e9:.1f} GB free")
    sys.stdout.flush()
    try:
        path = folder / "scale.db"
        print("\n[1/5] logging", flush=True)
        logged = bench_logging(path, args.points, args.runs)
        print("\n[2/5] disk", flush=True)
        size = files_size(path)
        tables = table_bytes(path)
        print("\n[3/5] verify, rebuild, merge", flush=True)
        maintenance = bench_maintenance(path, folder, logged.points)
        print("\n[4/5] get_metrics beside a raw SELECT", flush=True)
        read = bench_read(folder, args.series_points)
        print("\n[5/5] find_best_run and `ato runs` over many runs", flush=True)
        many = bench_many_runs(folder, args.many_runs)
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    points = logged.points
    print(f"\n== logging: {points:,} points, {args.runs} runs, {len(KEYS)} keys, consecutive steps")
    print(f"{logged.rate:,.0f} points/s ({logged.seconds:.1f} s until the last finish(), less {logged.generating:.1f} s generating the curves)")
    print(f"\n{'points logged':>16} {'of all':>7} {'seconds':>9} {'points/s':>12} {'RSS':>10} {'largest RSS since the row above':>33}")
    print(f"{0:>16,} {'0%':>7} {0.0:>9.1f} {'-':>12} {logged.rss_start / MIB:>6.0f} MiB  (logger open)")
    previous = 0
    for percent in (10, 50, 100):
        if percent not in logged.marks:
            continue
        done, seconds, rss = logged.marks[percent]
        rate = done / max(seconds - logged.generating * done / points, 1e-9)
        window = max([r for d, _, r in logged.samples if previous < d <= done] + [rss])
        previous = done
        print(f"{done:>16,} {percent:>6}% {seconds:>9.1f} {rate:>12,.0f} {rss / MIB:>6.0f} MiB {window / MIB:>29.0f} MiB")
    print(f"{'after close':>16} {'':>7} {'':>9} {'':>12} {logged.rss_after / MIB:>6.0f} MiB")
    # Flat: the median RSS sampled over the second half of the points is no more than the median
    # over 10%..50% plus some slack. Medians, not maxima: the logger buffers up to 500,000 points
    # between flushes, so single samples swing by tens of MiB either way, while a leak moves the
    # whole distribution up. Both maxima are printed too.
    first_half = [r for d, _, r in logged.samples if points < d * 10 and d * 2 <= points]
    second_half = [r for d, _, r in logged.samples if d * 2 > points] + [logged.marks[100][2]]
    first_median = statistics.median(first_half) if first_half else logged.marks[100][2]
    second_median = statistics.median(second_half)
    first_max = max(first_half) if first_half else logged.marks[100][2]
    second_max = max(second_half)
    growth = second_median - first_median
    flat = growth <= max(FLAT_SLACK_BYTES, 0.15 * first_median)
    if flat:
        memory = "flat: it does not grow with points"
    elif points < CONCLUSIVE_POINTS:
        memory = (f"it grew, but below {CONCLUSIVE_POINTS:,} points the warm-up of the logger's buffer and the "
                  "allocator can look like growth: run with more --points")
    else:
        memory = "it GROWS with points"
    print(f"median RSS sampled over 10%-50% of the points {first_median / MIB:.0f} MiB, over 50%-100% "
          f"{second_median / MIB:.0f} MiB ({growth / MIB:+.0f} MiB; largest {first_max / MIB:.0f} and "
          f"{second_max / MIB:.0f} MiB; {len(logged.samples):,} samples, one per {CHUNK_STEPS:,} steps of a run): {memory}")
    rss_10, rss_100 = logged.marks.get(10, logged.marks[100])[2], logged.marks[100][2]

    print(f"\n== disk: {size:,} bytes (database + WAL + shm) for {points:,} points: {size / points:.1f} bytes/point")
    if tables:
        print(f"{'table or index (dbstat)':40} {'bytes':>15} {'bytes/point':>12}")
        for name, nbytes in tables[:6]:
            print(f"{name:40} {nbytes:>15,} {nbytes / points:>12.1f}")

    print("\n== maintenance (one timing each; points/s = logged points / wall seconds)")
    for name, (rate, note) in maintenance.items():
        print(f"{name:10} {rate:>12,.0f} points/s   ({note})")

    print(f"\n== get_metrics of {read.points:,} points (medians of 7, interleaved)")
    print(f"{'reader':62} {'seconds':>9} {'ato is':>9}")
    print(f"{'SQLFinder.get_metrics -> MetricSeries (numpy arrays)':62} {read.ato_s:>9.4f} {'':>9}")
    print(f"{'raw sqlite3 SELECT step, value ... fetchall() (same points)':62} {read.raw_s:>9.4f} {read.ratio:>8.1f}x")
    print(f"{'SQLFinder.get_metrics(max_points=1000) (downsample)':62} {read.downsample_s:>9.4f} {'':>9}")
    print(f"same points in both: {read.same}; on disk: ato {read.ato_bytes:.1f} bytes/point, "
          f"raw table (run, key, step, value) WITHOUT ROWID {read.raw_bytes:.1f} bytes/point")

    print(f"\n== {many.runs:,} runs of 5 steps (events appended in {many.build_s:.1f} s; "
          f"SQLLogger run() + 5 points + finish() costs {many.logger_run_ms:.1f} ms a run, "
          f"{many.logger_run_ms * many.runs / 1e3:.0f} s for {many.runs:,})")
    print(f"find_best_run('many', 'val_accuracy'): {many.best_ms:.2f} ms median of 20 (run {many.best_id})")
    print(f"ato runs, in process (ato.cli.main): {many.cli_ms:.0f} ms median of 3 ({many.cli_lines:,} lines)")
    print(f"ato runs, a new process (python -m ato runs): {many.cli_process_ms:.0f} ms median of 3")

    bytes_per_point = size / points
    rows = [
        ("logging points/s", f"{logged.rate:,.0f}", "(bench/metric_logging.py)", "-"),
        ("logging memory (RSS 10% -> 100%)", f"{rss_10 / MIB:.0f} -> {rss_100 / MIB:.0f} MiB", "flat",
         verdict(flat) + ("" if flat or points >= CONCLUSIVE_POINTS else " (inconclusive)")),
        ("bytes per point on disk", f"{bytes_per_point:.1f}", f"<= {TARGET_BYTES_PER_POINT:.0f}", verdict(bytes_per_point <= TARGET_BYTES_PER_POINT)),
        (f"get_metrics {read.points:,} pts / raw SELECT", f"{read.ratio:.1f}x faster", f">= {TARGET_READ_RATIO:.0f}x", verdict(read.ratio >= TARGET_READ_RATIO)),
        *[
            (f"{name} points/s", f"{rate:,.0f}", f">= {TARGET_MAINTENANCE_RATE:,}", verdict(rate >= TARGET_MAINTENANCE_RATE))
            for name, (rate, _) in maintenance.items()
        ],
        (f"find_best_run, {many.runs:,} runs", f"{many.best_ms:.2f} ms", "none (< 50 ms over 1M points)", "-"),
        (f"ato runs, {many.runs:,} runs", f"{many.cli_ms:.0f} ms", "none", "-"),
    ]
    print(f"\n== targets (issue 14, DESIGN.md \"Numbers\"); {points:,} points logged")
    print(f"{'figure':36} {'measured':>20} {'target':>30}  verdict")
    for figure, measured, target, mark in rows:
        print(f"{figure:36} {measured:>20} {target:>30}  {mark}")

    notes = []
    if bytes_per_point > TARGET_BYTES_PER_POINT:
        where = ", ".join(f"{name} {nbytes / points:.1f}" for name, nbytes in tables[:3])
        notes.append(f"bytes/point: above the target; the largest tables and indexes (bytes/point): {where}")
    if any(rate < TARGET_MAINTENANCE_RATE for rate, _ in maintenance.values()):
        notes.append("verify/rebuild/merge: below the target rate on this machine (each decodes every point once)")
    if read.ratio < TARGET_READ_RATIO:
        notes.append("get_metrics: below the target ratio on this run; it reads the events the index names and "
                     "decodes their columns into fresh arrays (the page faults of allocating them are a good "
                     "part of the time on this machine); rerun on a quieter machine before reading much into it")
    if not flat:
        notes.append(f"memory: the median RSS rose from the first to the second half of the points ({memory})")
    for note in notes:
        print(f"- not met: {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

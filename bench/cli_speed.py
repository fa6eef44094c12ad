"""``import ato`` and ``ato replay`` end to end, beside ``python -c pass`` as the floor.

The replay runs on a database holding 1,000,000 metric points and a run whose merge has 1,000
steps (DESIGN.md: import under 150 ms, replay under 500 ms). Medians of several runs.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

REPEATS = 7

BUILD = textwrap.dedent("""
    import sys
    from ato.scope import Scope
    from ato import SQLLogger
    url = sys.argv[1]
    scope = Scope()
    for i in range(1000):
        def view(config, i=i):
            config[f"key{i % 100}"] = i
        scope.observe(name=f"view{i}", default=True)(view)

    @scope
    def main(config):
        config.experiment = {"project_name": "bench", "sql": {"db_path": url}}
        with SQLLogger(config) as logger:
            logger.run()
        for run in range(10):
            with SQLLogger({"experiment": {"project_name": "bench", "sql": {"db_path": url}}}) as logger:
                logger.run()
                for step in range(100_000):
                    logger.log_metric("loss", 1.0 / (step + 1), step)

    scope.apply([])
    main()
""")


def median_seconds(command: list[str], cwd: Path) -> float:
    samples = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        subprocess.run(command, check=True, cwd=cwd, capture_output=True)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="ato-bench-cli-"))
    try:
        url = f"sqlite:///{folder}/experiments.db"
        subprocess.run([sys.executable, "-c", BUILD, url], check=True, cwd=folder)
        floor = median_seconds([sys.executable, "-c", "pass"], folder)
        imported = median_seconds([sys.executable, "-c", "import ato"], folder)
        replay = median_seconds([sys.executable, "-m", "ato", "replay", "1", "--db", url], folder)
        print(f"{'measure (median of ' + str(REPEATS) + ')':52} {'seconds':>9} {'minus floor':>12} {'target':>8}")
        print(f"{'python -c pass (the floor)':52} {floor:9.3f} {'':>12}")
        label = 'python -c "import ato"'
        print(f"{label:52} {imported:9.3f} {imported - floor:12.3f} {'<0.150':>8}")
        print(f"{'ato replay (1,000 steps; 1,000,000 points in db)':52} {replay:9.3f} {replay - floor:12.3f} {'<0.500':>8}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

"""HyperBand: the seed's example, the pure schedule, recorded decisions, and real gloo ranks."""

from __future__ import annotations

import json
import math
import os
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ato.config.adict import ADict
from ato.config.scope import Scope
from ato.errors import ConfigError
from ato.hyperopt.schedule import HalvingSchedule, rank_key
from ato.hyperopt.search import HyperBand
from ato.hyperopt.space import grid, parameter_values
from tests.conftest import ato, run_script

SEED = """
import math
from ato.adict import ADict
from ato.hyperopt.hyperband import HyperBand
from ato.scope import Scope

scope = Scope()

@scope.observe(default=True)
def defaults(config):
    config.experiment = ADict(project_name='search')

# Define search space
search_spaces = ADict(
    lr=ADict(
        param_type='FLOAT',
        param_range=(1e-5, 1e-1),
        num_samples=20,
        space_type='LOG'  # Logarithmic spacing
    ),
    batch_size=ADict(
        param_type='INTEGER',
        param_range=(16, 128),
        num_samples=5,
        space_type='LOG'
    ),
    model=ADict(
        param_type='CATEGORY',
        categories=['resnet50', 'resnet101', 'efficientnet_b0']
    )
)

# Create Hyperband optimizer
hyperband = HyperBand(
    scope,
    search_spaces,
    halving_rate=0.3,      # Keep top 30% each round
    num_min_samples=3,     # Stop when <= 3 configs remain
    mode='max'             # Maximize metric (use 'min' for loss)
)

def create_model(name):
    return {'resnet50': 0.0, 'resnet101': 0.05, 'efficientnet_b0': 0.02}[name]

class Adam:
    def __init__(self, lr):
        self.lr = lr

def compute_epochs(num_halved):
    return hyperband.budget(100)[num_halved]

def train_and_evaluate(model, optimizer, num_epochs):
    return model - abs(math.log10(optimizer.lr) + 3) / 10 + num_epochs / 1000

@hyperband.main
def train(config):
    # Your training code
    model = create_model(config.model)
    optimizer = Adam(lr=config.lr)

    # Use __num_halved__ for early stopping
    num_epochs = compute_epochs(config.__num_halved__)

    # Train and return metric
    val_acc = train_and_evaluate(model, optimizer, num_epochs) - abs(config.batch_size - 45) / 1000
    return val_acc

if __name__ == '__main__':
    # Run hyperparameter search
    best_result = train()
    print(f"Best config: {best_result.config}")
    print(f"Best metric: {best_result.metric}")
"""


def test_seed_example_runs_and_is_recorded(tmp_path: Path) -> None:
    out = run_script(tmp_path, SEED).stdout.splitlines()
    assert out[0].startswith("Best config: {") and "'model': 'resnet101'" in out[0]
    assert "'batch_size': 45" in out[0] and "'__num_halved__': 4" in out[0]
    assert out[1].startswith("Best metric: ")
    connection = sqlite3.connect(tmp_path / "experiments.db")
    counts = dict(connection.execute("SELECT type, COUNT(*) FROM events GROUP BY type").fetchall())
    connection.close()
    assert counts["search.trial"] == sum(HalvingSchedule.round_sizes(300, 0.3, 3)) == 300 + 90 + 27 + 8 + 2
    assert counts["search.halving"] == 5 and counts["search.started"] == counts["search.finished"] == 1
    replay = ato("replay", "1", cwd=tmp_path)
    assert replay.returncode == 0, replay.stdout
    assert "round 0: 300 trials, kept 90, dropped 210" in replay.stdout
    assert "search replay: the recorded metrics reproduce every decision" in replay.stdout


def _scope() -> Scope:
    scope = Scope()
    scope.apply([])
    return scope


SPACE = ADict(
    x=ADict(param_type="INTEGER", param_range=(0, 9), num_samples=10),
    kind=ADict(param_type="CATEGORY", categories=["a", "b"]),
)


@pytest.mark.parametrize(("mode", "expected"), [("max", {"x": 9, "kind": "b"}), ("min", {"x": 0, "kind": "a"})])
def test_min_and_max_find_the_extreme(mode: str, expected: dict[str, object]) -> None:
    hyperband = HyperBand(_scope(), SPACE, halving_rate=0.5, num_min_samples=2, mode=mode, track=False)

    @hyperband.main
    def objective(config):  # type: ignore[no-untyped-def]
        return config.x + (0.5 if config.kind == "b" else 0)

    result = objective()
    assert {"x": result.config.x, "kind": result.config.kind} == expected
    assert [len(decision.ranked) for decision in result.rounds] == hyperband.schedule_sizes


def test_failing_and_nan_trials_rank_last_and_do_not_stop_the_search() -> None:
    hyperband = HyperBand(_scope(), SPACE, halving_rate=0.5, num_min_samples=1, mode="max", track=False)

    @hyperband.main
    def objective(config):  # type: ignore[no-untyped-def]
        if config.x == 9:
            raise RuntimeError("diverged")
        if config.x == 8:
            return math.nan
        return config.x

    result = objective()
    assert result.config.x == 7
    first = result.rounds[0]
    assert first.ranked[-4:] == sorted(first.ranked[-4:])  # the four failures, by trial index
    assert all(result.trials[(0, t)] is None for t in first.ranked[-4:])


def test_budget_helper() -> None:
    hyperband = HyperBand(_scope(), SPACE, halving_rate=0.3, num_min_samples=3, track=False)
    assert hyperband.schedule_sizes == [20, 6, 1]
    assert hyperband.budget(100) == [9, 30, 100]
    assert hyperband.steps_for({"__num_halved__": 1}, 100) == 30
    assert hyperband.steps_for({}, 100) == 9


@pytest.mark.parametrize(
    ("space", "options", "message"),
    [
        ({}, {}, "the search space is empty"),
        ({"x": {"param_type": "BOOL"}}, {}, "unknown param_type 'BOOL'"),
        ({"x": {"param_type": "FLOAT"}}, {}, r"FLOAT needs param_range=\(low, high\)"),
        ({"x": {"param_type": "FLOAT", "param_range": (0, 1), "space_type": "LOG"}}, {}, "LOG spacing needs a positive"),
        ({"x": {"param_type": "CATEGORY", "categories": []}}, {}, "non-empty categories"),
        ({"x": {"param_type": "INTEGER", "param_range": (1, 2), "num_samples": 0}}, {}, "num_samples must be at least 1"),
        ({"x": {"param_type": "CATEGORY", "categories": [1]}}, {"halving_rate": 1.0}, "halving_rate must be between 0 and 1"),
        ({"x": {"param_type": "CATEGORY", "categories": [1]}}, {"halving_rate": 0.0}, "halving_rate must be between 0 and 1"),
        ({"x": {"param_type": "CATEGORY", "categories": [1]}}, {"num_min_samples": 0}, "num_min_samples must be at least 1"),
        ({"x": {"param_type": "CATEGORY", "categories": [1]}}, {"mode": "best"}, "mode must be 'max' or 'min'"),
    ],
)
def test_bad_arguments_are_clear_errors(space: dict, options: dict, message: str) -> None:  # type: ignore[type-arg]
    arguments = {"halving_rate": 0.5, "num_min_samples": 1, **options}
    with pytest.raises(ConfigError, match=message):
        HyperBand(_scope(), space, track=False, **arguments)


def test_spaces_follow_the_spacing() -> None:
    assert parameter_values("lr", {"param_type": "FLOAT", "param_range": (1e-4, 1e-1), "num_samples": 4, "space_type": "LOG"}) == pytest.approx([1e-4, 1e-3, 1e-2, 1e-1])
    assert parameter_values("n", {"param_type": "INTEGER", "param_range": (16, 128), "num_samples": 4, "space_type": "LOG"}) == [16, 32, 64, 128]
    assert parameter_values("d", {"param_type": "FLOAT", "param_range": (0, 1), "num_samples": 3}) == [0.0, 0.5, 1.0]
    assert len(grid({"a": {"param_type": "CATEGORY", "categories": [1, 2]}, "b": {"param_type": "CATEGORY", "categories": "xyz"}})) == 6


@settings(max_examples=200)
@given(
    metrics=st.lists(st.one_of(st.none(), st.floats(allow_infinity=False)), min_size=1, max_size=60),
    rate=st.floats(0.05, 0.95),
    minimum=st.integers(1, 5),
    mode=st.sampled_from(["max", "min"]),
)
def test_schedule_invariants(metrics: list[float | None], rate: float, minimum: int, mode: str) -> None:
    schedule = HalvingSchedule(len(metrics), rate, minimum, mode)
    sizes = []
    while not schedule.finished:
        alive = schedule.pending()
        sizes.append(len(alive))
        decision = schedule.report({t: metrics[t] for t in alive})
        assert sorted(decision.kept + decision.dropped) == sorted(alive)
        best = min(alive, key=lambda t: rank_key(mode, t, metrics[t]))
        assert decision.ranked[0] == best and decision.kept[0] == best
    assert sizes == HalvingSchedule.round_sizes(len(metrics), rate, minimum)
    assert schedule.winner == min(range(len(metrics)), key=lambda t: rank_key(mode, t, metrics[t]))


DISTRIBUTED = """
import json, os, sys
import torch.distributed as dist
from ato.adict import ADict
from ato.hyperopt.hyperband import DistributedHyperBand
from ato.scope import Scope

scope = Scope()

@scope.observe(default=True)
def defaults(config):
    config.experiment = ADict(project_name='dist')  # the database comes from ATO_DB

# Initialize distributed training (gloo: CPU processes on one machine)
dist.init_process_group(backend='gloo')
rank = dist.get_rank()
world_size = dist.get_world_size()

search_spaces = ADict(
    x=ADict(param_type='INTEGER', param_range=(0, 6), num_samples=7),
    y=ADict(param_type='CATEGORY', categories=['a', 'b', 'c']),
)
hyperband = DistributedHyperBand(
    scope, search_spaces, halving_rate=0.4, num_min_samples=2, mode='max',
    rank=rank, world_size=world_size, backend='pytorch',
)

@hyperband.main
def train(config):
    assert os.getpid()
    return -(config.x - 4) ** 2 + {'a': 0, 'b': 0.5, 'c': 0.25}[config.y] + 0.001 * config.__num_halved__

if __name__ == '__main__':
    result = train()
    print(json.dumps({'rank': rank, 'config': {'x': result.config.x, 'y': result.config.y},
                      'metric': result.metric, 'rounds': [d.kept for d in result.rounds]}))
    dist.destroy_process_group()
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
@pytest.mark.parametrize("world_size", [2, 3])
def test_distributed_search_on_gloo(tmp_path: Path, world_size: int) -> None:
    pytest.importorskip("torch.distributed")
    script = tmp_path / "dist.py"
    script.write_text(DISTRIBUTED)
    url = f"sqlite:///{tmp_path / 'experiments.db'}"
    port = str(_free_port())
    processes = [
        subprocess.Popen(
            [sys.executable, str(script)], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "ATO_DB": url, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": port,
                 "RANK": str(rank), "WORLD_SIZE": str(world_size)},
        )
        for rank in range(world_size)
    ]
    results = []
    for process in processes:
        stdout, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, stderr
        results.append(json.loads(stdout.strip().splitlines()[-1]))
    assert [r["rank"] for r in results] == list(range(world_size))
    first = {k: v for k, v in results[0].items() if k != "rank"}
    assert all({k: v for k, v in r.items() if k != "rank"} == first for r in results)
    assert first["config"] == {"x": 4, "y": "b"}
    connection = sqlite3.connect(tmp_path / "experiments.db")
    trials = connection.execute("SELECT COUNT(*) FROM events WHERE type = 'search.trial'").fetchone()[0]
    runs = connection.execute("SELECT COUNT(*) FROM experiments").fetchone()[0]
    connection.close()
    assert trials == sum(HalvingSchedule.round_sizes(21, 0.4, 2))  # 21 trials: uneven over 2 and 3 ranks
    assert runs == 1  # only rank 0 records the search
    replay = ato("replay", "1", "--db", url, cwd=tmp_path)
    assert "search replay: the recorded metrics reproduce every decision" in replay.stdout


PROGRESS = """
from ato.adict import ADict
from ato.hyperopt.hyperband import HyperBand
from ato.scope import Scope
scope = Scope()
scope.observe({'experiment': {'project_name': 'p'}}, name='base', default=True)
space = ADict(x=ADict(param_type='INTEGER', param_range=(0, 30), num_samples=31))
hyperband = HyperBand(scope, space, halving_rate=0.5, num_min_samples=2)

@hyperband.main
def train(config):
    return config.x

print('winner', train().config.x)
"""


def test_progress_shows_on_a_terminal_and_not_when_piped(tmp_path: Path) -> None:
    import pty

    script = tmp_path / "progress.py"
    script.write_text(PROGRESS)
    piped = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert piped.stdout.strip() == "winner 30" and piped.stderr == ""
    master, slave = pty.openpty()
    process = subprocess.Popen([sys.executable, str(script)], cwd=tmp_path, stdout=slave, stderr=slave, stdin=slave)
    os.close(slave)
    output = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        output += chunk
    process.wait(timeout=60)
    os.close(master)
    text = output.decode(errors="replace")
    assert "winner 30" in text
    assert "round 5/5, best 30" in text

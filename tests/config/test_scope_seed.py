"""Every Scope example of the seed README, run unchanged as a real script with a real command line."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest


def run(tmp_path: Path, script: str, *argv: str, expect: int = 0) -> str:
    path = tmp_path / "train.py"
    path.write_text(textwrap.dedent(script))
    result = subprocess.run(
        [sys.executable, str(path), *argv], capture_output=True, text=True, cwd=tmp_path, timeout=60
    )
    assert result.returncode == expect, result.stderr
    return result.stdout if expect == 0 else result.stderr


QUICK_START = """
from ato.scope import Scope

scope = Scope()

@scope.observe(default=True)
def config(config):
    config.lr = 0.001
    config.batch_size = 32
    config.model = 'resnet50'

@scope
def train(config):
    print(f"Training {config.model} with lr={config.lr}")

if __name__ == '__main__':
    train()
"""


def test_quick_start(tmp_path: Path) -> None:
    assert run(tmp_path, QUICK_START) == "Training resnet50 with lr=0.001\n"
    assert run(tmp_path, QUICK_START, "lr=0.01") == "Training resnet50 with lr=0.01\n"
    manual = run(tmp_path, QUICK_START, "manual")
    assert "(The Applying Order of Views)\nconfig → (CLI Inputs)\n" in manual
    assert "Training" not in manual


PRIORITY = """
from ato.scope import Scope

scope = Scope()

@scope.observe(default=True)  # Always applied
def defaults(config):
    config.lr = 0.001
    config.epochs = 100

@scope.observe(priority=1)  # Applied after defaults
def high_lr(config):
    config.lr = 0.01

@scope.observe(priority=2)  # Applied last
def long_training(config):
    config.epochs = 300

@scope
def main(config):
    print(f"lr={config.lr}, epochs={config.epochs}")

main()
"""


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        ((), "lr=0.001, epochs=100"),
        (("high_lr",), "lr=0.01, epochs=100"),
        (("high_lr", "long_training"), "lr=0.01, epochs=300"),
        (("long_training", "high_lr"), "lr=0.01, epochs=300"),
        (("high_lr", "lr=0.5"), "lr=0.5, epochs=100"),
    ],
)
def test_priority_based_merging(tmp_path: Path, argv: tuple[str, ...], expected: str) -> None:
    assert run(tmp_path, PRIORITY, *argv).strip() == expected


CHAINING = """
from ato.scope import Scope

scope = Scope()

@scope.observe()
def base_setup(config):
    config.project_name = 'my_project'
    config.data_dir = '/data'

@scope.observe(chain_with='base_setup')  # Automatically applies base_setup first
def advanced_training(config):
    config.distributed = True
    config.mixed_precision = True

@scope.observe(chain_with=['base_setup', 'gpu_setup'])  # Multiple dependencies
def multi_node_training(config):
    config.nodes = 4
    config.world_size = 16

@scope
def main(config):
    print(dict(config))
    print(" → ".join(step.step for step in scope.merge_trace.steps))

main()
"""


def test_config_chaining(tmp_path: Path) -> None:
    out = run(tmp_path, CHAINING, "advanced_training").splitlines()
    assert out[0] == str(
        {"project_name": "my_project", "data_dir": "/data", "distributed": True, "mixed_precision": True}
    )
    assert out[1] == "base_setup → advanced_training"
    error = run(tmp_path, CHAINING, "multi_node_training", expect=2)
    assert "view 'multi_node_training' chains with 'gpu_setup', which scope 'config' does not have" in error
    assert "Traceback" not in error
    assert "base_setup → advanced_training → multi_node_training → (CLI Inputs)" in run(tmp_path, CHAINING, "manual")


LAZY = """
from ato.scope import Scope

scope = Scope()

@scope.observe()
def base_config(config):
    config.model = 'resnet50'
    config.dataset = 'imagenet'

@scope.observe(lazy=True)  # Evaluated AFTER CLI args
def computed_config(config):
    # Adjust based on dataset
    if config.dataset == 'imagenet':
        config.num_classes = 1000
        config.image_size = 224
    elif config.dataset == 'cifar10':
        config.num_classes = 10
        config.image_size = 32

@scope
def main(config):
    print(config.num_classes, config.image_size)

main()
"""


def test_lazy_evaluation(tmp_path: Path) -> None:
    assert run(tmp_path, LAZY, "dataset=%cifar10%", "computed_config").strip() == "10 32"
    assert run(tmp_path, LAZY, "base_config", "computed_config").strip() == "1000 224"
    assert run(tmp_path, LAZY, "base_config", "computed_config", "dataset=cifar10").strip() == "10 32"


LAZY_BLOCK = """
from ato.scope import Scope

scope = Scope()

@scope.observe()
def my_config(config):
    config.model = 'resnet50'
    config.num_layers = 50

    with Scope.lazy():  # Evaluated after CLI
        if config.model == 'resnet101':
            config.num_layers = 101

@scope
def main(config):
    print(config.model, config.num_layers)
    print([(s.step, str(s.kind)) for s in scope.merge_trace.steps])

main()
"""


def test_lazy_context_manager(tmp_path: Path) -> None:
    out = run(tmp_path, LAZY_BLOCK, "my_config", "model=%resnet101%").splitlines()
    assert out[0] == "resnet101 101"
    assert out[1] == str([("my_config", "named"), ("model=%resnet101%", "cli"), ("my_config", "lazy_part")])
    assert run(tmp_path, LAZY_BLOCK, "my_config").splitlines()[0] == "resnet50 50"


MULTI = """
from ato.scope import Scope, MultiScope

model_scope = Scope(name='model')
data_scope = Scope(name='data')
scope = MultiScope(model_scope, data_scope)

@model_scope.observe(default=True)
def model_config(model):
    model.backbone = 'resnet50'
    model.lr = 0.1  # Model-specific learning rate

@data_scope.observe(default=True)
def data_config(data):
    data.dataset = 'cifar10'
    data.lr = 0.001  # Data augmentation learning rate (no conflict!)

@scope
def train(model, data):  # Named parameters match scope names
    # Both have 'lr' but in separate namespaces!
    print(f"Model LR: {model.lr}, Data LR: {data.lr}")
    print(model.backbone, data.dataset)

train()
"""


def test_multiscope(tmp_path: Path) -> None:
    assert run(tmp_path, MULTI).splitlines() == ["Model LR: 0.1, Data LR: 0.001", "resnet50 cifar10"]
    assert run(tmp_path, MULTI, "model.backbone=%resnet101%").splitlines()[1] == "resnet101 cifar10"
    out = run(tmp_path, MULTI, "model.backbone=%resnet101%", "data.dataset=%imagenet%", "data.lr=0.5")
    assert out.splitlines() == ["Model LR: 0.1, Data LR: 0.5", "resnet101 imagenet"]
    error = run(tmp_path, MULTI, "lr=0.5", expect=2)
    assert "'lr' is not a scope; prefix the key with one of model, data" in error
    manual = run(tmp_path, MULTI, "manual")
    assert '[Scope "model"]' in manual and '[Scope "data"]' in manual
    assert "model_config → (CLI Inputs)" in manual and "data_config → (CLI Inputs)" in manual


MANUAL = """
from ato.scope import Scope

scope = Scope()

@scope.observe(default=True)
def config(config):
    config.lr = 0.001
    config.batch_size = 32
    config.model = 'resnet50'

@scope.manual
def config_docs(config):
    config.lr = 'Learning rate for optimizer'
    config.batch_size = 'Number of samples per batch'
    config.model = 'Model architecture (resnet50, resnet101, etc.)'

@scope
def train(config):
    print("trained")

train()
"""

MANUAL_OUTPUT = """\
--------------------------------------------------
[Scope "config"]
(The Applying Order of Views)
config → (CLI Inputs)

(User Manuals)
lr: Learning rate for optimizer
batch_size: Number of samples per batch
model: Model architecture (resnet50, resnet101, etc.)
--------------------------------------------------
"""


def test_manual_prints_the_seed_output_exactly(tmp_path: Path) -> None:
    assert run(tmp_path, MANUAL, "manual") == MANUAL_OUTPUT


COMPLEX = """
from ato.scope import Scope

scope = Scope()

@scope.observe(default=True)
def defaults(config):
    config.lr = 0.001

@scope.observe(priority=1)
def experiment_config(config):
    config.lr = 0.01

@scope.observe(priority=2)
def another_config(config):
    config.lr = 0.1

@scope.observe(lazy=True)
def adaptive_lr(config):
    if config.batch_size > 64:
        config.lr = config.lr * 2

@scope
def train(config):
    print(config.lr)
    print(scope.provenance('lr').winner.step)

train()
"""


def test_complex_manual_order_and_provenance(tmp_path: Path) -> None:
    manual = run(tmp_path, COMPLEX, "manual")
    assert (
        "(The Applying Order of Views)\n"
        "defaults → experiment_config → another_config → (CLI Inputs) → adaptive_lr\n"
    ) in manual
    out = run(tmp_path, COMPLEX, "experiment_config", "another_config").splitlines()
    assert out == ["0.1", "another_config"]
    out = run(tmp_path, COMPLEX, "another_config", "batch_size=128", "adaptive_lr").splitlines()
    assert out == ["0.2", "adaptive_lr"]


def test_unknown_view_exits_with_suggestion_and_no_traceback(tmp_path: Path) -> None:
    error = run(tmp_path, PRIORITY, "hgh_lr", expect=2)
    assert error.strip() == (
        "error: command-line argument 'hgh_lr': no view named 'hgh_lr' in scope 'config'; "
        "did you mean 'high_lr'? (views: defaults, high_lr, long_training)"
    )


def test_code_in_a_literal_is_refused_and_never_run(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    error = run(tmp_path, PRIORITY, f"lr=__import__('os').mkdir('{marker}')", expect=2)
    assert "is a call; command-line values are data and are never evaluated" in error
    assert not marker.exists()


def test_malformed_literal_names_the_token(tmp_path: Path) -> None:
    error = run(tmp_path, PRIORITY, "lr=[1, 2", expect=2)
    assert "command-line argument 'lr=[1, 2': malformed literal" in error

"""The Scope names of ato 2.1.7 that user scripts touch: ``Scope(config=..., name=...)``, the
registry, ``assign``/``apply``, ``pause``, ``with scope:``, ``parse_args_pythonic`` and argparse.

Where the real 2.1.7 is installed (``make test`` puts it in .venv-ref) the same script runs under
both and must print the same.
"""

from __future__ import annotations

import argparse
import gc
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ato.config.adict import ADict
from ato.config.scope import Scope, parse_args_pythonic
from ato.errors import CLIArgumentError
from tests.conftest import reference_python


def run(python: str, tmp_path: Path, script: str, *argv: str, expect: int = 0) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "train.py"
    path.write_text(textwrap.dedent(script))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run(
        [python, str(path), *argv], capture_output=True, text=True, cwd=tmp_path, timeout=60, env=env
    )
    assert result.returncode == expect, result.stderr
    return result


# 2.1.7's patched parse_args returned a (namespace, rest) pair, so its users called
# parse_known_args; the script below runs under both.
ARGPARSE = """
import argparse
from ato.scope import Scope

scope = Scope(use_external_parser=True)

@scope.observe(default=True)
def defaults(config):
    config.lr = 0.001
    config.model = 'resnet'

@scope.observe()
def big(config):
    config.model = 'vit'

parser = argparse.ArgumentParser()
parser.add_argument('--epochs', type=int, default=3)
parser.add_argument('--gpu', type=int, default=0)
args, _ = parser.{method}()

@scope
def main(config, tag):
    print(tag, args.epochs, config.epochs, config.gpu, config.lr, config.model)

main('run')
"""

ARGPARSE_COMMANDS = [(), ("--epochs", "5", "lr=0.1", "big"), ("--gpu", "1", "model=%x%"), ("big", "--epochs=7")]


@pytest.mark.parametrize("argv", ARGPARSE_COMMANDS)
def test_argparse_flags_and_ato_literals_share_one_command_line(tmp_path: Path, argv: tuple[str, ...]) -> None:
    ours = run(sys.executable, tmp_path, ARGPARSE.format(method="parse_known_args"), *argv).stdout
    epochs = next((a.split("=")[1] for a in argv if a.startswith("--epochs=")), None)
    epochs = epochs or (argv[argv.index("--epochs") + 1] if "--epochs" in argv else "3")
    assert ours.split()[1:3] == [epochs, epochs]
    assert ("vit" in ours) == ("big" in argv)
    assert run(reference_python(), tmp_path, ARGPARSE.format(method="parse_known_args"), *argv).stdout == ours


def test_parse_args_returns_the_namespace_and_still_refuses_unknown_flags(tmp_path: Path) -> None:
    script = ARGPARSE.replace("args, _ = parser.{method}()", "args = parser.parse_args()")
    assert run(sys.executable, tmp_path, script, "--epochs", "2", "lr=0.5").stdout == "run 2 2 0 0.5 resnet\n"
    refused = run(sys.executable, tmp_path, script, "--bogus", "1", expect=2)
    assert "unrecognized arguments: --bogus" in refused.stderr


def test_argparse_values_are_recorded_merge_steps_named_argparse(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "argv", ["train.py", "--epochs", "9", "lr=0.5"])
    scope = Scope(use_external_parser=True)
    scope.observe({"lr": 0.1, "epochs": 1}, name="base", default=True)
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--gpu", type=int, default=0)
    args = parser.parse_args()
    assert args.epochs == 9 and args.gpu == 0
    config = scope.config
    assert (config.epochs, config.gpu, config.lr) == (9, 0, 0.5)
    assert scope.provenance("epochs").winner.step == "argparse_given"
    assert scope.provenance("gpu").winner.step == "argparse"
    assert scope.provenance("lr").winner.step == "lr=0.5"


def test_argparse_is_left_alone_without_an_opted_in_scope() -> None:
    original = argparse.ArgumentParser.parse_known_args
    plain = Scope()
    assert argparse.ArgumentParser.parse_known_args is original
    opted = Scope(use_external_parser=True)
    assert argparse.ArgumentParser.parse_known_args is not original
    parser = argparse.ArgumentParser()
    with pytest.raises(SystemExit):  # an explicit args list is argparse's alone
        parser.parse_args(["lr=1"])
    del opted
    gc.collect()
    assert argparse.ArgumentParser.parse_known_args is original
    del plain


def test_scope_config_and_name_keywords(tmp_path: Path) -> None:
    scope = Scope(config=ADict(lr=0.5, model="resnet"), name="cfg")

    @scope.observe(default=True)
    def tuned(cfg: ADict) -> None:
        cfg.lr = 0.25

    config = scope.apply(["model=%vit%"])
    assert config == {"lr": 0.25, "model": "vit"}
    assert [step.step for step, _ in scope.provenance("lr").changes] == ["_default", "tuned"]
    assert Scope("named").name == "named"  # the name positionally, as Ato always took it


def test_registry_holds_the_live_scopes_by_name() -> None:
    Scope.initialize_registry()
    first = Scope(name="model")
    assert dict(Scope.registry) == {"model": first}
    second = Scope(name="model")
    assert Scope.registry["model"] is second
    Scope.initialize_registry()
    assert len(Scope.registry) == 0
    del first, second


def test_assign_queues_views_and_literals_before_the_command_line() -> None:
    scope = Scope()

    @scope.observe(default=True)
    def base(config: ADict) -> None:
        config.lr, config.model = 0.1, "resnet"

    @scope.observe()
    def big(config: ADict) -> None:
        config.model = "vit"

    scope.assign("big")
    scope.assign(["lr=0.5"])
    assert scope.apply(["lr=0.7"]) == {"lr": 0.7, "model": "vit"}  # the real command line comes after
    assert scope.merge_trace.started.argv == ("big", "lr=0.5", "lr=0.7")
    with pytest.raises(CLIArgumentError, match="--lr"):
        scope.assign("--lr")


def test_pause_calls_the_function_with_the_callers_arguments_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "argv", ["train.py"])
    scope = Scope()
    scope.observe({"lr": 0.1}, name="base", default=True)

    @scope
    def train(config: ADict, epochs: int) -> tuple[object, int]:
        return config, epochs

    assert train(3) == ({"lr": 0.1}, 3)
    with scope.pause():
        assert train("mine", 4) == ("mine", 4)
    assert train(5)[0] is scope.config


def test_with_scope_merges_and_gives_the_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "argv", ["train.py", "lr=0.3"])
    scope = Scope()
    scope.observe({"lr": 0.1}, name="base", default=True)
    with scope as config:
        assert config.lr == 0.3
    assert scope.config is config


def test_observe_takes_the_seeds_name_first_spelling() -> None:
    scope = Scope()
    scope.observe("fast", config={"lr": 1.0})

    @scope.observe("tiny", default=True)
    def anything(config: ADict) -> None:
        config.depth = 2

    assert set(scope.views) == {"fast", "tiny"}
    assert scope.apply(["fast"]) == {"lr": 1.0, "depth": 2}


MULTI = """
from ato.adict import ADict
from ato.scope import Scope, parse_args_pythonic

model = Scope(name='model')
data = Scope(name='data')

@model.observe(default=True)
def model_defaults(model):
    model.lr = 0.001
    model.depth = 18

@data.observe(default=True)
def data_defaults(data):
    data.batch = 32

@data.observe()
def small(data):
    data.batch = 4

s = Scope(config=ADict(lr=0.5, name='x'), name='cfg')
s.assign(['lr=0.25'])
parse_args_pythonic()
with model:
    pass
with data:
    pass
print(model.config.lr, model.config.depth, data.config.batch)
with s:
    pass
print(s.config.lr, s.config.name)

@model
def f(model, n):
    return (model if isinstance(model, str) else model.lr, n)

with model.pause():
    print(f('given', 3))
print(f(5))
"""


@pytest.mark.parametrize("argv", [(), ("model.lr=0.1", "data.small"), ("cfg.name=%y%", "model.depth=50")])
def test_parse_args_pythonic_routes_prefixed_keys_to_registered_scopes(tmp_path: Path, argv: tuple[str, ...]) -> None:
    ours = run(sys.executable, tmp_path, MULTI, *argv).stdout
    lines = ours.splitlines()
    assert lines[0].split()[2] == ("4" if "data.small" in argv else "32")
    assert lines[1] == ("0.25 y" if "cfg.name=%y%" in argv else "0.25 x")
    assert run(reference_python(), tmp_path, MULTI, *argv).stdout == ours


def test_parse_args_pythonic_in_process_merges_every_registered_scope(monkeypatch: pytest.MonkeyPatch) -> None:
    Scope.initialize_registry()
    monkeypatch.setattr(sys, "argv", ["train.py", "lr=0.2"])
    scope = Scope()
    scope.observe({"lr": 0.1}, name="base", default=True)
    parse_args_pythonic()
    assert scope.merge_trace.started.argv == ("lr=0.2",) and scope.config.lr == 0.2
    Scope.initialize_registry()


PLAIN_SCOPE_NEXT_TO_A_PARSER = """
import argparse
from ato.scope import Scope

scope = Scope()

@scope.observe(default=True)
def defaults(config):
    config.lr = 0.001
    config.model = 'resnet'

@scope.observe()
def big(config):
    config.model = 'big'

parser = argparse.ArgumentParser()
parser.add_argument('--epochs', type=int, default=10)
args, _ = parser.parse_known_args()

@scope
def train(config):
    print(args.epochs, config.to_dict())

train()
"""


@pytest.mark.parametrize("argv", [("--epochs", "5", "lr=0.1", "big"), ("big", "--epochs=2"), ()])
def test_a_plain_scope_next_to_a_parser_reads_only_its_own_tokens(tmp_path: Path, argv: tuple[str, ...]) -> None:
    ours = run(sys.executable, tmp_path, PLAIN_SCOPE_NEXT_TO_A_PARSER, *argv).stdout
    assert ("'big'" in ours) == ("big" in argv) and "epochs" not in ours.split(" ", 1)[1]  # flags stay argparse's
    assert run(reference_python(), tmp_path, PLAIN_SCOPE_NEXT_TO_A_PARSER, *argv).stdout == ours


def test_parse_args_unpacks_as_the_pair_2_1_7_returned(tmp_path: Path) -> None:
    script = ARGPARSE.replace("args, _ = parser.{method}()", "args, rest = parser.parse_args()")
    ours = run(sys.executable, tmp_path, script, "--epochs", "4", "lr=0.2").stdout
    assert ours == "run 4 4 0 0.2 resnet\n"
    assert run(reference_python(), tmp_path, script, "--epochs", "4", "lr=0.2").stdout == ours


PRINTED = """
from ato.scope import Scope
scope = Scope()

@scope.observe(default=True)
def config(config):
    config.lr = 0.001
    config.model = 'resnet50'
    config.layers = [64, 128]

@scope
def train(config):
    print('trained')

train()
"""


def test_the_built_in_print_view_prints_the_merged_config_and_exits(tmp_path: Path) -> None:
    ours = run(sys.executable, tmp_path, PRINTED, "lr=0.1", "print").stdout
    assert "trained" not in ours and "lr: 0.1" in ours
    assert run(reference_python(), tmp_path, PRINTED, "lr=0.1", "print").stdout == ours


def test_stored_arguments_stand_in_for_the_command_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Scope, "stored_arguments", ["lr=0.3"])
    monkeypatch.setattr(sys, "argv", ["train.py", "lr=0.9"])
    scope = Scope()
    scope.observe({"lr": 0.1}, name="base", default=True)
    assert scope.config.lr == 0.3


def test_setting_scope_config_replaces_it_and_a_run_records_the_difference(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from ato.db_routers.sql.manager import SQLFinder, SQLLogger

    monkeypatch.setattr(sys, "argv", ["train.py"])
    scope = Scope()
    scope.observe({"lr": 0.1, "experiment": {"sql": {"db_path": str(tmp_path / "e.db")}}}, name="base", default=True)
    trial = scope.config.clone()
    trial.lr = 0.5
    scope.config = trial  # as 2.1.7's HyperBand sets each trial's config

    @scope
    def train(config: ADict) -> int:
        with SQLLogger(config) as logger:
            return logger.run()

    run_id = train()
    assert scope.config is trial
    with SQLFinder(trial) as finder:
        assert finder.find_run(run_id).config.lr == 0.5


def test_a_plain_scope_runs_nothing_of_the_parser(tmp_path: Path) -> None:
    script = """
    import argparse
    from ato.scope import Scope

    calls = []
    def counted(text):
        calls.append(text)
        return int(text)

    scope = Scope()
    scope.observe({'lr': 0.1}, name='base', default=True)
    parser = argparse.ArgumentParser()
    parser.add_argument('--epochs', type=counted, default=1)
    parser.add_argument('--tags', nargs='*', default=[])
    args, _ = parser.parse_known_args()

    @scope
    def train(config):
        print(calls, args.tags, config.to_dict())

    train()
    """
    out = run(sys.executable, tmp_path, script, "lr=0.3", "--epochs", "5", "--tags", "a", "b").stdout
    assert out == "['5'] ['a', 'b'] {'lr': 0.3}\n"  # the type= callable ran once: argparse's own parse


def test_a_typed_flag_wins_even_where_it_equals_its_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "argv", ["train.py", "--epochs", "3", "epochs=9"])
    scope = Scope(use_external_parser=True)
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=3)
    parser.parse_args()
    assert scope.config.epochs == 3 and scope.provenance("epochs").winner.step == "argparse_given"

"""Scope in-process: registration, injection, errors, the merge trace, and exact replay."""

from __future__ import annotations

import argparse
import functools
import math
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import anyio
import msgspec
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ato.config.adict import ADict
from ato.config.literals import format_literal
from ato.config.merge_trace import MergeTrace, replay
from ato.config.scope import MultiScope, Scope, active_scopes
from ato.config.structural_hash import structural_hash
from ato.errors import CLIArgumentError, ConfigError, ConfigWarning
from ato.events.codec import decode_event, encode_event
from ato.events.values import encode_value


def make_scope() -> Scope:
    scope = Scope()

    @scope.observe(default=True)
    def defaults(config):  # type: ignore[no-untyped-def]
        config.lr = 0.001
        config.model = ADict(depth=50, layers=[64, 128])

    @scope.observe(priority=1)
    def deep(config):  # type: ignore[no-untyped-def]
        config.model.depth = 101
        config.model.layers.append(256)  # an in-place mutation, still recorded

    return scope


def test_views_can_be_mappings_namespaces_and_omegaconf() -> None:
    omegaconf = pytest.importorskip("omegaconf")
    scope = Scope()
    scope.observe({"model": {"depth": 50}}, name="base", default=True)
    scope.observe(argparse.Namespace(lr=0.1), name="args", default=True)
    scope.observe(omegaconf.OmegaConf.create({"model": {"width": 2}}), name="hydra", default=True)
    config = scope.apply([])
    assert config == {"model": {"depth": 50, "width": 2}, "lr": 0.1}
    assert [step.step for step in scope.merge_trace.steps] == ["base", "args", "hydra"]


def test_observing_a_mapping_needs_a_name() -> None:
    with pytest.raises(ConfigError, match="given a name"):
        Scope().observe({"lr": 0.1})


def test_injection_by_parameter_name_in_any_position() -> None:
    scope = make_scope()
    scope.apply([])

    @scope
    def train(epochs, config, *, verbose=False):  # type: ignore[no-untyped-def]
        return epochs, config.lr, verbose

    assert train(3) == (3, 0.001, False)
    assert train(3, verbose=True) == (3, 0.001, True)
    other = ADict(lr=9)
    assert train(epochs=1, config=other) == (1, 9, False)  # a config passed by name wins
    with pytest.raises(TypeError, match=r"train\(\): too many positional arguments \(the scope fills config\)"):
        train(3, other)  # positional arguments fill the other parameters, as in the seed


def test_positional_arguments_fill_the_parameters_the_scope_does_not() -> None:
    scope = make_scope()
    scope.apply([])

    @scope
    def first(config, epochs):  # type: ignore[no-untyped-def]
        return config.lr, epochs

    @scope
    def middle(a, config, b, *rest, **extra):  # type: ignore[no-untyped-def]
        return a, config.lr, b, rest, extra

    @scope
    def last(a, b=2, config=None):  # type: ignore[no-untyped-def]
        return a, b, config.lr

    assert first(10) == (0.001, 10) and first(epochs=10) == (0.001, 10)
    assert middle(1, 2) == (1, 0.001, 2, (), {}) and middle(1, 2, 3, 4, k=5) == (1, 0.001, 2, (3, 4), {"k": 5})
    assert middle(b=2, a=1) == (1, 0.001, 2, (), {})
    assert last(1) == (1, 2, 0.001) and last(1, 3) == (1, 3, 0.001) and last(a=1, b=4) == (1, 4, 0.001)


def test_config_is_merged_once_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.argv", ["train.py", "lr=0.5"])
    calls = []
    scope = Scope()

    @scope.observe(default=True)
    def defaults(config):  # type: ignore[no-untyped-def]
        calls.append(1)
        config.lr = 0.1

    @scope
    def step(config):  # type: ignore[no-untyped-def]
        return config.lr

    assert [step() for _ in range(3)] == [0.5, 0.5, 0.5]
    assert calls == [1]


def test_function_without_the_scope_parameter_runs_as_it_is() -> None:
    scope = Scope(name="model")

    @scope
    def forward(net, x):  # type: ignore[no-untyped-def]
        return net(x), active_scopes()

    assert forward(lambda x: x * 2, 3) == (6, (scope,))


def test_async_functions_get_the_config_and_see_their_scope() -> None:
    scope = make_scope()
    scope.apply([])

    @scope
    async def train(config):  # type: ignore[no-untyped-def]
        await anyio.sleep(0)
        return config.lr, active_scopes()

    lr, active = anyio.run(train)
    assert lr == 0.001 and active == (scope,)
    assert active_scopes() == ()


def test_chain_cycle_is_refused_at_decoration() -> None:
    scope = Scope()

    @scope.observe(chain_with="b")
    def a(config):  # type: ignore[no-untyped-def]
        pass

    with pytest.raises(ConfigError, match="chain_with cycle in scope 'config': a -> b -> a"):

        @scope.observe(chain_with="a")
        def b(config):  # type: ignore[no-untyped-def]
            pass

    assert "b" not in scope.views


def test_duplicate_and_reserved_view_names() -> None:
    scope = Scope()
    scope.observe({"a": 1}, name="base")
    with pytest.raises(ConfigError, match="already has a view named 'base'"):
        scope.observe({"a": 2}, name="base")
    with pytest.raises(ConfigError, match="'manual' is reserved"):
        scope.observe({"a": 2}, name="manual")


def test_cli_errors() -> None:
    scope = make_scope()
    with pytest.raises(CLIArgumentError, match="lr is a float, not a mapping, so lr.x cannot be set"):
        scope.apply(["lr.x=1"])
    with pytest.raises(CLIArgumentError, match="did you mean 'deep'"):
        scope.apply(["dep"])


def test_new_key_close_to_an_existing_one_warns() -> None:
    scope = make_scope()
    with pytest.warns(ConfigWarning, match="adds a new key 'lrr'.*did you mean 'lr'"):
        config = scope.apply(["lrr=0.1"])
    assert config.lrr == 0.1
    config = scope.apply(["dataset=cifar10"])  # far from every key: no warning (errors are on)
    assert config.dataset == "cifar10"


def test_error_in_a_view_names_the_view() -> None:
    scope = Scope()

    @scope.observe(default=True)
    def broken(config):  # type: ignore[no-untyped-def]
        config.lr = config.missing

    with pytest.raises(AttributeError) as info:
        scope.apply([])
    assert "while applying view 'broken' of scope 'config'" in info.value.__notes__


def test_lazy_outside_a_view_is_an_error() -> None:
    with pytest.raises(ConfigError, match="only works inside a view"), Scope.lazy():
        pass


def test_nested_lazy_blocks_and_writes_outside_them() -> None:
    scope = Scope()

    @scope.observe(default=True)
    def view(config):  # type: ignore[no-untyped-def]
        config.a = 1
        config.log = [1]
        with Scope.lazy():
            config.b = config.a * 10
            with Scope.lazy():
                config.c = config.b + 1
        config.after = True

    config = scope.apply(["a=2"])
    assert config == {"a": 2, "log": [1], "b": 20, "c": 21, "after": True}
    kinds = [(s.step, s.kind) for s in scope.merge_trace.steps]
    assert kinds == [("view", "default"), ("a=2", "cli"), ("view", "lazy_part")]
    lazy_part = scope.merge_trace.steps[-1]
    assert sorted(c.path for c in lazy_part.changes) == [("b",), ("c",)]
    assert replay(scope.merge_trace).exact


def test_trace_records_in_place_mutations_and_provenance() -> None:
    scope = make_scope()
    scope.apply(["deep", "model.depth=152"])
    steps = scope.merge_trace.steps
    assert [(s.step, s.kind, s.priority) for s in steps] == [
        ("defaults", "default", 0),
        ("deep", "named", 1),
        ("model.depth=152", "cli", None),
    ]
    layers = [c for c in steps[1].changes if c.path == ("model", "layers")]
    assert layers[0].old == ["list", [64, 128]] and layers[0].new == ["list", [64, 128, 256]]
    history = scope.provenance("model.depth")
    assert [(step.step, change.old, change.new) for step, change in history.changes] == [
        ("defaults", msgspec.UNSET, 50),
        ("deep", 50, 101),
        ("model.depth=152", 101, 152),
    ]
    assert history.winner is not None and history.winner.step == "model.depth=152"


def test_replacing_a_mapping_with_a_value_and_back_replays() -> None:
    scope = Scope()
    scope.observe({"model": {"depth": 50, "norm": {"eps": 1e-5}}}, name="a", default=True)

    @scope.observe(default=True, priority=1)
    def b(config):  # type: ignore[no-untyped-def]
        config.model = "resnet"
        config.empty = ADict()

    @scope.observe(default=True, priority=2)
    def c(config):  # type: ignore[no-untyped-def]
        config.model = ADict(kind=ADict())
        del config.empty

    config = scope.apply([])
    assert config == {"model": {"kind": {}}}
    result = replay(scope.merge_trace)
    assert result.exact, result.differences
    assert result.config == config


def test_awkward_values_replay_exactly() -> None:
    scope = Scope()

    @scope.observe(default=True)
    def values(config):  # type: ignore[no-untyped-def]
        config.pair = (1, 2.0)
        config.int_not_float = 1
        config.float_not_int = 1.0
        config.sum = 0.1 + 0.2
        config.nothing = None
        config.flag = True
        config.neg_zero = -0.0
        config.nan = float("nan")
        config.np_f32 = np.float32(0.1)
        config.np_i64 = np.int64(7)
        config.array = np.arange(6, dtype=np.float16).reshape(2, 3)
        config.big = 2**100
        config.nested = [{"a": (None, [1])}]
        config["frozen"] = frozenset({1, 2})  # "frozen" is also a property (2.1.7), so by item

    config = scope.apply([])
    result = replay(scope.merge_trace)
    assert result.exact, result.differences
    again = result.config
    assert type(again.pair) is tuple and type(again.int_not_float) is int and type(again.float_not_int) is float
    assert struct.pack("<d", again.sum) == struct.pack("<d", 0.1 + 0.2)
    assert math.copysign(1, again.neg_zero) == -1 and math.isnan(again.nan)
    assert type(again.np_f32) is np.float32 and again.np_f32 == config.np_f32
    assert again.array.dtype == np.float16 and (again.array == config.array).all()
    assert again.big == 2**100 and again["frozen"] == frozenset({1, 2})
    assert again.get_structural_hash() == config.get_structural_hash()


def test_unencodable_values_are_flagged_not_guessed() -> None:
    class Model:
        def __repr__(self) -> str:
            return "Model()"

    scope = Scope()
    scope.observe({"model": {"head": Model()}, "lr": 0.1}, name="base", default=True)
    scope.apply([])
    result = replay(scope.merge_trace)
    assert not result.exact
    assert result.not_replayable == ["model.head (set by base)"]
    assert repr(result.config.model.head) == "<not replayable tests.config.test_scope.test_unencodable_values_are_flagged_not_guessed.<locals>.Model: Model()>"


def test_multiscope_routing_and_errors() -> None:
    a, b = Scope(name="a"), Scope(name="b")
    multi = MultiScope(a, b)
    a.observe({"x": 1}, name="base", default=True)
    b.observe({"x": 2}, name="base", default=True)
    a.observe({"x": 10}, name="big")
    b.observe({"y": 1}, name="only_b")
    configs = multi.apply(["big", "only_b", "b.x=3", "a.base"])
    assert configs == {"a": {"x": 10}, "b": {"x": 3, "y": 1}}
    assert a.config == {"x": 10}
    with pytest.raises(CLIArgumentError, match="view 'base' is in several scopes; write a.base or b.base"):
        multi.apply(["base"])
    with pytest.raises(CLIArgumentError, match="'a' is a scope; set a key inside it"):
        multi.apply(["a=1"])
    with pytest.raises(CLIArgumentError, match="did you mean 'only_b'"):
        multi.apply(["only_c"])
    with pytest.raises(ConfigError, match="share the name 'a'"):
        MultiScope(Scope(name="a"), Scope(name="a"))


# -- the replay property --------------------------------------------------------------------------
_keys = st.sampled_from(["a", "b", "c", "lr"])
_paths = st.lists(_keys, min_size=1, max_size=3).map(tuple)
_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True)
    | st.text(max_size=4)
)
_values = st.recursive(
    _scalars | st.builds(np.float32, st.floats(width=32)) | st.builds(np.int32, st.integers(-100, 100)),
    lambda children: st.lists(children, max_size=3)
    | st.lists(children, max_size=3).map(tuple)
    | st.dictionaries(_keys, children, max_size=3),
    max_leaves=8,
)
_ops = st.lists(
    st.one_of(
        st.tuples(st.just("set"), _paths, _values),
        st.tuples(st.just("delete"), _paths),
        st.tuples(st.just("append"), _paths, _values),
    ),
    max_size=5,
)


def _run_op(config: ADict, op: tuple) -> None:  # type: ignore[type-arg]
    kind, path = op[0], op[1]
    target = config
    for key in path[:-1]:
        if not isinstance(target.get(key), dict):
            target[key] = ADict()
        target = target[key]
    if kind == "set":
        target[path[-1]] = op[2]
    elif kind == "delete":
        target.pop(path[-1], None)
    elif isinstance(target.get(path[-1]), list):
        target[path[-1]].append(op[2])


def _cli_literals() -> st.SearchStrategy[str]:
    cli_values = st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=4),
        lambda children: st.lists(children, max_size=3) | st.lists(children, max_size=3).map(tuple),
        max_leaves=5,
    )
    return st.tuples(_paths, cli_values).map(lambda pv: f"{'.'.join(pv[0])}={format_literal(pv[1])}")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    views=st.lists(
        st.tuples(_ops, st.booleans(), st.integers(0, 2), st.booleans(), _ops), min_size=1, max_size=4
    ),
    cli=st.lists(_cli_literals(), max_size=3),
)
def test_replay_of_any_merge_is_exact(views: list, cli: list[str]) -> None:  # type: ignore[type-arg]
    scope = Scope()
    for index, (ops, lazy, priority, with_block, block_ops) in enumerate(views):

        def view(config, ops=ops, with_block=with_block, block_ops=block_ops):  # type: ignore[no-untyped-def]
            for op in ops:
                _run_op(config, op)
            if with_block:
                with Scope.lazy():
                    for op in block_ops:
                        _run_op(config, op)

        scope.observe(name=f"v{index}", default=True, priority=priority, lazy=lazy)(view)
    try:
        config = scope.apply(cli)
    except CLIArgumentError:
        return  # a CLI key through a non-mapping value: refused, nothing to replay
    trace = scope.merge_trace
    assert trace.completed is not None
    assert msgspec.msgpack.encode(trace.completed.config) == msgspec.msgpack.encode(encode_value(config))
    assert trace.completed.structural_hash == structural_hash(config)
    # The trace survives encoding, as it will in the log, and replays from the decoded events alone.
    decoded = MergeTrace.from_events(decode_event(encode_event(event)) for event in trace.events)
    result = replay(decoded)
    assert result.exact, result.differences
    assert result.config.get_structural_hash() == config.get_structural_hash()


def test_a_notebook_kernels_own_arguments_are_not_read_as_the_command_line(tmp_path: Path) -> None:
    launcher = tmp_path / "ipykernel_launcher.py"  # how Jupyter starts a kernel: its argv[0]
    launcher.write_text(textwrap.dedent("""
        from ato.scope import Scope
        scope = Scope()

        @scope.observe(default=True)
        def defaults(config):
            config.lr = 0.1

        @scope
        def cell(config):
            return config.lr

        print(cell())
    """))
    for kernel_args in (["-f", str(tmp_path / "kernel-1.json")],  # Jupyter
                        ["--ip=127.0.0.1", "--stdin=9003", f"--f={tmp_path / 'kernel-2.json'}"]):  # VS Code
        result = subprocess.run([sys.executable, str(launcher), *kernel_args], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0 and result.stdout.strip() == "0.1", result.stderr
    plain = tmp_path / "train.py"
    plain.write_text(launcher.read_text())
    refused = subprocess.run([sys.executable, str(plain), "-f", "x.json"], capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2  # an ordinary script still reads its command line


@pytest.mark.parametrize(
    ("argv0", "ours"),
    [
        ("python -m unittest", False),
        ("/venv/bin/pytest", False),
        ("/usr/lib/python3/site-packages/pytest/__main__.py", False),
        ("/usr/lib/python3.11/unittest/__main__.py", False),
        ("train.py", True),
        ("/work/pytest_helpers/train.py", True),
    ],
)
def test_a_test_runners_arguments_are_not_read_as_the_command_line(
    monkeypatch: pytest.MonkeyPatch, argv0: str, ours: bool
) -> None:
    from ato.config.external_parser import command_line

    monkeypatch.setattr(sys, "argv", [argv0, "-q", "tests/test_x.py"])
    assert command_line() == (["-q", "tests/test_x.py"] if ours else [])


def test_injection_edge_cases_of_python_signatures() -> None:
    scope = make_scope()
    scope.apply([])

    @scope
    def positional_only(a=1, config=None, /):  # type: ignore[no-untyped-def]
        return a, config.lr

    @scope
    def config_first(config, /, **extra):  # type: ignore[no-untyped-def]
        return config.lr, extra

    assert positional_only() == (1, 0.001) and positional_only(5) == (5, 0.001)
    assert config_first(config=5) == (0.001, {"config": 5})  # a keyword cannot reach a positional-only
    partial = scope(functools.partial(lambda config, x, y: (config.lr, x, y), y=5))
    assert partial(1) == (0.001, 1, 5)
    with pytest.raises(TypeError, match="the scope fills config"):
        partial(1, 2, 3)

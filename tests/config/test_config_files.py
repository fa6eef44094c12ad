"""Config files: every format round-trips what it can hold, bad files name file and line."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ato.config import xyz
from ato.config.adict import ADict
from ato.errors import ConfigFileError
from tests.conftest import reference_python

SAMPLE = ADict(
    lr=0.001,
    epochs=100,
    model="resnet50",
    pretrained=True,
    note="0.5",
    tags=["a", "b c"],
    data=ADict(root="/data", sizes=[32, 64], aug=ADict(flip=True)),
)


@pytest.mark.parametrize("suffix", [".json", ".yaml", ".yml", ".toml", ".xyz", ".py"])
def test_round_trip_of_common_types(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"config{suffix}"
    SAMPLE.dump(path)
    loaded = ADict.from_file(path)
    assert loaded == SAMPLE
    assert type(loaded.data.aug) is ADict
    assert loaded.get_structural_hash() == SAMPLE.get_structural_hash()


@pytest.mark.parametrize("suffix", [".xyz", ".py"])
def test_literal_formats_keep_tuples_none_and_non_finite_floats(tmp_path: Path, suffix: str) -> None:
    config = ADict(stem=(3, 64), nothing=None, loss=math.inf, neg=-math.inf, odd=math.nan, zero=-0.0,
                   nested=[(1, {"a": None})], empty={}, no_items=[], key_with_colon={"a:b": 1})
    path = tmp_path / f"c{suffix}"
    config.dump(path)
    loaded = ADict.from_file(path)
    assert loaded.stem == (3, 64) and loaded.nothing is None
    assert loaded.loss == math.inf and loaded.neg == -math.inf and math.isnan(loaded.odd)
    assert math.copysign(1, loaded.zero) == -1
    assert loaded.nested == [(1, {"a": None})] and loaded.empty == {} and loaded.no_items == []
    assert loaded.key_with_colon == {"a:b": 1}


def test_numpy_scalars_are_written_as_python_numbers(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    ADict(lr=np.float32(0.5), n=np.int64(3), w=np.arange(3)).dump(path)
    assert ADict.from_file(path) == {"lr": 0.5, "n": 3, "w": [0, 1, 2]}


def test_toml_refuses_none_instead_of_dropping_it(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    with pytest.raises(ConfigFileError, match=r"TOML cannot hold None \(at model.weights\)"):
        ADict(model={"weights": None}).dump(path)
    assert not path.exists()


def test_unwritable_value_is_refused_with_its_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigFileError, match=r"cannot write object value at model.head"):
        ADict(model={"head": object()}).dump(tmp_path / "c.yaml")


def test_unknown_extension_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigFileError, match="unknown config format '.ini'"):
        ADict.from_file(tmp_path / "c.ini")


@pytest.mark.parametrize(
    ("name", "text", "line", "fragment"),
    [
        ("bad.json", '{\n  "lr": 0.1,\n  "epochs": \n}\n', 4, "malformed JSON"),
        ("bad.yaml", "lr: 0.1\nmodel:\n  depth: [1, 2\n", 4, "malformed YAML"),
        ("bad.yml", "a: 1\n b: 2\n", 2, "malformed YAML"),
        ("bad.toml", "lr = 0.1\nepochs = = 3\n", 2, "malformed TOML"),
        ("bad.xyz", "lr: 0.1\nmodel:\n  depth: 50\n    width: 2\n", 4, "unexpected indentation"),
        ("bad2.xyz", "layers:\n  0) 1\n  2) 3\n", 3, "out of order"),
        ("bad3.xyz", "lr: 1\nlr: 2\n", 2, "duplicate key 'lr'"),
        ("bad.py", "lr = 0.1\nepochs = (\n", 2, "invalid Python"),
        ("bad2.py", "lr = 0.1\nepochs = 1 / 0\n", 2, "ZeroDivisionError"),
    ],
)
def test_malformed_files_name_the_file_and_line(
    tmp_path: Path, name: str, text: str, line: int, fragment: str
) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ConfigFileError) as info:
        ADict.from_file(path)
    assert info.value.path == str(path)
    assert info.value.line == line
    assert str(info.value).startswith(f"{path}, line {line}: ")
    assert fragment in str(info.value)


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    path = tmp_path / "list.yaml"
    path.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigFileError, match="top level must be a mapping, not list"):
        ADict.from_file(path)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigFileError, match="cannot read"):
        ADict.from_file(tmp_path / "nope.yaml")


def test_yaml_is_loaded_safely(tmp_path: Path) -> None:
    path = tmp_path / "evil.yaml"
    path.write_text("x: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(ConfigFileError, match="malformed YAML"):
        ADict.from_file(path)


def test_python_config_keeps_data_and_drops_modules_functions_and_private_names(tmp_path: Path) -> None:
    path = tmp_path / "c.py"
    path.write_text("import math\n_private = 1\ndef helper(): pass\nlr = math.sqrt(4)\nmodel = dict(depth=50)\n")
    assert ADict.from_file(path) == {"lr": 2.0, "model": {"depth": 50}}


def test_mm_config_base_inheritance_merges_and_deletes(tmp_path: Path) -> None:
    (tmp_path / "base").mkdir()
    (tmp_path / "base" / "model.py").write_text(
        "model = dict(type='ResNet', depth=50, norm=dict(type='BN', eps=1e-5))\noptimizer = dict(lr=0.1, momentum=0.9)\n"
    )
    (tmp_path / "base" / "schedule.yaml").write_text("epochs: 12\noptimizer:\n  weight_decay: 0.0001\n")
    (tmp_path / "exp.py").write_text(
        "_base_ = ['base/model.py', 'base/schedule.yaml']\n"
        "model = dict(depth=101, norm=dict(_delete_=True, type='GN', groups=32))\n"
        "optimizer = dict(lr=0.02)\n"
    )
    config = ADict.from_mm_config(tmp_path / "exp.py")
    assert config == {
        "model": {"type": "ResNet", "depth": 101, "norm": {"type": "GN", "groups": 32}},
        "optimizer": {"lr": 0.02, "momentum": 0.9, "weight_decay": 0.0001},
        "epochs": 12,
    }
    assert ADict.from_file(tmp_path / "exp.py") == config


def test_base_chains_and_cycles(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text('{"_base_": "b.json", "x": 1}')
    (tmp_path / "b.json").write_text('{"_base_": "c.json", "y": 2}')
    (tmp_path / "c.json").write_text('{"z": 3, "x": 0}')
    assert ADict.from_file(tmp_path / "a.json") == {"z": 3, "x": 1, "y": 2}
    (tmp_path / "c.json").write_text('{"_base_": "a.json"}')
    with pytest.raises(ConfigFileError, match="_base_ inheritance cycle"):
        ADict.from_file(tmp_path / "a.json")
    (tmp_path / "d.json").write_text('{"_base_": "missing.json"}')
    with pytest.raises(ConfigFileError, match="_base_ file 'missing.json' not found"):
        ADict.from_file(tmp_path / "d.json")


def test_xyz_reads_the_manual_style_by_hand() -> None:
    text = """
# a comment
lr: 0.001
model: resnet50
description: Learning rate for optimizer
layers:
  0) 64
  1) 128
stages:
  0)
    depth: 2
backbone:
  stem: (3, 64)
  quoted: '0.5'
"""
    assert xyz.loads(text) == {
        "lr": 0.001,
        "model": "resnet50",
        "description": "Learning rate for optimizer",
        "layers": [64, 128],
        "stages": [{"depth": 2}],
        "backbone": {"stem": (3, 64), "quoted": "0.5"},
    }


_keys = st.text(min_size=1, max_size=6).filter(lambda k: "\n" not in k and "\r" not in k)
_leaves = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=8)
    | st.tuples(st.integers(), st.text(max_size=3))
)
_trees = st.recursive(
    _leaves,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(_keys, children, max_size=3),
    max_leaves=15,
)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(_keys, _trees, max_size=5))
def test_xyz_round_trip_is_lossless(data: dict) -> None:  # type: ignore[type-arg]
    loaded = xyz.loads(xyz.dumps(data))
    assert loaded == data
    assert ADict(loaded).get_structural_hash() == ADict(data).get_structural_hash()


@pytest.mark.parametrize("suffix", [".xyz", ".py"])
def test_integers_too_long_for_decimal_text_round_trip_as_hex(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"c{suffix}"
    config = ADict(big=10**5000 + 1, neg=[-(10**4400)], small=12)
    config.dump(path)
    assert "0x" in path.read_text()
    assert ADict.from_file(path) == config


def test_load_config_threads_allow_outside_through_adict(tmp_path: Path) -> None:
    (tmp_path / "shared.json").write_text('{"seed": 1}')
    (tmp_path / "exp").mkdir()
    (tmp_path / "exp" / "a.json").write_text('{"_base_": "../shared.json", "lr": 0.1}')
    with pytest.raises(ConfigFileError, match="outside the config tree"):
        ADict.from_file(tmp_path / "exp" / "a.json")
    assert ADict.from_file(tmp_path / "exp" / "a.json", allow_outside=True) == {"seed": 1, "lr": 0.1}


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(_trees)
def test_xyz_round_trips_any_top_level_value_as_ato_2_1_7_allowed(data: object) -> None:
    from ato import xyz

    expected = {} if data == {} else data  # an empty mapping is the empty document
    assert repr(xyz.loads(xyz.dumps(data))) == repr(expected)  # repr: a tuple must stay a tuple


def test_xyz_dump_and_load_take_paths_and_open_files(tmp_path: Path) -> None:
    import io

    from ato import xyz

    data = {"lr": 0.1, "layers": [1, [2, 3]], "name": "a: b"}
    xyz.dump(data, tmp_path / "c.xyz")
    assert xyz.load(tmp_path / "c.xyz") == data and xyz.load(str(tmp_path / "c.xyz")) == data
    buffer = io.StringIO()
    xyz.dump([1, "x"], buffer)
    buffer.seek(0)
    assert xyz.load(buffer) == [1, "x"]


WRITTEN_BY_2_1_7 = """
import json, sys
from ato import xyz
values = [{'a': 1, 'b': {'c': [1, 2], 'd': 'x y'}, 'e': None, 'f': 1.5},
          [1, [2, 3], {'k': 'v'}], 5, 'text', [], {'empty': {}, 'none': []}]
json.dump([xyz.dumps(value) for value in values], sys.stdout)
"""


def test_xyz_reads_what_ato_2_1_7_wrote(tmp_path: Path) -> None:
    import json
    import os
    import subprocess

    from ato import xyz

    reference = reference_python()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    written = json.loads(subprocess.run([reference, "-c", WRITTEN_BY_2_1_7], capture_output=True, text=True,
                                        check=True, timeout=120, cwd=tmp_path, env=env).stdout)
    assert [xyz.loads(text) for text in written] == [
        {"a": 1, "b": {"c": [1, 2], "d": "x y"}, "e": None, "f": 1.5},
        [1, [2, 3], {"k": "v"}], 5, "text", [], {"empty": {}, "none": []},
    ]

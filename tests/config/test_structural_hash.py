"""Structural hashes: keys and types count, values and key order do not, stable everywhere."""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ato.config.adict import ADict
from ato.config.structural_hash import shape_of, structural_hash


def test_seed_same_structure_different_values() -> None:
    config1 = ADict(lr=0.1, epochs=100, model="resnet50")
    config2 = ADict(lr=0.01, epochs=200, model="resnet101")
    config3 = ADict(lr=0.1, epochs="100", model="resnet50")
    assert config1.get_structural_hash() == config2.get_structural_hash()
    assert config1.get_structural_hash() != config3.get_structural_hash()


@pytest.mark.parametrize(
    ("changed", "why"),
    [
        ({"lr": 0.1, "epochs": 100}, "a key disappeared"),
        ({"lr": 0.1, "epochs": 100, "model": "r", "extra": 1}, "a key appeared"),
        ({"lr": 0.1, "epochs": 100.0, "model": "r"}, "int became float"),
        ({"lr": 0.1, "epochs": True, "model": "r"}, "int became bool"),
        ({"lr": 0.1, "epochs": None, "model": "r"}, "int became None"),
        ({"lr": 0.1, "epochs": 100, "model": {"name": "r"}}, "a leaf became a mapping"),
        ({"lr": 0.1, "epochs": 100, "Model": "r"}, "a key was renamed"),
        ({"lr": 0.1, "epochs": [100], "model": "r"}, "a leaf became a list"),
        ({"lr": 0.1, "epochs": (100,), "model": "r"}, "a leaf became a tuple"),
        ({"lr": 0.1, "epochs": np.int64(100), "model": "r"}, "int became numpy int64"),
    ],
)
def test_hash_changes_with_structure(changed: dict, why: str) -> None:  # type: ignore[type-arg]
    base = ADict(lr=0.1, epochs=100, model="r")
    assert base.get_structural_hash() != ADict(changed).get_structural_hash(), why


def test_list_length_and_element_types_are_structure() -> None:
    assert structural_hash({"layers": [64, 128]}) == structural_hash({"layers": [1, 2]})
    assert structural_hash({"layers": [64, 128]}) != structural_hash({"layers": [64, 128, 256]})
    assert structural_hash({"layers": [64, 128]}) != structural_hash({"layers": [64, 128.0]})


def test_nested_key_order_and_mapping_class_do_not_count() -> None:
    a = {"model": {"depth": 50, "width": 2}, "lr": 0.1}
    b = ADict(lr=0.5, model=ADict(width=3, depth=18))
    assert structural_hash(a) == b.get_structural_hash()


def test_non_string_keys_differ_from_their_string_form() -> None:
    assert structural_hash({1: "a"}) != structural_hash({"1": "a"})


def test_sets_hash_independently_of_iteration_order() -> None:
    assert structural_hash({"s": {1, "a"}}) == structural_hash({"s": {"b", 2}})
    assert structural_hash({"s": {1, "a"}}) != structural_hash({"s": {1, 2}})


def test_numpy_array_dtype_is_structure() -> None:
    f32 = {"w": np.zeros(3, dtype=np.float32)}
    assert structural_hash(f32) == structural_hash({"w": np.ones(5, dtype=np.float32)})
    assert structural_hash(f32) != structural_hash({"w": np.zeros(3, dtype=np.float64)})


def test_shape_is_documented_form() -> None:
    assert shape_of({"a": 1, "b": [1.0, "x"], "c": {2: None}}) == {
        "a": "int",
        "b": ["list", "float", "str"],
        "c": {"<int>2": "NoneType"},
    }


def test_argparse_and_omegaconf_hash_like_the_plain_dict() -> None:
    omegaconf = pytest.importorskip("omegaconf")
    plain = {"lr": 0.1, "model": {"depth": 50, "tags": ["a"]}}
    from_conf = ADict(omegaconf.OmegaConf.create(plain))
    assert from_conf.get_structural_hash() == structural_hash(plain)
    namespace = argparse.Namespace(lr=0.1, epochs=3)
    assert ADict(namespace).get_structural_hash() == structural_hash({"lr": 0.5, "epochs": 1})


def test_hash_is_stable_across_processes_and_releases() -> None:
    # A golden value: if this changes, every stored structural hash in users' databases breaks.
    code = (
        "from ato.adict import ADict;"
        "print(ADict(lr=0.1, epochs=100, model='resnet50', opt={'name': 'adam', 'betas': (0.9, 0.99)})"
        ".get_structural_hash())"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONHASHSEED": seed},
        ).stdout.strip()
        for seed in ("0", "1", "random")
    }
    # The documented algorithm, written out independently: sorted compact JSON of the shape, SHA-256.
    shape = {
        "lr": "float",
        "epochs": "int",
        "model": "str",
        "opt": {"name": "str", "betas": ["tuple", "float", "float"]},
    }
    documented = hashlib.sha256(
        json.dumps(shape, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()
    assert outputs == {documented}


_leaves = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=3)
_configs = st.recursive(
    st.dictionaries(st.text(max_size=4), _leaves, max_size=4),
    lambda children: st.dictionaries(st.text(max_size=4), children | _leaves, max_size=4),
    max_leaves=25,
)


def _revalue(value: object) -> object:
    """Same structure, different values of the same types."""
    if isinstance(value, dict):
        return {k: _revalue(v) for k, v in reversed(list(value.items()))}
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value + 1
    if isinstance(value, str):
        return value + "x"
    return value


@given(_configs)
def test_values_and_key_order_never_change_the_hash(config: dict) -> None:  # type: ignore[type-arg]
    assert structural_hash(_revalue(config)) == ADict(config).get_structural_hash()

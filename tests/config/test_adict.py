"""ADict: construction, access, auto-nesting, updates, freezing, copies and pickling."""

from __future__ import annotations

import argparse
import copy
import json
import pickle

import pytest

from ato.config.adict import ADict
from ato.errors import FrozenConfigError


def test_construction_from_kwargs_mapping_and_pairs() -> None:
    assert ADict(lr=0.1) == {"lr": 0.1}
    assert ADict({"lr": 0.1}, epochs=3) == {"lr": 0.1, "epochs": 3}
    assert ADict([("lr", 0.1), ("epochs", 3)]) == {"lr": 0.1, "epochs": 3}
    assert ADict(argparse.Namespace(lr=0.1)) == {"lr": 0.1}


def test_nested_mappings_become_adicts_also_inside_lists_and_tuples() -> None:
    config = ADict(model={"backbone": {"depth": 50}}, stages=[{"a": 1}, 2], pair=({"b": 2},))
    assert type(config.model) is ADict
    assert config.model.backbone.depth == 50
    assert type(config.stages[0]) is ADict and config.stages[0].a == 1
    assert type(config.pair) is tuple and type(config.pair[0]) is ADict
    config.extra = {"c": {"d": 1}}
    assert config.extra.c.d == 1


def test_lists_without_mappings_are_stored_as_they_are() -> None:
    layers = [64, 128]
    config = ADict(layers=layers)
    assert config.layers is layers


def test_attribute_and_item_access_agree() -> None:
    config = ADict()
    config.lr = 0.1
    config["epochs"] = 3
    assert config["lr"] == config.lr == 0.1
    assert config.epochs == 3
    del config.lr
    assert "lr" not in config


def test_missing_key_raises_attribute_error_naming_it() -> None:
    config = ADict(lr=0.1)
    with pytest.raises(AttributeError, match="'batch_size'"):
        config.batch_size  # noqa: B018
    assert getattr(config, "batch_size", 32) == 32
    assert not hasattr(config, "batch_size")


def test_seed_auto_nesting_at_any_depth() -> None:
    config = ADict.auto()
    config.model.backbone.layers = [64, 128, 256]
    config.a.b.c.d.e = 1
    assert config == {"model": {"backbone": {"layers": [64, 128, 256]}}, "a": {"b": {"c": {"d": {"e": 1}}}}}
    assert type(config.model.backbone) is ADict


def test_auto_does_not_create_private_or_dunder_names() -> None:
    config = ADict.auto()
    with pytest.raises(AttributeError):  # IPython probes such names (_repr_html_ is a real method now)
        config._repr_latex_  # noqa: B018
    with pytest.raises(AttributeError):
        config._private  # noqa: B018
    assert config == {}


def test_plain_adict_does_not_auto_create() -> None:
    config = ADict()
    with pytest.raises(AttributeError):
        config.model.backbone = 1  # noqa: B018
    assert config == {}


def test_keys_named_like_methods_work_through_item_access() -> None:
    config = ADict({"items": 3, "keys": "k", "update": True, "copy": [1]})
    assert config["items"] == 3 and config["keys"] == "k"
    assert callable(config.items)  # the attribute stays the method
    config["update"] = False
    assert config["update"] is False
    with pytest.raises(AttributeError, match=r"config\['items'\] = \.\.\."):
        config.items = 4
    assert config["items"] == 3
    assert sorted(config.keys()) == ["copy", "items", "keys", "update"]


def test_seed_update_if_absent_only_adds_missing_keys() -> None:
    config = ADict(lr=0.001, model=ADict(depth=50))
    config.update_if_absent(lr=0.01, scheduler="cosine", model={"depth": 101, "width": 2})
    assert config == {"lr": 0.001, "scheduler": "cosine", "model": {"depth": 50, "width": 2}}


def test_update_replaces_and_recursive_update_merges() -> None:
    config = ADict(model=ADict(depth=50, width=1), lr=0.1)
    config.update({"model": {"depth": 101}})
    assert config.model == {"depth": 101}
    config = ADict(model=ADict(depth=50, width=1), lr=0.1)
    config.update({"model": {"depth": 101}}, recursive=True, lr=0.2)
    assert config == {"model": {"depth": 101, "width": 1}, "lr": 0.2}
    assert type(config.model) is ADict


def test_or_returns_an_adict() -> None:
    merged = ADict(a=1) | {"b": {"c": 2}}
    assert type(merged) is ADict and merged.b.c == 2


@pytest.mark.parametrize(
    "write",
    [
        lambda c: setattr(c, "lr", 1),
        lambda c: c.__setitem__("lr", 1),
        lambda c: c.__delitem__("lr"),
        lambda c: c.pop("lr"),
        lambda c: c.popitem(),
        lambda c: c.clear(),
        lambda c: c.update(lr=1),
        lambda c: c.update_if_absent(new=1),
        lambda c: c.setdefault("new", 1),
        lambda c: setattr(c.model, "depth", 1),
        lambda c: c.stages[0].__setitem__("k", 2),
    ],
)
def test_frozen_adict_refuses_every_write_naming_the_key(write) -> None:  # type: ignore[no-untyped-def]
    config = ADict(lr=0.1, model=ADict(depth=50), stages=[{"k": 1}]).freeze()
    before = config.to_dict()
    with pytest.raises(FrozenConfigError, match="frozen"):
        write(config)
    assert config.to_dict() == before


def test_frozen_error_names_the_key_and_fix() -> None:
    config = ADict(lr=0.1).freeze()
    with pytest.raises(FrozenConfigError, match=r"cannot set 'lr'.*defrost\(\)"):
        config.lr = 1.0


def test_defrost_allows_writes_again() -> None:
    config = ADict(model=ADict(depth=50)).freeze()
    assert config.is_frozen and config.model.is_frozen
    config.defrost()
    config.model.depth = 101
    assert config.model.depth == 101


def test_frozen_auto_adict_does_not_create_keys() -> None:
    config = ADict.auto().freeze()
    with pytest.raises(AttributeError):
        config.missing  # noqa: B018


def test_clone_is_deep_and_writable() -> None:
    config = ADict(model=ADict(layers=[1, 2])).freeze()
    twin = config.clone()
    twin.model.layers.append(3)
    twin.lr = 1
    assert config.model.layers == [1, 2] and "lr" not in config
    assert not twin.is_frozen


def test_copy_is_shallow_adict() -> None:
    config = ADict(model=ADict(depth=1))
    shallow = config.copy()
    assert type(shallow) is ADict and shallow.model is config.model
    assert copy.copy(config) == config


def test_deepcopy_keeps_frozen_state_and_shared_references() -> None:
    shared = [1]
    config = ADict(a=shared, b=shared).freeze()
    twin = copy.deepcopy(config)
    assert twin == config and twin.is_frozen
    assert twin.a is twin.b and twin.a is not shared


def test_pickle_round_trip_keeps_types_and_flags() -> None:
    config = ADict.auto(model={"depth": 50}, stages=[{"a": (1, 2)}]).freeze()
    restored = pickle.loads(pickle.dumps(config))
    assert restored == config
    assert type(restored.model) is ADict and type(restored.stages[0]) is ADict
    assert restored.is_frozen and restored.stages[0].is_frozen
    assert restored.stages[0].a == (1, 2)
    restored.defrost()
    restored.new.child = 1  # auto mode survived the round trip
    assert restored.new == {"child": 1}


def test_to_dict_and_json_give_plain_data() -> None:
    config = ADict(model=ADict(depth=50), stages=[ADict(a=1)], pair=(1, 2))
    plain = config.to_dict()
    assert type(plain) is dict and type(plain["model"]) is dict and type(plain["stages"][0]) is dict
    assert plain["pair"] == (1, 2)
    assert json.loads(config.json()) == {"model": {"depth": 50}, "stages": [{"a": 1}], "pair": [1, 2]}


def test_equality_with_plain_dicts() -> None:
    assert ADict(a=ADict(b=1)) == {"a": {"b": 1}}
    assert {"a": {"b": 1}} == ADict(a=ADict(b=1))
    assert ADict(a=1) != {"a": 2}


def test_omegaconf_dictconfig_converts() -> None:
    omegaconf = pytest.importorskip("omegaconf")
    conf = omegaconf.OmegaConf.create({"model": {"depth": 50}, "lr": "${base_lr}", "base_lr": 0.1})
    config = ADict(conf)
    assert config == {"model": {"depth": 50}, "lr": 0.1, "base_lr": 0.1}
    assert type(config.model) is ADict


def test_repr_and_dir() -> None:
    config = ADict(lr=0.1)
    assert repr(config) == str(config) == "{'lr': 0.1}"
    assert "lr" in dir(config)


def test_seed_format_agnostic_example(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    (tmp_path / "config.json").write_text('{"lr": 0.001, "model": {"depth": 50}}')
    config = ADict.from_file("config.json")
    config.dump("config.yaml")
    config.update_if_absent(lr=0.01, scheduler="cosine")  # Only adds scheduler
    assert config == {"lr": 0.001, "model": {"depth": 50}, "scheduler": "cosine"}
    assert ADict.from_file("config.yaml") == {"lr": 0.001, "model": {"depth": 50}}

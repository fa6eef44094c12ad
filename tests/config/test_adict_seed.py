"""ADict as ato 2.1.7 users wrote it: defaults, auto-nesting by item and attribute, several keys at
once, chained updates, structure, files and hierarchy composition, with the real 2.1.7 as oracle
where it is installed (ATO_REFERENCE_PYTHON)."""

from __future__ import annotations

import copy
import json
import pickle
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ato.adict import ADict
from ato.config import xyz
from ato.errors import ConfigFileError, ConfigWarning, FrozenConfigError
from tests.conftest import reference_python, run_script

ROOT = Path(__file__).resolve().parents[2]


# -- frozen, convert_to_immutable, raw -------------------------------------------------------------
def test_frozen_is_the_seed_name_of_is_frozen() -> None:
    config = ADict(lr=0.1)
    assert config.frozen is False
    config.freeze()
    assert config.frozen is True and config.is_frozen
    config.defrost()
    assert config.frozen is False


def test_convert_to_immutable_refuses_writes_with_a_type_error() -> None:
    config = ADict(lr=0.1, model={"depth": 50})
    config.convert_to_immutable()
    assert config.frozen
    with pytest.raises(TypeError):  # what 2.1.7's read-only mapping raised
        config["lr"] = 1
    with pytest.raises(FrozenConfigError, match="frozen"):
        config.model.depth = 101
    assert config == {"lr": 0.1, "model": {"depth": 50}}


def test_raw_wraps_one_item_as_key_and_value() -> None:
    config = ADict(lr=0.1, model={"depth": 50})
    assert config.raw("lr") == {"key": "lr", "value": 0.1}
    assert type(config.raw("model").value) is ADict
    assert config.raw("missing") == {"key": "missing", "value": None}
    assert config.raw("missing", 3) == {"key": "missing", "value": 3}
    assert "missing" not in config


# -- defaults ------------------------------------------------------------------------------------------
def test_default_fills_missing_keys_by_item_and_attribute() -> None:
    counts = ADict(default=0)
    counts["cat"] += 1
    counts.dog += 2
    assert counts == {"cat": 1, "dog": 2}


def test_default_is_copied_or_called_for_each_key() -> None:
    groups = ADict(default=[])
    groups["a"].append(1)
    groups["b"].append(2)
    assert groups == {"a": [1], "b": [2]}
    calls = ADict(default=list)
    assert calls.x == [] and calls.x is not calls.y


def test_get_returns_the_default_without_storing_it() -> None:
    config = ADict(default=7)
    assert config.get("missing") == 7
    assert config.get("missing", 1) == 7  # the ADict's default wins, as in 2.1.7
    assert "missing" not in config
    assert ADict().get("missing", 1) == 1 and ADict().get("missing") is None


def test_set_get_and_remove_default() -> None:
    config = ADict()
    with pytest.raises(ValueError, match="not defined"):
        config.get_default()
    config.set_default(5)
    assert config.get_default() == 5 and config["x"] == 5
    assert "_default" not in config  # 2.1.7 stored set_default's value as a key: fixed
    config.remove_default()
    with pytest.raises(KeyError):
        config["y"]  # noqa: B018
    with pytest.raises(AttributeError):
        config.y  # noqa: B018
    assert config == {"x": 5}


def test_a_key_named_default_comes_in_a_mapping() -> None:
    assert ADict({"default": 1}) == {"default": 1}
    assert "default" not in ADict(default=1)
    config = ADict()
    config.default = 2
    assert config["default"] == 2


def test_frozen_adict_never_invents_keys_but_get_still_gives_the_default() -> None:
    config = ADict(default=0).freeze()
    with pytest.raises(KeyError):
        config["x"]  # noqa: B018
    with pytest.raises(AttributeError):
        config.x  # noqa: B018
    assert config.get("x") == 0  # 2.1.7 raised KeyError here; a read that stores nothing is fine
    assert config == {}


def test_underscore_attributes_never_take_the_default() -> None:
    config = ADict(default=0)
    assert not hasattr(config, "_repr_latex_")  # IPython probes such names; _repr_html_ is a real method
    assert not hasattr(config, "_private")
    copy.copy(config), copy.deepcopy(config), pickle.dumps(config)
    assert config == {}
    assert config["_private"] == 0  # item access is explicit


def test_copies_clones_and_pickles_keep_the_default() -> None:
    config = ADict(lr=0.1, default=[0])
    for twin in (config.copy(), copy.copy(config), copy.deepcopy(config), config.clone(),
                 pickle.loads(pickle.dumps(config))):
        assert twin == {"lr": 0.1}
        assert twin["new"] == [0]
    assert config == {"lr": 0.1}


def test_pop_of_a_missing_key_gives_what_get_gives() -> None:
    config = ADict(lr=0.1)
    assert config.pop("lr") == 0.1 and config == {}
    assert config.pop("missing") is None and config.pop("missing", 3) == 3
    assert ADict(default=0).pop("missing") == 0


@given(st.text(min_size=1, max_size=5), st.integers() | st.text(max_size=3) | st.lists(st.integers(), max_size=3))
def test_any_missing_key_reads_as_a_fresh_copy_of_the_default(key: str, default: object) -> None:
    config = ADict(default=default)
    assert config.get(key) == default and key not in config
    assert config[key] == default and key in config
    if isinstance(default, list):
        assert config[key] is not default


# -- auto ---------------------------------------------------------------------------------------------
def test_auto_nests_by_item_and_by_attribute() -> None:
    config = ADict.auto()
    config["model"]["backbone"]["depth"] = 50
    config.model.backbone.width = 2
    config.data["train"].path = "/data"
    assert config == {"model": {"backbone": {"depth": 50, "width": 2}}, "data": {"train": {"path": "/data"}}}
    assert all(type(node) is ADict for node in (config.model, config.model.backbone, config.data.train))


def test_auto_get_gives_an_empty_adict_without_storing_it() -> None:
    config = ADict.auto()
    assert config.get("missing") == {} and type(config.get("missing")) is ADict
    assert config == {}


def test_auto_mode_survives_copies_and_pickles_at_every_depth() -> None:
    config = ADict.auto()
    config.model.depth = 50
    for twin in (config.clone(), copy.deepcopy(config), pickle.loads(pickle.dumps(config))):
        twin["model"]["head"]["classes"] = 10
        twin.new.key = 1
        assert twin == {"model": {"depth": 50, "head": {"classes": 10}}, "new": {"key": 1}}


def test_frozen_auto_adict_creates_nothing_by_item_either() -> None:
    config = ADict.auto().freeze()
    with pytest.raises(KeyError):
        config["missing"]  # noqa: B018
    assert config == {}


def test_remove_default_turns_auto_mode_off_here() -> None:
    config = ADict.auto()
    config.remove_default()
    with pytest.raises(KeyError):
        config["missing"]  # noqa: B018


# -- several keys at once ------------------------------------------------------------------------------
def test_read_and_write_several_keys_with_a_tuple() -> None:
    config = ADict(lr=0.1, epochs=10, batch_size=32)
    assert config["lr", "epochs"] == [0.1, 10]
    config["lr", "epochs"] = 0.01, 20
    assert config.lr == 0.01 and config.epochs == 20
    config["warmup", "cooldown"] = 5  # not a list or tuple: every key gets it
    assert config.warmup == 5 and config.cooldown == 5
    config["a", "b"] = [1, 2, 3]  # zipped, as 2.1.7 did
    assert config.a == 1 and config.b == 2 and 3 not in config.values()
    del config["warmup", "cooldown"]
    assert "warmup" not in config and "cooldown" not in config


def test_a_tuple_that_is_a_key_is_read_and_written_as_one_key() -> None:
    config = ADict({("a", "b"): 1, "a": 2, "b": 3})
    assert config["a", "b"] == 1
    config["a", "b"] = 5
    assert config == {("a", "b"): 5, "a": 2, "b": 3}
    config.update({("x", "y"): 1})  # update keeps tuple keys whole
    assert config[("x", "y")] == 1 and "x" not in config
    del config["a", "b"]
    assert config == {"a": 2, "b": 3, ("x", "y"): 1}


def test_several_keys_missing_one_raise_and_delete_nothing() -> None:
    config = ADict(a=1)
    with pytest.raises(KeyError, match="'b'"):
        config["a", "b"]  # noqa: B018
    with pytest.raises(KeyError, match="'b'"):
        del config["a", "b"]
    assert config == {"a": 1}


def test_a_tuple_key_set_by_a_view_replays_as_one_key() -> None:
    from ato.config.merge_trace import replay
    from ato.config.scope import Scope

    scope = Scope("adict_seed_tuple_key")

    @scope.observe(default=True)
    def keys(config: ADict) -> None:
        config.update({("a", "b"): 1, "c": 2})

    assert scope.apply([]) == {("a", "b"): 1, "c": 2}
    result = replay(scope.merge_trace)
    assert result.exact, result.differences
    assert result.config == {("a", "b"): 1, "c": 2}


def test_several_keys_on_a_frozen_adict_change_nothing() -> None:
    config = ADict(a=1, b=2).freeze()
    with pytest.raises(FrozenConfigError, match="cannot set"):
        config["a", "b"] = 3, 4
    with pytest.raises(FrozenConfigError):
        del config["a", "b"]
    assert config == {"a": 1, "b": 2}


_names = st.lists(st.text(min_size=1, max_size=4), min_size=1, max_size=6, unique=True)


@given(_names, st.data())
def test_several_keys_set_then_read_give_the_values(names: list[str], data: st.DataObject) -> None:
    values = data.draw(st.lists(st.integers() | st.text(max_size=3), min_size=len(names), max_size=len(names)))
    config = ADict()
    config[tuple(names)] = values
    assert config[tuple(names)] == values
    assert config == dict(zip(names, values))
    config[tuple(names)] = "same"
    assert config[tuple(names)] == ["same"] * len(names)
    del config[tuple(names)]
    assert config == {}


# -- updates -------------------------------------------------------------------------------------------
def test_update_chains_and_recurrent_merges() -> None:
    config = ADict(lr=0.1, model={"depth": 50, "width": 1})
    assert config.update(lr=0.2) is config
    config.update({"model": {"depth": 101}}, recurrent=True).update(epochs=3)
    assert config == {"lr": 0.2, "model": {"depth": 101, "width": 1}, "epochs": 3}
    config.update({"model": {"width": 2}}, True)  # recurrent is 2.1.7's second positional
    config.update({"model": {"heads": 4}}, recursive=True)  # Ato's name for it
    assert config.model == {"depth": 101, "width": 2, "heads": 4}
    config.update({"model": {"depth": 18}})
    assert config.model == {"depth": 18}
    assert config.update() is config and config.update(None) is config


def test_update_if_absent_chains_and_always_recurses() -> None:
    config = ADict(lr=0.001, model={"depth": 50})
    result = config.update_if_absent({"lr": 0.1, "model": {"depth": 101, "width": 2}}, scheduler="cosine")
    assert result is config
    assert config == {"lr": 0.001, "model": {"depth": 50, "width": 2}, "scheduler": "cosine"}


def test_recursive_update_of_an_auto_adict_merges_into_what_is_there() -> None:
    config = ADict.auto()
    config.model.depth = 50
    config.update({"model": {"width": 2}, "new": {"a": 1}}, recurrent=True)
    assert config == {"model": {"depth": 50, "width": 2}, "new": {"a": 1}}


def test_mm_like_update_merges_unless_delete() -> None:
    config = ADict(model={"backbone": {"depth": 50, "frozen_stages": 1}, "head": {"classes": 10}})
    delete = {"_delete_": True, "type": "FPN"}
    config.mm_like_update(model={"backbone": {"depth": 101}, "neck": delete}, optimizer={"lr": 0.1})
    assert config == {
        "model": {"backbone": {"depth": 101, "frozen_stages": 1}, "head": {"classes": 10}, "neck": {"type": "FPN"}},
        "optimizer": {"lr": 0.1},
    }
    config.mm_like_update({"model": {"_delete_": True, "type": "ViT"}})
    assert config.model == {"type": "ViT"}
    assert delete == {"_delete_": True, "type": "FPN"}  # the caller's mapping is left alone


def test_filter_keeps_what_the_function_accepts_in_place() -> None:
    config = ADict(lr=0.1, epochs=10, name="run")
    assert config.filter(lambda key, value: isinstance(value, (int, float))) is config
    assert config == {"lr": 0.1, "epochs": 10}


def test_replace_keys_renames() -> None:
    config = ADict(lr=0.1, bs=32, model="resnet")
    config.replace_keys(["lr", "bs"], ["learning_rate", "batch_size"])
    assert config == {"learning_rate": 0.1, "batch_size": 32, "model": "resnet"}
    with pytest.raises(IndexError):
        config.replace_keys(["model"], ["a", "b"])
    with pytest.raises(KeyError, match="lr"):
        config.replace_keys(["lr"], ["x"])


def test_get_value_by_name_follows_dots_and_creates_nothing() -> None:
    config = ADict.auto()
    config.model.backbone.depth = 50
    assert config.get_value_by_name("model.backbone.depth") == 50
    assert config.get_value_by_name("model") == {"backbone": {"depth": 50}}
    with pytest.raises(KeyError, match="head"):
        config.get_value_by_name("model.head.classes")
    assert config == {"model": {"backbone": {"depth": 50}}}


# -- structure and text --------------------------------------------------------------------------------
def test_get_structural_repr_names_each_leaf_type() -> None:
    config = ADict(lr=0.1, epochs=10, model={"name": "resnet", "layers": [1, 2], "head": {}}, tag=None)
    structure = config.get_structural_repr()
    assert type(structure) is ADict
    assert structure == {"lr": "float", "epochs": "int", "model.name": "str", "model.layers": "list",
                         "tag": "NoneType"}
    assert ADict(lr=0.5).get_structural_repr() == ADict(lr=0.1).get_structural_repr()


def test_to_xyz_reads_back() -> None:
    config = ADict(lr=0.1, model={"name": "resnet", "layers": [1, 2]})
    assert xyz.loads(config.to_xyz()) == config
    marks = {"key_prefix": "@", "key_postfix": " =", "index_prefix": "#", "index_postfix": " ->"}
    text = config.to_xyz(format_dict=marks)
    assert "@lr = 0.1" in text and text == xyz.dumps(config.to_dict(), format_dict=marks)
    assert xyz.loads(text) == config


# -- files ---------------------------------------------------------------------------------------------
def test_load_replaces_the_contents_in_place(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("lr: 0.1\nmodel:\n  depth: 50\n")
    config = ADict(old=1)
    assert config.load(tmp_path / "config.yaml") is config
    assert config == {"lr": 0.1, "model": {"depth": 50}} and type(config.model) is ADict
    with pytest.raises(FileNotFoundError):  # as in 2.1.7 (and a ConfigFileError too)
        config.load(tmp_path / "missing.json")
    with pytest.raises(ConfigFileError, match="missing.json"):
        ADict.from_file(tmp_path / "missing.json")
    assert config == {"lr": 0.1, "model": {"depth": 50}}  # a failed load changes nothing
    with pytest.raises(FrozenConfigError):
        ADict().freeze().load(tmp_path / "config.yaml")


def test_compile_from_file_runs_a_python_config(tmp_path: Path) -> None:
    (tmp_path / "config.py").write_text("import math\nlr = 0.1\nmodel = dict(depth=50)\ndef f(): pass\n")
    config = ADict.compile_from_file(tmp_path / "config.py")
    assert config == {"lr": 0.1, "model": {"depth": 50}} and type(config.model) is ADict
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ConfigFileError, match="Python files only"):
        ADict.compile_from_file(tmp_path / "config.json")


def test_load_mm_config_sets_the_composed_keys(tmp_path: Path) -> None:
    (tmp_path / "base.py").write_text("model = dict(depth=50, width=1)\nlr = 0.1\n")
    (tmp_path / "exp.py").write_text("_base_ = 'base.py'\nmodel = dict(depth=101)\n")
    config = ADict(epochs=3)
    assert config.load_mm_config(tmp_path / "exp.py") is config
    assert config == {"epochs": 3, "model": {"depth": 101, "width": 1}, "lr": 0.1}


@pytest.fixture
def hierarchy(tmp_path: Path) -> Path:
    (tmp_path / "model").mkdir()
    (tmp_path / "data").mkdir()
    (tmp_path / "config.yaml").write_text("lr: 0.1\nmodel:\n  depth: 18\n")
    (tmp_path / "config.json").write_text('{"lr": 99}')  # not read: config.yaml comes first
    (tmp_path / "model" / "resnet.json").write_text('{"model": {"name": "resnet", "depth": 50}}')
    (tmp_path / "data" / "cifar.toml").write_text('dataset = "cifar"\n')
    (tmp_path / "data" / "aug.xyz").write_text("augment: true\n")
    return tmp_path


def test_compose_hierarchy_base_groups_overrides_required(hierarchy: Path) -> None:
    config = ADict.compose_hierarchy(
        hierarchy, select={"model": "resnet", "data": ["cifar", "aug"]},
        overrides={"model.depth": 101, "optim.lr": 0.01}, required=["model.name", "dataset"],
    )
    assert config == {"lr": 0.1, "model": {"name": "resnet", "depth": 101}, "dataset": "cifar",
                      "augment": True, "optim": {"lr": 0.01}}
    assert type(config.optim) is ADict
    with pytest.raises(KeyError, match="Missing required key: model.head"):
        ADict.compose_hierarchy(hierarchy, required=["model.head"])


def test_compose_hierarchy_on_missing(hierarchy: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    empty = tmp_path_factory.mktemp("empty")
    with pytest.raises(FileNotFoundError, match="config"):  # 2.1.7 raised only when it was found
        ADict.compose_hierarchy(empty)
    assert ADict.compose_hierarchy(hierarchy) == {"lr": 0.1, "model": {"depth": 18}}
    with pytest.raises(FileNotFoundError, match="vit"):
        ADict.compose_hierarchy(hierarchy, select={"model": "vit"})
    with pytest.warns(ConfigWarning, match="vit"):
        config = ADict.compose_hierarchy(hierarchy, select={"model": "vit"}, on_missing="warn")
    assert config == {"lr": 0.1, "model": {"depth": 18}}
    with pytest.warns(ConfigWarning, match="config"):
        assert ADict.compose_hierarchy(empty, on_missing="warn") == {}
    assert ADict.compose_hierarchy(empty, select={"model": "vit"}, on_missing="ignore") == {}
    with pytest.raises(ValueError, match="on_missing"):
        ADict.compose_hierarchy(hierarchy, on_missing="skip")


# -- the real 2.1.7 ------------------------------------------------------------------------------------
SEED_SCRIPT = """
import json, pickle
from ato.adict import ADict

out = {}
config = ADict(lr=0.1, epochs=10, model={'depth': 50})
out['multi_get'] = config['lr', 'epochs']
config['lr', 'epochs'] = 0.2, 20
config['a', 'b'] = 7
config['c', 'd'] = [1, 2, 3]
out['multi_set'] = config.to_dict()
counts = ADict(default=0)
counts['x'] += 1
counts.y += 2
out['default'] = counts.to_dict()
out['default_get'] = [ADict(default=3).get('z'), 'z' in ADict(default=3), ADict().get('z', 4)]
out['get_default'] = ADict(default=[1]).get_default()
auto = ADict.auto()
auto['m']['n'] = 1
auto.p.q = 2
auto.p['r'].s = 3
out['auto'] = auto.to_dict()
out['auto_get'] = [ADict.auto().get('missing'), ADict.auto().get('missing', 5)]
out['raw'] = [ADict(a=1).raw('a').to_dict(), ADict(a=1).raw('zz', 5).to_dict()]
chained = ADict(a=1, b={'c': 1})
out['update_is_self'] = chained.update({'b': {'d': 2}}, recurrent=True) is chained
out['recurrent'] = chained.to_dict()
out['shallow'] = ADict(a=1, b={'c': 1}).update({'b': {'d': 2}}).to_dict()
absent = ADict(lr=0.001, model={'depth': 50})
out['absent_is_self'] = absent.update_if_absent({'model': {'depth': 1, 'w': 2}}, s=1) is absent
out['absent'] = absent.to_dict()
out['structure'] = ADict(lr=0.1, m={'n': 'x', 'l': [1], 'e': {}}, t=None).get_structural_repr().to_dict()
kept = ADict(lr=0.1, epochs=10, name='run')
kept.filter(lambda k, v: k != 'name')
out['filter'] = kept.to_dict()
out['by_name'] = ADict(a={'b': {'c': 1}}).get_value_by_name('a.b.c')
renamed = ADict(a=1, b=2, c=3)
renamed.replace_keys(['a', 'b'], ['x', 'y'])
out['replace_keys'] = renamed.to_dict()
mm = ADict(model={'backbone': {'depth': 50, 'w': 1}, 'neck': {'old': 1}})
mm.mm_like_update(model={'backbone': {'depth': 101}, 'neck': {'_delete_': True, 'type': 'FPN'}}, lr=0.1)
out['mm'] = mm.to_dict()
out['pop'] = [ADict(a=1).pop('a'), ADict().pop('zz'), ADict().pop('zz', 3), ADict(default=0).pop('zz')]
out['frozen'] = [ADict().frozen, ADict().freeze().frozen]
out['keyword_default_key'] = ADict({'default': 1}).to_dict()
out['pickled_default'] = pickle.loads(pickle.dumps(ADict(default=3)))['x']
out['clone_default'] = ADict(default=3).clone()['x']
with open('config.json', 'w') as f:
    json.dump({'lr': 0.5, 'model': {'depth': 18}}, f)
loaded = ADict(old=1)
loaded.load('config.json')
out['load'] = loaded.to_dict()
with open('exp.py', 'w') as f:
    f.write("import math\\nlr = 0.1\\nmodel = dict(depth=50)\\ndef f(): pass\\n")
out['compile'] = ADict.compile_from_file('exp.py').to_dict()
import os
os.makedirs('conf/model', exist_ok=True)
with open('conf/config.yaml', 'w') as f:
    f.write('lr: 0.1\\nmodel:\\n  depth: 18\\n')
with open('conf/model/resnet.json', 'w') as f:
    json.dump({'model': {'name': 'resnet'}}, f)
out['compose'] = ADict.compose_hierarchy(
    'conf', select={'model': 'resnet'}, overrides={'model.depth': 101, 'o.lr': 1}, on_missing='ignore',
    required=['model.name'],
).to_dict()
print(json.dumps(out, sort_keys=True, default=lambda value: value.to_dict()))
"""


def test_seed_script_gives_what_the_real_2_1_7_gives(tmp_path: Path) -> None:
    reference = reference_python()
    (tmp_path / "ours").mkdir()
    (tmp_path / "theirs").mkdir()
    ours = json.loads(run_script(tmp_path / "ours", SEED_SCRIPT).stdout)
    theirs = json.loads(run_script(tmp_path / "theirs", SEED_SCRIPT, python=reference).stdout)
    assert ours.keys() == theirs.keys()
    for key in theirs:
        assert ours[key] == theirs[key], key


def test_adicts_pickled_by_2_1_7_load(tmp_path: Path) -> None:
    reference = reference_python()
    run_script(tmp_path, """
        import pickle
        from ato.adict import ADict
        frozen = ADict(lr=0.1, model={'depth': 50, 'stages': [{'a': 1}]})
        frozen.freeze()
        with open('old.pickle', 'wb') as f:
            pickle.dump({'frozen': frozen, 'counts': ADict(n=1, default=0), 'plain': ADict(a=(1, 2))}, f)
    """, python=reference)
    loaded = pickle.loads((tmp_path / "old.pickle").read_bytes())
    assert loaded["frozen"] == {"lr": 0.1, "model": {"depth": 50, "stages": [{"a": 1}]}}
    assert type(loaded["frozen"].model) is ADict and type(loaded["frozen"].model.stages[0]) is ADict
    assert loaded["frozen"].frozen and not loaded["frozen"].model.frozen  # 2.1.7 froze one level
    with pytest.raises(FrozenConfigError):
        loaded["frozen"].lr = 1
    assert loaded["counts"]["new"] == 0 and loaded["counts"] == {"n": 1, "new": 0}
    assert loaded["plain"].a == [1, 2]  # 2.1.7 stored tuples as lists
    with pytest.raises(KeyError):
        loaded["plain"]["missing"]  # noqa: B018
    assert pickle.loads(pickle.dumps(loaded["counts"]))["other"] == 0

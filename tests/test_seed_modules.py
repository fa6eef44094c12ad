"""2.1.7 behaviours and names a review found missing: ADict's dict repr, ``dump(path, **kwargs)``,
``from_file`` of a top-level list, several keys as a list, and the seed's other public names
(``ato.adict.ALLOWED_EXTS``/``Dict``, ``ato.db_routers.BaseLogger``/``BaseFinder``,
``ato.db_routers.sql.schema``, ``ato.xyz``/``ato.utils.convert_string_to_value``).
Where the real ato 2.1.7 is installed (ATO_REFERENCE_PYTHON), the same script runs under both."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import toml
import yaml

from ato.adict import ADict
from ato.config import xyz
from ato.errors import ConfigFileError
from tests.conftest import reference_python, run_script

ROOT = Path(__file__).resolve().parents[1]


# -- repr and str --------------------------------------------------------------------------------------
def test_repr_and_str_are_a_dicts_at_every_depth() -> None:
    config = ADict(lr=0.1, model={"depth": 50, "heads": [{"n": 1}]}, empty={})
    plain = {"lr": 0.1, "model": {"depth": 50, "heads": [{"n": 1}]}, "empty": {}}
    assert repr(config) == str(config) == repr(plain)
    assert f"{config}" == str(plain)
    assert repr(ADict()) == "{}"
    assert repr(ADict.auto(a=1).freeze()) == "{'a': 1}"


# -- dump ----------------------------------------------------------------------------------------------
def test_dump_creates_missing_folders(tmp_path: Path) -> None:
    config = ADict(lr=0.1, model={"depth": 50})
    for ext in ("json", "yaml", "yml", "toml", "xyz", "py"):
        target = tmp_path / ext / "deeper" / f"config.{ext}"
        config.dump(target)
        assert ADict.from_file(target) == config, ext


def test_dump_passes_options_to_the_writer(tmp_path: Path) -> None:
    config = ADict(b=1, a={"c": [1, 2]})
    config.dump(tmp_path / "k.json", indent=4, sort_keys=True)
    text = (tmp_path / "k.json").read_text()
    assert text.startswith('{\n    "a": {') and json.loads(text) == config
    config.dump(tmp_path / "compact.json", indent=None, separators=(",", ":"))
    assert (tmp_path / "compact.json").read_text() == '{"b":1,"a":{"c":[1,2]}}\n'
    config.dump(tmp_path / "k.yaml", default_flow_style=True, sort_keys=True)
    assert (tmp_path / "k.yaml").read_text() == "{a: {c: [1, 2]}, b: 1}\n"
    config.dump(tmp_path / "k.toml", encoder=toml.TomlArraySeparatorEncoder(separator=",\t"))
    assert "c = [ 1,\t 2,\t]" in (tmp_path / "k.toml").read_text()
    assert toml.load(tmp_path / "k.toml") == config
    config.dump(tmp_path / "k.xyz", format_dict={"key_prefix": "@"})
    assert "@b: 1" in (tmp_path / "k.xyz").read_text()
    assert xyz.load(tmp_path / "k.xyz") == config


def test_dump_refuses_what_would_not_be_safe_and_leaves_nothing_behind(tmp_path: Path) -> None:
    config = ADict(a=1)
    with pytest.raises(ConfigFileError, match="safe dumper"):
        config.dump(tmp_path / "n1" / "k.yaml", Dumper=yaml.Dumper)
    with pytest.raises(TypeError):
        config.dump(tmp_path / "n2" / "k.json", nonsense=1)
    with pytest.raises(TypeError, match="without options"):
        config.dump(tmp_path / "n3" / "k.py", indent=2)
    with pytest.raises(TypeError):
        config.dump(tmp_path / "n4" / "k.xyz", indent=2)
    with pytest.raises(ConfigFileError, match="UTF-8 text"):
        config.dump(tmp_path / "n5" / "k.yaml", encoding="utf-16")
    with pytest.raises(ConfigFileError, match="TOML cannot hold None"):
        ADict(a=None).dump(tmp_path / "n6" / "k.toml")
    assert list(tmp_path.iterdir()) == []


# -- from_file of a list -------------------------------------------------------------------------------
def test_from_file_of_a_json_or_xyz_list_gives_a_list_of_adicts(tmp_path: Path) -> None:
    items = [{"a": 1, "m": {"x": [1, 2]}}, {"b": "two"}]
    (tmp_path / "l.json").write_text(json.dumps(items))
    xyz.dump(items, tmp_path / "l.xyz")
    for name in ("l.json", "l.xyz"):
        loaded = ADict.from_file(tmp_path / name)
        assert type(loaded) is list and loaded == items, name
        assert all(type(item) is ADict for item in loaded) and type(loaded[0].m) is ADict
    (tmp_path / "empty.json").write_text("[]")
    assert ADict.from_file(tmp_path / "empty.json") == []


def test_a_top_level_list_keeps_the_config_file_rules(tmp_path: Path) -> None:
    (tmp_path / "scalars.json").write_text("[1, 2]")
    with pytest.raises(ConfigFileError, match=r"must hold mappings .* int at \[0\]"):
        ADict.from_file(tmp_path / "scalars.json")
    (tmp_path / "base.json").write_text('{"a": 1}')
    (tmp_path / "based.json").write_text('[{"_base_": "base.json"}]')
    with pytest.raises(ConfigFileError, match=r"_base_ at \[0\]"):
        ADict.from_file(tmp_path / "based.json")
    (tmp_path / "deep.json").write_text("[" * 150 + "]" * 150)
    with pytest.raises(ConfigFileError, match="nested deeper"):
        ADict.from_file(tmp_path / "deep.json")
    (tmp_path / "l.yaml").write_text("- a: 1\n")
    with pytest.raises(ConfigFileError, match="must be a mapping"):  # 2.1.7 read lists only from JSON/XYZ
        ADict.from_file(tmp_path / "l.yaml")
    (tmp_path / "l.json").write_text('[{"a": 1}]')
    with pytest.raises(ConfigFileError, match="must be a mapping"):  # nor did load, compose, mm configs
        ADict().load(tmp_path / "l.json")
    with pytest.raises(ConfigFileError, match="must be a mapping"):
        ADict.from_mm_config(tmp_path / "l.json")


def test_a_top_level_mapping_still_resolves_its_bases(tmp_path: Path) -> None:
    (tmp_path / "base.json").write_text('{"a": 1, "m": {"x": 1}}')
    (tmp_path / "top.json").write_text('{"_base_": "base.json", "m": {"y": 2}}')
    assert ADict.from_file(tmp_path / "top.json") == {"a": 1, "m": {"x": 1, "y": 2}}


# -- several keys as a list ----------------------------------------------------------------------------
def test_a_list_of_keys_writes_and_deletes_several_but_only_a_tuple_reads() -> None:
    config = ADict(a=1, b=2, c=3)
    config[["a", "b"]] = 10, 20
    assert config == {"a": 10, "b": 20, "c": 3}
    config[["a", "c"]] = 0
    assert config == {"a": 0, "b": 20, "c": 0}
    del config[["a", "b"]]
    assert config == {"c": 0}
    with pytest.raises(KeyError):
        del config[["c", "zz"]]
    assert config == {"c": 0}
    with pytest.raises(TypeError, match="unhashable"):  # a read would need a slow __getitem__
        config[["c"]]  # noqa: B018
    assert config["c", "c"] == [0, 0]


# -- names -------------------------------------------------------------------------------------------------
def test_the_seeds_other_public_names() -> None:
    import ato.adict
    import ato.utils
    import ato.xyz
    from ato.config.files import ALLOWED_EXTS
    from ato.db_routers import BaseFinder, BaseLogger
    from ato.db_routers.sql import schema
    from ato.projections import queries

    assert ato.adict.ALLOWED_EXTS is ALLOWED_EXTS == (".yaml", ".yml", ".json", ".toml", ".xyz")
    assert ato.adict.Dict is dict and isinstance(ADict(), ato.adict.Dict)
    assert ato.xyz.convert_string_to_value is ato.utils.convert_string_to_value is xyz.convert_string_to_value
    assert (schema.Project, schema.Experiment, schema.Metric, schema.Artifact, schema.Fingerprint) == (
        queries.Project, queries.Run, queries.MetricPoint, queries.Artifact, queries.Fingerprint
    )
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        ato.adict.Nope  # noqa: B018
    for base, names in ((BaseLogger, ("SQLLogger", "AsyncSQLLogger")), (BaseFinder, ("SQLFinder", "AsyncSQLFinder"))):
        for name in names:
            assert issubclass(getattr(ato, name), base)
        own = type("Own", (base,), {})({"k": 1})
        assert own.config == {"k": 1} and isinstance(own, base)
        assert not isinstance(object(), base)


def test_loggers_and_finders_are_instances_of_the_seed_bases(tmp_path: Path) -> None:
    from ato import SQLFinder, SQLLogger
    from ato.db_routers import BaseFinder, BaseLogger

    config = ADict(experiment={"project_name": "p", "sql": {"db_path": f"sqlite:///{tmp_path / 'r.db'}"}})
    with SQLLogger(config) as logger:
        assert isinstance(logger, BaseLogger) and not isinstance(logger, BaseFinder)
    with SQLFinder(config) as finder:
        assert isinstance(finder, BaseFinder)


@pytest.mark.parametrize(
    ("text", "value"),
    [("None", None), ("none", None), ("TRUE", True), ("false", False), ("[Empty Sequence]", []),
     ("[Empty Mapping]", {}), ("42", 42), ("3.14", 3.14), ("1e+5", 1e5), ("hello", "hello"), ("a b", "a b"),
     ("", ""), ("-1", -1), ("[1, 2]", [1, 2]), ("__import__('os')", "__import__('os')")],
)
def test_convert_string_to_value_reads_data_and_never_evaluates(text: str, value: object) -> None:
    read = xyz.convert_string_to_value(text)
    assert read == value and type(read) is type(value)


def test_convert_string_to_value_passes_other_values_through() -> None:
    marker = object()
    assert xyz.convert_string_to_value(marker) is marker
    assert xyz.convert_string_to_value(5) == 5


# -- the real 2.1.7 --------------------------------------------------------------------------------------
SEED_SCRIPT = """
import json, toml, yaml
from ato.adict import ADict, ALLOWED_EXTS, Dict
from ato import xyz
from ato.utils import convert_string_to_value
from ato.db_routers import BaseLogger, BaseFinder
from ato.db_routers.sql.schema import Project, Experiment, Metric, Artifact, Fingerprint

out = {}
config = ADict(lr=0.1, name='run', model={'depth': 50, 'heads': [{'n': 1}]})
out['str'] = [str(config), repr(config), str(ADict()), f'{config.model}']
config.dump('out/a/config.json', indent=2)
out['json'] = [json.load(open('out/a/config.json')), '\\n  "lr": 0.1' in open('out/a/config.json').read()]
config.dump('out/b/config.yaml', default_flow_style=True)
out['yaml'] = [yaml.safe_load(open('out/b/config.yaml')), open('out/b/config.yaml').read().startswith('{')]
config.dump('out/c/config.toml')
out['toml'] = toml.load('out/c/config.toml')
config.dump('out/d/config.xyz', format_dict={'key_prefix': '@'})
out['xyz'] = '@lr: 0.1' in open('out/d/config.xyz').read()  # 2.1.7 cannot read its own header back
with open('list.json', 'w') as f:
    json.dump([{'a': 1, 'm': {'x': [1, 2]}}, {'b': 'two'}], f)
loaded = ADict.from_file('list.json')
out['json_list'] = [type(loaded).__name__, [type(i).__name__ for i in loaded], loaded, type(loaded[0].m).__name__]
xyz.dump([{'a': 1, 'm': {'x': [1, 2]}}, {'b': 'two'}], 'list.xyz')
loaded = ADict.from_file('list.xyz')
out['xyz_list'] = [type(loaded).__name__, [type(i).__name__ for i in loaded], loaded]
several = ADict(a=1, b=2, c=3)
several[['a', 'b']] = 10, 20
several[['c']] = 5
out['list_keys'] = several
out['convert'] = [convert_string_to_value(s) for s in
                  ['None', 'none', 'TRUE', 'false', '[Empty Sequence]', '[Empty Mapping]', '42', '3.14', '1e+5',
                   'hello', 'a b', '']] + [convert_string_to_value(5)]
out['names'] = [ALLOWED_EXTS, isinstance(ADict(), Dict), BaseLogger({'k': 1}).config, BaseFinder(2).config,
                [cls.__name__ for cls in (Project, Experiment, Metric, Artifact, Fingerprint)] != []]
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

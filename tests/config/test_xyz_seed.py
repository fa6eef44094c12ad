"""``ato.xyz`` as code written for ato 2.1.7 uses it: ``format_dict`` marks, and 2.1.7's tree
helpers. Where ATO_REFERENCE_PYTHON names a Python with the real 2.1.7, results are compared."""

from __future__ import annotations

import io
import json
import math
import os
import random
import subprocess
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ato import xyz
from ato.config import xyz_tree
from tests.conftest import reference_python

MARKS = {"key_prefix": "@", "key_postfix": " =", "index_prefix": "#", "index_postfix": " ->"}
CONFIG = {"lr": 0.001, "model": {"name": "resnet50", "layers": [64, 128]}, "note": None, "tags": []}


# --- format_dict ---------------------------------------------------------------------------------

def test_format_dict_writes_the_marks_after_a_header_and_reads_back() -> None:
    text = xyz.dumps(CONFIG, format_dict=MARKS)
    assert text == (
        "key-prefix -> @\nkey-postfix ->  =\nindex-prefix -> #\nindex-postfix ->  ->\n"
        "@lr = 0.001\n@model =\n  @name = resnet50\n  @layers =\n    #0 -> 64\n    #1 -> 128\n"
        "@note = None\n@tags = []\n"
    )
    assert xyz.loads(text) == CONFIG


def test_dump_with_format_dict_to_a_path_or_an_open_file(tmp_path: Path) -> None:
    xyz.dump(CONFIG, tmp_path / "c.xyz", format_dict={"key_postfix": " ="})
    assert (tmp_path / "c.xyz").read_text().startswith("key-postfix ->  =\nlr = 0.001\n")
    assert xyz.load(tmp_path / "c.xyz") == CONFIG
    buffer = io.StringIO()
    xyz.dump([1, [2, 3]], buffer, format_dict={"index_prefix": "- ", "index_postfix": "."})
    assert buffer.getvalue() == "index-prefix -> -\nindex-postfix -> .\n- 0. 1\n- 1.\n  - 0. 2\n  - 1. 3\n"
    buffer.seek(0)
    assert xyz.load(buffer) == [1, [2, 3]]


def test_no_format_dict_an_empty_one_and_the_defaults_write_the_same_text() -> None:
    plain = xyz.dumps(CONFIG)
    assert xyz.dumps(CONFIG, format_dict={}) == plain
    assert xyz.dumps(CONFIG, format_dict={"key_postfix": ":", "index_postfix": ""}) == plain
    assert xyz.dumps(CONFIG, format_dict=None) == plain


# What the real 2.1.7 wrote for {'a': 1, 'b': {'c': [1, 2], 'd': 'x y'}, 'g': []} with MARKS:
# the header spelled with '_', then a blank line. 2.1.7's own loads read that back as junk.
WRITTEN_BY_2_1_7_WITH_MARKS = (
    "key_prefix -> @\nkey_postfix ->  =\nindex_prefix -> #\nindex_postfix ->  ->\n\n"
    "@a = 1\n@b =\n  @c =\n    #0 -> 1\n    #1 -> 2\n  @d = x y\n@g = [Empty Sequence]"
)


@pytest.mark.parametrize("spelling", ["_", "-"])
def test_loads_reads_format_headers_in_both_spellings(spelling: str) -> None:
    text = WRITTEN_BY_2_1_7_WITH_MARKS.replace("_pre", f"{spelling}pre").replace("_post", f"{spelling}post")
    expected = {"a": 1, "b": {"c": [1, 2], "d": "x y"}, "g": []}
    assert xyz.loads(text) == expected
    assert xyz.loads(text.replace("\n\n", "\n")) == expected  # the hyphen form 2.1.7 itself read
    assert xyz.loads(text.replace(" = ", "= ")) == expected  # space before a postfix does not matter


def test_a_single_value_and_a_list_with_marks_as_2_1_7_wrote_them() -> None:
    header = "key_prefix -> @\nkey_postfix ->  =\nindex_prefix -> #\nindex_postfix ->  ->\n"
    assert xyz.loads(header + " 5") == 5
    assert xyz.loads(header + "\n#0 -> 1\n#1 ->\n  #0 -> 2\n  #1 -> 3") == [1, [2, 3]]


def test_header_lines_count_only_before_the_data() -> None:
    with pytest.raises(xyz.XYZSyntaxError) as caught:
        xyz.loads("a: 1\nkey-prefix -> @\n")
    assert caught.value.line == 2
    data = {"key-prefix": 1, "b": 2}  # would look like a header with postfix ' ->'
    text = xyz.dumps(data, format_dict={"key_postfix": " ->"})
    assert text.splitlines()[1] == "'key-prefix' -> 1"
    assert xyz.loads(text) == data
    assert xyz.loads(xyz.dumps("key-prefix -> x")) == "key-prefix -> x"


def test_keys_and_values_that_hold_a_mark_are_quoted_so_they_read_back() -> None:
    data = {"a-b": {"c": "x - y"}, "plain": "p", "#hash": "#", 3: "three"}
    text = xyz.dumps(data, format_dict={"key_postfix": "-"})
    assert "'a-b'-\n" in text and "  c- x - y\n" in text and "plain- p\n" in text
    assert xyz.loads(text) == data
    assert xyz.loads(xyz.dumps("#x", format_dict=MARKS)) == "#x"


def test_with_a_hash_prefix_its_lines_are_data_and_other_hash_lines_comments() -> None:
    assert xyz.loads("key-prefix -> #>\n# a comment\n#>lr: 0.1\n#>layers:\n  0) 1\n") == {"lr": 0.1, "layers": [1]}
    with pytest.raises(xyz.XYZSyntaxError, match="expected '#key: value'"):
        xyz.loads("key-prefix -> #\n#lr: 0.1\n# a comment, but data with this prefix\n")
    data = {"lr": 0.1, "layers": [1, {"x": None}]}
    assert xyz.loads(xyz.dumps(data, format_dict={"key_prefix": "#", "index_prefix": "#"})) == data


@pytest.mark.parametrize(
    ("format_dict", "message"),
    [
        ({"key_sep": ":"}, "unknown keys"),
        ({"key_prefix": "a\nb"}, "one line of printable text"),
        ({"index_postfix": "\t)"}, "one line of printable text"),
        ({"key_prefix": " -"}, "cannot start with a space"),
        ({"key_postfix": "  "}, "needs a visible character"),
    ],
)
def test_format_dict_refuses_marks_that_could_not_read_back(format_dict: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        xyz.dumps({"a": 1}, format_dict=format_dict)


def test_format_dict_refuses_a_mark_that_is_not_text() -> None:
    with pytest.raises(TypeError, match="must be a string"):
        xyz.dumps({"a": 1}, format_dict={"key_prefix": 1})


def test_marks_that_no_quoting_can_separate_raise_instead_of_writing_junk() -> None:
    with pytest.raises(ValueError, match="cannot write"):
        xyz.dumps([], format_dict={"key_postfix": "]"})  # '[]' would read as the key '['


_keys = st.text(min_size=1, max_size=6).filter(lambda k: "\n" not in k and "\r" not in k)
_leaves = (
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
    | st.tuples(st.integers(), st.text(max_size=3))
)
_trees = st.recursive(
    _leaves, lambda children: st.lists(children, max_size=3) | st.dictionaries(_keys, children, max_size=3),
    max_leaves=15,
)
STYLES = [
    MARKS,
    {"key_prefix": "[", "key_postfix": "]"},
    {"key_prefix": "- ", "index_prefix": "- "},
    {"key_prefix": '"', "key_postfix": '":'},
    {"key_postfix": " ->", "index_postfix": "."},
    {"key_prefix": "<", "key_postfix": ">", "index_prefix": "<", "index_postfix": ">"},
    {"key_postfix": "="},
    {"index_prefix": "[", "index_postfix": "]"},
    {"key_prefix": "#", "index_prefix": "#"},
]


def _same(a: Any, b: Any) -> bool:
    return repr(a) == repr(b)  # repr: a tuple stays a tuple, -0.0 is not 0.0, nan is nan


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(_trees, st.sampled_from(STYLES))
def test_what_dumps_writes_with_usual_marks_loads_reads_back_losslessly(data: Any, marks: dict[str, str]) -> None:
    expected = {} if data == {} else data  # an empty mapping is the empty document
    assert _same(xyz.loads(xyz.dumps(data, format_dict=marks)), expected)


_marks = st.text(alphabet="'\"[]():#- >ab01=.,{}%", max_size=3)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(_trees, st.fixed_dictionaries({}, optional={name: _marks for name in xyz.FORMAT_KEYS}))
def test_any_marks_either_read_back_losslessly_or_are_refused(data: Any, marks: dict[str, str]) -> None:
    try:
        text = xyz.dumps(data, format_dict=marks)
    except ValueError as exc:
        assert "format" in str(exc)
        return
    expected = {} if data == {} else data
    assert _same(xyz.loads(text), expected)


# --- 2.1.7's tree helpers ------------------------------------------------------------------------

TREE_NAMES = ["GlobalParser", "convert_structure_to_tree", "convert_tree_to_structure", "convert_lines_to_tree",
              "parse_lines", "parse_format", "remove_format_str"]


def test_the_tree_helpers_are_public_at_the_seed_path() -> None:
    for name in TREE_NAMES:
        assert getattr(xyz, name) is getattr(xyz_tree, name)
        assert name in xyz.__all__
    import ato.config.xyz as home

    for name in home.__all__:
        assert getattr(xyz, name) is getattr(home, name)


def _shape(node: Any) -> list[Any]:
    return [node.value, node.value_type, node.node_type, [_shape(child) for child in node.children]]


def test_a_structure_becomes_a_tree_and_back() -> None:
    root = xyz.convert_structure_to_tree({"a": [1, {"b": 2}], "c": "x y"})
    assert _shape(root) == [
        "root", "key", "dict", [
            ["a", "key", "iter", [
                [0, "index", "item", [[1, "value", "value", []]]],
                [1, "index", "dict", [["b", "key", "item", [[2, "value", "value", []]]]]],
            ]],
            ["c", "key", "item", [["x y", "value", "value", []]]],
        ],
    ]
    assert root.children[0].parent is root and root.parent is None
    assert root.dumps() == "a:\n  0) 1\n  1)\n    b: 2\nc: x y"
    assert xyz.convert_tree_to_structure(root) == {"a": [1, {"b": 2}], "c": "x y"}
    assert xyz.convert_structure_to_tree(5).dumps() == " 5"
    assert xyz.convert_structure_to_tree({"e": [], "m": {}}).dumps() == "e: [Empty Sequence]\nm: [Empty Mapping]"
    assert xyz.convert_tree_to_structure(xyz.convert_structure_to_tree({"e": [], "m": {}})) == {"e": [], "m": {}}
    assert "children=2" in repr(root)


def test_a_tree_is_built_by_hand_with_add_child() -> None:
    root = xyz.GlobalParser("root", "key")
    layers = xyz.GlobalParser("layers", "key")
    root.add_child(layers)
    for index, width in enumerate([64, 128]):
        item = xyz.GlobalParser(str(index), "index")
        layers.add_child(item)
        item.add_child(xyz.GlobalParser(width, "value"))
    assert (root.node_type, layers.node_type, layers.children[0].value) == ("dict", "iter", 0)
    assert root.dumps() == "layers:\n  0) 64\n  1) 128"
    assert layers.dumps(1) == "  layers:\n    0) 64\n    1) 128"
    assert xyz.convert_tree_to_structure(root) == {"layers": [64, 128]}


def test_lines_become_a_tree_with_values_read_as_data_never_evaluated() -> None:
    lines = ["lr: 0.001", "neg: -1", "stem: (3, 64)", "url: http://x:80/a", "note: f(x)", "layers:",
             "  0) a: b", "  1) 2", "", "code: __import__('os').system('exit 3')", "empty:"]
    kept = list(lines)
    root = xyz.convert_lines_to_tree(lines)
    assert lines == kept  # 2.1.7 emptied the caller's list
    assert xyz.convert_tree_to_structure(root) == {
        "lr": 0.001, "neg": -1, "stem": (3, 64), "url": "http://x:80/a", "note": "f(x)",
        "layers": ["a: b", 2], "code": "__import__('os').system('exit 3')", "empty": None,
    }


def test_header_lines_are_split_off_and_name_the_marks() -> None:
    text = xyz.convert_structure_to_tree({"a": [1]}, format_dict=MARKS).dumps()
    assert text == "key-prefix -> @\nkey-postfix ->  =\nindex-prefix -> #\nindex-postfix ->  ->\n@a =\n  #0 -> 1"
    formats, data = xyz.parse_lines(text.split("\n"))
    assert formats == text.split("\n")[:4] and data == ["@a =", "  #0 -> 1"]
    marks = xyz.parse_format(formats)
    assert marks == {"key_prefix": "@", "key_postfix": "=", "index_prefix": "#", "index_postfix": "->"}
    assert xyz.convert_tree_to_structure(xyz.convert_lines_to_tree(data, marks)) == {"a": [1]}
    assert xyz.remove_format_str(text) == "@a =\n  #0 -> 1"
    assert xyz.parse_format(["key_postfix -> =", "index-postfix ->"]) == {
        "key_prefix": "", "key_postfix": "=", "index_prefix": "", "index_postfix": ")"}
    assert xyz.parse_lines(["a: 1", "key-prefix -> @"]) == ([], ["a: 1", "key-prefix -> @"])


# --- against the real 2.1.7 ----------------------------------------------------------------------

REFERENCE_SCRIPT = r"""
import json, sys
from ato import xyz

def shape(node):
    return [node.value, node.value_type, node.node_type, [shape(child) for child in node.children]]

def attempt(function):
    try:
        return {"ok": function()}
    except Exception as exc:
        return {"error": type(exc).__name__}

cases = json.load(sys.stdin)
out = []
for data in cases["data"]:
    row = {"dumps": xyz.dumps(data), "shape": shape(xyz.convert_structure_to_tree(data)),
           "tree_round": attempt(lambda: xyz.convert_tree_to_structure(xyz.convert_structure_to_tree(data))),
           "lines_tree": attempt(lambda: xyz.convert_tree_to_structure(
               xyz.convert_lines_to_tree(xyz.dumps(data).split("\n")))),
           "formatted": [], "reads_ours": []}
    for marks in cases["marks"]:
        text = xyz.dumps(data, format_dict=marks)
        hyphen = text.replace("_pre", "-pre").replace("_post", "-post").replace("\n\n", "\n", 1)
        formats, lines = xyz.parse_lines(hyphen.split("\n"))
        row["formatted"].append({
            "text": text, "loads_own": attempt(lambda: xyz.loads(text)),
            "parse_lines": [list(formats), list(lines)], "parse_format": xyz.parse_format(formats),
            "remove_format_str": xyz.remove_format_str(hyphen),
            "lines_tree": attempt(lambda: xyz.convert_tree_to_structure(
                xyz.convert_lines_to_tree(list(lines), xyz.parse_format(formats))))})
    out.append(row)
for text in cases["ours"]:
    out.append(attempt(lambda: xyz.loads(text)))
json.dump(out, sys.stdout)
"""

# Marks that 2.1.7's reader can split on this data: it trims them, then takes any line holding a
# postfix for a key or an index, even ``[Empty Sequence]`` with the postfix ``]``.
REFERENCE_MARKS = [MARKS, {"key_postfix": "="}, {"key_prefix": "-", "index_prefix": "-"}, {"index_postfix": ">"}]
_WORDS = ["resnet50", "x y", "adamw", "/data/imagenet", "a_b"]
_SCALARS = [0, 7, 123, 1.5, 0.001, 1e-05, 2.5e20, True, False, None, *_WORDS]


def _well_formed(rng: random.Random, depth: int = 0) -> Any:
    """Data 2.1.7 handled: name keys; non-negative numbers, booleans, None and plain words."""
    roll = rng.random()
    if depth < 3 and roll < 0.3:
        return {f"{rng.choice(['lr', 'model', 'k'])}{i}": _well_formed(rng, depth + 1) for i in range(rng.randint(0, 3))}
    if depth < 3 and roll < 0.45:
        return [_well_formed(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    return rng.choice(_SCALARS)


def _has_empty(data: Any) -> bool:
    if isinstance(data, (dict, list)):
        values = data.values() if isinstance(data, dict) else data
        return not data or any(_has_empty(value) for value in values)
    return False


@pytest.fixture(scope="module")
def reference_cases(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Any], list[Any], list[Any]]:
    reference = reference_python()
    rng = random.Random(2117)
    data = [CONFIG, {"a": 1, "b": {"c": [1, 2], "d": "x y"}, "g": []}, [1, [2, 3], {"k": "v"}], 5, "text", {}]
    data += [{"top": _well_formed(rng, 1), "other": _well_formed(rng, 1)} for _ in range(40)]
    data += [_well_formed(rng) for _ in range(20)]
    # What we write that 2.1.7 can read: the tree's text always; ``dumps``'s where nothing is empty
    # (we write [] and {}, which 2.1.7 read as text).
    ours = [xyz.convert_structure_to_tree(item, format_dict=marks).dumps() for item in data for marks in REFERENCE_MARKS]
    ours += [xyz.dumps(item, format_dict=marks) for item in data if not _has_empty(item) for marks in REFERENCE_MARKS]
    expected_ours = [item for item in data for _ in REFERENCE_MARKS]
    expected_ours += [item for item in data if not _has_empty(item) for _ in REFERENCE_MARKS]
    request = json.dumps({"data": data, "marks": REFERENCE_MARKS, "ours": ours})
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([reference, "-c", REFERENCE_SCRIPT], input=request, capture_output=True, text=True,
                          check=True, timeout=120, cwd=tmp_path_factory.mktemp("ato-2.1.7"), env=env)
    results = json.loads(done.stdout)
    return data, results[: len(data)], list(zip(results[len(data):], expected_ours, strict=True))


def test_the_tree_helpers_give_what_2_1_7_gives(reference_cases: Any) -> None:
    data, rows, _ = reference_cases
    for item, row in zip(data, rows, strict=True):
        root = xyz.convert_structure_to_tree(item)
        assert _shape(root) == row["shape"], item
        assert root.dumps() == row["dumps"], item
        assert xyz.convert_tree_to_structure(root) == item  # 2.1.7 raised on an empty list
        if "ok" in row["tree_round"]:
            assert row["tree_round"]["ok"] == item
        assert xyz.convert_tree_to_structure(xyz.convert_lines_to_tree(row["dumps"].split("\n"))) == item
        assert row["lines_tree"] == {"ok": item}
        for marks, formatted in zip(REFERENCE_MARKS, row["formatted"], strict=True):
            ours = xyz.convert_structure_to_tree(item, format_dict=marks).dumps()
            header = [line.replace("_", "-", 1) for line in formatted["text"].split("\n")[: len(marks)]]
            body = formatted["text"].split("\n")[len(marks):]
            body = body[1:] if body[:1] == [""] else body  # 2.1.7 wrote a blank line before a block
            assert ours.split("\n") == header + body, (item, marks)
            text = "\n".join(header + body)
            formats, lines = xyz.parse_lines(text.split("\n"))
            assert [formats, lines] == formatted["parse_lines"]
            assert xyz.parse_format(formats) == formatted["parse_format"]
            assert xyz.remove_format_str(text) == formatted["remove_format_str"]
            assert formatted["lines_tree"] == {"ok": item}
            assert xyz.convert_tree_to_structure(xyz.convert_lines_to_tree(lines, xyz.parse_format(formats))) == item


def test_loads_reads_what_2_1_7_wrote_with_and_without_marks(reference_cases: Any) -> None:
    data, rows, _ = reference_cases
    own_read_back = 0
    for item, row in zip(data, rows, strict=True):
        assert xyz.loads(row["dumps"]) == item
        for formatted in row["formatted"]:
            assert xyz.loads(formatted["text"]) == item
            own_read_back += formatted["loads_own"] == {"ok": item}
    assert own_read_back < len(data)  # 2.1.7 mostly failed to read its own formatted output


def test_the_real_2_1_7_reads_what_we_write_with_marks(reference_cases: Any) -> None:
    _, _, read = reference_cases
    for result, expected in read:
        assert result == {"ok": expected}


def test_where_2_1_7_read_values_as_text_we_read_data() -> None:
    # 2.1.7's convert_string_to_value gave '-1', '(3, 64)' and 'inf' as text.
    assert xyz.loads("a: -1\nb: (3, 64)\nc: inf") == {"a": -1, "b": (3, 64), "c": math.inf}
    root = xyz.convert_structure_to_tree({"n": "5", "s": "x: y"})
    assert root.dumps() == "n: '5'\ns: x: y"  # 2.1.7 wrote 5 (read back as 5) for the text '5'
    assert xyz.convert_tree_to_structure(xyz.convert_lines_to_tree(root.dumps().split("\n"))) == {
        "n": "5", "s": "x: y"}

"""Config files are data: hostile files are refused quickly, with one line naming file and line."""

from __future__ import annotations

import json
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ato.config.adict import ADict
from ato.config.files import MAX_ALIAS_NODES, MAX_DEPTH, load_config
from ato.errors import ConfigFileError
from tests.conftest import run_script

DATA_SUFFIXES = [".json", ".yaml", ".toml", ".xyz"]


def _write(path: Path, data: dict) -> Path:  # type: ignore[type-arg]
    """Write ``data`` by hand (not through dump_config), in the format the suffix names."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".xyz":
        path.write_text("".join(f"{key}: {value!r}\n" for key, value in data.items()))
    elif path.suffix == ".toml":
        path.write_text("".join(f"{key} = {json.dumps(value)}\n" for key, value in data.items()))
    else:  # JSON is YAML too
        path.write_text(json.dumps(data))
    return path


def _refused(path: Path, *fragments: str, **kwargs: bool) -> ConfigFileError:
    with pytest.raises(ConfigFileError) as info:
        load_config(path, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message
    return info.value


# -- 1. a data config never makes Ato run Python ---------------------------------------------------
@pytest.mark.parametrize("suffix", DATA_SUFFIXES)
def test_data_config_may_not_name_a_python_base(tmp_path: Path, suffix: str) -> None:
    marker = tmp_path / "ran"
    (tmp_path / "evil.py").write_text(f"open({str(marker)!r}, 'w').close()\nlr = 1\n")
    config = _write(tmp_path / f"exp{suffix}", {"_base_": "evil.py", "lr": 0.1})
    error = _refused(config, "'evil.py' is Python code", "load_config('evil.py')")
    assert error.path == str(config)
    assert not marker.exists()


def test_python_base_is_refused_anywhere_below_a_data_config(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    (tmp_path / "evil.PY").write_text(f"open({str(marker)!r}, 'w').close()\n")
    _write(tmp_path / "mid.yaml", {"_base_": ["ok.json", "evil.PY"]})
    _write(tmp_path / "ok.json", {"a": 1})
    (tmp_path / "exp.py").write_text("_base_ = 'mid.yaml'\nb = 2\n")
    error = _refused(tmp_path / "exp.py", "'evil.PY' is Python code")
    assert error.path == str(tmp_path / "mid.yaml")
    assert not marker.exists()


def test_python_config_may_name_python_bases_and_is_run_when_loaded_directly(tmp_path: Path) -> None:
    (tmp_path / "base.py").write_text("model = dict(depth=50, width=64)\n")
    (tmp_path / "exp.py").write_text("_base_ = ['base.py']\nmodel = dict(depth=101)\n")
    assert load_config(tmp_path / "exp.py") == {"model": {"depth": 101, "width": 64}}
    assert load_config(tmp_path / "base.py") == {"model": {"depth": 50, "width": 64}}


# -- 2. bases stay inside the config tree ----------------------------------------------------------
@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """``configs/`` with an experiment, and a secret file beside (outside) it."""
    _write(tmp_path / "secret.json", {"token": "s3cret"})
    _write(tmp_path / "configs" / "common" / "model.json", {"model": "resnet"})
    return tmp_path / "configs"


@pytest.mark.parametrize(
    "make_base",
    [
        lambda tree: "../secret.json",
        lambda tree: "common/../../secret.json",
        lambda tree: str(tree.parent / "secret.json"),
        lambda tree: (tree / "link.json").symlink_to(tree.parent / "secret.json") or "link.json",
        lambda tree: (tree / "linkdir").symlink_to(tree.parent, target_is_directory=True)
        or "linkdir/secret.json",
    ],
    ids=["dotdot", "dotdot-through-subfolder", "absolute", "symlinked-file", "symlinked-folder"],
)
def test_bases_outside_the_tree_are_refused_unless_allowed(
    tree: Path, make_base: Callable[[Path], str]
) -> None:
    base = make_base(tree)
    config = _write(tree / "exp.yaml", {"_base_": base, "lr": 0.1})
    error = _refused(config, repr(base), "outside the config tree", str(tree.resolve()), "allow_outside=True")
    assert error.path == str(config)
    expected = {"token": "s3cret", "lr": 0.1}
    assert load_config(config, allow_outside=True) == expected
    assert ADict.from_file(config, allow_outside=True) == expected


def test_the_tree_is_the_top_level_files_folder_at_every_depth(tree: Path) -> None:
    _write(tree / "common" / "schedule.json", {"_base_": "../shared.json", "epochs": 12})
    _write(tree / "shared.json", {"seed": 0})
    _write(tree / "common" / "leak.json", {"_base_": "../../secret.json"})
    absolute_inside = str((tree / "common" / "model.json").resolve())
    config = _write(tree / "exp.json", {"_base_": ["common/schedule.json", absolute_inside]})
    assert load_config(config) == {"seed": 0, "epochs": 12, "model": "resnet"}
    _write(tree / "exp2.json", {"_base_": "common/leak.json"})
    error = _refused(tree / "exp2.json", "'../../secret.json'", "outside the config tree")
    assert error.path == str(tree / "common" / "leak.json")
    # Loaded directly, common/ is the tree: its own parent is outside.
    _refused(tree / "common" / "schedule.json", "'../shared.json'", str((tree / "common").resolve()))


# -- 3. each file is read once per load ------------------------------------------------------------
_opened: list[str] = []
_watching: str | None = None


def _audit(event: str, args: tuple) -> None:  # type: ignore[type-arg]
    if event == "open" and _watching is not None and isinstance(args[0], (str, bytes, os.PathLike)):
        name = os.fsdecode(args[0])
        if name.startswith(_watching):
            _opened.append(name)


sys.addaudithook(_audit)


@contextmanager
def _count_opens(folder: Path) -> Iterator[list[str]]:
    global _watching
    _opened.clear()
    _watching = str(folder)
    try:
        yield _opened
    finally:
        _watching = None


def test_a_base_named_twice_per_level_is_read_once(tmp_path: Path) -> None:
    levels = 12
    padding = {f"key_{i}": list(range(20)) for i in range(300)}  # a sizeable file to parse
    for level in range(levels):
        data = {f"level_{level}": level, **padding}
        if level + 1 < levels:
            data["_base_"] = [f"level{level + 1}.json", f"level{level + 1}.json"]
        _write(tmp_path / f"level{level}.json", data)
    with _count_opens(tmp_path) as opened:
        config = load_config(tmp_path / "level0.json")
    assert sorted(opened) == sorted(str(tmp_path / f"level{level}.json") for level in range(levels))
    assert {config[f"level_{level}"] for level in range(levels)} == set(range(levels))


def test_a_shared_base_is_read_once_and_each_branch_sees_it_unchanged(tmp_path: Path) -> None:
    _write(tmp_path / "d.yaml", {"m": {"x": 0, "y": 0}, "tags": ["d"]})
    _write(tmp_path / "b.yaml", {"_base_": "d.yaml", "m": {"x": 1}})
    _write(tmp_path / "c.yaml", {"_base_": "d.yaml", "m": {"y": 2}})
    _write(tmp_path / "a.yaml", {"_base_": ["b.yaml", "c.yaml"]})
    with _count_opens(tmp_path) as opened:
        config = load_config(tmp_path / "a.yaml")
    # c's copy of d must not carry b's x=1: merging never changes a shared result.
    assert config == {"m": {"x": 0, "y": 2}, "tags": ["d"]}
    assert sorted(opened) == sorted(str(tmp_path / f"{name}.yaml") for name in "abcd")


# -- 4. YAML aliases and nesting depth are bounded -------------------------------------------------
def _laughs(levels: int = 9, width: int = 9) -> str:
    lines = ["lol0: &lol0 [lol]"]
    for level in range(1, levels + 1):
        aliases = ", ".join([f"*lol{level - 1}"] * width)
        lines.append(f"lol{level}: &lol{level} [{aliases}]")
    return "\n".join(lines) + "\n"


def _merge_key_laughs(levels: int = 9, width: int = 9) -> str:
    lines = ["l0: &l0 {k: v}"]
    for level in range(1, levels + 1):
        aliases = ", ".join([f"*l{level - 1}"] * width)
        lines += [f"l{level}: &l{level}", f"  <<: [{aliases}]", f"  own{level}: 1"]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("text", [_laughs(), _merge_key_laughs()], ids=["lists", "merge-keys"])
def test_billion_laughs_is_refused_before_it_expands(tmp_path: Path, text: str) -> None:
    path = tmp_path / "laughs.yaml"
    path.write_text(text)
    start = time.perf_counter()
    error = _refused(path, f"aliases expand to more than {MAX_ALIAS_NODES} nodes")
    assert time.perf_counter() - start < 1.0
    assert error.line is not None


def test_reasonable_aliases_and_merge_keys_still_load(tmp_path: Path) -> None:
    path = tmp_path / "anchors.yaml"
    runs = "".join(f"run{i}:\n  <<: *defaults\n  lr: {i}\n" for i in range(200))
    path.write_text("defaults: &defaults {lr: 0.1, wd: 0.01, layers: [1, 2, 3]}\n" + runs)
    config = load_config(path)
    assert config["run7"] == {"lr": 7, "wd": 0.01, "layers": [1, 2, 3]}


@pytest.mark.parametrize("text", ["a: &a [1, *a]\n", "a: &a {b: *a}\n", "x: 1\nb: &b {c: [*b]}\n"])
def test_recursive_yaml_aliases_are_refused(tmp_path: Path, text: str) -> None:
    path = tmp_path / "loop.yaml"
    path.write_text(text)
    _refused(path, "recursive")


def _nested(suffix: str, depth: int) -> str:
    """A document whose containers nest ``depth`` levels, the top-level mapping included."""
    if suffix == ".json":
        return '{"a": ' * depth + "1" + "}" * depth
    if suffix == ".yaml":
        return "".join("  " * level + "a:\n" for level in range(depth - 1)) + "  " * (depth - 1) + "x: 1\n"
    if suffix == ".toml":
        return "[" + ".".join(["a"] * (depth - 1)) + "]\nx = 1\n" if depth > 1 else "x = 1\n"
    if suffix == ".xyz":
        return "".join("  " * level + "a:\n" for level in range(depth - 1)) + "  " * (depth - 1) + "x: 1\n"
    return "a = " + "[" * (depth - 1) + "]" * (depth - 1) + "\n"  # .py


@pytest.mark.parametrize("suffix", [*DATA_SUFFIXES, ".py"])
def test_nesting_is_bounded_in_every_format(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"deep{suffix}"
    path.write_text(_nested(suffix, MAX_DEPTH))
    load_config(path)
    path.write_text(_nested(suffix, MAX_DEPTH + 1))
    error = _refused(path, f"nested deeper than {MAX_DEPTH} levels")
    assert error.path == str(path)


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("deep.json", "[" * 100_000),
        ("deep2.json", '{"a": ' + "[" * 50_000 + "]" * 50_000 + "}"),
        ("deep.yaml", "a: " + "[" * 100_000),
        ("deep.toml", "a = " + "[" * 5_000 + "]" * 5_000 + "\n"),
        ("deep.xyz", "".join("  " * level + "a:\n" for level in range(3_000))),
        ("deep2.xyz", "a: " + "[" * 150 + "]" * 150 + "\n"),
        ("cycle.py", "a = []\na.append(a)\n"),
    ],
)
def test_hostile_nesting_is_a_config_error_not_a_recursion_error(
    tmp_path: Path, name: str, text: str
) -> None:
    path = tmp_path / name
    path.write_text(text)
    error = _refused(path)
    assert error.path == str(path)
    assert "nested deeper" in error.reason or "contains itself" in error.reason


# -- 5. only regular files -------------------------------------------------------------------------
def _load_in_thread(path: Path, timeout: float = 5.0) -> BaseException | None:
    """Load ``path`` in a thread; fail (and unblock it) if it hangs, as a FIFO open would."""
    outcome: list[BaseException | None] = []

    def target() -> None:
        try:
            load_config(path)
            outcome.append(None)
        except BaseException as exc:  # noqa: BLE001 - handed back to the test
            outcome.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        for fifo in path.parent.iterdir():
            if fifo.is_fifo():  # a writer that closes at once lets the blocked reader see EOF
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        thread.join(timeout)
        pytest.fail(f"loading {path} blocked")
    return outcome[0]


needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")


@needs_fifo
@pytest.mark.parametrize("as_base", [False, True], ids=["top-level", "base"])
def test_a_fifo_is_refused_without_blocking(tmp_path: Path, as_base: bool) -> None:
    os.mkfifo(tmp_path / "pipe.yaml")
    path = _write(tmp_path / "exp.json", {"_base_": "pipe.yaml"}) if as_base else tmp_path / "pipe.yaml"
    error = _load_in_thread(path)
    assert isinstance(error, ConfigFileError)
    assert error.path == str(tmp_path / "pipe.yaml")
    assert "not a regular file (a FIFO)" in str(error)


@pytest.mark.skipif(not os.path.exists("/dev/null"), reason="no /dev/null here")
@pytest.mark.parametrize("as_base", [False, True], ids=["top-level", "base"])
def test_a_device_is_refused(tmp_path: Path, as_base: bool) -> None:
    (tmp_path / "null.yaml").symlink_to("/dev/null")
    path = _write(tmp_path / "exp.json", {"_base_": "null.yaml"}) if as_base else tmp_path / "null.yaml"
    error = _refused(path, "not a regular file (a character device)", allow_outside=True)
    assert error.path == str(tmp_path / "null.yaml")


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero here")
def test_an_endless_device_is_refused_at_once(tmp_path: Path) -> None:
    # In a child with a memory cap: reading /dev/zero would otherwise fill this machine's memory.
    script = """
        import resource, sys
        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
        from ato.config.files import load_config
        from ato.errors import ConfigFileError
        try:
            load_config(sys.argv[1], allow_outside=True)
        except ConfigFileError as exc:
            print(exc)
    """
    (tmp_path / "zero.toml").symlink_to("/dev/zero")
    _write(tmp_path / "exp.json", {"_base_": "zero.toml"})
    for target in ("zero.toml", "exp.json"):
        result = run_script(tmp_path, script, str(tmp_path / target), timeout=60, check=False)
        assert result.returncode == 0, result.stderr[-2000:]
        expected = f"{tmp_path / 'zero.toml'}: not a regular file (a character device);"
        assert result.stdout.startswith(expected) and result.stdout.count("\n") == 1


def test_a_directory_is_refused_and_never_run(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    (tmp_path / "pkg.py").mkdir()
    (tmp_path / "pkg.py" / "__main__.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    _refused(tmp_path / "pkg.py", "not a regular file (a directory)")
    assert not marker.exists()
    (tmp_path / "folder.yaml").mkdir()
    error = _refused(_write(tmp_path / "exp.json", {"_base_": "folder.yaml"}), "(a directory)")
    assert error.path == str(tmp_path / "folder.yaml")


# -- 6. every error is one line that says what and where -------------------------------------------
@pytest.mark.parametrize(
    ("name", "text", "line", "fragment"),
    [
        ("date.yaml", "lr: 0.1\nwhen: 2020-13-45\n", 2, "month must be in 1..12"),
        ("tag.yaml", "lr: 0.1\nn: !!int twelve\n", 2, "invalid literal for int()"),
        ("float.yaml", "x: !!float abc\n", 1, "could not convert"),
        ("bigint.yaml", "lr: 0.1\nn: " + "7" * 5000 + "\n", 2, "Exceeds the limit"),
        ("bigint.json", '{"n": ' + "7" * 5000 + "}", None, "Exceeds the limit"),
        ("setkey.xyz", "lr: 1\n[{1}]: 2\n", 2, "a set cannot be a key"),
        ("badkey.xyz", "[a(]: 2\n", 1, "malformed literal"),
        ("item.xyz", "a:\n  0) 1\n  " + "7" * 5000 + ") 2\n", 3, "out of order"),
        ("empty-int.yaml", "a: 1\nb: !!int\n", 2, "cannot read a value"),
        ("toml-crash.toml", "...  ", None, "malformed TOML (IndexError"),
    ],
)
def test_values_parsers_choke_on_are_one_line_errors_with_the_line(
    tmp_path: Path, name: str, text: str, line: int | None, fragment: str
) -> None:
    path = tmp_path / name
    path.write_text(text)
    error = _refused(path, fragment)
    assert error.path == str(path) and error.line == line


def test_python_config_errors_are_one_line(tmp_path: Path) -> None:
    path = tmp_path / "c.py"
    path.write_text("raise ValueError('first line\\nsecond line')\n")
    error = _refused(path, "raised ValueError: first line second line")
    assert error.line == 1


_fragments = st.sampled_from(
    ["a", ": ", "=", "\n", "  ", "- ", "[", "]", "{", "}", ",", '"', "'", "&x ", "*x", "<<: ", "!!int ",
     "!!str ", "!!timestamp ", "2020-13-45", "1e999", "0x", "7" * 4400, "[[1]]", "(", ")", "#", "\t", "\\",
     "%", "_base_", "?", "| ", "> ", "...", "---", "\x00", "\ufeff", "é"]
)


@settings(max_examples=400)
@given(st.sampled_from([".json", ".yaml", ".toml", ".xyz"]), st.lists(_fragments, max_size=25).map("".join))
def test_any_text_loads_or_is_one_clear_line(suffix: str, text: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"fuzz{suffix}"
        path.write_text(text, encoding="utf-8")
        try:
            load_config(path)
        except ConfigFileError as error:
            assert "\n" not in str(error) and "\r" not in str(error)
            assert str(error).startswith(str(path))

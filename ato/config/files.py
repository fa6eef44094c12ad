"""Config files: JSON, YAML, TOML, XYZ and Python, with OpenMMLab-style ``_base_`` inheritance.

The format follows the extension (``.json``, ``.yaml``/``.yml``, ``.toml``, ``.xyz``, ``.py``).
YAML is read with the safe loader only. A ``.py`` config is the user's own code and is run as
such; every top-level name that does not start with an underscore and is not a module, function
or class becomes a key.

``_base_`` (a path or a list of paths, relative to the file) names configs to load first; the
file's own keys are merged on top, mapping by mapping. A mapping with ``_delete_=True`` replaces
what the bases had at that key instead of merging into it.

Data files are data, whoever wrote them:

- A data config (JSON, YAML, TOML, XYZ) may name only data files as ``_base_``; a ``.py`` base is
  refused, since running Python is a choice only the user makes, by loading a ``.py`` config
  themselves (``load_config('x.py')``). A ``.py`` config may name ``.py`` bases: whoever loads it
  already runs its code, and OpenMMLab configs inherit from Python files this way.
- Bases resolve inside the config tree (the folder of the file passed to :func:`load_config`,
  and below it): a ``..`` escape, an absolute path or a symlink that leads outside is refused
  unless the caller passes ``allow_outside=True``.
- Every file must be a regular file (never a FIFO, a directory or a device), and is read and
  parsed once per :func:`load_config` call however many times the hierarchy names it.
- Containers nest at most :data:`MAX_DEPTH` levels in every format, and a YAML file's aliases
  may add at most :data:`MAX_ALIAS_NODES` nodes once followed (a "billion laughs" is refused
  while it is composed, before anything is expanded).

Every error is a one-line :class:`~ato.errors.ConfigFileError` naming the file, and the line
where the parser gives one.

Round trips keep every type the format can hold; where a format cannot hold a value (``None`` in
TOML, a tuple in JSON or YAML becomes a list) the loss is documented here, and values with no
representation at all raise :class:`~ato.errors.ConfigFileError` before anything is written.
"""

from __future__ import annotations

import json
import os
import runpy
import stat
import types
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, overload

import toml
import yaml

from ato.config import xyz
from ato.config.literals import format_literal
from ato.errors import ConfigFileError, ConfigFileNotFoundError, ConfigWarning

__all__ = [
    "ALLOWED_EXTS", "MAX_ALIAS_NODES", "MAX_DEPTH", "compose_hierarchy", "dump_config", "load_config",
    "load_configs", "load_python_config", "strip_delete",
]

MAX_DEPTH = 100
"""The deepest nesting of mappings and lists a config file may have, in any format."""
MAX_ALIAS_NODES = 100_000
"""How many nodes the aliases of one YAML file may add once they are followed."""

_BASE = "_base_"
_DELETE = "_delete_"
_DATA_SUFFIXES = (".json", ".yaml", ".yml", ".toml", ".xyz")
_LIST_SUFFIXES = (".json", ".xyz")  # where ato 2.1.7's from_file read a top-level list of configs
ALLOWED_EXTS = (".yaml", ".yml", ".json", ".toml", ".xyz")
"""The extensions :func:`compose_hierarchy` looks for, in this order (as in ato 2.1.7)."""


def load_config(path: str | os.PathLike[str], *, allow_outside: bool = False) -> dict[Any, Any]:
    """Read a config file into plain data, resolving ``_base_`` inheritance.

    Bases must lie in the folder of ``path`` or below it unless ``allow_outside`` is true.
    """
    path = Path(path)
    load = _Load(tree=path.parent.resolve(), allow_outside=allow_outside)
    return load.with_bases(path, ())


def load_configs(
    path: str | os.PathLike[str], *, allow_outside: bool = False
) -> dict[Any, Any] | list[dict[Any, Any]]:
    """:func:`load_config`, except that a JSON or XYZ file whose top level is a list of mappings
    gives a list of them, as ato 2.1.7's ``ADict.from_file`` did.

    The list's mappings are data as they stand: bases are a file's, so only a top-level mapping
    has them, and a ``_base_`` key inside the list is refused rather than silently kept as data.
    Every other rule (regular files, depth limits, one-line errors) is :func:`load_config`'s.
    """
    path = Path(path)
    if path.suffix.lower() not in _LIST_SUFFIXES:
        return load_config(path, allow_outside=allow_outside)
    data = _read(path, allow_list=True)
    if isinstance(data, list):
        for index, item in enumerate(data):
            if not isinstance(item, Mapping):
                raise ConfigFileError(
                    path, f"a top-level list must hold mappings (configs), not {type(item).__name__} at [{index}]"
                )
            if _BASE in item:
                raise ConfigFileError(
                    path, f"_base_ at [{index}]: only a file whose top level is a mapping may name bases"
                )
        return [dict(item) for item in data]
    load = _Load(tree=path.parent.resolve(), allow_outside=allow_outside)
    return load.with_bases(path, (), data)


def load_python_config(path: str | os.PathLike[str]) -> dict[Any, Any]:
    """Run a ``.py`` config (the caller's choice to run code) and return its top-level names,
    resolving ``_base_`` inheritance; 2.1.7's ``ADict.compile_from_file``."""
    path = Path(path)
    if path.suffix.lower() != ".py":
        raise ConfigFileError(path, "compile_from_file runs Python files only; read data files with from_file")
    return load_config(path)


def compose_hierarchy(
    root: str | os.PathLike[str],
    config_filename: str = "config",
    select: Mapping[str, Any] | None = None,
    overrides: Mapping[str, Any] | None = None,
    on_missing: str = "error",
    required: Iterable[str] | None = None,
) -> dict[Any, Any]:
    """Compose a config from a folder, as ato 2.1.7's ``ADict.compose_hierarchy`` meant to.

    1. The base file ``root/config_filename.EXT``; then for each ``group: option`` of ``select``
       (an option may be a list of options) the file ``root/group/option.EXT``, its keys set over
       what is there (a shallow update). EXT is the first of :data:`ALLOWED_EXTS` that exists.
    2. ``overrides``: dotted keys (``'model.depth': 50``) set last, creating mappings on the way.
    3. ``required``: dotted keys that must then exist, else ``KeyError``.

    A file that is missing raises ``FileNotFoundError`` when ``on_missing='error'``, warns
    (:class:`~ato.errors.ConfigWarning`) when ``'warn'``, and is skipped when ``'ignore'``.
    Two deliberate fixes of 2.1.7: it raised for ``'error'`` when the base file *was* found
    (and never when it was missing), and it merged every extension found instead of the first.
    Bases (``_base_``) of every file resolve inside ``root``.
    """
    if on_missing not in ("error", "warn", "ignore"):
        raise ValueError(f"on_missing must be 'error', 'warn' or 'ignore', not {on_missing!r}")
    root = Path(root)
    load = _Load(tree=root.resolve(), allow_outside=False)
    config: dict[Any, Any] = {}

    def load_first(name: str) -> None:
        found = next((p for p in (root / (name + ext) for ext in ALLOWED_EXTS) if p.exists()), None)
        if found is not None:
            config.update(strip_delete(load.with_bases(found, ())))  # copies: overrides change it
        elif on_missing == "error":
            raise ConfigFileNotFoundError(root / name, f"not found (looked for {'/'.join(ALLOWED_EXTS)})")
        elif on_missing == "warn":
            warnings.warn(f"missing config: {root / name}.*", ConfigWarning, stacklevel=4)  # ADict's caller

    load_first(config_filename)
    for group, options in (select or {}).items():
        for option in options if isinstance(options, (list, tuple)) else [options]:
            load_first(os.path.join(group, str(option)))
    for dotted, value in (overrides or {}).items():
        *parents, last = dotted.split(".")
        target = config
        for key in parents:
            if not isinstance(target.get(key), dict):
                target[key] = {}
            target = target[key]
        target[last] = value
    for dotted in required or ():
        target = config
        for key in dotted.split("."):
            if not isinstance(target, Mapping) or key not in target:
                raise KeyError(f"Missing required key: {dotted}")
            target = target[key]
    return config


def dump_config(data: Mapping[Any, Any], path: str | os.PathLike[str], **options: Any) -> None:
    """Write ``data`` to ``path`` in the format its extension names, creating missing folders.

    ``options`` go to the writer, as ato 2.1.7's ``ADict.dump(path, **kwargs)`` passed them:
    ``json.dumps`` (over Ato's ``indent=2, ensure_ascii=False``), ``yaml.safe_dump`` (over
    ``sort_keys=False, allow_unicode=True``; YAML is always written with the safe dumper, so a
    ``Dumper=`` is refused), ``toml.dumps`` (``encoder=``), XYZ's ``format_dict=``; a ``.py``
    config takes none. The text is made before anything is created, so a value the format
    cannot hold or an option the writer refuses leaves no folder and no file behind.
    """
    path = Path(path)
    writer = _WRITERS.get(path.suffix.lower())
    if writer is None:
        raise ConfigFileError(path, f"unknown config format {path.suffix!r}; use one of {_SUFFIXES}")
    plain = _plain(data, path, "")
    text = writer(plain, path, **options)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


# -- reading ---------------------------------------------------------------------------------------
@dataclass
class _Load:
    """One :func:`load_config` call: the tree bases must stay in, and each file's result."""

    tree: Path
    allow_outside: bool
    # Keyed by the file and the folder its bases are relative to (they differ for a symlinked
    # base), so a diamond or a base named twice is read, parsed and merged once per call.
    done: dict[tuple[Path, Path], dict[Any, Any]] = field(default_factory=dict)

    def with_bases(self, path: Path, chain: tuple[Path, ...], data: dict[Any, Any] | None = None) -> dict[Any, Any]:
        resolved = path.resolve()
        if resolved in chain:
            cycle = " -> ".join(str(p) for p in (*chain, resolved))
            raise ConfigFileError(path, f"_base_ inheritance cycle: {cycle}")
        key = (resolved, path.parent.resolve())
        if key not in self.done:
            self.done[key] = self._merged(path, (*chain, resolved), data)
        # Safe to share: _merge copies every mapping it takes and never changes its input.
        return self.done[key]

    def _merged(self, path: Path, chain: tuple[Path, ...], data: dict[Any, Any] | None = None) -> dict[Any, Any]:
        """The file's keys over its bases' (``data``: the file already read, else read here)."""
        if data is None:
            data = _read(path)
        bases = data.pop(_BASE, None)
        if bases is None:
            return strip_delete(data)
        merged: dict[Any, Any] = {}
        for base_path in self._base_paths(path, bases):
            _merge(merged, self.with_bases(base_path, chain))
        _merge(merged, data)
        return merged

    def _base_paths(self, path: Path, bases: Any) -> list[Path]:
        if isinstance(bases, str):
            bases = [bases]
        if not isinstance(bases, (list, tuple)) or not all(isinstance(b, str) for b in bases):
            raise ConfigFileError(path, "_base_ must be a path or a list of paths")
        return [self._base_path(path, base) for base in bases]

    def _base_path(self, path: Path, base: str) -> Path:
        if path.suffix.lower() != ".py" and Path(base).suffix.lower() == ".py":
            raise ConfigFileError(
                path,
                f"_base_ {base!r} is Python code, and a data config may not make Ato run code: "
                f"name only {'/'.join(_DATA_SUFFIXES)} bases, or, if you trust it, load the .py "
                f"config yourself with load_config({base!r})",
            )
        base_path = path.parent / base
        try:
            resolved = base_path.resolve()
            exists = base_path.exists()
            str(resolved).encode("utf-8")
        except (OSError, ValueError) as exc:  # a NUL byte, a name too long, text that is not UTF-8
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            raise ConfigFileError(path, f"_base_ {base[:80]!r} is not a usable path ({reason})") from None
        if not self.allow_outside and not resolved.is_relative_to(self.tree):
            raise ConfigFileError(
                path,
                f"_base_ {base!r} resolves to {resolved}, outside the config tree {self.tree}; "
                "pass allow_outside=True to load bases from elsewhere",
            )
        if not exists:
            raise ConfigFileNotFoundError(path, f"_base_ file {base!r} not found (looked at {base_path})")
        return base_path


def _merge(target: dict[Any, Any], update: Mapping[Any, Any]) -> None:
    for key, value in update.items():
        if isinstance(value, Mapping):
            replace = value.get(_DELETE, False)
            current = target.get(key)
            if isinstance(current, dict) and not replace:
                _merge(current, value)
                continue
            value = strip_delete(value)
        target[key] = value


def strip_delete(data: Mapping[Any, Any]) -> dict[Any, Any]:
    """A copy of ``data`` with its mappings copied and their ``_delete_`` keys left out."""
    return {
        key: strip_delete(value) if isinstance(value, Mapping) else value
        for key, value in data.items()
        if key != _DELETE
    }


@overload
def _read(path: Path) -> dict[Any, Any]: ...


@overload
def _read(path: Path, allow_list: bool) -> dict[Any, Any] | list[Any]: ...


def _read(path: Path, allow_list: bool = False) -> dict[Any, Any] | list[Any]:
    reader = _READERS.get(path.suffix.lower())
    if reader is None:
        raise ConfigFileError(path, f"unknown config format {path.suffix!r}; use one of {_SUFFIXES}")
    _require_regular_file(path)
    text = "" if reader is _read_python else _read_text(path)
    try:
        data = reader(text, path)
    except RecursionError:  # a parser that recurses per level gave up before our own check
        raise ConfigFileError(path, f"nested deeper than {MAX_DEPTH} levels") from None
    if data is None:
        return {}
    if allow_list and isinstance(data, list):
        _check_depth(data, path)
        return data
    if not isinstance(data, Mapping):
        raise ConfigFileError(path, f"the top level must be a mapping, not {type(data).__name__}")
    _check_depth(data, path)
    return dict(data)


def _require_regular_file(path: Path) -> None:
    """Refuse FIFOs, directories and devices before opening them: opening a FIFO blocks until a
    writer comes, a device can be endless (/dev/zero), and runpy runs a directory's __main__.py."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError as exc:
        raise ConfigFileNotFoundError(path, f"cannot read: {exc.strerror or exc}") from None
    except OSError as exc:
        raise ConfigFileError(path, f"cannot read: {exc.strerror or exc}") from None
    _require_regular_mode(path, mode)


def _require_regular_mode(path: Path, mode: int) -> None:
    if stat.S_ISREG(mode):
        return
    kinds = [
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ]
    kind = next((name for test, name in kinds if test(mode)), "not a plain file")
    raise ConfigFileError(path, f"not a regular file ({kind}); a config must be a regular file")


def _read_text(path: Path) -> str:
    # O_NONBLOCK and a second look at the open file: a file swapped for a FIFO after the stat
    # above is refused instead of blocking (reading a regular file ignores O_NONBLOCK).
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise ConfigFileError(path, f"cannot read: {exc.strerror or exc}") from None
    with open(fd, "rb", closefd=True) as file:
        _require_regular_mode(path, os.fstat(fd).st_mode)
        try:
            content = file.read()
        except OSError as exc:
            raise ConfigFileError(path, f"cannot read: {exc.strerror or exc}") from None
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigFileError(path, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def _check_depth(data: Mapping[Any, Any] | list[Any], path: Path) -> None:
    """Refuse data nested deeper than MAX_DEPTH, or containing itself, wherever it came from
    (deep TOML tables, a .py config's lists): the merge and the hash recurse per level."""
    heights: dict[int, int] = {}  # id -> height of a container already measured; -1 while open
    trail: list[Any] = []  # the keys down to the current value, for the message

    def where() -> str:
        shown = ".".join(_key_text(key) for key in trail[:3]) + (".…" if len(trail) > 3 else "")
        return f" (under {shown})" if shown else ""

    def height(value: Any, depth: int) -> int:
        children: Iterable[tuple[Any, Any]]
        if isinstance(value, Mapping):
            children = value.items()
        elif isinstance(value, (list, tuple)):
            children = enumerate(value)
        else:
            return 0
        known = heights.get(id(value))
        if known == -1:
            raise ConfigFileError(path, f"a value contains itself{where()}; config data must be a tree")
        if known is None:
            if depth > MAX_DEPTH:
                raise ConfigFileError(path, f"nested deeper than {MAX_DEPTH} levels{where()}")
            heights[id(value)] = -1
            tallest = 0
            for key, child in children:
                trail.append(key)
                tallest = max(tallest, height(child, depth + 1))
                trail.pop()
            known = heights[id(value)] = tallest + 1
        if depth + known - 1 > MAX_DEPTH:  # a shared container measured at a shallower place
            raise ConfigFileError(path, f"nested deeper than {MAX_DEPTH} levels{where()}")
        return known

    height(data, 1)


def _key_text(key: Any) -> str:
    try:
        return key if isinstance(key, str) else repr(key)[:40]
    except ValueError:  # an integer too long for decimal text
        return type(key).__name__


def _one_line(text: object) -> str:
    """Parser messages may span lines; an error is one line."""
    return " ".join(str(text).split())


def _read_json(text: str, path: Path) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigFileError(path, f"malformed JSON: {exc.msg} (column {exc.colno})", exc.lineno) from None
    except ValueError as exc:  # an integer longer than Python reads from text
        raise ConfigFileError(path, f"malformed JSON: {_one_line(exc)}") from None


class _YAMLLimitError(yaml.MarkedYAMLError):
    """A YAML file that is well formed but past a limit (depth, alias expansion)."""


class _BoundedSafeLoader(yaml.SafeLoader):
    """PyYAML's safe loader that measures each node as it is composed: nesting depth, and how
    many nodes the aliases add once followed. Aliases share one object in what PyYAML builds,
    but every later step (merge, hash, ADict) copies them, so nine levels of nine aliases
    would become 387 million nodes; counting at composition refuses them before that."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._composed = 0
        self._sizes: dict[int, int] = {}  # id(node) -> its node count with aliases followed

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            node = super().compose_node(parent, index)
            if id(node) not in self._sizes:  # the anchored node is still being composed
                raise _YAMLLimitError(
                    None, None, f"alias *{event.anchor} is inside the node it names (a recursive structure)",
                    event.start_mark,
                )
            return node
        nests = isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent))
        self._depth += nests
        if self._depth > MAX_DEPTH:
            raise _YAMLLimitError(None, None, f"nested deeper than {MAX_DEPTH} levels", event.start_mark)
        before = self._composed
        node = super().compose_node(parent, index)
        self._depth -= nests
        self._composed += 1
        size = self._sizes[id(node)] = 1 + sum(self._sizes[id(child)] for child in _yaml_children(node))
        if size - (self._composed - before) > MAX_ALIAS_NODES:
            raise _YAMLLimitError(
                None, None, f"its aliases expand to more than {MAX_ALIAS_NODES} nodes", event.start_mark
            )
        return node

    def construct_object(self, node: Any, deep: bool = False) -> Any:
        # A value the safe constructor cannot convert (``2020-13-45``, ``!!int x``, an empty
        # ``!!int``, an integer of 5000 digits) raises a bare ValueError, IndexError and the
        # like; only data is built here, so any of them is the file's fault: give its line.
        try:
            return super().construct_object(node, deep)
        except yaml.YAMLError:
            raise
        except Exception as exc:
            raise yaml.constructor.ConstructorError(
                None, None, f"cannot read a value: {_one_line(exc)}", node.start_mark
            ) from None


def _yaml_children(node: Any) -> list[Any]:
    if isinstance(node, yaml.MappingNode):
        return [child for pair in node.value for child in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _read_yaml(text: str, path: Path) -> Any:
    try:
        return yaml.load(text, Loader=_BoundedSafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = _one_line(getattr(exc, "problem", None) or exc)
        line = mark.line + 1 if mark is not None else None
        column = f" (column {mark.column + 1})" if mark is not None else ""
        kind = "YAML refused" if isinstance(exc, _YAMLLimitError) else "malformed YAML"
        raise ConfigFileError(path, f"{kind}: {problem}{column}", line) from None


def _read_toml(text: str, path: Path) -> Any:
    try:
        return toml.loads(text)
    except toml.TomlDecodeError as exc:
        raise ConfigFileError(
            path, f"malformed TOML: {_one_line(exc.msg)} (column {exc.colno})", exc.lineno
        ) from None
    except RecursionError:
        raise
    except Exception as exc:  # the toml package trips over some malformed text (IndexError, ...)
        raise ConfigFileError(path, f"malformed TOML ({type(exc).__name__}: {_one_line(exc)})") from None


def _read_xyz(text: str, path: Path) -> Any:
    try:
        return xyz.loads(text, max_depth=MAX_DEPTH)
    except xyz.XYZSyntaxError as exc:
        raise ConfigFileError(path, f"malformed XYZ: {_one_line(exc)}", exc.line) from None


def _read_python(_: str, path: Path) -> Any:
    try:
        namespace = runpy.run_path(str(path))
    except SyntaxError as exc:
        raise ConfigFileError(path, f"invalid Python: {_one_line(exc.msg)}", exc.lineno) from None
    except FileNotFoundError:
        raise ConfigFileError(path, "file not found") from None
    except Exception as exc:
        line = next(
            (frame.lineno for frame in _traceback_frames(exc) if Path(frame.filename) == path),
            None,
        )
        raise ConfigFileError(path, f"raised {type(exc).__name__}: {_one_line(exc)}", line) from exc
    return {
        key: value
        for key, value in namespace.items()
        if (not key.startswith("_") or key == _BASE)
        and not isinstance(value, (types.ModuleType, types.FunctionType, type))
    }


def _traceback_frames(exc: BaseException) -> list[Any]:
    import traceback

    return list(traceback.extract_tb(exc.__traceback__))


# -- writing ---------------------------------------------------------------------------------------
def _plain(value: Any, path: Path, where: str) -> Any:
    """Plain dicts/lists/tuples and builtin scalars; numpy scalars become Python numbers."""
    if isinstance(value, Mapping):
        return {k: _plain(v, path, f"{where}.{k}" if where else str(k)) for k, v in value.items()}
    if type(value) in (list, tuple):
        return type(value)(_plain(v, path, f"{where}[{i}]") for i, v in enumerate(value))
    if value is None or type(value) in (bool, int, float, str):
        return value
    if type(value).__module__ == "numpy" and getattr(value, "ndim", None) == 0:
        return value.item()
    if type(value).__module__ == "numpy":
        return value.tolist()
    try:
        format_literal(value)
    except TypeError:
        raise ConfigFileError(
            path, f"cannot write {type(value).__qualname__} value at {where or 'top level'}: {value!r}"
        ) from None
    return value


def _lists(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _lists(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_lists(v) for v in value]
    return value


def _write_json(data: dict[Any, Any], path: Path, **options: Any) -> str:
    options = {"indent": 2, "ensure_ascii": False, "allow_nan": True, **options}
    return json.dumps(_lists(data), **options) + "\n"


def _write_yaml(data: dict[Any, Any], path: Path, **options: Any) -> str:
    if "Dumper" in options:
        raise ConfigFileError(path, "YAML configs are written with the safe dumper only; leave out Dumper=")
    options = {"sort_keys": False, "allow_unicode": True, **options}
    text = yaml.safe_dump(_lists(data), **options)
    if not isinstance(text, str):  # encoding= makes PyYAML return bytes
        raise ConfigFileError(path, "YAML configs are written as UTF-8 text; leave out encoding=")
    return text


def _write_toml(data: dict[Any, Any], path: Path, **options: Any) -> str:
    _refuse_none(data, path, "")
    return toml.dumps(_lists(data), **options)


def _refuse_none(value: Any, path: Path, where: str) -> None:
    if value is None:
        raise ConfigFileError(path, f"TOML cannot hold None (at {where}); use another format")
    if isinstance(value, dict):
        for key, item in value.items():
            _refuse_none(item, path, f"{where}.{key}" if where else str(key))
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            _refuse_none(item, path, f"{where}[{index}]")


def _write_xyz(data: dict[Any, Any], path: Path, *, format_dict: Mapping[str, Any] | None = None) -> str:
    return xyz.dumps(data, format_dict=format_dict)


def _write_python(data: dict[Any, Any], path: Path, **options: Any) -> str:
    if options:
        raise TypeError(f"a .py config is written without options, not {', '.join(sorted(options))}")
    lines = ["# Written by ato."]
    for key, value in data.items():
        if not (isinstance(key, str) and key.isidentifier()):
            raise ConfigFileError(path, f"key {key!r} is not a Python name; use another format")
        lines.append(f"{key} = {format_literal(value, python=True)}")
    return "\n".join(lines) + "\n"


_READERS = {
    ".json": _read_json,
    ".yaml": _read_yaml,
    ".yml": _read_yaml,
    ".toml": _read_toml,
    ".xyz": _read_xyz,
    ".py": _read_python,
}
_WRITERS: dict[str, Callable[..., str]] = {
    ".json": _write_json,
    ".yaml": _write_yaml,
    ".yml": _write_yaml,
    ".toml": _write_toml,
    ".xyz": _write_xyz,
    ".py": _write_python,
}
_SUFFIXES = ", ".join(_READERS)

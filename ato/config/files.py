"""Config files: JSON, YAML, TOML, XYZ and Python, with OpenMMLab-style ``_base_`` inheritance.

The format follows the extension (``.json``, ``.yaml``/``.yml``, ``.toml``, ``.xyz``, ``.py``).
YAML is read with the safe loader only. A ``.py`` config is the user's own code and is run as
such; every top-level name that does not start with an underscore and is not a module, function
or class becomes a key.

``_base_`` (a path or a list of paths, relative to the file) names configs to load first; the
file's own keys are merged on top, mapping by mapping. A mapping with ``_delete_=True`` replaces
what the bases had at that key instead of merging into it.

Round trips keep every type the format can hold; where a format cannot hold a value (``None`` in
TOML, a tuple in JSON or YAML becomes a list) the loss is documented here, and values with no
representation at all raise :class:`~ato.errors.ConfigFileError` before anything is written.
"""

from __future__ import annotations

import json
import os
import runpy
import types
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import toml
import yaml

from ato.config import xyz
from ato.config.literals import format_literal
from ato.errors import ConfigFileError

__all__ = ["dump_config", "load_config"]

_BASE = "_base_"
_DELETE = "_delete_"


def load_config(path: str | os.PathLike[str]) -> dict[Any, Any]:
    """Read a config file into plain data, resolving ``_base_`` inheritance."""
    return _load_with_bases(Path(path), ())


def dump_config(data: Mapping[Any, Any], path: str | os.PathLike[str]) -> None:
    """Write ``data`` to ``path`` in the format its extension names."""
    path = Path(path)
    writer = _WRITERS.get(path.suffix.lower())
    if writer is None:
        raise ConfigFileError(path, f"unknown config format {path.suffix!r}; use one of {_SUFFIXES}")
    plain = _plain(data, path, "")
    text = writer(plain, path)
    path.write_text(text, encoding="utf-8")


# -- reading ---------------------------------------------------------------------------------------
def _load_with_bases(path: Path, chain: tuple[Path, ...]) -> dict[Any, Any]:
    resolved = path.resolve()
    if resolved in chain:
        cycle = " -> ".join(str(p) for p in (*chain, resolved))
        raise ConfigFileError(path, f"_base_ inheritance cycle: {cycle}")
    data = _read(path)
    bases = data.pop(_BASE, None)
    if bases is None:
        return _strip_delete(data)
    if isinstance(bases, str):
        bases = [bases]
    if not isinstance(bases, (list, tuple)) or not all(isinstance(b, str) for b in bases):
        raise ConfigFileError(path, "_base_ must be a path or a list of paths")
    merged: dict[Any, Any] = {}
    for base in bases:
        base_path = path.parent / base
        if not base_path.exists():
            raise ConfigFileError(path, f"_base_ file {base!r} not found (looked at {base_path})")
        _merge(merged, _load_with_bases(base_path, (*chain, resolved)))
    _merge(merged, data)
    return merged


def _merge(target: dict[Any, Any], update: Mapping[Any, Any]) -> None:
    for key, value in update.items():
        if isinstance(value, Mapping):
            replace = value.get(_DELETE, False)
            current = target.get(key)
            if isinstance(current, dict) and not replace:
                _merge(current, value)
                continue
            value = _strip_delete(value)
        target[key] = value


def _strip_delete(data: Mapping[Any, Any]) -> dict[Any, Any]:
    return {
        key: _strip_delete(value) if isinstance(value, Mapping) else value
        for key, value in data.items()
        if key != _DELETE
    }


def _read(path: Path) -> dict[Any, Any]:
    reader = _READERS.get(path.suffix.lower())
    if reader is None:
        raise ConfigFileError(path, f"unknown config format {path.suffix!r}; use one of {_SUFFIXES}")
    if reader is not _read_python:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigFileError(path, f"cannot read: {exc.strerror or exc}") from None
        except UnicodeDecodeError as exc:
            raise ConfigFileError(path, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    else:
        text = ""
    data = reader(text, path)
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ConfigFileError(path, f"the top level must be a mapping, not {type(data).__name__}")
    return dict(data)


def _read_json(text: str, path: Path) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigFileError(path, f"malformed JSON: {exc.msg} (column {exc.colno})", exc.lineno) from None


def _read_yaml(text: str, path: Path) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        line = mark.line + 1 if mark is not None else None
        column = f" (column {mark.column + 1})" if mark is not None else ""
        raise ConfigFileError(path, f"malformed YAML: {problem}{column}", line) from None


def _read_toml(text: str, path: Path) -> Any:
    try:
        return toml.loads(text)
    except toml.TomlDecodeError as exc:
        raise ConfigFileError(path, f"malformed TOML: {exc.msg} (column {exc.colno})", exc.lineno) from None


def _read_xyz(text: str, path: Path) -> Any:
    try:
        return xyz.loads(text)
    except xyz.XYZSyntaxError as exc:
        raise ConfigFileError(path, f"malformed XYZ: {exc}", exc.line) from None


def _read_python(_: str, path: Path) -> Any:
    try:
        namespace = runpy.run_path(str(path))
    except SyntaxError as exc:
        raise ConfigFileError(path, f"invalid Python: {exc.msg}", exc.lineno) from None
    except FileNotFoundError:
        raise ConfigFileError(path, "file not found") from None
    except Exception as exc:
        line = next(
            (frame.lineno for frame in _traceback_frames(exc) if Path(frame.filename) == path),
            None,
        )
        raise ConfigFileError(path, f"raised {type(exc).__name__}: {exc}", line) from exc
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


def _write_json(data: dict[Any, Any], path: Path) -> str:
    return json.dumps(_lists(data), indent=2, ensure_ascii=False, allow_nan=True) + "\n"


def _write_yaml(data: dict[Any, Any], path: Path) -> str:
    return yaml.safe_dump(_lists(data), sort_keys=False, allow_unicode=True)


def _write_toml(data: dict[Any, Any], path: Path) -> str:
    _refuse_none(data, path, "")
    return toml.dumps(_lists(data))


def _refuse_none(value: Any, path: Path, where: str) -> None:
    if value is None:
        raise ConfigFileError(path, f"TOML cannot hold None (at {where}); use another format")
    if isinstance(value, dict):
        for key, item in value.items():
            _refuse_none(item, path, f"{where}.{key}" if where else str(key))
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            _refuse_none(item, path, f"{where}[{index}]")


def _write_xyz(data: dict[Any, Any], path: Path) -> str:
    return xyz.dumps(data)


def _write_python(data: dict[Any, Any], path: Path) -> str:
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
_WRITERS = {
    ".json": _write_json,
    ".yaml": _write_yaml,
    ".yml": _write_yaml,
    ".toml": _write_toml,
    ".xyz": _write_xyz,
    ".py": _write_python,
}
_SUFFIXES = ", ".join(_READERS)

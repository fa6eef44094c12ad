"""ADict: a dict with attribute access, defaults, auto-nesting, freezing and a structural hash.

``ADict`` is a real ``dict`` subclass, so it compares equal to plain dicts, serialises wherever a
dict does, and costs nothing extra to read. Nested mappings become ADicts when they are stored,
including mappings inside lists and tuples.

Keys that share a name with a method (``items``, ``keys``, ``update``, ``copy``, ``freeze``, ...)
are ordinary keys, but only through item access: ``config['items']``. As an attribute the name
always means the method, and assigning it as an attribute (``config.items = 3``) raises an
``AttributeError`` that says to use ``config['items'] = 3`` instead, so the collision is never
silent.

As in ato 2.1.7:

- ``ADict(default=0)`` (or ``set_default``) gives missing keys a default: reading one by item or
  attribute stores and returns a deep copy of it, or what it returns when it is callable;
  ``get`` returns it without storing. A key literally named ``default`` must therefore come in a
  mapping: ``ADict({'default': 1})``.
- ``ADict.auto()``'s default is another auto ADict, so ``config.model.backbone.layers = [...]``
  and ``config['model']['backbone'] = ...`` work at any depth.
- A tuple that is not itself a key reads, writes or deletes several keys:
  ``config['lr', 'epochs']`` is a list of both values, ``config['lr', 'epochs'] = 0.1, 10`` sets
  each (zipped, like ``zip``), and ``config['a', 'b'] = 0`` sets both to ``0``. A list of keys
  writes and deletes the same way (``config[['lr', 'epochs']] = 0.1, 10``), but only a tuple
  reads: a list is no dict key, so ``dict`` refuses it before any Python code runs, and reading
  it would take a Python ``__getitem__`` that slows every plain read.
- ``repr``/``str`` are a dict's: ``print(ADict(a=1))`` shows ``{'a': 1}``.

Names that start with an underscore never take the default as attributes (tools such as copy,
pickle and IPython probe for those); ``config['_x']`` does. A frozen ADict refuses every write
with :class:`~ato.errors.FrozenConfigError` (2.1.7 ignored them silently) and never invents keys.
"""

from __future__ import annotations

import argparse
import copy as _copy
import itertools
import json
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from os import PathLike
from typing import Any

from ato.config.structural_hash import structural_hash
from ato.errors import FrozenConfigError

__all__ = ["ADict"]


_NO_DEFAULT: Any = object()  # "no default", and "no such key" inside get


class ADict(dict):  # type: ignore[type-arg]
    """A config mapping with attribute access; see the module docstring for the rules."""

    __slots__ = ("_frozen", "_auto", "_default")

    def __init__(self, *args: Any, default: Any = _NO_DEFAULT, **kwargs: Any) -> None:
        _set_flags(self, False, False, default)
        for source in args:  # several mappings merge left to right, as in 2.1.7
            for key, value in _items(as_mapping(source)):
                dict.__setitem__(self, key, _adapt(value))
        for key, value in kwargs.items():
            dict.__setitem__(self, key, _adapt(value))

    @classmethod
    def auto(cls, *args: Any, **kwargs: Any) -> ADict:
        """Return an ADict whose missing keys spring into existence as nested auto ADicts."""
        new = cls(*args, **kwargs)
        new._set_auto(True)
        return new

    # -- reads: plain reads are dict's own; only a miss reaches Python code --------------------------
    def __missing__(self, key: Any) -> Any:
        if type(key) is tuple:  # not itself a key: read each
            return [self[name] for name in key]
        if self._frozen or not self._has_default():
            raise KeyError(key)
        self._set_one(key, self.get_default())
        return dict.__getitem__(self, key)

    def __getattr__(self, name: str) -> Any:
        # Only called when normal lookup fails, so methods always win over keys.
        value = dict.get(self, name, _NO_DEFAULT)
        if value is not _NO_DEFAULT:
            return value
        if not name.startswith("_"):
            try:
                return self.__missing__(name)
            except KeyError:
                pass
        raise AttributeError(f"ADict has no key {name!r}") from None

    def get(self, key: Any, default: Any = None) -> Any:
        """The value at ``key``, else this ADict's default (not stored) if it has one, else ``default``."""
        value = dict.get(self, key, _NO_DEFAULT)
        if value is not _NO_DEFAULT:
            return value
        return self.get_default() if self._has_default() else default

    def raw(self, name: Any, default: Any = None) -> ADict:
        """Return ``ADict(key=name, value=self.get(name, default))``."""
        return type(self)(key=name, value=self.get(name, default))

    def get_value_by_name(self, name: str) -> Any:
        """The value at a dotted path (``'model.backbone.depth'``); reading it creates nothing."""
        value: Any = self
        for key in name.split("."):
            if isinstance(value, Mapping) and key not in value:
                raise KeyError(name if key == name else f"{key!r} (in {name!r})")
            value = value[key]
        return value

    # -- defaults ---------------------------------------------------------------------------------
    def _has_default(self) -> bool:
        return self._default is not _NO_DEFAULT or self._auto

    def set_default(self, default: Any = None) -> None:
        """Give missing keys ``default`` (a callable is called for each key instead)."""
        object.__setattr__(self, "_default", default)

    def remove_default(self) -> None:
        """Make missing keys raise again (auto mode included, here only)."""
        object.__setattr__(self, "_default", _NO_DEFAULT)
        object.__setattr__(self, "_auto", False)

    def get_default(self) -> Any:
        """A fresh default: the default called, or a deep copy of it; in auto mode a new auto ADict."""
        default = self._default
        if default is not _NO_DEFAULT:
            return default() if callable(default) else _copy.deepcopy(default)
        if self._auto:
            return type(self).auto()
        raise ValueError("Default value is not defined.")

    # -- attribute writes ---------------------------------------------------------------------------
    def __setattr__(self, name: str, value: Any) -> None:
        if hasattr(type(self), name):
            raise AttributeError(f"{name!r} is an ADict method; set the key with config[{name!r}] = ... instead")
        self[name] = value

    def __delattr__(self, name: str) -> None:
        try:
            del self[name]
        except KeyError:
            raise AttributeError(f"ADict has no key {name!r}") from None

    def __dir__(self) -> Iterable[str]:
        return [*super().__dir__(), *(k for k in self if isinstance(k, str) and k.isidentifier())]

    # -- writes (all refuse while frozen) ---------------------------------------------------
    def __setitem__(self, key: Any, value: Any) -> None:
        if (type(key) is tuple and not dict.__contains__(self, key)) or type(key) is list:
            self._check_writable(key, "set")
            values = value if isinstance(value, (list, tuple)) else itertools.repeat(value)
            for name, item in zip(key, values):
                self[name] = item
        elif self._frozen:
            self._check_writable(key, "set")
        elif type(value) in _PLAIN_VALUES:
            dict.__setitem__(self, key, value)
        else:
            dict.__setitem__(self, key, _adapt(value, self._auto))

    def _set_one(self, key: Any, value: Any) -> None:
        """Set one key, even a tuple (``__setitem__`` reads a new tuple as several keys)."""
        if self._frozen:
            self._check_writable(key, "set")
        if type(value) in _PLAIN_VALUES:
            dict.__setitem__(self, key, value)
        else:
            dict.__setitem__(self, key, _adapt(value, self._auto))

    def __delitem__(self, key: Any) -> None:
        self._check_writable(key)
        if (type(key) is tuple and not dict.__contains__(self, key)) or type(key) is list:
            missing = [name for name in key if name not in self]
            if missing:
                raise KeyError(missing[0])
            for name in key:
                dict.__delitem__(self, name)
            return
        dict.__delitem__(self, key)

    def setdefault(self, key: Any, default: Any = None) -> Any:
        if key not in self:
            self._set_one(key, default)
        return dict.__getitem__(self, key)

    def pop(self, key: Any, default: Any = None) -> Any:  # type: ignore[override]
        """Remove ``key`` and return its value; a missing key gives what ``get`` gives (2.1.7)."""
        self._check_writable(key)
        if dict.__contains__(self, key):
            return dict.pop(self, key)
        return self.get(key, default)

    def popitem(self) -> tuple[Any, Any]:
        self._check_writable(None)
        return dict.popitem(self)

    def clear(self) -> None:
        self._check_writable(None)
        dict.clear(self)

    def update(  # type: ignore[override]
        self, other: Any = None, /, recurrent: bool = False, *, recursive: bool = False, **kwargs: Any
    ) -> ADict:
        """Set keys from ``other`` and ``kwargs`` and return self; with ``recursive=True`` (or
        2.1.7's ``recurrent=True``) merge nested mappings key by key instead of replacing them."""
        deep = recursive or recurrent
        for key, value in (*_pairs(other), *kwargs.items()):
            current = dict.get(self, key)
            if deep and isinstance(current, ADict) and is_mapping(value):
                current.update(value, recursive=True)
            else:
                self._set_one(key, value)
        return self

    def update_if_absent(self, other: Any = None, /, recurrent: bool = True, **kwargs: Any) -> ADict:
        """Add only missing keys, recursing into mappings on both sides (always, as in 2.1.7); return self."""
        for key, value in (*_pairs(other), *kwargs.items()):
            current = dict.get(self, key, _NO_DEFAULT)
            if current is _NO_DEFAULT:
                self._set_one(key, value)
            elif isinstance(current, ADict) and is_mapping(value):
                current.update_if_absent(value)
        return self

    def mm_like_update(self, other: Any = None, /, **kwargs: Any) -> ADict:
        """Merge as OpenMMLab configs do: nested mappings merge, unless they say
        ``_delete_=True``, which replaces what was there; return self."""
        from ato.config.files import strip_delete

        for key, value in (*_pairs(other), *kwargs.items()):
            if is_mapping(value):
                value = as_mapping(value)
                current = dict.get(self, key)
                if isinstance(current, ADict) and not value.get("_delete_", False):
                    current.mm_like_update(value)
                    continue
                value = strip_delete(value)
            self._set_one(key, value)
        return self

    def filter(self, fn: Callable[[Any, Any], Any]) -> ADict:
        """Keep only the items for which ``fn(key, value)`` is true, in place; return self."""
        self._check_writable(None)
        for key in [key for key, value in self.items() if not fn(key, value)]:
            dict.__delitem__(self, key)
        return self

    def replace_keys(self, src_keys: Iterable[Any], tgt_keys: Iterable[Any]) -> None:
        """Rename ``src_keys[i]`` to ``tgt_keys[i]``, keeping the values."""
        sources, targets = list(src_keys), list(tgt_keys)
        if len(sources) != len(targets):
            raise IndexError(f"Source and target keys cannot be mapped: {len(sources)} != {len(targets)}")
        for key in sources:
            if key not in self:
                raise KeyError(f"The key {key} does not exist.")
        self._check_writable(None)
        values = [dict.pop(self, key) for key in sources]
        for key, value in zip(targets, values):
            self._set_one(key, value)

    def __ior__(self, other: Any) -> ADict:  # type: ignore[override,misc]
        return self.update(other)

    def __or__(self, other: Any) -> ADict:  # type: ignore[override]
        return self.copy().update(other)

    def _check_writable(self, key: Any, verb: str = "change") -> None:
        if self._frozen:
            what = f"{verb} {key!r}" if key is not None else f"{verb} it"
            raise FrozenConfigError(f"cannot {what}: this ADict is frozen (call defrost() to allow writes)")

    # -- freezing -----------------------------------------------------------------------------
    def freeze(self) -> ADict:
        """Refuse every write to this ADict and the ADicts nested in it; returns self."""
        for child in _nested_adicts(self):
            object.__setattr__(child, "_frozen", True)
        return self

    def convert_to_immutable(self) -> ADict:
        """Freeze (2.1.7's name; writes raise :class:`~ato.errors.FrozenConfigError`, a TypeError)."""
        return self.freeze()

    def defrost(self) -> ADict:
        """Allow writes again, here and in every nested ADict; returns self."""
        for child in _nested_adicts(self):
            object.__setattr__(child, "_frozen", False)
        return self

    @property
    def is_frozen(self) -> bool:
        return self._frozen

    frozen = is_frozen  # 2.1.7's name

    def _set_auto(self, auto: bool) -> None:
        for child in _nested_adicts(self):
            object.__setattr__(child, "_auto", auto)

    # -- copies and conversions ------------------------------------------------------------------
    def copy(self) -> ADict:
        """Return a shallow, writable copy (with the same default)."""
        return unpickle(type(self), self, False, self._auto, self._default)

    def clone(self) -> ADict:
        """Return a deep, writable copy (nested ADicts, lists and values are copied)."""
        return _copy.deepcopy(self).defrost()

    def __deepcopy__(self, memo: dict[int, Any]) -> ADict:
        new = type(self)()
        memo[id(self)] = new
        for key, value in self.items():
            dict.__setitem__(new, _copy.deepcopy(key, memo), _copy.deepcopy(value, memo))
        _set_flags(new, self._frozen, self._auto, self._default)  # default shared: get_default copies
        return new

    def __copy__(self) -> ADict:
        return self.copy()

    def __reduce__(self) -> tuple[Any, ...]:
        args: tuple[Any, ...] = (type(self), dict(self), self._frozen, self._auto)
        if self._default is not _NO_DEFAULT:
            args += (self._default,)
        return (unpickle, args)

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Read an ADict pickled by ato 2.1.7 (its state is the instance ``__dict__``)."""
        defined = state.get("_is_default_defined", False)
        _set_flags(self, bool(state.get("_frozen", False)), False, state.get("_default") if defined else _NO_DEFAULT)
        for key, value in dict(state.get("_data", {})).items():
            dict.__setitem__(self, key, _adapt(value))

    def to_dict(self) -> dict[Any, Any]:
        """Return plain dicts all the way down (lists and tuples keep their type)."""
        return _to_plain(self)

    def json(self, **kwargs: Any) -> str:
        """Return the config as a JSON string (``json.dumps`` options pass through)."""
        return json.dumps(self.to_dict(), **kwargs)

    def to_xyz(self, format_dict: Mapping[str, Any] | None = None) -> str:
        """Return the config as :mod:`ato.xyz` text (``format_dict``: custom line marks)."""
        from ato.config import xyz

        return xyz.dumps(self.to_dict(), format_dict=format_dict)

    # -- fingerprints ----------------------------------------------------------------------------
    def get_structural_hash(self) -> str:
        """Hash keys and value types, not values (algorithm: :mod:`ato.config.structural_hash`)."""
        return structural_hash(self)

    def get_structural_repr(self) -> ADict:
        """Every leaf's dotted key and type name, as 2.1.7 gave it: ``{'model.depth': 'int'}``."""
        return type(self)(_structure("", self))

    # -- display (repr/str stay a dict's, as in 2.1.7) ---------------------------------------------
    def _repr_html_(self) -> str:
        """The config as a nested HTML table, for Jupyter: escaped, at most 200 keys shown (the
        rest counted); see :mod:`ato.display`."""
        from ato.config.display import adict_view
        from ato.display import render_html

        return render_html(adict_view(self))

    def __rich__(self) -> Any:
        """The config as a nested rich table (rich imported only now), as :meth:`_repr_html_`."""
        from ato.config.display import adict_view
        from ato.display import render_rich

        return render_rich(adict_view(self))

    # -- files -----------------------------------------------------------------------------------
    @classmethod
    def from_file(cls, path: str | PathLike[str], *, allow_outside: bool = False) -> Any:
        """Load JSON, YAML, TOML, XYZ or a Python config file, resolving ``_base_`` inheritance.

        A JSON or XYZ file whose top level is a list of mappings gives a list of ADicts, as in
        ato 2.1.7 (their ``_base_`` is not resolved: only a file's top-level mapping has bases)."""
        from ato.config.files import load_configs

        data = load_configs(path, allow_outside=allow_outside)
        if isinstance(data, list):
            return [cls(item) for item in data]
        return cls(data)

    @classmethod
    def compile_from_file(cls, path: str | PathLike[str]) -> ADict:
        """Run a ``.py`` config file (the user's own code) and return its top-level names."""
        from ato.config.files import load_python_config

        return cls(load_python_config(path))

    @classmethod
    def from_mm_config(cls, path: str | PathLike[str]) -> ADict:
        """Load an OpenMMLab-style config (``_base_`` files, ``_delete_=True``): from_file of a mapping."""
        from ato.config.files import load_config

        return cls(load_config(path))

    def load(self, path: str | PathLike[str], *, allow_outside: bool = False) -> ADict:
        """Replace the contents with the config file at ``path``, in place; return self."""
        from ato.config.files import load_config

        data = load_config(path, allow_outside=allow_outside)
        self.clear()
        self.update(data)
        return self

    def load_mm_config(self, path: str | PathLike[str]) -> ADict:
        """Set the keys of an OpenMMLab-style config file (see :meth:`from_mm_config`); return self."""
        return self.update(type(self).from_mm_config(path).to_dict())

    @classmethod
    def compose_hierarchy(cls, root: str | PathLike[str], config_filename: str = "config", select: Any = None,
                          overrides: Any = None, on_missing: str = "error", required: Any = None) -> ADict:
        """Compose a config from a folder: the base file, one file per selected group option, then
        dotted overrides; see :func:`ato.config.files.compose_hierarchy` for the rules."""
        from ato.config import files

        return cls(files.compose_hierarchy(root, config_filename, select, overrides, on_missing, required))

    def dump(self, path: str | PathLike[str], **options: Any) -> None:
        """Write the config to ``path``, creating missing folders; the format follows the extension.
        ``options`` go to the writer, as in ato 2.1.7: ``json.dumps``, ``yaml.safe_dump``,
        ``toml.dumps`` (``encoder=``), or XYZ's ``format_dict=``; see :func:`~ato.config.files.dump_config`."""
        from ato.config.files import dump_config

        dump_config(self, path, **options)


_PLAIN_VALUES = frozenset({str, int, float, bool, type(None), bytes})


def unpickle(
    cls: type[ADict], items: dict[Any, Any], frozen: bool, auto: bool, default: Any = _NO_DEFAULT
) -> ADict:
    """Rebuild a pickled ADict (what ``__reduce__`` names; pickles store this function's path)."""
    new = cls()
    dict.update(new, items)
    _set_flags(new, frozen, auto, default)
    return new


def _set_flags(adict: ADict, frozen: bool, auto: bool, default: Any) -> None:
    object.__setattr__(adict, "_frozen", frozen)
    object.__setattr__(adict, "_auto", auto)
    object.__setattr__(adict, "_default", default)


def is_mapping(value: Any) -> bool:
    """Whether ``value`` reads as a mapping: a Mapping, an argparse Namespace, an OmegaConf config."""
    return isinstance(value, (Mapping, argparse.Namespace)) or _is_omegaconf(value)


def _is_omegaconf(value: Any) -> bool:
    return type(value).__module__.startswith("omegaconf") and hasattr(value, "_metadata")


def as_mapping(source: Any) -> Any:
    """Accept a mapping, an argparse Namespace, an OmegaConf config, or an iterable of pairs."""
    if isinstance(source, argparse.Namespace):
        return vars(source)
    if _is_omegaconf(source):
        from omegaconf import OmegaConf

        return OmegaConf.to_container(source, resolve=True)
    return source


def _items(source: Any) -> Iterable[tuple[Any, Any]]:
    if isinstance(source, Mapping):
        return source.items()
    return source  # an iterable of (key, value) pairs, as dict() accepts


def _pairs(source: Any) -> Iterable[tuple[Any, Any]]:
    return () if source is None else _items(as_mapping(source))


def _adapt(value: Any, auto: bool = False) -> Any:
    """Turn mappings (also inside lists and tuples) into ADicts; leave everything else alone."""
    if isinstance(value, ADict):
        return value
    if type(value) is dict or is_mapping(value):
        child = ADict(as_mapping(value))
        if auto:
            child._set_auto(True)
        return child
    if type(value) in (list, tuple) and any(
        isinstance(item, (dict, list, tuple)) or is_mapping(item) for item in value
    ):
        return type(value)(_adapt(item, auto) for item in value)
    return value


def _structure(prefix: Any, value: Any) -> list[tuple[Any, str]]:
    # As in 2.1.7: top-level keys keep their type, deeper ones join with dots, {} leaves nothing.
    if not isinstance(value, (MutableMapping, dict)):
        return [(prefix, type(value).__name__)]
    found: list[tuple[Any, str]] = []
    for key, item in value.items():
        found += _structure(key if prefix == "" else f"{prefix}.{key}", item)
    return found


def _nested_adicts(root: Any) -> Iterable[ADict]:
    stack = [root]
    while stack:
        value = stack.pop()
        if isinstance(value, ADict):
            yield value
            stack.extend(value.values())
        elif isinstance(value, (list, tuple)):
            stack.extend(value)


def _to_plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _to_plain(item) for key, item in value.items()}
    if type(value) in (list, tuple):
        return type(value)(_to_plain(item) for item in value)
    return value

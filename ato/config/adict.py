"""ADict: a dict with attribute access, auto-nesting, freezing and a structural hash.

``ADict`` is a real ``dict`` subclass, so it compares equal to plain dicts, serialises wherever a
dict does, and costs nothing extra to read. Nested mappings become ADicts when they are stored,
including mappings inside lists and tuples.

Keys that share a name with a method (``items``, ``keys``, ``update``, ``copy``, ``freeze``, ...)
are ordinary keys, but only through item access: ``config['items']``. As an attribute the name
always means the method, and assigning it as an attribute (``config.items = 3``) raises an
``AttributeError`` that says to use ``config['items'] = 3`` instead, so the collision is never
silent.

In auto mode (``ADict.auto()``) reading a missing attribute creates an empty auto ADict there,
so ``config.model.backbone.layers = [...]`` works at any depth. Names that start with an
underscore never auto-create (tools such as copy, pickle and IPython probe for those).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable, Mapping
from os import PathLike
from typing import Any

from ato.config.structural_hash import structural_hash
from ato.errors import FrozenConfigError

__all__ = ["ADict"]


class ADict(dict):  # type: ignore[type-arg]
    """A config mapping with attribute access; see the module docstring for the rules."""

    __slots__ = ("_frozen", "_auto")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        object.__setattr__(self, "_frozen", False)
        object.__setattr__(self, "_auto", False)
        super().__init__()
        if len(args) > 1:
            raise TypeError(f"ADict expected at most 1 positional argument, got {len(args)}")
        source = as_mapping(args[0]) if args else {}
        for key, value in _items(source):
            dict.__setitem__(self, key, _adapt(value))
        for key, value in kwargs.items():
            dict.__setitem__(self, key, _adapt(value))

    @classmethod
    def auto(cls, *args: Any, **kwargs: Any) -> ADict:
        """Return an ADict whose missing attributes spring into existence as nested ADicts."""
        new = cls(*args, **kwargs)
        new._set_auto(True)
        return new

    # -- attribute access -------------------------------------------------------------------
    def __getattr__(self, name: str) -> Any:
        # Only called when normal lookup fails, so methods always win over keys.
        try:
            return self[name]
        except KeyError:
            pass
        if not name.startswith("_") and self._auto and not self._frozen:
            child = type(self).auto()
            dict.__setitem__(self, name, child)
            return child
        raise AttributeError(f"ADict has no key {name!r}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        if hasattr(type(self), name):
            raise AttributeError(
                f"{name!r} is an ADict method; set the key with config[{name!r}] = ... instead"
            )
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
        if self._frozen:
            raise FrozenConfigError(
                f"cannot set {key!r}: this ADict is frozen (call defrost() to allow writes)"
            )
        if type(value) in _PLAIN_VALUES:
            dict.__setitem__(self, key, value)
        else:
            dict.__setitem__(self, key, _adapt(value, self._auto))

    def __delitem__(self, key: Any) -> None:
        self._check_writable(key)
        dict.__delitem__(self, key)

    def setdefault(self, key: Any, default: Any = None) -> Any:
        if key not in self:
            self[key] = default
        return self[key]

    def pop(self, key: Any, *default: Any) -> Any:
        self._check_writable(key)
        return dict.pop(self, key, *default)

    def popitem(self) -> tuple[Any, Any]:
        self._check_writable(None)
        return dict.popitem(self)

    def clear(self) -> None:
        self._check_writable(None)
        dict.clear(self)

    def update(self, other: Any = (), /, *, recursive: bool = False, **kwargs: Any) -> None:  # type: ignore[override]
        """Set keys from ``other`` and ``kwargs``; with ``recursive=True`` merge nested mappings
        key by key instead of replacing them."""
        for key, value in (*_items(as_mapping(other)), *kwargs.items()):
            current = self.get(key)
            if recursive and isinstance(current, ADict) and is_mapping(value):
                current.update(value, recursive=True)
            else:
                self[key] = value

    def update_if_absent(self, other: Any = (), /, **kwargs: Any) -> None:
        """Add only the keys that are missing, recursing into nested mappings present on both sides."""
        for key, value in (*_items(as_mapping(other)), *kwargs.items()):
            current = self.get(key)
            if key not in self:
                self[key] = value
            elif isinstance(current, ADict) and is_mapping(value):
                current.update_if_absent(value)

    def __ior__(self, other: Any) -> ADict:  # type: ignore[override,misc]
        self.update(other)
        return self

    def __or__(self, other: Any) -> ADict:  # type: ignore[override]
        merged = self.copy()
        merged.update(other)
        return merged

    def _check_writable(self, key: Any) -> None:
        if self._frozen:
            what = f"change {key!r}" if key is not None else "change it"
            raise FrozenConfigError(
                f"cannot {what}: this ADict is frozen (call defrost() to allow writes)"
            )

    # -- freezing -----------------------------------------------------------------------------
    def freeze(self) -> ADict:
        """Refuse every write to this ADict and the ADicts nested in it; returns self."""
        for child in _nested_adicts(self):
            object.__setattr__(child, "_frozen", True)
        return self

    def defrost(self) -> ADict:
        """Allow writes again, here and in every nested ADict; returns self."""
        for child in _nested_adicts(self):
            object.__setattr__(child, "_frozen", False)
        return self

    @property
    def is_frozen(self) -> bool:
        return self._frozen

    def _set_auto(self, auto: bool) -> None:
        for child in _nested_adicts(self):
            object.__setattr__(child, "_auto", auto)

    # -- copies and conversions ------------------------------------------------------------------
    def copy(self) -> ADict:
        """Return a shallow, writable copy."""
        new = type(self)()
        dict.update(new, self)
        object.__setattr__(new, "_auto", self._auto)
        return new

    def clone(self) -> ADict:
        """Return a deep, writable copy (nested ADicts, lists and values are copied)."""
        import copy

        new = copy.deepcopy(self)
        return new.defrost()

    def __deepcopy__(self, memo: dict[int, Any]) -> ADict:
        import copy

        new = type(self)()
        memo[id(self)] = new
        for key, value in self.items():
            dict.__setitem__(new, copy.deepcopy(key, memo), copy.deepcopy(value, memo))
        object.__setattr__(new, "_auto", self._auto)
        object.__setattr__(new, "_frozen", self._frozen)
        return new

    def __copy__(self) -> ADict:
        return self.copy()

    def __reduce__(self) -> tuple[Any, ...]:
        return (unpickle, (type(self), dict(self), self._frozen, self._auto))

    def to_dict(self) -> dict[Any, Any]:
        """Return plain dicts all the way down (lists and tuples keep their type)."""
        return _to_plain(self)

    def json(self, **kwargs: Any) -> str:
        """Return the config as a JSON string (``json.dumps`` options pass through)."""
        return json.dumps(self.to_dict(), **kwargs)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({dict.__repr__(self)})"

    # -- fingerprints and files ------------------------------------------------------------------
    def get_structural_hash(self) -> str:
        """Hash keys and value types, not values (algorithm: :mod:`ato.config.structural_hash`)."""
        return structural_hash(self)

    @classmethod
    def from_file(cls, path: str | PathLike[str], *, allow_outside: bool = False) -> ADict:
        """Load JSON, YAML, TOML, XYZ or a Python config file, resolving ``_base_`` inheritance."""
        from ato.config.files import load_config

        return cls(load_config(path, allow_outside=allow_outside))

    @classmethod
    def from_mm_config(cls, path: str | PathLike[str]) -> ADict:
        """Load an OpenMMLab-style config: ``_base_`` files first, this file merged on top;
        a mapping with ``_delete_=True`` replaces what the bases had instead of merging."""
        return cls.from_file(path)

    def dump(self, path: str | PathLike[str]) -> None:
        """Write the config to ``path``; the format follows the extension."""
        from ato.config.files import dump_config

        dump_config(self, path)


_PLAIN_VALUES = frozenset({str, int, float, bool, type(None), bytes})


def unpickle(cls: type[ADict], items: dict[Any, Any], frozen: bool, auto: bool) -> ADict:
    """Rebuild a pickled ADict (what ``__reduce__`` names; pickles store this function's path)."""
    new = cls()
    dict.update(new, items)
    object.__setattr__(new, "_auto", auto)
    object.__setattr__(new, "_frozen", frozen)
    return new


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
